//! The messages page (`/`): newest first over a time range, filtered, searched, paged by id.
//!
//! One statement: `SELECT … FROM messages WHERE id >= ? AND id < ? [AND column = ?]… ORDER BY id
//! DESC`, the primary key's index giving the range and the order. Without a search it reads one
//! row more than a page (to know there is a next page); with one it reads at most
//! [`SCAN_CAP`] rows of the range, tests each in Rust, and says so when it stopped there. On
//! SQLite a device address has no index of its own: its rows come through the collector's block
//! index (`device_rows`), the same rows in the same order, read until the page is full.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use std::ops::ControlFlow;
use std::time::Instant;

use maud::{html, Markup};
use mutt_query::{Conn, QueryError, Row};
use serde::Serialize;

use crate::db::{self, DbError};
use crate::device_rows::{Device, Outcome};
use crate::filter::{BadQuery, Filter, PRESETS};
use crate::html::{cut, page as shell, UiError};
use crate::State;

/// Rows on a page.
pub const PAGE: usize = 100;
/// Rows a text search reads before it stops and offers to go on.
pub const SCAN_CAP: usize = 50_000;

/// The columns a row of the list shows.
pub const LIST_COLUMNS: &str = "id, type, source_ip, source_device, received_at, \
    match_severity, matched_rule_id, matched_rule_name, syslog_program, snmp_oid, \
    raw_message, validated";

/// One row of the list (also the live tail's event data).
#[derive(Debug, Clone, Serialize)]
pub struct ListRow {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source_ip: String,
    pub source_device: Option<String>,
    pub received_at: String,
    pub severity: Option<String>,
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    pub program: Option<String>,
    pub oid: Option<String>,
    pub text: String,
    pub validated: bool,
}

impl ListRow {
    pub fn from_row(r: &Row<'_>) -> Result<ListRow, QueryError> {
        Ok(ListRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            source_ip: r.get(2)?,
            source_device: r.get(3)?,
            received_at: r.get(4)?,
            severity: r.get(5)?,
            rule_id: r.get(6)?,
            rule_name: r.get(7)?,
            program: r.get(8)?,
            oid: r.get(9)?,
            text: r.get::<Option<String>>(10)?.unwrap_or_default(),
            validated: r.get::<Option<bool>>(11)?.unwrap_or(false),
        })
    }
}

/// A page of results.
#[derive(Debug, Default)]
pub struct Listing {
    pub rows: Vec<ListRow>,
    /// The cursor of the next (older) page, when there is one.
    pub next: Option<String>,
    /// Rows a search read.
    pub scanned: usize,
    /// A search stopped at [`SCAN_CAP`]: older rows are unsearched below this id.
    pub capped_at: Option<String>,
}

/// Query one page of `filter`: up to `page` rows; a search reads at most `scan_cap` rows.
pub fn list(
    conn: &mut Conn,
    filter: &Filter,
    page: usize,
    scan_cap: usize,
) -> Result<Listing, DbError> {
    let limit = if filter.search.is_some() {
        scan_cap
    } else {
        page + 1
    };
    let mut out = Listing::default();
    let mut last_scanned = None;
    let mut full = false;
    let each = |r: &Row<'_>| {
        let row = ListRow::from_row(r)?;
        out.scanned += 1;
        let read_all = if out.scanned == limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        };
        if let Some(search) = &filter.search {
            last_scanned = Some(row.id.clone());
            if !search.matches(&row.text) {
                return Ok(read_all);
            }
        }
        if out.rows.len() == page {
            out.next = out.rows.last().map(|r| r.id.clone());
            full = true;
            return Ok(ControlFlow::Break(()));
        }
        out.rows.push(row);
        Ok(read_all)
    };
    match Device::of(conn, filter)? {
        Some(device) => {
            // The runtime's interrupt stops a statement; this stops the statements between.
            let until = Instant::now() + db::DEADLINE;
            let outcome = device.newest_first(conn, filter, LIST_COLUMNS, until, each)?;
            if let Outcome::OutOfTime { .. } = outcome {
                return Err(DbError::TooLong);
            }
        }
        None => {
            let (clause, params) = filter.where_clause();
            let sql = format!(
                "SELECT {LIST_COLUMNS} FROM messages WHERE {clause} ORDER BY id DESC LIMIT {limit}"
            );
            conn.for_each(&sql, &params, each)?;
        }
    }
    if !full && filter.search.is_some() && out.scanned == scan_cap {
        out.capped_at = last_scanned;
    }
    Ok(out)
}

