//! The power-cut path: SQLite commits with `synchronous=NORMAL`, so a power cut can roll the
//! database back to its last fsync. MUTT deletes a WAL segment only after the database has synced
//! the rows it holds, so the records above any state the database can fall back to are still in
//! the WAL.
//!
//! The simulation: the pipeline runs over a real WAL into a real SQLite file, and every time the
//! database syncs, the test copies its files — the state a power cut falls back to at worst.
//! Restarting from the last copy must find every record above its checkpoint in the WAL and
//! store each record exactly once.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use mutt::metrics::Metrics;
use mutt::pipeline::{self, Control, PipelineOptions};
use mutt::rules::RuleSet;
use mutt::store::{MessageRow, MessageSink, Store, StoreError};
use mutt::wal::{self, RecordMeta, SyncPolicy, WalConfig};

/// A sink that copies the database files each time they are made durable.
struct SnapshotOnSync {
    store: Store,
    db: PathBuf,
    snapshots: Arc<Mutex<Vec<(u64, tempfile::TempDir)>>>,
}

impl MessageSink for SnapshotOnSync {
    fn checkpoint(&mut self) -> Result<u64, StoreError> {
        self.store.checkpoint()
    }
    fn write_batch(&mut self, rows: &[MessageRow], last_seq: u64) -> Result<(), StoreError> {
        self.store.write_batch(rows, last_seq)
    }
    fn quarantine(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
        self.store.quarantine(row, reason)
    }
    fn dead_letter(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
        self.store.dead_letter(row, reason)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        self.store.sync()?;
        let dir = tempfile::tempdir().expect("snapshot dir");
        copy_db(&self.db, &dir.path().join("messages.db"));
        let checkpoint = self.store.checkpoint()?;
        self.snapshots
            .lock()
            .expect("snapshots")
            .push((checkpoint, dir));
        Ok(())
    }
}

/// Copy a database with its SQLite WAL (the shared-memory index is rebuilt on open).
fn copy_db(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy db");
    let wal = |p: &Path| PathBuf::from(format!("{}-wal", p.display()));
    if wal(from).exists() {
        std::fs::copy(wal(from), wal(to)).expect("copy db wal");
    }
}

fn wal_config(dir: &Path) -> WalConfig {
    WalConfig {
        dir: dir.join("wal"),
        segment_size: 16 << 10,
        sync: SyncPolicy::Always,
        sync_interval: Duration::from_millis(50),
        max_size: 1 << 30,
        keep_released: false,
    }
}

fn options() -> PipelineOptions {
    PipelineOptions {
        batch_size: 100,
        queue_batches: 4,
        batch_timeout: Duration::from_millis(100),
        default_utc_offset_secs: 0,
        source_utc_offsets: Vec::new(),
        workers: 1,
        communities: Vec::new(),
        dns: None,
        usm: Default::default(),
        store_unauthenticated: false,
        names: Arc::new(mutt::decode::snmp::names::builtin().clone()),
    }
}

/// Run the pipeline over everything in the WAL into `sink` and stop.
fn drain<S: MessageSink + Send>(wal: wal::WalHandle, sink: S) -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::default());
    let control = Arc::new(Control::default());
    control.ingest_done.store(true, Ordering::Release);
    let mut sink = Some(sink);
    pipeline::run(
        wal,
        move || Ok(sink.take().expect("opened once")),
        Arc::new(RwLock::new(Arc::new(RuleSet::empty()))),
        options(),
        metrics.clone(),
        control,
    )
    .expect("pipeline");
    metrics
}

fn stored_seqs(db: &Path) -> Vec<i64> {
    let c = rusqlite::Connection::open(db).expect("open");
    let mut q = c
        .prepare("SELECT wal_seq FROM messages ORDER BY wal_seq")
        .expect("query");
    let seqs = q.query_map([], |r| r.get(0)).expect("rows");
    seqs.collect::<rusqlite::Result<_>>().expect("seqs")
}

const N: u64 = 3_000;

