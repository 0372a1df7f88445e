//! The four requests the restore's own reader makes, at fixed non-flexible versions
//! that every Kafka from 2.3 to 4.x serves: `ApiVersions` v0 (to check the others),
//! `Metadata` v7, `ListOffsets` v4 and `Fetch` v11, each read committed where it
//! matters.

use super::batch::Aborted;
use super::codec::{Malformed, Reader, Writer};
use super::WireError;

pub(crate) const API_FETCH: i16 = 1;
pub(crate) const API_LIST_OFFSETS: i16 = 2;
pub(crate) const API_METADATA: i16 = 3;
pub(crate) const API_VERSIONS: i16 = 18;

pub(crate) const FETCH_VERSION: i16 = 11;
pub(crate) const LIST_OFFSETS_VERSION: i16 = 4;
pub(crate) const METADATA_VERSION: i16 = 7;

/// The versions this reader needs, by API key.
pub(crate) const NEEDED: [(i16, i16, &str); 3] = [
    (API_FETCH, FETCH_VERSION, "Fetch"),
    (API_LIST_OFFSETS, LIST_OFFSETS_VERSION, "ListOffsets"),
    (API_METADATA, METADATA_VERSION, "Metadata"),
];

/// Kafka's error codes that the reader tells apart.
pub(crate) const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub(crate) const LEADER_NOT_AVAILABLE: i16 = 5;

const READ_COMMITTED: i8 = 1;
/// ListOffsets' timestamps that ask for the log's start and its (stable) end.
pub(crate) const EARLIEST: i64 = -2;
pub(crate) const LATEST: i64 = -1;

fn malformed(e: Malformed) -> WireError {
    WireError::Malformed(e.to_string())
}

/// The versions range of each API the broker serves.
pub(crate) fn api_versions(body: &[u8]) -> Result<Vec<(i16, i16, i16)>, WireError> {
    let mut r = Reader::new(body);
    let parse = |r: &mut Reader<'_>| -> Result<Vec<(i16, i16, i16)>, Malformed> {
        let error = r.i16("ApiVersions error code")?;
        let n = r.len(6, "ApiVersions keys")?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push((
                r.i16("api key")?,
                r.i16("min version")?,
                r.i16("max version")?,
            ));
        }
        if error != 0 {
            out.clear();
        }
        Ok(out)
    };
    parse(&mut r).map_err(malformed)
}

/// A broker of the cluster, from metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) id: i32,
    pub(crate) address: String,
}

/// One topic's partitions and their leaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicMetadata {
    pub(crate) nodes: Vec<Node>,
    /// The topic's error code (0: none).
    pub(crate) error: i16,
    /// (partition, error code, leader id).
    pub(crate) partitions: Vec<(i32, i16, i32)>,
}

pub(crate) fn metadata_request(topic: &str) -> Vec<u8> {
    let mut w = Writer::default();
    // Never create the topic: no client of the connector triggers auto-creation.
    w.len(1).string(topic).bool(false);
    w.buf
}

pub(crate) fn metadata_response(body: &[u8], topic: &str) -> Result<TopicMetadata, WireError> {
    let parse = |r: &mut Reader<'_>| -> Result<TopicMetadata, Malformed> {
        let _throttle = r.i32("throttle time")?;
        let n = r.len(12, "brokers")?;
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.i32("node id")?;
            let host = r.string("host")?.unwrap_or_default();
            let port = r.i32("port")?;
            let _rack = r.string("rack")?;
            let host = String::from_utf8_lossy(host);
            // An IPv6 literal needs brackets before its port.
            let address = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            nodes.push(Node { id, address });
        }
        let _cluster = r.string("cluster id")?;
        let _controller = r.i32("controller id")?;
        let topics = r.len(9, "topics")?;
        let mut out = TopicMetadata {
            nodes,
            error: UNKNOWN_TOPIC_OR_PARTITION,
            partitions: Vec::new(),
        };
        for _ in 0..topics {
            let error = r.i16("topic error code")?;
            let name = r.string("topic name")?.unwrap_or_default();
            let _internal = r.bool("is internal")?;
            let n = r.len(26, "partitions")?;
            let mut partitions = Vec::with_capacity(n);
            for _ in 0..n {
                let error = r.i16("partition error code")?;
                let id = r.i32("partition index")?;
                let leader = r.i32("leader id")?;
                let _epoch = r.i32("leader epoch")?;
                for what in ["replica nodes", "isr nodes", "offline replicas"] {
                    let k = r.len(4, what)?;
                    r.bytes(k * 4, what)?;
                }
                partitions.push((id, error, leader));
            }
            if name == topic.as_bytes() {
                out.error = error;
                out.partitions = partitions;
            }
        }
        Ok(out)
    };
    parse(&mut Reader::new(body)).map_err(malformed)
}

