//! Processing: the only place, with ingest, that owns threads and channels.
//!
//! ```text
//! WAL reader (drain thread) ──batches of records──▶ rayon: process() per record, order kept
//!        ──bounded crossbeam channel of batches──▶ writer thread: one transaction per batch,
//!                                                  rows + checkpoint; then release WAL segments
//!        ◀──the stored rows, to be freed──────────────
//! ```
//!
//! The rows go back to the drain thread to be freed: the writer is the one serial stage, and
//! freeing a transaction's rows there (about a thousand allocations a millisecond, made by
//! another thread) was 3–4% of its time.
//!
//! Live running and recovery after a crash are the same path: the drain starts after the
//! checkpoint stored in the database. `mutt replay` runs it with ingest already finished.

pub mod process;
pub mod reload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::prelude::*;
use tracing::{error, info, warn};

use crate::decode::snmp::names::NameTable;
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::store::{MessageRow, MessageSink, StoreError};
use crate::wal::{Record, WalError, WalHandle};
use process::{process, ProcessContext};

/// The rule set in force; swapped whole on reload.
pub type SharedRules = Arc<RwLock<Arc<RuleSet>>>;

/// Flags the daemon raises to stop the pipeline.
#[derive(Debug, Default)]
pub struct Control {
    /// Ingest has stopped and flushed: once the drain has read everything published, it is done.
    pub ingest_done: AtomicBool,
    /// Give up now, even with a batch not yet stored (it stays in the WAL for next time).
    pub abort: AtomicBool,
}

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Most records per batch (one transaction).
    pub batch_size: usize,
    /// Batches in flight between the drain and the writer.
    pub queue_batches: usize,
    /// Longest a record waits before its batch goes to the writer.
    pub batch_timeout: Duration,
    pub default_utc_offset_secs: i32,
    pub source_utc_offsets: Vec<(crate::rules::Cidr, i32)>,
    /// Decode threads (rayon).
    pub workers: usize,
    /// SNMP v1/v2c communities accepted; empty accepts all.
    pub communities: Vec<String>,
    pub dns: Option<crate::enrich::Resolver>,
    /// SNMPv3 users and their key cache, shared by the decoding threads.
    pub usm: crate::decode::snmp::SharedUsm,
    /// `snmpv3.store_unauthenticated`: keep untrusted v3 messages, unmatched, for forensics.
    pub store_unauthenticated: bool,
    /// OID names for SNMP decoding, loaded once at start.
    pub names: Arc<NameTable>,
}

/// Most rows one transaction takes when batches queue up for the writer.
const MAX_ROWS_PER_TRANSACTION: usize = 25_000;

/// Least time between two commits. Every commit rewrites each index page it touched, whole (16
/// KiB); before schema 6 that was one leaf of `idx_source_ip` per sending device, and at 20,000
/// syslog messages a second from 200 devices, committing batches as they came cost the writer
/// 15.5 µs a message, commits 100 ms apart 7.0 µs; at 100,000 a second, 250 ms instead of 100
/// ms saved another 0.35 µs of the writer's and the checkpoint's (docs/PERFORMANCE.md). A
/// message that finds the writer idle for longer is committed at once; otherwise it waits at
/// most this long, in the MUTT WAL.
const COMMIT_SPACING: Duration = Duration::from_millis(250);

/// How long the drain lets records gather once the first has come, unless LINGER_RECORDS come
/// sooner. Ingest publishes after each of its turns, a few thousand times a second at 100,000
/// messages a second; the drain woke for each, and so did the writer for each batch, and every
/// wake-up cost a futex call and a context switch on both sides (0.35 µs a message of ingest's
/// CPU alone). Lingering makes it a few hundred a second. It delays a message by at most this
/// much before decoding; under load the commit spacing (250 ms) is far longer.
const LINGER: Duration = Duration::from_millis(5);
const LINGER_RECORDS: u64 = 1_000;

/// Nice value of the processing threads. Ingest keeps the default: when the cores are busy it must
/// win them, because a datagram it does not take in time is lost in the kernel, while processing
/// only falls behind into the WAL.
const PROCESSING_NICE: libc::c_int = 5;

/// Lower the calling thread's scheduling priority (Linux nice values are per thread).
fn lower_priority() {
    // SAFETY: gettid and setpriority on the calling thread; failure only leaves the priority as is.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, PROCESSING_NICE);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stopped before the database could be written")]
    Aborted,
}

