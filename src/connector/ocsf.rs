//! The OCSF topic (issue 14): with `ocsf_topic` set, every change event of a poll is
//! also written there as one OCSF 1.8.0 JSON record ([`crate::siem::ocsf`]), keyed
//! with the very key bytes of its events-topic record, in the poll's transaction:
//! a read-committed consumer sees the event, its OCSF record and the new state, or
//! none of them.
//!
//! Nothing here does I/O: the poller adds these records to the batch it commits.
//! The organization's name (`group.name`) is the one Streak gives when the poller
//! resolves its organization (`GET /users/me/organization`).

use crate::kafka::OutRecord;
use crate::membership::ChangeEvent;
use crate::siem::{self, Severities, SiemOptions};

/// Where and how change events are written as OCSF records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcsfOutput {
    pub topic: String,
    /// This build's version and the configured severities.
    pub options: SiemOptions,
}

impl OcsfOutput {
    /// The output of a connector with `topic` set; `None` when it is off.
    pub fn new(topic: Option<&str>, severities: Severities) -> Option<OcsfOutput> {
        topic.map(|t| OcsfOutput {
            topic: t.to_string(),
            options: SiemOptions {
                severities,
                ..SiemOptions::default()
            },
        })
    }

    /// The output of one organization's poller: `group.name` is `name` (Streak's
    /// name of the organization) rather than the key.
    pub fn for_organization(&self, org_key: &str, name: Option<&str>) -> OcsfOutput {
        let mut out = self.clone();
        if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
            out.options
                .org_names
                .insert(org_key.to_string(), n.to_string());
        }
        out
    }

    /// The OCSF record of `event`, under `key`: the key bytes of the event's own
    /// record on the events topic, so both land in the same partition of topics with
    /// the same partition count, and a consumer can join them on the key.
    pub fn record(&self, event: &ChangeEvent, key: &[u8]) -> OutRecord {
        OutRecord {
            topic: self.topic.clone(),
            key: key.to_vec(),
            value: Some(siem::ocsf::record_bytes(event, &self.options)),
        }
    }
}