pub(crate) fn list_offsets_request(topic: &str, partitions: &[i32], timestamp: i64) -> Vec<u8> {
    let mut w = Writer::default();
    w.i32(-1)
        .i8(READ_COMMITTED)
        .len(1)
        .string(topic)
        .len(partitions.len());
    for &p in partitions {
        w.i32(p).i32(-1).i64(timestamp);
    }
    w.buf
}

/// (partition, error code, offset) of each partition answered.
pub(crate) fn list_offsets_response(body: &[u8]) -> Result<Vec<(i32, i16, i64)>, WireError> {
    let parse = |r: &mut Reader<'_>| -> Result<Vec<(i32, i16, i64)>, Malformed> {
        let _throttle = r.i32("throttle time")?;
        let topics = r.len(6, "topics")?;
        let mut out = Vec::new();
        for _ in 0..topics {
            let _name = r.string("topic name")?;
            let n = r.len(26, "partitions")?;
            for _ in 0..n {
                let p = r.i32("partition index")?;
                let error = r.i16("error code")?;
                let _ts = r.i64("timestamp")?;
                let offset = r.i64("offset")?;
                let _epoch = r.i32("leader epoch")?;
                out.push((p, error, offset));
            }
        }
        Ok(out)
    };
    parse(&mut Reader::new(body)).map_err(malformed)
}

/// What one fetch asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    pub(crate) max_wait_ms: i32,
    pub(crate) max_bytes: i32,
    pub(crate) partition_max_bytes: i32,
}

pub(crate) fn fetch_request(topic: &str, from: &[(i32, i64)], limits: FetchLimits) -> Vec<u8> {
    let mut w = Writer::default();
    w.i32(-1) // replica id: a consumer
        .i32(limits.max_wait_ms)
        .i32(1) // min bytes
        .i32(limits.max_bytes)
        .i8(READ_COMMITTED)
        .i32(0) // no fetch session
        .i32(-1) // session epoch: a full fetch, no session
        .len(1)
        .string(topic)
        .len(from.len());
    for &(p, offset) in from {
        w.i32(p)
            .i32(-1)
            .i64(offset)
            .i64(-1)
            .i32(limits.partition_max_bytes);
    }
    w.len(0) // forgotten topics
        .string(""); // rack id
    w.buf
}

/// One partition of a fetch response; its records borrowed from the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchedPartition<'a> {
    pub(crate) partition: i32,
    pub(crate) error: i16,
    pub(crate) aborted: Vec<Aborted>,
    pub(crate) records: &'a [u8],
}

/// The partitions of a fetch response, or its top-level error code.
pub(crate) fn fetch_response(body: &[u8]) -> Result<(i16, Vec<FetchedPartition<'_>>), WireError> {
    parse_fetch(&mut Reader::new(body)).map_err(malformed)
}

