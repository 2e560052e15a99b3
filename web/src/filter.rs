//! The query string of the message pages, parsed once into typed filters: the time range as a
//! range of message ids, equality filters on indexed or narrowing columns, a bounded text
//! search and a keyset cursor. Pure: `now` is passed in. Anything it cannot use is a
//! [`BadQuery`] that says what to fix (a 400 page), never a silent fallback.
//!
//! Ids are UUIDv7 in arrival order (48-bit Unix milliseconds first), so the messages received in
//! `[t0, t1)` are exactly the ids in `[lower(t0), lower(t1))`, where `lower(t)` is the id with
//! `t`'s millisecond and every other bit zero. The primary key's index then serves both the
//! range and the paging (`ORDER BY id DESC`).

use std::net::IpAddr;

use mutt_query::{Dialect, Value};

/// The longest search text, in bytes.
pub const MAX_SEARCH: usize = 500;
/// The longest value of any other parameter, in bytes.
pub const MAX_VALUE: usize = 200;

/// A query the pages cannot run, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct BadQuery {
    pub param: String,
    pub message: String,
}

fn bad(param: &str, message: impl Into<String>) -> BadQuery {
    BadQuery {
        param: param.to_string(),
        message: message.into(),
    }
}

/// The preset ranges offered on the page, with their length in milliseconds.
pub const PRESETS: &[(&str, i64)] = &[
    ("15m", 15 * 60_000),
    ("1h", 3_600_000),
    ("24h", 86_400_000),
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
];

/// The preset used when neither `range` nor `from` is given.
pub const DEFAULT_RANGE: &str = "24h";

/// The parameters the message pages understand (anything else is a 400).
pub const PARAMS: &[&str] = &[
    "range",
    "from",
    "to",
    "type",
    "device",
    "severity",
    "rule",
    "facility",
    "level",
    "program",
    "oid",
    "validated",
    "q",
    "before",
    "format",
];

/// A parsed query. The raw values are kept (non-empty only) so links can rebuild it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    raw: Vec<(&'static str, String)>,
    /// Receive-time bounds in Unix milliseconds, `[from, to)`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The keyset cursor: only ids below it.
    pub before: Option<String>,
    /// Equality conditions: (column, value).
    pub equals: Vec<(&'static str, Value)>,
    pub search: Option<Search>,
}

/// `q=`: every word must appear, `"two words"` as a phrase, `-word` must not appear; ASCII
/// letters match either case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub terms: Vec<(bool, String)>,
}

impl Search {
    pub fn parse(text: &str) -> Search {
        let mut terms = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (negated, after) = match rest.strip_prefix('-') {
                Some(r) if !r.is_empty() && !r.starts_with(' ') => (true, r),
                _ => (false, rest),
            };
            let (term, next) = if let Some(quoted) = after.strip_prefix('"') {
                match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => (quoted, ""),
                }
            } else {
                match after.find(' ') {
                    Some(end) => (&after[..end], &after[end..]),
                    None => (after, ""),
                }
            };
            if !term.is_empty() {
                terms.push((negated, term.to_ascii_lowercase()));
            }
            rest = next.trim_start();
        }
        Search { terms }
    }

    /// Whether a message's text matches.
    pub fn matches(&self, text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        self.terms
            .iter()
            .all(|(negated, term)| lower.contains(term.as_str()) != *negated)
    }
}