/// The query pairs of a request, or the 400 that says why they do not parse.
pub fn pairs(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Filter, UiError> {
    let Query(pairs) = q.map_err(|e| BadQuery {
        param: "query string".into(),
        message: e.body_text(),
    })?;
    Ok(Filter::parse(&pairs, now_ms())?)
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub async fn page(
    state: State,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, UiError> {
    let filter = pairs(q)?;
    let f = filter.clone();
    let (listing, buckets) = db::with(&state.0, move |c| {
        Ok((
            list(c, &f, PAGE, SCAN_CAP)?,
            crate::histogram::count(c, &f)?,
        ))
    })
    .await?;
    let body = html! {
        (form(&filter, "/"))
        (summary(&filter, &listing))
        (crate::histogram::svg(&filter, &buckets))
        (table(&filter, &listing.rows))
        (pager(&filter, &listing))
    };
    Ok(shell("Messages", None, body).into_response())
}

/// The filter form: every parameter, GET to `action`, so the URL holds the whole query.
pub fn form(f: &Filter, action: &str) -> Markup {
    let text = |name: &'static str, label: &'static str, hint: &'static str| {
        html! {
            label { (label) input type="text" name=(name) value=(f.value(name)) placeholder=(hint); }
        }
    };
    html! {
        form.filters method="get" action=(action) {
            div.row {
                label { "Range "
                    select name="range" {
                        option value="" { "—" }
                        @for (p, _) in PRESETS {
                            option value=(p) selected[f.value("range") == *p] { (p) }
                        }
                    }
                }
                label { "From " input type="text" name="from" value=(f.value("from")) placeholder="2026-11-27T03:00:00Z"; }
                label { "To " input type="text" name="to" value=(f.value("to")) placeholder="(now)"; }
                label { "Type "
                    select name="type" {
                        option value="" { "any" }
                        option value="syslog" selected[f.value("type") == "syslog"] { "syslog" }
                        option value="snmp_trap" selected[f.value("type") == "snmp_trap"] { "snmp_trap" }
                    }
                }
                label { "Validated "
                    select name="validated" {
                        option value="" { "any" }
                        option value="yes" selected[f.value("validated") == "yes"] { "yes" }
                        option value="no" selected[f.value("validated") == "no"] { "no" }
                    }
                }
            }
            div.row {
                (text("device", "Device ", "address or name"))
                (text("severity", "Severity ", "critical"))
                (text("rule", "Rule ", "rule id"))
                (text("facility", "Facility ", "code, e.g. 4"))
                (text("level", "Level ", "0-7"))
                (text("program", "Program ", "sshd"))
                (text("oid", "Trap OID ", "1.3.6.1.6.3.1.1.5.3"))
            }
            div.row {
                label.search { "Search "
                    input type="search" name="q" value=(f.value("q")) placeholder=r#"link down -eth0 "exact phrase""#;
                }
                button type="submit" { "Show" }
                a href=(action) { "Reset" }
            }
            details.syntax {
                summary { "Search syntax" }
                p { "Words separated by spaces must all appear in the message text; "
                    code { "\"two words\"" } " must appear as written; "
                    code { "-word" } " must not appear. Letters A–Z match either case. "
                    "Nothing else is special: " code { "% _ \\ '" } " are plain characters. "
                    "A search reads at most " (SCAN_CAP) " messages of the range, newest first, "
                    "and says so when it stops there." }
                p { "Times are RFC 3339 (" code { "2026-11-27T03:43:00Z" } "), UTC when no offset is given. "
                    "A device is an address (source_ip) or a name (source_device)." }
            }
        }
    }
}

fn summary(f: &Filter, l: &Listing) -> Markup {
    html! {
        p.summary {
            "Received " (fmt_ms(f.from_ms)) " to " (fmt_ms(f.to_ms)) ". "
            @if f.search.is_some() {
                "Search read " (l.scanned) " messages, matched " (l.rows.len())
                @if l.next.is_some() { " (a page full)" } ". "
            }
            a href={ "/tail?" (f.query_with(&[("before", ""), ("range", ""), ("from", ""), ("to", "")])) } { "Follow live" }
            " · Export (at most " (crate::export::MAX_ROWS) " rows) "
            a href={ "/export?" (f.query_with(&[("format", "csv")])) } { "CSV" }
            " "
            a href={ "/export?" (f.query_with(&[("format", "jsonl")])) } { "JSON lines" }
        }
        @if let Some(at) = &l.capped_at {
            p.warning.capped {
                "The search stopped after reading " (SCAN_CAP) " messages; older ones were not searched. "
                a href={ "/?" (f.query_with(&[("before", at)])) } { "Search older messages" }
            }
        }
    }
}

/// Unix milliseconds as RFC 3339 UTC.
pub fn fmt_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// The list: every device, rule and OID links to the list filtered by it.
pub fn table(f: &Filter, rows: &[ListRow]) -> Markup {
    html! {
        table.messages #messages {
            thead { tr { th { "Received (UTC)" } th { "Type" } th { "Device" } th { "Severity" } th { "Rule" } th { "Program / OID" } th { "Message" } } }
            tbody {
                @for r in rows { (row(f, r)) }
            }
        }
        @if rows.is_empty() { p.empty { "No messages match." } }
    }
}

fn row(f: &Filter, r: &ListRow) -> Markup {
    let by =
        |key: &str, value: &str| format!("/?{}", f.query_with(&[(key, value), ("before", "")]));
    html! {
        tr.invalid[!r.validated] {
            td.time { a href={ "/messages/" (r.id) } { (r.received_at) } }
            td { a href=(by("type", &r.kind)) { (r.kind) } }
            td {
                a href=(by("device", &r.source_ip)) { (r.source_ip) }
                @if let Some(name) = &r.source_device {
                    @if name != &r.source_ip { " " a.name href=(by("device", name)) { (name) } }
                }
            }
            td { @if let Some(s) = &r.severity { a href=(by("severity", s)) { (s) } } }
            td { @if let Some(id) = &r.rule_id {
                a href=(by("rule", id)) { (r.rule_name.as_deref().unwrap_or(id)) } } }
            td {
                @if let Some(p) = &r.program { a href=(by("program", p)) { (p) } }
                @if let Some(o) = &r.oid { a href=(by("oid", o)) { (o) } }
            }
            td.text { (cut(&r.text, 300)) }
        }
    }
}

fn pager(f: &Filter, l: &Listing) -> Markup {
    html! {
        p.pager {
            @if f.before.is_some() { a href={ "/?" (f.query_with(&[("before", "")])) } { "Newest" } " " }
            @if let Some(next) = &l.next {
                a rel="next" href={ "/?" (f.query_with(&[("before", next)])) } { "Older →" }
            } @else {
                span { "End of the range." }
            }
        }
    }
}
