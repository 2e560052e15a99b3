//! The two formats of an archive file, message by message: JSON lines and CSV, written from and
//! read back into the same keys and values, so the deletes, `verify` and `import` read either.
//!
//! # CSV (`storage.archiver.format: csv`)
//!
//! RFC 4180: a header row with the keys a JSON line would have (every `messages` column by its
//! name, the type's own columns by the seed's names), then one row per message, fields quoted
//! only where they must be (a comma, a quote, CR or LF inside; a quote doubled), rows ended by
//! CRLF. A cell says its value this way, so that it reads back exactly:
//! - NULL is `\N` (as PostgreSQL's and MySQL's text formats write it); an empty cell is the
//!   empty string. A text that is a backslash or more and then `N` (`\N`, `\\N`, …) gets one
//!   more backslash in front.
//! - A cell whose text starts with `=`, `+`, `-`, `@`, a tab or a CR, which a spreadsheet would
//!   run as a formula, starts with an apostrophe `'` (OWASP's advice), and so does one that
//!   starts with `'` itself. Reading removes that one apostrophe. A negative number is such a
//!   cell: `'-5`.
//! - Numbers are their decimal text, `raw_bytes` lowercase hex, JSON columns the stored text.
//!   Import stores every cell as text and lets the column's affinity make numbers of the
//!   integer columns again, as they were.

use std::borrow::Cow;
use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Value};

use super::files;
use super::ArchiveError;

/// The format of an archive file, from `storage.archiver.format` or a file's name.
pub use crate::config::ArchiveFormat as Format;

impl Format {
    /// The manifest's `format`, and the file name's extension.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// One message read back: its keys and values, and the line of the file it starts on.
#[derive(Debug)]
pub struct Record {
    pub line: usize,
    pub fields: Map<String, Value>,
}

/// A row that could not be read: where, and why.
#[derive(Debug)]
pub struct BadRecord {
    pub line: usize,
    pub reason: String,
}

/// The messages of one archive file in order, decompressed when its name ends `.zst`. After a
/// read error (a truncated or corrupt file) it ends.
pub struct Records {
    inner: Inner,
    done: bool,
}

enum Inner {
    Jsonl {
        lines: std::io::Lines<Box<dyn BufRead>>,
        line: usize,
    },
    Csv {
        reader: csv::Reader<Box<dyn BufRead>>,
        header: Vec<String>,
        bad_header: Option<String>,
        /// The line the next row starts on, counted here: the csv crate's positions are a line
        /// short after a CRLF. A row is one line plus the line breaks inside its fields.
        next_line: usize,
    },
}

fn line_breaks(row: &csv::StringRecord) -> usize {
    row.iter().map(|f| f.matches('\n').count()).sum()
}

/// Open an archive file for reading, its format from its name (`.csv` or `.csv.zst` is CSV,
/// anything else JSON lines).
pub fn open(path: &Path) -> Result<Records, ArchiveError> {
    let reader = files::read_lines(path)?;
    let name = path.to_string_lossy();
    let inner = if name.ends_with(".csv") || name.ends_with(".csv.zst") {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let (header, bad_header, next_line) = match reader.headers() {
            Ok(h) => (
                h.iter().map(str::to_string).collect(),
                None,
                2 + line_breaks(h),
            ),
            Err(e) => (Vec::new(), Some(e.to_string()), 1),
        };
        Inner::Csv {
            reader,
            header,
            bad_header,
            next_line,
        }
    } else {
        Inner::Jsonl {
            lines: reader.lines(),
            line: 0,
        }
    };
    Ok(Records { inner, done: false })
}

impl Iterator for Records {
    type Item = Result<Record, BadRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match &mut self.inner {
            Inner::Jsonl { lines, line } => {
                *line += 1;
                let line = *line;
                match lines.next()? {
                    Err(e) => {
                        self.done = true;
                        Err(BadRecord {
                            line,
                            reason: e.to_string(),
                        })
                    }
                    Ok(text) => match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(fields)) => Ok(Record { line, fields }),
                        Ok(_) => Err(BadRecord {
                            line,
                            reason: "not a JSON object".into(),
                        }),
                        Err(e) => Err(BadRecord {
                            line,
                            reason: e.to_string(),
                        }),
                    },
                }
            }
            Inner::Csv {
                reader,
                header,
                bad_header,
                next_line,
            } => {
                if let Some(reason) = bad_header.take() {
                    self.done = true;
                    return Some(Err(BadRecord { line: 1, reason }));
                }
                let mut row = csv::StringRecord::new();
                let line = *next_line;
                match reader.read_record(&mut row) {
                    Ok(false) => return None,
                    Err(e) => {
                        // A row with the wrong number of fields is one bad row; anything else
                        // (bytes that are not UTF-8, a read error) ends the file.
                        *next_line += 1;
                        if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                            self.done = true;
                        }
                        Err(BadRecord {
                            line,
                            reason: e.to_string(),
                        })
                    }
                    Ok(true) => {
                        *next_line += 1 + line_breaks(&row);
                        let fields = header
                            .iter()
                            .zip(row.iter())
                            .map(|(k, cell)| (k.clone(), decode_cell(cell)))
                            .collect();
                        Ok(Record { line, fields })
                    }
                }
            }
        };
        Some(item)
    }
}