impl Filter {
    /// Parse query pairs. `now_ms` is the current time in Unix milliseconds.
    pub fn parse(pairs: &[(String, String)], now_ms: i64) -> Result<Filter, BadQuery> {
        let mut f = Filter::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for (key, value) in pairs {
            let Some(&name) = PARAMS.iter().find(|p| **p == key.as_str()) else {
                // Named back to the user, so not at any length.
                let shown: String = key.chars().take(64).collect();
                return Err(bad(
                    &shown,
                    format!("unknown parameter; known are {}", PARAMS.join(", ")),
                ));
            };
            if seen.contains(&name) {
                return Err(bad(name, "given twice; give it once"));
            }
            seen.push(name);
            let limit = if name == "q" { MAX_SEARCH } else { MAX_VALUE };
            if value.len() > limit {
                return Err(bad(
                    name,
                    format!("{} bytes long; at most {limit}", value.len()),
                ));
            }
            let value = value.trim();
            if !value.is_empty() {
                f.raw.push((name, value.to_string()));
            }
        }
        f.times(now_ms)?;
        for (name, value) in f.raw.clone() {
            f.condition(name, &value)?;
        }
        Ok(f)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    fn times(&mut self, now_ms: i64) -> Result<(), BadQuery> {
        let from = self
            .get("from")
            .map(|s| parse_time("from", s))
            .transpose()?;
        let to = self.get("to").map(|s| parse_time("to", s)).transpose()?;
        let range = self.get("range");
        if range.is_some() && (from.is_some() || to.is_some()) {
            return Err(bad("range", "give either range or from/to, not both"));
        }
        (self.from_ms, self.to_ms) = match (from, to) {
            (None, None) => {
                let name = range.unwrap_or(DEFAULT_RANGE);
                let Some((_, len)) = PRESETS.iter().find(|(p, _)| *p == name) else {
                    let names: Vec<&str> = PRESETS.iter().map(|(p, _)| *p).collect();
                    return Err(bad(
                        "range",
                        format!("expected one of {}", names.join(", ")),
                    ));
                };
                // One millisecond past now, so a message stored this millisecond is in.
                (now_ms - len, now_ms + 1)
            }
            (Some(from), None) => (from, now_ms + 1),
            (None, Some(_)) => return Err(bad("from", "required with to")),
            (Some(from), Some(to)) => (from, to),
        };
        if self.to_ms <= self.from_ms {
            return Err(bad("to", "must be after from"));
        }
        Ok(())
    }

    fn condition(&mut self, name: &'static str, value: &str) -> Result<(), BadQuery> {
        let text = |v: &str| Value::Text(v.to_string());
        match name {
            "type" => match value {
                "syslog" | "snmp_trap" => self.equals.push(("type", text(value))),
                _ => return Err(bad(name, "expected syslog or snmp_trap")),
            },
            "device" => match value.parse::<IpAddr>() {
                Ok(ip) => self.equals.push(("source_ip", Value::Text(ip.to_string()))),
                Err(_) => self.equals.push(("source_device", text(value))),
            },
            "severity" => self.equals.push(("match_severity", text(value))),
            "rule" => self.equals.push(("matched_rule_id", text(value))),
            "facility" => self.equals.push(("syslog_facility", text(value))),
            "level" => match value.parse::<i64>() {
                Ok(l @ 0..=7) => self.equals.push(("syslog_level", Value::Integer(l))),
                _ => return Err(bad(name, "expected a syslog level 0 to 7")),
            },
            "program" => self.equals.push(("syslog_program", text(value))),
            "oid" => self.equals.push(("snmp_oid", text(value))),
            "validated" => match value {
                "yes" => self.equals.push(("validated", Value::Integer(1))),
                "no" => self.equals.push(("validated", Value::Integer(0))),
                _ => return Err(bad(name, "expected yes or no")),
            },
            "q" => self.search = Some(Search::parse(value)).filter(|s| !s.terms.is_empty()),
            "before" => self.before = Some(parse_cursor(value)?),
            "format" => match value {
                "csv" | "jsonl" => {}
                _ => return Err(bad(name, "expected csv or jsonl")),
            },
            _ => {}
        }
        Ok(())
    }

    /// The WHERE clause and its parameters: the id range (below the cursor when there is one)
    /// and the equality filters, all bound.
    pub fn where_clause(&self) -> (String, Vec<Value>) {
        let mut sql = String::from("id >= ? AND id < ?");
        let (lo, hi) = self.id_range();
        let mut params = vec![Value::Text(lo), Value::Text(hi)];
        let (equals, values) = self.equals_clause();
        sql.push_str(&equals);
        params.extend(values);
        (sql, params)
    }

    /// The ids the filter's range holds, `[lo, hi)`: `hi` is the cursor when it is lower.
    pub fn id_range(&self) -> (String, String) {
        let mut hi = id_lower_bound(self.to_ms);
        if let Some(before) = &self.before {
            if *before < hi {
                hi = before.clone();
            }
        }
        (id_lower_bound(self.from_ms), hi)
    }

    /// The device address asked for (`device=` given as an address: `source_ip`).
    pub fn address(&self) -> Option<&Value> {
        self.equals
            .iter()
            .find(|(column, _)| *column == "source_ip")
            .map(|(_, value)| value)
    }

    /// This filter without its cursor (the histogram counts the whole range).
    pub fn without_cursor(&self) -> Filter {
        Filter {
            before: None,
            ..self.clone()
        }
    }

    /// As [`Filter::where_clause`] over the whole range, whatever the cursor.
    pub fn where_clause_without_cursor(&self) -> (String, Vec<Value>) {
        self.without_cursor().where_clause()
    }

    /// The equality filters alone, each ` AND column = ?`, with their values.
    pub fn equals_clause(&self) -> (String, Vec<Value>) {
        self.equals_with(|column| column.to_string())
    }

    /// The equality filters with each column kept off its index ([`Dialect::unindexed`]: SQLite's
    /// ` AND +column = ?`), so the primary key's range drives the query (the live tail's few new
    /// rows, where a device's index would read and sort all of its rows every poll).
    pub fn equals_unindexed(&self, dialect: Dialect) -> (String, Vec<Value>) {
        self.equals_with(|column| dialect.unindexed(column))
    }

    fn equals_with(&self, column_sql: impl Fn(&str) -> String) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut params = Vec::new();
        for (column, value) in &self.equals {
            sql.push_str(" AND ");
            sql.push_str(&column_sql(column));
            sql.push_str(" = ?");
            params.push(value.clone());
        }
        (sql, params)
    }

