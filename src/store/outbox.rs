//! The webhook outbox: alerts written in the same transaction as their messages.
//!
//! A row of `webhook_outbox` is one alert to POST:
//!
//! | column | meaning |
//! |---|---|
//! | id | INTEGER, AUTOINCREMENT so never reused: sent as `X-MUTT-Alert-Id` |
//! | message_id | `messages.id` of the (first) message that raised it |
//! | rule_id | the matched rule |
//! | target | the rule's `webhook:` name, `default` for `outputs.webhook` |
//! | body | the JSON body, built when the message was stored (see [`alert_body`]) |
//! | state | `pending` → `delivered`, or `dead` (retries used up, or no such target); finished rows are deleted by the sender after `outputs.retention` |
//! | attempts | tries the endpoint answered with a non-2xx status |
//! | next_attempt_at | ISO 8601; the sender takes pending rows whose time has come |
//! | last_error | why the last try failed |
//! | created_at, delivered_at | ISO 8601 |
//! | fold_count | how many identical alerts this row stands for (1 = itself) |
//! | fold_key | CRC-32C of rule, target, device address and raw text: finds a row to fold into |
//!
//! Storm control: an alert with the same rule, target, device and raw text as the newest row for
//! that key, while that row is still pending or was created less than the storm window ago, adds
//! one to that row's `fold_count` instead of queueing a new row. A pending row's POST carries the
//! count at send time; repeats folded into an already delivered row are counted in the table but
//! not sent again (that is the point of the window). The first repeat after the window queues a
//! new alert.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};

use super::row::{Detail, MessageRow};
use crate::output::DEFAULT_TARGET;
use crate::rules::Action;
use crate::timefmt::{iso8601_us, now_us};

/// The storm window in microseconds; 0 turns folding off. The writer's signature carries no
/// configuration, so the daemon sets this once at start-up from `outputs.storm_window_seconds`.
static STORM_WINDOW_US: AtomicI64 = AtomicI64::new(60_000_000);

/// Set the storm window (`Duration::ZERO`: never fold).
pub fn set_storm_window(window: Duration) {
    let us = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
    STORM_WINDOW_US.store(us, Ordering::Relaxed);
}

/// Queue one alert per row whose rule asks for a webhook.
pub fn enqueue_alerts(tx: &Transaction<'_>, rows: &[MessageRow]) -> rusqlite::Result<()> {
    enqueue_alerts_at(tx, rows, now_us(), STORM_WINDOW_US.load(Ordering::Relaxed))
}

/// [`enqueue_alerts`] with the clock and the window passed in.
pub fn enqueue_alerts_at(
    tx: &Transaction<'_>,
    rows: &[MessageRow],
    now_us: i64,
    storm_window_us: i64,
) -> rusqlite::Result<()> {
    let mut alerts = rows
        .iter()
        .filter(|r| matches!(&r.rule, Some(hit) if hit.action == Action::Webhook))
        .peekable();
    // The writer calls this for every batch; most carry no webhook alert.
    if alerts.peek().is_none() {
        return Ok(());
    }
    let now = iso8601_us(now_us);
    let window_start = iso8601_us(now_us.saturating_sub(storm_window_us));
    let mut newest = tx.prepare_cached(
        "SELECT o.id, o.state, o.created_at, o.rule_id, o.target, m.source_ip, m.raw_message
         FROM webhook_outbox o LEFT JOIN messages m ON m.id = o.message_id
         WHERE o.fold_key = ?1 ORDER BY o.id DESC LIMIT 1",
    )?;
    let mut fold =
        tx.prepare_cached("UPDATE webhook_outbox SET fold_count = fold_count + 1 WHERE id = ?1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO webhook_outbox (message_id, rule_id, target, body, state, attempts,
             next_attempt_at, created_at, fold_count, fold_key)
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, 1, ?6)",
    )?;
    for row in alerts {
        let Some(hit) = &row.rule else { continue };
        let target = hit.webhook.as_deref().unwrap_or(DEFAULT_TARGET);
        // The device is its address: its name may change when reverse DNS answers.
        let device = row.source_ip.to_string();
        let key = fold_key(&hit.id, target, &device, &row.raw_message);
        if storm_window_us > 0 {
            let found = newest
                .query_row([key], |r| {
                    Ok(Newest {
                        id: r.get(0)?,
                        state: r.get(1)?,
                        created_at: r.get(2)?,
                        rule_id: r.get(3)?,
                        target: r.get(4)?,
                        device: r.get(5)?,
                        raw: r.get(6)?,
                    })
                })
                .optional()?;
            if let Some(n) = found {
                let same = n.rule_id == hit.id
                    && n.target == target
                    && n.device.as_deref() == Some(device.as_str())
                    && n.raw.as_deref() == Some(row.raw_message.as_str());
                if same && (n.state == "pending" || n.created_at >= window_start) {
                    fold.execute([n.id])?;
                    continue;
                }
            }
        }
        let body = alert_body(row).to_string();
        insert.execute(params![row.id, hit.id, target, body, now, key])?;
    }
    Ok(())
}

