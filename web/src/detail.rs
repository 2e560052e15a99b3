//! One message (`/messages/{id}`): its text (bytes that are not UTF-8 shown escaped), every
//! parsed field, structured data, varbinds, validation errors, the rule it matched, its alerts
//! in the webhook outbox, and the same device's messages just before and after it.
//!
//! Queries: the row by primary key; the outbox by `idx_outbox_message`; the context, five each
//! way, in the order rows were stored in. On SQLite that is rowid order: the device's blocks at
//! or below the message's block are read backward by rowid until five rows are found, and those
//! at or above it forward (`device_rows::Device::around`). A file from before the block index
//! reads `source_ip = ? AND rowid < ?` (and `>`) through `idx_source_ip`. PostgreSQL has no
//! rowid: the same query orders by `id` there (`Dialect::arrival_order`).

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use std::ops::ControlFlow;

use maud::{html, Markup};
use mutt_query::{Conn, Value};
use serde_json::Value as Json;

use crate::db::{self, DbError};
use crate::device_rows::{Device, Direction};
use crate::filter::{parse_cursor, query_string};
use crate::html::{cut, escape_bytes, page as shell, UiError};
use crate::messages::{ListRow, LIST_COLUMNS};
use crate::State;

/// The fields shown, in order: (column, label). `snmp_community_string` is never read.
const FIELDS: &[(&str, &str)] = &[
    ("type", "Type"),
    ("source_ip", "Source address"),
    ("source_port", "Source port"),
    ("transport", "Transport"),
    ("source_device", "Device name"),
    ("timestamp", "Device time"),
    ("received_at", "Received"),
    ("validated", "Validated"),
    ("truncated", "Truncated"),
    ("matched_rule_id", "Rule id"),
    ("matched_rule_name", "Rule"),
    ("match_severity", "Severity"),
    ("error_message", "Stored raw because"),
    ("syslog_format", "Syslog format"),
    ("syslog_facility", "Facility"),
    ("syslog_level", "Level"),
    ("syslog_hostname", "Hostname"),
    ("syslog_program", "Program"),
    ("syslog_process_id", "Process id"),
    ("syslog_tag", "Tag"),
    ("syslog_msgid", "MSGID"),
    ("snmp_version", "SNMP version"),
    ("snmp_pdu_type", "PDU"),
    ("snmp_oid", "Trap OID"),
    ("snmp_trap_type", "Trap type"),
    ("snmp_agent_addr", "Agent address"),
    ("snmp_uptime", "Uptime (1/100 s)"),
    ("snmp_request_id", "Request id"),
    ("snmp_security_name", "v3 security name"),
    ("snmp_security_level", "v3 security level"),
    ("snmp_engine_id", "v3 engine id"),
];

struct Message {
    id: String,
    fields: Vec<(&'static str, &'static str, Option<String>)>,
    raw: String,
    validation_errors: Option<String>,
    structured_data: Option<String>,
    varbinds: Option<String>,
    enriched: Option<String>,
    outbox: Vec<Outbox>,
    before: Vec<ListRow>,
    after: Vec<ListRow>,
}

struct Outbox {
    id: i64,
    rule_id: String,
    target: String,
    state: String,
    attempts: i64,
    next_attempt_at: String,
    last_error: Option<String>,
    delivered_at: Option<String>,
    fold_count: i64,
}

