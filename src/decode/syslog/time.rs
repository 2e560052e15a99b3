//! Syslog timestamps: RFC 3339 (RFC 5424 section 6.2.3), BSD `Mmm dd hh:mm:ss` (RFC 3164
//! section 4.1.2) with the variants devices send, Unix epoch stamps, and year inference.
//!
//! Every function takes bytes and returns Unix epoch microseconds UTC; none reads the clock.

use crate::timefmt::days_from_civil;

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// A calendar stamp as written on the wire, before a zone or a year is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    /// None when the stamp carried no year (BSD form): see [`infer_year`].
    pub year: Option<i64>,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
    /// Offset east of UTC in seconds, when the stamp named one.
    pub offset_secs: Option<i32>,
}

impl WallClock {
    /// Microseconds since the epoch for `year`, shifting by the stamp's offset or `default`.
    fn to_us(self, year: i64, default_offset: i32) -> i64 {
        let days = days_from_civil(year, self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second.min(59));
        let offset = i64::from(self.offset_secs.unwrap_or(default_offset));
        (secs - offset) * US_PER_SEC + i64::from(self.micros)
    }

    /// Resolve to UTC microseconds, inferring the year from `received_at_us` when absent.
    pub fn resolve(self, received_at_us: i64, default_offset: i32) -> Option<i64> {
        match self.year {
            Some(y) => valid_date(y, self.month, self.day).then(|| self.to_us(y, default_offset)),
            None => infer_year(self, received_at_us, default_offset),
        }
    }
}

/// Why an RFC 3339 stamp was refused, or what was wrong with one that was still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampIssue {
    /// More than 6 fraction digits (RFC 5424 TIME-SECFRAC allows 1-6): truncated to micros.
    LongFraction,
}

