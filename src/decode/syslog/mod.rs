//! Syslog decoding: RFC 5424, RFC 3164 and the dialects real devices send.
//!
//! STUB: the interface the pipeline and store program against; the parser replaces the body.

use serde::Serialize;

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
    /// Facility code 0-23 (None without a PRI? see the parser; the RFC 3164 default is user=1).
    pub facility: Option<u8>,
    /// Severity 0-7.
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

/// Parse one frame (a UDP datagram or a TCP frame, framing already removed).
pub fn parse(input: &[u8], _ctx: &ParseContext) -> SyslogMessage {
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
        message: String::from_utf8_lossy(input).into_owned(),
        errors: vec!["syslog parser not built yet".to_string()],
    }
}

/// STRUCTURED-DATA as a compact JSON object (SD-ID → {param: value}); None when there is none.
pub fn structured_data_json(sd: &[SdElement]) -> Option<String> {
    if sd.is_empty() {
        return None;
    }
    let mut obj = serde_json::Map::new();
    for el in sd {
        let params = el
            .params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        obj.insert(el.id.clone(), serde_json::Value::Object(params));
    }
    Some(serde_json::Value::Object(obj).to_string())
}

/// The `mutt decode syslog` object.
pub fn to_json(msg: &SyslogMessage) -> serde_json::Value {
    serde_json::json!({
        "format": msg.format.as_str(),
        "message": msg.message,
        "valid": msg.errors.is_empty(),
        "validation_errors": msg.errors,
    })
}
