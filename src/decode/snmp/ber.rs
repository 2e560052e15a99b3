//! A small BER reader and writer for the SNMP envelope (X.690 as restricted by RFC 3417 section 8).
//!
//! Only what SNMP uses: single-octet tags (SNMP has no tag above 30), definite lengths in short or
//! long form (non-minimal long forms such as `82 00 2e` are accepted, since agents send them),
//! INTEGERs up to 64 bits and OBJECT IDENTIFIERs of at most 128 sub-identifiers of 32 bits each
//! (RFC 2578 section 3.5, section 7.1.3). The indefinite length form is refused: RFC 3417
//! section 8 forbids it.

use thiserror::Error;

/// Universal and SNMP tags, whole first octet (class and constructed bits included).
pub mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const IP_ADDRESS: u8 = 0x40;
    pub const TIME_TICKS: u8 = 0x43;
    /// PDU tags are context-specific constructed: `0xa0 | pdu number` (RFC 3416 section 3).
    pub const PDU_BASE: u8 = 0xa0;
}

/// Most sub-identifiers an OID may have (RFC 2578 section 3.5).
pub const MAX_OID_ARCS: usize = 128;

/// What went wrong reading BER; `at` is the offset inside the enclosing value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BerError {
    #[error("truncated at byte {at}")]
    Truncated { at: usize },
    #[error("high tag number form at byte {at} (not used by SNMP)")]
    HighTag { at: usize },
    #[error("indefinite length at byte {at} (forbidden by RFC 3417)")]
    IndefiniteLength { at: usize },
    #[error("length of {octets} octets at byte {at} is too large")]
    LengthTooLarge { at: usize, octets: usize },
    #[error("length {len} at byte {at} runs past the end ({left} bytes left)")]
    LengthPastEnd { at: usize, len: usize, left: usize },
    #[error("expected tag 0x{expected:02x}, found 0x{found:02x} at byte {at}")]
    UnexpectedTag { at: usize, expected: u8, found: u8 },
    #[error("INTEGER of {len} octets does not fit in 64 bits")]
    IntegerTooLong { len: usize },
    #[error("empty INTEGER")]
    EmptyInteger,
    #[error("negative value {value} where an unsigned one is required")]
    Negative { value: i64 },
    #[error("empty OBJECT IDENTIFIER")]
    EmptyOid,
    #[error("OID sub-identifier {arc} is longer than 32 bits or not minimally encoded")]
    OidSubidentifierTooLong { arc: usize },
    #[error("OID ends inside a sub-identifier")]
    OidTruncated,
    #[error("OID has more than {MAX_OID_ARCS} sub-identifiers")]
    OidTooManyArcs,
}

/// One TLV: `tag`, the content octets, and the whole encoding (tag, length and content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads consecutive TLVs from a slice; never panics and never reads past the slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn byte(&self, at: usize) -> Result<u8, BerError> {
        self.buf.get(at).copied().ok_or(BerError::Truncated { at })
    }

    /// The next TLV, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, BerError> {
        let start = self.pos;
        let tag = self.byte(start)?;
        if tag & 0x1f == 0x1f {
            return Err(BerError::HighTag { at: start });
        }
        let first = self.byte(start + 1)?;
        let mut at = start + 2;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(BerError::IndefiniteLength { at: start + 1 });
        } else {
            let octets = usize::from(first & 0x7f);
            let mut len: usize = 0;
            for _ in 0..octets {
                let b = self.byte(at)?;
                // More than 4 significant octets cannot describe anything inside a datagram.
                if len > 0x00ff_ffff {
                    return Err(BerError::LengthTooLarge {
                        at: start + 1,
                        octets,
                    });
                }
                len = (len << 8) | usize::from(b);
                at += 1;
            }
            len
        };
        let left = self.buf.len().saturating_sub(at);
        if len > left {
            return Err(BerError::LengthPastEnd {
                at: start + 1,
                len,
                left,
            });
        }
        let end = at + len;
        self.pos = end;
        Ok(Tlv {
            tag,
            value: self.buf.get(at..end).unwrap_or(&[]),
            raw: self.buf.get(start..end).unwrap_or(&[]),
        })
    }

    /// The next TLV, which must carry `expected`.
    pub fn expect(&mut self, expected: u8) -> Result<Tlv<'a>, BerError> {
        let at = self.pos;
        let tlv = self.any()?;
        if tlv.tag != expected {
            return Err(BerError::UnexpectedTag {
                at,
                expected,
                found: tlv.tag,
            });
        }
        Ok(tlv)
    }

    /// The next TLV as a signed INTEGER (Integer32 request-ids may be negative).
    pub fn integer(&mut self) -> Result<i64, BerError> {
        int_i64(self.expect(tag::INTEGER)?.value)
    }
}

