//! Vendor quirks around the RFC 3164 header: Cisco IOS / IOS-XR / NX-OS / ASA prefixes and
//! mnemonics, Huawei `%%` tags, Juniper paths, FortiGate `date= time=` bodies, Meraki epochs.
//!
//! Each function recognises one shape and returns None otherwise, so rfc3164.rs can try them
//! in order without knowing which vendor sent the line.

use super::time::{self, WallClock};
use super::{lossy, ParseContext};

/// A stamp found in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// A calendar stamp that may still need a year and a zone.
    Wall(WallClock),
    /// Already UTC (Meraki's Unix epoch seconds).
    Epoch(i64),
}

/// Skip a Cisco sequence number (`service sequence-numbers`): digits, `:`, space.
pub fn cisco_sequence(b: &[u8], pos: usize) -> usize {
    let n = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
    if n > 0 && b.get(pos + n..pos + n + 2) == Some(b": ") {
        pos + n + 2
    } else {
        pos
    }
}

/// A stamp at `pos`, BSD, ISO 8601 or epoch, after an optional Cisco clock marker (`*` clock
/// not synchronised, `.` synchronisation lost). Returns it and the position after it.
pub fn stamp_at(b: &[u8], pos: usize) -> Option<(Stamp, usize)> {
    let pos = pos + usize::from(matches!(b.get(pos), Some(b'*' | b'.')));
    let rest = b.get(pos..)?;
    let first = *rest.first()?;
    if first.is_ascii_alphabetic() || rest.get(4) == Some(&b' ') {
        return time::parse_bsd(rest).map(|(w, n)| (Stamp::Wall(w), pos + n));
    }
    if !first.is_ascii_digit() {
        return None;
    }
    if let Some((w, n)) = time::parse_iso_lenient(rest) {
        return Some((Stamp::Wall(w), pos + n));
    }
    time::parse_epoch(rest).map(|(us, n)| (Stamp::Epoch(us), pos + n))
}

/// Hosts that Cisco writes before the stamp: IOS `router1: *Nov 14 ...`, NX-OS
/// `sw01: 2017 Jul 28 ...`, IOS-XR `vmx01 RP/0/RSP1/CPU0:Mar 28 ...` (the node id is dropped).
pub fn host_before_stamp(b: &[u8], pos: usize) -> Option<(&[u8], (Stamp, usize))> {
    let len = b[pos..].iter().position(|&c| c == b' ')?;
    let word = &b[pos..pos + len];
    let next = pos + len + 1;
    if let Some(host) = word.strip_suffix(b":") {
        if !host.is_empty() {
            return stamp_at(b, next).map(|s| (host, s));
        }
        return None;
    }
    let node_len = b[next..].iter().position(|&c| c == b' ' || c == b':')?;
    if b.get(next + node_len) == Some(&b':') && node_len > 0 {
        return stamp_at(b, next + node_len + 1).map(|s| (word, s));
    }
    None
}

/// Zone names Cisco appends to the stamp (`15:25:53.743 MEST:`). Only UTC/GMT carry a known
/// offset; for the others the configured default zone is the better guess than a table of
/// ambiguous abbreviations (CST, IST), so the name is only skipped.
const ZONES: &[&[u8]] = &[
    b"UTC", b"GMT", b"Z", b"EST", b"EDT", b"CST", b"CDT", b"MST", b"MDT", b"PST", b"PDT", b"CET",
    b"CEST", b"MET", b"MEST", b"EET", b"EEST", b"WET", b"WEST", b"BST", b"IST", b"JST", b"KST",
    b"HKT", b"SGT", b"AEST", b"AEDT", b"NZST", b"NZDT", b"MSK",
];

/// Past what can follow a stamp: a zone name, a `:`, spaces, and an IOS-XR ` : ` separator.
pub fn after_stamp(b: &[u8], end: usize) -> usize {
    let mut pos = end;
    if b.get(pos) == Some(&b' ') {
        let len = b[pos + 1..]
            .iter()
            .take(5)
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        let name = &b[pos + 1..pos + 1 + len];
        if b.get(pos + 1 + len) == Some(&b':') && ZONES.iter().any(|z| z.eq_ignore_ascii_case(name))
        {
            pos += 1 + len;
        }
    }
    if b.get(pos) == Some(&b':') {
        pos += 1;
    }
    pos += b[pos..].iter().take_while(|&&c| c == b' ').count();
    if b.get(pos..pos + 2) == Some(b": ") {
        pos += 2;
    }
    pos
}

