//! Export of the current view (`/export?…&format=csv|jsonl`): the same filters and search as the
//! messages page, newest first, at most [`MAX_ROWS`] rows. A CSV cell that a spreadsheet would
//! run as a formula (starting `=`, `+`, `-`, `@`, tab or carriage return) is prefixed with `'`;
//! every cell is quoted. The `X-MUTT-Truncated` header says whether the cap cut the export.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::db;
use crate::html::UiError;
use crate::messages::{list, pairs, ListRow, SCAN_CAP};
use crate::State;

pub const MAX_ROWS: usize = 10_000;

pub async fn export(
    state: State,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, UiError> {
    let filter = pairs(q)?;
    let csv = filter.format() == "csv";
    let f = filter.clone();
    let listing = db::with(&state.0, move |c| list(c, &f, MAX_ROWS, SCAN_CAP)).await?;
    let truncated = listing.next.is_some() || listing.capped_at.is_some();
    let (body, kind, name) = if csv {
        (
            to_csv(&listing.rows),
            "text/csv; charset=utf-8",
            "messages.csv",
        )
    } else {
        (
            to_jsonl(&listing.rows),
            "application/x-ndjson",
            "messages.jsonl",
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (
                header::HeaderName::from_static("x-mutt-truncated"),
                truncated.to_string(),
            ),
        ],
        body,
    )
        .into_response())
}

const HEADER: &[&str] = &[
    "id",
    "type",
    "source_ip",
    "source_device",
    "received_at",
    "severity",
    "rule_id",
    "rule_name",
    "program",
    "oid",
    "validated",
    "raw_message",
];

/// One CSV cell: quoted, quotes doubled, a formula's first character defused.
pub fn csv_cell(value: &str) -> String {
    let defused = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

pub fn to_csv(rows: &[ListRow]) -> String {
    let mut out = HEADER.join(",");
    out.push_str("\r\n");
    for r in rows {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        let cells = [
            r.id.clone(),
            r.kind.clone(),
            r.source_ip.clone(),
            o(&r.source_device),
            r.received_at.clone(),
            o(&r.severity),
            o(&r.rule_id),
            o(&r.rule_name),
            o(&r.program),
            o(&r.oid),
            r.validated.to_string(),
            r.text.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

pub fn to_jsonl(rows: &[ListRow]) -> String {
    let mut out = String::new();
    for r in rows {
        if let Ok(line) = serde_json::to_string(r) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_quotes_doubled() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "\"'+1\"");
        assert_eq!(csv_cell("-1"), "\"'-1\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("plain, text"), "\"plain, text\"");
    }
}
