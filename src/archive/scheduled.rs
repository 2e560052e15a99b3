//! The daemon's archiver: every `storage.archiver.check_interval_minutes` (and once at start)
//! it archives the messages older than `time_threshold_days`, then, while the database holds
//! more than `size_threshold_mb`, the oldest messages until it would hold about 80% of it; then
//! it gives the freed pages back to the file system in small steps and applies the retention of
//! archive files. Each check is [`super::run`]: the same files, the same exactly-once repair.
//!
//! On PostgreSQL (`storage.backend: postgresql`) the same check runs through the same
//! statements, less what is SQLite's alone: the size threshold (page counts; PostgreSQL's files
//! do not shrink when rows are deleted, so its size would stay over a threshold after the run
//! meant to bring it under) and the vacuum steps (PostgreSQL's autovacuum reuses the space). A partitioned `messages` gets its
//! partitions made ahead at each check, and loses whole partitions once archived
//! (`partitions`). Collectors that share the database take turns: a check that finds another
//! archiver running (its advisory lock) passes, and the next check tries again.
//!
//! The thread waits on its stop channel with a timeout, so the daemon's stop wakes it at once;
//! a check in progress is asked between chunks and leaves what a crash there would (the next
//! check finishes it). It has its own connection: each delete chunk and each vacuum step is a
//! short write transaction, so the collector's writer waits for at most one of them.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use mutt_query::{Conn, Dialect, Value};
use tracing::{debug, error, info, warn};

use super::{ArchiveError, Between, Cutoff, Database, Report, Target};
use crate::config::ArchiverSection;
use crate::metrics::Metrics;

/// The daemon stops the archiver by dropping the other end; nothing is ever sent on it.
pub type Stop = Receiver<Infallible>;

/// Under this share of `size_threshold_mb` after a size-triggered run, so that the next few
/// minutes of messages do not trigger the next check again.
const SIZE_TARGET_PERCENT: u64 = 80;
/// The least and most the check rests after a write transaction. SQLite's busy handler sleeps
/// 1, 2, 5, … up to 100 ms between a waiting writer's tries: a rest shorter than its current
/// sleep can pass unseen.
const REST_MIN: Duration = Duration::from_millis(20);
const REST_MAX: Duration = Duration::from_millis(100);
/// Size-triggered runs per check at most.
const SIZE_RUNS: usize = 3;
/// Pages given back to the file system per `PRAGMA incremental_vacuum` transaction (4 MiB of
/// 16 KiB pages).
const VACUUM_STEP_PAGES: u64 = 256;

fn stopped(stop: &Stop) -> bool {
    matches!(stop.try_recv(), Err(TryRecvError::Disconnected))
}

