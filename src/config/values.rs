//! Config values that are checked as they are read: each is a type built from the text as written
//! (`#[serde(try_from = "String")]`), so a bad value is a `file:line: key:` error at load and the
//! code that uses it never re-parses a string or falls back to a default.

use std::fmt;

use serde::Deserialize;

use crate::rules::Cidr;
use crate::wal::SyncPolicy;

/// `daemon.log_level`: the seed's Python level names (`DEBUG`, `INFO`, `WARNING`, `ERROR`,
/// `CRITICAL`), plus `WARN` and `TRACE`; any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The tracing filter directive.
    pub fn filter(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl TryFrom<String> for LogLevel {
    type Error = String;

    fn try_from(s: String) -> Result<LogLevel, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "TRACE" => LogLevel::Trace,
            "DEBUG" => LogLevel::Debug,
            "INFO" => LogLevel::Info,
            "WARNING" | "WARN" => LogLevel::Warn,
            "ERROR" | "CRITICAL" => LogLevel::Error,
            _ => {
                return Err(format!(
                    "expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {s:?}"
                ))
            }
        })
    }
}

/// `daemon.log_format`: `text` (the default: one human-readable line per event) or `json` (one
/// JSON object per line, for a log shipper).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(s: String) -> Result<LogFormat, String> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("expected text or json, got {s:?}")),
        }
    }
}

/// `wal.sync`: `interval`, `always` or `never`, any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct WalSync(pub SyncPolicy);

impl TryFrom<String> for WalSync {
    type Error = String;

    fn try_from(s: String) -> Result<WalSync, String> {
        Ok(WalSync(match s.to_ascii_lowercase().as_str() {
            "interval" => SyncPolicy::Interval,
            "always" => SyncPolicy::Always,
            "never" => SyncPolicy::Never,
            _ => return Err(format!("expected interval, always or never, got {s:?}")),
        }))
    }
}

/// A fixed offset from UTC, in seconds east: `UTC`, `Z`, `GMT`, `+02:00`, `-0530`, `+2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct UtcOffset(pub i32);

impl TryFrom<String> for UtcOffset {
    type Error = String;

    fn try_from(s: String) -> Result<UtcOffset, String> {
        parse_utc_offset(&s)
            .map(UtcOffset)
            .ok_or_else(|| format!("expected UTC or an offset like +02:00, got {s:?}"))
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sign, secs) = if self.0 < 0 {
            ('-', -self.0)
        } else {
            ('+', self.0)
        };
        write!(f, "{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60)
    }
}

/// `UTC`, `Z`, `+02:00`, `-0530`, `+2` → seconds east of UTC.
pub fn parse_utc_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("gmt")
    {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// An address block as written in `syslog.source_timezones[].sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AddressBlock(pub Cidr);

impl TryFrom<String> for AddressBlock {
    type Error = String;

    fn try_from(s: String) -> Result<AddressBlock, String> {
        Cidr::parse(&s).map(AddressBlock)
    }
}

/// `snmpv3.engine_id`: 5 to 32 octets in hex (an optional `0x`), not all zero.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EngineId(pub Vec<u8>);

impl TryFrom<String> for EngineId {
    type Error = String;

    fn try_from(s: String) -> Result<EngineId, String> {
        crate::ingest::engine_file::parse_hex(&s)
            .map(EngineId)
            .ok_or_else(|| format!("expected 5 to 32 octets in hex, not all zero, got {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_accept_the_seed_names_in_any_case() {
        for (s, want) in [
            ("DEBUG", "debug"),
            ("info", "info"),
            ("Warning", "warn"),
            ("WARN", "warn"),
            ("CRITICAL", "error"),
            ("trace", "trace"),
        ] {
            assert_eq!(
                LogLevel::try_from(s.to_string()).map(|l| l.filter()),
                Ok(want)
            );
        }
        assert!(LogLevel::try_from("LOUD".to_string()).is_err());
    }

    #[test]
    fn utc_offsets_parse_in_the_usual_spellings() {
        assert_eq!(parse_utc_offset("UTC"), Some(0));
        assert_eq!(parse_utc_offset("+02:00"), Some(7200));
        assert_eq!(parse_utc_offset("-0530"), Some(-19800));
        assert_eq!(parse_utc_offset("+2"), Some(7200));
        assert_eq!(parse_utc_offset("Europe/Paris"), None);
        assert_eq!(UtcOffset(-19800).to_string(), "-05:30");
    }

    #[test]
    fn wal_sync_keeps_its_three_spellings_in_any_case() {
        assert_eq!(
            WalSync::try_from("Always".to_string()),
            Ok(WalSync(SyncPolicy::Always))
        );
        assert_eq!(
            WalSync::try_from("never".to_string()),
            Ok(WalSync(SyncPolicy::Never))
        );
        assert!(WalSync::try_from("sometimes".to_string()).is_err());
    }
}
