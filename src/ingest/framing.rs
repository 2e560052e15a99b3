//! Syslog over TCP framing (RFC 6587): octet counting (`LEN SP MSG`) and non-transparent framing
//! (a frame ends at LF or NUL; a CR before the LF is dropped), detected per frame, so both can share
//! one port and one connection. Frames longer than the maximum are cut, flagged, and the stream
//! resynchronises after the rest of that frame.
//!
//! Pure: bytes in, frames out. The caller owns the buffer and the socket.

/// Digits allowed in an octet count: frames are at most 1 MiB, 7 digits.
const MAX_COUNT_DIGITS: usize = 7;

/// What the framer is doing between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrameState {
    #[default]
    Start,
    /// Discarding the rest of an octet-counted frame that was cut (bytes left).
    SkipBytes(usize),
    /// Discarding the rest of an over-long LF/NUL-terminated frame.
    SkipToDelimiter,
}

/// Take every complete frame from `buf`, calling `emit(frame, truncated)` for each. `emit` returns
/// false to stop (the WAL is full): that frame stays unconsumed. Returns the bytes consumed; the
/// caller removes them from the front of `buf`.
pub fn extract_frames(
    buf: &[u8],
    state: &mut FrameState,
    max_frame: usize,
    mut emit: impl FnMut(&[u8], bool) -> bool,
) -> usize {
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        match *state {
            FrameState::SkipBytes(n) => {
                let k = n.min(rest.len());
                pos += k;
                *state = if k == n {
                    FrameState::Start
                } else {
                    FrameState::SkipBytes(n - k)
                };
                if k < n {
                    return pos;
                }
            }
            FrameState::SkipToDelimiter => match rest.iter().position(|&b| b == b'\n' || b == 0) {
                Some(i) => {
                    pos += i + 1;
                    *state = FrameState::Start;
                }
                None => return buf.len(),
            },
            FrameState::Start => {
                // Blank lines and stray NULs between frames carry nothing.
                let skip = rest
                    .iter()
                    .position(|&b| !matches!(b, b'\n' | b'\r' | b'\0'))
                    .unwrap_or(rest.len());
                pos += skip;
                let rest = &buf[pos..];
                if rest.is_empty() {
                    return pos;
                }
                match octet_count(rest) {
                    Count::Framed { header, len } => {
                        let body = &rest[header..];
                        if len <= max_frame {
                            if body.len() < len {
                                return pos;
                            }
                            if !emit(&body[..len], false) {
                                return pos;
                            }
                            pos += header + len;
                        } else {
                            if body.len() < max_frame {
                                return pos;
                            }
                            if !emit(&body[..max_frame], true) {
                                return pos;
                            }
                            pos += header + max_frame;
                            *state = FrameState::SkipBytes(len - max_frame);
                        }
                    }
                    Count::NeedMore => return pos,
                    Count::NotCounted => match rest.iter().position(|&b| b == b'\n' || b == 0) {
                        Some(i) if i <= max_frame => {
                            let frame = strip_cr(&rest[..i]);
                            if !emit(frame, false) {
                                return pos;
                            }
                            pos += i + 1;
                        }
                        // Only a byte past the maximum that is not a delimiter proves the
                        // frame too long: a frame of exactly max_frame bytes whose LF has not
                        // arrived yet must wait for it, or TCP segmentation decides the flag.
                        _ if rest.len() > max_frame => {
                            if !emit(&rest[..max_frame], true) {
                                return pos;
                            }
                            pos += max_frame;
                            *state = FrameState::SkipToDelimiter;
                        }
                        _ => return pos,
                    },
                }
            }
        }
    }
}

/// At end of stream: what is left in `buf` is one last frame (a sender that did not end with LF),
/// cut to the maximum. Returns it with its truncated flag, or None when nothing is left.
pub fn final_frame(buf: &[u8], state: FrameState, max_frame: usize) -> Option<(&[u8], bool)> {
    if state != FrameState::Start {
        return None;
    }
    let start = buf
        .iter()
        .position(|&b| !matches!(b, b'\n' | b'\r' | b'\0'))?;
    let rest = &buf[start..];
    let (body, cut) = match octet_count(rest) {
        // An octet-counted frame cut short by the close.
        Count::Framed { header, .. } => (&rest[header..], true),
        _ => (strip_cr(rest), false),
    };
    if body.len() > max_frame {
        Some((&body[..max_frame], true))
    } else {
        Some((body, cut))
    }
}

