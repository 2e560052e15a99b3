//! The processing stage as a plain function: one WAL record in, one row out. Decode, validate
//! (the seed's Validator), match rules, pick the device name. No threads, no I/O, no clock.

use std::net::IpAddr;

use std::time::Instant;

use tracing::warn;

use crate::decode::snmp::names::NameTable;
use crate::decode::snmp::Untrusted;
use crate::decode::{snmp, syslog};
use crate::enrich::Resolver;
use crate::log_limit::{Repeat, Repeats};
use crate::metrics::Metrics;
use crate::model::{flags, Listener, MessageKind, Transport};
use crate::rules::{Cidr, MatchInput, RuleSet};
use crate::store::{Detail, MessageRow, Rejection, RuleHit};
use crate::wal::Record;

/// What processing needs besides the record.
pub struct ProcessContext<'a> {
    pub rules: &'a RuleSet,
    pub default_utc_offset_secs: i32,
    /// Per-source overrides of the default offset, first match wins.
    pub source_utc_offsets: &'a [(Cidr, i32)],
    /// SNMP v1/v2c communities accepted; empty accepts all.
    pub communities: &'a [String],
    /// Reverse DNS for `source_device`; None when turned off.
    pub dns: Option<&'a Resolver>,
    /// When the batch is processed (DNS cache expiry only).
    pub now: Instant,
    /// SNMPv3 users; None: no v3 message is trusted.
    pub usm: Option<&'a snmp::Usm>,
    /// Keep untrusted SNMPv3 messages (validated = 0, never matched) instead of rejecting them.
    pub store_unauthenticated: bool,
    /// OID names: the built-in table plus `snmp.mib_dirs`.
    pub names: &'a NameTable,
}

pub fn process(record: &Record, ctx: &ProcessContext<'_>) -> MessageRow {
    let meta = &record.meta;
    let mut errors = Vec::new();
    let listener = Listener::from_u8(meta.listener).unwrap_or_else(|| {
        errors.push(format!(
            "unknown listener tag {}; decoded as syslog",
            meta.listener
        ));
        Listener::Syslog
    });
    let transport = Transport::from_u8(meta.transport).unwrap_or(Transport::Udp);
    let truncated = meta.flags & flags::TRUNCATED != 0;
    if truncated {
        errors.push("message truncated at the configured maximum size".to_string());
    }
    let source_ip = canonical_ip(meta.source.ip());
    let (raw_message, timestamp_us, source_device, detail) = match listener {
        Listener::Syslog => {
            let parse_ctx = syslog::ParseContext {
                received_at_us: meta.received_at_us,
                default_utc_offset_secs: ctx
                    .source_utc_offsets
                    .iter()
                    .find(|(block, _)| block.contains(source_ip))
                    .map_or(ctx.default_utc_offset_secs, |(_, offset)| *offset),
            };
            let msg = syslog::parse(&record.payload, &parse_ctx);
            let raw = raw_syslog_text(&record.payload);
            if raw.is_empty() {
                errors.push("Missing raw message content".to_string());
            }
            if msg.program.as_deref().unwrap_or("").is_empty() {
                errors.push("Syslog message missing program".to_string());
            }
            errors.extend(msg.errors.iter().cloned());
            let device = device_name(ctx, source_ip, msg.hostname.as_deref());
            (raw, msg.timestamp_us, device, Detail::Syslog(msg))
        }
        Listener::Snmp => {
            let snmp_ctx = snmp::DecodeContext {
                names: ctx.names,
                usm: ctx.usm,
            };
            let msg = snmp::decode_with(&record.payload, &snmp_ctx);
            if msg.trap_oid.is_empty() {
                errors.push("SNMP trap missing OID".to_string());
            }
            errors.extend(msg.errors.iter().cloned());
            let raw = snmp::render_line_with(&msg, ctx.names);
            (
                raw,
                None,
                device_name(ctx, source_ip, None),
                Detail::Snmp(msg),
            )
        }
    };
    let untrusted = match &detail {
        Detail::Snmp(t) => t.untrusted,
        Detail::Syslog(_) => None,
    };
    let rejected = match &detail {
        Detail::Snmp(t) => t
            .community
            .as_ref()
            .filter(|c| !ctx.communities.is_empty() && !ctx.communities.contains(c))
            .map(|_| Rejection::Community)
            .or(untrusted
                .filter(|_| !ctx.store_unauthenticated)
                .map(Rejection::V3)),
        Detail::Syslog(_) => None,
    };
    // An untrusted v3 message is never matched: a forged trap must not raise an alert.
    let rule = match (rejected, untrusted) {
        (None, None) => match_rule(ctx.rules, listener.kind(), source_ip, &raw_message, &detail),
        _ => None,
    };
    MessageRow {
        seq: record.seq,
        id: uuid_v7(meta.received_at_us, record.seq),
        kind: listener.kind(),
        source_ip,
        source_port: meta.source.port(),
        transport,
        source_device,
        timestamp_us: timestamp_us.unwrap_or(meta.received_at_us),
        received_at_us: meta.received_at_us,
        raw_message,
        raw_bytes: record.payload.clone(),
        validation_errors: errors,
        truncated,
        rule,
        rejected,
        detail_json: detail.json(),
        detail,
    }
}

