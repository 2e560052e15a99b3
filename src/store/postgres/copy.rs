//! What one batch writes: its messages by binary `COPY`, its devices and rule counters by
//! upsert, and the raw row of a message that failed on its own.
//!
//! Binary COPY streams every row of the batch in one round trip without parsing text; the issue
//! measured it at about twice a 1000-row INSERT's rows/s, so no INSERT path is kept beside it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::error::Error;

use bytes::BytesMut;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::Transaction;
use tracing::warn;

use super::{at, Ctx, PgError};
use crate::store::devices::Seen;
use crate::store::row::{Detail, MessageRow};

/// `text` that PostgreSQL accepts: a NUL (which it refuses) becomes U+FFFD. The exact bytes of
/// such a message are in `raw_bytes`.
pub(super) fn no_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_no_nul(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(no_nul)
}

/// JSON text for a `jsonb` (or `json`) column, sent as it is: jsonb's binary form is a version
/// byte and the text, so nothing is parsed here (but see [`Json::new`]).
#[derive(Debug)]
pub(super) struct Json<'a>(Cow<'a, str>);

impl<'a> Json<'a> {
    /// jsonb refuses the escape `\u0000` as text refuses NUL: JSON holding one (a NUL in a
    /// structured-data value or a varbind string) is parsed and written again with U+FFFD in
    /// its place. Other JSON is sent untouched.
    pub(super) fn new(text: &'a str) -> Json<'a> {
        if !text.contains("\\u0000") {
            return Json(Cow::Borrowed(text));
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(mut v) => {
                scrub(&mut v);
                Json(Cow::Owned(v.to_string()))
            }
            Err(_) => Json(Cow::Borrowed(text)),
        }
    }
}

/// Every NUL in the strings and keys of `v` replaced by U+FFFD.
fn scrub(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => {
            let old = std::mem::take(map);
            *map = old
                .into_iter()
                .map(|(k, mut v)| {
                    scrub(&mut v);
                    (k.replace('\0', "\u{FFFD}"), v)
                })
                .collect();
        }
        _ => {}
    }
}

impl ToSql for Json<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        if *ty == Type::JSONB {
            out.extend_from_slice(&[1]);
        }
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }

    to_sql_checked!();
}

/// The bytes PostgreSQL must keep besides `raw_message`: SQLite's rule (every SNMP datagram,
/// syslog that is not UTF-8), and syslog with a NUL, which `text` cannot hold.
fn raw_bytes(row: &MessageRow) -> Option<&[u8]> {
    row.raw_bytes_to_store().or_else(|| {
        (matches!(row.detail, Detail::Syslog(_)) && row.raw_bytes.contains(&0))
            .then_some(&row.raw_bytes[..])
    })
}

/// `messages`' columns, in the order `copy_messages` writes them, with their types.
const COLUMNS: &[(&str, Type)] = &[
    ("id", Type::TEXT),
    ("type", Type::TEXT),
    ("source_ip", Type::TEXT),
    ("source_device", Type::TEXT),
    ("timestamp", Type::TIMESTAMPTZ),
    ("received_at", Type::TIMESTAMPTZ),
    ("raw_message", Type::TEXT),
    ("validated", Type::BOOL),
    ("validation_errors", Type::JSONB),
    ("matched_rule_id", Type::TEXT),
    ("matched_rule_name", Type::TEXT),
    ("match_severity", Type::TEXT),
    ("stored_to_db", Type::BOOL),
    ("created_at", Type::TIMESTAMPTZ),
    ("collector_id", Type::TEXT),
    ("wal_seq", Type::INT8),
    ("source_port", Type::INT4),
    ("transport", Type::TEXT),
    ("truncated", Type::BOOL),
    ("raw_bytes", Type::BYTEA),
    ("syslog_facility", Type::TEXT),
    ("syslog_level", Type::INT4),
    ("syslog_program", Type::TEXT),
    ("syslog_process_id", Type::INT8),
    ("syslog_tag", Type::TEXT),
    ("syslog_hostname", Type::TEXT),
    ("syslog_msgid", Type::TEXT),
    ("syslog_structured_data", Type::JSONB),
    ("syslog_format", Type::TEXT),
    ("snmp_oid", Type::TEXT),
    ("snmp_trap_type", Type::TEXT),
    ("snmp_version", Type::TEXT),
    ("snmp_community_string", Type::TEXT),
    ("snmp_security_name", Type::TEXT),
    ("snmp_engine_id", Type::TEXT),
    ("snmp_security_level", Type::TEXT),
    ("snmp_pdu_type", Type::TEXT),
    ("snmp_request_id", Type::INT8),
    ("snmp_varbinds", Type::JSONB),
    ("snmp_agent_addr", Type::TEXT),
    ("snmp_uptime", Type::INT8),
];

