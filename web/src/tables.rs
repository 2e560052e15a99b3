//! The pages over the collector's small tables: devices, the webhook outbox (alerts), rule
//! counters, SNMPv3 authentication failures, archives. Each reads at most [`CAP`] rows in an
//! order an index or the primary key gives, and says when there were more.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use std::ops::ControlFlow;

use maud::{html, Markup};
use mutt_query::{Conn, Value};

use crate::db::{self, DbError};
use crate::filter::{query_string, BadQuery, Filter};
use crate::html::{page as shell, UiError};
use crate::messages::{list, now_ms, table};
use crate::State;

/// Rows a table page shows.
pub const CAP: usize = 500;

/// A generic result: column names and text cells, and whether the cap cut it.
struct Grid {
    rows: Vec<Vec<Option<String>>>,
    capped: bool,
}

fn grid(conn: &mut Conn, sql: &str, params: Vec<Value>) -> Result<Grid, DbError> {
    let mut out = Grid {
        rows: Vec::new(),
        capped: false,
    };
    conn.for_each(&format!("{sql} LIMIT {}", CAP + 1), &params, |r| {
        if out.rows.len() == CAP {
            out.capped = true;
            return Ok(ControlFlow::Break(()));
        }
        let mut cells = Vec::with_capacity(r.len());
        for i in 0..r.len() {
            cells.push(match r.value(i)? {
                Value::Null => None,
                Value::Integer(v) => Some(v.to_string()),
                Value::Real(v) => Some(v.to_string()),
                Value::Text(t) => Some(t),
                Value::Blob(b) => Some(crate::html::escape_bytes(&b)),
            });
        }
        out.rows.push(cells);
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(out)
}

/// A table whose cells may link: `link(column index, cell)` gives an href or None.
fn render(
    headers: &[&str],
    g: &Grid,
    id: &str,
    link: impl Fn(usize, &str) -> Option<String>,
) -> Markup {
    html! {
        @if g.capped { p.warning.capped { "Showing the first " (CAP) " rows only." } }
        @if g.rows.is_empty() { p.empty { "Nothing here yet." } }
        @else {
            table.grid id=(id) {
                thead { tr { @for h in headers { th { (h) } } } }
                tbody {
                    @for row in &g.rows {
                        tr { @for (i, cell) in row.iter().enumerate() {
                            td { @if let Some(v) = cell {
                                @if let Some(href) = link(i, v) { a href=(href) { (v) } } @else { (v) }
                            } }
                        } }
                    }
                }
            }
        }
    }
}

fn filter_link(key: &str, value: &str) -> String {
    format!("/?{}", query_string(&[(key, value), ("range", "7d")]))
}

pub async fn devices(state: State) -> Result<Response, UiError> {
    let g = db::with(&state.0, |c| {
        grid(
            c,
            "SELECT source_ip, hostname, last_seen_snmp_version, last_seen_syslog, first_seen, \
             last_updated FROM devices ORDER BY hostname",
            vec![],
        )
    })
    .await?;
    let headers = [
        "Address",
        "Name",
        "SNMP version",
        "Syslog",
        "First seen",
        "Last updated",
    ];
    let body = render(&headers, &g, "devices", |i, v| match i {
        0 => Some(format!("/devices/{}", crate::filter::encode(v))),
        1 => Some(filter_link("device", v)),
        _ => None,
    });
    Ok(shell("Devices", None, body).into_response())
}

pub async fn device(state: State, Path(ip): Path<String>) -> Result<Response, UiError> {
    let addr: std::net::IpAddr = ip
        .parse()
        .map_err(|_| UiError::NotFound(format!("device {ip}")))?;
    let ip = addr.to_string();
    let pairs = vec![
        ("device".to_string(), ip.clone()),
        ("range".to_string(), "7d".to_string()),
    ];
    let filter = Filter::parse(&pairs, now_ms())?;
    let (key, f) = (ip.clone(), filter.clone());
    let (g, listing) = db::with(&state.0, move |c| {
        let g = grid(
            c,
            "SELECT source_ip, hostname, last_seen_snmp_version, last_seen_syslog, first_seen, \
             last_updated FROM devices WHERE source_ip = ?",
            vec![Value::Text(key)],
        )?;
        Ok((g, list(c, &f, 20, 1)?))
    })
    .await?;
    if g.rows.is_empty() && listing.rows.is_empty() {
        return Err(UiError::NotFound(format!("device {ip}")));
    }
    let headers = [
        "Address",
        "Name",
        "SNMP version",
        "Syslog",
        "First seen",
        "Last updated",
    ];
    let body = html! {
        (render(&headers, &g, "device", |_, _| None))
        h2 { "Latest messages (7 days)" }
        (table(&filter, &listing.rows))
        p { a href={ "/?" (filter.query_with(&[])) } { "All its messages" } }
    };
    Ok(shell(&format!("Device {ip}"), None, body).into_response())
}

pub async fn alerts(
    state: State,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, UiError> {
    let Query(pairs) = q.map_err(|e| BadQuery {
        param: "query string".into(),
        message: e.body_text(),
    })?;
    let mut wanted = None;
    for (k, v) in pairs {
        match (k.as_str(), v.as_str()) {
            ("state", "pending" | "delivered" | "dead") => wanted = Some(v),
            ("state", "") => {}
            ("state", _) => {
                return Err(BadQuery {
                    param: "state".into(),
                    message: "expected pending, delivered or dead".into(),
                }
                .into())
            }
            _ => {
                return Err(BadQuery {
                    param: k,
                    message: "unknown parameter; known is state".into(),
                }
                .into())
            }
        }
    }
    let w = wanted.clone();
    let g = db::with(&state.0, move |c| {
        let (clause, params) = match w {
            Some(s) => ("WHERE state = ?", vec![Value::Text(s)]),
            None => ("", vec![]),
        };
        grid(
            c,
            &format!(
                "SELECT id, message_id, rule_id, target, state, attempts, next_attempt_at, \
                 last_error, created_at, delivered_at, fold_count FROM webhook_outbox {clause} \
                 ORDER BY id DESC"
            ),
            params,
        )
    })
    .await?;
    let headers = [
        "Alert",
        "Message",
        "Rule",
        "Target",
        "State",
        "Attempts",
        "Next attempt",
        "Last error",
        "Created",
        "Delivered",
        "Folded",
    ];
    let body = html! {
        p.states {
            "State: " a href="/alerts" { "all" }
            @for s in ["pending", "delivered", "dead"] { " " a href={ "/alerts?state=" (s) } { (s) } }
            @if let Some(s) = &wanted { " — showing " strong { (s) } }
        }
        (render(&headers, &g, "alerts", |i, v| match i {
            1 => Some(format!("/messages/{v}")),
            2 => Some(filter_link("rule", v)),
            _ => None,
        }))
    };
    Ok(shell("Alerts", None, body).into_response())
}

pub async fn rules(state: State) -> Result<Response, UiError> {
    let g = db::with(&state.0, |c| {
        grid(
            c,
            "SELECT rule_id, rule_name, matched, discarded, last_matched_at FROM rule_counters \
             ORDER BY matched DESC, rule_id",
            vec![],
        )
    })
    .await?;
    let headers = ["Rule", "Name", "Matched", "Discarded", "Last matched"];
    let body = render(&headers, &g, "rules", |i, v| {
        (i == 0).then(|| filter_link("rule", v))
    });
    Ok(shell("Rules", None, body).into_response())
}

pub async fn snmpv3(state: State) -> Result<Response, UiError> {
    let g = db::with(&state.0, |c| {
        grid(
            c,
            "SELECT username, hostname, num_failures, last_failure FROM snmpv3_auth_failures \
             ORDER BY last_failure DESC",
            vec![],
        )
    })
    .await?;
    let headers = ["User name", "Address", "Failures", "Last failure"];
    let body = render(&headers, &g, "snmpv3", |_, _| None);
    Ok(shell("SNMPv3 authentication failures", None, body).into_response())
}

pub async fn archives(state: State) -> Result<Response, UiError> {
    let g = db::with(&state.0, |c| {
        grid(
            c,
            "SELECT filename, message_type, message_count, size_bytes, archived_at, \
             earliest_message_timestamp, latest_message_timestamp, sha256, deleted_at, expired_at \
             FROM archives ORDER BY archived_at DESC",
            vec![],
        )
    })
    .await?;
    let headers = [
        "File",
        "Type",
        "Messages",
        "Bytes",
        "Archived",
        "Earliest",
        "Latest",
        "SHA-256",
        "Deleted from database",
        "File expired",
    ];
    let body = render(&headers, &g, "archives", |_, _| None);
    Ok(shell("Archives", None, body).into_response())
}
