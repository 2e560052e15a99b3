//! One syslog stream connection, plain TCP or TLS: a bounded read buffer, the framer's state, and
//! idle tracking. Framing, limits and back-pressure are the same code for both.
//!
//! A connection is served in turns: each turn of the ingest loop reads at most [`TURN_BYTES`]
//! and takes at most [`TURN_FRAMES`] frames from it, then the loop goes on to the other
//! connections and the UDP sockets. A sender that keeps its socket full therefore gets one share
//! per turn, however small its frames, and is read again next turn ([`ReadStop::Yielded`]).
//!
//! Memory per connection: the buffer holds at most one unfinished frame (below the listener's
//! maximum frame plus an octet-count header) and one read chunk, because nothing is read while
//! complete frames are still waiting in it; frames refused by a full disk ([`Unaccepted`]) come
//! out of that buffer, one turn's worth at most, and nothing is read until they are accepted.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use super::framing::{extract_frames, final_frame, FrameState};
use super::tls::TlsStream;
use crate::model::Transport;

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// Bytes read from one connection per turn: one chunk. It bounds what a turn copies and what
/// the connection buffers, whatever the size of its frames.
pub const TURN_BYTES: usize = READ_CHUNK;

/// Frames taken from one connection per turn. Bytes alone do not bound the work: each frame is
/// one WAL record (46 bytes of header and a sequence number), and 64 KiB of `x\n` is 32,768 of
/// them. 512 frames is a few hundred microseconds of appends, and still one flush carries them.
pub const TURN_FRAMES: usize = 512;