/// Append records `from..=to` to the WAL (flushed every 50, as receive batches are).
fn append(cfg: &WalConfig, from: u64, to: u64) {
    let (mut writer, _, _) = wal::open(cfg).unwrap();
    for i in from..=to {
        let meta = RecordMeta {
            received_at_us: 1_800_000_000_000_000 + i as i64,
            source: "192.0.2.1:514".parse().unwrap(),
            transport: 0,
            listener: 1,
            flags: 0,
        };
        let line = format!("<13>Jan  1 00:00:00 r1 app: record {i}");
        assert_eq!(
            writer.append(&meta, line.as_bytes()).unwrap(),
            wal::Appended::Seq(i)
        );
        if i % 50 == 0 {
            writer.flush().unwrap();
        }
    }
    writer.flush().unwrap();
}

type Snapshots = Arc<Mutex<Vec<(u64, tempfile::TempDir)>>>;

/// Drain the WAL into `db`, snapshotting the database at each sync; returns the rows stored.
fn drain_into(cfg: &WalConfig, db: &Path, snapshots: &Snapshots) -> u64 {
    let (wal, _) = wal::open_offline(cfg).unwrap();
    let sink = SnapshotOnSync {
        store: Store::open(db, Duration::from_secs(1)).unwrap(),
        db: db.to_path_buf(),
        snapshots: snapshots.clone(),
    };
    Metrics::get(&drain(wal, sink).stored)
}

fn last_synced(snapshots: &Snapshots) -> u64 {
    snapshots.lock().unwrap().last().map_or(0, |(c, _)| *c)
}

#[test]
fn after_a_power_cut_to_the_last_database_sync_every_record_is_still_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = wal_config(tmp.path());
    let db = tmp.path().join("messages.db");
    let snapshots: Snapshots = Arc::new(Mutex::new(Vec::new()));
    append(&cfg, 1, N);
    let segments_before = std::fs::read_dir(&cfg.dir).unwrap().count();
    assert_eq!(drain_into(&cfg, &db, &snapshots), N);
    let segments_after = std::fs::read_dir(&cfg.dir).unwrap().count();
    assert!(
        segments_after < segments_before,
        "segments were released ({segments_before} -> {segments_after})"
    );
    assert!(
        last_synced(&snapshots) > 0,
        "the database synced before releasing"
    );
    // More traffic, one record at a time, until a commit is not followed by a sync (it released
    // no segment): the state a power cut rolls back.
    let mut total = N;
    loop {
        total += 1;
        append(&cfg, total, total);
        assert_eq!(drain_into(&cfg, &db, &snapshots), 1);
        if last_synced(&snapshots) < total {
            break;
        }
        assert!(
            total < N + 3,
            "a record that rotates no segment releases nothing"
        );
    }
    // The power cut: the database falls back to its last sync; the WAL is as it was left.
    let restored = tmp.path().join("restored.db");
    let synced = {
        let snapshots = snapshots.lock().unwrap();
        let (synced, dir) = snapshots.last().unwrap();
        copy_db(&dir.path().join("messages.db"), &restored);
        *synced
    };
    assert_eq!(stored_seqs(&restored).len() as u64, synced);
    let (wal, _) = wal::open_offline(&cfg).unwrap();
    let store = Store::open(&restored, Duration::from_secs(1)).unwrap();
    let metrics = drain(wal, store);
    assert_eq!(Metrics::get(&metrics.stored), total - synced);
    assert_eq!(
        stored_seqs(&restored),
        (1..=total as i64).collect::<Vec<_>>(),
        "every record once, none missing"
    );
}

#[test]
fn a_database_older_than_the_oldest_segment_is_reported_as_lost_data_with_its_range() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = wal_config(tmp.path());
    let snapshots: Snapshots = Arc::new(Mutex::new(Vec::new()));
    append(&cfg, 1, N);
    assert_eq!(
        drain_into(&cfg, &tmp.path().join("messages.db"), &snapshots),
        N
    );
    // A database restored from before all of it (here: a new one, checkpoint 0): the records
    // below the oldest segment are gone, and MUTT must say so rather than start quietly.
    let (wal, _) = wal::open_offline(&cfg).unwrap();
    let (from, to) = wal.missing_after(0).expect("released segments leave a gap");
    assert_eq!(from, 1);
    let store = Store::open(&tmp.path().join("old.db"), Duration::from_secs(1)).unwrap();
    let metrics = drain(wal, store);
    assert_eq!(Metrics::get(&metrics.wal_gap_records), to);
    assert_eq!(Metrics::get(&metrics.stored), N - to);
}
