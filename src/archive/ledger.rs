//! Every statement `mutt archive` makes on the `archives` table, and the deletion of archived
//! messages in short transactions. Each is written once and runs on SQLite and PostgreSQL.

use mutt_query::{Conn, Dialect, Value};

use super::files::Manifest;
use super::ArchiveError;

/// Messages deleted per transaction: the collector's writer waits at most one such delete.
pub const DELETE_CHUNK: usize = 2_000;
/// Ids per `DELETE … WHERE id IN (…)`: one statement per few hundred ids instead of one per id
/// (a round trip each on PostgreSQL), well under either backend's limit on parameters.
const IDS_PER_STATEMENT: usize = 500;

/// Record a published archive, its deletes still to do (`deleted_at` NULL).
pub fn record(conn: &mut Conn, m: &Manifest, now: &str) -> Result<(), ArchiveError> {
    conn.execute(
        "INSERT INTO archives (id, filename, message_count, size_bytes, archived_at, \
         earliest_message_timestamp, latest_message_timestamp, message_type, sha256, first_id, \
         last_id, deleted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL)",
        &[
            Value::from(uuid::Uuid::now_v7().to_string()),
            Value::from(m.file.as_str()),
            Value::Integer(m.rows as i64),
            Value::Integer(m.size_bytes as i64),
            Value::from(now),
            Value::from(m.first_received_at.as_str()),
            Value::from(m.last_received_at.as_str()),
            Value::from(m.message_type.as_str()),
            Value::from(m.sha256.as_str()),
            Value::from(m.first_id.as_str()),
            Value::from(m.last_id.as_str()),
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
pub fn list(conn: &mut Conn) -> Result<Vec<Entry>, ArchiveError> {
    let mut entries = Vec::new();
    conn.for_each(
        "SELECT filename, message_type, COALESCE(message_count, 0), COALESCE(size_bytes, 0), \
         archived_at, earliest_message_timestamp, latest_message_timestamp, sha256, \
         sha256 IS NULL OR deleted_at IS NOT NULL, expired_at FROM archives \
         ORDER BY earliest_message_timestamp, filename",
        &[],
        |r| {
            entries.push(Entry {
                filename: r.get(0)?,
                message_type: r.get(1)?,
                message_count: r.get(2)?,
                size_bytes: r.get(3)?,
                // A time column: no text default PostgreSQL would take, so the empty text here.
                archived_at: r.get::<Option<String>>(4)?.unwrap_or_default(),
                earliest: r.get(5)?,
                latest: r.get(6)?,
                sha256: r.get(7)?,
                complete: r.get(8)?,
                expired_at: r.get(9)?,
            });
            Ok(std::ops::ControlFlow::Continue(()))
        },
    )?;
    Ok(entries)
}

pub fn is_recorded(conn: &mut Conn, file: &str) -> Result<bool, ArchiveError> {
    let found = conn.first(
        "SELECT 1 FROM archives WHERE filename = ?1",
        &[Value::from(file)],
        |_| Ok(()),
    )?;
    Ok(found.is_some())
}

pub fn is_stored(conn: &mut Conn, id: &str) -> Result<bool, ArchiveError> {
    let found = conn.first(
        "SELECT 1 FROM messages WHERE id = ?1",
        &[Value::from(id)],
        |_| Ok(()),
    )?;
    Ok(found.is_some())
}

/// Archives recorded by `mutt archive` whose messages are not yet all deleted.
pub fn pending(conn: &mut Conn) -> Result<Vec<String>, ArchiveError> {
    let mut names = Vec::new();
    conn.for_each(
        "SELECT filename FROM archives WHERE sha256 IS NOT NULL AND deleted_at IS NULL \
         ORDER BY filename",
        &[],
        |r| {
            names.push(r.get(0)?);
            Ok(std::ops::ControlFlow::Continue(()))
        },
    )?;
    Ok(names)
}

pub fn mark_deleted(conn: &mut Conn, file: &str, now: &str) -> Result<(), ArchiveError> {
    conn.execute(
        "UPDATE archives SET deleted_at = ?2 WHERE filename = ?1",
        &[Value::from(file), Value::from(now)],
    )?;
    Ok(())
}

/// Delete these messages in one transaction; ids already gone are passed over, so a chunk done
/// twice (after a crash) does nothing the second time. Returns how many were deleted. On SQLite
/// the rows are first taken off their devices' block counts (`store::blocks`).
pub fn delete_chunk(conn: &mut Conn, ids: &[String]) -> Result<usize, ArchiveError> {
    if ids.is_empty() {
        return Ok(0);
    }
    conn.transaction(|tx| {
        let mut deleted = 0;
        let sqlite = tx.dialect() == Dialect::Sqlite;
        for part in ids.chunks(IDS_PER_STATEMENT) {
            let marks = vec!["?"; part.len()].join(", ");
            let params: Vec<Value> = part.iter().map(|id| Value::from(id.as_str())).collect();
            if sqlite {
                for sql in crate::store::blocks::subtract_ids(&marks) {
                    tx.execute(&sql, &params)?;
                }
            }
            deleted += tx.execute(
                &format!("DELETE FROM messages WHERE id IN ({marks})"),
                &params,
            )?;
        }
        Ok(deleted as usize)
    })
}

/// On SQLite, drop the bounds of the blocks below the oldest message left (`store::blocks`),
/// once an archive file's messages are deleted. PostgreSQL indexes by row.
pub fn prune_blocks(conn: &mut Conn) -> Result<(), ArchiveError> {
    if conn.dialect() == Dialect::Sqlite {
        conn.batch(crate::store::blocks::PRUNE)?;
    }
    Ok(())
}