struct Batch {
    rows: Vec<MessageRow>,
    last_seq: u64,
}

/// Run processing until `control` says stop. `open_sink` is retried until the database opens, so
/// ingest can accept messages while the database is unavailable.
pub fn run<S, F>(
    wal: WalHandle,
    mut open_sink: F,
    rules: SharedRules,
    opts: PipelineOptions,
    metrics: Arc<Metrics>,
    control: Arc<Control>,
) -> Result<(), PipelineError>
where
    S: MessageSink + Send,
    F: FnMut() -> Result<S, StoreError>,
{
    let mut sink = retry(&control, &metrics, "open the database", &mut open_sink)?;
    let checkpoint = retry(&control, &metrics, "read the checkpoint", &mut || {
        sink.checkpoint()
    })?;
    metrics.checkpoint.set(checkpoint);
    if let Some((from, to)) = wal.missing_after(checkpoint) {
        // Records neither stored nor on disk: segments deleted by hand, or a database restored
        // from an older copy. Nothing can bring them back; say so loudly, once, with the range.
        error!(
            checkpoint,
            first_missing = from,
            last_missing = to,
            "DATA LOST: WAL records {from}..={to} ({} records) are neither in the database nor in the WAL",
            to - from + 1
        );
        Metrics::add(&metrics.wal_gap_records, to - from + 1);
    }
    info!(
        checkpoint,
        published = wal.published_seq(),
        "processing starts after the checkpoint"
    );
    let (tx, rx) = bounded::<Batch>(opts.queue_batches.max(1));
    // Stored rows on their way back to the drain thread, which frees them. One transaction's
    // rows at most wait there; when the drain has not taken the last ones yet, the writer frees
    // its rows itself.
    let (freed_tx, freed_rx) = bounded::<Vec<MessageRow>>(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.workers.max(1))
        .thread_name(|i| format!("mutt-decode-{i}"))
        .start_handler(|_| lower_priority())
        .build()
        .map_err(|e| {
            PipelineError::Wal(WalError::Io {
                path: "decode thread pool".into(),
                source: std::io::Error::other(e),
            })
        })?;
    lower_priority();
    thread::scope(|scope| {
        let writer = {
            let (wal, metrics, control) = (wal.clone(), metrics.clone(), control.clone());
            let sink = &mut sink;
            thread::Builder::new()
                .name("mutt-writer".into())
                .spawn_scoped(scope, move || {
                    write_loop(rx, &freed_tx, sink, &wal, &metrics, &control)
                })
                .map_err(|e| {
                    PipelineError::Wal(WalError::Io {
                        path: "mutt-writer thread".into(),
                        source: e,
                    })
                })?
        };
        let drained = pool.install(|| {
            drain_loop(
                &wal,
                checkpoint,
                &rules,
                &opts,
                &control,
                &freed_rx,
                |batch| tx.send(batch).is_ok(),
            )
        });
        drop(tx);
        let written = writer.join().unwrap_or(Err(PipelineError::Aborted));
        drained.and(written)
    })
}

fn drain_loop(
    wal: &WalHandle,
    checkpoint: u64,
    rules: &SharedRules,
    opts: &PipelineOptions,
    control: &Control,
    freed: &Receiver<Vec<MessageRow>>,
    mut send: impl FnMut(Batch) -> bool,
) -> Result<(), PipelineError> {
    let mut reader = wal.reader(checkpoint)?;
    let mut records: Vec<Record> = Vec::with_capacity(opts.batch_size);
    let mut oldest: Option<Instant> = None;
    loop {
        freed.try_iter().for_each(drop);
        if control.abort.load(Ordering::Relaxed) {
            return Ok(());
        }
        let done = control.ingest_done.load(Ordering::Acquire);
        let room = opts.batch_size - records.len();
        let n = reader.read_batch(room, &mut records)?;
        if n > 0 && oldest.is_none() {
            oldest = Some(Instant::now());
        }
        let full = records.len() >= opts.batch_size;
        // Nothing more is ready: send what we have now rather than wait (adaptive batching); under
        // load the batches fill by themselves.
        let caught_up = n == 0;
        let overdue = oldest.is_some_and(|t| t.elapsed() >= opts.batch_timeout);
        if !records.is_empty() && (full || caught_up || overdue) {
            let batch = process_batch(&records, rules, opts);
            records.clear();
            oldest = None;
            if !send(batch) {
                return Ok(());
            }
            continue;
        }
        if caught_up {
            if done {
                return Ok(());
            }
            let last = wal.published_seq();
            if wal.wait_published(last, Duration::from_millis(100)) > last {
                // Something came: let more come with it, rather than wake for each of ingest's
                // turns (see LINGER).
                wal.wait_published(last + LINGER_RECORDS - 1, LINGER);
            }
        }
    }
}

