//! Ingest's view of the WAL's room: the disk is full (ENOSPC, EDQUOT) or the WAL is at its size
//! budget. Each condition is logged once when it starts and once when it ends (with what was
//! dropped meanwhile), and mirrored in the `/health` flags of `Metrics`.
//!
//! While the disk is full, writing is tried again at most every [`RETRY`]: UDP datagrams are
//! received and dropped in between (counted in `dropped_disk_full`), TCP and TLS connections are
//! not read. A flush that fails for space leaves nothing on disk (the WAL undoes it), so the only
//! cost of a retry is one failed `write`.
//!
//! Stream connections are also held, without loss or a `/health` flag, in the last quarter of
//! the budget, which is kept for datagrams (`STREAM_RESERVE` in connections.rs).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use crate::wal::WalError;

/// Least time between two writes tried while the disk is full.
pub const RETRY: Duration = Duration::from_millis(500);

pub struct Space {
    full_since: Option<Instant>,
    retry_at: Instant,
    /// Datagrams dropped since the disk filled up.
    dropped_full: u64,
    /// Datagrams dropped at the budget since shedding began (None: not shedding).
    shedding: Option<u64>,
    /// Stream connections are held at the part of the budget kept for datagrams.
    streams_held: bool,
}

impl Space {
    pub fn new(now: Instant) -> Space {
        Space {
            full_since: None,
            retry_at: now,
            dropped_full: 0,
            shedding: None,
            streams_held: false,
        }
    }

    /// False while the disk is full and the next retry has not come.
    pub fn may_write(&self, now: Instant) -> bool {
        self.full_since.is_none() || now >= self.retry_at
    }

    /// A flush failed for lack of space (and was undone).
    pub fn disk_full(&mut self, now: Instant, metrics: &Metrics, error: &WalError) {
        if self.full_since.is_none() {
            warn!(%error, "WAL disk full: dropping UDP and holding TCP/TLS until space returns");
            self.full_since = Some(now);
            self.dropped_full = 0;
            metrics.wal_disk_full.store(true, Ordering::Relaxed);
        }
        self.retry_at = now + RETRY;
    }

    /// A flush that wrote something succeeded.
    pub fn written(&mut self, now: Instant, metrics: &Metrics) {
        if let Some(since) = self.full_since.take() {
            info!(
                dropped = self.dropped_full,
                seconds = now.duration_since(since).as_secs_f64(),
                "WAL disk has space again: ingest resumed"
            );
            metrics.wal_disk_full.store(false, Ordering::Relaxed);
        }
    }

    /// Datagrams not accepted because the disk is full.
    pub fn dropped_disk_full(&mut self, n: u64, metrics: &Metrics) {
        self.dropped_full += n;
        Metrics::add(&metrics.dropped_disk_full, n);
    }

    /// Appends returned `Full` (`dropped` datagrams lost, 0 for held frames) or, with `false`,
    /// were taken again.
    pub fn at_budget(&mut self, full: bool, dropped: u64, metrics: &Metrics) {
        Metrics::add(&metrics.dropped_wal_full, dropped);
        match (&mut self.shedding, full) {
            (None, true) => {
                warn!("WAL at its disk budget: dropping UDP and holding TCP/TLS until the database catches up");
                self.shedding = Some(dropped);
                metrics.wal_shedding.store(true, Ordering::Relaxed);
            }
            (Some(n), true) => *n += dropped,
            (Some(n), false) => {
                info!(
                    dropped = *n,
                    "WAL below its disk budget again: ingest resumed"
                );
                self.shedding = None;
                metrics.wal_shedding.store(false, Ordering::Relaxed);
            }
            (None, false) => {}
        }
    }

    /// A stream frame was refused at the part of the budget kept for datagrams (`true`), or
    /// stream frames were taken again. Logged at debug: under steady overload this turns with
    /// every WAL segment the database releases. It is back-pressure, not loss: nothing is
    /// counted and `/health` does not change.
    pub fn streams_held(&mut self, held: bool) {
        if held == self.streams_held {
            return;
        }
        self.streams_held = held;
        if held {
            debug!("WAL near its budget: holding TCP/TLS connections, the rest is kept for UDP");
        } else {
            debug!("TCP/TLS connections read again");
        }
    }
}