    /// The query string of this filter with `changes` applied (an empty value removes a key).
    pub fn query_with(&self, changes: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .raw
            .iter()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        pairs.extend(changes.iter().filter(|(_, v)| !v.is_empty()).copied());
        query_string(&pairs)
    }

    /// A parameter's value as given, for the form.
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// The export format asked for (`format=`), jsonl by default.
    pub fn format(&self) -> &str {
        self.get("format").unwrap_or("jsonl")
    }
}

/// `key=value&…`, percent-encoded.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encode everything but letters, digits and `-._`.
pub fn encode(value: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');
    utf8_percent_encode(value, KEEP).to_string()
}

/// RFC 3339 (`2026-11-27T03:43:02Z`, any offset), or the browser's `2026-11-27T03:43` taken as
/// UTC; Unix milliseconds.
pub fn parse_time(param: &str, s: &str) -> Result<i64, BadQuery> {
    let full = match s.len() {
        16 => format!("{s}:00Z"),
        19 => format!("{s}Z"),
        _ => s.to_string(),
    };
    let ts: jiff::Timestamp = full.parse().map_err(|_| {
        bad(
            param,
            format!("{s:?} is not a time; write 2026-11-27T03:43:00Z (RFC 3339, UTC by default)"),
        )
    })?;
    let ms = ts.as_millisecond();
    if !(0..1 << 48).contains(&ms) {
        return Err(bad(param, "out of the range message ids can hold"));
    }
    Ok(ms)
}

/// A cursor is a message id: a lowercase hyphenated UUID.
pub fn parse_cursor(s: &str) -> Result<String, BadQuery> {
    match uuid::Uuid::try_parse(s) {
        Ok(u) if u.hyphenated().to_string() == s => Ok(s.to_string()),
        _ => Err(bad("before", "not a message id (a lowercase UUID)")),
    }
}

