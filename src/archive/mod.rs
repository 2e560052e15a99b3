//! `mutt archive`: move messages received before a cutoff out of the database into JSON-lines
//! files, exactly once, while the collector may go on writing.
//!
//! # Files
//!
//! `<storage.archiver.path>/<type>-<first received_at>-<last received_at>.jsonl[.zst]` (times
//! without `-` and `:`, e.g. `syslog-20261127T034302.123456Z-20261127T040000.000001Z.jsonl`),
//! one per message type per run; a name already taken gets `-2`, `-3`, … (a file is never
//! replaced). One JSON object per line and per message, in id (arrival) order: every column of
//! `messages` by its name, the type's own columns by the seed's names as in the views
//! (`facility`, `oid`, …), `raw_bytes` as lowercase hex (`rows.rs`). Beside it
//! `NAME.jsonl.manifest.json` (`files::Manifest`): name, format, compression, rows, size,
//! SHA-256 of the file, first and last received_at and id. The `archives` row holds the same.
//!
//! # Exactly once
//!
//! One run, under an exclusive lock on the directory (and on PostgreSQL the database's advisory
//! lock, below), for each type:
//! 1. reads the messages in id order, in chunks, into `.<type>-<uuid>.jsonl.tmp`, then fsyncs it;
//! 2. links it to its final name (never overwriting), writes the manifest (temp, fsync,
//!    rename), removes the temp name, fsyncs the directory;
//! 3. inserts the `archives` row with `deleted_at` NULL, and commits;
//! 4. reads the ids back from the file and deletes them in transactions of `DELETE_CHUNK`;
//! 5. sets `deleted_at`.
//!
//! The invariant: **a message is deleted only if a committed `archives` row names a durable file
//! that holds it.** Steps 1–2 delete nothing; step 4 deletes only ids read from the recorded
//! file. Before exporting, every run repairs what a crash (`kill -9`, power cut) left:
//! - temporary files: removed (their messages were never deleted);
//! - an archive file or manifest no `archives` row names (crash between 2 and 3) whose first
//!   message is still in the database: removed, as its messages are all still there and are
//!   exported again by this run. One whose first message is not there was not written against
//!   this database (another's run in the same directory, a file copied in): left alone, reported;
//! - an `archives` row with `deleted_at` NULL (crash in 4 or before 5): step 4 and 5 are done
//!   again from its file. Deleting an id that is gone does nothing, so this is idempotent.
//!
//! So after any crash and a rerun, each message is either in the database or in exactly one
//! recorded archive: export only reads messages still in the database after the repair, and a
//! recorded archive's messages are all gone from it once its `deleted_at` is set. A message the
//! collector commits late, with an id inside a range already read, is not in the file and so
//! not deleted: the next run takes it. A file that cannot be written (directory not writable,
//! disk full) stops the run before anything is recorded or deleted.
//!
//! With `storage.archiver.compress: true` the file is `NAME.jsonl.zst` (zstd level 3; the
//! manifest's size and SHA-256 are the compressed file's).
//!
//! # Which messages
//!
//! A run takes the messages received before a time whose id is below a bound ([`Cutoff`]).
//! Message ids are UUIDv7 in arrival order, so the oldest messages are those with the smallest
//! ids, and a time maps to an id: every message received before the millisecond `m` has an id
//! below the UUID whose 48-bit time is `m` and whose other bits are zero ([`id_floor`]). Each
//! chunk then walks the id index between two bounds instead of reading on to the table's end.
//!
//! The daemon runs the same function from its archiver thread (`scheduled.rs`).
//!
//! # SQLite and PostgreSQL
//!
//! [`Database`] (`db.rs`) is the SQLite file or the PostgreSQL of `storage.backend:
//! postgresql`, opened as a `mutt_query::Conn`: every statement here is written once and runs on
//! both, and the files are the same (each cell read as SQLite holds the column). Several
//! collectors may share one PostgreSQL, each with its own archive directory, so the directory's
//! lock does not keep two runs apart there: a run also takes `pg_try_advisory_lock` for its
//! session (`db::lock_run`), and a second run fails at once with [`ArchiveError::Busy`] instead
//! of exporting the messages the first has not deleted yet. A recorded archive still being
//! deleted whose file is not in this directory is another collector's, and is left to it.
//! With time partitions (`partitions.rs`), whole partitions older than the cutoff are archived
//! and then dropped instead of deleted row by row, in the same order.

