//! Where connections come from: a [`Source`] (the SQLite file, or a PostgreSQL connector) and a
//! [`Pool`] that opens them with a [`Session`]'s settings.
//!
//! SQLite: a new connection each time (opening one is a file open, and a connection per request
//! never sees a stale snapshot). PostgreSQL: connecting costs round trips, TLS and
//! authentication, so a few idle clients are kept and reused. The pool is a `Vec` under a
//! mutex, not a crate: the connector is a closure (below), which `r2d2_postgres` and
//! `deadpool-postgres` cannot take (they want a `MakeTlsConnect` and build the config
//! themselves), and all that is needed is "take an idle client or connect; give it back unless
//! its socket closed".
//!
//! The connector is mutt's own (`store::postgres::PgSettings::connect`: URL, password file,
//! sslmode over rustls), handed in as a closure rather than moved here: the store owns those
//! settings, their errors and the configuration keys they name, and this crate needs no TLS
//! stack of its own. Its errors arrive as text that names the server as `user@host:port/dbname`
//! and never holds the password.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::OpenFlags;

use crate::conn::Conn;
use crate::error::QueryError;

/// Connects one PostgreSQL client, or says why not (without the password).
pub type Connect = dyn Fn() -> Result<postgres::Client, String> + Send + Sync;

/// The collector's database.
#[derive(Clone)]
pub enum Source {
    /// The SQLite file.
    Sqlite(PathBuf),
    Postgres(PgSource),
}

/// A PostgreSQL database: its name for messages, and how to connect to it.
#[derive(Clone)]
pub struct PgSource {
    target: String,
    connect: Arc<Connect>,
}

impl PgSource {
    /// `target` names the server in messages (`user@host:port/dbname`, never the password).
    pub fn new<F>(target: impl Into<String>, connect: F) -> PgSource
    where
        F: Fn() -> Result<postgres::Client, String> + Send + Sync + 'static,
    {
        PgSource {
            target: target.into(),
            connect: Arc::new(connect),
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Source {
    /// `SQLite data/messages.db` or `PostgreSQL mutt@db:5432/mutt`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Source::Sqlite(p) => format!("SQLite {}", p.display()),
            Source::Postgres(pg) => format!("PostgreSQL {}", pg.target),
        }
    }
}

/// How each connection is set up.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    /// SQLite opened `SQLITE_OPEN_READ_ONLY` with `query_only`; PostgreSQL with
    /// `default_transaction_read_only`: nothing through this connection can write.
    pub read_only: bool,
    /// How long one statement may run on PostgreSQL (`statement_timeout`); on SQLite the caller
    /// interrupts through `Conn::interrupter`.
    pub statement_timeout: Option<Duration>,
    /// How long SQLite waits on the writer's lock.
    pub busy_timeout: Duration,
}

/// Connections to one [`Source`], each set up by one [`Session`].
pub struct Pool {
    source: Source,
    session: Session,
    idle: Mutex<Vec<Conn>>,
    keep: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({})", self.source.describe())
    }
}

impl Pool {
    /// `keep`: idle PostgreSQL clients kept for reuse (at most as many as run at once).
    pub fn new(source: Source, session: Session, keep: usize) -> Arc<Pool> {
        Arc::new(Pool {
            source,
            session,
            idle: Mutex::new(Vec::new()),
            keep,
        })
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// A connection: a new SQLite one, or an idle PostgreSQL client (else a new one).
    pub fn get(self: &Arc<Self>) -> Result<Pooled, QueryError> {
        let conn = match &self.source {
            Source::Sqlite(path) => self.open_sqlite(path)?,
            Source::Postgres(pg) => match self.take_idle() {
                Some(c) => c,
                None => self.open_postgres(pg)?,
            },
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: self.clone(),
        })
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.pop()
    }

    fn open_sqlite(&self, path: &std::path::Path) -> Result<Conn, QueryError> {
        // Opening never creates the file: a missing database is the collector's to make.
        if !path.exists() {
            return Err(QueryError::Missing(path.to_path_buf()));
        }
        let access = if self.session.read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let conn =
            rusqlite::Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(self.session.busy_timeout)?;
        if self.session.read_only {
            conn.pragma_update(None, "query_only", true)?;
        }
        Ok(Conn::sqlite(conn))
    }

    fn open_postgres(&self, pg: &PgSource) -> Result<Conn, QueryError> {
        let client = (pg.connect)().map_err(QueryError::Connect)?;
        let mut conn = Conn::postgres(client);
        let mut set = String::new();
        if self.session.read_only {
            set.push_str("SET default_transaction_read_only = on;");
        }
        if let Some(t) = self.session.statement_timeout {
            set.push_str(&format!("SET statement_timeout = {};", t.as_millis()));
        }
        if !set.is_empty() {
            conn.batch(&set)?;
        }
        Ok(conn)
    }

    fn give_back(&self, conn: Conn) {
        if !matches!(self.source, Source::Postgres(_)) || !conn.is_usable() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(conn);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        if idle.is_empty() {
            return;
        }
        // A postgres::Client closes by blocking on a runtime of its own, which panics on a
        // thread that is inside a tokio runtime (the UI's, where its router and this pool are
        // dropped at shutdown). So the idle clients are closed on a thread of their own.
        let closer = std::thread::Builder::new()
            .name("mutt-query-close".into())
            .spawn(move || drop(idle));
        if let Ok(t) = closer {
            let _ = t.join();
        }
    }
}

/// A connection from a [`Pool`], given back when dropped. A caller that begins a transaction
/// ends it before dropping this.
pub struct Pooled {
    conn: Option<Conn>,
    pool: Arc<Pool>,
}

impl Pooled {
    /// Drop the connection instead of giving it back (after an error that may have left it in
    /// an unknown state).
    pub fn discard(mut self) {
        self.conn = None;
    }
}

impl std::ops::Deref for Pooled {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        // Only `discard` and `drop` take it, and both consume the Pooled.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.give_back(c);
        }
    }
}
