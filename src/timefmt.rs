//! ISO 8601 UTC text with fixed precision (microseconds), so timestamps sort as text.

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-11-27T03:43:02.123456Z` for Unix epoch microseconds.
pub fn iso8601_us(unix_us: i64) -> String {
    let mut out = String::with_capacity(27);
    write_iso8601_us(unix_us, &mut out);
    out
}

/// Append the `iso8601_us` rendering to `out` (no allocation when `out` has room).
pub fn write_iso8601_us(unix_us: i64, out: &mut String) {
    let secs = unix_us.div_euclid(1_000_000);
    let micros = unix_us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let digits = |out: &mut String, v: i64, width: usize| {
        let mut buf = [b'0'; 6];
        let mut v = v;
        for i in (0..width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        for &b in &buf[..width] {
            out.push(b as char);
        }
    };
    digits(out, y.clamp(0, 9999), 4);
    out.push('-');
    digits(out, m as i64, 2);
    out.push('-');
    digits(out, d as i64, 2);
    out.push('T');
    digits(out, sod / 3600, 2);
    out.push(':');
    digits(out, sod / 60 % 60, 2);
    out.push(':');
    digits(out, sod % 60, 2);
    out.push('.');
    digits(out, micros, 6);
    out.push('Z');
}

/// Unix epoch microseconds now.
pub fn now_us() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// Parse RFC 3339 text (`2026-11-27T03:43:02.5Z`, `...+01:00`, a space instead of `T`) into Unix
/// epoch microseconds. Fractions beyond microseconds are cut.
pub fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset = match b.get(i..) {
        Some(b"Z") | Some(b"z") => 0,
        Some(rest) if rest.len() == 6 && matches!(rest[0], b'+' | b'-') && rest[3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let v = oh * 3600 + om * 60;
            if rest[0] == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(secs * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_epoch_and_a_leap_day_with_fixed_precision() {
        assert_eq!(iso8601_us(0), "1970-01-01T00:00:00.000000Z");
        let leap = days_from_civil(2024, 2, 29) * 86_400_000_000 + 3_723_000_042;
        assert_eq!(iso8601_us(leap), "2024-02-29T01:02:03.000042Z");
    }

    #[test]
    fn rfc3339_parses_fractions_and_offsets() {
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(parse_rfc3339_us("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_rfc3339_us("1970-01-01T00:00:00.1234567Z"),
            Some(123_456)
        );
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:00"), None);
        assert_eq!(parse_rfc3339_us("yesterday"), None);
    }

    #[test]
    fn civil_round_trips_across_four_centuries() {
        for days in (-200_000..200_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
