//! WAL throughput: append + flush of 120-byte records in batches of 256 (sync never and interval),
//! and read_batch of published records.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mutt::wal::{self, Appended, RecordMeta, SyncPolicy, WalConfig};

const LINE: &[u8; 120] = b"<189>Oct 11 22:14:15 core-sw-01 %LINK-3-UPDOWN: Interface GigabitEthernet0/12, changed state to down; peer=10.1.2.3 okay";
const BATCH: u64 = 256;

fn cfg(dir: &std::path::Path, sync: SyncPolicy) -> WalConfig {
    WalConfig {
        dir: dir.to_path_buf(),
        segment_size: 64 << 20,
        sync,
        sync_interval: Duration::from_millis(20),
        max_size: 4 << 30,
        keep_released: false,
    }
}

fn meta() -> RecordMeta {
    RecordMeta {
        received_at_us: 1_700_000_000_000_000,
        source: "192.0.2.10:51514".parse().unwrap(),
        transport: 0,
        listener: 1,
        flags: 0,
    }
}

fn append_flush(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append_flush_120B_x256");
    group.throughput(Throughput::Elements(BATCH));
    for (name, sync) in [
        ("never", SyncPolicy::Never),
        ("interval_20ms", SyncPolicy::Interval),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, h, _) = wal::open(&cfg(tmp.path(), sync)).unwrap();
        let m = meta();
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let appended = w.append(&m, LINE).unwrap();
                    assert!(matches!(appended, Appended::Seq(_)));
                }
                let last = w.flush().unwrap();
                if w.sync_due() {
                    w.sync().unwrap();
                }
                // Keep the disk footprint bounded, as the pipeline's checkpoint would.
                h.release_through(black_box(last)).unwrap();
            })
        });
    }
    group.finish();
}

fn read_batch(c: &mut Criterion) {
    const RECORDS: u64 = 200_000;
    let tmp = tempfile::tempdir().unwrap();
    let (mut w, h, _) = wal::open(&cfg(tmp.path(), SyncPolicy::Never)).unwrap();
    let m = meta();
    for i in 0..RECORDS {
        w.append(&m, LINE).unwrap();
        if i % BATCH == 0 {
            w.flush().unwrap();
        }
    }
    w.flush().unwrap();
    let mut group = c.benchmark_group("wal_read_batch_120B");
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("batch_1024", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            let mut r = h.reader(0).unwrap();
            let mut total = 0;
            loop {
                out.clear();
                let n = r.read_batch(1024, &mut out).unwrap();
                if n == 0 {
                    break;
                }
                total += n;
            }
            assert_eq!(total as u64, RECORDS);
        })
    });
    group.finish();
}

criterion_group!(benches, append_flush, read_batch);
criterion_main!(benches);
