//! Syslog decoding: RFC 5424, RFC 3164 and the dialects real devices send.
//!
//! One frame in (framing already removed), one [`SyslogMessage`] out, always: a line that
//! breaks the grammar still yields the fields that could be read, with the reasons in
//! `errors`, because a collector stores what it cannot read. The flow:
//!
//! ```text
//! trim LF/CR/NUL → pri.rs (PRI, or user.notice when absent)
//!   → "<PRI>1-3 digits SP" ? rfc5424.rs : rfc3164.rs (+ dialects.rs for vendor headers)
//!   → time.rs turns stamps into UTC microseconds (year inference, default zone)
//! ```

mod dialects;
mod pri;
mod rfc3164;
mod rfc5424;
pub mod time;

use serde::Serialize;
use serde_json::{Map, Value};

/// Which grammar a line was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    Rfc3164,
    Rfc5424,
    Unknown,
}

impl SyslogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SyslogFormat::Rfc3164 => "rfc3164",
            SyslogFormat::Rfc5424 => "rfc5424",
            SyslogFormat::Unknown => "unknown",
        }
    }
}

/// What the parser needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext {
    /// Receive time, Unix epoch microseconds UTC: the reference for year inference.
    pub received_at_us: i64,
    /// Offset east of UTC, in seconds, for stamps that carry no zone.
    pub default_utc_offset_secs: i32,
}

/// One SD-ELEMENT: its SD-ID and its params in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<(String, String)>,
}

/// Everything stored about a syslog line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage {
    pub format: SyslogFormat,
    /// Facility code 0-23. Without a PRI the RFC 3164 default user (1) is set, with an error;
    /// None only when a PRI was present but unreadable.
    pub facility: Option<u8>,
    /// Severity 0-7 (notice, 5, without a PRI).
    pub level: Option<u8>,
    /// The device's time, normalised to UTC, Unix epoch microseconds.
    pub timestamp_us: Option<i64>,
    pub hostname: Option<String>,
    /// APP-NAME (5424) or the TAG's program part (3164).
    pub program: Option<String>,
    /// PROCID / `[pid]` when it is an integer.
    pub process_id: Option<i64>,
    /// The whole 3164 TAG as sent (`sshd[123]`), or APP-NAME[PROCID] for 5424.
    pub tag: Option<String>,
    pub msgid: Option<String>,
    pub structured_data: Vec<SdElement>,
    /// MSG, without a BOM; invalid UTF-8 replaced by U+FFFD.
    pub message: String,
    /// Why the line did not parse cleanly; empty when it did.
    pub errors: Vec<String>,
}

impl SyslogMessage {
    fn empty() -> Self {
        SyslogMessage {
            format: SyslogFormat::Unknown,
            facility: None,
            level: None,
            timestamp_us: None,
            hostname: None,
            program: None,
            process_id: None,
            tag: None,
            msgid: None,
            structured_data: Vec::new(),
            message: String::new(),
            errors: Vec::new(),
        }
    }
}

/// Parse one frame (a UDP datagram or a TCP frame, framing already removed).
pub fn parse(input: &[u8], ctx: &ParseContext) -> SyslogMessage {
    let b = trim_end(input);
    let mut out = SyslogMessage::empty();
    let (body, has_pri) = match pri::parse(b) {
        pri::Pri::Ok { value, len } => {
            out.facility = Some(pri::Pri::facility(value));
            out.level = Some(pri::Pri::severity(value));
            (&b[len..], true)
        }
        pri::Pri::Bad { value, len, why } => {
            out.errors.push(why.into());
            out.facility = value.map(pri::Pri::facility);
            out.level = value.map(pri::Pri::severity);
            (&b[len..], true)
        }
        pri::Pri::Missing => {
            out.errors
                .push("no PRI; assumed user.notice (RFC 3164 section 4.3.3)".into());
            out.facility = Some(pri::DEFAULT_FACILITY);
            out.level = Some(pri::DEFAULT_SEVERITY);
            (b, false)
        }
    };
    if has_pri && looks_like_5424(body) {
        if let Some(rest) = dialects::meraki_body(body) {
            rfc3164::parse(rest, true, ctx, &mut out);
        } else {
            out.format = SyslogFormat::Rfc5424;
            rfc5424::parse(body, ctx, &mut out);
        }
    } else {
        rfc3164::parse(body, has_pri, ctx, &mut out);
    }
    cap_errors(&mut out.errors);
    out
}

/// Most errors kept for one line. Some mistakes are reported once per occurrence (a duplicate
/// SD-ID, a space after `=`): a line that repeats one must not grow its row with every repeat.
pub const MAX_ERRORS: usize = 16;

fn cap_errors(errors: &mut Vec<String>) {
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - (MAX_ERRORS - 1);
        errors.truncate(MAX_ERRORS - 1);
        errors.push(format!("{more} more errors not listed"));
    }
}

/// RFC 5424 after PRI starts with VERSION (1-3 digits) and SP; RFC 3164 never does (a
/// Cisco sequence number has a colon, an NX-OS year four digits).
fn looks_like_5424(b: &[u8]) -> bool {
    let n = b.iter().take(4).take_while(|c| c.is_ascii_digit()).count();
    (1..=3).contains(&n) && matches!(b.get(n), None | Some(b' '))
}

/// Framing leftovers: trailing LF, CR and NUL.
pub(crate) fn trim_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rev()
        .take_while(|&&c| matches!(c, b'\n' | b'\r' | 0))
        .count();
    &b[..b.len() - n]
}