/// The program in a TAG word: Cisco `%LINK-5-CHANGED` → `LINK-5-CHANGED`, Huawei
/// `%%01IFNET/4/IF_STATE(l)` → `01IFNET/4/IF_STATE`, Junos `/kernel` → `kernel`.
pub fn program_name(word: &[u8]) -> String {
    if let Some(huawei) = word.strip_prefix(b"%%") {
        let end = huawei
            .iter()
            .position(|&c| c == b'(')
            .unwrap_or(huawei.len());
        return lossy(&huawei[..end]);
    }
    if let Some(cisco) = word.strip_prefix(b"%") {
        return lossy(cisco);
    }
    if word.first() == Some(&b'/') {
        let start = word.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
        if start < word.len() {
            return lossy(&word[start..]);
        }
    }
    lossy(word)
}

/// FortiGate bodies carry `date=YYYY-MM-DD time=hh:mm:ss` (and maybe `tz="+0200"`) instead of
/// a header stamp. Returns the time and the `devname`, the device's host name.
pub fn key_value_stamp(msg: &[u8], ctx: &ParseContext) -> Option<(i64, Option<String>)> {
    let date = kv(msg, b"date")?;
    let clock = kv(msg, b"time")?;
    let mut text = [0u8; 32];
    let n = date.len() + 1 + clock.len();
    if n > text.len() {
        return None;
    }
    text[..date.len()].copy_from_slice(date);
    text[date.len()] = b' ';
    text[date.len() + 1..n].copy_from_slice(clock);
    let (mut wall, used) = time::parse_iso_lenient(&text[..n])?;
    if used != n {
        return None;
    }
    if let Some(tz) = kv(msg, b"tz") {
        let mut p = 0;
        wall.offset_secs = tz_offset(tz, &mut p);
    }
    let us = wall.resolve(ctx.received_at_us, ctx.default_utc_offset_secs)?;
    Some((us, kv(msg, b"devname").map(lossy)))
}

/// `+hhmm` / `-hhmm`.
fn tz_offset(tz: &[u8], pos: &mut usize) -> Option<i32> {
    let sign = match tz.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    *pos = 1;
    let h = time::digits(tz, pos, 2, 2)?;
    let m = time::digits(tz, pos, 2, 2)?;
    Some(sign * (h * 3600 + m * 60) as i32)
}

/// The value of `key=` at the start of the body or after a space, without quotes.
fn kv<'a>(msg: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut i = 0;
    while i + key.len() < msg.len() {
        let at_word = i == 0 || msg[i - 1] == b' ';
        if at_word && msg[i..].starts_with(key) && msg[i + key.len()] == b'=' {
            let v = &msg[i + key.len() + 1..];
            return Some(match v.strip_prefix(b"\"") {
                Some(q) => &q[..q.iter().position(|&c| c == b'"').unwrap_or(q.len())],
                None => &v[..v.iter().position(|&c| c == b' ').unwrap_or(v.len())],
            });
        }
        i += 1;
    }
    None
}

/// Cisco Meraki writes `<PRI>1 1374543213.342705328 host category body`: RFC 5424's VERSION
/// with a BSD-like remainder. Returns the part after the version when that is the shape.
pub fn meraki_body(b: &[u8]) -> Option<&[u8]> {
    let rest = b.strip_prefix(b"1 ")?;
    time::parse_epoch(rest).map(|_| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_number_is_skipped_only_with_colon_and_space() {
        assert_eq!(cisco_sequence(b"521: router1:", 0), 5);
        assert_eq!(cisco_sequence(b"2018 Apr 20", 0), 0);
        assert_eq!(cisco_sequence(b"12:30", 0), 0);
    }

    #[test]
    fn zone_names_after_the_stamp_are_skipped() {
        let b = b"x MEST: %SYS-5-CONFIG_I: Configured";
        assert_eq!(&b[after_stamp(b, 1)..], b"%SYS-5-CONFIG_I: Configured");
        let b = b"x : cfgmgr[1]: text";
        assert_eq!(&b[after_stamp(b, 1)..], b"cfgmgr[1]: text");
        let b = b"x TAG: text";
        assert_eq!(&b[after_stamp(b, 1)..], b"TAG: text");
    }

    #[test]
    fn program_names_drop_vendor_markers() {
        assert_eq!(program_name(b"%PIX-7-710005"), "PIX-7-710005");
        assert_eq!(
            program_name(b"%%01IFNET/4/IF_STATE(l)"),
            "01IFNET/4/IF_STATE"
        );
        assert_eq!(program_name(b"/kernel"), "kernel");
        assert_eq!(program_name(b"sshd(pam_unix)"), "sshd(pam_unix)");
    }

    #[test]
    fn fortigate_time_zone_is_applied() {
        let ctx = ParseContext {
            received_at_us: 0,
            default_utc_offset_secs: 0,
        };
        let body = b"date=2024-10-14 time=13:46:40 eventtime=1 tz=\"-0700\" devname=\"fw\"";
        let (us, dev) = key_value_stamp(body, &ctx).unwrap();
        assert_eq!(us, 1_728_938_800_000_000);
        assert_eq!(dev.as_deref(), Some("fw"));
    }
}
