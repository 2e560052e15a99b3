//! The database, read-only: a page's queries run on one connection from the query layer's
//! pool, on the runtime's blocking pool. SQLite: a new connection per request, opened with
//! `SQLITE_OPEN_READ_ONLY` and `query_only`; PostgreSQL: a session with
//! `default_transaction_read_only`, kept for the next request. Nothing here can write. A missing
//! SQLite file is an expected state (the collector has not run yet), not an error page of its
//! own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mutt_query::{Conn, Pool, QueryError, Session, Source};

use crate::AppState;

/// How long a query waits on the writer's lock (SQLite) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a page's queries may run before they are stopped: a filter on a column without an
/// index that matches nothing in a long range would read every row of it. SQLite's are
/// interrupted from the runtime when the page's time is up; PostgreSQL stops each statement at
/// this `statement_timeout` itself.
pub const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database {} does not exist yet: start the collector (mutt run) to create it", .0.display())]
    Missing(PathBuf),
    #[error("{0}")]
    Query(QueryError),
    #[error("the query was cancelled")]
    Cancelled,
    #[error("the query read for longer than {} s and was stopped", DEADLINE.as_secs())]
    TooLong,
}

impl From<QueryError> for DbError {
    fn from(e: QueryError) -> DbError {
        match e {
            QueryError::Missing(path) => DbError::Missing(path),
            e if e.is_deadline() => DbError::TooLong,
            e => DbError::Query(e),
        }
    }
}

/// The UI's connections to `source`: read-only, with the deadline; as many PostgreSQL sessions
/// kept as queries can run at once.
pub fn pool(source: Source) -> Arc<Pool> {
    let session = Session {
        read_only: true,
        statement_timeout: Some(DEADLINE),
        busy_timeout: BUSY_TIMEOUT,
    };
    Pool::new(source, session, crate::BLOCKING_THREADS)
}

/// Run `f` with a read-only connection on a blocking thread, stopped at [`DEADLINE`].
pub async fn with<T, F>(state: &Arc<AppState>, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut Conn) -> Result<T, DbError> + Send + 'static,
{
    let pool = state.pool.clone();
    let (handle_tx, handle_rx) = tokio::sync::oneshot::channel();
    let mut job = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        let _ = handle_tx.send(conn.interrupter());
        let result = f(&mut conn);
        if matches!(result, Err(DbError::Query(_))) {
            // A session an unexpected error came from is not handed to the next request.
            conn.discard();
        }
        result
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
    joined.map_err(|_| DbError::Cancelled)?
}
