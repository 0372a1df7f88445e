//! Avro codec cost per record: encoding change events and state records in both
//! wire formats, and decoding them (events; state records as the restore does,
//! synchronously from cached writer schemas, and through the async API).
//!
//! `cargo bench --bench encode`; results and method in docs/benchmarks.md.

use std::sync::Arc;

/// The binary's allocator (src/main.rs), so that these costs are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use streak_connector::avro::{Decoder, Encoder, SchemaIds, Schemas};
use streak_connector::membership::{
    ChangeEvent, Checkpoint, EventType, Member, MemberState, SourceInfo, StateRecord,
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

struct Fixture {
    schemas: Arc<Schemas>,
    single: Encoder,
    confluent: Encoder,
    event: ChangeEvent,
    state: StateRecord,
    checkpoint: StateRecord,
}

fn fixture() -> Fixture {
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
    let checkpoint = StateRecord::Checkpoint(Checkpoint {
        org_key: event.org_key.clone(),
        poll_seq: 1234,
        last_poll_ms: 1_700_000_000_001,
        member_count: 100_000,
        incarnation: None,
    });
    Fixture {
        schemas,
        single,
        confluent,
        event,
        state,
        checkpoint,
    }
}

fn encode(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("encode_event");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_object", |b| {
        b.iter(|| f.single.encode_event(black_box(&f.event)).expect("encode"))
    });
    g.bench_function("confluent", |b| {
        b.iter(|| {
            f.confluent
                .encode_event(black_box(&f.event))
                .expect("encode")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("encode_state");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_object_member", |b| {
        b.iter(|| f.single.encode_state(black_box(&f.state)).expect("encode"))
    });
    g.bench_function("single_object_checkpoint", |b| {
        b.iter(|| {
            f.single
                .encode_state(black_box(&f.checkpoint))
                .expect("encode")
        })
    });
    g.finish();
}

fn decode(c: &mut Criterion, f: &Fixture) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let decoder = Decoder::new(Arc::clone(&f.schemas));

    let encoded = f.single.encode_event(&f.event).expect("encode");
    let value = encoded.value.clone().expect("value");
    let mut g = c.benchmark_group("decode_event");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_object", |b| {
        b.iter(|| {
            rt.block_on(decoder.decode_event(black_box(&encoded.key), black_box(&value)))
                .expect("decode")
        })
    });
    g.bench_function("single_object_cached", |b| {
        b.iter(|| {
            decoder
                .decode_event_cached(black_box(&encoded.key), black_box(&value))
                .expect("decode")
        })
    });
    g.finish();

    let member = f.single.encode_state(&f.state).expect("encode");
    let checkpoint = f.single.encode_state(&f.checkpoint).expect("encode");
    let mut g = c.benchmark_group("decode_state");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_object_member_async", |b| {
        b.iter(|| {
            rt.block_on(
                decoder.decode_state(black_box(&member.key), black_box(member.value.as_deref())),
            )
            .expect("decode")
        })
    });
    g.bench_function("single_object_member", |b| {
        b.iter(|| {
            decoder
                .decode_state_cached(black_box(&member.key), black_box(member.value.as_deref()))
                .expect("decode")
        })
    });
    g.bench_function("single_object_checkpoint", |b| {
        b.iter(|| {
            decoder
                .decode_state_cached(
                    black_box(&checkpoint.key),
                    black_box(checkpoint.value.as_deref()),
                )
                .expect("decode")
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    encode(c, &f);
    decode(c, &f);
}

criterion_group!(benches, bench);
criterion_main!(benches);