pub mod cli;
mod db;
mod files;
mod import;
pub(crate) mod ledger;
pub mod partitions;
pub mod records;
pub mod retention;
mod rows;
pub mod scheduled;
mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mutt_query::{Conn, Value};

pub use db::Database;
pub use files::Manifest;
pub use import::Imported;
pub use ledger::Entry;
pub use verify::{verify, Verdict};

use crate::config::ArchiverSection;
use crate::store::schema;

/// Messages read per query while exporting.
const READ_CHUNK: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Query(#[from] mutt_query::QueryError),
    #[error("{0}")]
    Pg(#[from] crate::store::postgres::PgError),
    #[error(
        "{0}: another `mutt archive` or a collector's archiver is archiving this database; \
         nothing was done, try again when it has finished"
    )]
    Busy(String),
    #[error("{target}: {what}")]
    SqliteOnly { target: String, what: &'static str },
    #[error("JSON: {0}")]
    Json(serde_json::Error),
    #[error("{}: another `mutt archive` is using this directory", .0.display())]
    Locked(PathBuf),
    #[error("message {id}: column {column} is not UTF-8 text; nothing was archived for it")]
    NotUtf8 { id: String, column: String },
    #[error(
        "{}: the WAL directory is locked: `mutt run` is running; stop it first",
        .0.display()
    )]
    DaemonRunning(PathBuf),
    #[error(
        "{}: does not match its manifest ({}); nothing imported",
        .path.display(),
        .problems.join("; ")
    )]
    NotAsManifested {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{}: line {line}: {reason}", .path.display())]
    BadArchive {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// Messages of one type waiting for archiving (dry run), or archived by this run.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub message_type: String,
    pub rows: u64,
    pub first_received_at: String,
    pub last_received_at: String,
}

/// Which messages a run takes: received before `received_before` (ISO 8601 UTC, compared as
/// text with `received_at`) and with an id below `id_below`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoff {
    pub received_before: String,
    pub id_below: String,
}

/// Above every message id: text compares as UTF-8 bytes, and U+10FFFF's lead byte (0xF4) is
/// above any ASCII.
const ID_MAX: &str = "\u{10FFFF}";
/// After every `received_at`.
const TIME_MAX: &str = "9999-12-31T23:59:59.999999Z";

impl Cutoff {
    /// Every message received before `unix_us`.
    pub fn received_before_us(unix_us: i64) -> Cutoff {
        // Ids of messages received in `unix_us`'s own millisecond are below the next one's floor.
        let next_ms = unix_us.div_euclid(1_000).saturating_add(1).max(0) as u64;
        Cutoff {
            received_before: crate::timefmt::iso8601_us(unix_us),
            id_below: id_floor(next_ms),
        }
    }

    /// Every message whose id is below `id`, whenever it was received.
    pub fn ids_below(id: String) -> Cutoff {
        Cutoff {
            received_before: TIME_MAX.to_string(),
            id_below: id,
        }
    }

    /// Every message.
    pub fn all() -> Cutoff {
        Cutoff::ids_below(ID_MAX.to_string())
    }
}

/// The smallest UUIDv7 (as stored: lowercase, hyphenated) of the millisecond `unix_ms`: its
/// 48-bit time, every other bit zero. Every id made in an earlier millisecond sorts below it.
pub fn id_floor(unix_ms: u64) -> String {
    let ms = unix_ms & 0xFFFF_FFFF_FFFF;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xFFFF
    )
}

