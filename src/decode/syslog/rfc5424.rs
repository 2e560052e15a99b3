//! RFC 5424 (The Syslog Protocol) section 6: the header after PRI, STRUCTURED-DATA and MSG.
//!
//! ```text
//! SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]
//! HEADER     = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
//! ```
//! Lenient: a grammar violation is recorded in `errors` and parsing goes on with the best
//! reading of the field; whatever cannot be split stays in `message`, so nothing is lost.

use std::collections::HashSet;

use super::time::{parse_rfc3339_strict, StampIssue};
use super::{lossy, parse_pid, ParseContext, SdElement, SyslogMessage};

/// Field limits of RFC 5424 section 6.
const HOSTNAME_MAX: usize = 255;
const APP_NAME_MAX: usize = 48;
const PROCID_MAX: usize = 128;
const MSGID_MAX: usize = 32;
const SD_NAME_MAX: usize = 32;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parse everything after `<PRI>`; `b` starts at VERSION.
pub fn parse(b: &[u8], ctx: &ParseContext, out: &mut SyslogMessage) {
    let mut pos = version(b, out);
    if !space(b, &mut pos, out, "TIMESTAMP") {
        return;
    }
    timestamp(b, &mut pos, ctx, out);
    let mut header = [None; 4];
    let names = ["HOSTNAME", "APP-NAME", "PROCID", "MSGID"];
    let limits = [HOSTNAME_MAX, APP_NAME_MAX, PROCID_MAX, MSGID_MAX];
    for i in 0..4 {
        if !space(b, &mut pos, out, names[i]) {
            break;
        }
        header[i] = field(b, &mut pos, names[i], limits[i], out);
    }
    let [host, app, procid, msgid] = header;
    out.hostname = host.map(lossy);
    out.program = app.map(lossy);
    out.process_id = procid.and_then(parse_pid);
    out.tag = match (&out.program, procid) {
        (Some(a), Some(p)) => {
            let mut t = String::with_capacity(a.len() + p.len() + 2);
            t.push_str(a);
            t.push('[');
            t.push_str(&String::from_utf8_lossy(p));
            t.push(']');
            Some(t)
        }
        (Some(a), None) => Some(a.clone()),
        _ => None,
    };
    out.msgid = msgid.map(lossy);
    if pos >= b.len() || !space(b, &mut pos, out, "STRUCTURED-DATA") {
        return;
    }
    let rest = structured_data(&b[pos..], out);
    message(rest, out);
}

/// VERSION: 1-3 digits, not starting with 0. Returns the position after it.
fn version(b: &[u8], out: &mut SyslogMessage) -> usize {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || b[0] == b'0' || n > 3 {
        out.errors
            .push("VERSION must be a number from 1 to 999".into());
    }
    n
}

/// One SP between fields. On a missing separator the error names what was expected.
fn space(b: &[u8], pos: &mut usize, out: &mut SyslogMessage, next: &str) -> bool {
    match b.get(*pos) {
        Some(b' ') => {
            *pos += 1;
            true
        }
        None => {
            out.errors.push(format!("message ends before {next}"));
            false
        }
        Some(_) => {
            out.errors.push(format!("expected a space before {next}"));
            // Resynchronise on the next space so later fields are still read.
            match b[*pos..].iter().position(|&c| c == b' ') {
                Some(i) => {
                    *pos += i + 1;
                    true
                }
                None => false,
            }
        }
    }
}

fn timestamp(b: &[u8], pos: &mut usize, ctx: &ParseContext, out: &mut SyslogMessage) {
    let token_len = b[*pos..]
        .iter()
        .position(|&c| c == b' ')
        .unwrap_or(b.len() - *pos);
    let token = &b[*pos..*pos + token_len];
    if token == b"-" {
        *pos += 1;
        return;
    }
    match parse_rfc3339_strict(token) {
        Some((wall, n, issue)) => {
            out.timestamp_us = wall.resolve(ctx.received_at_us, ctx.default_utc_offset_secs);
            if issue == Some(StampIssue::LongFraction) {
                out.errors
                    .push("TIMESTAMP fraction has more than 6 digits; truncated".into());
            }
            if n < token_len {
                out.errors
                    .push("unexpected characters after TIMESTAMP".into());
            }
        }
        None => out
            .errors
            .push("TIMESTAMP is neither RFC 3339 nor NILVALUE".into()),
    }
    *pos += token_len;
}

