//! RFC 3164 (The BSD syslog Protocol) section 4.1: `TIMESTAMP SP HOSTNAME SP TAG MSG`, read
//! the way relays must read it (section 4.3): every part may be missing or malformed.
//!
//! ```text
//! [seq ": "] [host ":" SP | host SP node ":"] ["*" | "."] STAMP [SP ZONE] [":"]
//!     SP [HOSTNAME SP] [TAG ["[" pid "]"] [":"]] [SP] MSG
//! ```
//! The vendor prefixes (Cisco sequence numbers, IOS-XR node ids, clock markers, zone names)
//! live in dialects.rs; this file holds the order in which they are tried.

use super::dialects::{self, Stamp};
use super::{lossy, parse_pid, ParseContext, SyslogFormat, SyslogMessage};

/// Parse everything after `<PRI>` (or the whole line when it had none).
pub fn parse(b: &[u8], has_pri: bool, ctx: &ParseContext, out: &mut SyslogMessage) {
    out.format = SyslogFormat::Rfc3164;
    let mut pos = skip_spaces(b, 0);
    pos = dialects::cisco_sequence(b, pos);
    let mut host = None;
    let mut stamp = dialects::stamp_at(b, pos);
    if stamp.is_none() {
        if let Some((h, s)) = dialects::host_before_stamp(b, pos) {
            host = Some(h);
            stamp = Some(s);
        }
    }
    match stamp {
        Some((st, end)) => {
            out.timestamp_us = st.resolve(ctx);
            pos = dialects::after_stamp(b, end);
            if host.is_none() {
                host = hostname_at(b, pos);
                if let Some(h) = host {
                    pos = after_hostname(b, pos + h.len());
                }
            }
            out.hostname = host.map(lossy);
            tag_and_message(b, pos, out);
        }
        None => headerless(b, pos, out),
    }
    if out.timestamp_us.is_none() {
        match dialects::key_value_stamp(out.message.as_bytes(), ctx) {
            Some((us, devname)) => {
                out.timestamp_us = Some(us);
                if out.hostname.is_none() {
                    out.hostname = devname;
                }
            }
            None if stamp.is_none() => {
                out.errors.push("no timestamp in the header".into());
                if !has_pri {
                    out.format = SyslogFormat::Unknown;
                }
            }
            None => out
                .errors
                .push("timestamp names a date that does not exist".into()),
        }
    }
}

fn skip_spaces(b: &[u8], pos: usize) -> usize {
    pos + b[pos..].iter().take_while(|&&c| c == b' ').count()
}

/// The word at `pos` when it can be a host name or address: letters, digits and `.-_:/@`,
/// not ending with `:` (that is a TAG) and followed by a space or the end.
fn hostname_at(b: &[u8], pos: usize) -> Option<&[u8]> {
    let len = b[pos..]
        .iter()
        .position(|&c| c == b' ')
        .unwrap_or(b.len() - pos);
    let w = &b[pos..pos + len];
    let ok = !w.is_empty()
        && w.len() <= 255
        && w.last() != Some(&b':')
        && w.iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':' | b'/' | b'@')
        });
    ok.then_some(w)
}

/// After HOSTNAME: one space; Cisco ASA also writes `host : %ASA-...`.
fn after_hostname(b: &[u8], pos: usize) -> usize {
    if b.get(pos..pos + 3) == Some(b" : ") {
        return pos + 3;
    }
    pos + usize::from(b.get(pos) == Some(&b' '))
}

/// TAG and MSG from `pos`; MSG starts after the one space that follows TAG.
fn tag_and_message(b: &[u8], pos: usize, out: &mut SyslogMessage) {
    let mut pos = pos;
    if let Some(t) = tag_at(b, pos) {
        out.program = Some(dialects::program_name(t.word));
        out.process_id = t.pid.and_then(parse_pid);
        out.tag = Some(lossy(&b[pos..t.tag_end]));
        pos = t.end;
        if b.get(pos) == Some(&b' ') {
            pos += 1;
        }
    }
    out.message = lossy(&b[pos..]);
}

/// A line with no stamp anywhere in its header. A first word that is clearly a TAG (`xapi:`,
/// `sshd[1]`) is taken as one, a host followed by such a TAG too; anything else is free text.
fn headerless(b: &[u8], pos: usize, out: &mut SyslogMessage) {
    if tag_at(b, pos).is_some_and(|t| t.is_certain()) {
        return tag_and_message(b, pos, out);
    }
    if let Some(h) = hostname_at(b, pos) {
        let next = pos + h.len() + 1;
        if next < b.len() && tag_at(b, next).is_some_and(|t| t.is_certain()) {
            out.hostname = Some(lossy(h));
            return tag_and_message(b, next, out);
        }
    }
    out.message = lossy(b);
}

