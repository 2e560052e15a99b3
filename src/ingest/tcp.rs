//! One syslog stream connection, plain TCP or TLS: a bounded read buffer, the framer's state, and
//! idle tracking. Framing, limits and back-pressure are the same code for both.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use super::framing::{extract_frames, final_frame, FrameState};
use super::tls::TlsStream;
use crate::model::Transport;

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

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
    state: FrameState,
    pub last_activity: Instant,
    /// The peer closed its side (or errored); flush the last frame and drop.
    pub closed: bool,
    /// Frames read but refused by a full disk; appended again before anything else is read.
    pub unaccepted: Unaccepted,
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStop {
    /// The socket has nothing more now.
    Drained,
    /// A frame was refused (WAL full): stop reading this connection until there is room.
    Refused,
    /// The peer closed or the connection failed.
    Closed,
}

impl Conn {
    pub fn new(stream: Stream, peer: SocketAddr, now: Instant) -> Conn {
        Conn {
            stream,
            peer,
            buf: Vec::new(),
            state: FrameState::Start,
            last_activity: now,
            closed: false,
            unaccepted: Unaccepted::default(),
        }
    }

    /// Read until the socket would block, handing every complete frame to `emit` (which returns
    /// false when the WAL refuses it). The buffer never grows past one maximum frame plus one read
    /// chunk: a frame is cut at `max_frame` before more is read.
    pub fn read_frames(
        &mut self,
        max_frame: usize,
        now: Instant,
        emit: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> ReadStop {
        if !self.frames_from_buffer(max_frame, emit) {
            return ReadStop::Refused;
        }
        loop {
            let start = self.buf.len();
            self.buf.resize(start + READ_CHUNK, 0);
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
                    if !self.frames_from_buffer(max_frame, emit) {
                        return ReadStop::Refused;
                    }
                }
                Err(e) => {
                    self.buf.truncate(start);
                    match e.kind() {
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
    }

    /// Frame what is buffered; false when a frame was refused.
    pub fn frames_from_buffer(
        &mut self,
        max_frame: usize,
        emit: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> bool {
        let mut refused = false;
        let used = extract_frames(&self.buf, &mut self.state, max_frame, |f, t| {
            let ok = emit(f, t);
            refused = !ok;
            ok
        });
        self.buf.drain(..used);
        !refused
    }

    /// After the peer closed: the last unterminated frame, if any. It stays in the buffer: the WAL
    /// may refuse it, and the connection is dropped once it was accepted.
    pub fn final_frame(&self, max_frame: usize) -> Option<(Vec<u8>, bool)> {
        final_frame(&self.buf, self.state, max_frame).map(|(f, t)| (f.to_vec(), t))
    }
}