/// Two's complement content octets to i64; leading sign octets beyond 8 are tolerated.
pub fn int_i64(value: &[u8]) -> Result<i64, BerError> {
    let first = *value.first().ok_or(BerError::EmptyInteger)?;
    let pad = if first & 0x80 != 0 { 0xff } else { 0x00 };
    let significant = value.iter().position(|&b| b != pad).unwrap_or(value.len());
    // Keep one sign octet when it is needed to carry the sign.
    let start = significant.saturating_sub(1);
    let trimmed = value.get(start..).unwrap_or(&[]);
    if trimmed.len() > 8 {
        return Err(BerError::IntegerTooLong { len: value.len() });
    }
    let mut v: i64 = if pad == 0xff { -1 } else { 0 };
    for &b in trimmed {
        v = (v << 8) | i64::from(b);
    }
    Ok(v)
}

/// Content octets of an unsigned application type (Counter32, TimeTicks, ...) to u64; a leading
/// zero octet (needed for values with the top bit set) is allowed.
pub fn uint_u64(value: &[u8]) -> Result<u64, BerError> {
    if value.is_empty() {
        return Err(BerError::EmptyInteger);
    }
    if value.first().is_some_and(|&b| b & 0x80 != 0) {
        return Err(BerError::Negative {
            value: int_i64(value).unwrap_or(i64::MIN),
        });
    }
    let significant = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    let trimmed = value.get(significant..).unwrap_or(&[]);
    if trimmed.len() > 8 {
        return Err(BerError::IntegerTooLong { len: value.len() });
    }
    Ok(trimmed.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

/// A decoded OID kept on the stack: decoding one allocates nothing.
#[derive(Clone)]
pub struct OidBuf {
    arcs: [u32; MAX_OID_ARCS],
    len: usize,
}

impl std::fmt::Debug for OidBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&dotted(self.arcs()))
    }
}

impl OidBuf {
    pub fn new() -> Self {
        OidBuf {
            arcs: [0; MAX_OID_ARCS],
            len: 0,
        }
    }

    pub fn arcs(&self) -> &[u32] {
        self.arcs.get(..self.len).unwrap_or(&[])
    }

    fn push(&mut self, arc: u32) -> Result<(), BerError> {
        let slot = self
            .arcs
            .get_mut(self.len)
            .ok_or(BerError::OidTooManyArcs)?;
        *slot = arc;
        self.len += 1;
        Ok(())
    }

