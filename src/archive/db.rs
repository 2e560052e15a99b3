//! Which database the archiver works on: the SQLite file, or the PostgreSQL that
//! `storage.backend: postgresql` names. Either is opened as a `mutt_query::Conn`, so each of the
//! archiver's statements is written once and runs on both; the few steps that exist on one
//! backend only (SQLite's page counts and `incremental_vacuum`, PostgreSQL's partitions and
//! advisory lock) ask [`mutt_query::Conn::dialect`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use mutt_query::{Conn, Dialect, Value};
use rusqlite::OpenFlags;

use super::ArchiveError;
use crate::config::Partition;
use crate::store::postgres::PgSettings;
use crate::store::schema;

/// The collector's database, as the archiver reaches it.
#[derive(Debug, Clone)]
pub enum Database {
    /// `storage.database.path`, and how long to wait on the collector's write lock.
    Sqlite { path: PathBuf, busy: Duration },
    /// `storage.postgresql`, and the partitioning it asks for. (Boxed: the settings are
    /// several times the size of a path.)
    Postgres {
        settings: Box<PgSettings>,
        partition: Partition,
    },
}

impl Database {
    /// The database `storage.backend` names: the PostgreSQL of `storage.postgresql`, else the
    /// SQLite file of `storage.database.path`.
    pub fn from_config(cfg: &crate::config::Config) -> Database {
        match crate::daemon::pg_settings(cfg) {
            Some(settings) => Database::Postgres {
                settings: Box::new(settings),
                partition: cfg.storage.postgresql.partition,
            },
            None => Database::Sqlite {
                path: cfg.storage.database.path.clone(),
                busy: Duration::from_secs_f64(cfg.storage.database.connection_timeout.max(1.0)),
            },
        }
    }

    /// `SQLite data/messages.db` or `PostgreSQL mutt@db:5432/mutt` (never the password).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite { path, .. } => format!("SQLite {}", path.display()),
            Database::Postgres { settings, .. } => format!("PostgreSQL {}", settings.target()),
        }
    }

    /// The SQLite file, for the steps that work on it alone.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite { path, .. } => Some(path),
            Database::Postgres { .. } => None,
        }
    }

    /// `storage.postgresql.partition`; none for a SQLite file.
    pub fn partition(&self) -> Partition {
        match self {
            Database::Sqlite { .. } => Partition::None,
            Database::Postgres { partition, .. } => *partition,
        }
    }

    /// At `mutt migrate` and daemon start: partition an empty `messages` as
    /// [`Database::partition`] asks, and make the partitions ahead (`partitions::prepare`).
    pub fn prepare_partitions(&self) -> Result<super::partitions::Prepared, ArchiveError> {
        let mut conn = self.open()?;
        super::partitions::prepare(&mut conn, self.partition(), crate::timefmt::now_us())
    }

    /// False only for a SQLite file not made yet (the daemon's first moments).
    pub fn exists(&self) -> bool {
        self.sqlite_path().map_or(true, Path::exists)
    }

    /// A connection that may write, its schema brought to this binary's as `mutt run` would.
    /// A SQLite file is never created: a wrong path is an error, not a new empty file.
    pub fn open(&self) -> Result<Conn, ArchiveError> {
        match self {
            Database::Sqlite { path, busy } => {
                let mut conn = open_existing(path)?;
                conn.busy_timeout(*busy)?;
                schema::migrate(&mut conn)?;
                Ok(Conn::sqlite(conn))
            }
            Database::Postgres { settings, .. } => {
                let mut client = settings.connect()?;
                crate::store::postgres::schema::migrate(&mut client, &settings.target())?;
                Ok(Conn::postgres(client))
            }
        }
    }

    /// A connection that cannot write (a dry run): nothing is migrated either.
    pub fn open_read_only(&self) -> Result<Conn, ArchiveError> {
        match self {
            Database::Sqlite { path, busy } => {
                let conn =
                    rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                conn.busy_timeout(*busy)?;
                Ok(Conn::sqlite(conn))
            }
            Database::Postgres { settings, .. } => {
                let mut conn = Conn::postgres(settings.connect()?);
                conn.batch("SET default_transaction_read_only = on")?;
                Ok(conn)
            }
        }
    }
}

/// Open a SQLite file for writing, never creating it.
pub fn open_existing(db: &Path) -> Result<rusqlite::Connection, ArchiveError> {
    let flags = OpenFlags::default().difference(OpenFlags::SQLITE_OPEN_CREATE);
    Ok(rusqlite::Connection::open_with_flags(db, flags)?)
}

/// `pg_try_advisory_lock` key of an archiving run ("MUTTARCH"): the PostgreSQL counterpart of
/// the archive directory's lock, for collectors that share one database but not a directory.
const RUN_LOCK: i64 = 0x4d55_5454_4152_4348;

/// Take the database's archiving lock for this session, or say who has it: on PostgreSQL two
/// archivers at once would both export the messages neither has deleted yet. SQLite needs none
/// (one host, and the directory's lock).
pub fn lock_run(conn: &mut Conn) -> Result<(), ArchiveError> {
    if conn.dialect() == Dialect::Sqlite {
        return Ok(());
    }
    let taken: Option<bool> = conn.first(
        "SELECT pg_try_advisory_lock(?1)",
        &[Value::Integer(RUN_LOCK)],
        |r| r.get(0),
    )?;
    if taken == Some(true) {
        return Ok(());
    }
    let who: Option<String> = conn.first("SELECT current_database()::text", &[], |r| r.get(0))?;
    Err(ArchiveError::Busy(format!(
        "PostgreSQL database {}",
        who.unwrap_or_default()
    )))
}

/// Give the lock back (closing the session would too).
pub fn unlock_run(conn: &mut Conn) -> Result<(), ArchiveError> {
    if conn.dialect() == Dialect::Postgres {
        conn.first(
            "SELECT pg_advisory_unlock(?1)",
            &[Value::Integer(RUN_LOCK)],
            |_| Ok(()),
        )?;
    }
    Ok(())
}
