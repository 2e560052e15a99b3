//! Processing: the only place, with ingest, that owns threads and channels.
//!
//! ```text
//! WAL reader (drain thread) ──batches of records──▶ rayon: process() per record, order kept
//!        ──bounded crossbeam channel of batches──▶ writer thread: one transaction per batch,
//!                                                  rows + checkpoint; then release WAL segments
//! ```
//!
//! Live running and recovery after a crash are the same path: the drain starts after the
//! checkpoint stored in the database. `mutt replay` runs it with ingest already finished.

pub mod process;
pub mod reload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};
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
pub struct Signals {
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
    pub usm: reload::SharedUsm,
    /// `snmpv3.store_unauthenticated`: keep untrusted v3 messages, unmatched, for forensics.
    pub store_unauthenticated: bool,
    /// OID names for SNMP decoding, loaded once at start.
    pub names: Arc<NameTable>,
}

/// Most rows one transaction takes when batches queue up for the writer.
const MAX_ROWS_PER_TRANSACTION: usize = 10_000;

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

/// Run processing until `signals` say stop. `open_sink` is retried until the database opens, so
/// ingest can accept messages while the database is unavailable.
pub fn run<S, F>(
    wal: WalHandle,
    mut open_sink: F,
    rules: SharedRules,
    opts: PipelineOptions,
    metrics: Arc<Metrics>,
    signals: Arc<Signals>,
) -> Result<(), PipelineError>
where
    S: MessageSink + Send,
    F: FnMut() -> Result<S, StoreError>,
{
    let mut sink = retry(&signals, &metrics, "open the database", &mut open_sink)?;
    let checkpoint = retry(&signals, &metrics, "read the checkpoint", &mut || {
        sink.checkpoint()
    })?;
    Metrics::add(&metrics.checkpoint, checkpoint);
    info!(
        checkpoint,
        published = wal.published_seq(),
        "processing starts after the checkpoint"
    );
    let (tx, rx) = bounded::<Batch>(opts.queue_batches.max(1));
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
            let (wal, metrics, signals) = (wal.clone(), metrics.clone(), signals.clone());
            let sink = &mut sink;
            thread::Builder::new()
                .name("mutt-writer".into())
                .spawn_scoped(scope, move || {
                    write_loop(rx, sink, &wal, &metrics, &signals)
                })
                .map_err(|e| {
                    PipelineError::Wal(WalError::Io {
                        path: "mutt-writer thread".into(),
                        source: e,
                    })
                })?
        };
        let drained = pool.install(|| {
            drain_loop(&wal, checkpoint, &rules, &opts, &signals, |batch| {
                tx.send(batch).is_ok()
            })
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
    signals: &Signals,
    mut send: impl FnMut(Batch) -> bool,
) -> Result<(), PipelineError> {
    let mut reader = wal.reader(checkpoint)?;
    let mut records: Vec<Record> = Vec::with_capacity(opts.batch_size);
    let mut oldest: Option<Instant> = None;
    loop {
        if signals.abort.load(Ordering::Relaxed) {
            return Ok(());
        }
        let done = signals.ingest_done.load(Ordering::Acquire);
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
            wal.wait_published(last, Duration::from_millis(100));
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
    sink: &mut S,
    wal: &WalHandle,
    metrics: &Metrics,
    signals: &Signals,
) -> Result<(), PipelineError> {
    while let Ok(mut batch) = rx.recv() {
        // Group commit: batches that queued up while the last transaction ran go into this one.
        // Each commit rewrites the index pages it touched, so under load fewer, larger
        // transactions store several times more rows per second; when idle, nothing waits.
        while batch.rows.len() < MAX_ROWS_PER_TRANSACTION {
            match rx.try_recv() {
                Ok(next) => {
                    batch.rows.extend(next.rows);
                    batch.last_seq = next.last_seq;
                }
                Err(_) => break,
            }
        }
        retry(signals, metrics, "store a batch", &mut || {
            sink.write_batch(&batch.rows, batch.last_seq)
        })?;
        let discarded = batch.rows.iter().filter(|r| r.is_discarded()).count() as u64;
        let rejected = process::count_rejected(&batch.rows, metrics);
        let invalid = batch
            .rows
            .iter()
            .filter(|r| !r.is_discarded() && !r.validation_errors.is_empty())
            .count() as u64;
        Metrics::add(&metrics.stored, batch.rows.len() as u64 - discarded);
        Metrics::add(&metrics.discarded, discarded - rejected);
        Metrics::add(&metrics.invalid, invalid);
        metrics.checkpoint.store(batch.last_seq, Ordering::Relaxed);
        if let Err(e) = wal.release_through(batch.last_seq) {
            warn!(error = %e, "could not release processed WAL segments; will retry next batch");
        }
    }
    Ok(())
}

/// Retry a database step with exponential backoff (100 ms to 5 s) until it succeeds or the
/// daemon aborts. Nothing is lost meanwhile: the records stay in the WAL.
fn retry<T>(
    signals: &Signals,
    metrics: &Metrics,
    what: &str,
    step: &mut dyn FnMut() -> Result<T, StoreError>,
) -> Result<T, PipelineError> {
    let mut delay = Duration::from_millis(100);
    let mut failures = 0u64;
    loop {
        match step() {
            Ok(v) => {
                if failures > 0 {
                    info!(failures, "database available again: {what} succeeded");
                }
                return Ok(v);
            }
            Err(e) => {
                failures += 1;
                Metrics::add(&metrics.store_retries, 1);
                // Log the first failure and then every tenth, so an hour-long outage does not
                // flood the log.
                if failures == 1 || failures % 10 == 0 {
                    error!(error = %e, failures, "cannot {what}; retrying, messages stay in the WAL");
                }
                if signals.abort.load(Ordering::Relaxed) {
                    return Err(PipelineError::Aborted);
                }
                let until = Instant::now() + delay;
                while Instant::now() < until {
                    if signals.abort.load(Ordering::Relaxed) {
                        return Err(PipelineError::Aborted);
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