/// The bytes of a connection: as received, or decrypted.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    pub fn transport(&self) -> Transport {
        match self {
            Stream::Plain(_) => Transport::Tcp,
            Stream::Tls(_) => Transport::Tls,
        }
    }

    /// The socket, to register with the poller.
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &mut t.sock,
        }
    }

    /// A TLS connection whose handshake is not over.
    pub fn is_handshaking(&self) -> bool {
        matches!(self, Stream::Tls(t) if t.is_handshaking())
    }

    /// A TLS connection that never completed its handshake, and why it failed if it did.
    pub fn failed_handshake(&self) -> Option<Option<&rustls::Error>> {
        match self {
            Stream::Tls(t) if t.is_handshaking() => Some(t.failure()),
            _ => None,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

/// Frames appended to the WAL but not yet accepted, kept (one buffer, reused) so that a flush
/// refused for lack of disk space loses nothing of a stream: they are appended again first.
#[derive(Debug, Default)]
pub struct Unaccepted {
    bytes: Vec<u8>,
    /// Length of each frame in `bytes`, and whether it was cut.
    frames: Vec<(usize, bool)>,
}

impl Unaccepted {
    pub fn push(&mut self, frame: &[u8], cut: bool) {
        self.bytes.extend_from_slice(frame);
        self.frames.push((frame.len(), cut));
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// The frames in order, with their cut flags.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], bool)> {
        let mut at = 0;
        self.frames.iter().map(move |&(len, cut)| {
            let frame = self.bytes.get(at..at + len).unwrap_or(&[]);
            at += len;
            (frame, cut)
        })
    }

    /// How many of the first `n` frames were cut.
    pub fn cut_count(&self, n: usize) -> u64 {
        self.frames.iter().take(n).filter(|f| f.1).count() as u64
    }

    /// Forget the first `n` frames (accepted now).
    pub fn drain_front(&mut self, n: usize) {
        let n = n.min(self.frames.len());
        let bytes: usize = self.frames.iter().take(n).map(|f| f.0).sum();
        self.bytes.drain(..bytes);
        self.frames.drain(..n);
    }
}

pub struct Conn {
    pub stream: Stream,
    pub peer: SocketAddr,
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already framed; removed before the next read, so a turn
    /// that takes only some of the frames does not move the rest.
    used: usize,
    state: FrameState,
    pub last_activity: Instant,
    /// The peer closed its side (or errored); flush the last frame and drop.
    pub closed: bool,
    /// In the ingest loop's ready queue (read again next turn).
    pub queued: bool,
    /// Frames read but refused by a full disk; appended again before anything else is read.
    pub unaccepted: Unaccepted,
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStop {
    /// The socket has nothing more now.
    Drained,
    /// The turn's budget is spent and more may be waiting: read again next turn (the poller
    /// is edge-triggered and will not say so again).
    Yielded,
    /// A frame was refused (WAL full): stop reading this connection until there is room.
    Refused,
    /// The peer closed or the connection failed.
    Closed,
}

/// What framing the buffer left to do.
enum Framed {
    /// Every complete frame was taken.
    All,
    /// Stopped early: refused, or the turn's frames are spent.
    Stopped(ReadStop),
}

impl Conn {
    pub fn new(stream: Stream, peer: SocketAddr, now: Instant) -> Conn {
        Conn {
            stream,
            peer,
            buf: Vec::new(),
            used: 0,
            state: FrameState::Start,
            last_activity: now,
            closed: false,
            queued: false,
            unaccepted: Unaccepted::default(),
        }
    }

    /// One turn: hand complete frames to `emit` (which returns false when the WAL refuses one)
    /// until the socket would block or the turn's budget ([`TURN_BYTES`], [`TURN_FRAMES`], one
    /// TLS handshake flight) is spent. Buffered frames go first; more is read only once they are
    /// all taken, so the buffer never holds more than one unfinished frame and one read chunk.
    pub fn read_frames(
        &mut self,
        max_frame: usize,
        now: Instant,
        emit: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> ReadStop {
        let mut frames_left = TURN_FRAMES;
        let stop = self.turn(max_frame, now, &mut frames_left, emit);
        // Frames taken from the buffer are activity too: a connection working through what it
        // sent earlier is not idle.
        if frames_left < TURN_FRAMES {
            self.last_activity = now;
        }
        stop
    }

    fn turn(
        &mut self,
        max_frame: usize,
        now: Instant,
        frames_left: &mut usize,
        emit: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> ReadStop {
        let mut bytes_left = TURN_BYTES;
        if let Stream::Tls(t) = &mut self.stream {
            t.begin_turn();
        }
        if let Framed::Stopped(stop) = self.frames_from_buffer(max_frame, frames_left, emit) {
            return stop;
        }
        while bytes_left > 0 && *frames_left > 0 {
            self.buf.drain(..self.used);
            self.used = 0;
            let start = self.buf.len();
            let want = READ_CHUNK.min(bytes_left);
            // Exactly: `resize` alone may double the allocation past the bound above.
            self.buf.reserve_exact(want);
            self.buf.resize(start + want, 0);
            let got = self.stream.read(&mut self.buf[start..]);
            match got {
                Ok(0) => {
                    self.buf.truncate(start);
                    self.closed = true;
                    return ReadStop::Closed;
                }
                Ok(n) => {
                    self.buf.truncate(start + n);
                    self.last_activity = now;
                    bytes_left -= n;
                    if let Framed::Stopped(stop) =
                        self.frames_from_buffer(max_frame, frames_left, emit)
                    {
                        return stop;
                    }
                }
                Err(e) => {
                    self.buf.truncate(start);
                    match e.kind() {
                        io::ErrorKind::WouldBlock if self.handshake_spent() => {
                            return ReadStop::Yielded
                        }
                        io::ErrorKind::WouldBlock => return ReadStop::Drained,
                        io::ErrorKind::Interrupted => continue,
                        _ => {
                            self.closed = true;
                            return ReadStop::Closed;
                        }
                    }
                }
            }
        }
        ReadStop::Yielded
    }

    /// A TLS handshake flight was processed this turn and the handshake goes on: what else the
    /// socket holds waits for the next turn.
    fn handshake_spent(&self) -> bool {
        matches!(&self.stream, Stream::Tls(t) if t.turn_spent())
    }

    /// Frame what is buffered, at most `frames_left` frames (counted down).
    fn frames_from_buffer(
        &mut self,
        max_frame: usize,
        frames_left: &mut usize,
        emit: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> Framed {
        let mut stop = None;
        let used = extract_frames(
            self.buf.get(self.used..).unwrap_or(&[]),
            &mut self.state,
            max_frame,
            |f, t| {
                if *frames_left == 0 {
                    stop = Some(ReadStop::Yielded);
                    return false;
                }
                if !emit(f, t) {
                    stop = Some(ReadStop::Refused);
                    return false;
                }
                *frames_left -= 1;
                true
            },
        );
        self.used += used;
        match stop {
            Some(s) => Framed::Stopped(s),
            None => Framed::All,
        }
    }

    /// At shutdown: every complete frame still in the buffer (a turn may have left some), without
    /// a budget and without reading. False when `emit` refused one.
    pub fn buffered_frames(
        &mut self,
        max_frame: usize,
        emit: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> bool {
        let mut unlimited = usize::MAX;
        matches!(
            self.frames_from_buffer(max_frame, &mut unlimited, emit),
            Framed::All
        )
    }

    /// After the peer closed: the last unterminated frame, if any. It stays in the buffer: the WAL
    /// may refuse it, and the connection is dropped once it was accepted.
    pub fn final_frame(&self, max_frame: usize) -> Option<(Vec<u8>, bool)> {
        final_frame(
            self.buf.get(self.used..).unwrap_or(&[]),
            self.state,
            max_frame,
        )
        .map(|(f, t)| (f.to_vec(), t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A connected pair: the sending end, and the receiving end as a non-blocking `Conn`.
    fn pair() -> (std::net::TcpStream, Conn) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let stream = Stream::Plain(TcpStream::from_std(server));
        (client, Conn::new(stream, peer, Instant::now()))
    }

    /// Turns until `total` frames came; each turn's frames, bytes and stop.
    fn turns(conn: &mut Conn, total: usize) -> Vec<(usize, usize, ReadStop)> {
        let mut out = Vec::new();
        let mut seen = 0;
        let until = Instant::now() + std::time::Duration::from_secs(10);
        while seen < total && Instant::now() < until {
            let (mut frames, mut bytes) = (0, 0);
            let stop = conn.read_frames(4096, Instant::now(), &mut |f, _| {
                frames += 1;
                bytes += f.len();
                true
            });
            seen += frames;
            out.push((frames, bytes, stop));
        }
        out
    }

    #[test]
    fn a_turn_takes_at_most_its_share_of_tiny_frames_and_says_more_is_waiting() {
        let (mut client, mut conn) = pair();
        client.write_all(&b"x\n".repeat(2000)).unwrap();
        let got = turns(&mut conn, 2000);
        assert_eq!(got.iter().map(|t| t.0).sum::<usize>(), 2000);
        for (i, &(frames, _, stop)) in got.iter().enumerate() {
            assert!(frames <= TURN_FRAMES, "turn {i} took {frames} frames");
            if frames == TURN_FRAMES {
                assert_eq!(stop, ReadStop::Yielded, "turn {i}");
            }
        }
        assert!(got.len() >= 4, "{got:?}");
        // Nothing left: the next turn finds the socket empty.
        let stop = conn.read_frames(4096, Instant::now(), &mut |_, _| true);
        assert_eq!(stop, ReadStop::Drained);
    }

    #[test]
    fn a_turn_reads_at_most_one_chunk_of_large_frames() {
        let (mut client, mut conn) = pair();
        let line = [b"a".repeat(999), b"\n".to_vec()].concat();
        let writer = std::thread::spawn(move || {
            for _ in 0..300 {
                client.write_all(&line).unwrap();
            }
            client
        });
        let got = turns(&mut conn, 300);
        assert_eq!(got.iter().map(|t| t.0).sum::<usize>(), 300);
        for (i, &(frames, bytes, _)) in got.iter().enumerate() {
            // One chunk read, plus the unfinished frame the turn before left in the buffer.
            assert!(bytes <= TURN_BYTES + 1000, "turn {i} took {bytes} bytes");
            assert!(
                frames <= TURN_BYTES / 1000 + 1,
                "turn {i} took {frames} frames"
            );
        }
        drop(writer.join().unwrap());
    }

    #[test]
    fn frames_a_turn_left_in_the_buffer_are_all_taken_at_shutdown_before_the_last_one() {
        let (mut client, mut conn) = pair();
        // One small write on loopback: all of it is waiting before the first read.
        client
            .write_all(&[b"x\n".repeat(1000), b"last".to_vec()].concat())
            .unwrap();
        let first = turns(&mut conn, 1);
        assert_eq!(first[0], (TURN_FRAMES, TURN_FRAMES, ReadStop::Yielded));
        let mut rest = 0;
        assert!(conn.buffered_frames(4096, &mut |f, _| {
            assert_eq!(f, b"x");
            rest += 1;
            true
        }));
        assert_eq!(rest, 1000 - TURN_FRAMES);
        assert_eq!(conn.final_frame(4096), Some((b"last".to_vec(), false)));
    }
}