/// The syslog columns' values, or all NULL for an SNMP row.
#[derive(Default)]
struct SyslogValues<'a> {
    facility: Option<String>,
    level: Option<i32>,
    program: Option<Cow<'a, str>>,
    process_id: Option<i64>,
    tag: Option<Cow<'a, str>>,
    hostname: Option<Cow<'a, str>>,
    msgid: Option<Cow<'a, str>>,
    structured_data: Option<Json<'a>>,
    format: Option<&'static str>,
}

/// The SNMP columns' values, or all NULL for a syslog row.
#[derive(Default)]
struct SnmpValues<'a> {
    oid: Option<Cow<'a, str>>,
    trap_type: Option<Cow<'a, str>>,
    version: Option<Cow<'a, str>>,
    community: Option<Cow<'a, str>>,
    security_name: Option<Cow<'a, str>>,
    engine_id: Option<Cow<'a, str>>,
    security_level: Option<Cow<'a, str>>,
    pdu_type: Option<Cow<'a, str>>,
    request_id: Option<i64>,
    varbinds: Option<Json<'a>>,
    agent_addr: Option<Cow<'a, str>>,
    uptime: Option<i64>,
}

fn typed(row: &MessageRow) -> (SyslogValues<'_>, SnmpValues<'_>) {
    let json = row.detail_json.as_deref().map(Json::new);
    match &row.detail {
        Detail::Syslog(s) => (
            SyslogValues {
                facility: s.facility.map(|f| f.to_string()),
                level: s.level.map(i32::from),
                program: opt_no_nul(s.program.as_deref()),
                process_id: s.process_id,
                tag: opt_no_nul(s.tag.as_deref()),
                hostname: opt_no_nul(s.hostname.as_deref()),
                msgid: opt_no_nul(s.msgid.as_deref()),
                structured_data: json,
                format: Some(s.format.as_str()),
            },
            SnmpValues::default(),
        ),
        Detail::Snmp(t) => (
            SyslogValues::default(),
            SnmpValues {
                oid: Some(no_nul(&t.trap_oid)),
                trap_type: Some(no_nul(&t.trap_type)),
                version: Some(no_nul(&t.version)),
                community: opt_no_nul(t.community.as_deref()),
                security_name: opt_no_nul(t.security_name.as_deref()),
                engine_id: opt_no_nul(t.engine_id.as_deref()),
                security_level: opt_no_nul(t.security_level.as_deref()),
                pdu_type: Some(no_nul(&t.pdu_type)),
                request_id: t.request_id,
                varbinds: json,
                agent_addr: opt_no_nul(t.agent_addr.as_deref()),
                uptime: t.uptime.and_then(|u| i64::try_from(u).ok()),
            },
        ),
    }
}

/// COPY every row of `rows` that is not discarded into `messages`.
pub(super) fn copy_messages(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    rows: &[MessageRow],
) -> Result<(), PgError> {
    let kept: Vec<&MessageRow> = rows.iter().filter(|r| !r.is_discarded()).collect();
    if kept.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let types: Vec<Type> = COLUMNS.iter().map(|(_, t)| t.clone()).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY messages ({}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        ))
        .map_err(|e| ctx.err(e))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let created_at = std::time::SystemTime::now();
    for row in kept {
        let rule = row.rule.as_ref();
        let errors = (!row.validation_errors.is_empty())
            .then(|| serde_json::to_string(&row.validation_errors).ok())
            .flatten();
        let (sl, sn) = typed(row);
        let kind = row.detail.kind().as_str();
        let seq = ctx.seq(row.seq)?;
        let (device, raw) = (no_nul(&row.source_device), no_nul(&row.raw_message));
        let (device, raw) = (device.as_ref(), raw.as_ref());
        let values: [&(dyn ToSql + Sync); 41] = [
            &row.id.as_str(),
            &kind,
            &row.source_ip.to_string(),
            &device,
            &at(row.timestamp_us),
            &at(row.received_at_us),
            &raw,
            &row.validation_errors.is_empty(),
            &errors.as_deref().map(Json::new),
            &rule.map(|r| r.id.as_str()),
            &rule.map(|r| r.name.as_str()),
            &rule.map(|r| r.severity.as_str()),
            &true,
            &created_at,
            &ctx.collector,
            &seq,
            &i32::from(row.source_port),
            &row.transport.as_str(),
            &row.truncated,
            &raw_bytes(row),
            &sl.facility,
            &sl.level,
            &sl.program.as_deref(),
            &sl.process_id,
            &sl.tag.as_deref(),
            &sl.hostname.as_deref(),
            &sl.msgid.as_deref(),
            &sl.structured_data,
            &sl.format,
            &sn.oid.as_deref(),
            &sn.trap_type.as_deref(),
            &sn.version.as_deref(),
            &sn.community.as_deref(),
            &sn.security_name.as_deref(),
            &sn.engine_id.as_deref(),
            &sn.security_level.as_deref(),
            &sn.pdu_type.as_deref(),
            &sn.request_id,
            &sn.varbinds,
            &sn.agent_addr.as_deref(),
            &sn.uptime,
        ];
        writer.write(&values).map_err(|e| ctx.err(e))?;
    }
    writer.finish().map_err(|e| ctx.err(e))?;
    Ok(())
}

