//! Benchmark of the membership diff, and measurement of the memory one tracked
//! member costs. Run with `cargo bench --bench diff`; method and figures are in
//! `docs/benchmarks.md` ("Membership diff").
//!
//! - Throughput: `diff` of an organization of 10k, 100k and 1M members against a
//!   fresh listing with 0% and 1% churn, in members per second. In both cases every
//!   active member's `lastSeenTimestamp` moved forward (as in real polls), which is
//!   not a change.
//! - Memory: the process re-runs itself (`STREAK_BENCH_MEMORY=<variant>`) so each
//!   measurement starts from a fresh heap, builds the state of 1M members with
//!   typical field sizes, and reports the growth of its resident set (VmRSS) per
//!   member: that includes allocator overhead and fragmentation. The packed
//!   `OrgState` is measured, and for comparison a plain
//!   `HashMap<String, MemberState>`.

use std::collections::HashMap;
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};

/// The binary's allocator (src/main.rs): the memory per member is the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use streak_connector::membership::{
    diff, GuardVerdict, Listing, Member, MemberState, OrgState, Settings,
};

const DAY: i64 = 24 * 60 * 60 * 1000;
const NOW: i64 = 1_760_000_000_000;
const FIRST: [&str; 4] = ["Alice", "Bernard", "Chiamaka", "Dmitri"];
const LAST: [&str; 4] = ["Nakamura", "Okafor", "Robinson", "Schmidt"];

/// Member `i` with typical field sizes: a 40-char key (Streak keys are long
/// base64-ish datastore keys sharing a prefix), a 25-char email, names, a 90-char
/// avatar URL.
fn member(i: u64) -> Member {
    // An odd multiplier is a bijection on u32: unique, scattered suffixes.
    let tag = (i as u32).wrapping_mul(0x9E37_79B1);
    let first = FIRST[(i % 4) as usize];
    let last = LAST[(i / 4 % 4) as usize];
    Member {
        key: format!("agxzfm1haWxmb29nYWVyMQsSBFVzZXIY{tag:08x}"),
        email: Some(format!("u{i:08}@examplecorp.com")),
        display_name: Some(format!("{first} {last}")),
        first_name: Some(first.to_owned()),
        last_name: Some(last.to_owned()),
        image: Some(format!(
            "https://lh3.googleusercontent.com/a/ACg8ocK{tag:08x}Zr4oQmJbN1xW5vYtPq9sUeHd2LfGkAa=s96-c"
        )),
        is_org_admin: Some(i % 50 == 0),
        // Spread over 40 days: a quarter of the members are inactive.
        last_seen_ms: Some(NOW - (i % 40) as i64 * DAY - 1000),
        creation_ms: Some(NOW - 400 * DAY),
    }
}

/// The organization after a committed snapshot of members `0..n` at `NOW`. Prints
/// how long the snapshot's diff and apply took (one run each: a first poll happens
/// once per organization).
fn org(n: u64, settings: &Settings) -> OrgState {
    let mut org = OrgState::new("org-bench");
    let listing = Listing {
        members: (0..n).map(member).collect(),
        complete: true,
    };
    let start = Instant::now();
    let out = diff(&org, &listing, NOW, settings, None);
    let diffed = start.elapsed();
    org.apply(&out);
    println!(
        "snapshot of {n} members: diff {:.1} ms, apply {:.1} ms",
        diffed.as_secs_f64() * 1e3,
        (start.elapsed() - diffed).as_secs_f64() * 1e3
    );
    org
}

/// The next poll's listing, one hour later: active members' lastSeen moved forward;
/// with `churn`, 1% of the members changed: 0.25% left, 0.25% joined, 0.25% changed
/// their profile and 0.25% their admin flag.
fn next_listing(n: u64, churn: bool) -> Listing {
    let step = 400; // one in 400 = 0.25%
    let mut members = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut m = member(i);
        if churn && i % step == 0 {
            continue; // left
        }
        if m.last_seen_ms.is_some_and(|t| NOW - t < 20 * DAY) {
            m.last_seen_ms = Some(NOW + 3_600_000 - 1000);
        }
        if churn && i % step == 1 {
            m.display_name = Some("Renamed Person".to_owned());
        }
        if churn && i % step == 2 {
            m.is_org_admin = m.is_org_admin.map(|a| !a);
        }
        members.push(m);
    }
    if churn {
        members.extend((0..n / step).map(|j| member(n + j)));
    }
    Listing {
        members,
        complete: true,
    }
}

