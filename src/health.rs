//! What `/health` reports: whether MUTT is doing its job, and if not, why.
//!
//! MUTT is unhealthy while any of these holds:
//! - `storage_stalled`: the checkpoint has not moved for `stall_after` while records wait in the
//!   WAL (the database is locked, read-only, full, or the writer is stuck);
//! - `wal_shedding`: the WAL is at its disk budget and new datagrams are dropped;
//! - `wal_disk_full`: the disk under the WAL is full and new datagrams are dropped;
//! - `thread_died`: a stage thread ended without being asked to stop.
//!
//! Each condition is logged once when it starts and once when it ends, never per retry: the
//! daemon's main loop calls [`Health::check`] several times a second, and so does every `/health`
//! request; both see and log the same transitions.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{error, info};

use crate::metrics::Metrics;

/// One reason to be unhealthy, with what an operator needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    StorageStalled { seconds: u64, backlog: u64 },
    WalShedding,
    WalDiskFull,
    ThreadDied { thread: String },
}

impl Problem {
    /// The stable machine-readable name (the JSON `reasons`).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::StorageStalled { .. } => "storage_stalled",
            Problem::WalShedding => "wal_shedding",
            Problem::WalDiskFull => "wal_disk_full",
            Problem::ThreadDied { .. } => "thread_died",
        }
    }

    /// A sentence for people (the log, the JSON `details`).
    pub fn describe(&self) -> String {
        match self {
            Problem::StorageStalled { seconds, backlog } => format!(
                "storage has not advanced for {seconds} s with {backlog} records waiting in the WAL"
            ),
            Problem::WalShedding => {
                "the WAL is at its disk budget: new UDP datagrams are dropped, TCP is not read"
                    .to_string()
            }
            Problem::WalDiskFull => {
                "the WAL's disk is full: new datagrams are dropped until space returns".to_string()
            }
            Problem::ThreadDied { thread } => format!("thread {thread} has died"),
        }
    }

    /// What identifies the condition across checks (a stall is one condition while it lasts).
    fn key(&self) -> String {
        match self {
            Problem::ThreadDied { thread } => format!("thread_died:{thread}"),
            other => other.code().to_string(),
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub wal_backlog: u64,
    pub checkpoint: u64,
}

impl Report {
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }

    /// `{"status":"ok"|"unhealthy","reasons":[...],"details":[...],"wal_backlog":N,"checkpoint":N}`
    pub fn to_json(&self) -> String {
        let reasons: Vec<&str> = self.problems.iter().map(Problem::code).collect();
        let details: Vec<String> = self.problems.iter().map(Problem::describe).collect();
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"status\":\"{}\",\"reasons\":{},\"details\":{},\"wal_backlog\":{},\"checkpoint\":{}}}",
            if self.is_healthy() { "ok" } else { "unhealthy" },
            serde_json::to_string(&reasons).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&details).unwrap_or_else(|_| "[]".into()),
            self.wal_backlog,
            self.checkpoint
        );
        s
    }
}

struct State {
    checkpoint: u64,
    progress_at: Instant,
    /// Conditions in force, by key, since when.
    active: BTreeMap<String, Instant>,
}

/// Health of the running daemon; shared by the main loop, the stage threads and `/health`.
pub struct Health {
    stall_after: Duration,
    state: Mutex<State>,
    /// Stage threads that ended without being asked to.
    died: Mutex<Vec<String>>,
    stopping: AtomicBool,
}

impl Health {
    pub fn new(stall_after: Duration) -> Arc<Health> {
        Arc::new(Health {
            stall_after,
            state: Mutex::new(State {
                checkpoint: 0,
                progress_at: Instant::now(),
                active: BTreeMap::new(),
            }),
            died: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        })
    }

    /// Watch the calling thread: when the returned guard drops (the thread returns or panics)
    /// before [`Health::stopping`] was called, the thread counts as died.
    pub fn watch_thread(self: &Arc<Self>, name: &str) -> ThreadGuard {
        ThreadGuard {
            health: Arc::clone(self),
            name: name.to_string(),
        }
    }

    /// An orderly stop has begun: threads ending from now on are not deaths.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Evaluate every condition now, log the ones that started or ended, and report.
    pub fn check(&self, metrics: &Metrics, wal_published: u64) -> Report {
        self.check_at(metrics, wal_published, Instant::now())
    }

