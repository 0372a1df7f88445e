//! The restore's own reader of the state topic: the Kafka protocol's fetch path,
//! read committed, in Rust, for a plaintext cluster.
//!
//! Why not librdkafka: its consumer hands out one message at a time (an event, a
//! poll call, reference counts and clock reads per record), about a microsecond of
//! CPU a record on the 2-core reference machine, which alone caps a restore near
//! 1M records a second before any decoding (docs/benchmarks.md). Here a fetch
//! response is read into one buffer and each record's key and value are decoded
//! where they lie, so a restore costs what the decoder and the key table cost.
//!
//! What it does, no more: `ApiVersions` (refuse a broker without the versions below),
//! `Metadata` of the state topic (its partitions and their leaders; never creating
//! it), `ListOffsets` (each partition's start and last stable offset, read
//! committed: the end of the restore, as for the librdkafka consumer) and `Fetch` v11
//! read committed with the Java client's rule for aborted transactions
//! ([`batch`]). Each restore worker opens its own connection to each leader of its
//! partitions and keeps one fetch in flight while it decodes the previous one.
//!
//! Anything it does not do falls back, whole, to the librdkafka consumer, which
//! then reads the topic again from its start: a cluster that needs TLS or SASL
//! (any `security.protocol` but `plaintext`), a broker without the versions, a
//! compressed or pre-0.11 batch, a leader that moved, a refused or cut connection,
//! a malformed response. What is an answer rather than a limit is not a fallback: a
//! missing topic, a key in two partitions, a partition that makes no progress for
//! `request_timeout`. `kafka.restore_reader = "librdkafka"` turns it off.

// These errors happen once, at start-up: their size costs nothing worth a box.
#![allow(clippy::result_large_err)]

mod batch;
mod codec;
mod conn;
mod protocol;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use self::conn::Connection;
use self::protocol::FetchLimits;
use super::config::KafkaConfig;
use super::restored::{RecordAt, RestoreError, StateDecoder};
use super::survivors::{Survivors, MAX_RESERVED_KEYS};

/// Why the own reader gave up: the restore then reads through librdkafka.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("{broker}: {source}")]
    Io {
        broker: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a malformed response: {0}")]
    Malformed(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{what}: Kafka error code {code}")]
    Broker { what: String, code: i16 },
}

/// How a read by the own reader ended, short of success.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The state topic's answer: the same with any reader.
    Restore(RestoreError),
    /// A limit of this reader: read through librdkafka instead.
    Fallback(WireError),
    /// Another worker failed first.
    Cancelled,
}

impl From<WireError> for Failure {
    fn from(e: WireError) -> Self {
        Failure::Fallback(e)
    }
}

/// The state topic's partitions and where each is led.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) partitions: Vec<i32>,
    leaders: HashMap<i32, String>,
}

/// The bootstrap addresses, if the own reader can serve this configuration; why
/// not, otherwise.
pub(crate) fn bootstrap(config: &KafkaConfig) -> Result<Vec<String>, String> {
    if let Some(p) = config.properties.get("security.protocol") {
        if !p.trim().eq_ignore_ascii_case("plaintext") {
            return Err(format!("security.protocol is {p}"));
        }
    }
    let mut out = Vec::new();
    for entry in config.bootstrap_servers.split(',').map(str::trim) {
        if entry.is_empty() {
            continue;
        }
        let address = match entry.split_once("://") {
            None => entry,
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("plaintext") => rest,
            Some((scheme, _)) => return Err(format!("a bootstrap server of scheme {scheme}")),
        };
        // librdkafka takes a host without a port as the default port.
        let has_port = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.ends_with(':') && port.parse::<u16>().is_ok());
        out.push(if has_port {
            address.to_owned()
        } else {
            format!("{address}:9092")
        });
    }
    if out.is_empty() {
        return Err("no bootstrap server".into());
    }
    Ok(out)
}

fn client_id(config: &KafkaConfig) -> &str {
    config
        .properties
        .get("client.id")
        .map_or("streak-connector-restore", String::as_str)
}

