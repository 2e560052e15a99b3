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
//! One run, under an exclusive lock on the directory, for each type:
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

pub mod cli;
mod files;
mod import;
mod ledger;
pub mod records;
pub mod retention;
mod rows;
pub mod scheduled;
mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

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
    /// The archives written by this run.
    pub written: Vec<Manifest>,
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
pub fn plan(db: &Path, cutoff: &str, busy: Duration) -> Result<Vec<Span>, ArchiveError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(busy)?;
    let mut stmt = conn.prepare(
        "SELECT type, COUNT(*), MIN(received_at), MAX(received_at) FROM messages \
         WHERE received_at < ?1 GROUP BY type ORDER BY type",
    )?;
    let spans = stmt.query_map([cutoff], |r| {
        Ok(Span {
            message_type: r.get(0)?,
            rows: r.get::<_, i64>(1)? as u64,
            first_received_at: r.get(2)?,
            last_received_at: r.get(3)?,
        })
    })?;
    Ok(spans.collect::<Result<_, _>>()?)
}

/// Open the database for writing, never creating it: a wrong path is an error, not a new
/// empty file.
fn open_existing(db: &Path) -> Result<Connection, ArchiveError> {
    let flags = OpenFlags::default().difference(OpenFlags::SQLITE_OPEN_CREATE);
    Ok(Connection::open_with_flags(db, flags)?)
}

/// Store the messages of archive files again (`mutt archive import`): all or nothing.
pub fn import_files(db: &Path, paths: &[&Path], busy: Duration) -> Result<Imported, ArchiveError> {
    let mut conn = open_existing(db)?;
    conn.busy_timeout(busy)?;
    schema::migrate(&mut conn)?;
    import::import(&mut conn, paths)
}

/// Every archive the database records (`mutt archive list`). Changes nothing but an older
/// schema, brought to this one as `mutt run` would.
pub fn list(db: &Path, busy: Duration) -> Result<Vec<Entry>, ArchiveError> {
    let mut conn = open_existing(db)?;
    conn.busy_timeout(busy)?;
    schema::migrate(&mut conn)?;
    ledger::list(&conn)
}

/// The database to check archive files against: `None` when the file does not exist (verify
/// works on files alone), else brought to this schema as `mutt run` would.
pub fn open_for_verify(db: &Path, busy: Duration) -> Result<Option<Connection>, ArchiveError> {
    if !db.exists() {
        return Ok(None);
    }
    let mut conn = open_existing(db)?;
    conn.busy_timeout(busy)?;
    schema::migrate(&mut conn)?;
    Ok(Some(conn))
}

/// Archive every message `cutoff` takes. `stop` is asked between chunks: a stopped run leaves
/// what a crash at that point would, which the next run repairs.
pub fn run(
    db: &Path,
    target: &Target<'_>,
    cutoff: &Cutoff,
    busy: Duration,
    stop: StopCheck<'_>,
) -> Result<Report, ArchiveError> {
    let mut conn = open_existing(db)?;
    conn.busy_timeout(busy)?;
    run_on(&mut conn, target, cutoff, stop)
}

/// [`run`] on an open connection.
pub fn run_on(
    conn: &mut Connection,
    target: &Target<'_>,
    cutoff: &Cutoff,
    stop: StopCheck<'_>,
) -> Result<Report, ArchiveError> {
    let dir = target.dir;
    let _lock = files::lock(dir)?;
    schema::migrate(conn)?;
    let mut report = Report::default();
    repair(conn, dir, &mut report, stop)?;
    for (_, kind, typed) in schema::VIEWS {
        if report.stopped || stop(Between::Reads) {
            report.stopped = true;
            break;
        }
        let layout = rows::Layout::new(conn, typed)?;
        let Some(manifest) = export(conn, target, &layout, kind, cutoff, stop)? else {
            continue;
        };
        ledger::record(
            conn,
            &manifest,
            &crate::timefmt::iso8601_us(crate::timefmt::now_us()),
        )?;
        report.stopped = delete_archived(conn, dir, &manifest.file, stop)?.is_none();
        report.written.push(manifest);
    }
    Ok(report)
}

/// Undo or finish what an interrupted run left (see the module doc).
fn repair(
    conn: &mut Connection,
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
fn export(
    conn: &Connection,
    target: &Target<'_>,
    layout: &rows::Layout,
    kind: &str,
    cutoff: &Cutoff,
    stop: StopCheck<'_>,
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
    conn: &mut Connection,
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
    ledger::mark_deleted(
        conn,
        name,
        &crate::timefmt::iso8601_us(crate::timefmt::now_us()),
    )?;
    Ok(Some(deleted))
}

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
pub fn vacuum(db: &Path, busy: Duration) -> Result<Vacuumed, ArchiveError> {
    let started = std::time::Instant::now();
    let mut conn = open_existing(db)?;
    conn.busy_timeout(busy)?;
    schema::migrate(&mut conn)?;
    let bytes = |conn: &Connection| -> Result<u64, ArchiveError> {
        let size = scheduled::db_size(conn)?;
        Ok(size.file_bytes)
    };
    let mode_before: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    let bytes_before = bytes(&conn)?;
    if mode_before == 2 {
        scheduled::vacuum_steps(&conn, &|_| false)?;
    } else {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.execute_batch("VACUUM")?;
    }
    // The file itself shrinks when the SQLite WAL is copied back into it.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    Ok(Vacuumed {
        mode_before,
        bytes_before,
        bytes_after: bytes(&conn)?,
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
        let conn = Connection::open(&db).expect("open");
        let layout = rows::Layout::new(&conn, SYSLOG_TYPED).expect("layout");
        let crashed = export(
            &conn,
            &Target {
                dir: &archives,
                format: records::Format::Jsonl,
                compress: false,
            },
            &layout,
            "syslog",
            &cutoff(),
            &|_| false,
        )
        .expect("export")
        .expect("a file");
        drop(conn);
        let report = run(
            &db,
            &Target {
                dir: &archives,
                format: records::Format::Jsonl,
                compress: false,
            },
            &cutoff(),
            BUSY,
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
        let report = run(&db, &target, &cutoff(), BUSY, &|_| false).expect("run");
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
        assert!(run(&missing, &target, &cutoff(), BUSY, &|_| false).is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn a_run_killed_among_its_deletes_is_finished_by_the_next() {
        let (_dir, db, archives) = setup(5_000);
        let mut conn = Connection::open(&db).expect("open");
        let layout = rows::Layout::new(&conn, SYSLOG_TYPED).expect("layout");
        let m = export(
            &conn,
            &Target {
                dir: &archives,
                format: records::Format::Jsonl,
                compress: false,
            },
            &layout,
            "syslog",
            &cutoff(),
            &|_| false,
        )
        .expect("export")
        .expect("a file");
        ledger::record(&conn, &m, "2026-06-01T00:00:00.000000Z").expect("record");
        let first: Vec<String> = (0..ledger::DELETE_CHUNK).map(id).collect();
        ledger::delete_chunk(&mut conn, &first).expect("one chunk");
        drop(conn);
        let report = run(
            &db,
            &Target {
                dir: &archives,
                format: records::Format::Jsonl,
                compress: false,
            },
            &cutoff(),
            BUSY,
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
            &db,
            &Target {
                dir: &not_a_dir,
                format: records::Format::Jsonl,
                compress: false,
            },
            &cutoff(),
            BUSY,
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
