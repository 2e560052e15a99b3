//! PostgreSQL storage (`storage.backend: postgresql`): the same `MessageSink` contract as the
//! SQLite `Store`, for several collectors writing into one database.
//!
//! - One connection, one transaction per batch: the batch's messages go in with binary `COPY`,
//!   its webhook alerts are queued in `webhook_outbox` (folded within the storm window, see
//!   `outbox.rs`), the devices and rule counters are upserted, and this collector's
//!   `mutt_checkpoint` row (keyed by `collector_id`) moves, all in that transaction. Two collectors never share a
//!   checkpoint row, so each one's exactly-once promise is the same as with SQLite.
//! - A failure of the connection or the server (refused, reset, shutting down) is transient: the
//!   connection is dropped, the pipeline retries the same batch, the next attempt reconnects, and
//!   ingest keeps accepting into the WAL meanwhile.
//! - PostgreSQL `text` cannot hold NUL. A NUL in any text is stored as U+FFFD, and a syslog line
//!   with one (or that is not UTF-8) keeps its exact bytes in `raw_bytes`.

mod auth_failures;
mod connect;
mod copy;
mod outbox;
pub mod schema;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mutt_query::error_chain;
use postgres::error::SqlState;
use postgres::Client;
use tracing::{info, warn};

pub use connect::{PgSettings, PgTls};
pub use outbox::PgOutbox;
pub use schema::{Migrated, SCHEMA_VERSION};

use super::auth_failures::AuthFailures;
use super::row::MessageRow;
use super::writer::MessageSink;
use super::StoreError;
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("PostgreSQL {target}: {}", error_chain(.source))]
    Db {
        target: String,
        #[source]
        source: postgres::Error,
    },
    #[error("PostgreSQL {target}: TLS: {message}")]
    Tls { target: String, message: String },
    #[error(
        "PostgreSQL {target}: the schema is version {found}, newer than this MUTT knows \
         ({known}); run the MUTT release that migrated it, or a newer one"
    )]
    SchemaTooNew {
        target: String,
        found: i32,
        known: i32,
    },
    #[error("PostgreSQL {target}: mutt_checkpoint.wal_seq of {collector} is {value}, not a WAL sequence")]
    BadCheckpoint {
        target: String,
        collector: String,
        value: i64,
    },
    #[error("PostgreSQL {target}: WAL sequence {seq} is past the largest bigint")]
    SeqRange { target: String, seq: u64 },
}

impl PgError {
    /// True when the connection or the server failed (I/O, connection lost, server shutting
    /// down or starting, out of resources, a deadlock or serialization failure): the same batch
    /// succeeds once that is over. False when the rows or the schema are the cause.
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Db { source, .. } => {
                if source.is_closed() {
                    return true;
                }
                match source.code() {
                    Some(code) => {
                        let class = &code.code()[..2];
                        matches!(class, "08" | "53" | "57" | "58" | "40")
                    }
                    None => {
                        std::error::Error::source(source).is_some_and(|s| s.is::<std::io::Error>())
                    }
                }
            }
            PgError::Tls { .. } | PgError::BadCheckpoint { .. } => true,
            PgError::SchemaTooNew { .. } | PgError::SeqRange { .. } => false,
        }
    }

    /// The configuration key a person fixes for this error at start: a refused password names
    /// the password's sources, a TLS failure `sslmode`, anything else the URL.
    pub fn config_key(&self) -> &'static str {
        match self {
            PgError::Db { source, .. } => match source.code() {
                Some(c)
                    if *c == SqlState::INVALID_PASSWORD
                        || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
                {
                    "storage.postgresql.password_file (or PGPASSWORD)"
                }
                _ if is_tls_failure(source) => "storage.postgresql.sslmode",
                _ => "storage.postgresql.url",
            },
            PgError::Tls { .. } => "storage.postgresql.sslmode",
            _ => "storage.postgresql.url",
        }
    }
}

fn is_tls_failure(e: &postgres::Error) -> bool {
    let text = error_chain(e);
    text.contains("TLS") || text.contains("SSL") || text.contains("tls")
}

