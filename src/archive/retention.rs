//! Retention of what the archiver keeps: archive files past `storage.archiver.keep_days` or
//! over `max_total_mb`, oldest first, and `dead_letters` rows past `dead_letters_keep_days`.
//! (The webhook outbox's finished rows have their own: `outputs.retention`, applied by the
//! sender.)
//!
//! An archive's age is from its writing (`archived_at`): a file is kept `keep_days` after the
//! run that wrote it, so a message is in the database for `time_threshold_days` and then in a
//! file for `keep_days`.
//!
//! An expired archive's file and manifest are removed, then its `archives` row gets
//! `expired_at`: the row stays as the record of what was archived and when. A crash between
//! the two leaves a row whose file is missing, which the next pass marks. Only archives whose
//! deletes are finished (`deleted_at` set) are candidates: an unfinished one's file is the only
//! copy of messages still being deleted.

use std::path::Path;

use mutt_query::{Conn, Value};

use super::{files, ArchiveError};

/// An archive file retention deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct Expired {
    pub filename: String,
    pub size_bytes: u64,
    /// `keep_days` or `max_total_mb`.
    pub reason: &'static str,
}

/// Dead letters deleted per transaction.
const DEAD_LETTER_CHUNK: i64 = 1_000;

struct Candidate {
    filename: String,
    size_bytes: u64,
    archived_at: String,
}

/// Apply `keep_days` (an archive written longer ago goes) and then
/// `max_total_mb` (the oldest go while the files present total more), holding the directory's
/// lock. `now_us` is Unix microseconds.
pub fn expire_archives(
    conn: &mut Conn,
    dir: &Path,
    keep_days: Option<u64>,
    max_total_mb: Option<u64>,
    now_us: i64,
) -> Result<Vec<Expired>, ArchiveError> {
    if keep_days.is_none() && max_total_mb.is_none() {
        return Ok(Vec::new());
    }
    let _lock = files::lock(dir)?;
    let mut candidates = Vec::new();
    conn.for_each(
        "SELECT filename, COALESCE(size_bytes, 0), archived_at \
         FROM archives WHERE sha256 IS NOT NULL AND deleted_at IS NOT NULL \
         AND expired_at IS NULL ORDER BY earliest_message_timestamp, filename",
        &[],
        |r| {
            candidates.push(Candidate {
                filename: r.get(0)?,
                size_bytes: r.get::<i64>(1)?.max(0) as u64,
                // NULL sorts before any time, as the empty text did: the oldest.
                archived_at: r.get::<Option<String>>(2)?.unwrap_or_default(),
            });
            Ok(std::ops::ControlFlow::Continue(()))
        },
    )?;
    let now = crate::timefmt::iso8601_us(now_us);
    let mut expired = Vec::new();
    let mut kept = Vec::new();
    let horizon = keep_days.map(|d| {
        crate::timefmt::iso8601_us(
            now_us.saturating_sub((d as i64).saturating_mul(86_400 * 1_000_000)),
        )
    });
    for c in candidates {
        if !dir.join(&c.filename).exists() {
            // Removed by a pass that was interrupted before marking it, or by hand.
            mark(conn, &c.filename, &now)?;
            continue;
        }
        if horizon.as_ref().is_some_and(|h| c.archived_at < *h) {
            expire(conn, dir, &c, "keep_days", &now, &mut expired)?;
        } else {
            kept.push(c);
        }
    }
    if let Some(mb) = max_total_mb {
        let cap = mb.saturating_mul(1 << 20);
        let mut total: u64 = kept.iter().map(|c| c.size_bytes).sum();
        for c in &kept {
            if total <= cap {
                break;
            }
            expire(conn, dir, c, "max_total_mb", &now, &mut expired)?;
            total -= c.size_bytes;
        }
    }
    if !expired.is_empty() {
        files::sync_dir(dir)?;
    }
    Ok(expired)
}

fn expire(
    conn: &mut Conn,
    dir: &Path,
    c: &Candidate,
    reason: &'static str,
    now: &str,
    expired: &mut Vec<Expired>,
) -> Result<(), ArchiveError> {
    files::remove_archive(dir, &c.filename)?;
    mark(conn, &c.filename, now)?;
    expired.push(Expired {
        filename: c.filename.clone(),
        size_bytes: c.size_bytes,
        reason,
    });
    Ok(())
}

fn mark(conn: &mut Conn, filename: &str, now: &str) -> Result<(), ArchiveError> {
    conn.execute(
        "UPDATE archives SET expired_at = ?2 WHERE filename = ?1",
        &[Value::from(filename), Value::from(now)],
    )?;
    Ok(())
}

