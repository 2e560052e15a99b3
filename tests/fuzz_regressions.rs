//! Inputs the fuzz targets (fuzz/, see docs/FUZZING.md) found failing, kept as plain tests so
//! `cargo test` guards the fixes. Each file under tests/data/fuzz/ is named
//! `<target>-<what went wrong>.bin` and is in its target's input format.

use std::time::{Duration, Instant};

use mutt::decode::syslog::{self, ParseContext, MAX_ERRORS};
use mutt::ingest::framing::{extract_frames, final_frame, FrameState};

/// Frames of `stream`, fed `chunk` bytes at a time (`usize::MAX`: all at once).
fn frames(stream: &[u8], max_frame: usize, chunk: usize) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut state = FrameState::Start;
    for piece in stream.chunks(chunk.min(stream.len()).max(1)) {
        buf.extend_from_slice(piece);
        let used = extract_frames(&buf, &mut state, max_frame, |f, t| {
            out.push((f.to_vec(), t));
            true
        });
        buf.drain(..used);
    }
    if let Some((f, t)) = final_frame(&buf, state, max_frame) {
        out.push((f.to_vec(), t));
    }
    out
}

/// tcp_framing input: `[max_lo, max_hi, split_seed, refuse_seed, stream...]`,
/// max_frame = 1 + u16 % 600.
fn framing_input(data: &[u8]) -> (usize, &[u8]) {
    let max_frame = 1 + usize::from(u16::from_le_bytes([data[0], data[1]])) % 600;
    (max_frame, &data[4..])
}

#[test]
fn a_frame_of_exactly_max_frame_bytes_is_whole_however_the_stream_is_split() {
    let data = include_bytes!("data/fuzz/tcp_framing-frame-of-exactly-max-frame.bin");
    let (max_frame, stream) = framing_input(data);
    let whole = frames(stream, max_frame, usize::MAX);
    assert_eq!(whole, vec![(b"<1>x".to_vec(), false)]);
    for chunk in 1..=stream.len() {
        assert_eq!(
            frames(stream, max_frame, chunk),
            whole,
            "{chunk}-byte reads"
        );
    }
}

/// syslog_decode input: `[receive-time selector, zone selector, frame...]`; these tests only need
/// the frame.
fn syslog_frame(data: &[u8]) -> &[u8] {
    &data[2..]
}

const CTX: ParseContext = ParseContext {
    received_at_us: 1_700_000_000_000_000,
    default_utc_offset_secs: 0,
};

#[test]
fn repeated_sd_mistakes_do_not_grow_the_error_list() {
    let data = include_bytes!("data/fuzz/syslog_decode-one-error-per-duplicate-sd-id.bin");
    let msg = syslog::parse(syslog_frame(data), &CTX);
    assert!(
        msg.errors.len() <= MAX_ERRORS,
        "{} errors",
        msg.errors.len()
    );

    let mut line = b"<13>1 - h app - - ".to_vec();
    line.extend(b"[a]".repeat(300));
    line.extend(b" msg");
    let msg = syslog::parse(&line, &CTX);
    // 299 duplicates: 15 listed, then the count of the rest.
    assert_eq!(msg.errors.len(), MAX_ERRORS);
    assert_eq!(msg.errors[MAX_ERRORS - 1], "284 more errors not listed");
    assert_eq!(
        msg.structured_data.len(),
        300,
        "the elements themselves are all kept"
    );
    assert_eq!(msg.message, "msg");
}

#[test]
fn many_distinct_sd_elements_decode_in_linear_time() {
    // 100,000 distinct SD-IDs in one 900 KB frame (TCP frames may be up to 1 MiB). Checking each
    // against all before it took minutes; linear, it takes well under a second even unoptimised.
    let mut line = b"<13>1 - h app - - ".to_vec();
    for i in 0..100_000 {
        line.extend(format!("[{i:06}]").as_bytes());
    }
    line.extend(b" msg");
    let start = Instant::now();
    let msg = syslog::parse(&line, &CTX);
    let took = start.elapsed();
    assert_eq!(msg.structured_data.len(), 100_000);
    assert!(msg.errors.is_empty(), "{:?}", msg.errors);
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