/// The thread's body: check at start, then every interval, until `stop`'s sender is dropped.
pub fn run(db: &Database, section: &ArchiverSection, metrics: &Metrics, stop: &Stop) {
    let interval = Duration::from_secs(section.check_interval_minutes.max(1) * 60);
    info!(
        path = %section.path.display(),
        every_minutes = section.check_interval_minutes,
        time_threshold_days = section.time_threshold_days,
        size_threshold_mb = section.size_threshold_mb,
        db = %db.describe(),
        "archiver started"
    );
    if db.sqlite_path().is_none() {
        info!(
            size_threshold_mb = section.size_threshold_mb,
            "archiver: size_threshold_mb applies to a SQLite file; on PostgreSQL messages are \
             archived by time_threshold_days"
        );
    }
    loop {
        if stopped(stop) {
            return;
        }
        check(db, section, metrics, stop);
        match stop.recv_timeout(interval) {
            Ok(never) => match never {},
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// What one check did, for its log line and the metrics.
#[derive(Debug, Default, PartialEq)]
pub struct CheckSummary {
    pub rows: u64,
    pub bytes: u64,
    pub files: usize,
    pub vacuumed_pages: u64,
    pub expired: usize,
    pub dead_letters_expired: u64,
    pub stopped: bool,
}

/// One check, counted and logged. Errors are logged and counted; the next check retries.
pub fn check(db: &Database, section: &ArchiverSection, metrics: &Metrics, stop: &Stop) {
    if !db.exists() {
        debug!(db = %db.describe(), "archiver: no database yet");
        return;
    }
    let started = Instant::now();
    // After each write transaction the check rests as long as it worked since the last rest
    // (within bounds), on the stop channel: a collector's commit waiting for the lock gets it,
    // and a stop is seen at once.
    let last_rest = std::cell::Cell::new(Instant::now());
    let control = |at: Between| -> bool {
        if at == Between::Reads {
            return stopped(stop);
        }
        let rest = last_rest.get().elapsed().clamp(REST_MIN, REST_MAX);
        let gone = matches!(stop.recv_timeout(rest), Err(RecvTimeoutError::Disconnected));
        last_rest.set(Instant::now());
        gone
    };
    match check_once(db, section, &control) {
        Ok(s) => {
            Metrics::add(&metrics.archive_runs, 1);
            Metrics::add(&metrics.archived_rows, s.rows);
            Metrics::add(&metrics.archived_bytes, s.bytes);
            Metrics::add(&metrics.archives_expired, s.expired as u64);
            Metrics::add(&metrics.dead_letters_expired, s.dead_letters_expired);
            metrics
                .archive_last_run
                .set((crate::timefmt::now_us() / 1_000_000).max(0) as u64);
            let log = if s.rows > 0 || s.expired > 0 || s.dead_letters_expired > 0 || s.stopped {
                tracing::Level::INFO
            } else {
                tracing::Level::DEBUG
            };
            if log == tracing::Level::INFO {
                info!(
                    rows = s.rows,
                    bytes = s.bytes,
                    files = s.files,
                    vacuumed_pages = s.vacuumed_pages,
                    expired_files = s.expired,
                    dead_letters_expired = s.dead_letters_expired,
                    stopped = s.stopped,
                    seconds = started.elapsed().as_secs_f64(),
                    "archiver: check done"
                );
            } else {
                debug!(
                    seconds = started.elapsed().as_secs_f64(),
                    "archiver: nothing to archive"
                );
            }
        }
        Err(ArchiveError::Busy(who)) => {
            info!(db = %who, "archiver: another archiver is archiving this database; this check passes");
        }
        Err(e) => {
            Metrics::add(&metrics.archive_failures, 1);
            error!(error = %e, "archiver: the check stopped; nothing unrecorded was deleted, the next check retries");
        }
    }
}

/// One check without the counting: time threshold, size threshold, vacuum, retention.
pub fn check_once(
    db: &Database,
    section: &ArchiverSection,
    stop: super::StopCheck<'_>,
) -> Result<CheckSummary, ArchiveError> {
    let target = Target::from_config(section);
    let mut conn = db.open()?;
    let mut summary = CheckSummary::default();
    match db {
        // As the collector's writer: in WAL mode a commit is durable in order, so a power cut
        // that loses a delete also loses every later one, never the archives row before them.
        Database::Sqlite { .. } => conn.batch("PRAGMA synchronous = NORMAL")?,
        Database::Postgres { partition, .. } => {
            for name in
                super::partitions::ensure_ahead(&mut conn, *partition, crate::timefmt::now_us())?
            {
                info!(partition = %name, "archiver: partition of messages created ahead");
            }
        }
    }
    let age_us = (section.time_threshold_days as i64).saturating_mul(86_400 * 1_000_000);
    let by_time = Cutoff::received_before_us(crate::timefmt::now_us().saturating_sub(age_us));
    add(
        &mut summary,
        super::run_on(&mut conn, &target, &by_time, stop)?,
    );
    let limit = section.size_threshold_mb.saturating_mul(1 << 20);
    let goal = limit / 100 * SIZE_TARGET_PERCENT;
    // The bytes a message frees are estimated from the average, and the B-trees free fewer
    // pages than rows' worth: a second or third run takes what the first left over the goal.
    let mut over = limit;
    for _ in 0..SIZE_RUNS {
        if summary.stopped || conn.dialect() != Dialect::Sqlite {
            break;
        }
        let Some(by_size) = size_cutoff(&mut conn, over, goal)? else {
            break;
        };
        info!(
            size_threshold_mb = section.size_threshold_mb,
            below_id = %by_size.id_below,
            "archiver: the database is over its size threshold; archiving its oldest messages"
        );
        let before = summary.rows;
        add(
            &mut summary,
            super::run_on(&mut conn, &target, &by_size, stop)?,
        );
        if summary.rows == before {
            break;
        }
        over = goal + goal / 20;
    }
    let now = crate::timefmt::now_us();
    if !summary.stopped {
        if let Some(days) = section.dead_letters_keep_days {
            summary.dead_letters_expired =
                super::retention::expire_dead_letters(&mut conn, days, now, stop)?;
        }
    }
    if !summary.stopped {
        summary.vacuumed_pages = vacuum_steps(&mut conn, stop)?;
    }
    if !summary.stopped {
        let expired = super::retention::expire_archives(
            &mut conn,
            &section.path,
            section.keep_days,
            section.max_total_mb,
            now,
        )?;
        for e in &expired {
            info!(
                file = %e.filename,
                bytes = e.size_bytes,
                reason = e.reason,
                "archiver: archive file deleted by retention; its archives row is kept, marked expired"
            );
        }
        summary.expired = expired.len();
    }
    Ok(summary)
}

fn add(summary: &mut CheckSummary, report: Report) {
    for m in &report.written {
        summary.rows += m.rows;
        summary.bytes += m.size_bytes;
    }
    summary.files += report.written.len();
    summary.stopped |= report.stopped;
    for (name, deleted) in &report.finished {
        info!(file = %name, deleted, "archiver: finished an interrupted archive's deletes");
    }
    for name in &report.removed_unrecorded {
        info!(file = %name, "archiver: removed a file an interrupted run never recorded");
    }
    for name in &report.foreign {
        warn!(file = %name, "archiver: left alone a file no archives row names whose messages are not in this database");
    }
    for name in &report.elsewhere {
        warn!(file = %name, "archiver: a recorded archive still being deleted is not in this directory; left to the archiver that wrote it");
    }
    for (name, rows) in &report.dropped_partitions {
        info!(partition = %name, rows, "archiver: partition archived and dropped");
    }
    for (name, found, archived) in &report.kept_partitions {
        info!(partition = %name, found, archived, "archiver: partition kept: it holds messages stored after its export; the next check takes them");
    }
}

/// The database's size as the archiver sees it: pages in use (the free list is reused, and
/// given back by the vacuum steps), and an estimate of the messages it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbSize {
    pub used_bytes: u64,
    pub file_bytes: u64,
    pub messages_estimate: u64,
}

/// Cheap: page counts, and the rowid span of `messages` (two B-tree descents). The rowid span
/// counts the messages exactly while deletes only take the oldest (the archiver's), and
/// over-counts after other deletes, which makes a run archive less, never more.
pub fn db_size(conn: &mut Conn) -> Result<DbSize, ArchiveError> {
    let mut pragma = |name: &str| -> Result<u64, ArchiveError> {
        Ok(conn
            .first(&format!("PRAGMA {name}"), &[], |r| r.get::<i64>(0))?
            .unwrap_or(0)
            .max(0) as u64)
    };
    let (page_size, pages, free) = (
        pragma("page_size")?,
        pragma("page_count")?,
        pragma("freelist_count")?,
    );
    let span: Option<i64> = conn
        .first(
            "SELECT MAX(rowid) - MIN(rowid) + 1 FROM messages",
            &[],
            |r| r.get(0),
        )?
        .flatten();
    Ok(DbSize {
        used_bytes: pages.saturating_sub(free) * page_size,
        file_bytes: pages * page_size,
        messages_estimate: span.unwrap_or(0).max(0) as u64,
    })
}

/// When the pages in use exceed `limit` bytes: the bound below which the oldest messages are
/// archived to bring them to `target` bytes, from the bytes per message. `None` when under the
/// limit (or no messages).
pub fn size_cutoff(
    conn: &mut Conn,
    limit: u64,
    target: u64,
) -> Result<Option<Cutoff>, ArchiveError> {
    let size = db_size(conn)?;
    if size.used_bytes <= limit || size.messages_estimate == 0 {
        return Ok(None);
    }
    let per_message = (size.used_bytes / size.messages_estimate).max(1);
    let excess = size.used_bytes.saturating_sub(target);
    let n = excess.div_ceil(per_message);
    // Walks the id index over the `n` messages this run reads anyway.
    let bound: Option<String> = conn.first(
        "SELECT id FROM messages ORDER BY id LIMIT 1 OFFSET ?1",
        &[Value::Integer(n.min(i64::MAX as u64) as i64)],
        |r| r.get(0),
    )?;
    Ok(Some(bound.map_or_else(Cutoff::all, Cutoff::ids_below)))
}

/// Give the free pages back to the file system, [`VACUUM_STEP_PAGES`] per transaction, when the
/// file was made with `auto_vacuum = INCREMENTAL` (every new file is); returns how many. An
/// older file keeps its free pages for reuse: see `mutt archive --vacuum`.
pub fn vacuum_steps(conn: &mut Conn, stop: super::StopCheck<'_>) -> Result<u64, ArchiveError> {
    if conn.dialect() != Dialect::Sqlite {
        return Ok(0);
    }
    let mode: i64 = conn
        .first("PRAGMA auto_vacuum", &[], |r| r.get(0))?
        .unwrap_or(0);
    if mode != 2 {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let free: i64 = conn
            .first("PRAGMA freelist_count", &[], |r| r.get(0))?
            .unwrap_or(0);
        if free <= 0 || (total > 0 && stop(super::Between::Writes)) {
            return Ok(total);
        }
        let step = (free as u64).min(VACUUM_STEP_PAGES);
        // Each step of the statement frees one page: it must be stepped to its end (a batch
        // execution steps it once), which reading every row does.
        conn.for_each(&format!("PRAGMA incremental_vacuum({step})"), &[], |_| {
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        total += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::id_floor;
    use crate::store::schema;
    use rusqlite::Connection;
    use std::path::Path;

    fn sqlite(db: &Path) -> Database {
        Database::Sqlite {
            path: db.to_path_buf(),
            busy: Duration::from_secs(5),
        }
    }

    fn conn(db: &Path) -> Conn {
        Conn::sqlite(Connection::open(db).expect("open"))
    }

    /// A new database with `n` syslog messages of about 1 KiB each, ids UUIDv7-like by index.
    fn filled(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("messages.db");
        drop(crate::store::Store::open(&db, Duration::from_secs(5)).expect("create"));
        let mut conn = Connection::open(&db).expect("open");
        let tx = conn.transaction().expect("begin");
        for i in 0..n {
            tx.execute(
                "INSERT INTO messages (id, type, source_ip, timestamp, received_at, raw_message) \
                 VALUES (?1, 'syslog', '10.0.0.1', ?2, ?2, ?3)",
                rusqlite::params![
                    format!("{}{i:08}", &id_floor(1_000 + i as u64)[..28]),
                    crate::timefmt::iso8601_us((1_000 + i as i64) * 1_000),
                    "x".repeat(1_000)
                ],
            )
            .expect("insert");
        }
        tx.commit().expect("commit");
        let _ = schema::SCHEMA_VERSION;
        (dir, db)
    }

    fn section(dir: &Path) -> ArchiverSection {
        ArchiverSection {
            path: dir.join("archives"),
            format: crate::config::ArchiveFormat::Jsonl,
            time_threshold_days: 36_500,
            ..ArchiverSection::default()
        }
    }

    #[test]
    fn an_id_floor_sorts_below_every_id_of_its_millisecond_and_above_the_earlier() {
        assert_eq!(id_floor(0), "00000000-0000-0000-0000-000000000000");
        assert_eq!(
            id_floor(0x0123_4567_89ab),
            "01234567-89ab-0000-0000-000000000000"
        );
        let t = 1_764_000_000_123u64;
        let id = |ms: u64| {
            uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                ms / 1_000,
                (ms % 1_000) as u32 * 1_000_000 + 999_999,
            ))
            .to_string()
        };
        assert!(id(t - 1) < id_floor(t));
        assert!(id_floor(t) <= id(t) && id(t) < id_floor(t + 1));
    }

    #[test]
    fn a_time_cutoff_takes_its_own_millisecond_by_id_and_leaves_the_rest_to_received_at() {
        let c = Cutoff::received_before_us(5_500);
        assert_eq!(c.id_below, id_floor(6));
        assert_eq!(c.received_before, crate::timefmt::iso8601_us(5_500));
    }

    #[test]
    fn a_database_over_its_size_threshold_loses_its_oldest_messages_to_under_80_percent() {
        let (dir, db) = filled(6_000);
        let before = db_size(&mut conn(&db)).expect("size");
        assert_eq!(before.messages_estimate, 6_000);
        let mb = (before.used_bytes >> 20) / 2;
        let limit = mb << 20;
        let s = ArchiverSection {
            size_threshold_mb: mb,
            ..section(dir.path())
        };
        let summary = check_once(&sqlite(&db), &s, &|_| false).expect("check");
        assert!(summary.rows > 3_000 && summary.rows < 6_000, "{summary:?}");
        let conn = Connection::open(&db).expect("open");
        let (min, n): (String, i64) = conn
            .query_row("SELECT MIN(id), COUNT(*) FROM messages", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("min");
        assert_eq!(n as u64, 6_000 - summary.rows);
        assert_eq!(
            min[28..].parse::<u64>().expect("index"),
            summary.rows,
            "the oldest went"
        );
        let after = db_size(&mut self::conn(&db)).expect("size");
        assert!(after.used_bytes <= limit / 100 * 85, "{after:?} of {limit}");
        assert!(after.file_bytes <= limit, "vacuumed: {after:?}");
    }

    #[test]
    fn a_new_file_gives_its_freed_pages_back_in_steps() {
        let (_dir, db) = filled(3_000);
        let conn = Connection::open(&db).expect("open");
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, 2, "INCREMENTAL");
        let before = db_size(&mut self::conn(&db)).expect("size").file_bytes;
        conn.execute("DELETE FROM messages", []).expect("delete");
        let free: i64 = conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .expect("free");
        let pages = vacuum_steps(&mut self::conn(&db), &|_| false).expect("vacuum");
        assert_eq!(pages, free as u64, "each step frees its pages");
        let after = db_size(&mut self::conn(&db)).expect("size").file_bytes;
        assert!(after < before / 4, "{before} -> {after}");
    }

    #[test]
    fn a_stop_before_the_check_archives_nothing() {
        let (dir, db) = filled(100);
        let s = ArchiverSection {
            time_threshold_days: 0,
            ..section(dir.path())
        };
        let summary = check_once(&sqlite(&db), &s, &|_| true).expect("check");
        assert!(summary.stopped);
        assert_eq!(summary.rows, 0);
        let conn = Connection::open(&db).expect("open");
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 100);
    }

    #[test]
    fn a_check_with_time_threshold_zero_archives_everything_and_counts_it() {
        let (dir, db) = filled(50);
        let s = ArchiverSection {
            time_threshold_days: 0,
            ..section(dir.path())
        };
        let metrics = Metrics::default();
        let (_keep, stop) = crossbeam_channel::bounded::<Infallible>(0);
        check(&sqlite(&db), &s, &metrics, &stop);
        assert_eq!(Metrics::get(&metrics.archive_runs), 1);
        assert_eq!(Metrics::get(&metrics.archived_rows), 50);
        assert!(Metrics::get(&metrics.archived_bytes) > 50_000);
        assert!(Metrics::get(&metrics.archive_last_run) > 1_700_000_000);
        assert_eq!(Metrics::get(&metrics.archive_failures), 0);
    }
}