/// What one run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Temporary files of an earlier, interrupted run, removed.
    pub removed_temps: Vec<PathBuf>,
    /// Archive files no `archives` row named (an interrupted run), removed.
    pub removed_unrecorded: Vec<String>,
    /// Files no `archives` row names whose messages are not in this database: left alone.
    pub foreign: Vec<String>,
    /// Recorded archives whose messages were still being deleted, and how many were left.
    pub finished: Vec<(String, usize)>,
    /// Recorded archives still being deleted whose file is not in this directory (another
    /// collector's, on a shared PostgreSQL): left to the archiver that has it.
    pub elsewhere: Vec<String>,
    /// The archives written by this run.
    pub written: Vec<Manifest>,
    /// PostgreSQL partitions of the coming periods made by this run.
    pub created_partitions: Vec<String>,
    /// PostgreSQL partitions archived and dropped by this run, and their messages.
    pub dropped_partitions: Vec<(String, u64)>,
    /// Partitions old enough to drop but kept: (name, rows found, rows archived from its period).
    /// A collector stored a late message into it; its archived messages were deleted by id.
    pub kept_partitions: Vec<(String, u64, u64)>,
    /// Asked to stop before the end: what is recorded and not yet deleted is finished by the
    /// next run.
    pub stopped: bool,
}

/// Where a run asks whether to stop: before a read, which never holds up the collector's writer
/// (the database is in WAL mode), or after a write transaction, which did. The daemon's
/// archiver rests after each write so that a writer waiting for the lock gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Between {
    Reads,
    Writes,
}

/// Asked between chunks whether to stop (the daemon's shutdown); `&|_| false` never stops.
pub type StopCheck<'a> = &'a dyn Fn(Between) -> bool;

/// Where and how to archive, from `storage.archiver`, checked.
pub struct Target<'a> {
    pub dir: &'a Path,
    pub format: records::Format,
    /// zstd (`.jsonl.zst`): the issue measured 125 MB of JSON lines to 11.4 MB in 0.66 s at
    /// level 3, against gzip -6's 15.6 MB in 2.7 s.
    pub compress: bool,
}

