//! `mutt archive import`: archive files back into `messages`, all of them or nothing.

use std::path::{Path, PathBuf};

use mutt_query::{Conn, Dialect, Value as SqlValue};
use serde_json::Value;

use super::records;
use super::rows::Layout;
use super::ArchiveError;
use crate::store::schema::VIEWS;

/// What an import did.
#[derive(Debug, Default, PartialEq)]
pub struct Imported {
    /// Messages stored.
    pub stored: u64,
    /// Messages whose id the database already held (an earlier import, or never deleted).
    pub already_stored: u64,
    /// Files imported without a manifest beside them, so without their checksum checked.
    pub unchecked: Vec<PathBuf>,
}

/// Store every message of `paths` in one transaction, each once. A file with its manifest
/// beside it is first checked against it (size, SHA-256, rows, ids: `verify`), and one that does
/// not match stops the import. A line that is not a message as `mutt archive` writes it (not a
/// JSON object, an unknown type or key, a value of the wrong kind, `raw_bytes` not hex) stops the
/// import with its file, line and reason. Either way nothing is stored. A message whose id is
/// already stored is left as it is and counted, so importing a file twice stores it once. The
/// transaction holds the database's write lock for the whole import: the collector's writer
/// waits until it ends (on PostgreSQL, a collector storing a message with an id the import
/// holds waits for it, and other collectors' rows go on being stored).
pub fn import(conn: &mut Conn, paths: &[&Path]) -> Result<Imported, ArchiveError> {
    let layouts: Vec<(&str, Layout)> = VIEWS
        .iter()
        .map(|(_, kind, typed)| Layout::new(&mut *conn, typed).map(|l| (*kind, l)))
        .collect::<Result<_, _>>()?;
    let mut imported = Imported::default();
    for path in paths {
        if !super::verify::manifest_path(path).exists() {
            imported.unchecked.push(path.to_path_buf());
            continue;
        }
        let verdict = super::verify(path, None)?;
        if !verdict.problems.is_empty() {
            return Err(ArchiveError::NotAsManifested {
                path: path.to_path_buf(),
                problems: verdict.problems,
            });
        }
    }
    conn.transaction(|tx| {
        let first = next_rowid(tx)?;
        store_all(tx, paths, &layouts, &mut imported)?;
        index_blocks(tx, first)
    })?;
    Ok(imported)
}

/// On SQLite, the rowid the next stored message gets; 0 on PostgreSQL.
fn next_rowid(tx: &mut Conn) -> Result<i64, ArchiveError> {
    if tx.dialect() != Dialect::Sqlite {
        return Ok(0);
    }
    let next = tx.first(
        "SELECT coalesce(max(rowid), 0) + 1 FROM messages",
        &[],
        |r| r.get(0),
    )?;
    Ok(next.unwrap_or(1))
}

/// On SQLite, the imported rows (rowid `first` on) into the device index by blocks
/// (`store::blocks`); the writer does this for the rows it stores. PostgreSQL indexes by row.
fn index_blocks(tx: &mut Conn, first: i64) -> Result<(), ArchiveError> {
    if tx.dialect() == Dialect::Sqlite {
        for sql in crate::store::blocks::ADD_ROWS_FROM {
            tx.execute(sql, &[SqlValue::Integer(first)])?;
        }
    }
    Ok(())
}

/// Every message of `paths` into `messages`, in the caller's transaction.
fn store_all(
    tx: &mut Conn,
    paths: &[&Path],
    layouts: &[(&str, Layout)],
    imported: &mut Imported,
) -> Result<(), ArchiveError> {
    for path in paths {
        for record in records::open(path)? {
            let record = record.map_err(|b| ArchiveError::BadArchive {
                path: path.to_path_buf(),
                line: b.line,
                reason: b.reason,
            })?;
            let bad = |reason: String| ArchiveError::BadArchive {
                path: path.to_path_buf(),
                line: record.line,
                reason,
            };
            let object = &record.fields;
            let id = object.get("id").and_then(Value::as_str).unwrap_or_default();
            if super::ledger::is_stored(tx, id)? {
                imported.already_stored += 1;
                continue;
            }
            let kind = object
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some((_, layout)) = layouts.iter().find(|(k, _)| *k == kind) else {
                return Err(bad(format!("type {kind:?} is not syslog or snmp_trap")));
            };
            let mut columns = Vec::with_capacity(object.len());
            let mut values = Vec::with_capacity(object.len());
            for (key, value) in object {
                let column = layout
                    .column_for(key)
                    .ok_or_else(|| bad(format!("{key:?} is not a column of a {kind} message")))?;
                values.push(
                    sql_value(column, value).map_err(|reason| bad(format!("{key}: {reason}")))?,
                );
                columns.push(format!("\"{}\"", column.replace('"', "\"\"")));
            }
            let placeholders: Vec<String> = (1..=values.len()).map(|n| format!("?{n}")).collect();
            let sql = format!(
                "INSERT INTO messages ({}) VALUES ({})",
                columns.join(", "),
                placeholders.join(", ")
            );
            tx.execute(&sql, &values).map_err(|e| bad(e.to_string()))?;
            imported.stored += 1;
        }
    }
    Ok(())
}

/// A JSON value as the column holds it; `raw_bytes` from lowercase or uppercase hex.
fn sql_value(column: &str, value: &Value) -> Result<SqlValue, String> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::String(s) if column == "raw_bytes" => {
            SqlValue::Blob(crate::hex::decode(s).ok_or("not hex digit pairs")?)
        }
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => SqlValue::Integer(i),
            (None, Some(f)) => SqlValue::Real(f),
            (None, None) => return Err(format!("{n} does not fit a 64-bit integer")),
        },
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Array(_) | Value::Object(_) => return Err("an array or object, not a value".into()),
    })
}
