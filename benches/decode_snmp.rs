//! Decode throughput of a 271-byte net-snmp v2c linkDown trap with 10 varbinds, and its rendering.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mutt::decode::snmp::{decode, render_line};

const LINKDOWN: &[u8] = include_bytes!("../tests/data/snmp/netsnmp_v2c_linkdown.bin");

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("snmp_decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("v2c_linkdown_10_varbinds", |b| {
        b.iter(|| decode(black_box(LINKDOWN)))
    });
    let msg = decode(LINKDOWN);
    group.bench_function("v2c_linkdown_render_line", |b| {
        b.iter(|| render_line(black_box(&msg)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