/// Text for a field: UTF-8 as is, invalid sequences replaced by U+FFFD. Valid UTF-8 (nearly
/// every line) is checked by `from_utf8`, which takes ASCII eight bytes at a time;
/// `from_utf8_lossy` walks it chunk by chunk, and was 1.6% of the daemon's time under syslog load.
pub(crate) fn lossy(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A process id when PROCID / `[pid]` is a plain decimal integer.
fn parse_pid(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |v, &c| v * 10 + i64::from(c - b'0')))
}

fn sd_object(sd: &[SdElement]) -> Map<String, Value> {
    let mut obj = Map::new();
    for el in sd {
        // A duplicate SD-ID is a grammar error (reported by the parser); the first one wins.
        if obj.contains_key(&el.id) {
            continue;
        }
        let params = el
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        obj.insert(el.id.clone(), Value::Object(params));
    }
    obj
}

/// Structured data as compact JSON text, `{"SD-ID":{"param":"value"}}`; None when empty.
pub fn structured_data_json(sd: &[SdElement]) -> Option<String> {
    if sd.is_empty() {
        return None;
    }
    Some(Value::Object(sd_object(sd)).to_string())
}

/// The `mutt decode syslog` view of a message.
pub fn to_json(msg: &SyslogMessage) -> Value {
    let mut o = Map::new();
    o.insert("format".into(), msg.format.as_str().into());
    o.insert("facility".into(), msg.facility.into());
    o.insert("level".into(), msg.level.into());
    o.insert(
        "timestamp".into(),
        msg.timestamp_us.map(crate::timefmt::iso8601_us).into(),
    );
    o.insert("hostname".into(), msg.hostname.clone().into());
    o.insert("program".into(), msg.program.clone().into());
    o.insert("process_id".into(), msg.process_id.into());
    o.insert("msgid".into(), msg.msgid.clone().into());
    let sd = match msg.structured_data.is_empty() {
        true => Value::Null,
        false => Value::Object(sd_object(&msg.structured_data)),
    };
    o.insert("structured_data".into(), sd);
    o.insert("message".into(), msg.message.clone().into());
    o.insert("valid".into(), msg.errors.is_empty().into());
    o.insert("validation_errors".into(), msg.errors.clone().into());
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CTX: ParseContext = ParseContext {
        received_at_us: 1_700_000_000_000_000,
        default_utc_offset_secs: 0,
    };

    #[test]
    fn trailing_newlines_and_nuls_are_trimmed() {
        let m = parse(b"<13>1 - - - - - - hi\r\n\0", &CTX);
        assert_eq!(m.message, "hi");
        assert!(m.errors.is_empty());
    }

    #[test]
    fn json_view_has_exactly_the_documented_keys() {
        let m = parse(
            b"<165>1 2003-10-11T22:14:15.003Z h app 12 ID [a@1 k=\"v\"] msg",
            &CTX,
        );
        let j = to_json(&m);
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "format",
            "facility",
            "level",
            "timestamp",
            "hostname",
            "program",
            "process_id",
            "msgid",
            "structured_data",
            "message",
            "valid",
            "validation_errors",
        ];
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(j["timestamp"], "2003-10-11T22:14:15.003000Z");
        assert_eq!(j["structured_data"]["a@1"]["k"], "v");
        assert_eq!(j["process_id"], 12);
        assert_eq!(j["valid"], true);
        assert_eq!(
            structured_data_json(&m.structured_data).as_deref(),
            Some(r#"{"a@1":{"k":"v"}}"#)
        );
    }

    #[test]
    fn missing_pri_defaults_to_user_notice_with_an_error() {
        let m = parse(b"Feb 18 16:01:59 serverX -- MARK --", &CTX);
        assert_eq!((m.facility, m.level), (Some(1), Some(5)));
        assert_eq!(m.format, SyslogFormat::Rfc3164);
        assert_eq!(m.errors.len(), 1);
    }

    #[test]
    fn empty_input_gives_an_unknown_message_with_errors() {
        let m = parse(b"", &CTX);
        assert_eq!(m.format, SyslogFormat::Unknown);
        assert!(!m.errors.is_empty());
        assert_eq!(to_json(&m)["valid"], false);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_output_is_bounded(
            input in proptest::collection::vec(any::<u8>(), 0..400)
        ) {
            let m = parse(&input, &CTX);
            // U+FFFD takes 3 bytes for each invalid input byte at most.
            let bound = 3 * input.len() + 16;
            let sd: usize = m.structured_data.iter()
                .map(|e| e.id.len() + e.params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>())
                .sum();
            let text = m.message.len()
                + m.hostname.as_ref().map_or(0, String::len)
                + m.program.as_ref().map_or(0, String::len)
                + m.msgid.as_ref().map_or(0, String::len);
            prop_assert!(text + sd <= bound);
            prop_assert!(m.tag.as_ref().map_or(0, String::len) <= bound);
            prop_assert!(m.errors.len() <= 16);
            prop_assert!(m.structured_data.len() <= input.len());
        }

        #[test]
        fn syslog_shaped_input_never_panics(
            pri in 0u16..200,
            head in "[A-Za-z0-9 :.\\-\\[\\]=\"\\\\*%]{0,60}",
            tail in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut line = format!("<{pri}>{head}").into_bytes();
            line.extend_from_slice(&tail);
            let _ = parse(&line, &CTX);
            let mut v5 = format!("<{pri}>1 {head}").into_bytes();
            v5.extend_from_slice(&tail);
            let _ = parse(&v5, &CTX);
        }
    }
}