fn process_batch(records: &[Record], rules: &SharedRules, opts: &PipelineOptions) -> Batch {
    let rules = match rules.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let usm = match opts.usm.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let ctx = ProcessContext {
        rules: &rules,
        default_utc_offset_secs: opts.default_utc_offset_secs,
        source_utc_offsets: &opts.source_utc_offsets,
        communities: &opts.communities,
        dns: opts.dns.as_ref(),
        now: Instant::now(),
        usm: usm.as_deref(),
        store_unauthenticated: opts.store_unauthenticated,
        names: &opts.names,
    };
    let rows: Vec<MessageRow> = records.par_iter().map(|r| process(r, &ctx)).collect();
    let last_seq = records.last().map_or(0, |r| r.seq);
    Batch { rows, last_seq }
}

fn write_loop<S: MessageSink>(
    rx: Receiver<Batch>,
    freed: &Sender<Vec<MessageRow>>,
    sink: &mut S,
    wal: &WalHandle,
    metrics: &Metrics,
    control: &Control,
) -> Result<(), PipelineError> {
    let mut warnings = process::RejectionWarnings::default();
    let mut last_commit: Option<Instant> = None;
    while let Ok(mut batch) = rx.recv() {
        // Group commit: what queued up while the last transaction ran, and what comes until
        // COMMIT_SPACING after it, goes into this one.
        // Behind (a replay, a backlog): more than a transaction waits in the WAL, so waiting for
        // the spacing would only leave the writer idle while the decode pool fills the channel.
        let due = last_commit.map(|t| t + COMMIT_SPACING);
        while batch.rows.len() < MAX_ROWS_PER_TRANSACTION {
            let behind = wal.published_seq().saturating_sub(batch.last_seq)
                > MAX_ROWS_PER_TRANSACTION as u64;
            let wait = due.and_then(|d| d.checked_duration_since(Instant::now()));
            let next = match wait {
                Some(wait) if !wait.is_zero() && !behind => rx.recv_timeout(wait).ok(),
                _ => rx.try_recv().ok(),
            };
            let Some(next) = next else { break };
            batch.rows.extend(next.rows);
            batch.last_seq = next.last_seq;
        }
        let kept_out = store_or_split(sink, &batch.rows, batch.last_seq, metrics, control)?;
        last_commit = Some(Instant::now());
        observe_delay(&batch.rows, metrics);
        count_batch(&batch.rows, kept_out, metrics, &mut warnings);
        metrics.checkpoint.set(batch.last_seq);
        release_segments(sink, wal, batch.last_seq, metrics, control)?;
        // Full or closed: the rows are freed here instead, when `try_send` returns them.
        let _ = freed.try_send(batch.rows);
    }
    Ok(())
}

/// Receive-to-commit delay of the batch just committed, for its oldest and its newest row: two
/// observations a batch, not one a row, so the cost does not grow with the batch. Receive times
/// are wall-clock; a clock stepped back counts as no delay.
fn observe_delay(rows: &[MessageRow], metrics: &Metrics) {
    let (Some(oldest), Some(newest)) = (
        rows.iter().map(|r| r.received_at_us).min(),
        rows.iter().map(|r| r.received_at_us).max(),
    ) else {
        return;
    };
    let now_us = crate::timefmt::now_us();
    for at in [oldest, newest] {
        let delay_us = now_us.saturating_sub(at).max(0);
        metrics
            .receive_to_commit_seconds
            .observe(delay_us as f64 / 1e6);
    }
}