/// The PostgreSQL `MessageSink`: one connection, reopened after a transient failure.
pub struct PgStore {
    settings: PgSettings,
    client: Option<Client>,
    auth_failures: AuthFailures,
    /// `storage.database.max_devices`, and where its overflow is counted.
    max_devices: usize,
    metrics: Option<Arc<Metrics>>,
    /// The devices table was found full once already (logged once).
    devices_full_logged: bool,
    /// How long identical webhook alerts are folded into the first (see `outbox.rs`).
    storm_window: Duration,
}

impl PgStore {
    /// Connect, and migrate the schema to `SCHEMA_VERSION`.
    pub fn open(settings: PgSettings) -> Result<PgStore, PgError> {
        let mut client = settings.connect()?;
        let m = schema::migrate(&mut client, &settings.target())?;
        if m.from != m.to {
            info!(target = %settings.target(), from = m.from, to = m.to, "PostgreSQL schema migrated");
        }
        Ok(PgStore {
            settings,
            client: Some(client),
            auth_failures: AuthFailures::default(),
            max_devices: crate::store::devices::DEFAULT_MAX_DEVICES,
            metrics: None,
            devices_full_logged: false,
            storm_window: crate::config::DEFAULT_STORM_WINDOW,
        })
    }

    /// Bound the devices table at `max_devices` rows (at least 1); new addresses over it are
    /// counted in `metrics` (`devices_over_cap`).
    pub fn with_devices(mut self, max_devices: usize, metrics: Option<Arc<Metrics>>) -> PgStore {
        self.max_devices = max_devices.max(1);
        self.metrics = metrics;
        self
    }

    /// Fold identical webhook alerts within `window` (default 60 s; `Duration::ZERO`: never).
    pub fn with_storm_window(mut self, window: Duration) -> PgStore {
        self.storm_window = window;
        self
    }

    /// Bound snmpv3_auth_failures as `failures` says (default: 10,000 users, uncounted).
    pub fn with_auth_failures(mut self, failures: AuthFailures) -> PgStore {
        self.auth_failures = failures;
        self
    }

    /// `mutt migrate`: connect, migrate, say what was done.
    pub fn migrate(settings: &PgSettings) -> Result<Migrated, PgError> {
        let mut client = settings.connect()?;
        schema::migrate(&mut client, &settings.target())
    }

    /// Run `f` in one transaction on the connection (opened first if a failure dropped it). A
    /// transient failure drops the connection, so the next attempt starts on a new one.
    fn with_tx<T>(
        &mut self,
        f: impl FnOnce(&mut postgres::Transaction<'_>, &Ctx<'_>) -> Result<T, PgError>,
    ) -> Result<T, StoreError> {
        let target = self.settings.target();
        let client = match &mut self.client {
            Some(c) => c,
            None => {
                let c = self.settings.connect().map_err(StoreError::from)?;
                info!(target = %target, "PostgreSQL connection reopened");
                self.client.insert(c)
            }
        };
        let ctx = Ctx {
            target: &target,
            collector: &self.settings.collector_id,
        };
        let result: Result<T, PgError> = (|| {
            let mut tx = client.transaction().map_err(|e| ctx.err(e))?;
            let out = f(&mut tx, &ctx)?;
            tx.commit().map_err(|e| ctx.err(e))?;
            Ok(out)
        })();
        if let Err(e) = &result {
            if e.is_transient() {
                warn!(target = %target, error = %e, "PostgreSQL: dropping the connection");
                self.client = None;
            }
        }
        result.map_err(StoreError::from)
    }
}

impl PgStore {
    /// Count new addresses a committed batch left without a device row; log the cap once.
    fn devices_over_cap(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(m) = &self.metrics {
            Metrics::add(&m.devices_over_cap, n);
        }
        if !std::mem::replace(&mut self.devices_full_logged, true) {
            warn!(
                max_devices = self.max_devices,
                "the devices table is full (storage.database.max_devices): messages from new \
                 addresses are stored without a device row and counted (devices_over_cap); \
                 this is logged once"
            );
        }
    }
}

/// What a transaction's statements need besides the rows.
struct Ctx<'a> {
    target: &'a str,
    collector: &'a str,
}

