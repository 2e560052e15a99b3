//! Every statement `mutt archive` makes on the `archives` table, and the deletion of archived
//! messages in short transactions.

use rusqlite::{params, Connection, OptionalExtension};

use super::files::Manifest;
use super::ArchiveError;

/// Messages deleted per transaction: the collector's writer waits at most one such delete.
pub const DELETE_CHUNK: usize = 2_000;

/// Record a published archive, its deletes still to do (`deleted_at` NULL).
pub fn record(conn: &Connection, m: &Manifest, now: &str) -> Result<(), ArchiveError> {
    conn.execute(
        "INSERT INTO archives (id, filename, message_count, size_bytes, archived_at, \
         earliest_message_timestamp, latest_message_timestamp, message_type, sha256, first_id, \
         last_id, deleted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL)",
        params![
            uuid::Uuid::now_v7().to_string(),
            m.file,
            m.rows as i64,
            m.size_bytes as i64,
            now,
            m.first_received_at,
            m.last_received_at,
            m.message_type,
            m.sha256,
            m.first_id,
            m.last_id,
        ],
    )?;
    Ok(())
}

/// One `archives` row, as `mutt archive list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub filename: String,
    pub message_type: Option<String>,
    pub message_count: i64,
    pub size_bytes: i64,
    pub archived_at: String,
    pub earliest: Option<String>,
    pub latest: Option<String>,
    pub sha256: Option<String>,
    /// False while the archived messages are still being deleted (an interrupted run).
    pub complete: bool,
    /// When retention deleted the file.
    pub expired_at: Option<String>,
}

/// Every `archives` row, oldest messages first.
pub fn list(conn: &Connection) -> Result<Vec<Entry>, ArchiveError> {
    let mut stmt = conn.prepare(
        "SELECT filename, message_type, COALESCE(message_count, 0), COALESCE(size_bytes, 0), \
         COALESCE(archived_at, ''), earliest_message_timestamp, latest_message_timestamp, sha256, \
         sha256 IS NULL OR deleted_at IS NOT NULL, expired_at FROM archives \
         ORDER BY earliest_message_timestamp, filename",
    )?;
    let entries = stmt.query_map([], |r| {
        Ok(Entry {
            filename: r.get(0)?,
            message_type: r.get(1)?,
            message_count: r.get(2)?,
            size_bytes: r.get(3)?,
            archived_at: r.get(4)?,
            earliest: r.get(5)?,
            latest: r.get(6)?,
            sha256: r.get(7)?,
            complete: r.get(8)?,
            expired_at: r.get(9)?,
        })
    })?;
    Ok(entries.collect::<Result<_, _>>()?)
}

pub fn is_recorded(conn: &Connection, file: &str) -> Result<bool, ArchiveError> {
    Ok(conn
        .query_row("SELECT 1 FROM archives WHERE filename = ?1", [file], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

pub fn is_stored(conn: &Connection, id: &str) -> Result<bool, ArchiveError> {
    Ok(conn
        .query_row("SELECT 1 FROM messages WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Archives recorded by `mutt archive` whose messages are not yet all deleted.
pub fn pending(conn: &Connection) -> Result<Vec<String>, ArchiveError> {
    let mut stmt = conn.prepare(
        "SELECT filename FROM archives WHERE sha256 IS NOT NULL AND deleted_at IS NULL \
         ORDER BY filename",
    )?;
    let names = stmt.query_map([], |r| r.get(0))?;
    Ok(names.collect::<Result<_, _>>()?)
}

pub fn mark_deleted(conn: &Connection, file: &str, now: &str) -> Result<(), ArchiveError> {
    conn.execute(
        "UPDATE archives SET deleted_at = ?2 WHERE filename = ?1",
        params![file, now],
    )?;
    Ok(())
}

/// Delete these messages in one transaction; ids already gone are passed over, so a chunk done
/// twice (after a crash) does nothing the second time. Returns how many were deleted.
pub fn delete_chunk(conn: &mut Connection, ids: &[String]) -> Result<usize, ArchiveError> {
    let tx = conn.transaction()?;
    let mut deleted = 0;
    {
        let mut stmt = tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
        for id in ids {
            deleted += stmt.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(deleted)
}
