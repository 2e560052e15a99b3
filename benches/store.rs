//! SQLite batch insert throughput: syslog rows through the real writer (indexes, both tables,
//! device upserts and the checkpoint), in transactions of 100 and 1,000 rows.

use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mutt::decode::syslog::{parse, ParseContext};
use mutt::model::{MessageKind, Transport};
use mutt::store::{Detail, MessageRow, MessageSink, Store};

fn rows(n: usize, base: u64) -> Vec<MessageRow> {
    let ctx = ParseContext {
        received_at_us: 1_764_000_000_000_000,
        default_utc_offset_secs: 0,
    };
    let mut line = Vec::new();
    (0..n as u64)
        .map(|i| {
            mutt::loadgen::line(0, base + i, "Nov 27 10:00:00", &mut line);
            let msg = parse(&line, &ctx);
            MessageRow {
                seq: base + i + 1,
                id: uuid::Uuid::now_v7().to_string(),
                kind: MessageKind::Syslog,
                source_ip: IpAddr::from([10, 0, (i % 250) as u8, 1]),
                source_port: 514,
                transport: Transport::Udp,
                source_device: format!("rtr{:04}", i % 250),
                timestamp_us: ctx.received_at_us,
                received_at_us: ctx.received_at_us + i as i64,
                raw_message: String::from_utf8_lossy(&line).into_owned(),
                raw_bytes: line.clone(),
                validation_errors: Vec::new(),
                truncated: false,
                rule: None,
                rejected: None,
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
        let mut next = 0u64;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("syslog_rows_per_transaction_{batch}"), |b| {
            b.iter_batched(
                || {
                    let r = rows(batch, next);
                    next += batch as u64;
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
    group.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
