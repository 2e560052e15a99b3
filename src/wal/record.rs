//! WAL record encoding and decoding: pure functions over byte slices (no I/O).
//!
//! One record on disk, all integers little-endian:
//!
//! ```text
//! offset  size  field
//! 0       4     body_len  u32   length of the body that follows (38 + payload length)
//! 4       4     crc       u32   CRC32C (Castagnoli) of the body bytes
//! --- body ---
//! 8       8     seq             u64   sequence number, > 0, strictly increasing through the WAL
//! 16      8     received_at_us  i64   receive time, Unix epoch microseconds (UTC)
//! 24      1     family          u8    4 = IPv4, 6 = IPv6
//! 25      16    address         IPv4: 4 octets then 12 zero bytes; IPv6: 16 octets
//! 41      2     port            u16
//! 43      1     transport       u8    opaque to the WAL
//! 44      1     listener        u8    opaque to the WAL
//! 45      1     flags           u8    opaque to the WAL
//! 46      n     payload               the datagram or frame, n = body_len - 38
//! ```
//!
//! An IPv6 source keeps its address and port only (flow info and scope id are not stored).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::RecordMeta;

/// Bytes before the body: `body_len` and `crc`.
pub const FRAME_HEADER_LEN: usize = 8;
/// Bytes of the body before the payload.
pub const BODY_FIXED_LEN: usize = 38;
/// The smallest possible record (empty payload).
pub const MIN_FRAME_LEN: usize = FRAME_HEADER_LEN + BODY_FIXED_LEN;
/// The largest payload the WAL takes. Bigger than any UDP datagram; bounds the reader's buffer
/// and keeps a corrupt length field from asking for gigabytes.
pub const MAX_PAYLOAD_LEN: usize = 1 << 20;
/// The largest possible record.
pub const MAX_FRAME_LEN: usize = MIN_FRAME_LEN + MAX_PAYLOAD_LEN;

const FAMILY_V4: u8 = 4;
const FAMILY_V6: u8 = 6;

/// Bytes one record with this payload takes on disk.
pub fn frame_len(payload_len: usize) -> usize {
    MIN_FRAME_LEN + payload_len
}

/// Append one encoded record to `out`. The caller has checked `payload.len() <= MAX_PAYLOAD_LEN`.
pub fn encode_into(out: &mut Vec<u8>, seq: u64, meta: &RecordMeta, payload: &[u8]) {
    let start = out.len();
    out.reserve(frame_len(payload.len()));
    let body_len = (BODY_FIXED_LEN + payload.len()) as u32;
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // CRC, filled in once the body is in place
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&meta.received_at_us.to_le_bytes());
    let mut addr = [0u8; 16];
    let family = match meta.source.ip() {
        IpAddr::V4(ip) => {
            addr[..4].copy_from_slice(&ip.octets());
            FAMILY_V4
        }
        IpAddr::V6(ip) => {
            addr = ip.octets();
            FAMILY_V6
        }
    };
    out.push(family);
    out.extend_from_slice(&addr);
    out.extend_from_slice(&meta.source.port().to_le_bytes());
    out.extend_from_slice(&[meta.transport, meta.listener, meta.flags]);
    out.extend_from_slice(payload);
    let body_start = start + FRAME_HEADER_LEN;
    let crc = crc32c::crc32c(&out[body_start..]);
    out[start + 4..body_start].copy_from_slice(&crc.to_le_bytes());
}

/// A record decoded in place; the payload borrows the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub seq: u64,
    pub meta: RecordMeta,
    pub payload: &'a [u8],
}

/// Why bytes are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptKind {
    /// `body_len` below the fixed body or above the payload limit.
    BadLength(u32),
    BadCrc,
    BadFamily(u8),
}

impl std::fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CorruptKind::BadLength(len) => write!(f, "implausible record length {len}"),
            CorruptKind::BadCrc => write!(f, "record CRC mismatch"),
            CorruptKind::BadFamily(family) => write!(f, "unknown address family {family}"),
        }
    }
}

