//! RFC 6587 framing (`ingest::framing`): the stream fed in arbitrary chunk splits, with the
//! consumer refusing some frames as a full WAL does, must give exactly the frames of the whole
//! stream framed at once; and every frame must be bytes of the stream, in order, with only
//! framing bytes (delimiters, CRs, blank lines, octet counts) between untruncated frames.
//!
//! Input: `[max_lo, max_hi, split_seed, refuse_seed, stream...]`; max_frame = 1 + u16 % 600.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mutt::ingest::framing::{extract_frames, final_frame, FrameState};

/// Digits of the largest octet count the framer reads, plus its space.
const MAX_HEADER: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    bytes: Vec<u8>,
    truncated: bool,
    /// Offset of the frame in the stream (whole-stream run only).
    at: usize,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: any nonzero state.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let max_frame = 1 + usize::from(u16::from_le_bytes([data[0], data[1]])) % 600;
    let split_seed = data[2];
    let refuse_seed = data[3];
    let stream = &data[4..];

    let whole = frame_whole(stream, max_frame);
    check_layout(stream, &whole, max_frame);

    let chunked = frame_chunked(stream, max_frame, split_seed, refuse_seed);
    let strip = |v: &[Frame]| -> Vec<(Vec<u8>, bool)> {
        v.iter().map(|f| (f.bytes.clone(), f.truncated)).collect()
    };
    assert_eq!(
        strip(&whole),
        strip(&chunked),
        "chunk splits changed the frames (max_frame {max_frame})"
    );
});

/// The whole stream in one buffer, every frame accepted; frames carry their offsets.
fn frame_whole(stream: &[u8], max_frame: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut state = FrameState::Start;
    let base = stream.as_ptr() as usize;
    let used = extract_frames(stream, &mut state, max_frame, |f, t| {
        out.push(Frame {
            bytes: f.to_vec(),
            truncated: t,
            at: f.as_ptr() as usize - base,
        });
        true
    });
    assert!(used <= stream.len());
    let left = &stream[used..];
    // Bounded buffering: what the framer leaves unconsumed fits one frame and its header, so a
    // connection buffer of max_frame + MAX_HEADER bytes can never stall.
    assert!(
        left.len() <= max_frame + MAX_HEADER,
        "{} bytes left unconsumed with max_frame {max_frame}",
        left.len()
    );
    if let Some((f, t)) = final_frame(left, state, max_frame) {
        out.push(Frame {
            bytes: f.to_vec(),
            truncated: t,
            at: f.as_ptr() as usize - base,
        });
    }
    out
}

/// The stream in chunks chosen by `split_seed`, the consumer refusing frames per `refuse_seed`
/// (a refused frame is offered again on the next call, as the connection does once the WAL has
/// room).
fn frame_chunked(stream: &[u8], max_frame: usize, split_seed: u8, refuse_seed: u8) -> Vec<Frame> {
    let mut rng = Rng(u64::from(split_seed) << 8 | u64::from(refuse_seed) | 1 << 40);
    let one_byte_at_a_time = split_seed & 0x80 != 0;
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut state = FrameState::Start;
    let mut pos = 0;
    while pos < stream.len() {
        let n = if one_byte_at_a_time {
            1
        } else {
            1 + (rng.next() % (2 * max_frame as u64 + 16)) as usize
        };
        let end = (pos + n).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            let mut refused = false;
            let used = extract_frames(&buf, &mut state, max_frame, |f, t| {
                assert!(f.len() <= max_frame, "frame of {} > {max_frame}", f.len());
                if refuse_seed != 0 && rng.next() % 4 == 0 {
                    refused = true;
                    return false;
                }
                out.push(Frame {
                    bytes: f.to_vec(),
                    truncated: t,
                    at: 0,
                });
                true
            });
            assert!(used <= buf.len());
            buf.drain(..used);
            if !refused {
                break;
            }
        }
        assert!(
            buf.len() <= max_frame + MAX_HEADER,
            "{} bytes buffered with max_frame {max_frame}",
            buf.len()
        );
    }
    if let Some((f, t)) = final_frame(&buf, state, max_frame) {
        out.push(Frame {
            bytes: f.to_vec(),
            truncated: t,
            at: 0,
        });
    }
    out
}

/// Frames are in-order, non-overlapping pieces of the stream; nothing but framing bytes lies
/// outside them, except after a truncated frame (its rest is skipped on purpose).
fn check_layout(stream: &[u8], frames: &[Frame], max_frame: usize) {
    let mut prev_end = 0;
    let mut prev_truncated = false;
    for f in frames {
        assert!(f.bytes.len() <= max_frame);
        assert!(f.at >= prev_end, "frames overlap or go backwards");
        assert_eq!(&stream[f.at..f.at + f.bytes.len()], &f.bytes[..]);
        if !prev_truncated {
            let gap = &stream[prev_end..f.at];
            assert!(
                is_framing(gap),
                "bytes lost between frames: {:?}",
                String::from_utf8_lossy(gap)
            );
        }
        prev_end = f.at + f.bytes.len();
        prev_truncated = f.truncated;
    }
    if !prev_truncated {
        let tail = &stream[prev_end..];
        assert!(
            tail.iter().all(|b| matches!(b, b'\n' | b'\r' | 0)),
            "bytes lost at the end: {:?}",
            String::from_utf8_lossy(tail)
        );
    }
}

/// CR, LF and NUL (delimiters, blank lines), then at most one octet count `[1-9][0-9]{0,6} `.
fn is_framing(gap: &[u8]) -> bool {
    let blanks = gap
        .iter()
        .take_while(|b| matches!(b, b'\n' | b'\r' | 0))
        .count();
    let rest = &gap[blanks..];
    match rest.split_last() {
        None => true,
        Some((b' ', digits)) => {
            !digits.is_empty()
                && digits.len() <= 7
                && digits[0] != b'0'
                && digits.iter().all(u8::is_ascii_digit)
        }
        Some(_) => false,
    }
}