/// Delete `dead_letters` rows created more than `keep_days` ago, in short transactions;
/// returns how many. (The writer inserts them; nothing else deletes them.)
pub fn expire_dead_letters(
    conn: &mut Conn,
    keep_days: u64,
    now_us: i64,
    stop: super::StopCheck<'_>,
) -> Result<u64, ArchiveError> {
    let horizon = crate::timefmt::iso8601_us(
        now_us.saturating_sub((keep_days as i64).saturating_mul(86_400 * 1_000_000)),
    );
    let mut total = 0;
    loop {
        let n = conn.execute(
            "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters \
             WHERE created_at < ?1 ORDER BY id LIMIT ?2)",
            &[
                Value::from(horizon.as_str()),
                Value::Integer(DEAD_LETTER_CHUNK),
            ],
        )?;
        total += n;
        if (n as i64) < DEAD_LETTER_CHUNK || stop(super::Between::Writes) {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    const DAY_US: i64 = 86_400 * 1_000_000;

    /// Archives of 1 MiB each written `ages` days before `now`, oldest first.
    fn archives(ages: &[i64], now: i64) -> (tempfile::TempDir, Conn) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        schema::migrate(&mut conn).expect("schema");
        for (i, age) in ages.iter().enumerate() {
            let name = format!("syslog-{i}.jsonl");
            std::fs::write(dir.path().join(&name), vec![b'x'; 1 << 20]).expect("file");
            std::fs::write(dir.path().join(format!("{name}.manifest.json")), b"{}")
                .expect("manifest");
            let at = crate::timefmt::iso8601_us(now - age * DAY_US);
            conn.execute(
                "INSERT INTO archives (id, filename, message_count, size_bytes, archived_at, \
                 earliest_message_timestamp, latest_message_timestamp, sha256, deleted_at) \
                 VALUES (?1, ?2, 1, ?3, ?4, ?4, ?4, 'h', ?4)",
                rusqlite::params![format!("a{i}"), name, 1i64 << 20, at],
            )
            .expect("row");
        }
        (dir, Conn::sqlite(conn))
    }

    fn expired_rows(conn: &mut Conn) -> Vec<String> {
        conn.rows(
            "SELECT filename FROM archives WHERE expired_at IS NOT NULL ORDER BY 1",
            &[],
        )
        .expect("rows")
        .into_iter()
        .map(|r| match &r[0] {
            Value::Text(t) => t.clone(),
            v => panic!("{v:?}"),
        })
        .collect()
    }

    #[test]
    fn archives_past_keep_days_go_with_their_manifests_and_their_rows_stay_marked() {
        let now = 1_800_000_000 * 1_000_000;
        let (dir, mut conn) = archives(&[40, 31, 29, 1], now);
        let gone = expire_archives(&mut conn, dir.path(), Some(30), None, now).expect("expire");
        let names: Vec<&str> = gone.iter().map(|e| e.filename.as_str()).collect();
        assert_eq!(names, ["syslog-0.jsonl", "syslog-1.jsonl"]);
        assert!(gone.iter().all(|e| e.reason == "keep_days"));
        assert!(!dir.path().join("syslog-0.jsonl").exists());
        assert!(!dir.path().join("syslog-0.jsonl.manifest.json").exists());
        assert!(dir.path().join("syslog-2.jsonl").exists());
        assert_eq!(
            expired_rows(&mut conn),
            ["syslog-0.jsonl", "syslog-1.jsonl"]
        );
        let again = expire_archives(&mut conn, dir.path(), Some(30), None, now).expect("again");
        assert!(again.is_empty());
    }

    #[test]
    fn over_max_total_mb_the_oldest_go_until_the_rest_fit() {
        let now = 1_800_000_000 * 1_000_000;
        let (dir, mut conn) = archives(&[5, 4, 3, 2, 1], now);
        let gone = expire_archives(&mut conn, dir.path(), None, Some(3), now).expect("expire");
        let names: Vec<&str> = gone.iter().map(|e| e.filename.as_str()).collect();
        assert_eq!(names, ["syslog-0.jsonl", "syslog-1.jsonl"]);
        assert!(gone.iter().all(|e| e.reason == "max_total_mb"));
        assert!(dir.path().join("syslog-2.jsonl").exists());
    }

    #[test]
    fn an_unfinished_archive_is_never_expired() {
        let now = 1_800_000_000 * 1_000_000;
        let (dir, mut conn) = archives(&[100], now);
        conn.execute("UPDATE archives SET deleted_at = NULL", &[])
            .expect("unfinished");
        let gone = expire_archives(&mut conn, dir.path(), Some(1), Some(0), now).expect("expire");
        assert!(gone.is_empty());
        assert!(dir.path().join("syslog-0.jsonl").exists());
    }

    #[test]
    fn dead_letters_past_their_days_are_deleted_and_newer_ones_kept() {
        let now = 1_800_000_000 * 1_000_000;
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        schema::migrate(&mut conn).expect("schema");
        for (i, age) in [10i64, 8, 1].iter().enumerate() {
            conn.execute(
                "INSERT INTO dead_letters (wal_seq, type, source_ip, received_at, raw_bytes, \
                 error, created_at) VALUES (?1, 'syslog', '10.0.0.1', ?2, x'00', 'e', ?2)",
                rusqlite::params![i as i64, crate::timefmt::iso8601_us(now - age * DAY_US)],
            )
            .expect("insert");
        }
        let mut conn = Conn::sqlite(conn);
        assert_eq!(
            expire_dead_letters(&mut conn, 7, now, &|_| false).expect("expire"),
            2
        );
        let left: i64 = conn
            .first("SELECT COUNT(*) FROM dead_letters", &[], |r| r.get(0))
            .expect("count")
            .expect("a row");
        assert_eq!(left, 1);
    }
}
