//! `audit`: the roster of every organization (or one), or with `--inactive` the
//! offboarding review, from the state topic or (`--live`) from Streak.
//!
//! Reading the state topic is read only: the restore's reader (read committed,
//! assigned partitions, no consumer group), no producer, no `init_transactions`
//! (a running connector is not fenced), no topic created, no schema registered,
//! no Streak call. `--live` asks Streak with the configured keys and never opens a
//! Kafka client. See `docs/audit.md`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::audit::{self, Format, Roster, REMOVAL_NOTE};
use crate::avro::TopicNames;
use crate::config::Config;
use crate::connector::restore::{Restore as _, StateReader};
use crate::connector::system_clock;
use crate::kafka::KafkaStateSource;
use crate::membership::{Listing, OrgState};
use crate::metrics::Metrics;
use crate::streak::{ApiKey, StreakClient};

/// An output format, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns, for a person.
    Table,
    /// RFC 4180 CSV, for a spreadsheet.
    Csv,
    /// One JSON document, for a program.
    Json,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Format {
        match f {
            OutputFormat::Table => Format::Table,
            OutputFormat::Csv => Format::Csv,
            OutputFormat::Json => Format::Json,
        }
    }
}

/// Where the members come from.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Only this organization (its key).
    #[arg(long)]
    pub org: Option<String>,
    /// Ask Streak with the configured API keys instead of reading the state topic
    /// (no Kafka at all).
    #[arg(long)]
    pub live: bool,
}

/// Flags of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Only the inactive members (by --inactive-after), longest idle first: the
    /// offboarding review.
    #[arg(long)]
    pub inactive: bool,
}

/// The organizations' members, from the state topic or live.
pub(crate) enum Members {
    State(BTreeMap<String, OrgState>),
    Live(BTreeMap<String, Listing>),
}

/// Reads the members `source` names: every organization, or only `--org`.
pub(crate) async fn members(config: &Config, source: &SourceArgs) -> anyhow::Result<Members> {
    let mut members = if source.live {
        Members::Live(live_listings(config).await?)
    } else {
        Members::State(state_topic(config).await?)
    };
    if let Some(org) = &source.org {
        let known: Vec<String> = match &mut members {
            Members::State(m) => keep_only(m, org),
            Members::Live(m) => keep_only(m, org),
        };
        if !known.is_empty() {
            let from = if source.live {
                "the configured API keys see"
            } else {
                "the state topic holds"
            };
            anyhow::bail!(
                "organization {org:?} not found: {from} {}",
                if known.iter().all(String::is_empty) {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    Ok(members)
}

/// Keeps only `org`; when it is absent, returns the keys there were (or one empty
/// string when there were none).
fn keep_only<T>(map: &mut BTreeMap<String, T>, org: &str) -> Vec<String> {
    if map.contains_key(org) {
        map.retain(|k, _| k == org);
        return Vec::new();
    }
    let known: Vec<String> = map.keys().cloned().collect();
    if known.is_empty() {
        vec![String::new()]
    } else {
        known
    }
}

/// Every organization's committed state, read like the restore (read committed, to
/// the end), without a producer or a transaction.
async fn state_topic(config: &Config) -> anyhow::Result<BTreeMap<String, OrgState>> {
    let decoder = super::decoder_for(config).await?;
    // Read only, but a missing state topic is an error here, not "nothing yet".
    let kafka = crate::kafka::KafkaConfig {
        topic_policy: crate::kafka::TopicPolicy::CreateAndVerify,
        ..super::read_only_kafka(config)
    };
    let topics = TopicNames {
        events: kafka.events_topic.clone(),
        state: kafka.state_topic.clone(),
    };
    let metrics = Arc::new(Metrics::new());
    let reader = StateReader::new(
        KafkaStateSource::new(kafka.clone(), metrics.clone()),
        decoder,
        topics,
        metrics,
    );
    let orgs = reader
        .restore()
        .await
        .with_context(|| format!("cannot read the state topic {}", kafka.state_topic))?;
    Ok(orgs.into_iter().collect())
}

/// One listing per configured key, fetched now.
async fn live_listings(config: &Config) -> anyhow::Result<BTreeMap<String, Listing>> {
    let metrics = Arc::new(Metrics::new());
    let client_config = config.streak.clone();
    let mut out = BTreeMap::new();
    for (i, key) in config.api_keys.iter().enumerate() {
        let key =
            ApiKey::new(key.expose().to_string()).with_context(|| format!("API key #{}", i + 1))?;
        let client = StreakClient::new(client_config.clone(), key, metrics.clone())?;
        let fp = client.key_fingerprint().to_string();
        let me = client
            .me()
            .await
            .with_context(|| format!("key {fp}: GET /users/me"))?;
        let org = match me.org_key.filter(|k| !k.is_empty()) {
            Some(k) => k,
            None => client.organization().await?.key,
        };
        let fetched = client
            .org_users(&org)
            .await
            .with_context(|| format!("key {fp}: the members of organization {org}"))?;
        if !fetched.listing.complete {
            eprintln!(
                "warning: organization {org}: Streak's listing had entries that could not be read; they are missing here"
            );
        }
        out.insert(org, fetched.listing);
    }
    Ok(out)
}

/// The rosters of `members` at `now_ms`.
pub(crate) fn rosters(members: &Members, now_ms: i64, inactive_after_ms: i64) -> Vec<Roster> {
    match members {
        Members::State(orgs) => orgs
            .values()
            .map(|s| audit::roster_from_state(s, now_ms, inactive_after_ms))
            .collect(),
        Members::Live(orgs) => orgs
            .iter()
            .map(|(k, l)| audit::roster_from_listing(k, l, now_ms, inactive_after_ms))
            .collect(),
    }
}

/// `audit`: prints the rosters or the inactive review.
pub async fn audit(config: Config, args: AuditArgs) -> anyhow::Result<()> {
    let members = members(&config, &args.source).await?;
    let now_ms = (system_clock())();
    let inactive_after_ms = i64::try_from(config.inactive_after.as_millis()).unwrap_or(i64::MAX);
    let rosters = rosters(&members, now_ms, inactive_after_ms);
    let format = Format::from(args.format);
    let text = if args.inactive {
        let reviews: Vec<_> = rosters.iter().map(audit::inactive_review).collect();
        audit::render_inactive(&reviews, format)
    } else {
        audit::render_rosters(&rosters, format)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    if args.inactive && format == Format::Csv {
        // The table and the JSON carry the note; a CSV file must stay rows only.
        eprintln!("{REMOVAL_NOTE}");
    }
    Ok(())
}