/// The rejection warnings' rate limits, kept by the writer across batches: a flood of traps
/// with a wrong community or forged v3 messages logs one line when it starts and one summary a
/// minute, while the counters count every message.
#[derive(Debug, Default)]
pub struct RejectionWarnings {
    community: Repeats,
    v3: Repeats,
}

/// Count a stored batch's rejected rows by reason, warn about them (rate-limited by
/// `warnings`; `now` is when the batch was stored), and return how many there were.
pub fn count_rejected(
    rows: &[MessageRow],
    metrics: &Metrics,
    warnings: &mut RejectionWarnings,
    now: Instant,
) -> u64 {
    let (mut community, mut v3) = (0u64, 0u64);
    for r in rows {
        let counter = match r.rejected {
            None => continue,
            Some(Rejection::Community) => {
                community += 1;
                &metrics.community_rejected
            }
            Some(Rejection::V3(why)) => {
                v3 += u64::from(why != Untrusted::Discovery);
                v3_counter(metrics, why)
            }
        };
        Metrics::add(counter, 1);
    }
    // Kept with store_unauthenticated: counted by reason all the same.
    for r in rows.iter().filter(|r| r.rejected.is_none()) {
        if let Detail::Snmp(m) = &r.detail {
            if let Some(why) = m.untrusted {
                Metrics::add(v3_counter(metrics, why), 1);
            }
        }
    }
    let limited = |limit: &mut Repeats, n: u64| match n {
        0 => limit.tick(now),
        n => limit.hit(now, n),
    };
    if let Some(say) = limited(&mut warnings.community, community) {
        warn_rejected(
            say,
            community,
            "SNMP messages with a community not in snmp.communities were not stored",
        );
    }
    if let Some(say) = limited(&mut warnings.v3, v3) {
        warn_rejected(
            say,
            v3,
            "SNMPv3 messages that are not trusted were not stored (see the v3_rejected_* counters)",
        );
    }
    rows.iter().filter(|r| r.rejected.is_some()).count() as u64
}

/// The first line of a window carries the batch's count; a summary line the count held back.
fn warn_rejected(say: Repeat, batch: u64, what: &str) {
    match say {
        Repeat::First => warn!(rejected = batch, "{what}"),
        summary => warn!("{what}{summary}"),
    }
}

fn v3_counter(m: &Metrics, why: Untrusted) -> &crate::metrics::Count {
    match why {
        Untrusted::UnknownUser => &m.v3_rejected_unknown_user,
        Untrusted::WrongDigest => &m.v3_rejected_wrong_digest,
        Untrusted::UnsupportedSecLevel => &m.v3_rejected_security_level,
        Untrusted::NotInTimeWindow => &m.v3_rejected_not_in_time_window,
        Untrusted::DecryptionError => &m.v3_rejected_decryption,
        Untrusted::Malformed => &m.v3_rejected_malformed,
        Untrusted::Discovery => &m.v3_discovery_probes,
    }
}

