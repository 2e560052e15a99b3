//! How the daemon starts a thread: [`spawn`] names it, watches it for `/health` (a thread that
//! ends before the orderly stop is reported as `thread_died`), and hands back a [`Stage`] whose
//! [`Stage::ended`] channel becomes ready when the thread has ended — by returning or by
//! panicking — so the main thread waits on it with `select!` instead of polling.
//!
//! Every thread `mutt run` and `mutt replay` start goes through here: ingest, drain, webhook
//! sender, reloader, metrics listener and the signal thread. The threads the stages start for
//! themselves (the pipeline's writer and decode pool, the resolver's lookups) are theirs.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use super::DaemonError;
use crate::health::Health;

/// A thread the daemon started.
pub(super) struct Stage<T> {
    handle: thread::JoinHandle<T>,
    /// Never carries a message: it disconnects when the thread ends.
    ended: Receiver<()>,
}

/// Start `body` on a thread called `name`, watched by `health`.
pub(super) fn spawn<T, F>(
    health: &Arc<Health>,
    name: &'static str,
    body: F,
) -> Result<Stage<T>, DaemonError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (ended_tx, ended) = crossbeam_channel::bounded::<()>(0);
    let watch = health.watch_thread(name);
    let handle = thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            // Dropped in this order when `body` returns or unwinds: `/health` knows of the end
            // before the waiting thread wakes.
            let _end = (watch, ended_tx);
            body()
        })
        .map_err(DaemonError::Spawn)?;
    Ok(Stage { handle, ended })
}

impl<T> Stage<T> {
    /// Ready, for good, once the thread has ended (a receive on it returns `Err`).
    pub(super) fn ended(&self) -> &Receiver<()> {
        &self.ended
    }

    /// Whether the thread has ended.
    pub(super) fn is_done(&self) -> bool {
        matches!(self.ended.try_recv(), Err(TryRecvError::Disconnected))
    }

    /// Wait at most `timeout` for the thread to end; true when it has.
    pub(super) fn wait(&self, timeout: Duration) -> bool {
        matches!(
            self.ended.recv_timeout(timeout),
            Err(RecvTimeoutError::Disconnected)
        )
    }

    /// The thread's outcome; waits for it to end.
    pub(super) fn join(self) -> thread::Result<T> {
        self.handle.join()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn the_end_of_a_thread_wakes_the_waiter_and_counts_as_died_before_the_stop() {
        let health = Health::new(Duration::from_secs(30));
        let (go_tx, go) = crossbeam_channel::bounded::<()>(0);
        let stage = spawn(&health, "mutt-test", move || go.recv().is_ok()).unwrap();
        assert!(!stage.is_done());
        assert!(!stage.wait(Duration::from_millis(20)));
        go_tx.send(()).unwrap();
        assert!(stage.wait(Duration::from_secs(10)));
        assert!(stage.is_done() && stage.wait(Duration::ZERO), "stays ready");
        let report = health.check(&Metrics::default(), 0);
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert!(matches!(stage.join(), Ok(true)));
    }

    #[test]
    fn a_panicking_thread_ends_its_stage_too() {
        let health = Health::new(Duration::from_secs(30));
        health.stopping();
        let stage: Stage<()> = spawn(&health, "mutt-test", || panic!("boom")).unwrap();
        assert!(stage.wait(Duration::from_secs(10)));
        assert!(stage.join().is_err());
        assert!(health.check(&Metrics::default(), 0).is_healthy());
    }
}
