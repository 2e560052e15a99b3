//! What a webhook alert is, whichever database queues it: which rows raise one, its target, its
//! fold key, the rule that folds a repeat into the newest queued alert, its JSON body, and the
//! states of an outbox row. Pure: rows in, values out. The SQLite outbox (`outbox.rs`) and the
//! PostgreSQL one (`postgres/outbox.rs`) differ only in their SQL.

use serde_json::{json, Map, Value};

use super::row::{Detail, MessageRow};
use crate::config::DEFAULT_TARGET;
use crate::rules::Action;
use crate::timefmt::iso8601_us;

/// One alert a stored row raises, before it is queued or folded.
#[derive(Debug, Clone)]
pub struct Alert<'a> {
    pub row: &'a MessageRow,
    pub rule_id: &'a str,
    /// The rule's `webhook:` name, or [`DEFAULT_TARGET`].
    pub target: &'a str,
    /// The device is its address: its name may change when reverse DNS answers.
    pub device: String,
    pub fold_key: i64,
}

/// The alerts of a batch, in row order: one per row whose rule's action is `webhook`.
pub fn alerts(rows: &[MessageRow]) -> impl Iterator<Item = Alert<'_>> {
    rows.iter().filter_map(|row| {
        let hit = row.rule.as_ref().filter(|h| h.action == Action::Webhook)?;
        let target = hit.webhook.as_deref().unwrap_or(DEFAULT_TARGET);
        let device = row.source_ip.to_string();
        let fold_key = fold_key(&hit.id, target, &device, &row.raw_message);
        Some(Alert {
            row,
            rule_id: &hit.id,
            target,
            device,
            fold_key,
        })
    })
}

/// The newest outbox row with an alert's fold key, as the database holds it.
#[derive(Debug, Clone)]
pub struct Newest {
    pub id: i64,
    /// None: a state this binary does not know (never folded into).
    pub state: Option<State>,
    /// Created at or after the start of the storm window.
    pub recent: bool,
    pub rule_id: String,
    pub target: String,
    /// Its message's address and raw text (None when the message is gone).
    pub device: Option<String>,
    pub raw: Option<String>,
}

impl Newest {
    /// Storm control: the alert adds one to this row's `fold_count` instead of queueing a row
    /// when it is the same alert (rule, target, device and raw text compared exactly: the fold
    /// key may collide) and this row is still pending or was created within the window.
    /// `stored_raw` is the alert's raw text as the database stores it.
    pub fn absorbs(&self, alert: &Alert<'_>, stored_raw: &str) -> bool {
        let same = self.rule_id == alert.rule_id
            && self.target == alert.target
            && self.device.as_deref() == Some(alert.device.as_str())
            && self.raw.as_deref() == Some(stored_raw);
        same && (self.state == Some(State::Pending) || self.recent)
    }
}

/// `webhook_outbox.state`: `pending` → `delivered`, or `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for its `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Retries used up, no such target, or a body that is not JSON.
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        match text {
            "pending" => Some(State::Pending),
            "delivered" => Some(State::Delivered),
            "dead" => Some(State::Dead),
            _ => None,
        }
    }
}

/// One pending row whose time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    pub body: String,
    /// Tries the endpoint answered with a non-2xx status.
    pub attempts: u32,
    pub fold_count: i64,
}

/// CRC-32C over the fields that make two alerts identical (a collision only costs a fold: the
/// fields are compared exactly before folding).
pub fn fold_key(rule_id: &str, target: &str, device: &str, raw: &str) -> i64 {
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
pub(crate) mod tests {
    use super::*;
    use crate::decode::snmp::{SnmpMessage, Varbind};
    use crate::decode::syslog::{SdElement, SyslogFormat, SyslogMessage};
    use crate::model::{MessageKind, Transport};
    use crate::store::RuleHit;

    pub(crate) fn syslog_row(n: u32, raw: &str, action: Action) -> MessageRow {
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
            detail_json: None,
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
    fn only_webhook_rows_raise_alerts_and_a_rule_without_a_target_goes_to_the_default() {
        let mut noc = syslog_row(3, "fan failed", Action::Webhook);
        if let Some(hit) = noc.rule.as_mut() {
            hit.webhook = Some("noc".into());
        }
        let rows = [
            syslog_row(1, "fan failed", Action::Webhook),
            syslog_row(2, "fan failed", Action::Store),
            noc,
        ];
        let got: Vec<(&str, &str)> = alerts(&rows)
            .map(|a| (a.row.id.as_str(), a.target))
            .collect();
        assert_eq!(got, [("m0001", DEFAULT_TARGET), ("m0003", "noc")]);
        let keys: Vec<i64> = alerts(&rows).map(|a| a.fold_key).collect();
        assert_ne!(keys[0], keys[1], "the target is part of the key");
    }

    #[test]
    fn a_repeat_folds_into_a_pending_or_recent_row_of_the_same_alert_only() {
        let row = syslog_row(1, "fan failed", Action::Webhook);
        let alert = alerts(std::slice::from_ref(&row)).next().unwrap();
        let newest = Newest {
            id: 1,
            state: Some(State::Delivered),
            recent: true,
            rule_id: "r1".into(),
            target: DEFAULT_TARGET.into(),
            device: Some("192.0.2.7".into()),
            raw: Some("fan failed".into()),
        };
        assert!(newest.absorbs(&alert, "fan failed"), "delivered but recent");
        let old = Newest {
            recent: false,
            ..newest.clone()
        };
        assert!(!old.absorbs(&alert, "fan failed"), "delivered and old");
        let pending = Newest {
            state: Some(State::Pending),
            ..old.clone()
        };
        assert!(
            pending.absorbs(&alert, "fan failed"),
            "pending, however old"
        );
        let other = Newest {
            device: Some("192.0.2.8".into()),
            ..pending.clone()
        };
        assert!(
            !other.absorbs(&alert, "fan failed"),
            "a key collision is no fold"
        );
        let gone = Newest {
            raw: None,
            ..pending
        };
        assert!(!gone.absorbs(&alert, "fan failed"), "its message is gone");
    }
}
