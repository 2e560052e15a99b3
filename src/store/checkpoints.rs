//! The SQLite WAL's checkpoints, on their own thread (`mutt-checkpoint`) and connection.
//!
//! With SQLite's automatic checkpoint, the commit that took the WAL past `wal_autocheckpoint`
//! also copied its pages into the database file and fsynced it, on the writer thread: 13–18% of
//! that thread's time under load (docs/PERFORMANCE.md). The writer is the pipeline's one serial
//! stage, so that time came off what MUTT can store.
//!
//! Here the writer's connection has no automatic checkpoint. Its WAL hook notes how many frames
//! the WAL holds after each commit; from `START` frames on, the writer asks this thread for a
//! PASSIVE checkpoint (it copies what is committed, waits for nobody) and goes on writing.
//!
//! SQLite starts the WAL file over from its beginning only when a write transaction begins after
//! a checkpoint copied every frame. A writer that never pauses (a replay, a backlog) would never
//! give the thread that moment, and the file would grow without end. So at `LIMIT` frames the
//! writer, before its next transaction, waits for the thread's pass to end and runs a PASSIVE
//! checkpoint itself: the few frames left are copied and the WAL restarts, as it did with the
//! automatic checkpoint. Readers never wait for a checkpoint, and no checkpoint waits for them:
//! a long reader (the web UI, a `sqlite3` shell) only keeps the WAL from restarting, as before.
//!
//! If the thread's connection cannot be opened, the writer checkpoints at `START` itself, as
//! SQLite did.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender, TrySendError};
use rusqlite::{ffi, Connection, OpenFlags};
use tracing::{debug, warn};

use crate::log_limit::Repeats;

/// WAL frames (16 KiB pages) after which a commit asks for a checkpoint: 128 MiB, as the
/// automatic checkpoint had. A page rewritten by many transactions in between is copied once.
pub const START: i32 = 8192;

/// WAL frames at which the writer waits for the checkpoint before its next transaction
/// (384 MiB).
pub const LIMIT: i32 = 3 * START;

/// The writer's side: its connection's WAL size and the way to the checkpoint thread. Declared
/// after the connection in `Store`, so the connection (and its hook, which points into `frames`)
/// is closed first.
pub(super) struct Checkpoints {
    /// Frames in the WAL after the last commit, written by the connection's WAL hook.
    frames: Box<AtomicI32>,
    start: i32,
    limit: i32,
    /// Held by whoever is checkpointing, so the writer can wait for the thread's pass.
    pass: Arc<Mutex<()>>,
    ask: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    warnings: Repeats,
}

impl Checkpoints {
    /// Turn `conn`'s automatic checkpoint off, note its WAL size after each commit, and start the
    /// checkpoint thread on a connection of its own to `path`.
    pub(super) fn start(conn: &Connection, path: &Path) -> Checkpoints {
        Checkpoints::with_frames(conn, path, START, LIMIT)
    }

    pub(super) fn with_frames(conn: &Connection, path: &Path, start: i32, limit: i32) -> Self {
        let frames = Box::new(AtomicI32::new(0));
        // SAFETY: the hook gets a pointer to `frames`, which is boxed (it does not move) and
        // outlives the connection (see the struct's doc); SQLite calls the hook on this
        // connection's thread, after a commit, and the hook only stores into the atomic.
        // Installing a WAL hook replaces the automatic checkpoint's.
        unsafe {
            ffi::sqlite3_wal_hook(
                conn.handle(),
                Some(note_frames),
                (&*frames as *const AtomicI32).cast_mut().cast::<c_void>(),
            );
        }
        let pass = Arc::new(Mutex::new(()));
        let (ask, asked) = bounded::<()>(1);
        let thread = {
            let (path, pass) = (path.to_path_buf(), pass.clone());
            std::thread::Builder::new()
                .name("mutt-checkpoint".into())
                .spawn(move || run(&path, &pass, asked))
        };
        let (ask, thread) = match thread {
            Ok(handle) => (Some(ask), Some(handle)),
            Err(e) => {
                warn!(error = %e, "no checkpoint thread: the writer checkpoints the SQLite WAL itself");
                (None, None)
            }
        };
        Checkpoints {
            frames,
            start,
            limit,
            pass,
            ask,
            thread,
            warnings: Repeats::default(),
        }
    }

    /// Before a transaction: at `limit` frames, wait for the thread's pass and copy the rest, so
    /// that this transaction starts the WAL over.
    pub(super) fn before_transaction(&mut self, conn: &Connection) {
        if self.frames.load(Ordering::Relaxed) < self.limit {
            return;
        }
        let pass = self.pass.clone();
        let _pass = lock(&pass);
        self.checkpoint_here(conn);
    }