/// Opens a connection to `broker` and checks that it serves the versions needed.
fn connect(config: &KafkaConfig, broker: &str, buf: &mut Vec<u8>) -> Result<Connection, WireError> {
    let mut conn = Connection::open(broker, client_id(config), config.request_timeout)?;
    let at = conn.call(protocol::API_VERSIONS, 0, &[], buf)?;
    let versions = protocol::api_versions(buf.get(at..).unwrap_or_default())?;
    for (key, version, name) in protocol::NEEDED {
        let served = versions
            .iter()
            .any(|&(k, min, max)| k == key && (min..=max).contains(&version));
        if !served {
            return Err(WireError::Unsupported(format!(
                "broker {broker} does not serve {name} v{version}"
            )));
        }
    }
    Ok(conn)
}

/// The state topic's partitions and leaders, from the first of `servers` (what
/// [`bootstrap`] gave) that answers. Right after the topic's creation its partitions may have no leader
/// yet: asked again every 50 ms within `request_timeout`.
pub(crate) fn plan(config: &KafkaConfig, servers: &[String]) -> Result<Plan, Failure> {
    let topic = &config.state_topic;
    let mut buf = Vec::new();
    let mut last = None;
    for server in servers {
        let mut conn = match connect(config, server, &mut buf) {
            Ok(c) => c,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let deadline = Instant::now() + config.request_timeout;
        loop {
            let request = protocol::metadata_request(topic);
            let at = conn.call(
                protocol::API_METADATA,
                protocol::METADATA_VERSION,
                &request,
                &mut buf,
            )?;
            let md = protocol::metadata_response(buf.get(at..).unwrap_or_default(), topic)?;
            match md.error {
                0 => {}
                protocol::UNKNOWN_TOPIC_OR_PARTITION => {
                    return Err(Failure::Restore(RestoreError::MissingTopic(topic.clone())))
                }
                protocol::LEADER_NOT_AVAILABLE if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                code => {
                    return Err(WireError::Broker {
                        what: format!("the metadata of {topic}"),
                        code,
                    }
                    .into())
                }
            }
            let address = |id: i32| {
                md.nodes
                    .iter()
                    .find(|n| n.id == id)
                    .map(|n| n.address.clone())
            };
            let leaders: Option<HashMap<i32, String>> = (md.partitions.iter())
                .map(|&(p, error, leader)| {
                    (error == 0)
                        .then(|| address(leader))
                        .flatten()
                        .map(|a| (p, a))
                })
                .collect();
            match leaders {
                Some(leaders) => {
                    let mut partitions: Vec<i32> = leaders.keys().copied().collect();
                    partitions.sort_unstable();
                    return Ok(Plan {
                        partitions,
                        leaders,
                    });
                }
                None if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                None => {
                    return Err(WireError::Unsupported(format!(
                        "a partition of {topic} without a leader"
                    ))
                    .into())
                }
            }
        }
    }
    Err(Failure::Fallback(last.unwrap_or_else(|| {
        WireError::Unsupported("no bootstrap server answered".into())
    })))
}

/// The largest fetch response asked for, and the most of it one partition fills.
/// Fetches of a few MiB keep the round trips (one in flight while one is decoded)
/// few without holding much memory per worker.
const LIMITS: FetchLimits = FetchLimits {
    max_wait_ms: 10,
    max_bytes: 8 << 20,
    partition_max_bytes: 4 << 20,
};

/// Reads `partitions` of the state topic to their ends (their last stable offsets
/// when this starts), keeping the last record of each key (see
/// [`super::survivors`]).
pub(crate) fn read_partitions<D: StateDecoder>(
    config: &KafkaConfig,
    plan: &Plan,
    partitions: &[i32],
    cancel: &AtomicBool,
    decoder: &D,
) -> Result<Survivors<D::Value>, Failure> {
    let mut part = Survivors::default();
    let mut by_leader: Vec<(&str, Vec<i32>)> = Vec::new();
    for &p in partitions {
        let leader = plan.leaders.get(&p).map(String::as_str).ok_or_else(|| {
            WireError::Unsupported(format!("partition {p} is not in the topic's metadata"))
        })?;
        match by_leader.iter_mut().find(|(l, _)| *l == leader) {
            Some((_, ps)) => ps.push(p),
            None => by_leader.push((leader, vec![p])),
        }
    }
    let mut buf = Vec::new();
    for (leader, ps) in by_leader {
        let mut conn = connect(config, leader, &mut buf)?;
        let ranges = offsets(config, &mut conn, &ps, &mut buf)?;
        let offsets: i64 = ranges.iter().map(|&(_, start, end)| end - start).sum();
        part.reserve(usize::try_from(offsets).unwrap_or(0).min(MAX_RESERVED_KEYS));
        fetch_all(
            config, &mut conn, ranges, cancel, decoder, &mut part, &mut buf,
        )?;
    }
    part.seal();
    Ok(part)
}

/// Each partition's (start, end) on its leader: the log start and the last stable
/// offset. Empty partitions are left out.
fn offsets(
    config: &KafkaConfig,
    conn: &mut Connection,
    partitions: &[i32],
    buf: &mut Vec<u8>,
) -> Result<Vec<(i32, i64, i64)>, WireError> {
    let topic = &config.state_topic;
    let mut ask = |timestamp| -> Result<HashMap<i32, i64>, WireError> {
        let request = protocol::list_offsets_request(topic, partitions, timestamp);
        let at = conn.call(
            protocol::API_LIST_OFFSETS,
            protocol::LIST_OFFSETS_VERSION,
            &request,
            buf,
        )?;
        let mut out = HashMap::new();
        for (p, error, offset) in
            protocol::list_offsets_response(buf.get(at..).unwrap_or_default())?
        {
            if error != 0 {
                return Err(WireError::Broker {
                    what: format!("the offsets of {topic} partition {p}"),
                    code: error,
                });
            }
            out.insert(p, offset);
        }
        Ok(out)
    };
    let starts = ask(protocol::EARLIEST)?;
    let ends = ask(protocol::LATEST)?;
    let mut out = Vec::new();
    for &p in partitions {
        let (Some(&start), Some(&end)) = (starts.get(&p), ends.get(&p)) else {
            return Err(WireError::Malformed(format!(
                "no offsets for partition {p}"
            )));
        };
        if end > start {
            out.push((p, start, end));
        }
    }
    Ok(out)
}

/// Fetches `ranges` (partition, start, end) from one leader until every partition's
/// position reaches its end, one fetch in flight while the previous is decoded.
fn fetch_all<D: StateDecoder>(
    config: &KafkaConfig,
    conn: &mut Connection,
    ranges: Vec<(i32, i64, i64)>,
    cancel: &AtomicBool,
    decoder: &D,
    part: &mut Survivors<D::Value>,
    buf: &mut Vec<u8>,
) -> Result<(), Failure> {
    let topic = config.state_topic.as_str();
    // (partition, position, end) of the partitions not done, in the order the next
    // fetch asks for them (rotated each time: the broker fills the first first).
    let mut open: Vec<(i32, i64, i64)> = ranges;
    let idle_limit = config.request_timeout;
    let mut last_progress = Instant::now();
    let request = |open: &[(i32, i64, i64)]| {
        let from: Vec<(i32, i64)> = open.iter().map(|&(p, pos, _)| (p, pos)).collect();
        protocol::fetch_request(topic, &from, LIMITS)
    };
    if open.is_empty() {
        return Ok(());
    }
    let mut in_flight = Some(conn.send(
        protocol::API_FETCH,
        protocol::FETCH_VERSION,
        &request(&open),
    )?);
    while let Some(correlation) = in_flight.take() {
        if cancel.load(Ordering::Relaxed) {
            return Err(Failure::Cancelled);
        }
        let at = conn.receive(correlation, buf)?;
        let (error, fetched) = protocol::fetch_response(buf.get(at..).unwrap_or_default())?;
        if error != 0 {
            return Err(WireError::Broker {
                what: format!("a fetch of {topic}"),
                code: error,
            }
            .into());
        }
        // Where each partition's next fetch starts, from the batch headers alone,
        // so that the next fetch is on its way while this one is decoded.
        let mut progressed = false;
        let mut next_open = Vec::with_capacity(open.len());
        for &(p, pos, end) in &open {
            let fp = fetched.iter().find(|f| f.partition == p);
            let next = match fp {
                Some(f) if f.error != 0 => {
                    return Err(WireError::Broker {
                        what: format!("a fetch of {topic} partition {p}"),
                        code: f.error,
                    }
                    .into())
                }
                Some(f) => batch::next_offset(f.records, pos).map_err(unreadable)?,
                None => pos,
            };
            if next > pos {
                progressed = true;
            }
            if next < end {
                next_open.push((p, next, end));
            }
        }
        if progressed {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > idle_limit {
            let (p, position, end) = open.first().copied().unwrap_or((-1, -1, -1));
            return Err(Failure::Restore(RestoreError::Stalled {
                topic: topic.to_owned(),
                partition: p,
                position,
                end,
                idle: idle_limit,
            }));
        }
        if !next_open.is_empty() {
            next_open.rotate_left(1);
            let c = conn.send(
                protocol::API_FETCH,
                protocol::FETCH_VERSION,
                &request(&next_open),
            )?;
            in_flight = Some(c);
        }
        for f in &fetched {
            let Some(&(_, pos, end)) = open.iter().find(|&&(p, _, _)| p == f.partition) else {
                continue;
            };
            let p = f.partition;
            let walked = batch::walk(f.records, pos, &f.aborted, |r| {
                if r.offset >= end {
                    return Ok(());
                }
                let at = RecordAt {
                    partition: p,
                    offset: r.offset,
                };
                let skip = config.skip_state_records.contains(&at);
                part.offer(at, r.key.unwrap_or_default(), r.value, skip, decoder)
            })
            .map_err(unreadable)?;
            walked.map_err(|split| Failure::Restore(split.into_error(topic)))?;
        }
        open = next_open;
    }
    Ok(())
}

fn unreadable(e: batch::Unreadable) -> WireError {
    match e {
        batch::Unreadable::Unsupported(m) => WireError::Unsupported(m),
        batch::Unreadable::Malformed(m) => WireError::Malformed(m.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(bootstrap: &str, properties: &[(&str, &str)]) -> KafkaConfig {
        let mut c = KafkaConfig::new(bootstrap.to_owned(), "txn".to_owned());
        for (k, v) in properties {
            c.properties.insert((*k).into(), (*v).into());
        }
        c
    }

    #[test]
    fn only_a_plaintext_cluster_is_read_by_the_own_reader() {
        assert_eq!(
            bootstrap(&config("b1:9092, b2:19092", &[])),
            Ok(vec!["b1:9092".to_owned(), "b2:19092".to_owned()])
        );
        assert_eq!(
            bootstrap(&config("b1:9092", &[("security.protocol", "PLAINTEXT")])),
            Ok(vec!["b1:9092".to_owned()])
        );
        for protocol in ["SSL", "SASL_SSL", "sasl_plaintext"] {
            let why = bootstrap(&config("b1:9092", &[("security.protocol", protocol)]))
                .expect_err("not plaintext");
            assert!(why.contains(protocol), "{why}");
        }
        let why = bootstrap(&config("SSL://b1:9093", &[])).expect_err("a TLS listener");
        assert!(why.contains("SSL"), "{why}");
        assert!(bootstrap(&config(" , ", &[])).is_err());
    }

    #[test]
    fn bootstrap_servers_are_taken_as_librdkafka_takes_them() {
        assert_eq!(
            bootstrap(&config("PLAINTEXT://b1:9092,b2,[::1]:9093,[::1]", &[])),
            Ok(vec![
                "b1:9092".to_owned(),
                "b2:9092".to_owned(),
                "[::1]:9093".to_owned(),
                "[::1]:9092".to_owned(),
            ])
        );
    }
}
