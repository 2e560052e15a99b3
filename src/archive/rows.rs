//! Which `messages` columns an archive line holds, under which names, and how a stored value
//! becomes JSON: the one place that knows the shape of an archived message.

use std::ops::ControlFlow;

use mutt_query::{Conn, Dialect, Value as Cell};
use serde_json::{Map, Value};

use super::ArchiveError;
use crate::store::schema::{TypedColumn, VIEWS};

/// The columns read for one message type: (name in the JSON line, column in `messages`).
/// Every column of `messages` that is not type-specific keeps its own name (an operator's added
/// column too); the type's own columns take the seed's names, as the views show them. The other
/// type's columns are left out (always NULL for this type).
pub struct Layout {
    columns: Vec<(String, String)>,
    select: String,
}

impl Layout {
    pub fn new(conn: &mut Conn, typed: &[TypedColumn]) -> Result<Layout, ArchiveError> {
        let typed_names: Vec<&str> = VIEWS
            .iter()
            .flat_map(|(_, _, columns)| columns.iter())
            .map(|(_, column, _)| *column)
            .collect();
        let mut columns = Vec::new();
        for name in table_columns(conn, "messages")? {
            if !typed_names.contains(&name.as_str()) {
                columns.push((name.clone(), name));
            }
        }
        for (seed, column, _) in typed {
            columns.push((seed.to_string(), column.to_string()));
        }
        let list: Vec<String> = columns
            .iter()
            .map(|(_, c)| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect();
        // `id` first, so the key of the next chunk is column 0.
        let select = format!(
            "SELECT id, {} FROM messages WHERE type = ?1 AND received_at < ?2 AND id > ?3 \
             AND id < ?5 ORDER BY id LIMIT ?4",
            list.join(", ")
        );
        Ok(Layout { columns, select })
    }

    /// The keys of a line, in column order (a CSV file's header).
    pub fn keys(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The `messages` column a line's key is read into; `None` for a key this type's lines do
    /// not have.
    pub fn column_for(&self, name: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
    }

    /// Up to `limit` messages of `kind` that `cutoff` takes with an id above `after`, in id
    /// order, as JSON objects.
    pub fn chunk(
        &self,
        conn: &mut Conn,
        kind: &str,
        cutoff: &super::Cutoff,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Map<String, Value>>, ArchiveError> {
        let params = [
            Cell::from(kind),
            Cell::from(cutoff.received_before.as_str()),
            Cell::from(after),
            Cell::Integer(limit as i64),
            Cell::from(cutoff.id_below.as_str()),
        ];
        let mut out = Vec::new();
        let mut failed = None;
        conn.for_each(&self.select, &params, |row| {
            let id: String = row.get(0)?;
            let mut object = Map::new();
            for (i, (name, column)) in self.columns.iter().enumerate() {
                // JSON cannot carry text that is not UTF-8: the run stops rather than alter it.
                if !row.is_utf8(i + 1) {
                    failed = Some(ArchiveError::NotUtf8 {
                        id,
                        column: column.clone(),
                    });
                    return Ok(ControlFlow::Break(()));
                }
                object.insert(name.clone(), json_value(row.value(i + 1)?));
            }
            out.push(object);
            Ok(ControlFlow::Continue(()))
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// The columns of `table` in their order: SQLite's `pragma_table_info`, PostgreSQL's
/// `information_schema.columns` (of the table in the session's schema; a partitioned table's
/// are its own, which every partition shares).
pub fn table_columns(conn: &mut Conn, table: &str) -> Result<Vec<String>, ArchiveError> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        Dialect::Postgres => {
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position"
        }
    };
    let rows = conn.rows(sql, &[Cell::from(table)])?;
    let mut names = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(Cell::Text(name)) = row.into_iter().next() {
            names.push(name);
        }
    }
    Ok(names)
}

/// A stored value as JSON: NULL, integers and text as themselves, a real as a number (NaN and
/// infinities as null), a BLOB (`raw_bytes`) as lowercase hex. On PostgreSQL each column is
/// first read as SQLite holds it (`mutt_query`'s type table: times as the same text, booleans
/// as 0 and 1), so a line is the same on both backends, up to the spacing and key order of a
/// `jsonb` column's text.
pub fn json_value(value: Cell) -> Value {
    match value {
        Cell::Null => Value::Null,
        Cell::Integer(i) => Value::from(i),
        Cell::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Cell::Text(t) => Value::String(t),
        Cell::Blob(b) => Value::String(crate::hex::encode(&b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_lowercase_hex_and_a_real_nan_is_null() {
        assert_eq!(
            json_value(Cell::Blob(vec![0x30, 0xab])),
            Value::from("30ab")
        );
        assert_eq!(json_value(Cell::Real(f64::NAN)), Value::Null);
    }

    #[test]
    fn text_that_is_not_utf8_stops_the_export_with_its_id_and_column() {
        let mut raw = rusqlite::Connection::open_in_memory().expect("open");
        crate::store::schema::migrate(&mut raw).expect("schema");
        raw.execute_batch(
            "INSERT INTO messages (id, type, source_ip, timestamp, received_at, raw_message) \
             VALUES ('a', 'syslog', '10.0.0.1', '2026-01-01T00:00:00.000000Z', \
             '2026-01-01T00:00:00.000000Z', CAST(x'ff' AS TEXT))",
        )
        .expect("insert");
        let mut conn = Conn::sqlite(raw);
        let layout = Layout::new(&mut conn, crate::store::schema::SYSLOG_COLUMNS).expect("layout");
        let err = layout
            .chunk(&mut conn, "syslog", &super::super::Cutoff::all(), "", 10)
            .expect_err("stops");
        assert!(
            matches!(&err, ArchiveError::NotUtf8 { id, column } if id == "a" && column == "raw_message"),
            "{err}"
        );
    }
}
