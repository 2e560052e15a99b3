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

/// The outcome of scanning forward for the next valid record after corruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// A valid record with a sequence above the floor starts at this index.
    Found(usize),
    /// None in the buffer; every index before `resume` is ruled out. The bytes from `resume` on
    /// may still start a record once more data arrives.
    NotYet { resume: usize },
}

/// Look for the first index in `buf` where a valid record with `seq > after_seq` begins.
///
/// With `at_end`, no more bytes will follow, so a record that would run past the end is ruled out
/// as well.
pub fn resync(buf: &[u8], after_seq: u64, at_end: bool) -> Resync {
    let mut resume = None;
    for i in 0..buf.len() {
        let rest = buf.get(i..).unwrap_or(&[]);
        match decode(rest) {
            Decoded::Record { view, .. } if view.seq > after_seq => return Resync::Found(i),
            Decoded::Incomplete { .. } if !at_end => {
                // Keep looking: a valid record further on wins over an unfinished candidate, but
                // the candidate must be looked at again when more bytes arrive.
                resume.get_or_insert(i);
            }
            _ => {}
        }
    }
    Resync::NotYet {
        resume: resume.unwrap_or(buf.len()),
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

    #[test]
    fn resync_finds_the_next_record_past_garbage() {
        let mut buf = vec![0xAB; 13];
        encode_into(&mut buf, 5, &meta("192.0.2.7:514"), b"one");
        assert_eq!(resync(&buf, 4, true), Resync::Found(13));
        // A record at or below the floor is not a resync point.
        assert_eq!(resync(&buf, 5, true), Resync::NotYet { resume: buf.len() });
    }

    #[test]
    fn resync_without_end_keeps_an_unfinished_candidate() {
        let mut buf = vec![0xAB; 3];
        encode_into(&mut buf, 5, &meta("192.0.2.7:514"), b"one");
        buf.truncate(buf.len() - 2);
        // The unfinished record at 3 (or an earlier offset that reads as a plausible length) is
        // where the scan must pick up again.
        assert!(matches!(resync(&buf, 0, false), Resync::NotYet { resume } if resume <= 3));
        assert_eq!(resync(&buf, 0, true), Resync::NotYet { resume: buf.len() });
    }
}