impl<'a> Target<'a> {
    pub fn from_config(section: &'a ArchiverSection) -> Target<'a> {
        Target {
            dir: &section.path,
            format: section.format,
            compress: section.compress,
        }
    }
}

/// What a run with this cutoff would archive: per type, rows and time range. Reads only.
pub fn plan(db: &Database, cutoff: &str) -> Result<Vec<Span>, ArchiveError> {
    let mut conn = db.open_read_only()?;
    let mut spans = Vec::new();
    conn.for_each(
        "SELECT type, COUNT(*), MIN(received_at), MAX(received_at) FROM messages \
         WHERE received_at < ?1 GROUP BY type ORDER BY type",
        &[Value::from(cutoff)],
        |r| {
            spans.push(Span {
                message_type: r.get(0)?,
                rows: r.get::<i64>(1)?.max(0) as u64,
                first_received_at: r.get(2)?,
                last_received_at: r.get(3)?,
            });
            Ok(std::ops::ControlFlow::Continue(()))
        },
    )?;
    Ok(spans)
}

/// Store the messages of archive files again (`mutt archive import`): all or nothing.
pub fn import_files(db: &Database, paths: &[&Path]) -> Result<Imported, ArchiveError> {
    import::import(&mut db.open()?, paths)
}

/// Every archive the database records (`mutt archive list`). Changes nothing but an older
/// schema, brought to this one as `mutt run` would.
pub fn list(db: &Database) -> Result<Vec<Entry>, ArchiveError> {
    ledger::list(&mut db.open()?)
}

/// The database to check archive files against: `None` when the SQLite file does not exist
/// (verify works on files alone), else brought to this schema as `mutt run` would.
pub fn open_for_verify(db: &Database) -> Result<Option<Conn>, ArchiveError> {
    if !db.exists() {
        return Ok(None);
    }
    Ok(Some(db.open()?))
}

/// Archive every message `cutoff` takes. `stop` is asked between chunks: a stopped run leaves
/// what a crash at that point would, which the next run repairs. On a partitioned PostgreSQL
/// `messages`, the partitions of the next periods are made first (`partitions`).
pub fn run(
    db: &Database,
    target: &Target<'_>,
    cutoff: &Cutoff,
    stop: StopCheck<'_>,
) -> Result<Report, ArchiveError> {
    let mut conn = db.open()?;
    let created = partitions::ensure_ahead(&mut conn, db.partition(), crate::timefmt::now_us())?;
    let mut report = run_on(&mut conn, target, cutoff, stop)?;
    report.created_partitions = created;
    Ok(report)
}

/// [`run`] on an open connection, its schema current: under the directory's lock and, on
/// PostgreSQL, the database's advisory lock ([`db::lock_run`]), so that two archivers never
/// export the same messages.
pub fn run_on(
    conn: &mut Conn,
    target: &Target<'_>,
    cutoff: &Cutoff,
    stop: StopCheck<'_>,
) -> Result<Report, ArchiveError> {
    let _lock = files::lock(target.dir)?;
    db::lock_run(conn)?;
    let result = run_locked(conn, target, cutoff, stop);
    let unlocked = db::unlock_run(conn);
    let report = result?;
    unlocked?;
    Ok(report)
}

fn run_locked(
    conn: &mut Conn,
    target: &Target<'_>,
    cutoff: &Cutoff,
    stop: StopCheck<'_>,
) -> Result<Report, ArchiveError> {
    let dir = target.dir;
    let mut report = Report::default();
    repair(conn, dir, &mut report, stop)?;
    let retiring = partitions::retirable(conn, &cutoff.received_before)?;
    if !retiring.is_empty() && !report.stopped {
        retire(conn, target, &retiring, stop, &mut report)?;
    }
    for (_, kind, typed) in schema::VIEWS {
        if report.stopped || stop(Between::Reads) {
            report.stopped = true;
            break;
        }
        let layout = rows::Layout::new(conn, typed)?;
        let mut days = BTreeMap::new();
        let Some(manifest) = export(conn, target, &layout, kind, cutoff, stop, &mut days)? else {
            continue;
        };
        ledger::record(conn, &manifest, &now())?;
        report.stopped = delete_archived(conn, dir, &manifest.file, stop)?.is_none();
        report.written.push(manifest);
    }
    Ok(report)
}

fn now() -> String {
    crate::timefmt::iso8601_us(crate::timefmt::now_us())
}

/// Archive the messages of whole partitions older than the cutoff, then drop the partitions
/// instead of deleting their rows. The order is the row-by-row run's: every type's file
/// durable and its `archives` row committed, then the drop, then `deleted_at`. A partition
/// whose row count is not the count exported from its period (a collector stored a late
/// message into it meanwhile) is kept, and the archived messages are deleted by id as usual:
/// the late message stays for the next run. A crash before `deleted_at` leaves archives the
/// next run's repair finishes by id (the ids of a dropped partition are simply gone).
fn retire(
    conn: &mut Conn,
    target: &Target<'_>,
    retiring: &[partitions::Part],
    stop: StopCheck<'_>,
    report: &mut Report,
) -> Result<(), ArchiveError> {
    let Some(bound) = retiring.iter().map(|p| p.to_us).max() else {
        return Ok(());
    };
    let by_partition = Cutoff::received_before_us(bound);
    let mut days = BTreeMap::new();
    let mut written = Vec::new();
    for (_, kind, typed) in schema::VIEWS {
        if stop(Between::Reads) {
            report.stopped = true;
            break;
        }
        let layout = rows::Layout::new(conn, typed)?;
        if let Some(m) = export(conn, target, &layout, kind, &by_partition, stop, &mut days)? {
            ledger::record(conn, &m, &now())?;
            written.push(m);
        }
    }
    if report.stopped || stop(Between::Reads) {
        // Recorded, not deleted: the next run's repair deletes them by id.
        report.stopped = true;
        report.written.extend(written);
        return Ok(());
    }
    let dropped = partitions::drop_archived(conn, retiring, &days)?;
    let in_files: u64 = written.iter().map(|m| m.rows).sum();
    let in_dropped: u64 = dropped.dropped.iter().map(|(_, rows)| rows).sum();
    report.dropped_partitions.extend(dropped.dropped);
    report.kept_partitions.extend(dropped.kept);
    for m in written {
        if in_dropped == in_files {
            ledger::mark_deleted(conn, &m.file, &now())?;
        } else if delete_archived(conn, target.dir, &m.file, stop)?.is_none() {
            report.stopped = true;
        }
        report.written.push(m);
        if report.stopped {
            break;
        }
    }
    Ok(())
}

/// Undo or finish what an interrupted run left (see the module doc).
fn repair(
    conn: &mut Conn,
    dir: &Path,
    report: &mut Report,
    stop: StopCheck<'_>,
) -> Result<(), ArchiveError> {
    let listing = files::list(dir)?;
    for temp in listing.temps {
        std::fs::remove_file(&temp).map_err(|source| ArchiveError::Io {
            path: temp.clone(),
            source,
        })?;
        report.removed_temps.push(temp);
    }
    for name in listing.archives {
        if ledger::is_recorded(conn, &name)? {
            continue;
        }
        // Ours only if its first message is still here (nothing is deleted before recording);
        // a file another database's run wrote to the same directory, or one copied in, is not.
        match files::first_id(dir, &name)? {
            Some(id) if ledger::is_stored(conn, &id)? => {
                files::remove_archive(dir, &name)?;
                report.removed_unrecorded.push(name);
            }
            _ => report.foreign.push(name),
        }
    }
    files::sync_dir(dir)?;
    for name in ledger::pending(conn)? {
        if !dir.join(&name).exists() {
            // Another collector's archiver wrote it to its own directory (a shared
            // PostgreSQL): only the file says which messages to delete, so that one finishes it.
            report.elsewhere.push(name);
            continue;
        }
        match delete_archived(conn, dir, &name, stop)? {
            Some(deleted) => report.finished.push((name, deleted)),
            None => {
                report.stopped = true;
                break;
            }
        }
    }
    Ok(())
}

/// Write one type's messages before `cutoff` to a new archive file; `None` when there are none.
/// `days` counts the messages written per UTC day of `received_at` (`YYYY-MM-DD`), which
/// tells a partition's drop whether the file holds all of it.
fn export(
    conn: &mut Conn,
    target: &Target<'_>,
    layout: &rows::Layout,
    kind: &str,
    cutoff: &Cutoff,
    stop: StopCheck<'_>,
    days: &mut BTreeMap<String, u64>,
) -> Result<Option<Manifest>, ArchiveError> {
    let mut temp: Option<files::TempFile> = None;
    let (mut first, mut last) = (None::<(String, String)>, None::<(String, String)>);
    let mut rows = 0u64;
    let mut after = String::new();
    let mut csv = Vec::new();
    loop {
        if stop(Between::Reads) {
            // Nothing recorded, nothing deleted: the temporary file goes, as a crash's would.
            if let Some(file) = temp {
                file.abandon();
            }
            return Ok(None);
        }
        let chunk = layout.chunk(conn, kind, cutoff, &after, READ_CHUNK)?;
        let Some(tail) = chunk.last() else { break };
        after = text_field(tail, "id");
        let file = match temp.as_mut() {
            Some(f) => f,
            None => temp.insert(files::TempFile::create(
                target.dir,
                kind,
                target.format,
                target.compress,
            )?),
        };
        for object in &chunk {
            let key = (text_field(object, "id"), text_field(object, "received_at"));
            if let Some(day) = key.1.get(..10) {
                *days.entry(day.to_string()).or_default() += 1;
            }
            first.get_or_insert_with(|| key.clone());
            last = Some(key);
            if target.format == records::Format::Jsonl {
                let line = serde_json::to_vec(object).map_err(ArchiveError::Json)?;
                file.write_line(&line)?;
            }
        }
        if target.format == records::Format::Csv {
            csv.clear();
            let keys = layout.keys();
            records::write_csv_rows(&mut csv, &keys, chunk.iter(), rows == 0).map_err(
                |reason| ArchiveError::BadArchive {
                    path: target.dir.to_path_buf(),
                    line: 0,
                    reason,
                },
            )?;
            file.write_raw(&csv)?;
        }
        rows += chunk.len() as u64;
    }
    let (Some(file), Some(first), Some(last)) = (temp, first, last) else {
        return Ok(None);
    };
    let (temp_path, size_bytes, sha256) = file.finish()?;
    let mut manifest = Manifest {
        file: String::new(),
        format: target.format.name().into(),
        compression: if target.compress { "zstd" } else { "none" }.into(),
        raw_bytes_encoding: "hex".into(),
        message_type: kind.to_string(),
        rows,
        size_bytes,
        sha256,
        first_received_at: first.1,
        last_received_at: last.1,
        first_id: first.0,
        last_id: last.0,
    };
    let stem = format!(
        "{kind}-{}-{}",
        files::compact_time(&manifest.first_received_at),
        files::compact_time(&manifest.last_received_at)
    );
    files::publish(target.dir, &temp_path, &stem, &mut manifest)?;
    Ok(Some(manifest))
}

fn text_field(object: &serde_json::Map<String, serde_json::Value>, key: &str) -> String {
    object
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// Delete the messages a recorded archive file holds, in chunks, then mark it done. Returns how
/// many were still in the database; `None` when `stop` said to stop first (the archive stays
/// unfinished, and the next run finishes it).
fn delete_archived(
    conn: &mut Conn,
    dir: &Path,
    name: &str,
    stop: StopCheck<'_>,
) -> Result<Option<usize>, ArchiveError> {
    let path = dir.join(name);
    let mut ids = Vec::with_capacity(ledger::DELETE_CHUNK);
    let mut deleted = 0;
    for record in records::open(&path)? {
        let bad = |line: usize, reason: String| ArchiveError::BadArchive {
            path: path.clone(),
            line,
            reason,
        };
        let record = record.map_err(|b| bad(b.line, b.reason))?;
        match record.fields.get("id").and_then(|v| v.as_str()) {
            Some(id) => ids.push(id.to_string()),
            None => return Err(bad(record.line, "no \"id\" text".into())),
        }
        if ids.len() == ledger::DELETE_CHUNK {
            if stop(Between::Writes) {
                return Ok(None);
            }
            deleted += ledger::delete_chunk(conn, &ids)?;
            ids.clear();
        }
    }
    deleted += ledger::delete_chunk(conn, &ids)?;
    ledger::prune_blocks(conn)?;
    ledger::mark_deleted(conn, name, &now())?;
    Ok(Some(deleted))
}

/// Why `mutt archive vacuum` does nothing on PostgreSQL.
pub const VACUUM_IS_SQLITES: &str = "`mutt archive vacuum` gives a SQLite file's free pages \
     back to the file system; PostgreSQL's autovacuum makes the space of archived messages \
     reusable on its own, and a dropped partition's is given back at once";

/// What `mutt archive vacuum` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Vacuumed {
    /// `PRAGMA auto_vacuum` before: 0 none, 1 full, 2 incremental.
    pub mode_before: i64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub seconds: f64,
}

/// Give a database's free pages back to the file system, with the daemon stopped (the caller
/// holds the WAL lock). A file made before `auto_vacuum = INCREMENTAL` was the default is
/// switched to it, which takes one full `VACUUM`: SQLite rewrites the whole file, and needs
/// about its size again in free disk space while it does. A file already incremental gives
/// back every free page at once.
pub fn vacuum(db: &Database) -> Result<Vacuumed, ArchiveError> {
    let Database::Sqlite { path, busy } = db else {
        return Err(ArchiveError::SqliteOnly {
            target: db.describe(),
            what: VACUUM_IS_SQLITES,
        });
    };
    let started = std::time::Instant::now();
    let mut raw = db::open_existing(path)?;
    raw.busy_timeout(*busy)?;
    schema::migrate(&mut raw)?;
    let mut conn = Conn::sqlite(raw);
    let mode_before: i64 = conn
        .first("PRAGMA auto_vacuum", &[], |r| r.get(0))?
        .unwrap_or(0);
    let bytes_before = scheduled::db_size(&mut conn)?.file_bytes;
    if mode_before == 2 {
        scheduled::vacuum_steps(&mut conn, &|_| false)?;
    } else {
        conn.batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")?;
    }
    // The file itself shrinks when the SQLite WAL is copied back into it.
    conn.batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    Ok(Vacuumed {
        mode_before,
        bytes_before,
        bytes_after: scheduled::db_size(&mut conn)?.file_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `7d`, `12h`, `30m`, `45s` as microseconds; `None` for anything else.
pub fn parse_age_us(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(secs)?
        .checked_mul(1_000_000)
        .filter(|us| *us >= 0)
}

/// Use a row count and a range as the manifest does: for `plan`'s callers.
pub fn span_of(m: &Manifest) -> Span {
    Span {
        message_type: m.message_type.clone(),
        rows: m.rows,
        first_received_at: m.first_received_at.clone(),
        last_received_at: m.last_received_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::SYSLOG_COLUMNS as SYSLOG_TYPED;
    use rusqlite::Connection;
    use std::time::Duration;

    fn sqlite(db: &Path) -> Database {
        Database::Sqlite {
            path: db.to_path_buf(),
            busy: BUSY,
        }
    }

    fn open(db: &Path) -> Conn {
        Conn::sqlite(Connection::open(db).expect("open"))
    }

    fn cutoff() -> Cutoff {
        Cutoff::received_before_us(
            crate::timefmt::parse_rfc3339_us("2027-01-01T00:00:00Z").expect("time"),
        )
    }

    /// The `i`th test message's id: UUIDv7-shaped, in the first millisecond of 1970.
    fn id(i: usize) -> String {
        format!("00000000-0000-7000-8000-{i:012}")
    }
    const BUSY: Duration = Duration::from_secs(5);

    /// A database holding `n` syslog messages, and an archive directory beside it.
    fn setup(n: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("messages.db");
        let mut conn = Connection::open(&db).expect("open");
        schema::migrate(&mut conn).expect("schema");
        for i in 0..n {
            conn.execute(
                "INSERT INTO messages (id, type, source_ip, timestamp, received_at) \
                 VALUES (?1, 'syslog', '10.0.0.1', ?2, ?2)",
                rusqlite::params![id(i), format!("2026-01-01T00:00:{:02}.000000Z", i % 60)],
            )
            .expect("insert");
        }
        let archives = dir.path().join("archives");
        std::fs::create_dir_all(&archives).expect("archive dir");
        (dir, db, archives)
    }

    fn stored(db: &Path) -> i64 {
        Connection::open(db)
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0)))
            .expect("count")
    }

    fn archived_rows(db: &Path) -> i64 {
        Connection::open(db)
            .and_then(|c| {
                c.query_row(
                    "SELECT COALESCE(SUM(message_count), 0) FROM archives",
                    [],
                    |r| r.get(0),
                )
            })
            .expect("sum")
    }

    #[test]
    fn a_file_published_but_never_recorded_is_removed_and_its_messages_archived_once() {
        let (_dir, db, archives) = setup(10);
        let mut conn = open(&db);
        let layout = rows::Layout::new(&mut conn, SYSLOG_TYPED).expect("layout");
        let crashed = export(
            &mut conn,
            &Target {
                dir: &archives,
                format: records::Format::Jsonl,
                compress: false,
            },
            &layout,
            "syslog",
            &cutoff(),
            &|_| false,
            &mut BTreeMap::new(),
        )
        .expect("export")
        .expect("a file");
        drop(conn);
        let report = run(
            &sqlite(&db),
            &Target {
                dir: &archives,
                format: records::Format::Jsonl,
                compress: false,
            },
            &cutoff(),
            &|_| false,
        )
        .expect("rerun");
        assert_eq!(report.removed_unrecorded, vec![crashed.file.clone()]);
        assert_eq!(report.written.len(), 1);
        assert_eq!(
            report.written[0].file, crashed.file,
            "the name is free again"
        );
        assert_eq!(stored(&db), 0);
        assert_eq!(archived_rows(&db), 10);
    }

    #[test]
    fn a_file_no_row_names_whose_messages_are_not_here_is_left_alone() {
        let (_dir, db, archives) = setup(3);
        let foreign = archives.join("syslog-a-b.jsonl");
        std::fs::write(&foreign, b"{\"id\":\"elsewhere\"}\n").expect("write");
        let target = Target {
            dir: &archives,
            format: records::Format::Jsonl,
            compress: false,
        };
        let report = run(&sqlite(&db), &target, &cutoff(), &|_| false).expect("run");
        assert_eq!(report.foreign, vec!["syslog-a-b.jsonl".to_string()]);
        assert!(report.removed_unrecorded.is_empty());
        assert_eq!(
            std::fs::read(&foreign).expect("still there"),
            b"{\"id\":\"elsewhere\"}\n"
        );
        assert_eq!(stored(&db), 0);
        assert_eq!(archived_rows(&db), 3);
    }

    #[test]
    fn a_database_that_is_not_there_is_an_error_and_is_not_created() {
        let (dir, _db, archives) = setup(0);
        let missing = dir.path().join("nowhere.db");
        let target = Target {
            dir: &archives,
            format: records::Format::Jsonl,
            compress: false,
        };
        assert!(run(&sqlite(&missing), &target, &cutoff(), &|_| false).is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn a_run_killed_among_its_deletes_is_finished_by_the_next() {
        let (_dir, db, archives) = setup(5_000);
        let mut conn = open(&db);
        let layout = rows::Layout::new(&mut conn, SYSLOG_TYPED).expect("layout");
        let m = export(
            &mut conn,
            &Target {
                dir: &archives,
                format: records::Format::Jsonl,
                compress: false,
            },
            &layout,
            "syslog",
            &cutoff(),
            &|_| false,
            &mut BTreeMap::new(),
        )
        .expect("export")
        .expect("a file");
        ledger::record(&mut conn, &m, "2026-06-01T00:00:00.000000Z").expect("record");
        let first: Vec<String> = (0..ledger::DELETE_CHUNK).map(id).collect();
        ledger::delete_chunk(&mut conn, &first).expect("one chunk");
        drop(conn);
        let report = run(
            &sqlite(&db),
            &Target {
                dir: &archives,
                format: records::Format::Jsonl,
                compress: false,
            },
            &cutoff(),
            &|_| false,
        )
        .expect("rerun");
        assert_eq!(
            report.finished,
            [(m.file.clone(), 5_000 - ledger::DELETE_CHUNK)]
        );
        assert!(report.written.is_empty(), "nothing archived twice");
        assert_eq!(stored(&db), 0);
        assert_eq!(archived_rows(&db), 5_000);
    }

    #[test]
    fn an_unwritable_archive_directory_stops_the_run_and_deletes_nothing() {
        let (_dir, db, archives) = setup(10);
        let not_a_dir = archives.join("file");
        std::fs::write(&not_a_dir, b"").expect("a file");
        let err = run(
            &sqlite(&db),
            &Target {
                dir: &not_a_dir,
                format: records::Format::Jsonl,
                compress: false,
            },
            &cutoff(),
            &|_| false,
        )
        .expect_err("must fail");
        assert!(matches!(err, ArchiveError::Io { .. }), "{err}");
        assert_eq!(stored(&db), 10);
        assert_eq!(archived_rows(&db), 0);
    }

    #[test]
    fn an_age_takes_seconds_minutes_hours_and_days() {
        assert_eq!(parse_age_us("7d"), Some(7 * 86_400 * 1_000_000));
        assert_eq!(parse_age_us("90s"), Some(90_000_000));
        assert_eq!(parse_age_us("7"), None);
        assert_eq!(parse_age_us("-1d"), None);
        assert_eq!(parse_age_us("d"), None);
    }
}