/// A header field up to the next SP: NILVALUE gives None; the grammar (PRINTUSASCII, length)
/// is checked and a violation reported, but the value is kept.
fn field<'a>(
    b: &'a [u8],
    pos: &mut usize,
    name: &str,
    max: usize,
    out: &mut SyslogMessage,
) -> Option<&'a [u8]> {
    let len = b[*pos..]
        .iter()
        .position(|&c| c == b' ')
        .unwrap_or(b.len() - *pos);
    let v = &b[*pos..*pos + len];
    *pos += len;
    if v == b"-" {
        return None;
    }
    if v.is_empty() {
        out.errors.push(format!("{name} is empty"));
        return None;
    }
    if v.len() > max {
        out.errors
            .push(format!("{name} is longer than {max} characters"));
    }
    if !v.iter().all(|c| (33..=126).contains(c)) {
        out.errors
            .push(format!("{name} has characters outside printable US-ASCII"));
    }
    Some(v)
}

/// STRUCTURED-DATA: NILVALUE or SD-ELEMENTs. Returns what follows it (the SP and MSG). On a
/// grammar error the elements read so far are kept and the rest, from the element that failed,
/// becomes MSG.
fn structured_data<'a>(b: &'a [u8], out: &mut SyslogMessage) -> &'a [u8] {
    if b.first() == Some(&b'-') {
        return &b[1..];
    }
    if b.first() != Some(&b'[') {
        out.errors
            .push("STRUCTURED-DATA is neither NILVALUE nor an element".into());
        out.message = lossy(b);
        return &[];
    }
    let mut pos = 0;
    // SD-IDs met so far: scanning the elements for each new one was quadratic, seconds of CPU
    // for one large frame of distinct elements.
    let mut seen = HashSet::new();
    while b.get(pos) == Some(&b'[') {
        match element(&b[pos..], &mut out.errors) {
            Ok((el, n)) => {
                if !seen.insert(el.id.clone()) {
                    out.errors.push(format!("duplicate SD-ID {:?}", el.id));
                }
                out.structured_data.push(el);
                pos += n;
            }
            Err(why) => {
                out.errors.push(why.into());
                out.message = lossy(&b[pos..]);
                return &[];
            }
        }
    }
    &b[pos..]
}

/// One `[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]`, returning it and its length.
fn element(b: &[u8], errors: &mut Vec<String>) -> Result<(SdElement, usize), &'static str> {
    let mut pos = 1;
    let id = sd_name(b, &mut pos).ok_or("SD-ID is empty, too long or has forbidden characters")?;
    let mut params = Vec::new();
    loop {
        match b.get(pos) {
            Some(b']') => {
                let el = SdElement {
                    id: lossy(id),
                    params,
                };
                return Ok((el, pos + 1));
            }
            Some(b' ') => {
                pos += 1;
                let name = sd_name(b, &mut pos).ok_or("SD PARAM-NAME is malformed")?;
                if b.get(pos) != Some(&b'=') {
                    return Err("SD PARAM-NAME must be followed by =");
                }
                pos += 1;
                // rsyslog accepts `name= "value"`; so do we, with a note.
                let spaces = b[pos..].iter().take_while(|&&c| c == b' ').count();
                if spaces > 0 {
                    errors.push("space between = and the SD PARAM-VALUE".into());
                    pos += spaces;
                }
                if b.get(pos) != Some(&b'"') {
                    return Err("SD PARAM-VALUE must start with \"");
                }
                pos += 1;
                let value = param_value(b, &mut pos, errors)?;
                params.push((lossy(name), value));
            }
            _ => return Err("SD element is not closed by ]"),
        }
    }
}

/// SD-NAME: 1-32 PRINTUSASCII except `=`, SP, `]`, `"`.
fn sd_name<'a>(b: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let start = *pos;
    let n = b[start..]
        .iter()
        .take_while(|&&c| (33..=126).contains(&c) && !matches!(c, b'=' | b']' | b'"'))
        .count();
    *pos += n;
    (1..=SD_NAME_MAX).contains(&n).then(|| &b[start..start + n])
}