/// The newest outbox row for a fold key, with what decides whether an alert folds into it.
struct Newest {
    id: i64,
    state: String,
    created_at: String,
    rule_id: String,
    target: String,
    device: Option<String>,
    raw: Option<String>,
}

/// CRC-32C over the fields that make two alerts identical (a collision only costs a fold: the
/// fields are compared exactly before folding).
fn fold_key(rule_id: &str, target: &str, device: &str, raw: &str) -> i64 {
    let mut crc = 0;
    for part in [rule_id, target, device, raw] {
        crc = crc32c::crc32c_append(crc, part.as_bytes());
        crc = crc32c::crc32c_append(crc, &[0]);
    }
    i64::from(crc)
}

/// The alert's JSON body as stored; the sender adds `alert_id` and `fold_count` when it POSTs.
///
/// `{"rule": {id, name, severity}, "device": {name, ip},
///   "message": {id, type, source_ip, source_port, transport, source_device, timestamp,
///               received_at, raw_message, validated, validation_errors, truncated,
///               "syslog": {...} | "snmp": {...}}}`
pub fn alert_body(row: &MessageRow) -> Value {
    let rule = row.rule.as_ref().map_or(
        Value::Null,
        |r| json!({"id": r.id, "name": r.name, "severity": r.severity}),
    );
    let mut message = json!({
        "id": row.id,
        "type": row.kind.as_str(),
        "source_ip": row.source_ip.to_string(),
        "source_port": row.source_port,
        "transport": row.transport.as_str(),
        "source_device": row.source_device,
        "timestamp": iso8601_us(row.timestamp_us),
        "received_at": iso8601_us(row.received_at_us),
        "raw_message": row.raw_message,
        "validated": row.validation_errors.is_empty(),
        "validation_errors": row.validation_errors,
        "truncated": row.truncated,
    });
    if let Value::Object(m) = &mut message {
        let (key, detail) = detail_json(&row.detail);
        m.insert(key.into(), detail);
    }
    json!({
        "rule": rule,
        "device": {"name": row.source_device, "ip": row.source_ip.to_string()},
        "message": message,
    })
}