/// A row that failed on its own, as received (see `MessageSink::quarantine`).
pub(super) fn insert_raw(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    row: &MessageRow,
    reason: &str,
) -> Result<(), PgError> {
    let errors = serde_json::to_string(&row.validation_errors).ok();
    let raw = raw_bytes(row).or(Some(&row.raw_bytes[..]));
    tx.execute(
        "INSERT INTO messages (id, type, source_ip, source_device, timestamp, received_at,
             raw_message, validated, validation_errors, stored_to_db, error_message, collector_id,
             wal_seq, source_port, transport, truncated, raw_bytes)
         VALUES ($1, $2, $3, $3, $4, $4, $5, false, $6, true, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &row.id,
            &row.kind.as_str(),
            &row.source_ip.to_string(),
            &at(row.received_at_us),
            &no_nul(&row.raw_message).as_ref(),
            &errors.as_deref().map(Json::new),
            &no_nul(reason).as_ref(),
            &ctx.collector,
            &ctx.seq(row.seq)?,
            &i32::from(row.source_port),
            &row.transport.as_str(),
            &row.truncated,
            &raw,
        ],
    )
    .map_err(|e| ctx.err(e))?;
    Ok(())
}

/// Upsert the batch's devices, in one statement, in address order (two collectors updating the
/// same devices lock them in the same order: no deadlock). A name another address
/// already has becomes `name@address`. Should a concurrent collector still take a name first,
/// the devices of this batch are skipped (a savepoint keeps the messages) and written with the
/// device's next message.
///
/// At most `max_devices` rows: a new address past it gets no row and is counted in the result
/// (the count is read in this transaction; two collectors adding at once can pass it by the
/// new addresses of one batch).
pub(super) fn upsert_devices(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    rows: &[MessageRow],
    max_devices: usize,
) -> Result<u64, PgError> {
    let mut devices: BTreeMap<String, Seen<'_>> = crate::store::devices::seen_in(rows)
        .into_iter()
        .map(|(ip, seen)| (ip.to_string(), seen))
        .collect();
    if devices.is_empty() {
        return Ok(0);
    }
    let mut sp = tx.savepoint("devices").map_err(|e| ctx.err(e))?;
    let over_cap = keep_within_cap(&mut sp, ctx, &mut devices, max_devices)?;
    // One statement for the whole batch (a round trip per device cost more than the COPY).
    // Its subqueries see the table as it was before the statement, so a name two new addresses
    // of this batch share is made unique here: the second and later get `name@address`.
    let mut ids = Vec::with_capacity(devices.len());
    let mut names = Vec::with_capacity(devices.len());
    let mut ips = Vec::with_capacity(devices.len());
    let mut versions = Vec::with_capacity(devices.len());
    let mut syslog = Vec::with_capacity(devices.len());
    let mut times = Vec::with_capacity(devices.len());
    let mut taken = std::collections::HashSet::new();
    for (ip, d) in &devices {
        let name: String = no_nul(d.name).chars().take(255).collect();
        let name = if taken.insert(name.clone()) {
            name
        } else {
            format!("{name}@{ip}")
        };
        ids.push(uuid::Uuid::now_v7().to_string());
        names.push(name);
        ips.push(ip.as_str());
        versions.push(d.snmp_version);
        syslog.push(d.syslog);
        times.push(at(d.at_us));
    }
    let result = sp.execute(
        "INSERT INTO devices (id, hostname, source_ip, last_seen_snmp_version,
             last_seen_syslog, first_seen, last_updated)
         SELECT d.id,
                CASE WHEN EXISTS (SELECT 1 FROM devices x
                                  WHERE x.hostname = d.name AND x.source_ip <> d.ip)
                     THEN d.name || '@' || d.ip ELSE d.name END,
                d.ip, d.version, d.syslog, d.at, d.at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[],
                     $6::timestamptz[]) AS d(id, name, ip, version, syslog, at)
         ORDER BY d.ip
         ON CONFLICT (source_ip) DO UPDATE SET
             hostname = CASE WHEN EXISTS (SELECT 1 FROM devices x
                                          WHERE x.hostname = excluded.hostname
                                            AND x.source_ip <> excluded.source_ip)
                             THEN devices.hostname ELSE excluded.hostname END,
             last_updated = GREATEST(devices.last_updated, excluded.last_updated),
             last_seen_snmp_version =
                 COALESCE(excluded.last_seen_snmp_version, devices.last_seen_snmp_version),
             last_seen_syslog = devices.last_seen_syslog OR excluded.last_seen_syslog",
        &[&ids, &names, &ips, &versions, &syslog, &times],
    );
    match result {
        Ok(_) => {}
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            warn!("device registry: rows not updated this batch (a name taken meanwhile)");
            return Ok(over_cap);
        }
        Err(e) => return Err(ctx.err(e)),
    }
    sp.commit().map_err(|e| ctx.err(e))?;
    Ok(over_cap)
}

