//! Syslog decoding as the pipeline does it: `decode::syslog::parse` (RFC 5424, RFC 3164 and the
//! vendor dialects behind it), the JSON views, then `pipeline::process` on a syslog WAL record
//! with the shipped alert_rules.yaml. Checks: no panic, field ranges, output bounded by the input,
//! at most `MAX_ERRORS` errors.
//!
//! Input: `[receive-time selector, zone selector, frame...]`.

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use mutt::decode::snmp::names;
use mutt::decode::syslog::{self, ParseContext};
use mutt::model::{Listener, Transport};
use mutt::pipeline::process::{process, ProcessContext};
use mutt::rules::RuleSet;
use mutt::wal::{Record, RecordMeta};

/// Receive times around the year-inference edges: New Year, a leap day, the century rule, the
/// epoch, and an ordinary day.
const RECEIVED_AT_S: [i64; 7] = [
    1_798_761_599, // 2026-12-31T23:59:59Z
    1_798_761_600, // 2027-01-01T00:00:00Z
    1_709_164_800, // 2024-02-29T00:00:00Z
    4_107_542_400, // 2100-03-01T00:00:00Z
    0,
    1_700_000_000,
    7_258_118_399, // 2199-12-31T23:59:59Z
];

/// Offsets `syslog.default_timezone` accepts, extremes included (+-14:59).
const OFFSETS: [i32; 5] = [0, 53_940, -53_940, 19_800, -3_600];

fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| {
        RuleSet::from_yaml(
            include_str!("../../config/alert_rules.yaml"),
            "alert_rules.yaml",
        )
        .expect("the shipped rules compile")
    })
}

fuzz_target!(|data: &[u8]| {
    let [recv, zone, frame @ ..] = data else {
        return;
    };
    let received_at_us = RECEIVED_AT_S[usize::from(*recv) % RECEIVED_AT_S.len()] * 1_000_000
        + i64::from(*recv) * 7_777_777;
    let ctx = ParseContext {
        received_at_us,
        default_utc_offset_secs: OFFSETS[usize::from(*zone) % OFFSETS.len()],
    };

    let msg = syslog::parse(frame, &ctx);
    if let Some(f) = msg.facility {
        assert!(f <= 23, "facility {f}");
    }
    if let Some(l) = msg.level {
        assert!(l <= 7, "level {l}");
    }
    // Every field is a piece of the frame: with U+FFFD for each bad byte (3 octets) and the
    // brackets 5424 adds around PROCID in the tag, never more than this.
    let bound = 3 * frame.len() + 2;
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    for (name, len) in [
        ("message", msg.message.len()),
        ("hostname", text(&msg.hostname)),
        ("program", text(&msg.program)),
        ("tag", text(&msg.tag)),
        ("msgid", text(&msg.msgid)),
    ] {
        assert!(
            len <= bound,
            "{name}: {len} bytes from a {}-byte frame",
            frame.len()
        );
    }
    let sd_bytes: usize = msg
        .structured_data
        .iter()
        .map(|e| {
            e.id.len()
                + e.params
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        })
        .sum();
    assert!(sd_bytes <= bound, "structured data: {sd_bytes} bytes");
    assert!(
        msg.errors.len() <= syslog::MAX_ERRORS,
        "{} errors",
        msg.errors.len()
    );

    let json = syslog::to_json(&msg);
    assert!(json.is_object());
    let _ = syslog::structured_data_json(&msg.structured_data);

    let record = Record {
        seq: 1,
        meta: RecordMeta {
            received_at_us,
            source: SocketAddr::from(([192, 0, 2, 1], 514)),
            transport: Transport::Tcp as u8,
            listener: Listener::Syslog as u8,
            flags: 0,
        },
        payload: frame.to_vec(),
    };
    let pctx = ProcessContext {
        rules: rules(),
        default_utc_offset_secs: ctx.default_utc_offset_secs,
        source_utc_offsets: &[],
        communities: &[],
        dns: None,
        now: Instant::now(),
        usm: None,
        store_unauthenticated: false,
        names: names::builtin(),
    };
    let row = process(&record, &pctx);
    assert!(row.raw_message.len() <= bound);
    assert_eq!(row.seq, 1);
});