    /// After a commit: from `start` frames, ask the thread for a checkpoint (one asked is enough:
    /// its pass copies whatever is committed when it begins).
    pub(super) fn after_commit(&mut self, conn: &Connection) {
        if self.frames.load(Ordering::Relaxed) < self.start {
            return;
        }
        let asked = match &self.ask {
            Some(ask) => match ask.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => true,
                Err(TrySendError::Disconnected(())) => false,
            },
            None => false,
        };
        if !asked {
            self.checkpoint_here(conn);
        }
    }

    fn checkpoint_here(&mut self, conn: &Connection) {
        if let Err(e) = passive(conn) {
            if let Some(say) = self.warnings.hit(Instant::now(), 1) {
                warn!(error = %e, "SQLite WAL checkpoint failed{say}; retried after the next commit");
            }
        }
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.ask = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The WAL hook: SQLite's frame count after a commit.
unsafe extern "C" fn note_frames(
    frames: *mut c_void,
    _db: *mut ffi::sqlite3,
    _name: *const c_char,
    count: c_int,
) -> c_int {
    // SAFETY: `frames` is the boxed atomic installed with the hook, alive while the connection is.
    unsafe { (*frames.cast::<AtomicI32>()).store(count, Ordering::Relaxed) };
    ffi::SQLITE_OK
}

fn lock(pass: &Mutex<()>) -> MutexGuard<'_, ()> {
    pass.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One PASSIVE checkpoint on `conn`: (WAL frames, frames copied).
fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

/// The checkpoint thread: a PASSIVE checkpoint each time the writer asks, until it is dropped.
fn run(path: &Path, pass: &Mutex<()>, asked: crossbeam_channel::Receiver<()>) {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|conn| {
        conn.busy_timeout(Duration::from_secs(5))?;
        // As the writer's: the checkpoint fsyncs the database file once it is copied.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // This connection never commits; no checkpoint of its own at close either, unless it is
        // the last one (then SQLite copies what is left and removes the WAL, as it should).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(conn)
    });
    let conn = match conn {
        Ok(conn) => conn,
        Err(e) => {
            warn!(database = %path.display(), error = %e,
                "no checkpoint connection: the writer checkpoints the SQLite WAL itself");
            return;
        }
    };
    let mut warnings = Repeats::default();
    while asked.recv().is_ok() {
        let _pass = lock(pass);
        let started = Instant::now();
        match passive(&conn) {
            Ok((frames, copied)) => debug!(
                frames,
                copied,
                ms = started.elapsed().as_millis() as u64,
                "SQLite WAL checkpoint"
            ),
            Err(e) => {
                if let Some(say) = warnings.hit(Instant::now(), 1) {
                    warn!(error = %e, "SQLite WAL checkpoint failed{say}; retried after the next commit");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database `t.db` in `dir` as the writer keeps it (WAL journal, synchronous NORMAL), 4 KiB
    /// pages, with one table `t (id, body)`.
    fn wal_database(dir: &Path) -> (std::path::PathBuf, Connection) {
        let path = dir.join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        )
        .expect("schema");
        (path, conn)
    }

    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count")
    }

    /// A writer that never pauses: transactions back to back, as in a replay.
    #[test]
    fn a_writer_that_never_pauses_keeps_the_wal_file_bounded_and_loses_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, conn) = wal_database(dir.path());
        let (start, limit) = (32, 96);
        let mut checkpoints = Checkpoints::with_frames(&conn, &path, start, limit);
        let wal = dir.path().join("t.db-wal");
        let body = "x".repeat(400);
        let mut largest = 0;
        for txn in 0..400 {
            checkpoints.before_transaction(&conn);
            conn.execute_batch("BEGIN").expect("begin");
            for i in 0..40 {
                conn.execute(
                    "INSERT INTO t (id, body) VALUES (?1, ?2)",
                    rusqlite::params![txn * 40 + i, body],
                )
                .expect("insert");
            }
            conn.execute_batch("COMMIT").expect("commit");
            checkpoints.after_commit(&conn);
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        // A transaction here is about five frames of 4 KiB and 24 bytes of header each.
        let frame = 4096 + 24;
        assert!(
            largest <= (96 + 10) * frame,
            "the WAL file reached {largest} bytes, {} frames",
            largest / frame
        );
        drop(checkpoints);
        assert_eq!(rows(&conn), 16_000);
        drop(conn);
        let again = Connection::open(&path).expect("reopen");
        assert_eq!(rows(&again), 16_000);
    }

    #[test]
    fn the_checkpoint_thread_copies_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, conn) = wal_database(dir.path());
        // A limit the test never reaches: only the thread checkpoints.
        let mut checkpoints = Checkpoints::with_frames(&conn, &path, 8, i32::MAX);
        let before = std::fs::metadata(&path).expect("db").len();
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO t (body) SELECT printf('%.400c', 'x') FROM n",
        )
        .expect("insert");
        checkpoints.after_commit(&conn);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut size = before;
        while Instant::now() < deadline {
            size = std::fs::metadata(&path).expect("db").len();
            if size > 20 * 4096 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            size > 20 * 4096,
            "the database file is {size} bytes (was {before}): nothing was checkpointed"
        );
        drop(checkpoints);
    }
}
