//! Benchmark of the listing parse: `GET /organizations/{orgKey}/users` bodies of
//! 10k and 100k generated members (the simulator's generator, as `scripts/bench.sh`
//! serves them: about 300 bytes a member), parsed by the stream the client uses
//! (`ListingParser`, fed in 16 KiB chunks as the body arrives) and, for comparison,
//! by the whole-body parser it replaced (`parse_listing_whole`: one serde pass over
//! the body held in memory). Run with `cargo bench --bench listing`; method and
//! figures in `docs/benchmarks.md` ("Listing parse").

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use streak_connector::simulator::generate_members_at;
use streak_connector::streak::{parse_listing_whole, ListingParser};

const NOW: i64 = 1_760_000_000_000;
/// The size of the chunks the HTTP client hands over (hyper reads up to 16 KiB).
const CHUNK: usize = 16 * 1024;

fn body(members: usize) -> Vec<u8> {
    let wire: Vec<serde_json::Value> = generate_members_at(members, 7, NOW)
        .iter()
        .map(|m| m.to_wire("org-bench"))
        .collect();
    serde_json::to_vec(&wire).expect("a generated listing serializes")
}

fn streamed(body: &[u8]) -> usize {
    let mut parser = ListingParser::new();
    for chunk in body.chunks(CHUNK) {
        parser.feed(chunk).expect("a listing");
    }
    parser.finish().expect("a listing").listing.members.len()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("listing");
    group.sample_size(10);
    for members in [10_000, 100_000] {
        let body = body(members);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("stream", members), &body, |b, body| {
            b.iter(|| assert_eq!(black_box(streamed(body)), members))
        });
        group.bench_with_input(BenchmarkId::new("whole", members), &body, |b, body| {
            b.iter(|| {
                let parsed = parse_listing_whole(black_box(body)).expect("a listing");
                assert_eq!(parsed.listing.members.len(), members);
            })
        });
    }
    group.finish();
    c.final_summary();
}
