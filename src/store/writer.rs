//! The writer: one SQLite connection, one transaction per batch, cached prepared statements.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, Transaction};

use super::auth_failures::AuthFailures;
use super::blocks::Blocks;
use super::checkpoints::Checkpoints;
use super::devices::DeviceRegistry;
use super::insert::Inserts;
use super::row::MessageRow;
use super::schema;
use crate::timefmt::iso8601_us;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: cannot create its directory: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database {path}: mutt_checkpoint.wal_seq is {value}, not a WAL sequence")]
    BadCheckpoint { path: PathBuf, value: i64 },
    /// `storage.backend: postgresql` (store/postgres/).
    #[error("{0}")]
    Postgres(#[from] super::postgres::PgError),
}

impl StoreError {
    /// True when the failure is the database's or the machine's (busy, locked, I/O, disk full,
    /// read-only, cannot open, out of memory): retried as it is, it will succeed once the cause is
    /// gone. False when it is tied to the rows (a constraint, a value too big, a type mismatch):
    /// retrying the same rows fails the same way, so the batch is split to find the row.
    ///
    /// Unknown codes count as tied to the rows: splitting a batch costs a few transactions, and
    /// a row that then fails alone is stored raw, so a wrong guess loses nothing.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Dir { .. } | StoreError::BadCheckpoint { .. } => true,
            StoreError::Postgres(e) => e.is_transient(),
            StoreError::Sqlite { source, .. } => match source {
                rusqlite::Error::SqliteFailure(e, _) => matches!(
                    e.code,
                    DatabaseBusy
                        | DatabaseLocked
                        | SystemIoFailure
                        | DiskFull
                        | CannotOpen
                        | ReadOnly
                        | OutOfMemory
                        | FileLockingProtocolFailed
                        | PermissionDenied
                        | DatabaseCorrupt
                        | NotADatabase
                        | SchemaChanged
                        | OperationInterrupted
                ),
                _ => false,
            },
        }
    }
}

/// Where processed messages go. SQLite today; the trait is the seam for a shared PostgreSQL.
///
/// Every write moves the checkpoint in the same transaction as what it stores.
pub trait MessageSink {
    /// The highest WAL sequence already stored (0 for a new database).
    fn checkpoint(&mut self) -> Result<u64, StoreError>;
    /// Store `rows` and move the checkpoint to `last_seq`, atomically.
    fn write_batch(&mut self, rows: &[MessageRow], last_seq: u64) -> Result<(), StoreError>;
    /// Store a row that failed on its own, as received: its raw text and bytes, `validated = 0`
    /// and `reason` in `error_message`; no type-specific row, device update or alert. Moves the
    /// checkpoint to the row's sequence.
    fn quarantine(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError>;
    /// The last resort for a row even `quarantine` could not store: its sequence, bytes and the
    /// errors in `dead_letters`. Moves the checkpoint to the row's sequence.
    fn dead_letter(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError>;
    /// Make every committed write durable (fsync), whatever the sink's usual sync policy. Called
    /// before WAL segments the checkpoint covers are deleted.
    fn sync(&mut self) -> Result<(), StoreError>;
}

/// The daemon picks the sink by `storage.backend` at run time.
impl MessageSink for Box<dyn MessageSink + Send> {
    fn checkpoint(&mut self) -> Result<u64, StoreError> {
        (**self).checkpoint()
    }
    fn write_batch(&mut self, rows: &[MessageRow], last_seq: u64) -> Result<(), StoreError> {
        (**self).write_batch(rows, last_seq)
    }
    fn quarantine(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
        (**self).quarantine(row, reason)
    }
    fn dead_letter(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
        (**self).dead_letter(row, reason)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        (**self).sync()
    }
}

pub struct Store {
    /// Prepared on `conn`, so declared (and dropped) before it.
    inserts: Inserts,
    conn: Connection,
    /// Its WAL hook points into this, so declared (and dropped) after `conn`.
    checkpoints: Checkpoints,
    path: PathBuf,
    devices: DeviceRegistry,
    auth_failures: AuthFailures,
    /// The device index's entries the open transaction adds (blocks.rs).
    blocks: Blocks,
    /// How long identical webhook alerts are folded into the first (see `outbox.rs`).
    storm_window: Duration,
}

impl Store {
    /// Open (creating it and its directory) and migrate the database.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let sql = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        conn.busy_timeout(busy_timeout).map_err(sql)?;
        // A new file gets 16 KiB pages: fewer pages per transaction for the indexes to rewrite.
        // (Takes effect only before the first table exists.)
        conn.pragma_update(None, "page_size", 16_384).map_err(sql)?;
        // And gives the pages the archiver frees back in small steps (`incremental_vacuum`),
        // never a full VACUUM. Only a file with no page yet (before WAL mode writes page 1) can
        // take it; on any other file the pragma would be a write transaction, which waits.
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(sql)?;
        if pages == 0 {
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
                .map_err(sql)?;
        }
        // WAL journal: readers (the web UI) never block the writer. NORMAL sync is safe in WAL mode:
        // a power cut can lose the last transactions, which the MUTT WAL still holds, because the
        // checkpoint is in the same transaction.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        // The indexes' hot pages stay in memory instead of being re-read from the OS every batch.
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(sql)?;
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql)?;
        conn.set_prepared_statement_cache_capacity(32);
        schema::migrate(&mut conn).map_err(sql)?;
        // Checkpoints on their own thread, every 128 MiB of SQLite WAL (checkpoints.rs).
        let checkpoints = Checkpoints::start(&conn, path);
        Ok(Store {
            inserts: Inserts::default(),
            conn,
            checkpoints,
            path: path.to_path_buf(),
            devices: DeviceRegistry::default(),
            auth_failures: AuthFailures::default(),
            blocks: Blocks::default(),
            storm_window: crate::config::DEFAULT_STORM_WINDOW,
        })
    }

