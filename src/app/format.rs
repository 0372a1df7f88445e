//! The output formats of `tail` and `demo`: the decoded Avro as JSON (the default),
//! or each change event as one OCSF 1.8.0 record or one ECS document
//! ([`crate::siem`]), one compact JSON object a line, so that a SIEM engineer can
//! look at what a pipeline would get before wiring one.

use std::collections::BTreeMap;

use crate::avro::{DecodeError, Decoder};
use crate::siem::{self, Severities, SiemOptions};

/// How `tail` and `demo` print a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// The decoded Avro record as JSON (`tail`: with topic, partition, offset and key).
    #[default]
    Json,
    /// Each change event as one OCSF 1.8.0 record (docs/siem.md).
    Ocsf,
    /// Each change event as one Elastic Common Schema document (docs/siem.md).
    Ecs,
}

impl OutputFormat {
    /// The SIEM format, `None` for plain JSON.
    pub fn siem(self) -> Option<SiemFormat> {
        match self {
            OutputFormat::Json => None,
            OutputFormat::Ocsf => Some(SiemFormat::Ocsf),
            OutputFormat::Ecs => Some(SiemFormat::Ecs),
        }
    }
}

/// A SIEM format of change events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiemFormat {
    Ocsf,
    Ecs,
}

impl SiemFormat {
    pub fn name(self) -> &'static str {
        match self {
            SiemFormat::Ocsf => "OCSF",
            SiemFormat::Ecs => "ECS",
        }
    }
}

/// What `tail` and `demo` map events with: the configured severities, and the
/// organizations' names when the command knows them (`demo` does, from its scenario).
pub(crate) fn base_options(
    severities: Severities,
    org_names: BTreeMap<String, String>,
) -> SiemOptions {
    SiemOptions {
        severities,
        org_names,
        ..SiemOptions::default()
    }
}

/// One events-topic record as one line of `format`: decodes the value (checking it
/// against the key when there is one) and maps the event with `base`'s severities
/// and names, and the version of the connector that wrote it.
pub(crate) async fn siem_line(
    decoder: &Decoder,
    format: SiemFormat,
    base: &SiemOptions,
    key: Option<&[u8]>,
    value: &[u8],
) -> Result<String, DecodeError> {
    let decoded = match key {
        Some(k) => decoder.decode_event(k, value).await?,
        None => decoder.decode_event_value(value).await?,
    };
    let options = SiemOptions {
        product_version: decoded.source.version.clone(),
        ..base.clone()
    };
    let bytes = match format {
        SiemFormat::Ocsf => siem::ocsf::record_bytes(&decoded.event, &options),
        SiemFormat::Ecs => siem::ecs::record_bytes(&decoded.event, &options),
    };
    // The mappings write JSON from Rust strings: always UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