pub fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn valid_date(year: i64, month: u32, day: u32) -> bool {
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

/// The most recent year that puts a year-less stamp no more than one day after the receive
/// time. A one-day allowance absorbs clock skew and zone confusion around New Year without
/// pushing a `Mar 1` received in November into the next year.
pub fn infer_year(wall: WallClock, received_at_us: i64, default_offset: i32) -> Option<i64> {
    let (recv_year, _, _) = crate::timefmt::civil_from_days(received_at_us.div_euclid(US_PER_DAY));
    let limit = received_at_us.saturating_add(US_PER_DAY);
    // Feb 29 may need to go back up to 8 years (1896 → 1904 has no leap year in between).
    (recv_year - 8..=recv_year + 1)
        .rev()
        .filter(|&y| valid_date(y, wall.month, wall.day))
        .map(|y| wall.to_us(y, default_offset))
        .find(|&us| us <= limit)
}

/// Up to `max` ASCII digits at `b[*pos..]`, at least `min`; advances `pos`.
pub fn digits(b: &[u8], pos: &mut usize, min: usize, max: usize) -> Option<u32> {
    let mut v: u32 = 0;
    let mut n = 0;
    while n < max {
        match b.get(*pos + n) {
            Some(c) if c.is_ascii_digit() => v = v * 10 + u32::from(c - b'0'),
            _ => break,
        }
        n += 1;
    }
    if n < min {
        return None;
    }
    *pos += n;
    Some(v)
}

fn expect(b: &[u8], pos: &mut usize, c: u8) -> Option<()> {
    (b.get(*pos) == Some(&c)).then(|| *pos += 1)
}

/// Fraction digits after the `.`: any count ≥ 1, truncated to microseconds.
fn fraction(b: &[u8], pos: &mut usize) -> Option<(u32, usize)> {
    let start = *pos;
    let mut micros = 0u32;
    while let Some(c) = b.get(*pos).filter(|c| c.is_ascii_digit()) {
        let n = *pos - start;
        if n < 6 {
            micros = micros * 10 + u32::from(c - b'0');
        }
        *pos += 1;
    }
    let n = *pos - start;
    if n == 0 {
        return None;
    }
    for _ in n..6 {
        micros *= 10;
    }
    Some((micros, n))
}

fn hms(b: &[u8], pos: &mut usize) -> Option<(u32, u32, u32)> {
    let h = digits(b, pos, 2, 2).filter(|&h| h < 24)?;
    expect(b, pos, b':')?;
    let m = digits(b, pos, 2, 2).filter(|&m| m < 60)?;
    expect(b, pos, b':')?;
    // 60 is a leap second; it is read as :59 so the stamp stays monotonic.
    let s = digits(b, pos, 2, 2).filter(|&s| s <= 60)?;
    Some((h, m, s))
}

/// `Z`, `+hh:mm` or `-hh:mm` (also `+hhmm`, `+hh` when `lenient`).
fn offset(b: &[u8], pos: &mut usize, lenient: bool) -> Option<i32> {
    match b.get(*pos) {
        Some(b'Z') => {
            *pos += 1;
            Some(0)
        }
        Some(b'z') if lenient => {
            *pos += 1;
            Some(0)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let mut p = *pos + 1;
            let h = digits(b, &mut p, 2, 2).filter(|&h| h < 24)?;
            let colon = expect(b, &mut p, b':').is_some();
            let m = match digits(b, &mut p, 2, 2) {
                Some(m) if m < 60 => m,
                Some(_) => return None,
                None if lenient && !colon => 0,
                None => return None,
            };
            if !colon && !lenient {
                return None;
            }
            *pos = p;
            let secs = (h * 3600 + m * 60) as i32;
            Some(if sign == b'-' { -secs } else { secs })
        }
        _ => None,
    }
}

/// RFC 3339 `FULL-DATE "T" FULL-TIME` as RFC 5424 restricts it (upper-case `T` and `Z`, an
/// offset required). Returns the stamp, the bytes consumed and any issue worth reporting.
pub fn parse_rfc3339_strict(b: &[u8]) -> Option<(WallClock, usize, Option<StampIssue>)> {
    let mut pos = 0;
    let (mut w, issue) = date_time(b, &mut pos, b"T")?;
    w.offset_secs = Some(offset(b, &mut pos, false)?);
    valid_date(w.year?, w.month, w.day).then_some((w, pos, issue))
}

/// ISO 8601 as devices put it into RFC 3164 headers: `T` or a space between date and time,
/// one- or two-digit month and day, any fraction, and an optional offset (zone-less stamps
/// use the configured default). Huawei's `.270.1` (milliseconds, then a slot) is accepted.
pub fn parse_iso_lenient(b: &[u8]) -> Option<(WallClock, usize)> {
    let mut pos = 0;
    let (mut w, _) = date_time(b, &mut pos, b"Tt ")?;
    // Huawei VRP appends `.N` after the milliseconds; it is not part of the time.
    if b.get(pos) == Some(&b'.') && b.get(pos + 1).is_some_and(u8::is_ascii_digit) {
        let mut p = pos + 1;
        let _ = digits(b, &mut p, 1, 3);
        pos = p;
    }
    let mut p = pos;
    if let Some(o) = offset(b, &mut p, true) {
        w.offset_secs = Some(o);
        pos = p;
    }
    valid_date(w.year?, w.month, w.day).then_some((w, pos))
}

fn date_time(b: &[u8], pos: &mut usize, seps: &[u8]) -> Option<(WallClock, Option<StampIssue>)> {
    let strict = seps == b"T";
    let year = digits(b, pos, 4, 4)?;
    expect(b, pos, b'-')?;
    let (lo, hi) = if strict { (2, 2) } else { (1, 2) };
    let month = digits(b, pos, lo, hi)?;
    expect(b, pos, b'-')?;
    let day = digits(b, pos, lo, hi)?;
    let sep = *b.get(*pos)?;
    if !seps.contains(&sep) {
        return None;
    }
    *pos += 1;
    let (hour, minute, second) = hms(b, pos)?;
    let mut micros = 0;
    let mut issue = None;
    if b.get(*pos) == Some(&b'.') {
        *pos += 1;
        let (us, n) = fraction(b, pos)?;
        micros = us;
        if n > 6 {
            issue = Some(StampIssue::LongFraction);
        }
    }
    let w = WallClock {
        year: Some(i64::from(year)),
        month,
        day,
        hour,
        minute,
        second,
        micros,
        offset_secs: None,
    };
    Some((w, issue))
}

/// Month from a three-letter English abbreviation, any case (`Aug`, `AUG`).
pub fn month_from_abbrev(b: &[u8]) -> Option<u32> {
    let m = [
        b.first()?.to_ascii_lowercase(),
        b.get(1)?.to_ascii_lowercase(),
        b.get(2)?.to_ascii_lowercase(),
    ];
    let n = match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    };
    Some(n)
}