fn parse_fetch<'a>(r: &mut Reader<'a>) -> Result<(i16, Vec<FetchedPartition<'a>>), Malformed> {
    let _throttle = r.i32("throttle time")?;
    let error = r.i16("fetch error code")?;
    let _session = r.i32("session id")?;
    let topics = r.len(6, "topics")?;
    let mut out = Vec::new();
    for _ in 0..topics {
        let _name = r.string("topic name")?;
        let n = r.len(42, "partitions")?;
        for _ in 0..n {
            let partition = r.i32("partition index")?;
            let error = r.i16("partition error code")?;
            let _hw = r.i64("high watermark")?;
            let _lso = r.i64("last stable offset")?;
            let _log_start = r.i64("log start offset")?;
            let k = r.len(16, "aborted transactions")?;
            let mut aborted = Vec::with_capacity(k);
            for _ in 0..k {
                aborted.push(Aborted {
                    producer_id: r.i64("producer id")?,
                    first_offset: r.i64("first offset")?,
                });
            }
            let _replica = r.i32("preferred read replica")?;
            let records = r.int32_bytes("records")?;
            out.push(FetchedPartition {
                partition,
                error,
                aborted,
                records,
            });
        }
    }
    Ok((error, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metadata_response_gives_leaders_and_bracketed_ipv6_addresses() {
        let mut w = Writer::default();
        w.i32(0).len(2);
        w.i32(1).string("broker-1.example").i32(9092).i16(-1);
        w.i32(2).string("::1").i32(9093).string("rack-a");
        w.string("cluster").i32(1).len(2);
        // Another topic first, then ours with two partitions.
        w.i16(0).string("other").bool(false).len(0);
        w.i16(0).string("state").bool(false).len(2);
        for (p, leader) in [(0, 1), (1, 2)] {
            w.i16(0).i32(p).i32(leader).i32(0);
            w.len(1).i32(leader).len(1).i32(leader).len(0);
        }
        let md = metadata_response(&w.buf, "state").expect("parses");
        assert_eq!(md.error, 0);
        assert_eq!(md.partitions, vec![(0, 0, 1), (1, 0, 2)]);
        assert_eq!(md.nodes[0].address, "broker-1.example:9092");
        assert_eq!(md.nodes[1].address, "[::1]:9093");
        // A topic the broker does not list is unknown.
        let md = metadata_response(&w.buf, "missing").expect("parses");
        assert_eq!(md.error, UNKNOWN_TOPIC_OR_PARTITION);
        // Cut anywhere, the response is refused, not misread.
        for cut in 0..w.buf.len() {
            assert!(
                metadata_response(&w.buf[..cut], "state").is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_fetch_request_asks_read_committed_without_a_session() {
        let limits = FetchLimits {
            max_wait_ms: 10,
            max_bytes: 1 << 20,
            partition_max_bytes: 1 << 16,
        };
        let body = fetch_request("t", &[(3, 42)], limits);
        let mut r = Reader::new(&body);
        assert_eq!(r.i32("replica").ok(), Some(-1));
        assert_eq!(r.i32("wait").ok(), Some(10));
        assert_eq!(r.i32("min").ok(), Some(1));
        assert_eq!(r.i32("max").ok(), Some(1 << 20));
        assert_eq!(r.i8("isolation").ok(), Some(READ_COMMITTED));
        assert_eq!(r.i32("session").ok(), Some(0));
        assert_eq!(r.i32("epoch").ok(), Some(-1));
        assert_eq!(r.len(1, "topics").ok(), Some(1));
        assert_eq!(r.string("topic").ok().flatten(), Some(&b"t"[..]));
        assert_eq!(r.len(1, "partitions").ok(), Some(1));
        assert_eq!(r.i32("partition").ok(), Some(3));
        assert_eq!(r.i32("epoch").ok(), Some(-1));
        assert_eq!(r.i64("offset").ok(), Some(42));
        assert_eq!(r.i64("log start").ok(), Some(-1));
        assert_eq!(r.i32("partition max").ok(), Some(1 << 16));
        assert_eq!(r.i32("forgotten").ok(), Some(0));
        assert_eq!(r.string("rack").ok().flatten(), Some(&b""[..]));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn a_fetch_response_gives_each_partitions_records_and_aborted_list() {
        let mut w = Writer::default();
        w.i32(0).i16(0).i32(0).len(1).string("t").len(1);
        w.i32(2).i16(0).i64(10).i64(9).i64(0);
        w.len(1).i64(77).i64(4);
        w.i32(-1).i32(3);
        w.buf.extend_from_slice(b"abc");
        let (error, parts) = fetch_response(&w.buf).expect("parses");
        assert_eq!(error, 0);
        assert_eq!(
            parts,
            vec![FetchedPartition {
                partition: 2,
                error: 0,
                aborted: vec![Aborted {
                    producer_id: 77,
                    first_offset: 4
                }],
                records: b"abc",
            }]
        );
        for cut in 0..w.buf.len() {
            assert!(fetch_response(&w.buf[..cut]).is_err(), "cut at {cut}");
        }
    }
}
