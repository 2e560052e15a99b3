//! PRI: `<` 1-3 digits `>` = facility × 8 + severity (RFC 5424 section 6.2.1, RFC 3164 4.1.1).

/// Facility and severity when PRI is absent: user.notice (RFC 3164 section 4.3.3).
pub const DEFAULT_FACILITY: u8 = 1;
pub const DEFAULT_SEVERITY: u8 = 5;

/// What the PRI part held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pri {
    /// A well-formed PRI: the value and the bytes it took.
    Ok { value: u8, len: usize },
    /// Angle brackets with a value that breaks the grammar (leading zero, out of range) but
    /// still says something; the value is kept when it fits 0-191.
    Bad {
        value: Option<u8>,
        len: usize,
        why: &'static str,
    },
    /// No `<digits>` at the start at all.
    Missing,
}

impl Pri {
    pub fn facility(value: u8) -> u8 {
        value >> 3
    }

    pub fn severity(value: u8) -> u8 {
        value & 7
    }
}

/// Read the PRI at the start of `b`.
pub fn parse(b: &[u8]) -> Pri {
    if b.first() != Some(&b'<') {
        return Pri::Missing;
    }
    let n = b[1..]
        .iter()
        .take(4)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if b.get(1 + n) != Some(&b'>') {
        return match n {
            0 if b.get(1) == Some(&b'>') => Pri::Bad {
                value: None,
                len: 2,
                why: "PRI is empty",
            },
            _ => Pri::Missing,
        };
    }
    let len = n + 2;
    if n == 0 {
        return Pri::Bad {
            value: None,
            len,
            why: "PRI is empty",
        };
    }
    let mut v: u32 = 0;
    for &c in &b[1..1 + n] {
        v = v * 10 + u32::from(c - b'0');
    }
    if n > 3 || v > 191 {
        return Pri::Bad {
            value: None,
            len,
            why: "PRI is out of range 0-191",
        };
    }
    let value = v as u8;
    if n > 1 && b[1] == b'0' {
        return Pri::Bad {
            value: Some(value),
            len,
            why: "PRI has a leading zero",
        };
    }
    Pri::Ok { value, len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pri_splits_into_facility_and_severity() {
        assert_eq!(parse(b"<165>1"), Pri::Ok { value: 165, len: 5 });
        assert_eq!(Pri::facility(165), 20);
        assert_eq!(Pri::severity(165), 5);
        assert_eq!(parse(b"<0>x"), Pri::Ok { value: 0, len: 3 });
    }

    #[test]
    fn bad_pri_is_reported_with_what_can_be_kept() {
        assert!(matches!(parse(b"<002>x"), Pri::Bad { value: Some(2), .. }));
        assert!(matches!(parse(b"<192>x"), Pri::Bad { value: None, .. }));
        assert!(matches!(
            parse(b"<>x"),
            Pri::Bad {
                value: None,
                len: 2,
                ..
            }
        ));
        assert!(matches!(parse(b"<19000021>x"), Pri::Missing));
    }

    #[test]
    fn text_without_brackets_has_no_pri() {
        assert_eq!(parse(b"Feb 18 16:01:59"), Pri::Missing);
        assert_eq!(parse(b"<aaa>1"), Pri::Missing);
        assert_eq!(parse(b""), Pri::Missing);
    }
}