    fn check_at(&self, metrics: &Metrics, wal_published: u64, now: Instant) -> Report {
        let checkpoint = Metrics::get(&metrics.checkpoint);
        let backlog = wal_published.saturating_sub(checkpoint);
        let mut state = lock(&self.state);
        if checkpoint != state.checkpoint || backlog == 0 {
            state.checkpoint = checkpoint;
            state.progress_at = now;
        }
        let mut problems = Vec::new();
        let still = now.saturating_duration_since(state.progress_at);
        if still >= self.stall_after {
            problems.push(Problem::StorageStalled {
                seconds: still.as_secs(),
                backlog,
            });
        }
        if metrics.wal_shedding.load(Ordering::Relaxed) {
            problems.push(Problem::WalShedding);
        }
        if metrics.wal_disk_full.load(Ordering::Relaxed) {
            problems.push(Problem::WalDiskFull);
        }
        for thread in lock(&self.died).iter() {
            problems.push(Problem::ThreadDied {
                thread: thread.clone(),
            });
        }
        log_transitions(&mut state.active, &problems, now);
        Report {
            problems,
            wal_backlog: backlog,
            checkpoint,
        }
    }
}

/// Log each condition once as it starts and once as it ends.
fn log_transitions(active: &mut BTreeMap<String, Instant>, problems: &[Problem], now: Instant) {
    for p in problems {
        if let std::collections::btree_map::Entry::Vacant(e) = active.entry(p.key()) {
            error!(reason = p.code(), "unhealthy: {}", p.describe());
            e.insert(now);
        }
    }
    active.retain(|key, since| {
        let current = problems.iter().any(|p| &p.key() == key);
        if !current {
            let lasted = now.saturating_duration_since(*since).as_secs();
            info!(reason = %key, lasted_seconds = lasted, "healthy again: {key} has ended");
        }
        current
    });
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held by a watched thread for its whole life; see [`Health::watch_thread`].
pub struct ThreadGuard {
    health: Arc<Health>,
    name: String,
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        if !self.health.stopping.load(Ordering::Relaxed) {
            lock(&self.health.died).push(std::mem::take(&mut self.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn codes(r: &Report) -> Vec<&'static str> {
        r.problems.iter().map(Problem::code).collect()
    }

    #[test]
    fn a_backlog_that_does_not_move_for_the_stall_time_is_a_stall_and_ends_when_it_moves() {
        let h = Health::new(Duration::from_secs(30));
        let m = Metrics::default();
        let t0 = Instant::now();
        m.checkpoint.set(10);
        assert!(h.check_at(&m, 50, t0).is_healthy());
        assert!(h
            .check_at(&m, 60, t0 + Duration::from_secs(29))
            .is_healthy());
        let r = h.check_at(&m, 70, t0 + Duration::from_secs(31));
        assert_eq!(codes(&r), ["storage_stalled"]);
        assert_eq!(r.wal_backlog, 60);
        assert!(r
            .to_json()
            .starts_with(r#"{"status":"unhealthy","reasons":["storage_stalled"]"#));
        m.checkpoint.set(11);
        assert!(h
            .check_at(&m, 70, t0 + Duration::from_secs(32))
            .is_healthy());
    }

    #[test]
    fn an_idle_daemon_with_nothing_waiting_is_never_stalled() {
        let h = Health::new(Duration::from_secs(1));
        let m = Metrics::default();
        let t0 = Instant::now();
        m.checkpoint.set(5);
        assert!(h.check_at(&m, 5, t0).is_healthy());
        assert!(h
            .check_at(&m, 5, t0 + Duration::from_secs(3600))
            .is_healthy());
        // A message arrives after an hour of quiet: the stall clock starts now, not an hour ago.
        assert!(h
            .check_at(&m, 6, t0 + Duration::from_secs(3600))
            .is_healthy());
    }

    #[test]
    fn wal_flags_and_dead_threads_are_reported_and_clear_by_themselves() {
        let h = Health::new(Duration::from_secs(30));
        let m = Metrics::default();
        m.wal_disk_full.store(true, Relaxed);
        m.wal_shedding.store(true, Relaxed);
        let r = h.check(&m, 0);
        assert_eq!(codes(&r), ["wal_shedding", "wal_disk_full"]);
        m.wal_disk_full.store(false, Relaxed);
        m.wal_shedding.store(false, Relaxed);
        assert!(h.check(&m, 0).is_healthy());
        let guard = h.watch_thread("mutt-webhook");
        drop(guard);
        let r = h.check(&m, 0);
        assert_eq!(
            r.problems,
            [Problem::ThreadDied {
                thread: "mutt-webhook".into()
            }]
        );
    }

    #[test]
    fn threads_that_end_in_an_orderly_stop_have_not_died() {
        let h = Health::new(Duration::from_secs(30));
        let guard = h.watch_thread("mutt-ingest");
        h.stopping();
        drop(guard);
        assert!(h.check(&Metrics::default(), 0).is_healthy());
    }

    #[test]
    fn a_panicking_thread_is_reported_as_died() {
        let h = Health::new(Duration::from_secs(30));
        let h2 = Arc::clone(&h);
        let joined = std::thread::spawn(move || {
            let _guard = h2.watch_thread("mutt-writer");
            panic!("boom");
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(codes(&h.check(&Metrics::default(), 0)), ["thread_died"]);
    }
}