/// BSD stamp `Mmm dd hh:mm:ss` (RFC 3164 4.1.2) with the variants seen in the field: any case
/// month, day with one or two spaces or a leading zero, a year before the month (NX-OS
/// `2018 Apr 20`) or before the time (`Mar 7 2008 19:06:53`), and a fraction (`.172`).
pub fn parse_bsd(b: &[u8]) -> Option<(WallClock, usize)> {
    let mut pos = 0;
    let mut year = None;
    if b.len() > 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b' ' {
        year = Some(i64::from(digits(b, &mut pos, 4, 4)?));
        pos += 1;
    }
    let month = month_from_abbrev(b.get(pos..pos + 3)?)?;
    pos += 3;
    // Day: one or two spaces, then one or two digits (`Jun  1`, `Jun 1`, `Jun 01`).
    let spaces = b[pos..].iter().take_while(|&&c| c == b' ').count();
    if !(1..=2).contains(&spaces) {
        return None;
    }
    pos += spaces;
    let day = digits(b, &mut pos, 1, 2)?;
    expect(b, &mut pos, b' ')?;
    // A year between the date and the time (Cisco ASA, rsyslog test data).
    if year.is_none() && b.get(pos + 4) == Some(&b' ') {
        let mut p = pos;
        if let Some(y) = digits(b, &mut p, 4, 4) {
            year = Some(i64::from(y));
            pos = p + 1;
        }
    }
    let (hour, minute, second) = hms(b, &mut pos)?;
    let mut micros = 0;
    if b.get(pos) == Some(&b'.') {
        let mut p = pos + 1;
        if let Some((us, _)) = fraction(b, &mut p) {
            micros = us;
            pos = p;
        }
    }
    if day == 0 || day > 31 {
        return None;
    }
    let w = WallClock {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
        offset_secs: None,
    };
    Some((w, pos))
}

/// Unix epoch seconds with an optional fraction, as Cisco Meraki sends
/// (`1374543213.342705328`). Ten digits keeps ordinary numbers from being read as a time.
pub fn parse_epoch(b: &[u8]) -> Option<(i64, usize)> {
    let mut pos = 0;
    let secs = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if secs != 10 {
        return None;
    }
    let mut s: i64 = 0;
    for &c in &b[..secs] {
        s = s * 10 + i64::from(c - b'0');
    }
    pos += secs;
    let mut micros = 0;
    if b.get(pos) == Some(&b'.') {
        let mut p = pos + 1;
        let (us, _) = fraction(b, &mut p)?;
        micros = i64::from(us);
        pos = p;
    }
    if b.get(pos).is_some_and(|&c| c != b' ') {
        return None;
    }
    Some((s * US_PER_SEC + micros, pos))
}