fn load(conn: &mut Conn, id: &str) -> Result<Option<Message>, DbError> {
    let columns: Vec<&str> = FIELDS.iter().map(|(c, _)| *c).collect();
    let sql = format!(
        "SELECT {}, raw_message, raw_bytes, validation_errors, syslog_structured_data, \
         snmp_varbinds, enriched_data FROM messages WHERE id = ?1",
        columns.join(", ")
    );
    let n = FIELDS.len();
    let key = [Value::from(id)];
    let found = conn.first(&sql, &key, |r| {
        let mut fields = Vec::with_capacity(n);
        for (i, (column, label)) in FIELDS.iter().enumerate() {
            let flag = matches!(*column, "validated" | "truncated");
            let text = match r.value(i)? {
                Value::Null => None,
                Value::Integer(i) if flag => Some(if i == 0 { "no" } else { "yes" }.to_string()),
                Value::Integer(i) => Some(i.to_string()),
                Value::Real(f) => Some(f.to_string()),
                Value::Text(t) => Some(t),
                Value::Blob(b) => Some(escape_bytes(&b)),
            };
            fields.push((*column, *label, text));
        }
        let raw_bytes: Option<Vec<u8>> = r.get(n + 1)?;
        let raw_message: Option<String> = r.get(n)?;
        // raw_bytes are the bytes as received where raw_message is not them exactly; an
        // SNMP datagram's bytes are BER, so its decoded text is the one to read.
        let syslog = fields.first().and_then(|f| f.2.as_deref()) == Some("syslog");
        let raw = match (raw_message, raw_bytes) {
            (Some(text), Some(bytes)) if syslog && text.as_bytes() != bytes => escape_bytes(&bytes),
            (Some(text), _) => text,
            (None, Some(bytes)) => escape_bytes(&bytes),
            (None, None) => String::new(),
        };
        Ok(Message {
            id: id.to_string(),
            fields,
            raw,
            validation_errors: r.get(n + 2)?,
            structured_data: r.get(n + 3)?,
            varbinds: r.get(n + 4)?,
            enriched: r.get(n + 5)?,
            outbox: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
        })
    })?;
    let Some(mut m) = found else { return Ok(None) };
    conn.for_each(
        "SELECT id, rule_id, target, state, attempts, next_attempt_at, last_error, delivered_at, \
         fold_count FROM webhook_outbox WHERE message_id = ?1 ORDER BY id",
        &key,
        |r| {
            m.outbox.push(Outbox {
                id: r.get(0)?,
                rule_id: r.get(1)?,
                target: r.get(2)?,
                state: r.get(3)?,
                attempts: r.get(4)?,
                next_attempt_at: r.get(5)?,
                last_error: r.get(6)?,
                delivered_at: r.get(7)?,
                fold_count: r.get(8)?,
            });
            Ok(ControlFlow::Continue(()))
        },
    )?;
    let source = m
        .fields
        .iter()
        .find(|f| f.0 == "source_ip")
        .and_then(|f| f.2.clone());
    if let Some(ip) = source {
        (m.before, m.after) = neighbours(conn, ip, id)?;
    }
    Ok(Some(m))
}