/// The smallest UUIDv7 of millisecond `ms`: every id received at or after `ms` sorts at or
/// above it, every earlier one below.
pub fn id_lower_bound(ms: i64) -> String {
    let ms = ms.clamp(0, (1 << 48) - 1) as u64;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// The receive millisecond of a UUIDv7, if `id` is one.
pub fn id_millis(id: &str) -> Option<i64> {
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    i64::from_str_radix(&hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000_000;

    fn parse(q: &[(&str, &str)]) -> Result<Filter, BadQuery> {
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Filter::parse(&pairs, NOW)
    }

    #[test]
    fn a_lower_bound_id_sorts_between_the_milliseconds_around_it() {
        let id = "0190c0de-1234-7abc-8def-0123456789ab";
        let ms = id_millis(id).unwrap();
        assert_eq!(ms, 0x0190_c0de_1234);
        assert!(id_lower_bound(ms).as_str() <= id);
        assert!(id_lower_bound(ms + 1).as_str() > id);
        assert_eq!(
            id_lower_bound(0x0123_4567_89ab),
            "01234567-89ab-7000-8000-000000000000"
        );
    }

    #[test]
    fn the_default_range_is_the_last_day_up_to_now() {
        let f = parse(&[]).unwrap();
        assert_eq!((f.from_ms, f.to_ms), (NOW - 86_400_000, NOW + 1));
        let f = parse(&[("range", "15m")]).unwrap();
        assert_eq!(f.from_ms, NOW - 900_000);
    }

    #[test]
    fn absolute_times_accept_rfc3339_and_the_browsers_form() {
        let f = parse(&[
            ("from", "2026-11-27T03:43"),
            ("to", "2026-11-27T05:43:00+01:00"),
        ])
        .unwrap();
        assert_eq!(f.to_ms - f.from_ms, 3_600_000);
        let f = parse(&[("from", "2026-11-27T03:00:00Z")]).unwrap();
        assert_eq!(f.to_ms, NOW + 1);
    }

    #[test]
    fn bad_input_says_which_parameter_to_fix() {
        for (q, param) in [
            (vec![("from", "yesterday")], "from"),
            (vec![("range", "2h")], "range"),
            (vec![("sort", "x")], "sort"),
            (vec![("before", "'; DROP TABLE messages; --")], "before"),
            (
                vec![("before", "0190C0DE-0000-7000-8000-000000000000")],
                "before",
            ),
            (vec![("level", "9")], "level"),
            (vec![("type", "email")], "type"),
            (vec![("validated", "maybe")], "validated"),
            (vec![("to", "2026-11-27T03:00:00Z")], "from"),
            (vec![("range", "1h"), ("range", "7d")], "range"),
            (
                vec![("range", "1h"), ("from", "2026-11-27T03:00:00Z")],
                "range",
            ),
        ] {
            assert_eq!(parse(&q).unwrap_err().param, param, "{q:?}");
        }
        let long = "x".repeat(10_240);
        let e = parse(&[("q", &long)]).unwrap_err();
        assert_eq!(e.param, "q");
        assert!(e.message.contains("10240 bytes"), "{e}");
    }

    #[test]
    fn quotes_percent_underscore_and_backslash_are_bound_values_not_sql() {
        for v in ["'", "%", "_", "\\", "a' OR '1'='1"] {
            let f = parse(&[("program", v), ("device", v), ("rule", v)]).unwrap();
            let (sql, params) = f.where_clause();
            assert_eq!(
                sql,
                "id >= ? AND id < ? AND syslog_program = ? AND source_device = ? \
                 AND matched_rule_id = ?"
            );
            assert!(params.contains(&Value::Text(v.to_string())));
        }
    }

    #[test]
    fn a_device_is_an_address_or_a_name() {
        let f = parse(&[("device", "10.0.0.1")]).unwrap();
        assert_eq!(f.equals[0].0, "source_ip");
        let f = parse(&[("device", "core-sw1")]).unwrap();
        assert_eq!(f.equals[0].0, "source_device");
    }

    #[test]
    fn the_cursor_lowers_the_upper_bound_only() {
        let cursor = id_lower_bound(NOW - 1000);
        let f = parse(&[("before", &cursor)]).unwrap();
        let (_, params) = f.where_clause();
        assert_eq!(params[1], Value::Text(cursor));
    }

    #[test]
    fn search_words_phrases_and_exclusions() {
        let s = Search::parse(r#"link "down on" -eth0"#);
        assert!(s.matches("LINK is Down on eth1"));
        assert!(!s.matches("link down on eth0"));
        assert!(!s.matches("link is down, on eth1"));
        assert!(Search::parse("100%_\\").matches("at 100%_\\ now"));
    }

    #[test]
    fn links_keep_the_query_and_encode_it() {
        let f = parse(&[("program", "a&b=c"), ("range", "1h")]).unwrap();
        assert_eq!(
            f.query_with(&[("range", "7d")]),
            "program=a%26b%3Dc&range=7d"
        );
        assert_eq!(f.query_with(&[("program", "")]), "range=1h");
    }
}
