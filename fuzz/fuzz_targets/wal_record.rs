//! WAL record decoding and resynchronisation (`wal::record`), pure and in memory.
//!
//! Mode (first byte, low bit):
//! - 0: the rest is a buffer of bytes as found on disk. `decode` must stay inside it, round-trip
//!   what it accepts, and `resync` must agree with itself when the buffer arrives in two parts
//!   (what the reader and recovery rely on when they read a segment in chunks).
//! - 1: the target encodes records from the input, damages a region of the encoded bytes, and
//!   scans them as recovery does: every record outside the damage must be found again, in order.

#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use mutt::wal::record::{decode, encode_into, resync, Decoded, Resync, FRAME_HEADER_LEN};
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
    let full = resync(buf, after, true);
    match full {
        Resync::Found(i) => assert!(
            matches!(decode(&buf[i..]), Decoded::Record { view, .. } if view.seq > after),
            "resync found no record at {i}"
        ),
        Resync::NotYet { resume } => {
            assert_eq!(resume, buf.len(), "at the end, nothing may remain")
        }
    }
    let open = resync(buf, after, false);
    for cut in [
        buf.len() / 2,
        buf.len().saturating_sub(FRAME_HEADER_LEN + 1),
    ] {
        let part = resync(&buf[..cut], after, false);
        match (part, open) {
            // A record complete in the prefix is complete in the whole; an earlier one may only
            // have become complete with the rest.
            (Resync::Found(i), Resync::Found(j)) => assert!(j <= i, "prefix {i}, whole {j}"),
            (Resync::Found(i), Resync::NotYet { .. }) => {
                panic!("record at {i} lost with more bytes")
            }
            // Everything before `resume` was ruled out for good.
            (Resync::NotYet { resume }, Resync::Found(j)) => {
                assert!(j >= resume, "record at {j} was ruled out (resume {resume})")
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
        let seq = 1 + i as u64 * (1 + u64::from(head[0] >> 3));
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
    for (start, end, seq, _) in &records {
        let intact = *end <= keep && (*end <= damaged.0 || *start >= damaged.1);
        if intact {
            assert!(
                found.iter().any(|f| f.0 == *start && f.1 == *seq),
                "intact record {seq} at {start}..{end} lost (damage {damaged:?}, kept {keep})"
            );
        }
    }
    check_resync(&buf, 0);
}

/// Walk a buffer as recovery does: records in increasing sequence, resynchronising past damage.
fn scan(buf: &[u8]) -> Vec<(usize, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut last = 0;
    while pos < buf.len() {
        match decode(&buf[pos..]) {
            Decoded::Record { view, frame_len } if view.seq > last => {
                out.push((pos, view.seq, view.payload.to_vec()));
                last = view.seq;
                pos += frame_len;
            }
            _ => match resync(&buf[pos + 1..], last, true) {
                Resync::Found(i) => pos += 1 + i,
                Resync::NotYet { .. } => break,
            },
        }
    }
    out
}
