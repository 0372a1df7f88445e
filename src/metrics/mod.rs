//! The Prometheus registry and every metric the connector exports.
//!
//! One `Metrics` value is built at start-up and shared (`Arc`) by every stage; tests
//! build their own, so assertions on counters never race between tests. Names follow
//! Prometheus practice: the `streak_connector_` prefix, base units, `_total` on
//! counters, bounded labels (organization keys come from configuration, never from
//! API data). The HTTP endpoints that serve this registry live with the runtime.
//!
//! This module must not log: internal events (one struct per occurrence) do the
//! logging and call into these handles.

mod builders;
mod kafka_stats;

pub(crate) use kafka_stats::{KafkaStatsMetrics, RTT_PERCENTILES, TRANSACTION_STATES};

use builders::{counter, float_gauge, gauge, histogram, int_gauge, plain_counter, plain_gauge};
use prometheus::{
    Encoder, GaugeVec, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry,
    TextEncoder,
};

/// Label values for the API endpoints the client calls.
pub mod endpoint {
    pub const USERS_ME: &str = "users_me";
    pub const ORGANIZATION: &str = "organization";
    pub const ORG_USERS: &str = "organization_users";
    pub const ALL: [&str; 3] = [USERS_ME, ORGANIZATION, ORG_USERS];
}

/// The `result` label of `polls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollResult {
    Success,
    Failure,
    Held,
}

impl PollResult {
    pub const ALL: [PollResult; 3] = [PollResult::Success, PollResult::Failure, PollResult::Held];

    pub fn as_str(self) -> &'static str {
        match self {
            PollResult::Success => "success",
            PollResult::Failure => "failure",
            PollResult::Held => "held",
        }
    }
}

/// The `result` label of `transactions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionResult {
    Committed,
    Aborted,
    /// Fenced or a fatal producer error: the process stops.
    Fatal,
}

impl TransactionResult {
    pub const ALL: [TransactionResult; 3] = [
        TransactionResult::Committed,
        TransactionResult::Aborted,
        TransactionResult::Fatal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransactionResult::Committed => "committed",
            TransactionResult::Aborted => "aborted",
            TransactionResult::Fatal => "fatal",
        }
    }
}