enum Count {
    Framed { header: usize, len: usize },
    NeedMore,
    NotCounted,
}

/// RFC 6587 3.4.1: MSG-LEN is a non-zero digit then digits, then one space. A syslog message
/// itself starts with `<`, so a leading digit means octet counting.
fn octet_count(rest: &[u8]) -> Count {
    if !matches!(rest.first(), Some(b'1'..=b'9')) {
        return Count::NotCounted;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_COUNT_DIGITS {
        return Count::NotCounted;
    }
    match rest.get(digits) {
        None => Count::NeedMore,
        Some(b' ') => {
            let mut len = 0usize;
            for &d in &rest[..digits] {
                len = len * 10 + usize::from(d - b'0');
            }
            Count::Framed {
                header: digits + 1,
                len,
            }
        }
        Some(_) => Count::NotCounted,
    }
}

fn strip_cr(frame: &[u8]) -> &[u8] {
    frame.strip_suffix(b"\r").unwrap_or(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[&[u8]], max: usize) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut state = FrameState::Start;
        for chunk in input {
            buf.extend_from_slice(chunk);
            let used = extract_frames(&buf, &mut state, max, |f, t| {
                out.push((String::from_utf8_lossy(f).into_owned(), t));
                true
            });
            buf.drain(..used);
        }
        if let Some((f, t)) = final_frame(&buf, state, max) {
            out.push((String::from_utf8_lossy(f).into_owned(), t));
        }
        out
    }

    fn whole(s: &str) -> (String, bool) {
        (s.to_string(), false)
    }

    #[test]
    fn octet_counted_and_lf_framed_frames_share_one_stream() {
        let got = frames(
            &[b"11 <13>hello a<14>lf frame\r\n", b"<15>nul\x004 <1>x"],
            1024,
        );
        assert_eq!(
            got,
            vec![
                whole("<13>hello a"),
                whole("<14>lf frame"),
                whole("<15>nul"),
                whole("<1>x")
            ]
        );
    }

    #[test]
    fn a_frame_split_across_reads_is_reassembled() {
        let got = frames(&[b"2", b"0 <13>split across re", b"ads<14>next\n"], 1024);
        assert_eq!(
            got,
            vec![whole("<13>split across rea"), whole("ds<14>next")]
        );
    }

    #[test]
    fn an_over_long_lf_frame_is_cut_flagged_and_the_stream_resynchronises() {
        let got = frames(&[b"<13>0123456789abcdef tail\n<14>ok\n"], 10);
        assert_eq!(got, vec![("<13>012345".to_string(), true), whole("<14>ok")]);
    }

    #[test]
    fn an_over_long_counted_frame_skips_exactly_its_rest() {
        let got = frames(&[b"17 <13>0123456789ab", b"c<14>ok\n"], 8);
        assert_eq!(got, vec![("<13>0123".to_string(), true), whole("<14>ok")]);
    }

    #[test]
    fn a_refused_frame_stays_in_the_buffer() {
        let buf = b"<13>a\n<13>b\n";
        let mut state = FrameState::Start;
        let mut seen = 0;
        let used = extract_frames(buf, &mut state, 100, |_, _| {
            seen += 1;
            seen == 1
        });
        assert_eq!(used, 6);
        assert_eq!(&buf[used..], b"<13>b\n");
    }

    #[test]
    fn the_last_frame_without_newline_is_kept_at_close() {
        assert_eq!(
            frames(&[b"<13>no newline"], 100),
            vec![whole("<13>no newline")]
        );
        assert_eq!(
            frames(&[b"50 <13>cut short"], 100),
            vec![("<13>cut short".to_string(), true)]
        );
    }

    #[test]
    fn digits_that_are_not_a_count_are_a_plain_frame() {
        assert_eq!(
            frames(&[b"2024-01-01 host app: hi\n"], 100),
            vec![whole("2024-01-01 host app: hi")]
        );
    }
}