/// Drop from `devices` the new addresses the table has no room for; returns how many.
fn keep_within_cap(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    devices: &mut BTreeMap<String, Seen<'_>>,
    max_devices: usize,
) -> Result<u64, PgError> {
    let ips: Vec<&str> = devices.keys().map(String::as_str).collect();
    let known: std::collections::HashSet<String> = tx
        .query(
            "SELECT source_ip FROM devices WHERE source_ip = ANY($1)",
            &[&ips],
        )
        .map_err(|e| ctx.err(e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if known.len() == devices.len() {
        return Ok(0);
    }
    let rows: i64 = tx
        .query_one("SELECT COUNT(*) FROM devices", &[])
        .map_err(|e| ctx.err(e))?
        .get(0);
    let mut room = max_devices.saturating_sub(usize::try_from(rows).unwrap_or(usize::MAX));
    let mut over_cap = 0;
    devices.retain(|ip, _| {
        if known.contains(ip) {
            true
        } else if room > 0 {
            room -= 1;
            true
        } else {
            over_cap += 1;
            false
        }
    });
    Ok(over_cap)
}

/// Add the batch's rule hits to `rule_counters`, in rule order.
pub(super) fn update_rule_counters(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    rows: &[MessageRow],
) -> Result<(), PgError> {
    let counts = crate::store::rule_counts(rows);
    if counts.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare(
            "INSERT INTO rule_counters (rule_id, rule_name, matched, discarded, last_matched_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (rule_id) DO UPDATE SET rule_name = excluded.rule_name,
                 matched = rule_counters.matched + excluded.matched,
                 discarded = rule_counters.discarded + excluded.discarded,
                 last_matched_at = GREATEST(rule_counters.last_matched_at,
                                            excluded.last_matched_at)",
        )
        .map_err(|e| ctx.err(e))?;
    for (id, c) in counts {
        tx.execute(
            &stmt,
            &[&id, &c.name, &c.matched, &c.discarded, &at(c.last_us)],
        )
        .map_err(|e| ctx.err(e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_becomes_the_replacement_character_and_nothing_else_changes() {
        assert_eq!(no_nul("a\0b"), "a\u{FFFD}b");
        assert!(matches!(no_nul("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn json_with_a_nul_escape_gets_the_replacement_character_and_other_json_is_untouched() {
        let j = Json::new(r#"{"a\u0000":["x\u0000y",1]}"#);
        assert_eq!(j.0, "{\"a\u{FFFD}\":[\"x\u{FFFD}y\",1]}");
        // An escaped backslash before `u0000` is text, not a NUL: the value comes back the same.
        let escaped = r#"{"k":"a\\u0000"}"#;
        assert_eq!(Json::new(escaped).0, escaped);
        let plain = r#"{"k": "v"}"#;
        assert!(matches!(Json::new(plain).0, Cow::Borrowed(_)));
    }

    #[test]
    fn a_syslog_line_with_a_nul_keeps_its_bytes() {
        let mut row = MessageRow::test_syslog(1, "192.0.2.1", "r1");
        assert_eq!(raw_bytes(&row), None);
        row.raw_bytes.push(0);
        assert_eq!(raw_bytes(&row), Some(&row.raw_bytes[..]));
    }
}