/// Every metric of the connector.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// The standard `process_*` metrics (CPU seconds, resident memory, open files,
    /// start time, ...), read from /proc at each scrape on Linux: their own registry,
    /// because the standard names carry no prefix.
    process: Registry,
    /// Build information: always 1, labelled with the version and the connector's
    /// name.
    pub build_info: IntGaugeVec,

    // --- Streak API client ---
    /// Requests by endpoint and status class (`2xx`, `3xx`, `4xx`, `5xx`, `timeout`,
    /// `transport`), one per HTTP attempt, retries included.
    pub api_requests_total: IntCounterVec,
    /// Request latency by endpoint.
    pub api_request_duration_seconds: HistogramVec,
    /// Retries by endpoint and reason (`rate_limited`, `server_error`, `timeout`, `transport`).
    pub api_retries_total: IntCounterVec,
    /// Requests that failed for good by endpoint and fixed error code.
    pub api_errors_total: IntCounterVec,
    /// Fields dropped because of a wrong type or an absurd value, by field name
    /// (known field names only; anything else is `other`).
    pub api_drift_total: IntCounterVec,
    /// Listing entries without a usable `key`, by organization.
    pub api_invalid_entries_total: IntCounterVec,
    /// Listing entries merged because their key was listed twice, by organization.
    pub api_duplicate_entries_total: IntCounterVec,
    /// 1 while an API key is rejected (401/403/410), by key fingerprint.
    pub api_key_rejected: IntGaugeVec,
    /// Keys of each organization's pool by state (`active`, `standby`, `rejected`).
    pub api_keys: IntGaugeVec,
    /// 1 while the owner of a healthy key is at risk, by organization, key
    /// fingerprint and reason (`left`, `inactive`, `not_admin`); else 0.
    pub api_key_owner_at_risk: IntGaugeVec,
    /// Failovers to the next healthy key of the pool, by organization.
    pub api_key_failovers_total: IntCounterVec,

    // --- Poll cycle ---
    /// Polls by organization and result (`success`, `failure`, `held`).
    pub polls_total: IntCounterVec,
    /// Poll duration (fetch, diff, publish, commit) by organization.
    pub poll_duration_seconds: HistogramVec,
    /// Change events published by organization and event type.
    pub events_total: IntCounterVec,
    /// Known members by organization.
    pub members: IntGaugeVec,
    /// Known admins by organization.
    pub admins: IntGaugeVec,
    /// Known inactive members by organization.
    pub inactive_members: IntGaugeVec,
    /// Unix time of the last successful poll by organization.
    pub last_success_timestamp_seconds: GaugeVec,
    /// 1 while the departure guard holds an organization.
    pub departure_guard_tripped: IntGaugeVec,
    /// 1 while the inactivity guard holds an organization.
    pub inactivity_guard_tripped: IntGaugeVec,
    /// Operators' decisions on guard holds by organization, kind and decision.
    pub guard_decisions_total: IntCounterVec,

    // --- Kafka ---
    /// Transactions by result (`committed`, `aborted`, `fatal`: fenced or a fatal
    /// producer error, the process stops).
    pub transactions_total: IntCounterVec,
    /// Duration of the last state restore.
    pub state_restore_duration_seconds: prometheus::Gauge,
    /// Records read by the last state restore.
    pub state_restore_records: IntGauge,
    /// Restores that the connector's own reader could not finish, read again by
    /// librdkafka's consumer.
    pub state_restore_fallbacks_total: IntCounter,

    // --- Start-up and oversized data (issue 11) ---
    /// Start-up attempts of `run` that failed with an error that may go away (an
    /// unreachable broker or registry) and were retried.
    pub startup_retries_total: IntCounter,
    /// State records the restore read as never written (`kafka.skip_state_records`).
    pub state_records_skipped_total: IntCounter,
    /// Members left out of a poll because one of their records was larger than the
    /// producer accepts, by organization.
    pub members_left_out_total: IntCounterVec,
    // --- Continuous reconciliation (issue 17) ---
    /// Current published findings by organization and kind (`FindingKind::ALL`).
    pub reconcile_findings: IntGaugeVec,
    /// Entries of the directory topic when it was read to its end.
    pub reconcile_directory_entries: IntGauge,
    /// Directory topic records refused (unusable).
    pub reconcile_directory_refused_total: prometheus::IntCounter,
    // --- librdkafka statistics of the producer ---
    pub kafka: KafkaStatsMetrics,
}

/// The registry of the standard `process_*` metrics (empty where /proc is not).
fn process_registry() -> Registry {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("process collector registered once");
    registry
}

impl Metrics {
    /// A fresh registry with every metric registered, for a connector without a
    /// name (tests, commands that do not poll): `build_info`'s `connector_name` is
    /// empty.
    pub fn new() -> Self {
        Self::for_connector("")
    }

    /// A fresh registry with every metric registered; `build_info` names the
    /// connector (its `connector_name`, the root of the transactional id).
    pub fn for_connector(connector_name: &str) -> Self {
        let registry =
            Registry::new_custom(Some("streak_connector".into()), None).expect("valid prefix");
        let r = &registry;
        let build_info = gauge(
            r,
            "build_info",
            "Build information; the value is always 1.",
            &["version", "connector_name"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), connector_name])
            .set(1);
        let latency = vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
        let poll = vec![
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
        ];
        let restore_duration = plain_gauge(
            r,
            "state_restore_duration_seconds",
            "Duration of the last restore of the state topic.",
        );
        let restore_records = int_gauge(
            r,
            "state_restore_records",
            "Records read by the last restore of the state topic.",
        );
        let reconcile_directory_entries = int_gauge(
            r,
            "reconcile_directory_entries",
            "Entries of the directory topic when it was read to its end at start-up.",
        );
        let reconcile_directory_refused_total = plain_counter(
            r,
            "reconcile_directory_refused_total",
            "Directory topic records refused as unusable.",
        );
        let last_success = float_gauge(
            r,
            "last_success_timestamp_seconds",
            "Unix time of the last successful poll of the organization.",
            &["org"],
        );