/// A TAG as found in the bytes.
struct Tag<'a> {
    /// The program part (before `[pid]` and `:`).
    word: &'a [u8],
    pid: Option<&'a [u8]>,
    /// End of the TAG as sent, without the colon.
    tag_end: usize,
    /// End including the colon.
    end: usize,
    colon: bool,
}

impl Tag<'_> {
    fn is_certain(&self) -> bool {
        self.colon || self.pid.is_some()
    }
}

/// TAG at `pos`: a word ended by `[`, `:` or a space. Words that are clearly data (`key=value`,
/// CSV, quotes, brackets first) are not tags: they stay in MSG.
fn tag_at(b: &[u8], pos: usize) -> Option<Tag<'_>> {
    let len = b[pos..]
        .iter()
        .position(|&c| matches!(c, b' ' | b':' | b'['))
        .unwrap_or(b.len() - pos);
    let word = &b[pos..pos + len];
    if word.is_empty() || word.iter().any(|&c| matches!(c, b'=' | b',' | b'"' | b']')) {
        return None;
    }
    let mut i = pos + len;
    let mut pid = None;
    if b.get(i) == Some(&b'[') {
        let close = b[i..].iter().take(34).position(|&c| c == b']')?;
        pid = Some(&b[i + 1..i + close]);
        i += close + 1;
    }
    let tag_end = i;
    let colon = b.get(i) == Some(&b':');
    if colon {
        i += 1;
    } else if i < b.len() && b[i] != b' ' {
        return None;
    }
    Some(Tag {
        word,
        pid,
        tag_end,
        end: i,
        colon,
    })
}

