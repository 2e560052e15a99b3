//! ISO 8601 text for Unix microseconds, as the writer stamps every stored row: MUTT's
//! `write_iso8601_us` (jiff's printer behind a range clamp) beside jiff's printer called directly,
//! and parsing the text back as `mutt dump` does. The module doc of src/timefmt.rs keeps the
//! measurement that chose jiff over the hand-written formatter.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use jiff::fmt::temporal::DateTimePrinter;
use mutt::timefmt::{parse_rfc3339_us, write_iso8601_us};

const AT_US: i64 = 1_795_751_382_123_456; // 2026-11-27T03:49:42.123456Z

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("timefmt");
    group.throughput(Throughput::Elements(1));
    let mut out = String::with_capacity(32);
    group.bench_function("iso8601_us_mutt", |b| {
        b.iter(|| {
            out.clear();
            write_iso8601_us(black_box(AT_US), &mut out);
        })
    });
    let printer = DateTimePrinter::new().precision(Some(6));
    let mut theirs = String::new();
    if let Ok(at) = jiff::Timestamp::from_microsecond(AT_US) {
        let _ = printer.print_timestamp(&at, &mut theirs);
    }
    assert_eq!(theirs, mutt::timefmt::iso8601_us(AT_US), "the same text");
    group.bench_function("iso8601_us_jiff", |b| {
        b.iter(|| {
            out.clear();
            if let Ok(at) = jiff::Timestamp::from_microsecond(black_box(AT_US)) {
                let _ = printer.print_timestamp(&at, &mut out);
            }
        })
    });
    let text = mutt::timefmt::iso8601_us(AT_US);
    group.bench_function("rfc3339_parse_jiff", |b| {
        b.iter(|| parse_rfc3339_us(black_box(&text)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
