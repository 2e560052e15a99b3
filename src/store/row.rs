//! One processed WAL record, as the writer stores it.

use std::net::IpAddr;

use crate::decode::snmp::{varbinds_json, SnmpMessage, Untrusted};
use crate::decode::syslog::{structured_data_json, SyslogMessage};
use crate::model::{MessageKind, Transport};
use crate::rules::Action;

/// The rule that matched, copied out of the rule set so a reload cannot change a row in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    pub id: String,
    pub name: String,
    pub severity: String,
    pub action: Action,
    /// The rule's `webhook:` target name; None means the default target (`outputs.webhook`).
    pub webhook: Option<String>,
}

/// The type-specific part of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    Syslog(SyslogMessage),
    Snmp(SnmpMessage),
}

impl Detail {
    /// The message type this detail is stored as.
    pub fn kind(&self) -> MessageKind {
        match self {
            Detail::Syslog(_) => MessageKind::Syslog,
            Detail::Snmp(_) => MessageKind::SnmpTrap,
        }
    }

    /// The type's JSON column: syslog structured data (None when there is none), SNMP varbinds.
    pub fn json(&self) -> Option<String> {
        match self {
            Detail::Syslog(s) => structured_data_json(&s.structured_data),
            Detail::Snmp(t) => Some(varbinds_json(&t.varbinds)),
        }
    }
}

/// Everything the writer needs to store (or count) one record.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    /// The WAL sequence number; the batch's last one becomes the checkpoint.
    pub seq: u64,
    /// UUIDv7 from the receive time, so ids sort by arrival.
    pub id: String,
    pub kind: MessageKind,
    pub source_ip: IpAddr,
    pub source_port: u16,
    pub transport: Transport,
    /// The device name: the syslog HOSTNAME when sent, else the source address.
    pub source_device: String,
    /// The device's time when the message carries one, else the receive time (µs, UTC).
    pub timestamp_us: i64,
    pub received_at_us: i64,
    /// Syslog: the line as received (lossy UTF-8). SNMP: a readable one-line rendering.
    pub raw_message: String,
    /// The datagram or frame exactly as received (the WAL record's payload).
    pub raw_bytes: Vec<u8>,
    pub validation_errors: Vec<String>,
    pub truncated: bool,
    pub rule: Option<RuleHit>,
    /// Kept out of the database, counted: an SNMP community not in `snmp.communities`, or an
    /// SNMPv3 message that is not trusted.
    pub rejected: Option<Rejection>,
    pub detail: Detail,
    /// `detail.json()`, made where the row is made (the decode pool), so that the one writer
    /// thread only binds it: ten varbinds take microseconds to serialize.
    pub detail_json: Option<String>,
}

/// Why a record is not stored although nothing is wrong with MUTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Community,
    /// An SNMPv3 message that did not authenticate, was not in its time window, or was a
    /// discovery probe (kept instead, unmatched, with `snmpv3.store_unauthenticated`).
    V3(Untrusted),
}

/// One rule's hits in a batch, for its `rule_counters` row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleCount<'a> {
    pub name: &'a str,
    pub matched: i64,
    pub discarded: i64,
    /// The latest receive time among its hits, µs since the epoch.
    pub last_us: i64,
}

/// The rule hits of `rows`, by rule id in id order: what both backends add to `rule_counters`.
pub fn rule_counts(rows: &[MessageRow]) -> std::collections::BTreeMap<&str, RuleCount<'_>> {
    let mut counts = std::collections::BTreeMap::new();
    for row in rows {
        if let Some(rule) = &row.rule {
            let e = counts.entry(rule.id.as_str()).or_insert(RuleCount {
                name: rule.name.as_str(),
                matched: 0,
                discarded: 0,
                last_us: row.received_at_us,
            });
            e.matched += 1;
            e.discarded += i64::from(row.is_discarded());
            e.last_us = e.last_us.max(row.received_at_us);
        }
    }
    counts
}

impl MessageRow {
    /// The received bytes where `raw_message` is not them exactly: every SNMP datagram, and
    /// syslog that is not UTF-8. (Valid UTF-8 syslog is its `raw_message` less the frame's
    /// trailing LF/CR/NUL; keeping it twice would double the database for nothing.)
    ///
    /// For syslog that is a comparison, not a UTF-8 check: `raw_message` is the lossy text of
    /// the trimmed bytes, and lossy text equals its input only where the input was UTF-8. At
    /// the first invalid byte the text has U+FFFD (EF BF BD), and the input cannot go on with
    /// those bytes there, or it would not have been invalid. A memcmp on the writer thread
    /// instead of a validation.
    pub fn raw_bytes_to_store(&self) -> Option<&[u8]> {
        match self.detail {
            Detail::Snmp(_) => Some(&self.raw_bytes),
            Detail::Syslog(_)
                if crate::decode::syslog::trim_end(&self.raw_bytes)
                    == self.raw_message.as_bytes() =>
            {
                None
            }
            Detail::Syslog(_) => Some(&self.raw_bytes),
        }
    }

    /// Discarded rows (a discard rule, or rejected) advance the checkpoint and are counted,
    /// nothing more.
    pub fn is_discarded(&self) -> bool {
        self.rejected.is_some() || matches!(&self.rule, Some(r) if r.action == Action::Discard)
    }
}

#[cfg(test)]
impl MessageRow {
    /// A plain syslog row from `ip` with the device name `device`, for the store's tests.
    pub(crate) fn test_syslog(seq: u64, ip: &str, device: &str) -> MessageRow {
        let raw = format!("<13>Jan  1 00:00:00 {device} app: message {seq}");
        MessageRow {
            seq,
            id: uuid::Uuid::now_v7().to_string(),
            kind: MessageKind::Syslog,
            source_ip: ip.parse().expect("test address"),
            source_port: 514,
            transport: Transport::Udp,
            source_device: device.to_string(),
            timestamp_us: 1_700_000_000_000_000,
            received_at_us: 1_700_000_000_000_000,
            raw_bytes: raw.clone().into_bytes(),
            raw_message: raw.clone(),
            validation_errors: Vec::new(),
            truncated: false,
            rule: None,
            rejected: None,
            detail_json: None,
            detail: Detail::Syslog(crate::decode::syslog::parse(
                raw.as_bytes(),
                &crate::decode::syslog::ParseContext {
                    received_at_us: 1_700_000_000_000_000,
                    default_utc_offset_secs: 0,
                },
            )),
        }
    }
}
