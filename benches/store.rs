//! SQLite batch insert throughput: syslog rows through the real writer (every index, device
//! upserts and the checkpoint), in transactions of 100, 1,000 and 10,000 rows, from a fleet of
//! 1,000 devices whose clocks are a few seconds apart, as a real network sends: each device
//! has an entry in each block of `device_blocks` (store/blocks.rs; `idx_source_ip` before schema
//! 6) and the device times arrive slightly out of order in `idx_timestamp`.
//!
//! The same rows through the PostgreSQL sink (binary COPY, devices, checkpoint) when
//! `MUTT_BENCH_PG_URL` names a scratch database, e.g. `postgresql://postgres@127.0.0.1:5432/bench`
//! (the schema is created there; a password comes from PGPASSWORD).

use std::net::IpAddr;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use mutt::decode::syslog::{parse, ParseContext};
use mutt::model::{MessageKind, Transport};
use mutt::store::postgres::{PgSettings, PgStore, PgTls};
use mutt::store::{Detail, MessageRow, MessageSink, Store};

fn rows(n: usize, base: u64) -> Vec<MessageRow> {
    const DEVICES: u64 = 1000;
    let ctx = ParseContext {
        received_at_us: 1_764_000_000_000_000,
        default_utc_offset_secs: 0,
    };
    let mut line = Vec::new();
    (0..n as u64)
        .map(|i| {
            let n = base + i;
            // 100,000 messages a second; device d's clock is off by (d % 7) - 3 seconds.
            let received_at_us = ctx.received_at_us + n as i64 * 10;
            let device = (n * 7919) % DEVICES;
            let device_us =
                received_at_us / 1_000_000 * 1_000_000 + ((device % 7) as i64 - 3) * 1_000_000;
            mutt::loadgen::line(0, n, "Nov 27 10:00:00", &mut line);
            let msg = parse(&line, &ctx);
            MessageRow {
                seq: base + i + 1,
                id: uuid::Uuid::now_v7().to_string(),
                kind: MessageKind::Syslog,
                source_ip: IpAddr::from([10, 0, (device / 250) as u8, (device % 250) as u8 + 1]),
                source_port: 514,
                transport: Transport::Udp,
                source_device: format!("rtr{device:04}"),
                timestamp_us: device_us,
                received_at_us,
                raw_message: String::from_utf8_lossy(&line).into_owned(),
                raw_bytes: line.clone(),
                validation_errors: Vec::new(),
                truncated: false,
                rule: None,
                rejected: None,
                detail_json: None,
                detail: Detail::Syslog(msg),
            }
        })
        .collect()
}

fn bench_store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.measurement_time(Duration::from_secs(5));
    // 100 is the default batch; under load the writer folds queued batches into up to 10,000.
    for batch in [100usize, 1000, 10_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store =
            Store::open(&dir.path().join("bench.db"), Duration::from_secs(5)).expect("open");
        bench_batches(&mut group, batch, &mut store, &mut 0);
    }
    group.finish();
}

/// `syslog_rows_per_transaction_{batch}`: batches of fresh rows into `store`, their WAL
/// sequences from `next` on.
fn bench_batches<S: MessageSink>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    batch: usize,
    store: &mut S,
    next: &mut u64,
) {
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function(format!("syslog_rows_per_transaction_{batch}"), |b| {
        b.iter_batched(
            || {
                let r = rows(batch, *next);
                *next += batch as u64;
                r
            },
            |r| {
                let last = r.last().map_or(0, |x| x.seq);
                store.write_batch(&r, last).expect("write");
            },
            BatchSize::PerIteration,
        )
    });
}

fn bench_postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("MUTT_BENCH_PG_URL") else {
        eprintln!("store_postgres: skipped (set MUTT_BENCH_PG_URL to a scratch database)");
        return;
    };
    let mut config: postgres::Config = url.parse().expect("MUTT_BENCH_PG_URL is a URL");
    if let Ok(password) = std::env::var("PGPASSWORD") {
        config.password(password);
    }
    let settings = PgSettings {
        config,
        tls: PgTls::Disable,
        collector_id: "bench".into(),
    };
    let mut store = PgStore::open(settings).expect("connect and migrate");
    let mut next = store.checkpoint().expect("checkpoint");
    let mut group = c.benchmark_group("store_postgres");
    group.measurement_time(Duration::from_secs(5));
    for batch in [100usize, 1000, 10_000] {
        bench_batches(&mut group, batch, &mut store, &mut next);
    }
    group.finish();
}

criterion_group!(benches, bench_store, bench_postgres);
criterion_main!(benches);