/// What a CSV cell holds (see the module doc).
pub fn decode_cell(cell: &str) -> Value {
    if cell == "\\N" {
        return Value::Null;
    }
    if is_escaped_null_text(cell) || cell.starts_with('\'') {
        return Value::String(cell[1..].to_string());
    }
    Value::String(cell.to_string())
}

/// A cell for a value (see the module doc); `None` for an array or object, which no column
/// holds.
pub fn encode_cell(value: &Value) -> Option<Cow<'_, str>> {
    let text: Cow<'_, str> = match value {
        Value::Null => return Some(Cow::Borrowed("\\N")),
        Value::String(s) => Cow::Borrowed(s),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Bool(b) => Cow::Borrowed(if *b { "1" } else { "0" }),
        Value::Array(_) | Value::Object(_) => return None,
    };
    if text.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) {
        return Some(Cow::Owned(format!("'{text}")));
    }
    if is_null_text(&text) {
        return Some(Cow::Owned(format!("\\{text}")));
    }
    Some(text)
}

/// `\N`, `\\N`, …: one or more backslashes, then `N`.
fn is_null_text(s: &str) -> bool {
    s.strip_suffix('N')
        .is_some_and(|b| !b.is_empty() && b.bytes().all(|c| c == b'\\'))
}

/// `\\N`, `\\\N`, …: a text of the form above written with one more backslash.
fn is_escaped_null_text(s: &str) -> bool {
    s.starts_with("\\\\") && is_null_text(s)
}

/// One CSV row of `values` (in `keys` order), CRLF-terminated, appended to `out`; `with_header`
/// writes the keys first.
pub fn write_csv_rows<'a>(
    out: &mut Vec<u8>,
    keys: &[&str],
    rows: impl Iterator<Item = &'a Map<String, Value>>,
    with_header: bool,
) -> Result<(), String> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(std::mem::take(out));
    if with_header {
        w.write_record(keys).map_err(|e| e.to_string())?;
    }
    let mut cells: Vec<Cow<'_, str>> = Vec::with_capacity(keys.len());
    for row in rows {
        cells.clear();
        for key in keys {
            let value = row.get(*key).unwrap_or(&Value::Null);
            cells.push(encode_cell(value).ok_or_else(|| format!("{key}: not a value"))?);
        }
        w.write_record(cells.iter().map(|c| c.as_bytes()))
            .map_err(|e| e.to_string())?;
    }
    *out = w.into_inner().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_reads_back_as_the_value_it_was_written_from() {
        let values = [
            Value::Null,
            Value::from(""),
            Value::from("\\N"),
            Value::from("\\\\N"),
            Value::from("\\"),
            Value::from("N"),
            Value::from("=cmd|' /C calc'!A0"),
            Value::from("+1"),
            Value::from("-"),
            Value::from("@SUM(A1)"),
            Value::from("'quoted'"),
            Value::from("\ttab"),
            Value::from("a,b \"c\"\r\nd"),
            Value::from("plain text"),
        ];
        for v in &values {
            let cell = encode_cell(v).expect("a value");
            assert_eq!(decode_cell(&cell), *v, "{v:?} as {cell:?}");
        }
        assert_eq!(encode_cell(&Value::from(-5)).as_deref(), Some("'-5"));
        assert_eq!(decode_cell("'-5"), Value::from("-5"));
        assert_eq!(encode_cell(&Value::from(42)).as_deref(), Some("42"));
    }

    #[test]
    fn a_cell_a_spreadsheet_would_run_never_starts_with_its_trigger() {
        for s in ["=1+1", "+1", "-1", "@x", "\tx", "\rx"] {
            let value = Value::from(s);
            let cell = encode_cell(&value).expect("a value");
            assert!(cell.starts_with('\''), "{s:?} as {cell:?}");
        }
    }

    #[test]
    fn rows_written_as_csv_read_back_field_by_field_with_their_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.csv");
        let mut a = Map::new();
        a.insert("id".into(), Value::from("1"));
        a.insert(
            "raw_message".into(),
            Value::from("two\r\nlines, \"quoted\""),
        );
        a.insert("hostname".into(), Value::Null);
        let mut b = Map::new();
        b.insert("id".into(), Value::from("2"));
        b.insert("raw_message".into(), Value::from(""));
        b.insert("hostname".into(), Value::from("=h"));
        let mut out = Vec::new();
        let keys = ["id", "raw_message", "hostname"];
        write_csv_rows(&mut out, &keys, [&a].into_iter(), true).expect("write");
        write_csv_rows(&mut out, &keys, [&b].into_iter(), false).expect("write");
        assert!(out.ends_with(b"\r\n"));
        std::fs::write(&path, &out).expect("file");
        let read: Vec<Record> = open(&path)
            .expect("open")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(read.len(), 2);
        assert_eq!((read[0].line, &read[0].fields), (2, &a));
        assert_eq!(
            (read[1].line, &read[1].fields),
            (4, &b),
            "after a quoted line break"
        );
    }

    #[test]
    fn a_row_with_a_missing_field_is_bad_with_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.csv");
        std::fs::write(&path, "id,type\r\n1,syslog\r\n2\r\n").expect("file");
        let read: Vec<Result<Record, BadRecord>> = open(&path).expect("open").collect();
        assert!(read[0].is_ok());
        let bad = read[1].as_ref().expect_err("short row");
        assert_eq!(bad.line, 3, "{bad:?}");
    }
}