/// Store `rows` with the checkpoint `last_seq`. A failure tied to the rows splits the batch in
/// halves, each stored on its own, until the row that fails is alone; that row is stored raw
/// with the reason (`quarantine`), or failing that in `dead_letters`. Transient failures are
/// retried as they are and never split anything. Returns the rows kept out of `messages` (dead
/// letters).
fn store_or_split<S: MessageSink>(
    sink: &mut S,
    rows: &[MessageRow],
    last_seq: u64,
    metrics: &Metrics,
    control: &Control,
) -> Result<u64, PipelineError> {
    let failed = match retry_transient(control, metrics, "store a batch", &mut || {
        let started = Instant::now();
        let stored = sink.write_batch(rows, last_seq);
        if stored.is_ok() {
            metrics
                .batch_commit_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        stored
    })? {
        Ok(()) => return Ok(0),
        Err(e) => e,
    };
    match rows {
        [] => Ok(0),
        [row] => quarantine(sink, row, &failed, metrics, control),
        _ => {
            let (left, right) = rows.split_at(rows.len() / 2);
            let left_last = left.last().map_or(last_seq, |r| r.seq);
            let kept_out = store_or_split(sink, left, left_last, metrics, control)?;
            Ok(kept_out + store_or_split(sink, right, last_seq, metrics, control)?)
        }
    }
}

/// Store a row that failed alone: raw with the reason, else as a dead letter. Returns 1 when it
/// became a dead letter.
fn quarantine<S: MessageSink>(
    sink: &mut S,
    row: &MessageRow,
    failed: &StoreError,
    metrics: &Metrics,
    control: &Control,
) -> Result<u64, PipelineError> {
    let reason = format!("not stored as decoded: {failed}");
    let raw_failed = match retry_transient(control, metrics, "store a row raw", &mut || {
        sink.quarantine(row, &reason)
    })? {
        Ok(()) => {
            warn!(seq = row.seq, source = %row.source_ip, error = %failed, "a message that failed alone was stored raw with the reason");
            Metrics::add(&metrics.quarantined, 1);
            return Ok(0);
        }
        Err(e) => e,
    };
    let reason = format!("{reason}; not stored raw either: {raw_failed}");
    // Nothing is left to split or simplify: whatever fails now is retried, never dropped.
    retry(control, metrics, "store a dead letter", &mut || {
        sink.dead_letter(row, &reason)
    })?;
    error!(seq = row.seq, source = %row.source_ip, error = %reason, "a message could not be stored; its bytes are in dead_letters");
    Metrics::add(&metrics.dead_lettered, 1);
    Ok(1)
}

fn count_batch(
    rows: &[MessageRow],
    dead_letters: u64,
    metrics: &Metrics,
    warnings: &mut process::RejectionWarnings,
) {
    let discarded = rows.iter().filter(|r| r.is_discarded()).count() as u64;
    let rejected = process::count_rejected(rows, metrics, warnings, Instant::now());
    let invalid = rows
        .iter()
        .filter(|r| !r.is_discarded() && !r.validation_errors.is_empty())
        .count() as u64;
    Metrics::add(
        &metrics.stored,
        (rows.len() as u64 - discarded).saturating_sub(dead_letters),
    );
    Metrics::add(&metrics.discarded, discarded - rejected);
    Metrics::add(&metrics.invalid, invalid);
}

/// Delete the WAL segments the checkpoint now covers, once the database has made them durable:
/// SQLite commits with `synchronous=NORMAL`, which a power cut can roll back, so the rows a
/// segment holds must be fsynced before the segment goes.
fn release_segments<S: MessageSink>(
    sink: &mut S,
    wal: &WalHandle,
    through: u64,
    metrics: &Metrics,
    control: &Control,
) -> Result<(), PipelineError> {
    if wal.releasable_through(through) == 0 {
        return Ok(());
    }
    retry(control, metrics, "sync the database", &mut || sink.sync())?;
    if let Err(e) = wal.release_through(through) {
        warn!(error = %e, "could not release processed WAL segments; will retry next batch");
    }
    Ok(())
}

/// Retry a database step with exponential backoff (100 ms to 5 s) until it succeeds or the
/// daemon aborts, whatever the error. Nothing is lost meanwhile: the records stay in the WAL.
fn retry<T>(
    control: &Control,
    metrics: &Metrics,
    what: &str,
    step: &mut dyn FnMut() -> Result<T, StoreError>,
) -> Result<T, PipelineError> {
    retry_while(control, metrics, what, step, |_| true)?.map_err(PipelineError::Store)
}

/// Retry a database step while it fails transiently; `Ok(Err(e))` is a failure tied to the rows
/// (see `StoreError::is_transient`), which retrying the same rows cannot cure.
fn retry_transient<T>(
    control: &Control,
    metrics: &Metrics,
    what: &str,
    step: &mut dyn FnMut() -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, PipelineError> {
    retry_while(control, metrics, what, step, StoreError::is_transient)
}

fn retry_while<T>(
    control: &Control,
    metrics: &Metrics,
    what: &str,
    step: &mut dyn FnMut() -> Result<T, StoreError>,
    again: fn(&StoreError) -> bool,
) -> Result<Result<T, StoreError>, PipelineError> {
    let mut delay = Duration::from_millis(100);
    let mut failures = 0u64;
    let started = Instant::now();
    loop {
        match step() {
            Ok(v) => {
                if failures > 0 {
                    info!(
                        failures,
                        seconds = started.elapsed().as_secs(),
                        "database available again: {what} succeeded"
                    );
                }
                return Ok(Ok(v));
            }
            Err(e) if again(&e) => {
                failures += 1;
                Metrics::add(&metrics.store_retries, 1);
                // Logged once as the outage starts and once as it ends; `/health` and the
                // `store_retries` counter tell the rest.
                if failures == 1 {
                    error!(error = %e, "cannot {what}; retrying, messages stay in the WAL");
                }
                let until = Instant::now() + delay;
                loop {
                    if control.abort.load(Ordering::Relaxed) {
                        return Err(PipelineError::Aborted);
                    }
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    thread::sleep(left.min(Duration::from_millis(20)));
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Ok(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that refuses rows by sequence: `poison` as tied to the row (a constraint),
    /// `deadly` even raw; and fails the first `busy` calls as SQLITE_BUSY.
    #[derive(Default)]
    struct FakeSink {
        poison: Vec<u64>,
        deadly: Vec<u64>,
        busy: usize,
        calls: usize,
        stored: Vec<u64>,
        quarantined: Vec<u64>,
        dead: Vec<u64>,
        checkpoint: u64,
    }

    fn sqlite_error(code: i32) -> StoreError {
        StoreError::Sqlite {
            path: "fake.db".into(),
            source: rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None),
        }
    }

    impl FakeSink {
        fn fail(&mut self, refused: bool) -> Result<(), StoreError> {
            self.calls += 1;
            if self.calls <= self.busy {
                return Err(sqlite_error(rusqlite::ffi::SQLITE_BUSY));
            }
            if refused {
                return Err(sqlite_error(rusqlite::ffi::SQLITE_CONSTRAINT));
            }
            Ok(())
        }
    }

    impl MessageSink for FakeSink {
        fn checkpoint(&mut self) -> Result<u64, StoreError> {
            Ok(self.checkpoint)
        }
        fn write_batch(&mut self, rows: &[MessageRow], last_seq: u64) -> Result<(), StoreError> {
            let refused = rows
                .iter()
                .any(|r| self.poison.contains(&r.seq) || self.deadly.contains(&r.seq));
            self.fail(refused)?;
            self.stored.extend(rows.iter().map(|r| r.seq));
            self.checkpoint = last_seq;
            Ok(())
        }
        fn quarantine(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
            assert!(reason.contains("constraint"), "{reason}");
            let refused = self.deadly.contains(&row.seq);
            self.fail(refused)?;
            self.quarantined.push(row.seq);
            self.checkpoint = row.seq;
            Ok(())
        }
        fn dead_letter(&mut self, row: &MessageRow, _: &str) -> Result<(), StoreError> {
            self.fail(false)?;
            self.dead.push(row.seq);
            self.checkpoint = row.seq;
            Ok(())
        }
        fn sync(&mut self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn rows(n: u64) -> Vec<MessageRow> {
        (1..=n)
            .map(|i| MessageRow::test_syslog(i, "192.0.2.1", "r1"))
            .collect()
    }

    #[test]
    fn a_row_tied_failure_is_isolated_by_splitting_and_every_other_row_is_stored() {
        let mut sink = FakeSink {
            poison: vec![37],
            deadly: vec![80],
            ..Default::default()
        };
        let (metrics, control) = (Metrics::default(), Control::default());
        let batch = rows(100);
        let dead = store_or_split(&mut sink, &batch, 100, &metrics, &control).unwrap();
        assert_eq!(dead, 1);
        assert_eq!(sink.quarantined, [37]);
        assert_eq!(sink.dead, [80]);
        let mut all: Vec<u64> = sink.stored.clone();
        all.extend(&sink.quarantined);
        all.extend(&sink.dead);
        all.sort_unstable();
        assert_eq!(all, (1..=100).collect::<Vec<_>>(), "each row once");
        assert_eq!(sink.checkpoint, 100);
        assert_eq!(Metrics::get(&metrics.quarantined), 1);
        assert_eq!(Metrics::get(&metrics.dead_lettered), 1);
        // Splitting costs a few transactions per bad row, not one per row.
        assert!(sink.calls < 40, "{} calls", sink.calls);
    }

    #[test]
    fn transient_failures_are_retried_and_never_quarantine_anything() {
        let mut sink = FakeSink {
            busy: 2,
            ..Default::default()
        };
        let (metrics, control) = (Metrics::default(), Control::default());
        store_or_split(&mut sink, &rows(10), 10, &metrics, &control).unwrap();
        assert_eq!(sink.stored, (1..=10).collect::<Vec<_>>());
        assert!(sink.quarantined.is_empty() && sink.dead.is_empty());
        assert_eq!(Metrics::get(&metrics.store_retries), 2);
    }

    #[test]
    fn an_abort_ends_the_retries_of_a_database_that_stays_down() {
        let mut sink = FakeSink {
            busy: usize::MAX,
            ..Default::default()
        };
        let (metrics, control) = (Metrics::default(), Control::default());
        control.abort.store(true, Ordering::Relaxed);
        let r = store_or_split(&mut sink, &rows(3), 3, &metrics, &control);
        assert!(matches!(r, Err(PipelineError::Aborted)));
        assert!(sink.stored.is_empty());
    }

    /// The writer's commits (FakeSink calls) for 50 batches of 10 rows sent 4 ms apart, into a
    /// WAL that holds `published` records; and how many commit spacings that took.
    fn commits_for_paced_batches(published: u64) -> (FakeSink, u128) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut writer, wal, _) = crate::wal::open(&crate::wal::WalConfig {
            dir: dir.path().join("wal"),
            segment_size: 1 << 24,
            sync: crate::wal::SyncPolicy::Never,
            sync_interval: Duration::from_millis(100),
            max_size: 1 << 30,
            keep_released: false,
        })
        .expect("wal");
        let meta = crate::wal::RecordMeta {
            received_at_us: 1_700_000_000_000_000,
            source: "192.0.2.1:514".parse().expect("address"),
            transport: 0,
            listener: 0,
            flags: 0,
        };
        for _ in 0..published {
            writer.append(&meta, b"<13>x").expect("append");
        }
        writer.flush().expect("flush");
        let (tx, rx) = crossbeam_channel::bounded(4);
        let started = Instant::now();
        let sender = thread::spawn(move || {
            for b in 0..50u64 {
                let rows = (1..=10)
                    .map(|i| MessageRow::test_syslog(b * 10 + i, "192.0.2.1", "r1"))
                    .collect();
                let batch = Batch {
                    rows,
                    last_seq: b * 10 + 10,
                };
                if tx.send(batch).is_err() {
                    return;
                }
                // Paced, so that the writer, idle between batches, would commit each alone.
                thread::sleep(Duration::from_millis(4));
            }
        });
        let mut sink = FakeSink::default();
        let (metrics, control) = (Metrics::default(), Control::default());
        let (freed, _) = crossbeam_channel::bounded(1);
        write_loop(rx, &freed, &mut sink, &wal, &metrics, &control).expect("write loop");
        sender.join().expect("sender");
        let spacings = started.elapsed().as_millis() / COMMIT_SPACING.as_millis();
        assert_eq!(sink.stored, (1..=500).collect::<Vec<u64>>());
        assert_eq!(sink.checkpoint, 500);
        (sink, spacings)
    }

    #[test]
    fn batches_that_keep_coming_are_committed_together_at_most_once_a_commit_spacing() {
        let (sink, spacings) = commits_for_paced_batches(500);
        assert!(
            sink.calls as u128 <= spacings + 2,
            "{} commits for 50 batches in {} spacings",
            sink.calls,
            spacings
        );
    }

    #[test]
    fn a_writer_behind_the_wal_commits_what_it_has_without_waiting_for_the_spacing() {
        // More than a transaction's rows still to come: a replay, a backlog.
        let (sink, spacings) = commits_for_paced_batches(MAX_ROWS_PER_TRANSACTION as u64 + 600);
        assert!(
            sink.calls as u128 > spacings + 10,
            "{} commits for 50 batches in {} spacings: the writer waited",
            sink.calls,
            spacings
        );
    }
}