fn match_rule(
    rules: &RuleSet,
    kind: MessageKind,
    source: IpAddr,
    raw: &str,
    detail: &Detail,
) -> Option<RuleHit> {
    let input = match detail {
        Detail::Syslog(s) => MatchInput {
            kind,
            source,
            raw,
            message: &s.message,
            program: s.program.as_deref().unwrap_or(""),
            hostname: s.hostname.as_deref().unwrap_or(""),
            oid: "",
            trap_type: "",
        },
        Detail::Snmp(t) => MatchInput {
            kind,
            source,
            raw,
            message: raw,
            program: "",
            hostname: "",
            oid: &t.trap_oid,
            trap_type: &t.trap_type,
        },
    };
    rules.eval(&input).map(|r| RuleHit {
        id: r.id.clone(),
        name: r.name.clone(),
        severity: r.severity.clone(),
        action: r.action,
        webhook: r.webhook.clone(),
    })
}

/// `source_device`: the resolved name when known, else the name the message gives, else the
/// address.
fn device_name(ctx: &ProcessContext<'_>, ip: IpAddr, sent: Option<&str>) -> String {
    if let Some(name) = ctx.dns.and_then(|d| d.lookup(ip, ctx.now)) {
        return name.to_string();
    }
    match sent {
        Some(h) if !h.is_empty() && h != "-" => h.to_string(),
        _ => ip.to_string(),
    }
}

/// The syslog line as received, for `raw_message`: lossy UTF-8 without the frame's trailing
/// LF/CR/NUL.
fn raw_syslog_text(payload: &[u8]) -> String {
    syslog::lossy(syslog::trim_end(payload))
}