/// The outcome of looking for a record at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A valid record of `frame_len` bytes.
    Record {
        view: RecordView<'a>,
        frame_len: usize,
    },
    /// The buffer holds the start of a plausible record; `needed` bytes in all would complete it.
    Incomplete {
        needed: usize,
    },
    Corrupt(CorruptKind),
}

/// Decode the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    let Some(header) = buf.get(..FRAME_HEADER_LEN) else {
        return Decoded::Incomplete {
            needed: MIN_FRAME_LEN,
        };
    };
    let body_len = read_u32(header, 0);
    let body_len_usize = body_len as usize;
    if !(BODY_FIXED_LEN..=BODY_FIXED_LEN + MAX_PAYLOAD_LEN).contains(&body_len_usize) {
        return Decoded::Corrupt(CorruptKind::BadLength(body_len));
    }
    let frame_len = FRAME_HEADER_LEN + body_len_usize;
    let Some(body) = buf.get(FRAME_HEADER_LEN..frame_len) else {
        return Decoded::Incomplete { needed: frame_len };
    };
    if crc32c::crc32c(body) != read_u32(header, 4) {
        return Decoded::Corrupt(CorruptKind::BadCrc);
    }
    match decode_body(body) {
        Ok(view) => Decoded::Record { view, frame_len },
        Err(kind) => Decoded::Corrupt(kind),
    }
}

fn decode_body(body: &[u8]) -> Result<RecordView<'_>, CorruptKind> {
    let (fixed, payload) = body.split_at(BODY_FIXED_LEN.min(body.len()));
    let mut addr = [0u8; 16];
    addr.copy_from_slice(fixed.get(17..33).unwrap_or(&[0; 16]));
    let ip = match fixed.get(16).copied().unwrap_or(0) {
        FAMILY_V4 => IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
        FAMILY_V6 => IpAddr::V6(Ipv6Addr::from(addr)),
        other => return Err(CorruptKind::BadFamily(other)),
    };
    let byte = |i: usize| fixed.get(i).copied().unwrap_or(0);
    let port = u16::from_le_bytes([byte(33), byte(34)]);
    Ok(RecordView {
        seq: read_u64(fixed, 0),
        meta: RecordMeta {
            received_at_us: read_u64(fixed, 8) as i64,
            source: SocketAddr::new(ip, port),
            transport: byte(35),
            listener: byte(36),
            flags: byte(37),
        },
        payload,
    })
}

/// The outcome of scanning forward for the next record to take after damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// A confirmed record with this sequence starts at this index.
    Found { at: usize, seq: u64 },
    /// None in the buffer; every index before `resume` is ruled out. The bytes from `resume` on
    /// may still start a record (or its confirmation) once more data arrives.
    NotYet { resume: usize },
}

/// Where a damaged region began, relative to the buffer handed to [`resync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// The sequence the damaged record should have had (the last taken + 1).
    pub expected: u64,
    /// Bytes between the frame boundary where the damage began and the start of the buffer.
    pub skipped: u64,
}

/// What follows the buffer handed to [`resync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// More bytes may still arrive: a candidate that cannot be decided yet is kept for later.
    Open,
    /// The data ends with the buffer. A candidate ending exactly there is confirmed only when
    /// its sequence is `last` (the known last sequence of this data, if any).
    Closed { last: Option<u64> },
}

