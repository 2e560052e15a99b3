//! WAL record decoding and resynchronisation (`wal::record`), pure and in memory.
//!
//! Mode (first byte, low bit):
//! - 0: the rest is a buffer of bytes as found on disk. `decode` must stay inside it, round-trip
//!   what it accepts, and `resync` must agree with itself when the buffer arrives in two parts
//!   (what the reader and recovery rely on when they read a segment in chunks).
//! - 1: the target encodes records from the input, damages a region of the encoded bytes, and
//!   scans them as recovery does (a record only at the next expected sequence; after damage,
//!   only a confirmed one): nothing forged is taken, every intact record before the damage is
//!   found, and after it every intact record whose successor is intact too.

#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use mutt::wal::record::{
    decode, encode_into, resync, Damage, Decoded, Resync, Tail, FRAME_HEADER_LEN,
};
use mutt::wal::RecordMeta;

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    if mode & 1 == 0 {
        raw(rest, u64::from(mode >> 1));
    } else {
        model(rest);
    }
});

fn raw(buf: &[u8], after: u64) {
    if let Decoded::Record { view, frame_len } = decode(buf) {
        assert!(frame_len <= buf.len());
        let base = buf.as_ptr() as usize;
        let p = view.payload.as_ptr() as usize;
        assert!(
            p >= base && p + view.payload.len() <= base + frame_len,
            "payload outside the frame"
        );
        // What decodes re-encodes to a record that decodes the same.
        let mut again = Vec::new();
        encode_into(&mut again, view.seq, &view.meta, view.payload);
        assert_eq!(again.len(), frame_len);
        match decode(&again) {
            Decoded::Record {
                view: v2,
                frame_len: f2,
            } => {
                assert_eq!(v2, view);
                assert_eq!(f2, frame_len);
            }
            other => panic!("re-encoded record does not decode: {other:?}"),
        }
    }
    check_resync(buf, after);
}

/// `resync` on the whole buffer against `resync` on a prefix, as a reader that has only part of
/// a segment buffered sees it.
fn check_resync(buf: &[u8], after: u64) {
    let damage = Damage {
        expected: after.saturating_add(1),
        skipped: 0,
    };
    let full = resync(buf, damage, Tail::Closed { last: None });
    match full {
        Resync::Found { at, seq } => assert!(
            seq > damage.expected
                && matches!(decode(&buf[at..]), Decoded::Record { view, .. } if view.seq == seq),
            "resync found no record {seq} at {at}"
        ),
        Resync::NotYet { resume } => {
            assert_eq!(resume, buf.len(), "at a closed end, nothing may remain")
        }
    }
    let open = resync(buf, damage, Tail::Open);
    for cut in [
        buf.len() / 2,
        buf.len().saturating_sub(FRAME_HEADER_LEN + 1),
    ] {
        let part = resync(&buf[..cut], damage, Tail::Open);
        match (part, open) {
            // A record confirmed in the prefix is confirmed in the whole; an earlier one may only
            // have become decidable with the rest.
            (Resync::Found { at: i, .. }, Resync::Found { at: j, .. }) => {
                assert!(j <= i, "prefix {i}, whole {j}")
            }
            (Resync::Found { at, .. }, Resync::NotYet { .. }) => {
                panic!("record at {at} lost with more bytes")
            }
            // Everything before `resume` was ruled out for good.
            (Resync::NotYet { resume }, Resync::Found { at, .. }) => {
                assert!(
                    at >= resume,
                    "record at {at} was ruled out (resume {resume})"
                )
            }
            (Resync::NotYet { resume }, Resync::NotYet { resume: r2 }) => {
                assert!(r2 >= resume, "resume went back from {resume} to {r2}")
            }
        }
    }
}

fn model(input: &[u8]) {
    // [n, damage_at lo, hi, damage_len, truncate, then lengths and payload bytes...]
    let Some((head, mut rest)) = input.split_at_checked(5) else {
        return;
    };
    let n = 1 + usize::from(head[0] % 8);
    let mut buf = Vec::new();
    let mut records = Vec::new(); // (start, end, seq, payload)
    for i in 0..n {
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let len = usize::from(len).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        // Sequences are contiguous, as the writer makes them.
        let seq = 1 + i as u64;
        let meta = RecordMeta {
            received_at_us: 1_700_000_000_000_000 + i as i64,
            source: if i % 2 == 0 {
                SocketAddr::from(([10, 0, 0, i as u8], 514))
            } else {
                SocketAddr::from(([0xfe80, 0, 0, 0, 0, 0, 0, i as u16], 162))
            },
            transport: 1,
            listener: 1 + (i % 2) as u8,
            flags: 0,
        };
        let start = buf.len();
        encode_into(&mut buf, seq, &meta, payload);
        records.push((start, buf.len(), seq, payload.to_vec()));
    }
    // Damage: XOR a region with the remaining input (a zero byte leaves its byte intact).
    let at = usize::from(u16::from_le_bytes([head[1], head[2]])) % (buf.len() + 1);
    let len = usize::from(head[3]).min(buf.len() - at);
    let (mut lo, mut hi) = (usize::MAX, 0);
    for (k, x) in rest.iter().cycle().take(len).enumerate() {
        buf[at + k] ^= x;
        if *x != 0 {
            lo = lo.min(at + k);
            hi = hi.max(at + k + 1);
        }
    }
    let damaged = if lo == usize::MAX { (0, 0) } else { (lo, hi) };
    // A torn tail: cut the last `truncate` bytes.
    let keep = buf.len() - usize::from(head[4]).min(buf.len());
    buf.truncate(keep);

    let found = scan(&buf);
    let originals: Vec<(usize, u64, &[u8])> = records
        .iter()
        .map(|(s, _, q, p)| (*s, *q, &p[..]))
        .collect();
    // A forged record (valid CRC made up by the damage) may hide real ones: no claim then.
    if found
        .iter()
        .any(|f| !originals.contains(&(f.0, f.1, &f.2[..])))
    {
        return;
    }
    let intact = |k: usize| {
        records.get(k).is_some_and(|(start, end, _, _)| {
            *end <= keep && (*end <= damaged.0 || *start >= damaged.1)
        })
    };
    for (k, (start, end, seq, _)) in records.iter().enumerate() {
        // Before the damage a record is taken as it is; after it, only once its successor
        // confirms it.
        let claim = intact(k) && (*end <= damaged.0 || intact(k + 1));
        if claim {
            assert!(
                found.iter().any(|f| f.0 == *start && f.1 == *seq),
                "intact record {seq} at {start}..{end} lost (damage {damaged:?}, kept {keep})"
            );
        }
    }
    check_resync(&buf, 0);
}

/// Walk a buffer as recovery does: each record at the next expected sequence, resynchronising
/// past damage to a confirmed record.
fn scan(buf: &[u8]) -> Vec<(usize, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut last = 0;
    while pos < buf.len() {
        match decode(&buf[pos..]) {
            Decoded::Record { view, frame_len } if view.seq == last + 1 => {
                out.push((pos, view.seq, view.payload.to_vec()));
                last = view.seq;
                pos += frame_len;
            }
            _ => {
                let damage = Damage {
                    expected: last + 1,
                    skipped: 1,
                };
                match resync(&buf[pos + 1..], damage, Tail::Closed { last: None }) {
                    Resync::Found { at, seq } => {
                        pos += 1 + at;
                        last = seq - 1;
                    }
                    Resync::NotYet { .. } => break,
                }
            }
        }
    }
    out
}