impl Stamp {
    fn resolve(self, ctx: &ParseContext) -> Option<i64> {
        match self {
            Stamp::Wall(w) => w.resolve(ctx.received_at_us, ctx.default_utc_offset_secs),
            Stamp::Epoch(us) => Some(us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse as parse_line, ParseContext, SyslogFormat, SyslogMessage};
    use crate::timefmt::days_from_civil;

    /// 2025-06-15 12:00:00 UTC.
    fn ctx() -> ParseContext {
        ParseContext {
            received_at_us: days_from_civil(2025, 6, 15) * 86_400_000_000 + 43_200_000_000,
            default_utc_offset_secs: 0,
        }
    }

    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64, ms: i64) -> i64 {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000 + ms * 1000
    }

    fn p(line: &str) -> SyslogMessage {
        parse_line(line.as_bytes(), &ctx())
    }

    #[test]
    fn classic_line_with_pid_splits_into_every_field() {
        let m = p("<85>Jan 24 15:50:41 ip-172-31-30-110 sudo[6040]: ec2-user : TTY=pts/0");
        assert_eq!(m.format, SyslogFormat::Rfc3164);
        assert_eq!((m.facility, m.level), (Some(10), Some(5)));
        assert_eq!(m.timestamp_us, Some(at(2025, 1, 24, 15, 50, 41, 0)));
        assert_eq!(m.hostname.as_deref(), Some("ip-172-31-30-110"));
        assert_eq!(m.program.as_deref(), Some("sudo"));
        assert_eq!(m.process_id, Some(6040));
        assert_eq!(m.tag.as_deref(), Some("sudo[6040]"));
        assert_eq!(m.message, "ec2-user : TTY=pts/0");
        assert!(m.errors.is_empty());
    }

    #[test]
    fn tag_without_colon_and_single_digit_day_parse() {
        let m = p("<167>AUG 1 22:18:24 host tag This msg");
        assert_eq!(m.timestamp_us, Some(at(2024, 8, 1, 22, 18, 24, 0)));
        assert_eq!(m.tag.as_deref(), Some("tag"));
        assert_eq!(m.message, "This msg");
    }

    #[test]
    fn cisco_ios_sequence_host_marker_and_mnemonic_parse() {
        let m = p("<189>521: router1: *Nov 14 08:30:56.699: %LINK-5-CHANGED: Interface Gi2, down");
        assert_eq!(m.hostname.as_deref(), Some("router1"));
        assert_eq!(m.timestamp_us, Some(at(2024, 11, 14, 8, 30, 56, 699)));
        assert_eq!(m.program.as_deref(), Some("LINK-5-CHANGED"));
        assert_eq!(m.tag.as_deref(), Some("%LINK-5-CHANGED"));
        assert_eq!(m.message, "Interface Gi2, down");
        assert!(m.errors.is_empty());
    }

    #[test]
    fn cisco_ios_xr_node_prefix_and_zone_parse() {
        let m = p("<149>2647599: vmx01 RP/0/RSP1/CPU0:Mar 28 15:08:30.941 UTC: bgp[1051]: %ROUTING-BGP-5-MAXPFX : No. of");
        assert_eq!(m.hostname.as_deref(), Some("vmx01"));
        assert_eq!(m.timestamp_us, Some(at(2025, 3, 28, 15, 8, 30, 941)));
        assert_eq!(
            (m.program.as_deref(), m.process_id),
            (Some("bgp"), Some(1051))
        );
        assert_eq!(m.message, "%ROUTING-BGP-5-MAXPFX : No. of");
    }

    #[test]
    fn nx_os_year_first_stamp_parses() {
        let m = p(
            "<190>2018 Apr 20 13:15:07 nexus-switch %ETHPORT-5-IF_UP: Interface Ethernet1/33 is up",
        );
        assert_eq!(m.timestamp_us, Some(at(2018, 4, 20, 13, 15, 7, 0)));
        assert_eq!(m.hostname.as_deref(), Some("nexus-switch"));
        assert_eq!(m.program.as_deref(), Some("ETHPORT-5-IF_UP"));
    }

    #[test]
    fn asa_stamp_with_year_and_colon_has_no_hostname() {
        let m = p("<14>May 21 2017 00:00:00: %ASA-4-102030: Deny udp");
        assert_eq!(m.timestamp_us, Some(at(2017, 5, 21, 0, 0, 0, 0)));
        assert_eq!(m.hostname, None);
        assert_eq!(m.program.as_deref(), Some("ASA-4-102030"));
        assert_eq!(m.message, "Deny udp");
    }

    #[test]
    fn iso_stamp_in_a_3164_header_keeps_its_offset() {
        let m = p("<28>2019-12-02T16:49:23+02:00 host app[23410]: Test");
        assert_eq!(m.timestamp_us, Some(at(2019, 12, 2, 14, 49, 23, 0)));
        assert_eq!(m.process_id, Some(23410));
    }

    #[test]
    fn fortigate_key_value_date_is_used_when_the_header_has_none() {
        let m = p("<189>date=2019-04-09 time=04:27:29 devname=fw01 devid=FG800D type=traffic");
        assert_eq!(m.timestamp_us, Some(at(2019, 4, 9, 4, 27, 29, 0)));
        assert_eq!(m.hostname.as_deref(), Some("fw01"));
        assert!(m.message.starts_with("date=2019-04-09"));
        assert!(m.errors.is_empty());
    }

    #[test]
    fn meraki_epoch_stamp_parses() {
        let m = p("<134>1 1374543213.342705328 MX84 flows src=1.2.3.4 dst=5.6.7.8");
        assert_eq!(m.timestamp_us, Some(1_374_543_213_342_705));
        assert_eq!(m.hostname.as_deref(), Some("MX84"));
        assert_eq!(m.program.as_deref(), Some("flows"));
        assert_eq!(m.message, "src=1.2.3.4 dst=5.6.7.8");
    }

    #[test]
    fn line_without_pri_or_stamp_is_kept_whole() {
        let m = p("   { \"c2\":2 }");
        assert_eq!(m.format, SyslogFormat::Unknown);
        assert_eq!(m.message, "   { \"c2\":2 }");
        assert_eq!(m.errors.len(), 2);
    }

    #[test]
    fn tag_without_stamp_or_host_is_recognised_by_its_colon() {
        let m = p("<27>xapi: [error|xen3] Connection to master died.");
        assert_eq!(m.hostname, None);
        assert_eq!(m.program.as_deref(), Some("xapi"));
        assert_eq!(m.message, "[error|xen3] Connection to master died.");
    }

    #[test]
    fn huawei_double_percent_tag_gives_the_module_name() {
        let m = p("<29>2018-7-23 01:00:34.270.1 sw %%01IFNET/4/IF_STATE(l)[4997]:Interface down");
        assert_eq!(m.program.as_deref(), Some("01IFNET/4/IF_STATE"));
        assert_eq!(m.hostname.as_deref(), Some("sw"));
        assert_eq!(m.message, "Interface down");
    }

    #[test]
    fn csv_body_after_hostname_is_not_a_tag() {
        let m = p("<14>Jul  6 08:11:40 pa-fw 1,2023/07/06 08:11:40,0164,THREAT");
        assert_eq!(m.program, None);
        assert_eq!(m.message, "1,2023/07/06 08:11:40,0164,THREAT");
    }
}
