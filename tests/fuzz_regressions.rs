//! Inputs the fuzz targets (fuzz/, see docs/FUZZING.md) found failing, kept as plain tests so
//! `cargo test` guards the fixes. Each file under tests/data/fuzz/ is named
//! `<target>-<what went wrong>.bin` and is in its target's input format.

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
        assert_eq!(frames(stream, max_frame, chunk), whole, "{chunk}-byte reads");
    }
}