/// PARAM-VALUE up to the closing `"`, undoing the `\"` `\\` `\]` escapes (section 6.3.3: a
/// backslash before any other character is kept as is).
fn param_value(
    b: &[u8],
    pos: &mut usize,
    errors: &mut Vec<String>,
) -> Result<String, &'static str> {
    // Fast path: most values have no escapes and are copied once.
    let rest = &b[*pos..];
    if let Some(end) = rest.iter().position(|&c| matches!(c, b'"' | b'\\' | b']')) {
        if rest[end] == b'"' {
            *pos += end + 1;
            return Ok(lossy(&rest[..end]));
        }
    }
    let mut v = Vec::new();
    loop {
        match b.get(*pos) {
            None => return Err("SD PARAM-VALUE is not closed by \""),
            Some(b'"') => {
                *pos += 1;
                return Ok(lossy(&v));
            }
            Some(b'\\') => match b.get(*pos + 1) {
                Some(&c @ (b'"' | b'\\' | b']')) => {
                    v.push(c);
                    *pos += 2;
                }
                _ => {
                    // Kept as a plain backslash (6.3.3), but `\` itself must be escaped.
                    const WHY: &str = "unescaped \\ in SD PARAM-VALUE";
                    if !errors.iter().any(|e| e == WHY) {
                        errors.push(WHY.into());
                    }
                    v.push(b'\\');
                    *pos += 1;
                }
            },
            Some(b']') => return Err("unescaped ] in SD PARAM-VALUE"),
            Some(&c) => {
                v.push(c);
                *pos += 1;
            }
        }
    }
}

/// `[SP MSG]`: the BOM is stripped; MSG that starts with a BOM must be UTF-8 (section 6.4).
fn message(rest: &[u8], out: &mut SyslogMessage) {
    let msg = match rest.first() {
        None => return,
        Some(b' ') => &rest[1..],
        Some(_) => {
            out.errors
                .push("expected a space between STRUCTURED-DATA and MSG".into());
            rest
        }
    };
    match msg.strip_prefix(BOM) {
        Some(utf8) => {
            if std::str::from_utf8(utf8).is_err() {
                out.errors
                    .push("MSG starts with a BOM but is not valid UTF-8".into());
            }
            out.message = lossy(utf8);
        }
        None => out.message = lossy(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse as parse_line, ParseContext, SyslogFormat};

    const CTX: ParseContext = ParseContext {
        received_at_us: 1_700_000_000_000_000,
        default_utc_offset_secs: 0,
    };

    #[test]
    fn rfc_example_with_two_sd_elements_and_bom_message_parses() {
        let m = parse_line(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
             [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][x@1 a=\"\\]\\\"\\\\\"] \u{feff}hi"
                .as_bytes(),
            &CTX,
        );
        assert_eq!(m.format, SyslogFormat::Rfc5424);
        assert_eq!(m.errors, Vec::<String>::new());
        assert_eq!(m.timestamp_us, Some(1_065_910_455_003_000));
        assert_eq!(m.program.as_deref(), Some("evntslog"));
        assert_eq!(m.msgid.as_deref(), Some("ID47"));
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(m.structured_data[1].params[0].1, "]\"\\");
        assert_eq!(m.message, "hi");
    }

    #[test]
    fn nilvalues_give_none_and_tag_joins_app_and_procid() {
        let m = parse_line(b"<34>1 - - su 8710 - -", &CTX);
        assert_eq!(m.errors, Vec::<String>::new());
        assert_eq!((m.hostname, m.msgid, m.timestamp_us), (None, None, None));
        assert_eq!(m.tag.as_deref(), Some("su[8710]"));
        assert_eq!(m.process_id, Some(8710));
    }

    #[test]
    fn over_long_fields_are_kept_with_an_error() {
        let app = "a".repeat(49);
        let m = parse_line(format!("<1>1 - host {app} - - - x").as_bytes(), &CTX);
        assert_eq!(m.program.as_deref(), Some(app.as_str()));
        assert_eq!(m.errors.len(), 1);
        assert_eq!(m.message, "x");
    }

    #[test]
    fn broken_sd_keeps_earlier_elements_and_the_rest_as_message() {
        let m = parse_line(b"<1>1 - - - - - [a x=\"1\"][b y=\"]\"] tail", &CTX);
        assert_eq!(m.structured_data.len(), 1);
        assert_eq!(m.message, "[b y=\"]\"] tail");
        assert!(!m.errors.is_empty());
    }

    #[test]
    fn invalid_utf8_after_bom_is_reported_and_replaced() {
        let m = parse_line(b"<1>1 - - - - - - \xEF\xBB\xBF\xC3(", &CTX);
        assert_eq!(m.message, "\u{fffd}(");
        assert_eq!(m.errors.len(), 1);
    }
}