fn detail_json(detail: &Detail) -> (&'static str, Value) {
    match detail {
        Detail::Syslog(s) => {
            let sd: Map<String, Value> = s
                .structured_data
                .iter()
                .map(|el| {
                    let params = el
                        .params
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    (el.id.clone(), Value::Object(params))
                })
                .collect();
            (
                "syslog",
                json!({
                    "facility": s.facility,
                    "level": s.level,
                    "program": s.program,
                    "process_id": s.process_id,
                    "tag": s.tag,
                    "hostname": s.hostname,
                    "msgid": s.msgid,
                    "structured_data": sd,
                    "message": s.message,
                    "format": s.format.as_str(),
                }),
            )
        }
        Detail::Snmp(t) => (
            "snmp",
            json!({
                "oid": t.trap_oid,
                "trap_type": t.trap_type,
                "snmp_version": t.version,
                "pdu_type": t.pdu_type,
                "request_id": t.request_id,
                "community_string": t.community,
                "security_name": t.security_name,
                "engine_id": t.engine_id,
                "security_level": t.security_level,
                "agent_addr": t.agent_addr,
                "uptime": t.uptime,
                "varbinds": serde_json::to_value(&t.varbinds).unwrap_or(Value::Null),
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::snmp::{SnmpMessage, Varbind};
    use crate::decode::syslog::{SdElement, SyslogFormat, SyslogMessage};
    use crate::model::{MessageKind, Transport};
    use crate::store::RuleHit;

    fn db() -> rusqlite::Connection {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c
    }

    fn syslog_row(n: u32, raw: &str, action: Action) -> MessageRow {
        MessageRow {
            seq: u64::from(n),
            id: format!("m{n:04}"),
            kind: MessageKind::Syslog,
            source_ip: [192, 0, 2, 7].into(),
            source_port: 514,
            transport: Transport::Udp,
            source_device: "edge1".into(),
            timestamp_us: 1_000_000,
            received_at_us: 2_000_000,
            raw_message: raw.into(),
            raw_bytes: raw.as_bytes().to_vec(),
            validation_errors: vec![],
            truncated: false,
            rule: Some(RuleHit {
                id: "r1".into(),
                name: "Link".into(),
                severity: "critical".into(),
                action,
                webhook: None,
            }),
            rejected: None,
            detail: Detail::Syslog(SyslogMessage {
                format: SyslogFormat::Unknown,
                facility: Some(4),
                level: Some(2),
                timestamp_us: None,
                hostname: Some("edge1".into()),
                program: Some("ifmgr".into()),
                process_id: Some(42),
                tag: Some("ifmgr[42]".into()),
                msgid: None,
                structured_data: vec![SdElement {
                    id: "meta@1".into(),
                    params: vec![("k".into(), "v".into())],
                }],
                message: raw.into(),
                errors: vec![],
            }),
        }
    }

    /// Store the message rows as the writer does (the fold check joins them), then enqueue.
    fn write(c: &mut rusqlite::Connection, rows: &[MessageRow], now_us: i64, window_us: i64) {
        let tx = c.transaction().unwrap();
        for r in rows {
            tx.execute(
                "INSERT INTO messages (id, type, source_ip, source_device, timestamp, received_at,
                     raw_message) VALUES (?1, 'syslog', ?2, ?3, 't', 't', ?4)",
                params![
                    r.id,
                    r.source_ip.to_string(),
                    r.source_device,
                    r.raw_message
                ],
            )
            .unwrap();
        }
        enqueue_alerts_at(&tx, rows, now_us, window_us).unwrap();
        tx.commit().unwrap();
    }

    fn outbox(c: &rusqlite::Connection) -> Vec<(String, String, i64)> {
        let mut s = c
            .prepare("SELECT message_id, target, fold_count FROM webhook_outbox ORDER BY id")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn only_webhook_rows_are_queued_with_the_default_target() {
        let mut c = db();
        let rows = [
            syslog_row(1, "link down", Action::Webhook),
            syslog_row(2, "link up", Action::Store),
        ];
        write(&mut c, &rows, 10_000_000, 0);
        assert_eq!(outbox(&c), vec![("m0001".into(), DEFAULT_TARGET.into(), 1)]);
        let (state, next, created): (String, String, String) = c
            .query_row(
                "SELECT state, next_attempt_at, created_at FROM webhook_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(state, "pending");
        assert_eq!(next, created);
        assert_eq!(created, iso8601_us(10_000_000));
    }

    #[test]
    fn the_body_carries_message_rule_device_and_syslog_fields() {
        let v = alert_body(&syslog_row(
            1,
            "<10>edge1 ifmgr[42]: link down",
            Action::Webhook,
        ));
        assert_eq!(v["rule"]["id"], "r1");
        assert_eq!(v["rule"]["severity"], "critical");
        assert_eq!(v["device"]["ip"], "192.0.2.7");
        let m = &v["message"];
        assert_eq!(m["raw_message"], "<10>edge1 ifmgr[42]: link down");
        assert_eq!(m["timestamp"], "1970-01-01T00:00:01.000000Z");
        assert_eq!(m["received_at"], "1970-01-01T00:00:02.000000Z");
        assert_eq!(m["type"], "syslog");
        assert_eq!(m["syslog"]["program"], "ifmgr");
        assert_eq!(m["syslog"]["facility"], 4);
        assert_eq!(m["syslog"]["structured_data"]["meta@1"]["k"], "v");
    }

    #[test]
    fn an_snmp_body_carries_oid_and_varbinds() {
        let mut row = syslog_row(1, "IF-MIB::linkDown", Action::Webhook);
        row.kind = MessageKind::SnmpTrap;
        row.detail = Detail::Snmp(SnmpMessage {
            version: "v2c".into(),
            trap_oid: "1.3.6.1.6.3.1.1.5.3".into(),
            trap_type: "IF-MIB::linkDown".into(),
            varbinds: vec![Varbind {
                oid: "1.3.6.1.2.1.2.2.1.1.3".into(),
                name: Some("IF-MIB::ifIndex.3".into()),
                ty: "INTEGER",
                value: "3".into(),
            }],
            ..SnmpMessage::default()
        });
        let v = alert_body(&row);
        assert_eq!(v["message"]["snmp"]["oid"], "1.3.6.1.6.3.1.1.5.3");
        assert_eq!(v["message"]["snmp"]["varbinds"][0]["type"], "INTEGER");
        assert!(v["message"].get("syslog").is_none());
    }

    #[test]
    fn identical_alerts_fold_while_pending_and_within_the_window() {
        let mut c = db();
        let window = 60_000_000;
        let storm: Vec<MessageRow> = (1..=30)
            .map(|n| syslog_row(n, "fan failed", Action::Webhook))
            .collect();
        write(&mut c, &storm[..10], 1_000_000, window);
        write(&mut c, &storm[10..], 2_000_000, window);
        assert_eq!(
            outbox(&c),
            vec![("m0001".into(), DEFAULT_TARGET.into(), 30)]
        );
        // Delivered but recent: still folded (counted, not re-sent).
        c.execute("UPDATE webhook_outbox SET state = 'delivered'", [])
            .unwrap();
        write(
            &mut c,
            &[syslog_row(31, "fan failed", Action::Webhook)],
            50_000_000,
            window,
        );
        assert_eq!(outbox(&c).len(), 1);
        // Delivered and older than the window: a new alert.
        write(
            &mut c,
            &[syslog_row(32, "fan failed", Action::Webhook)],
            62_000_000,
            window,
        );
        assert_eq!(outbox(&c).len(), 2);
        assert_eq!(outbox(&c)[1], ("m0032".into(), DEFAULT_TARGET.into(), 1));
    }

    #[test]
    fn different_text_device_or_target_is_a_different_alert_and_zero_turns_folding_off() {
        let mut c = db();
        let mut other_device = syslog_row(2, "fan failed", Action::Webhook);
        other_device.source_ip = [192, 0, 2, 8].into();
        let mut other_target = syslog_row(3, "fan failed", Action::Webhook);
        if let Some(r) = other_target.rule.as_mut() {
            r.webhook = Some("noc".into());
        }
        let rows = [
            syslog_row(1, "fan failed", Action::Webhook),
            other_device,
            other_target,
            syslog_row(4, "fan failed again", Action::Webhook),
        ];
        write(&mut c, &rows, 1_000_000, 60_000_000);
        let got = outbox(&c);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[2].1, "noc");
        let mut c = db();
        let same: Vec<MessageRow> = (1..=3)
            .map(|n| syslog_row(n, "fan failed", Action::Webhook))
            .collect();
        write(&mut c, &same, 1_000_000, 0);
        assert_eq!(outbox(&c).len(), 3);
    }

    #[test]
    fn a_batch_without_webhook_rows_prepares_nothing() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        // No schema at all: the early return must not touch the outbox table.
        let tx = c.transaction().unwrap();
        enqueue_alerts_at(&tx, &[syslog_row(1, "x", Action::Store)], 0, 0).unwrap();
    }
}