        let m = Metrics {
            build_info,
            api_requests_total: counter(
                r,
                "api_requests_total",
                "Streak API requests by endpoint and status class.",
                &["endpoint", "status_class"],
            ),
            api_request_duration_seconds: histogram(
                r,
                "api_request_duration_seconds",
                "Streak API request latency.",
                &["endpoint"],
                latency,
            ),
            api_retries_total: counter(
                r,
                "api_retries_total",
                "Streak API request retries by endpoint and reason.",
                &["endpoint", "reason"],
            ),
            api_errors_total: counter(
                r,
                "api_errors_total",
                "Streak API calls that failed for good, by endpoint and error code.",
                &["endpoint", "error_code"],
            ),
            api_drift_total: counter(
                r,
                "api_drift_total",
                "API fields dropped for a wrong type or an absurd value, by field.",
                &["field"],
            ),
            api_invalid_entries_total: counter(
                r,
                "api_invalid_entries_total",
                "Listing entries without a usable key, by organization.",
                &["org"],
            ),
            api_duplicate_entries_total: counter(
                r,
                "api_duplicate_entries_total",
                "Listing entries merged because their key was listed twice, by organization.",
                &["org"],
            ),
            api_key_rejected: gauge(
                r,
                "api_key_rejected",
                "1 while the Streak API rejects the key (401, 403 or 410), by key fingerprint.",
                &["key_fingerprint"],
            ),
            api_keys: gauge(
                r,
                "api_keys",
                "API keys of the organization's pool by state (active, standby, rejected).",
                &["org", "state"],
            ),
            api_key_owner_at_risk: gauge(
                r,
                "api_key_owner_at_risk",
                "1 while the owner of a healthy API key is at risk (left, inactive, not_admin), by organization, key fingerprint and reason.",
                &["org", "key", "reason"],
            ),
            api_key_failovers_total: counter(
                r,
                "api_key_failovers_total",
                "Failovers to the next healthy API key of the organization's pool.",
                &["org"],
            ),
            polls_total: counter(
                r,
                "polls_total",
                "Polls by organization and result (success, failure, held).",
                &["org", "result"],
            ),
            poll_duration_seconds: histogram(
                r,
                "poll_duration_seconds",
                "Duration of one poll: fetch, diff, publish and commit.",
                &["org"],
                poll,
            ),
            events_total: counter(
                r,
                "events_total",
                "Change events published by organization and type.",
                &["org", "event_type"],
            ),
            members: gauge(r, "members", "Known members of the organization.", &["org"]),
            admins: gauge(r, "admins", "Known admins of the organization.", &["org"]),
            inactive_members: gauge(
                r,
                "inactive_members",
                "Known inactive members of the organization.",
                &["org"],
            ),
            last_success_timestamp_seconds: last_success,
            departure_guard_tripped: gauge(
                r,
                "departure_guard_tripped",
                "1 while the departure guard holds the organization.",
                &["org"],
            ),
            reconcile_findings: gauge(
                r,
                "reconcile_findings",
                "Current findings of the directory reconciliation by organization and kind.",
                &["org", "kind"],
            ),
            reconcile_directory_entries,
            reconcile_directory_refused_total,
            inactivity_guard_tripped: gauge(
                r,
                "inactivity_guard_tripped",
                "1 while the inactivity guard holds the organization.",
                &["org"],
            ),
            guard_decisions_total: counter(
                r,
                "guard_decisions_total",
                "Operators' decisions on guard holds (release, reject) by kind (departures, inactivity).",
                &["org", "kind", "decision"],
            ),
            transactions_total: counter(
                r,
                "transactions_total",
                "Kafka transactions by result (committed, aborted, fatal).",
                &["result"],
            ),
            state_restore_duration_seconds: restore_duration,
            state_restore_records: restore_records,
            state_restore_fallbacks_total: plain_counter(
                r,
                "state_restore_fallbacks_total",
                "Restores of the state topic that the connector's own reader could not finish (a compressed batch, a moved leader, a cut connection), read again through librdkafka's consumer.",
            ),
            kafka: KafkaStatsMetrics::register(r),
            startup_retries_total: plain_counter(
                r,
                "startup_retries_total",
                "Start-up attempts that failed while Kafka or the Schema Registry was unreachable, retried.",
            ),
            state_records_skipped_total: plain_counter(
                r,
                "state_records_skipped_total",
                "State records the restore read as never written (kafka.skip_state_records).",
            ),
            members_left_out_total: counter(
                r,
                "members_left_out_total",
                "Members left out of a poll because a record of theirs exceeded the producer's message.max.bytes.",
                &["org"],
            ),
            registry,
            process: process_registry(),
        };
        for result in TransactionResult::ALL {
            m.transactions_total.with_label_values(&[result.as_str()]);
        }
        // Zero series for the bounded label sets, so dashboards and alerts see every
        // family before the first error of its kind (style: "zero exported").
        for e in endpoint::ALL {
            m.api_request_duration_seconds.with_label_values(&[e]);
            for class in crate::streak::STATUS_CLASSES {
                m.api_requests_total.with_label_values(&[e, class]);
            }
            for reason in crate::streak::RETRY_REASONS {
                m.api_retries_total.with_label_values(&[e, reason]);
            }
            for code in crate::streak::ApiError::CODES {
                m.api_errors_total.with_label_values(&[e, code]);
            }
        }
        for field in crate::streak::drift_fields() {
            m.api_drift_total.with_label_values(&[field]);
        }
        m
    }

    /// Export zero-valued series for a configured organization, so dashboards and
    /// alerts see it before its first poll.
    pub fn register_org(&self, org: &str) {
        for result in PollResult::ALL {
            self.polls_total.with_label_values(&[org, result.as_str()]);
        }
        for t in crate::membership::EventType::ALL {
            self.events_total.with_label_values(&[org, t.as_str()]);
        }
        self.departure_guard_tripped
            .with_label_values(&[org])
            .set(0);
        for kind in crate::audit::FindingKind::ALL {
            self.reconcile_findings
                .with_label_values(&[org, kind.as_str()]);
        }
        self.inactivity_guard_tripped
            .with_label_values(&[org])
            .set(0);
        for kind in crate::connector::HoldKind::ALL {
            for decision in crate::connector::Decision::ALL {
                self.guard_decisions_total.with_label_values(&[
                    org,
                    kind.as_str(),
                    decision.as_str(),
                ]);
            }
        }
        self.api_invalid_entries_total.with_label_values(&[org]);
        self.api_duplicate_entries_total.with_label_values(&[org]);
        self.members_left_out_total.with_label_values(&[org]);
        self.poll_duration_seconds.with_label_values(&[org]);
        for g in [&self.members, &self.admins, &self.inactive_members] {
            g.with_label_values(&[org]);
        }
    }

    /// The whole registry in the Prometheus text exposition format.
    pub fn encode_text(&self) -> String {
        let mut buf = Vec::new();
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        // Encoding into a Vec cannot fail for well-formed families.
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_prefixed_names_and_build_info() {
        let m = Metrics::new();
        m.register_org("org1");
        let text = m.encode_text();
        assert!(text.contains("streak_connector_build_info{connector_name=\"\",version=\""));
        let named = Metrics::for_connector("crm-prod").encode_text();
        assert!(named.contains("connector_name=\"crm-prod\""), "{named}");
        #[cfg(target_os = "linux")]
        for family in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{family} "))),
                "{family} missing"
            );
        }
        assert!(text.contains("streak_connector_polls_total{org=\"org1\",result=\"success\"} 0"));
        assert!(text.contains("streak_connector_transactions_total{result=\"aborted\"} 0"));
        for code in crate::streak::ApiError::CODES {
            let series = format!(
                "streak_connector_api_errors_total{{endpoint=\"users_me\",error_code=\"{code}\"}} 0"
            );
            assert!(text.contains(&series), "{series}");
        }
    }
}
