//! The database, read-only: one connection per request, opened on the runtime's blocking pool
//! with `SQLITE_OPEN_READ_ONLY` and `query_only`, so nothing here can write. A missing file is an
//! expected state (the collector has not run yet), not an error page of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::AppState;

/// How long a query waits on the writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a page's queries may run before they are interrupted: a filter on a column without
/// an index that matches nothing in a long range would read every row of it.
pub const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database {} does not exist yet: start the collector (mutt run) to create it", .0.display())]
    Missing(PathBuf),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the query was cancelled")]
    Cancelled,
    #[error("the query read for longer than {} s and was stopped", DEADLINE.as_secs())]
    TooLong,
}

/// Open `path` read-only.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    if !path.exists() {
        return Err(DbError::Missing(path.to_path_buf()));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Run `f` with a read-only connection on a blocking thread, interrupted at [`DEADLINE`].
pub async fn with<T, F>(state: &Arc<AppState>, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
{
    let path = state.database.clone();
    let (handle_tx, handle_rx) = tokio::sync::oneshot::channel();
    let mut job = tokio::task::spawn_blocking(move || {
        let conn = open(&path)?;
        let _ = handle_tx.send(conn.get_interrupt_handle());
        f(&conn)
    });
    let joined = tokio::select! {
        r = &mut job => r,
        _ = tokio::time::sleep(DEADLINE) => {
            if let Ok(handle) = handle_rx.await {
                handle.interrupt();
            }
            job.await
        }
    };
    match joined.map_err(|_| DbError::Cancelled)? {
        Err(DbError::Sqlite(e))
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) =>
        {
            Err(DbError::TooLong)
        }
        other => other,
    }
}