    /// Decode OBJECT IDENTIFIER content octets (X.690 section 8.19) into this buffer.
    pub fn decode(&mut self, value: &[u8]) -> Result<(), BerError> {
        self.len = 0;
        if value.is_empty() {
            return Err(BerError::EmptyOid);
        }
        let mut acc: u64 = 0;
        let mut octets = 0usize;
        let mut index = 0usize;
        for &b in value {
            // A sub-identifier may not start with 0x80 (X.690 8.19.2) and must fit in 32 bits
            // (SMI): five octets of seven bits carry at most 35 bits, so check the value too.
            if octets == 0 && b == 0x80 {
                return Err(BerError::OidSubidentifierTooLong { arc: index });
            }
            octets += 1;
            acc = (acc << 7) | u64::from(b & 0x7f);
            if octets > 5 || acc > u64::from(u32::MAX) + 80 {
                return Err(BerError::OidSubidentifierTooLong { arc: index });
            }
            if b & 0x80 == 0 {
                if index == 0 {
                    // The first sub-identifier packs two arcs: X*40 + Y (X.690 8.19.4).
                    let (x, y) = match acc {
                        0..=39 => (0, acc),
                        40..=79 => (1, acc - 40),
                        _ => (2, acc - 80),
                    };
                    self.push(x)?;
                    self.push(
                        u32::try_from(y)
                            .map_err(|_| BerError::OidSubidentifierTooLong { arc: 0 })?,
                    )?;
                } else {
                    let arc = u32::try_from(acc)
                        .map_err(|_| BerError::OidSubidentifierTooLong { arc: index })?;
                    self.push(arc)?;
                }
                index += 1;
                acc = 0;
                octets = 0;
            }
        }
        if octets != 0 {
            return Err(BerError::OidTruncated);
        }
        Ok(())
    }
}

impl Default for OidBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// Append `n` in decimal without going through `fmt`.
pub fn push_u64(out: &mut String, n: u64) {
    // Most OID arcs are one or two digits.
    if n < 10 {
        out.push(char::from(b'0' + n as u8));
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    while n > 0 && i > 0 {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
    }
    for &d in digits.get(i..).unwrap_or(&[]) {
        out.push(char::from(d));
    }
}

/// Arcs as `1.3.6.1...`.
pub fn dotted(arcs: &[u32]) -> String {
    let mut s = String::with_capacity(arcs.len() * 4);
    for (i, &arc) in arcs.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        push_u64(&mut s, u64::from(arc));
    }
    s
}

/// Append one TLV: single-octet `tag`, definite length (short or minimal long form), `content`.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    write_len(out, content.len());
    out.extend_from_slice(content);
}

pub fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len() - 1);
    let used = bytes.get(skip..).unwrap_or(&[]);
    out.push(0x80 | used.len() as u8);
    out.extend_from_slice(used);
}

