//! Decode throughput of a 271-byte net-snmp v2c linkDown trap with 10 varbinds, and its rendering;
//! the same trap as SNMPv3 authPriv (HMAC-SHA-96, AES-128) with the key cache warm and cold.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mutt::decode::snmp::credentials::{Credential, Credentials, Secret};
use mutt::decode::snmp::privacy::PrivProtocol;
use mutt::decode::snmp::usm::AuthProtocol;
use mutt::decode::snmp::{decode, decode_with, render_line, DecodeContext, Usm};

const LINKDOWN: &[u8] = include_bytes!("../tests/data/snmp/netsnmp_v2c_linkdown.bin");
const V3_LINKDOWN: &[u8] =
    include_bytes!("../tests/data/snmp/v3_netsnmp_authpriv_sha_aes_linkdown.bin");

fn bench_user() -> Credentials {
    Credentials::from_users(vec![(
        "bench".into(),
        vec![Credential {
            priority: 1,
            auth: Some((AuthProtocol::Sha1, Secret::new("benchauthpass"))),
            privacy: Some((PrivProtocol::Aes128, Secret::new("benchprivpass"))),
            active: true,
            id: 0,
        }],
    )])
}

fn bench_v3(c: &mut Criterion) {
    let mut group = c.benchmark_group("snmp_decode_v3");
    group.throughput(Throughput::Elements(1));
    let usm = Usm::new(bench_user());
    let ctx = DecodeContext {
        usm: Some(&usm),
        ..Default::default()
    };
    let first = decode_with(V3_LINKDOWN, &ctx);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(usm.cached(), 1);
    group.bench_function("v3_authpriv_sha_aes_linkdown_warm_keys", |b| {
        b.iter(|| decode_with(black_box(V3_LINKDOWN), &ctx))
    });
    group.finish();
}

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

criterion_group!(benches, bench, bench_v3);
criterion_main!(benches);