/// Look for the first index in `buf` where the scan after damage may continue.
///
/// A candidate is a CRC-valid record at index `i` whose sequence `s` satisfies both
/// `s > expected` (the damaged record itself was lost, so a record claiming its sequence lies
/// inside it) and `(s - expected) * MIN_FRAME_LEN <= skipped + i` (the lost records fit in the
/// skipped bytes). It is confirmed, and returned, when the bytes right after it are a valid record
/// with sequence `s + 1`, or when it ends exactly at a closed end whose last sequence is `s`.
/// A record embedded in another record's payload is followed by the rest of that payload, not by
/// its successor, so it is not confirmed.
///
/// Cost: the length, sequence and family are checked before any CRC is computed, so ordinary
/// garbage (zeros, random bytes, repeated patterns, text) is passed over in time linear in its
/// length. Only bytes that carry a plausible length *and* an in-range sequence cost a CRC over
/// their claimed body.
pub fn resync(buf: &[u8], damage: Damage, tail: Tail) -> Resync {
    let mut resume = None;
    let open = tail == Tail::Open;
    for i in 0..buf.len() {
        let rest = buf.get(i..).unwrap_or(&[]);
        let distance = damage.skipped.saturating_add(i as u64);
        match candidate(rest, damage.expected, distance) {
            Candidate::No => {}
            Candidate::Incomplete => {
                if open {
                    resume.get_or_insert(i);
                }
            }
            Candidate::Record { seq, frame_len } => {
                let follower = rest.get(frame_len..).unwrap_or(&[]);
                match confirms(follower, seq, tail) {
                    Confirm::Yes => return Resync::Found { at: i, seq },
                    Confirm::Undecided => {
                        resume.get_or_insert(i);
                    }
                    Confirm::No => {}
                }
            }
        }
    }
    Resync::NotYet {
        resume: resume.unwrap_or(buf.len()),
    }
}

enum Candidate {
    No,
    /// Plausible so far, but the buffer ends before it can be checked.
    Incomplete,
    Record {
        seq: u64,
        frame_len: usize,
    },
}

/// Check the cheap fields first, the CRC last.
fn candidate(rest: &[u8], expected: u64, distance: u64) -> Candidate {
    let Some(header) = rest.get(..FRAME_HEADER_LEN + 8) else {
        return Candidate::Incomplete;
    };
    let body_len = read_u32(header, 0) as usize;
    if !(BODY_FIXED_LEN..=BODY_FIXED_LEN + MAX_PAYLOAD_LEN).contains(&body_len) {
        return Candidate::No;
    }
    let seq = read_u64(header, FRAME_HEADER_LEN);
    let lost = match seq.checked_sub(expected) {
        Some(lost) if lost > 0 => lost,
        _ => return Candidate::No,
    };
    match lost.checked_mul(MIN_FRAME_LEN as u64) {
        Some(bytes) if bytes <= distance => {}
        _ => return Candidate::No,
    }
    if let Some(&family) = rest.get(FRAME_HEADER_LEN + 16) {
        if family != FAMILY_V4 && family != FAMILY_V6 {
            return Candidate::No;
        }
    }
    match decode(rest) {
        Decoded::Record { view, frame_len } => Candidate::Record {
            seq: view.seq,
            frame_len,
        },
        Decoded::Incomplete { .. } => Candidate::Incomplete,
        Decoded::Corrupt(_) => Candidate::No,
    }
}

enum Confirm {
    Yes,
    No,
    Undecided,
}

