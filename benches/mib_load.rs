//! Loading the 16 corpus MIB modules (9,900 lines, 525 names): from the directory (read, parse,
//! resolve, merge with the built-in table) and from texts already in memory (parse and resolve).

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mutt::decode::snmp::mib::{load_mib_dirs, load_texts};

fn bench(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/mibs");
    let mut texts: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    texts.sort();
    assert_eq!(texts.len(), 16);
    let mut group = c.benchmark_group("mib_load");
    // One element = one module.
    group.throughput(Throughput::Elements(16));
    group.bench_function("corpus_16_modules_dir_to_name_table", |b| {
        b.iter(|| load_mib_dirs(black_box(std::slice::from_ref(&dir))))
    });
    group.bench_function("corpus_16_modules_parse_resolve", |b| {
        b.iter(|| load_texts(black_box(&texts)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
