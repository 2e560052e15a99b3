//! The processing stage per record, as the decode pool runs it (`pipeline::process::process`):
//! decode, validate, match 1,000 rules, render, and the varbinds' or structured data's JSON. The
//! load benchmark's traffic (`mutt::loadgen`) and rules file (`loadgen::rules_yaml`), so these
//! figures are the decode share of its end-to-end CPU per message.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mutt::decode::snmp::names;
use mutt::loadgen;
use mutt::model::{Listener, Transport};
use mutt::pipeline::process::{process, ProcessContext};
use mutt::rules::RuleSet;
use mutt::wal::{Record, RecordMeta};

const RULES: usize = 1_000;

fn record(listener: Listener, payload: Vec<u8>) -> Record {
    Record {
        seq: 42,
        meta: RecordMeta {
            received_at_us: 1_764_633_600_000_000,
            source: SocketAddr::from(([192, 0, 2, 7], 40_000)),
            transport: Transport::Udp as u8,
            listener: listener as u8,
            flags: 0,
        },
        payload,
    }
}

fn bench(c: &mut Criterion) {
    let rules = RuleSet::from_yaml(&loadgen::rules_yaml(RULES), "rules.yaml").expect("rules");
    let usm = loadgen::bench_usm();
    let ctx = ProcessContext {
        rules: &rules,
        default_utc_offset_secs: 0,
        source_utc_offsets: &[],
        communities: &[],
        dns: None,
        now: Instant::now(),
        usm: Some(&usm),
        store_unauthenticated: false,
        names: names::builtin(),
    };
    let mut line = Vec::new();
    loadgen::line(1, 3, &loadgen::rfc3164_stamp(1_764_633_600), &mut line);
    let syslog = record(Listener::Syslog, line);
    let v2c = record(Listener::Snmp, loadgen::v2c_linkdown("public", 7));
    let v3 = loadgen::v3_linkdown_pool(&usm, loadgen::V3_USER, 1, 1, 1).expect("a v3 trap");
    let v3 = record(Listener::Snmp, v3[0].clone());
    for (what, r) in [("syslog", &syslog), ("v2c", &v2c), ("v3", &v3)] {
        let row = process(r, &ctx);
        assert!(
            row.validation_errors.is_empty(),
            "{what}: {:?}",
            row.validation_errors
        );
        assert!(row.rejected.is_none(), "{what}");
    }
    assert!(
        process(&v2c, &ctx).rule.is_some(),
        "the linkDown rule matches"
    );

    let mut group = c.benchmark_group("process_1000_rules");
    group.throughput(Throughput::Elements(1));
    group.bench_function("syslog_rfc3164_120b", |b| {
        b.iter(|| process(black_box(&syslog), &ctx))
    });
    group.bench_function("v2c_linkdown_10_varbinds", |b| {
        b.iter(|| process(black_box(&v2c), &ctx))
    });
    group.bench_function("v3_authpriv_sha_aes_linkdown", |b| {
        b.iter(|| process(black_box(&v3), &ctx))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