fn bench_diff(c: &mut Criterion, sizes: &[u64]) {
    let settings = Settings::default();
    let mut group = c.benchmark_group("diff");
    for &n in sizes {
        let state = org(n, &settings);
        for (churn, label) in [(false, "0%"), (true, "1%")] {
            let listing = next_listing(n, churn);
            let now = NOW + 3_600_000;
            let out = diff(&state, &listing, now, &settings, None);
            assert_eq!(out.verdict, GuardVerdict::Proceed);
            let expected = if churn { n / 100 } else { 0 };
            assert_eq!(out.events.len() as u64, expected, "{n} {label}");
            drop(out);

            group.throughput(Throughput::Elements(n));
            group.sample_size(if n >= 1_000_000 { 10 } else { 30 });
            group.bench_with_input(
                BenchmarkId::new(format!("churn_{label}"), n),
                &listing,
                |b, listing| b.iter(|| diff(&state, black_box(listing), now, &settings, None)),
            );
        }
    }
    group.finish();
}

/// The best wall time of `runs` diffs per case, and their mean on-CPU time: on a
/// shared machine these are the figures least disturbed by other processes.
fn best_of(sizes: &[u64], runs: usize) {
    let settings = Settings::default();
    for &n in sizes {
        let state = org(n, &settings);
        for (churn, label) in [(false, "0%"), (true, "1%")] {
            let listing = next_listing(n, churn);
            let now = NOW + 3_600_000;
            let mut best_wall = f64::MAX;
            let cpu0 = on_cpu_seconds();
            for _ in 0..runs {
                let wall0 = Instant::now();
                black_box(diff(&state, black_box(&listing), now, &settings, None));
                best_wall = best_wall.min(wall0.elapsed().as_secs_f64());
            }
            // schedstat is updated at scheduler events: only a sum is precise.
            let mean_cpu = (on_cpu_seconds() - cpu0) / runs as f64;
            println!(
                "best of {runs}: diff/churn_{label}/{n}: wall {:.3} ms ({:.2} M members/s), \
                 mean on-CPU {:.3} ms ({:.2} M members/s)",
                best_wall * 1e3,
                n as f64 / best_wall / 1e6,
                mean_cpu * 1e3,
                n as f64 / mean_cpu / 1e6,
            );
        }
    }
}

/// Time this thread spent on a CPU (`/proc/thread-self/schedstat`, ns), so that
/// time spent waiting for a CPU on a busy machine does not count.
fn on_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Build one variant's state of `n` members in this (fresh) process and print the
/// resident growth per member.
fn measure_memory(variant: &str, n: u64) {
    let state_of = |i: u64| MemberState {
        member: member(i),
        inactive: i % 40 >= 30,
        first_seen_ms: NOW,
        last_changed_ms: NOW,
    };
    let before = resident_bytes();
    match variant {
        "packed" => {
            let mut org = OrgState::new("org-bench");
            for i in 0..n {
                org.insert(state_of(i));
            }
            let after = resident_bytes();
            println!(
                "memory packed OrgState: {n} members, resident +{:.1} bytes/member \
                 (requested heap {:.1} bytes/member)",
                (after - before) as f64 / n as f64,
                org.heap_bytes() as f64 / n as f64
            );
            black_box(&org);
        }
        "hashmap" => {
            let mut map = HashMap::new();
            for i in 0..n {
                let s = state_of(i);
                map.insert(s.member.key.clone(), s);
            }
            let after = resident_bytes();
            println!(
                "memory HashMap<String, MemberState>: {n} members, resident +{:.1} bytes/member",
                (after - before) as f64 / n as f64
            );
            black_box(&map);
        }
        other => eprintln!("unknown memory variant {other}"),
    }
}

fn main() {
    if let Ok(variant) = std::env::var("STREAK_BENCH_MEMORY") {
        measure_memory(&variant, 1_000_000);
        return;
    }
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run does not,
    // and only checks that the benchmark runs.
    let benching = std::env::args().any(|a| a == "--bench");
    // `STREAK_BENCH_SIZES=100000,1000000` picks sizes (setting up 1M takes a while);
    // `STREAK_BENCH_BEST_OF=20` prints the best of 20 runs instead of criterion's
    // statistics.
    let sizes: Vec<u64> = match std::env::var("STREAK_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        Err(_) if benching => vec![10_000, 100_000, 1_000_000],
        Err(_) => vec![10_000],
    };
    if let Some(runs) = std::env::var("STREAK_BENCH_BEST_OF")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        best_of(&sizes, runs);
        return;
    }
    if benching && std::env::var_os("STREAK_BENCH_SIZES").is_none() {
        if let Ok(exe) = std::env::current_exe() {
            for variant in ["packed", "hashmap"] {
                match Command::new(&exe)
                    .env("STREAK_BENCH_MEMORY", variant)
                    .output()
                {
                    Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
                    Err(e) => eprintln!("memory measurement {variant} failed: {e}"),
                }
            }
        }
    }
    let mut c = Criterion::default().configure_from_args();
    bench_diff(&mut c, &sizes);
    c.final_summary();
}
