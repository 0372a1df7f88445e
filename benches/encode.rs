//! Encoding throughput of change events (events per second) in both wire formats,
//! plus a state record and, for comparison, decoding.
//!
//! `cargo bench --bench encode`; results and method in docs/benchmarks.md.

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use streak_connector::avro::{Decoder, Encoder, SchemaIds, Schemas};
use streak_connector::membership::{
    ChangeEvent, EventType, Member, MemberState, SourceInfo, StateRecord,
};

fn member(admin: bool) -> MemberState {
    MemberState {
        member: Member {
            key: "agxzfm1haWxmb29nYWVyEQsSBFVzZXIYgICAgICAgAoM".into(),
            email: Some("ada.lovelace@example.com".into()),
            display_name: Some("Ada Lovelace".into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            image: Some("https://lh3.googleusercontent.com/a/ACg8ocK-example=s96-c".into()),
            is_org_admin: Some(admin),
            last_seen_ms: Some(1_700_000_000_000),
            creation_ms: Some(1_600_000_000_000),
        },
        inactive: false,
        first_seen_ms: 1_650_000_000_000,
        last_changed_ms: 1_700_000_000_000,
    }
}

/// The largest kind of event: both `before` and `after` fully populated.
fn admin_changed() -> ChangeEvent {
    ChangeEvent {
        event_id: uuid::Uuid::from_u128(0x0123_4567_89ab_5def_8123_4567_89ab_cdef),
        event_type: EventType::AdminChanged,
        org_key: "agxzfm1haWxmb29nYWVyGAsSDE9yZ2FuaXphdGlvbhiAgICAgICACgw".into(),
        user_key: "agxzfm1haWxmb29nYWVyEQsSBFVzZXIYgICAgICAgAoM".into(),
        email: Some("ada.lovelace@example.com".into()),
        detected_at_ms: 1_700_000_000_001,
        poll_seq: 1234,
        before: Some(member(false)),
        after: Some(member(true)),
    }
}

fn source() -> SourceInfo {
    SourceInfo {
        connector: "streak-connector".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        instance: "streak-connector-7d9f8b6c5-x2k4q/1f3a".into(),
    }
}

fn bench(c: &mut Criterion) {
    let schemas = Arc::new(Schemas::load().expect("embedded schemas"));
    let single = Encoder::single_object(Arc::clone(&schemas), source());
    let confluent = Encoder::with_schema_ids(
        Arc::clone(&schemas),
        source(),
        SchemaIds {
            events_key: 1,
            events_value: 2,
            state_key: 1,
            state_value: 3,
        },
    );
    let event = admin_changed();
    let state = StateRecord::Member {
        org_key: event.org_key.clone(),
        user_key: event.user_key.clone(),
        state: event.after.clone(),
    };

    let mut g = c.benchmark_group("encode_event");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_object", |b| {
        b.iter(|| single.encode_event(black_box(&event)).expect("encode"))
    });
    g.bench_function("confluent", |b| {
        b.iter(|| confluent.encode_event(black_box(&event)).expect("encode"))
    });
    g.finish();

    let mut g = c.benchmark_group("encode_state");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_object_member", |b| {
        b.iter(|| single.encode_state(black_box(&state)).expect("encode"))
    });
    g.finish();

    let encoded = single.encode_event(&event).expect("encode");
    let value = encoded.value.clone().expect("value");
    let decoder = Decoder::new(Arc::clone(&schemas));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("decode_event");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_object", |b| {
        b.iter(|| {
            rt.block_on(decoder.decode_event(black_box(&encoded.key), black_box(&value)))
                .expect("decode")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