    /// Bound snmpv3_auth_failures as `failures` says (default: 10,000 users, uncounted).
    pub fn with_auth_failures(mut self, failures: AuthFailures) -> Store {
        self.auth_failures = failures;
        self
    }

    /// Bound the devices table as `devices` says (default: 100,000 rows, uncounted).
    pub fn with_devices(mut self, devices: DeviceRegistry) -> Store {
        self.devices = devices;
        self
    }

    /// Fold identical webhook alerts within `window` (default 60 s; `Duration::ZERO`: never).
    pub fn with_storm_window(mut self, window: Duration) -> Store {
        self.storm_window = window;
        self
    }

    /// Rebuild the index of messages by device from the rows (`blocks::rebuild`), in one
    /// transaction; returns the entries and the blocks it holds.
    pub fn rebuild_device_index(&mut self) -> Result<(i64, i64), StoreError> {
        let result = (|| {
            let tx = self.conn.transaction()?;
            super::blocks::rebuild(&tx)?;
            let count = |table: &str| {
                tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            };
            let counted = (count("device_blocks")?, count("message_blocks")?);
            tx.commit()?;
            Ok(counted)
        })();
        result.map_err(|e| self.err(e))
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

impl MessageSink for Store {
    fn checkpoint(&mut self) -> Result<u64, StoreError> {
        let seq = self.conn.query_row(
            "SELECT wal_seq FROM mutt_checkpoint WHERE id = 1",
            [],
            |r| r.get::<_, i64>(0),
        );
        match seq {
            Ok(s) => u64::try_from(s).map_err(|_| StoreError::BadCheckpoint {
                path: self.path.clone(),
                value: s,
            }),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(0),
            Err(e) => Err(self.err(e)),
        }
    }

    fn write_batch(&mut self, rows: &[MessageRow], last_seq: u64) -> Result<(), StoreError> {
        let (devices, failures) = (&self.devices, &self.auth_failures);
        let storm_window = self.storm_window;
        let (inserts, blocks) = (&mut self.inserts, &mut self.blocks);
        self.checkpoints.before_transaction(&self.conn);
        let result = (|| {
            let tx = self.conn.transaction()?;
            inserts.insert_rows(&tx, rows, blocks)?;
            blocks.write(&tx)?;
            let over_cap = failures.record(&tx, rows)?;
            super::outbox::enqueue_alerts(&tx, rows, storm_window)?;
            let written = devices.update(&tx, rows)?;
            update_rule_counters(&tx, rows)?;
            set_checkpoint(&tx, last_seq)?;
            tx.commit()?;
            Ok((written, over_cap))
        })();
        match result {
            Ok((written, over_cap)) => {
                self.devices.remember(written);
                self.auth_failures.committed(over_cap);
                self.checkpoints.after_commit(&self.conn);
                Ok(())
            }
            Err(e) => {
                self.blocks.forget();
                Err(self.err(e))
            }
        }
    }

    fn quarantine(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
        let blocks = &mut self.blocks;
        let result = (|| {
            let tx = self.conn.transaction()?;
            let errors = serde_json::to_string(&row.validation_errors).ok();
            tx.prepare_cached(
                "INSERT INTO messages (id, type, source_ip, source_device, timestamp,
                     received_at, raw_message, validated, validation_errors, stored_to_db,
                     error_message, wal_seq, source_port, transport, truncated, raw_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, 0, ?7, 1, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                row.id,
                row.kind.as_str(),
                row.source_ip.to_string(),
                row.source_ip.to_string(),
                iso8601_us(row.received_at_us),
                row.raw_message,
                errors,
                reason,
                seq_param(row.seq)?,
                row.source_port,
                row.transport.as_str(),
                row.truncated,
                row.raw_bytes,
            ])?;
            blocks.note(row.source_ip, row.kind, &row.id, tx.last_insert_rowid());
            blocks.write(&tx)?;
            set_checkpoint(&tx, row.seq)?;
            tx.commit()
        })();
        result.map_err(|e| {
            self.blocks.forget();
            self.err(e)
        })
    }

    fn dead_letter(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
        let result = (|| {
            let tx = self.conn.transaction()?;
            tx.prepare_cached(
                "INSERT INTO dead_letters (wal_seq, type, source_ip, source_port, received_at,
                     raw_bytes, error, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                seq_param(row.seq)?,
                row.kind.as_str(),
                row.source_ip.to_string(),
                row.source_port,
                iso8601_us(row.received_at_us),
                row.raw_bytes,
                reason,
                iso8601_us(crate::timefmt::now_us()),
            ])?;
            set_checkpoint(&tx, row.seq)?;
            tx.commit()
        })();
        result.map_err(|e| self.err(e))
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        // In WAL mode with synchronous=FULL a commit fsyncs the SQLite WAL file, and with it every
        // frame committed before under NORMAL. One touch of the checkpoint row is that commit.
        let result = (|| {
            self.conn.pragma_update(None, "synchronous", "FULL")?;
            let touched = self.conn.execute(
                "UPDATE mutt_checkpoint SET updated_at = updated_at WHERE id = 1",
                [],
            );
            self.conn.pragma_update(None, "synchronous", "NORMAL")?;
            touched.map(|_| ())
        })();
        result.map_err(|e| self.err(e))
    }
}

