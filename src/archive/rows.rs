//! Which `messages` columns an archive line holds, under which names, and how a stored value
//! becomes JSON: the one place that knows the shape of an archived message.

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};
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
    pub fn new(conn: &Connection, typed: &[TypedColumn]) -> Result<Layout, ArchiveError> {
        let typed_names: Vec<&str> = VIEWS
            .iter()
            .flat_map(|(_, _, columns)| columns.iter())
            .map(|(_, column, _)| *column)
            .collect();
        let mut columns = Vec::new();
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('messages')")?;
        for name in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let name = name?;
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
        conn: &Connection,
        kind: &str,
        cutoff: &super::Cutoff,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Map<String, Value>>, ArchiveError> {
        let mut stmt = conn.prepare_cached(&self.select)?;
        let mut rows = stmt.query(params![
            kind,
            cutoff.received_before,
            after,
            limit as i64,
            cutoff.id_below
        ])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let mut object = Map::new();
            for (i, (name, column)) in self.columns.iter().enumerate() {
                let value =
                    json_value(row.get_ref(i + 1)?).ok_or_else(|| ArchiveError::NotUtf8 {
                        id: id.clone(),
                        column: column.clone(),
                    })?;
                object.insert(name.clone(), value);
            }
            out.push(object);
        }
        Ok(out)
    }
}

/// A stored value as JSON: NULL, integers and text as themselves, a real as a number (NaN and
/// infinities as null), a BLOB (`raw_bytes`) as lowercase hex. `None` for text that is not
/// UTF-8, which JSON cannot carry: the run stops rather than alter it.
pub fn json_value(value: ValueRef<'_>) -> Option<Value> {
    Some(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(std::str::from_utf8(t).ok()?.to_string()),
        ValueRef::Blob(b) => Value::String(crate::hex::encode(b)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_lowercase_hex_and_a_real_nan_is_null() {
        assert_eq!(
            json_value(ValueRef::Blob(&[0x30, 0xab])),
            Some(Value::from("30ab"))
        );
        assert_eq!(json_value(ValueRef::Real(f64::NAN)), Some(Value::Null));
        assert_eq!(json_value(ValueRef::Text(&[0xff])), None);
    }
}