impl Ctx<'_> {
    fn err(&self, source: postgres::Error) -> PgError {
        PgError::Db {
            target: self.target.to_string(),
            source,
        }
    }

    fn seq(&self, seq: u64) -> Result<i64, PgError> {
        i64::try_from(seq).map_err(|_| PgError::SeqRange {
            target: self.target.to_string(),
            seq,
        })
    }
}

/// Microseconds since the epoch as a `timestamptz` value.
fn at(us: i64) -> SystemTime {
    let d = Duration::from_micros(us.unsigned_abs());
    if us >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

impl MessageSink for PgStore {
    fn checkpoint(&mut self) -> Result<u64, StoreError> {
        self.with_tx(|tx, ctx| {
            let row = tx
                .query_opt(
                    "SELECT wal_seq FROM mutt_checkpoint WHERE collector_id = $1",
                    &[&ctx.collector],
                )
                .map_err(|e| ctx.err(e))?;
            let Some(row) = row else { return Ok(0) };
            let value: i64 = row.try_get(0).map_err(|e| ctx.err(e))?;
            u64::try_from(value).map_err(|_| PgError::BadCheckpoint {
                target: ctx.target.to_string(),
                collector: ctx.collector.to_string(),
                value,
            })
        })
    }

    fn write_batch(&mut self, rows: &[MessageRow], last_seq: u64) -> Result<(), StoreError> {
        let (max_users, max_devices) = (self.auth_failures.max_users(), self.max_devices);
        let storm_window = self.storm_window;
        let (users_over, devices_over) = self.with_tx(|tx, ctx| {
            copy::copy_messages(tx, ctx, rows)?;
            outbox::enqueue_alerts(tx, ctx, rows, storm_window, crate::timefmt::now_us())?;
            let users_over = auth_failures::record(tx, ctx, rows, max_users)?;
            let devices_over = copy::upsert_devices(tx, ctx, rows, max_devices)?;
            copy::update_rule_counters(tx, ctx, rows)?;
            set_checkpoint(tx, ctx, last_seq)?;
            Ok((users_over, devices_over))
        })?;
        self.auth_failures.committed(users_over);
        self.devices_over_cap(devices_over);
        Ok(())
    }

    fn quarantine(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
        self.with_tx(|tx, ctx| {
            copy::insert_raw(tx, ctx, row, reason)?;
            set_checkpoint(tx, ctx, row.seq)
        })
    }

    fn dead_letter(&mut self, row: &MessageRow, reason: &str) -> Result<(), StoreError> {
        self.with_tx(|tx, ctx| {
            tx.execute(
                "INSERT INTO dead_letters (collector_id, wal_seq, type, source_ip, source_port,
                     received_at, raw_bytes, error, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())",
                &[
                    &ctx.collector,
                    &ctx.seq(row.seq)?,
                    &row.kind.as_str(),
                    &row.source_ip.to_string(),
                    &i32::from(row.source_port),
                    &at(row.received_at_us),
                    &row.raw_bytes,
                    &copy::no_nul(reason).as_ref(),
                ],
            )
            .map_err(|e| ctx.err(e))?;
            set_checkpoint(tx, ctx, row.seq)
        })
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        // Every commit is durable on the server (synchronous_commit is the server's setting):
        // nothing is left to flush from here.
        Ok(())
    }
}

/// Move this collector's checkpoint, in the caller's transaction.
fn set_checkpoint(
    tx: &mut postgres::Transaction<'_>,
    ctx: &Ctx<'_>,
    seq: u64,
) -> Result<(), PgError> {
    tx.execute(
        "INSERT INTO mutt_checkpoint (collector_id, wal_seq, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (collector_id) DO UPDATE SET wal_seq = excluded.wal_seq,
                                                  updated_at = excluded.updated_at",
        &[&ctx.collector, &ctx.seq(seq)?],
    )
    .map_err(|e| ctx.err(e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_and_after_the_epoch_map_to_the_same_instant() {
        assert_eq!(at(1_500_000), UNIX_EPOCH + Duration::from_micros(1_500_000));
        assert_eq!(at(-1), UNIX_EPOCH - Duration::from_micros(1));
    }
}