/// Append an INTEGER TLV in the minimal two's complement form.
pub fn write_integer(out: &mut Vec<u8>, v: i64) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    // Drop a leading octet while the next one still carries the same sign.
    while start < 7 {
        let (Some(&a), Some(&b)) = (bytes.get(start), bytes.get(start + 1)) else {
            break;
        };
        if (a == 0x00 && b & 0x80 == 0) || (a == 0xff && b & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    write_tlv(out, tag::INTEGER, bytes.get(start..).unwrap_or(&[]));
}

/// Append an OBJECT IDENTIFIER TLV (X.690 section 8.19): the first two arcs as one
/// sub-identifier (40 × first + second), every sub-identifier in base 128 with the high bit set
/// on all but its last octet. `arcs` holds at least two arcs (missing ones count as 0).
pub fn write_oid(out: &mut Vec<u8>, arcs: &[u32]) {
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (u64::from(*a) * 40 + u64::from(*b), rest),
        [a] => (u64::from(*a) * 40, &[][..]),
        [] => (0, &[][..]),
    };
    let mut content = Vec::with_capacity(arcs.len() + 4);
    for n in std::iter::once(first).chain(rest.iter().map(|&arc| u64::from(arc))) {
        let octets = (u64::BITS - n.leading_zeros()).div_ceil(7).max(1);
        for i in (0..octets).rev() {
            let more = if i > 0 { 0x80 } else { 0 };
            content.push(((n >> (7 * i)) & 0x7f) as u8 | more);
        }
    }
    write_tlv(out, tag::OID, &content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_oids_read_back_the_same() {
        for arcs in [
            &[1, 3, 6, 1, 6, 3, 1, 1, 5, 3][..],
            &[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10, 0, 17],
            &[2, 999, 0, u32::MAX],
            &[0, 0],
        ] {
            let mut out = Vec::new();
            write_oid(&mut out, arcs);
            let tlv = Reader::new(&out).expect(tag::OID).unwrap();
            let mut oid = OidBuf::new();
            oid.decode(tlv.value).unwrap();
            assert_eq!(oid.arcs(), arcs);
        }
        let mut out = Vec::new();
        write_oid(&mut out, &[1, 3, 6, 1, 6, 3, 1, 1, 5, 3]);
        assert_eq!(out, [0x06, 0x09, 0x2b, 6, 1, 6, 3, 1, 1, 5, 3]);
    }

    #[test]
    fn reader_accepts_non_minimal_long_form_lengths() {
        let mut r = Reader::new(&[0x04, 0x82, 0x00, 0x02, b'h', b'i']);
        let tlv = r.expect(tag::OCTET_STRING).unwrap();
        assert_eq!(tlv.value, b"hi");
        assert!(r.is_empty());
    }

    #[test]
    fn reader_refuses_indefinite_and_overlong_lengths() {
        assert!(matches!(
            Reader::new(&[0x30, 0x80, 0, 0]).any(),
            Err(BerError::IndefiniteLength { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x04, 0x05, 1]).any(),
            Err(BerError::LengthPastEnd { .. })
        ));
        let huge = [0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(Reader::new(&huge).any().is_err());
        assert!(matches!(
            Reader::new(&[0x04]).any(),
            Err(BerError::Truncated { .. })
        ));
    }

    #[test]
    fn integers_decode_with_sign_and_padding() {
        assert_eq!(int_i64(&[0x00, 0x80]).unwrap(), 128);
        assert_eq!(int_i64(&[0xff, 0x7f]).unwrap(), -129);
        assert_eq!(int_i64(&[0x80, 0, 0, 0]).unwrap(), i32::MIN as i64);
        assert_eq!(
            int_i64(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]).unwrap(),
            -2
        );
        assert!(int_i64(&[]).is_err());
        assert!(int_i64(&[1, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert_eq!(
            uint_u64(&[0x00, 0xff, 0xff, 0xff, 0xff]).unwrap(),
            0xffff_ffff
        );
        assert!(uint_u64(&[0x80]).is_err());
    }

    #[test]
    fn integer_encoding_is_minimal_and_round_trips() {
        for v in [
            0i64,
            1,
            127,
            128,
            255,
            256,
            -1,
            -128,
            -129,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            write_integer(&mut out, v);
            assert_eq!(Reader::new(&out).integer().unwrap(), v, "{v}");
        }
        let mut out = Vec::new();
        write_integer(&mut out, 128);
        assert_eq!(out, [0x02, 0x02, 0x00, 0x80]);
    }

    #[test]
    fn long_lengths_are_written_in_minimal_long_form() {
        let mut out = Vec::new();
        write_len(&mut out, 300);
        assert_eq!(out, [0x82, 0x01, 0x2c]);
    }

    #[test]
    fn oids_decode_to_dotted_arcs() {
        let mut oid = OidBuf::new();
        oid.decode(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xf4, 0x69, 0x00])
            .unwrap();
        assert_eq!(dotted(oid.arcs()), "1.3.6.1.4.1.31337.0");
        oid.decode(&[0x2b, 0x8f, 0xff, 0xff, 0xff, 0x7f]).unwrap();
        assert_eq!(oid.arcs(), [1, 3, u32::MAX]);
    }

    #[test]
    fn oid_with_padded_or_oversized_subidentifier_is_refused() {
        let mut oid = OidBuf::new();
        let padded = [
            0x2b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ];
        assert_eq!(
            oid.decode(&padded),
            Err(BerError::OidSubidentifierTooLong { arc: 1 })
        );
        assert!(oid.decode(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x00]).is_err());
        assert_eq!(oid.decode(&[0x2b, 0x81]), Err(BerError::OidTruncated));
        assert_eq!(oid.decode(&[0x2b; 200]), Err(BerError::OidTooManyArcs));
    }
}
