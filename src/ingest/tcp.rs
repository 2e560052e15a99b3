//! One syslog TCP connection: a bounded read buffer, the framer's state, and idle tracking.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use super::framing::{extract_frames, final_frame, FrameState};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    buf: Vec<u8>,
    state: FrameState,
    pub last_activity: Instant,
    /// The peer closed its side (or errored); flush the last frame and drop.
    pub closed: bool,
}

/// Why reading stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadStop {
    /// The socket has nothing more now.
    Drained,
    /// A frame was refused (WAL full): stop reading this connection until there is room.
    Refused,
    /// The peer closed or the connection failed.
    Closed,
}

impl Conn {
    pub fn new(stream: TcpStream, peer: SocketAddr, now: Instant) -> Conn {
        Conn {
            stream,
            peer,
            buf: Vec::new(),
            state: FrameState::Start,
            last_activity: now,
            closed: false,
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

    /// After the peer closed: the last unterminated frame, if any. Call once.
    pub fn take_final_frame(&mut self, max_frame: usize) -> Option<(Vec<u8>, bool)> {
        let out = final_frame(&self.buf, self.state, max_frame).map(|(f, t)| (f.to_vec(), t));
        self.buf.clear();
        out
    }
}
