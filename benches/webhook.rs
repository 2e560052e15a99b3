//! Cost of the webhook outbox on the writer's hot path: 100-row transactions through the real
//! writer with no alerts, every row a distinct alert, and every row the same alert (folded).

use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mutt::decode::syslog::{parse, ParseContext};
use mutt::model::{MessageKind, Transport};
use mutt::rules::Action;
use mutt::store::{Detail, MessageRow, MessageSink, RuleHit, Store};

const BATCH: usize = 100;

/// `BATCH` syslog rows; `alert` sets the webhook rule, `same` makes every line identical.
fn rows(base: u64, alert: bool, same: bool) -> Vec<MessageRow> {
    let ctx = ParseContext {
        received_at_us: 1_764_000_000_000_000,
        default_utc_offset_secs: 0,
    };
    let mut line = Vec::new();
    (0..BATCH as u64)
        .map(|i| {
            mutt::loadgen::line(
                0,
                if same { 0 } else { base + i },
                "Nov 27 10:00:00",
                &mut line,
            );
            MessageRow {
                seq: base + i + 1,
                id: uuid::Uuid::now_v7().to_string(),
                kind: MessageKind::Syslog,
                source_ip: IpAddr::from([10, 0, 0, 1]),
                source_port: 514,
                transport: Transport::Udp,
                source_device: "rtr0001".into(),
                timestamp_us: ctx.received_at_us,
                received_at_us: ctx.received_at_us + i as i64,
                raw_message: String::from_utf8_lossy(&line).into_owned(),
                raw_bytes: line.clone(),
                validation_errors: Vec::new(),
                truncated: false,
                rule: alert.then(|| RuleHit {
                    id: "hot".into(),
                    name: "Overheat".into(),
                    severity: "critical".into(),
                    action: Action::Webhook,
                    webhook: None,
                }),
                rejected: None,
                detail_json: None,
                detail: Detail::Syslog(parse(&line, &ctx)),
            }
        })
        .collect()
}

fn bench_outbox(c: &mut Criterion) {
    let mut group = c.benchmark_group("webhook_outbox");
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, alert, same) in [
        ("no_alerts", false, false),
        ("distinct_alerts", true, false),
        ("identical_alerts_folded", true, true),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store =
            Store::open(&dir.path().join("bench.db"), Duration::from_secs(5)).expect("open");
        let mut next = 0u64;
        group.bench_function(format!("rows_per_transaction_100_{name}"), |b| {
            b.iter_batched(
                || {
                    let r = rows(next, alert, same);
                    next += BATCH as u64;
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

criterion_group!(benches, bench_outbox);
criterion_main!(benches);