/// The device's five messages stored before `id` (nearest first) and the five after
/// (farthest first, as the page shows them).
fn neighbours(
    conn: &mut Conn,
    ip: String,
    id: &str,
) -> Result<(Vec<ListRow>, Vec<ListRow>), DbError> {
    const EACH_WAY: usize = 5;
    if let Some(device) = Device::new(conn, Value::Text(ip.clone()))? {
        let mut around = |direction| -> Result<Vec<ListRow>, DbError> {
            let mut rows = Vec::with_capacity(EACH_WAY);
            device.around(conn, id, direction, EACH_WAY, LIST_COLUMNS, |r| {
                rows.push(ListRow::from_row(r)?);
                Ok(())
            })?;
            Ok(rows)
        };
        let before = around(Direction::Before)?;
        let mut after = around(Direction::After)?;
        after.reverse();
        return Ok((before, after));
    }
    let order = conn.dialect().arrival_order();
    let params = [Value::Text(ip), Value::from(id)];
    let mut around = |op: &str, direction: &str| -> Result<Vec<ListRow>, DbError> {
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM messages WHERE source_ip = ?1 \
             AND {order} {op} (SELECT {order} FROM messages WHERE id = ?2) \
             ORDER BY {order} {direction} LIMIT {EACH_WAY}"
        );
        let mut rows = Vec::new();
        conn.for_each(&sql, &params, |r| {
            rows.push(ListRow::from_row(r)?);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(rows)
    };
    let before = around("<", "DESC")?;
    let mut after = around(">", "ASC")?;
    after.reverse();
    Ok((before, after))
}

pub async fn page(state: State, Path(id): Path<String>) -> Result<Response, UiError> {
    let id =
        parse_cursor(&id).map_err(|_| UiError::NotFound(format!("message {}", cut(&id, 64))))?;
    let key = id.clone();
    let m = db::with(&state.0, move |c| load(c, &key))
        .await?
        .ok_or_else(|| UiError::NotFound(format!("message {id}")))?;
    Ok(shell(&format!("Message {}", m.id), None, render(&m)).into_response())
}

fn render(m: &Message) -> Markup {
    let link = |key: &str, value: &str| format!("/?{}", query_string(&[(key, value)]));
    let linked = |column: &str| match column {
        "source_ip" | "source_device" => Some("device"),
        "matched_rule_id" => Some("rule"),
        "match_severity" => Some("severity"),
        "snmp_oid" => Some("oid"),
        "syslog_program" => Some("program"),
        _ => None,
    };
    html! {
        h2 { "Message as received" }
        pre.raw #raw { (m.raw) }
        h2 { "Fields" }
        table.fields #fields {
            @for (column, label, value) in &m.fields {
                @if let Some(v) = value {
                    tr {
                        th { (label) }
                        td {
                            @if let Some(key) = linked(column) { a href=(link(key, v)) { (v) } }
                            @else { (v) }
                        }
                    }
                }
            }
        }
        @if let Some(errors) = &m.validation_errors { (validation(errors)) }
        @if let Some(sd) = &m.structured_data { h2 { "Structured data" } (json_block(sd)) }
        @if let Some(vb) = &m.varbinds { (varbinds(vb)) }
        @if let Some(e) = &m.enriched { h2 { "Enrichment" } (json_block(e)) }
        h2 { "Alerts" }
        @if m.outbox.is_empty() { p { "No webhook alert was queued for this message." } }
        @else {
            table.outbox #outbox {
                tr { th { "Alert" } th { "Rule" } th { "Target" } th { "State" } th { "Attempts" } th { "Next attempt" } th { "Delivered" } th { "Folded" } th { "Last error" } }
                @for o in &m.outbox {
                    tr {
                        td { (o.id) } td { (o.rule_id) } td { (o.target) }
                        td.{ "state-" (o.state) } { (o.state) }
                        td { (o.attempts) } td { (o.next_attempt_at) }
                        td { (o.delivered_at.as_deref().unwrap_or("")) } td { (o.fold_count) }
                        td { (o.last_error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        h2 { "Same device, around it" }
        table.messages.context {
            @for r in m.after.iter().chain(std::iter::once(&ListRow::marker(&m.id))).chain(m.before.iter()) {
                tr.current[r.id == m.id] {
                    td.time { @if r.id == m.id { "this message" } @else { a href={ "/messages/" (r.id) } { (r.received_at) } } }
                    td { (r.kind) }
                    td.text { (cut(&r.text, 200)) }
                }
            }
        }
    }
}

fn validation(errors: &str) -> Markup {
    let list: Option<Vec<String>> = serde_json::from_str::<Vec<Json>>(errors).ok().map(|v| {
        v.into_iter()
            .map(|e| match e {
                Json::String(s) => s,
                other => other.to_string(),
            })
            .collect()
    });
    html! {
        @match list {
            Some(l) if l.is_empty() => {}
            Some(l) => { h2 { "Validation errors" } ul.errors #validation { @for e in l { li { (e) } } } }
            None => { h2 { "Validation errors" } pre { (errors) } }
        }
    }
}

fn json_block(text: &str) -> Markup {
    let pretty = serde_json::from_str::<Json>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string());
    html! { pre.json { (pretty) } }
}

fn varbinds(text: &str) -> Markup {
    let Ok(Json::Array(list)) = serde_json::from_str::<Json>(text) else {
        return html! { h2 { "Varbinds" } (json_block(text)) };
    };
    let field = |v: &Json, k: &str| match v.get(k) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    html! {
        h2 { "Varbinds" }
        table.varbinds #varbinds {
            tr { th { "Name" } th { "OID" } th { "Type" } th { "Value" } }
            @for v in &list {
                tr {
                    td { (field(v, "name")) }
                    td { (field(v, "oid")) }
                    td { (field(v, "type")) }
                    td.value { (field(v, "value")) }
                }
            }
        }
    }
}

impl ListRow {
    /// A placeholder row standing for the message itself in its context.
    fn marker(id: &str) -> ListRow {
        ListRow {
            id: id.to_string(),
            kind: String::new(),
            source_ip: String::new(),
            source_device: None,
            received_at: String::new(),
            severity: None,
            rule_id: None,
            rule_name: None,
            program: None,
            oid: None,
            text: String::new(),
            validated: true,
        }
    }
}