/// Move the checkpoint, in the caller's transaction.
fn set_checkpoint(tx: &Transaction<'_>, seq: u64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO mutt_checkpoint (id, wal_seq, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT(id) DO UPDATE SET wal_seq = excluded.wal_seq,
                                       updated_at = excluded.updated_at",
    )?
    .execute(params![
        seq_param(seq)?,
        iso8601_us(crate::timefmt::now_us())
    ])?;
    Ok(())
}

/// A WAL sequence as SQLite's signed integer; one past `i64::MAX` is an error, never a wrap.
pub(super) fn seq_param(seq: u64) -> rusqlite::Result<i64> {
    i64::try_from(seq).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn update_rule_counters(tx: &Transaction<'_>, rows: &[MessageRow]) -> rusqlite::Result<()> {
    let counts = super::rule_counts(rows);
    if counts.is_empty() {
        return Ok(());
    }
    let mut upsert = tx.prepare_cached(
        "INSERT INTO rule_counters (rule_id, rule_name, matched, discarded, last_matched_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(rule_id) DO UPDATE SET rule_name = excluded.rule_name,
             matched = matched + excluded.matched, discarded = discarded + excluded.discarded,
             last_matched_at = excluded.last_matched_at",
    )?;
    for (id, c) in counts {
        upsert.execute(params![
            id,
            c.name,
            c.matched,
            c.discarded,
            iso8601_us(c.last_us)
        ])?;
    }
    Ok(())
}