/// IPv4 senders on a dual-stack socket show as ::ffff:a.b.c.d; store them as a.b.c.d.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A UUIDv7 that sorts in arrival order, so keyset pagination on `messages.id` is time order and
/// a time bound is an id bound. RFC 9562 section 6.2 method 3: `rand_a` holds the sub-millisecond
/// fraction of the receive time (12 bits, steps of 244 ns); the top 30 bits of `rand_b` hold the
/// WAL sequence number, which the single ingest thread assigns in arrival order, so two messages
/// in one step still sort as they came. The last 32 bits stay random, so two collectors writing
/// one database do not collide.
fn uuid_v7(received_at_us: i64, seq: u64) -> String {
    let us = received_at_us.max(0) as u64;
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        us / 1_000_000,
        ((us % 1_000_000) * 1000) as u32,
    );
    let mut b = uuid::Uuid::new_v7(ts).into_bytes();
    let fraction = ((us % 1000) * 4096 / 1000) as u16;
    b[6] = 0x70 | (fraction >> 8) as u8;
    b[7] = fraction as u8;
    let seq = (seq & 0x3fff_ffff) as u32;
    b[8] = 0x80 | (seq >> 24) as u8;
    b[9] = (seq >> 16) as u8;
    b[10] = (seq >> 8) as u8;
    b[11] = seq as u8;
    uuid::Uuid::from_bytes(b).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::RecordMeta;

    fn record(listener: Listener, payload: &[u8]) -> Record {
        Record {
            seq: 7,
            meta: RecordMeta {
                received_at_us: 1_700_000_000_000_000,
                source: "[::ffff:10.1.2.3]:514".parse().unwrap(),
                transport: Transport::Udp as u8,
                listener: listener as u8,
                flags: 0,
            },
            payload: payload.to_vec(),
        }
    }

    /// No offsets, communities, DNS or SNMPv3 users: `rules` and the built-in OID names.
    fn plain(rules: &RuleSet) -> ProcessContext<'_> {
        ProcessContext {
            rules,
            default_utc_offset_secs: 0,
            source_utc_offsets: &[],
            communities: &[],
            dns: None,
            now: Instant::now(),
            usm: None,
            store_unauthenticated: false,
            names: snmp::names::builtin(),
        }
    }

    #[test]
    fn raw_text_drops_only_the_frame_terminators() {
        assert_eq!(raw_syslog_text(b"<13>hi \r\n\0"), "<13>hi ");
        assert_eq!(raw_syslog_text(b"\n"), "");
    }

    #[test]
    fn the_received_bytes_are_stored_beside_the_text_only_where_the_text_is_not_them() {
        let rules = RuleSet::empty();
        let ctx = plain(&rules);
        let stored = |payload: &[u8]| {
            let row = process(&record(Listener::Syslog, payload), &ctx);
            row.raw_bytes_to_store().map(<[u8]>::to_vec)
        };
        assert_eq!(stored(b"<13>Jan  1 00:00:00 host app: hi\r\n"), None);
        // U+FFFD sent as such is text like any other.
        assert_eq!(stored("<13>host app: caf\u{fffd}\n".as_bytes()), None);
        let latin1 = b"<13>host app: caf\xe9\n";
        assert_eq!(stored(latin1), Some(latin1.to_vec()));
        let cut = b"<13>host app: \xe2\x82";
        assert_eq!(stored(cut), Some(cut.to_vec()));
    }

    #[test]
    fn a_mapped_ipv4_sender_is_stored_as_ipv4_and_ids_sort_by_time() {
        let rules = RuleSet::empty();
        let ctx = plain(&rules);
        let row = process(&record(Listener::Syslog, b"<13>hello\n"), &ctx);
        assert_eq!(row.source_ip.to_string(), "10.1.2.3");
        assert_eq!(row.kind, MessageKind::Syslog);
        assert_eq!(row.raw_message, "<13>hello");
        assert_eq!(row.seq, 7);
        assert!(uuid_v7(1, 9) < uuid_v7(2_000_000, 1));
    }

    #[test]
    fn ids_sort_by_receive_time_to_the_microsecond_then_by_wal_sequence() {
        let t = 1_700_000_000_123_456;
        // Within one millisecond, the microseconds order them, not the random bits.
        assert!(uuid_v7(t, 5) < uuid_v7(t + 1, 4));
        assert!(uuid_v7(t + 1, 4) < uuid_v7(t + 999 - 456, 3));
        // Within one microsecond, arrival (the WAL sequence) orders them.
        let ids: Vec<String> = (100..200).map(|seq| uuid_v7(t, seq)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        // Still a version 7, RFC 9562 variant UUID, and the millisecond is the receive time's.
        let u = uuid::Uuid::parse_str(&ids[0]).unwrap();
        assert_eq!(u.get_version_num(), 7);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
        let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_700_000_000, 123));
    }

    #[test]
    fn an_empty_datagram_is_kept_with_its_errors() {
        let rules = RuleSet::empty();
        let ctx = plain(&rules);
        let row = process(&record(Listener::Syslog, b""), &ctx);
        assert!(row
            .validation_errors
            .iter()
            .any(|e| e == "Missing raw message content"));
        let row = process(&record(Listener::Snmp, b"\x30\x03junk"), &ctx);
        assert!(!row.validation_errors.is_empty());
        assert_eq!(row.kind, MessageKind::SnmpTrap);
    }

    #[test]
    fn every_rejected_message_is_counted_while_repeated_warnings_wait_for_the_summary() {
        let metrics = Metrics::default();
        let mut warnings = RejectionWarnings::default();
        let t0 = Instant::now();
        let batch: Vec<MessageRow> = (0..50)
            .map(|n| {
                let mut r = MessageRow::test_syslog(n, "192.0.2.9", "spoofed");
                r.rejected = Some(Rejection::Community);
                r
            })
            .collect();
        for second in 0..30 {
            let now = t0 + std::time::Duration::from_secs(second);
            assert_eq!(count_rejected(&batch, &metrics, &mut warnings, now), 50);
        }
        assert_eq!(Metrics::get(&metrics.community_rejected), 1500);
        // The first batch was logged with its count; the 29 after it are held for one line.
        let later = t0 + std::time::Duration::from_secs(61);
        assert_eq!(
            warnings.community.tick(later),
            Some(Repeat::Summary {
                more: 29 * 50,
                over: std::time::Duration::from_secs(61)
            })
        );
        assert_eq!(warnings.v3.tick(later), None, "no v3 message was rejected");
    }
}