fn confirms(follower: &[u8], seq: u64, tail: Tail) -> Confirm {
    if follower.is_empty() {
        return match tail {
            Tail::Open => Confirm::Undecided,
            Tail::Closed { last } if last == Some(seq) => Confirm::Yes,
            Tail::Closed { .. } => Confirm::No,
        };
    }
    match decode(follower) {
        Decoded::Record { view, .. } if seq.checked_add(1) == Some(view.seq) => Confirm::Yes,
        Decoded::Incomplete { .. } if tail == Tail::Open => Confirm::Undecided,
        _ => Confirm::No,
    }
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = buf.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

pub(crate) fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = buf.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(source: &str) -> RecordMeta {
        RecordMeta {
            received_at_us: -1_700_000_000_123_456,
            source: source.parse().unwrap(),
            transport: 1,
            listener: 2,
            flags: 0x81,
        }
    }

    #[test]
    fn encoded_ipv4_record_decodes_to_the_same_fields() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 42, &meta("192.0.2.7:514"), b"<13>hello");
        assert_eq!(buf.len(), frame_len(9));
        match decode(&buf) {
            Decoded::Record { view, frame_len } => {
                assert_eq!(frame_len, buf.len());
                assert_eq!(view.seq, 42);
                assert_eq!(view.meta, meta("192.0.2.7:514"));
                assert_eq!(view.payload, b"<13>hello");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn encoded_ipv6_record_keeps_address_and_port() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 1, &meta("[2001:db8::1]:162"), b"");
        let Decoded::Record { view, .. } = decode(&buf) else {
            panic!()
        };
        assert_eq!(view.meta, meta("[2001:db8::1]:162"));
        assert!(view.payload.is_empty());
    }

    #[test]
    fn layout_matches_the_documented_offsets() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 0x0102, &meta("10.1.2.3:258"), b"xy");
        assert_eq!(&buf[0..4], &(40u32).to_le_bytes());
        assert_eq!(&buf[8..16], &0x0102u64.to_le_bytes());
        assert_eq!(buf[24], 4);
        assert_eq!(&buf[25..29], &[10, 1, 2, 3]);
        assert_eq!(&buf[41..43], &258u16.to_le_bytes());
        assert_eq!(&buf[43..46], &[1, 2, 0x81]);
        assert_eq!(&buf[46..], b"xy");
    }

    #[test]
    fn every_prefix_of_a_record_is_incomplete() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 9, &meta("192.0.2.7:514"), b"payload");
        for cut in 0..buf.len() {
            assert!(
                matches!(decode(&buf[..cut]), Decoded::Incomplete { .. }),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_flipped_body_byte_is_a_crc_error() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 9, &meta("192.0.2.7:514"), b"payload");
        buf[50] ^= 0x20;
        assert_eq!(decode(&buf), Decoded::Corrupt(CorruptKind::BadCrc));
    }

    #[test]
    fn zeroed_bytes_are_a_length_error_not_a_record() {
        assert_eq!(
            decode(&[0u8; 64]),
            Decoded::Corrupt(CorruptKind::BadLength(0))
        );
        let huge = [0xffu8; 64];
        assert!(matches!(
            decode(&huge),
            Decoded::Corrupt(CorruptKind::BadLength(_))
        ));
    }

    fn record(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_into(&mut buf, seq, &meta("192.0.2.7:514"), payload);
        buf
    }

    #[test]
    fn resync_finds_the_next_confirmed_record_past_garbage() {
        let mut buf = vec![0xAB; 60];
        buf.extend(record(5, b"one"));
        buf.extend(record(6, b"two"));
        let damage = Damage {
            expected: 4,
            skipped: 1,
        };
        assert_eq!(
            resync(&buf, damage, Tail::Open),
            Resync::Found { at: 60, seq: 5 }
        );
        // The damaged record's own sequence lies inside it: never a resync point.
        let damage = Damage {
            expected: 5,
            skipped: 1,
        };
        assert_eq!(
            resync(&buf, damage, Tail::Closed { last: Some(6) }),
            Resync::Found {
                at: 60 + frame_len(3),
                seq: 6
            }
        );
    }

    #[test]
    fn a_record_claiming_more_lost_records_than_the_skipped_bytes_hold_is_not_taken() {
        let mut buf = vec![0xAB; 10];
        buf.extend(record(50, b"far"));
        buf.extend(record(51, b"ahead"));
        let damage = Damage {
            expected: 4,
            skipped: 1,
        };
        // 46 lost records cannot fit in 11 bytes, nor 47 in 60.
        assert_eq!(
            resync(&buf, damage, Tail::Closed { last: Some(51) }),
            Resync::NotYet { resume: buf.len() }
        );
    }

    #[test]
    fn an_unconfirmed_record_at_an_open_end_is_kept_for_later() {
        let mut buf = vec![0xAB; 60];
        buf.extend(record(5, b"one"));
        let damage = Damage {
            expected: 4,
            skipped: 1,
        };
        assert_eq!(
            resync(&buf, damage, Tail::Open),
            Resync::NotYet { resume: 60 }
        );
        assert_eq!(
            resync(&buf, damage, Tail::Closed { last: Some(5) }),
            Resync::Found { at: 60, seq: 5 }
        );
        assert_eq!(
            resync(&buf, damage, Tail::Closed { last: None }),
            Resync::NotYet { resume: buf.len() }
        );
    }
}