/// Offset for a zone name that follows a Cisco stamp (`UTC`, `GMT`); None when unknown.
pub fn zone_offset(name: &[u8]) -> Option<i32> {
    if name.eq_ignore_ascii_case(b"UTC") || name.eq_ignore_ascii_case(b"GMT") || name == b"Z" {
        Some(0)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * US_PER_SEC
    }

    fn bsd(text: &str) -> WallClock {
        parse_bsd(text.as_bytes()).expect("stamp").0
    }

    #[test]
    fn year_goes_back_for_a_december_stamp_received_on_new_year() {
        let w = bsd("Dec 31 23:59:58");
        assert_eq!(
            w.resolve(at(2026, 1, 1, 0, 0, 5), 0),
            Some(at(2025, 12, 31, 23, 59, 58))
        );
    }

    #[test]
    fn year_goes_forward_for_a_january_stamp_received_before_midnight() {
        let w = bsd("Jan  1 00:00:03");
        assert_eq!(
            w.resolve(at(2025, 12, 31, 23, 59, 57), 0),
            Some(at(2026, 1, 1, 0, 0, 3))
        );
    }

    #[test]
    fn year_stays_for_a_march_stamp_received_in_november() {
        let w = bsd("Mar  1 10:00:00");
        assert_eq!(
            w.resolve(at(2025, 11, 20, 0, 0, 0), 0),
            Some(at(2025, 3, 1, 10, 0, 0))
        );
    }

    #[test]
    fn february_29_goes_back_to_the_last_leap_year() {
        let w = bsd("Feb 29 12:00:00");
        assert_eq!(
            w.resolve(at(2027, 3, 1, 0, 0, 0), 0),
            Some(at(2024, 2, 29, 12, 0, 0))
        );
    }

    #[test]
    fn zone_less_stamps_use_the_default_offset() {
        let w = bsd("Mar  1 10:00:00");
        assert_eq!(
            w.resolve(at(2025, 11, 20, 0, 0, 0), 3600),
            Some(at(2025, 3, 1, 9, 0, 0))
        );
    }

    #[test]
    fn bsd_variants_parse() {
        assert_eq!(bsd("AUG 10 22:18:24").month, 8);
        assert_eq!(bsd("Mar 7 2008 19:06:53").year, Some(2008));
        assert_eq!(bsd("2018 Apr 20 13:15:07").year, Some(2018));
        assert_eq!(bsd("Jun  1 12:50:26.172").micros, 172_000);
        assert_eq!(bsd("Jun 01 12:50:26").day, 1);
        assert!(parse_bsd(b"Jun   1 12:50:26").is_none());
        assert!(parse_bsd(b"Foo  1 12:50:26").is_none());
    }

    #[test]
    fn rfc3339_reads_offsets_and_truncates_long_fractions() {
        let (w, n, issue) = parse_rfc3339_strict(b"2003-08-24T05:14:15.000003-07:00").unwrap();
        assert_eq!(n, 32);
        assert_eq!(issue, None);
        assert_eq!(w.resolve(0, 0), Some(at(2003, 8, 24, 12, 14, 15) + 3));
        let (w, _, issue) = parse_rfc3339_strict(b"2026-04-27T15:46:41.000006930Z").unwrap();
        assert_eq!(w.micros, 6);
        assert_eq!(issue, Some(StampIssue::LongFraction));
    }

    #[test]
    fn rfc3339_refuses_impossible_dates_and_lower_case() {
        assert!(parse_rfc3339_strict(b"2003-09-31T22:14:15Z").is_none());
        assert!(parse_rfc3339_strict(b"2018-02-29T22:14:16+01:00").is_none());
        assert!(parse_rfc3339_strict(b"2006-01-02t15:04:05Z").is_none());
        assert!(parse_rfc3339_strict(b"2003-08-24T05:14:15.000003-24:00").is_none());
        assert!(parse_rfc3339_strict(b"2003-09-29T22:09:01.Z").is_none());
    }

    #[test]
    fn lenient_iso_reads_huawei_and_zone_less_stamps() {
        let (w, n) = parse_iso_lenient(b"2018-7-23 01:00:34.270.1 host").unwrap();
        assert_eq!((w.month, w.day, w.micros, n), (7, 23, 270_000, 24));
        let (w, _) = parse_iso_lenient(b"2019-12-02T16:49:23+02:00").unwrap();
        assert_eq!(w.offset_secs, Some(7200));
    }

    #[test]
    fn epoch_stamps_need_ten_digits() {
        assert_eq!(
            parse_epoch(b"1374543213.342705328 MX84"),
            Some((1_374_543_213_342_705, 20))
        );
        assert!(parse_epoch(b"12345 x").is_none());
    }
}
