//! Stream connections (TCP and TLS) in the ingest loop: accepting them, serving each one turn
//! at a time from the ready queue within the turn's share, holding them while the WAL has no
//! room for them (the part of the budget kept for datagrams, a full WAL, a full disk), closing
//! them, and taking what they hold at shutdown.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpListener;
use mio::{Interest, Poll, Token};
use tracing::{debug, warn};

use super::tcp::{self, Conn, ReadStop, Stream};
use super::tls::TlsStream;
use super::{meta, IngestError, IngestOptions, Sink};
use crate::log_limit::Repeats;
use crate::metrics::Metrics;
use crate::model::{Listener, Transport};
use crate::wal::{Appended, WalError, Writer};

/// Frames taken from all stream connections together in one turn; connections still ready past
/// it wait for the next turn, after the UDP sockets were read. Each connection takes at most
/// `tcp::TURN_FRAMES`, so this is 16 connections' full shares, a few milliseconds of appends:
/// with a thousand busy connections, a turn would otherwise last long enough to overflow the
/// kernel's UDP buffers.
const STREAM_FRAMES_PER_TURN: usize = 16 * tcp::TURN_FRAMES;

/// Handshaking TLS connections served in one turn (one handshake step each, see tls.rs). The
/// costly step is about a millisecond, so a burst of new connections delays UDP by ~8 ms a turn.
const HANDSHAKES_PER_TURN: usize = 8;

/// Stream connections are held back once the WAL has less than `max_size / STREAM_RESERVE`
/// left: a TCP or TLS sender then waits and keeps its messages, while the last quarter of the
/// budget is kept for UDP datagrams, which cannot wait and are lost when not taken.
const STREAM_RESERVE: u64 = 4;

/// What stream connections took in this turn, against [`STREAM_FRAMES_PER_TURN`] and
/// [`HANDSHAKES_PER_TURN`].
#[derive(Default)]
pub(super) struct TurnShare {
    frames: usize,
    handshakes: usize,
}

impl TurnShare {
    /// Whether a connection may have its turn now (`handshaking`: its TLS handshake goes on).
    fn admits(&self, handshaking: bool) -> bool {
        self.frames < STREAM_FRAMES_PER_TURN
            && (!handshaking || self.handshakes < HANDSHAKES_PER_TURN)
    }
}

/// Stream connections that wait for a later turn.
#[derive(Default)]
pub(super) struct Queues {
    /// Connections holding frames the full WAL refused, or held at the datagram reserve; retried
    /// every turn while the disk may be written.
    pub(super) held: Vec<usize>,
    /// Connections with data left after their turn, or a new readiness event: served in order,
    /// round robin, each once a turn at most.
    pub(super) ready: VecDeque<usize>,
}

impl Queues {
    pub(super) fn mark_ready(&mut self, id: usize, conn: &mut Conn) {
        if !conn.queued {
            conn.queued = true;
            self.ready.push_back(id);
        }
    }
}

/// The rate limits of the "refused at the connection cap" warning, per transport: a client
/// that reconnects in a loop must not write a log line per attempt.
#[derive(Default)]
pub(super) struct Refusals {
    tcp: Repeats,
    tls: Repeats,
}

impl Refusals {
    fn of(&mut self, transport: Transport) -> &mut Repeats {
        match transport {
            Transport::Tls => &mut self.tls,
            _ => &mut self.tcp,
        }
    }

    /// Log the summary of a storm of refusals that has stopped.
    pub(super) fn tick(&mut self, now: Instant) {
        for transport in [Transport::Tcp, Transport::Tls] {
            if let Some(say) = self.of(transport).tick(now) {
                warn!(
                    "{} connection refused: at the connection cap{say}",
                    transport.as_str()
                );
            }
        }
    }
}

/// What accepting a connection touches.
pub(super) struct Accepting<'a> {
    pub(super) poll: &'a Poll,
    pub(super) conns: &'a mut HashMap<usize, Conn>,
    pub(super) next_conn: &'a mut usize,
    pub(super) opts: &'a IngestOptions,
    pub(super) metrics: &'a Metrics,
    pub(super) refusals: &'a mut Refusals,
}

impl Accepting<'_> {
    /// Accept until the listener would block; `tls` set: the listener speaks TLS.
    pub(super) fn accept_all(
        &mut self,
        listener: &mut TcpListener,
        tls: Option<&Arc<rustls::ServerConfig>>,
        now: Instant,
    ) -> io::Result<()> {
        let transport = if tls.is_some() {
            Transport::Tls
        } else {
            Transport::Tcp
        };
        let max = self.opts.limits(transport).max_connections;
        let mut open = self
            .conns
            .values()
            .filter(|c| c.stream.transport() == transport)
            .count();
        loop {
            match listener.accept() {
                Ok((socket, peer)) => {
                    if open >= max {
                        Metrics::add(&self.metrics.tcp_refused, 1);
                        if let Some(say) = self.refusals.of(transport).hit(now, 1) {
                            warn!(%peer, max, "{} connection refused: at the connection cap{say}", transport.as_str());
                        }
                        continue;
                    }
                    let mut stream = match tls {
                        None => Stream::Plain(socket),
                        Some(config) => match TlsStream::new(socket, config.clone()) {
                            Ok(t) => Stream::Tls(Box::new(t)),
                            Err(e) => {
                                warn!(%peer, error = %e, "TLS connection not set up");
                                continue;
                            }
                        },
                    };
                    // TLS writes its handshake while we read: a full socket buffer resumes on
                    // the writable event.
                    let interest = match transport {
                        Transport::Tls => Interest::READABLE | Interest::WRITABLE,
                        _ => Interest::READABLE,
                    };
                    let id = *self.next_conn;
                    *self.next_conn += 1;
                    self.poll
                        .registry()
                        .register(stream.socket(), Token(id), interest)?;
                    debug!(%peer, "syslog {} connection", transport.as_str());
                    self.conns.insert(id, Conn::new(stream, peer, now));
                    open += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ECONNABORTED, EMFILE and the like: log and go on; the listener stays up.
                Err(e) => {
                    warn!(error = %e, "{} accept failed", transport.as_str());
                    return Ok(());
                }
            }
        }
    }
}

/// At shutdown: the frames already read from open connections (refused ones, those a turn
/// left in the buffer, the unfinished last one) are appended and flushed before the final sync.
pub(super) fn take_at_shutdown(
    conns: &mut HashMap<usize, Conn>,
    wal: &mut Sink,
    opts: &IngestOptions,
    metrics: &Metrics,
) -> Result<(), IngestError> {
    let (mut tcp, mut tls) = (0, 0);
    for c in conns.values_mut() {
        let transport = c.stream.transport();
        let max_frame = opts.limits(transport).max_frame;
        let mut n = 0;
        for (frame, cut) in c.unaccepted.iter() {
            n += u64::from(append_frame(
                &mut wal.writer,
                c.peer,
                transport,
                frame,
                cut,
                0,
            )?);
        }
        // Complete frames a turn left in the buffer, then the unfinished one.
        let mut wal_error = None;
        let peer = c.peer;
        c.buffered_frames(max_frame, &mut |frame, cut| match append_frame(
            &mut wal.writer,
            peer,
            transport,
            frame,
            cut,
            0,
        ) {
            Ok(taken) => {
                n += u64::from(taken);
                taken
            }
            Err(e) => {
                wal_error = Some(e);
                false
            }
        });
        if let Some(e) = wal_error {
            return Err(e.into());
        }
        if let Some((frame, cut)) = c.final_frame(max_frame) {
            n += u64::from(append_frame(
                &mut wal.writer,
                c.peer,
                transport,
                &frame,
                cut,
                0,
            )?);
        }
        match transport {
            Transport::Tls => tls += n,
            _ => tcp += n,
        }
    }
    let frames = tcp + tls;
    if wal.flush(metrics, Instant::now())? {
        count_frames(metrics, Transport::Tcp, tcp, 0);
        count_frames(metrics, Transport::Tls, tls, 0);
    } else {
        warn!(
            frames,
            "stream frames not accepted at shutdown: the WAL disk is full"
        );
    }
    Ok(())
}

/// Bytes of the WAL budget stream frames leave to datagrams ([`STREAM_RESERVE`]).
fn stream_reserve(wal: &Writer) -> u64 {
    wal.max_size() / STREAM_RESERVE
}

/// Append one stream frame; false when it would leave less than `reserve` of the WAL budget,
/// or the WAL is at its budget (not taken). Counted once the flush succeeded ([`count_frames`]).
fn append_frame(
    wal: &mut Writer,
    peer: SocketAddr,
    transport: Transport,
    frame: &[u8],
    cut: bool,
    reserve: u64,
) -> Result<bool, WalError> {
    if wal.room() < reserve.saturating_add(frame.len() as u64) {
        return Ok(false);
    }
    let meta = meta(peer, transport, Listener::Syslog, cut);
    Ok(matches!(wal.append(&meta, frame)?, Appended::Seq(_)))
}

fn count_frames(metrics: &Metrics, transport: Transport, frames: u64, cut: u64) {
    let counter = match transport {
        Transport::Tls => &metrics.accepted_syslog_tls,
        _ => &metrics.accepted_syslog_tcp,
    };
    Metrics::add(counter, frames);
    Metrics::add(&metrics.truncated, cut);
}

/// Append again the frames of `conn` a full disk refused, and flush. True when none is left.
fn replay(
    conn: &mut Conn,
    wal: &mut Sink,
    metrics: &Metrics,
    now: Instant,
) -> Result<bool, IngestError> {
    if conn.unaccepted.is_empty() {
        return Ok(true);
    }
    let transport = conn.stream.transport();
    let reserve = stream_reserve(&wal.writer);
    let mut taken = 0;
    for (frame, cut) in conn.unaccepted.iter() {
        if !append_frame(&mut wal.writer, conn.peer, transport, frame, cut, reserve)? {
            break;
        }
        taken += 1;
    }
    if !wal.flush(metrics, now)? {
        return Ok(false);
    }
    count_frames(
        metrics,
        transport,
        taken as u64,
        conn.unaccepted.cut_count(taken),
    );
    conn.unaccepted.drain_front(taken);
    Ok(conn.unaccepted.is_empty())
}

/// Serve the ready connections one turn each, in order, until the turn's shares
/// ([`STREAM_FRAMES_PER_TURN`], [`HANDSHAKES_PER_TURN`]) are spent; the rest keep their place.
pub(super) fn serve_ready(
    conns: &mut HashMap<usize, Conn>,
    wal: &mut Sink,
    opts: &IngestOptions,
    metrics: &Metrics,
    now: Instant,
    queues: &mut Queues,
    share: &mut TurnShare,
) -> Result<(), IngestError> {
    for _ in 0..queues.ready.len() {
        let Some(id) = queues.ready.pop_front() else {
            break;
        };
        let Some(conn) = conns.get_mut(&id) else {
            continue;
        };
        let handshaking = conn.stream.is_handshaking();
        if !share.admits(handshaking) {
            queues.ready.push_back(id);
            continue;
        }
        conn.queued = false;
        share.handshakes += usize::from(handshaking);
        share.frames += read_conn(id, conns, wal, opts, metrics, now, queues)?;
    }
    Ok(())
}

/// One turn of connection `id`: replay what a full disk refused, then read and append at most
/// one turn's share (tcp.rs) and flush. Returns the frames accepted.
fn read_conn(
    id: usize,
    conns: &mut HashMap<usize, Conn>,
    wal: &mut Sink,
    opts: &IngestOptions,
    metrics: &Metrics,
    now: Instant,
    queues: &mut Queues,
) -> Result<usize, IngestError> {
    let Some(conn) = conns.get_mut(&id) else {
        return Ok(0);
    };
    // While the disk is full, or frames refused before are still waiting: do not read.
    if !wal.space.may_write(now) || !replay(conn, wal, metrics, now)? {
        queues.held.push(id);
        return Ok(0);
    }
    let (peer, transport) = (conn.peer, conn.stream.transport());
    let max_frame = opts.limits(transport).max_frame;
    let reserve = stream_reserve(&wal.writer);
    let mut wal_error = None;
    let Sink {
        writer, scratch, ..
    } = wal;
    scratch.clear();
    let stop = conn.read_frames(max_frame, now, &mut |frame, cut| match append_frame(
        writer, peer, transport, frame, cut, reserve,
    ) {
        Ok(true) => {
            scratch.push(frame, cut);
            true
        }
        Ok(false) => false,
        Err(e) => {
            wal_error = Some(e);
            false
        }
    });
    if let Some(e) = wal_error {
        return Err(e.into());
    }
    if !wal.flush(metrics, now)? {
        // Keep the frames on the connection and stop reading it until there is space.
        std::mem::swap(&mut conn.unaccepted, &mut wal.scratch);
        queues.held.push(id);
        return Ok(0);
    }
    let taken = wal.scratch.len();
    count_frames(
        metrics,
        transport,
        taken as u64,
        wal.scratch.cut_count(taken),
    );
    if taken > 0 {
        // Frames were taken below the reserve: the WAL is not at its budget.
        wal.space.at_budget(false, 0, metrics);
    }
    let refused = stop == ReadStop::Refused;
    if refused || taken > 0 {
        wal.space.streams_held(refused);
    }
    match stop {
        ReadStop::Drained => {}
        ReadStop::Yielded => queues.mark_ready(id, conn),
        ReadStop::Refused => queues.held.push(id),
        ReadStop::Closed => close_conn(id, conns, wal, opts, metrics, now, queues)?,
    }
    Ok(taken)
}

fn close_conn(
    id: usize,
    conns: &mut HashMap<usize, Conn>,
    wal: &mut Sink,
    opts: &IngestOptions,
    metrics: &Metrics,
    now: Instant,
    queues: &mut Queues,
) -> Result<(), IngestError> {
    let Some(conn) = conns.get_mut(&id) else {
        return Ok(());
    };
    if !wal.space.may_write(now) || !replay(conn, wal, metrics, now)? {
        queues.held.push(id);
        return Ok(());
    }
    let transport = conn.stream.transport();
    if let Some((frame, cut)) = conn.final_frame(opts.limits(transport).max_frame) {
        // WAL full or disk full: keep the connection object (and its last frame) until there is
        // room.
        let reserve = stream_reserve(&wal.writer);
        if !append_frame(&mut wal.writer, conn.peer, transport, &frame, cut, reserve)?
            || !wal.flush(metrics, now)?
        {
            queues.held.push(id);
            return Ok(());
        }
        count_frames(metrics, transport, 1, u64::from(cut));
    }
    if let Some(failure) = conn.stream.failed_handshake() {
        Metrics::add(&metrics.tls_handshake_failed, 1);
        match failure {
            Some(e) => debug!(peer = %conn.peer, error = %e, "TLS handshake failed"),
            None => debug!(peer = %conn.peer, "TLS connection closed before its handshake ended"),
        }
    }
    conns.remove(&id);
    Ok(())
}

pub(super) fn retry_held(
    conns: &mut HashMap<usize, Conn>,
    wal: &mut Sink,
    opts: &IngestOptions,
    metrics: &Metrics,
    now: Instant,
    queues: &mut Queues,
    share: &mut TurnShare,
) -> Result<(), IngestError> {
    if !wal.space.may_write(now) {
        return Ok(());
    }
    let ids = std::mem::take(&mut queues.held);
    // Those the turn's share leaves out go first next time.
    let mut later = Vec::new();
    for id in ids {
        let Some(conn) = conns.get(&id) else {
            continue;
        };
        if conn.closed {
            close_conn(id, conns, wal, opts, metrics, now, queues)?;
        } else if share.admits(conn.stream.is_handshaking()) {
            // Edge-triggered readiness may have been consumed while we held back: read now (one
            // turn; what is left waits in the ready queue).
            share.frames += read_conn(id, conns, wal, opts, metrics, now, queues)?;
        } else {
            later.push(id);
        }
    }
    later.append(&mut queues.held);
    queues.held = later;
    Ok(())
}

/// Close connections silent for their listener's idle timeout (TLS ones that never finished the
/// handshake included); a partial last frame is kept as a final frame.
pub(super) fn close_idle(
    conns: &mut HashMap<usize, Conn>,
    wal: &mut Sink,
    opts: &IngestOptions,
    metrics: &Metrics,
    now: Instant,
    queues: &mut Queues,
) -> Result<(), IngestError> {
    let idle: Vec<usize> = conns
        .iter()
        .filter(|(id, c)| {
            let idle = opts.limits(c.stream.transport()).idle_timeout;
            now.duration_since(c.last_activity) >= idle && !queues.held.contains(id)
        })
        .map(|(id, _)| *id)
        .collect();
    for id in idle {
        if let Some(c) = conns.get(&id) {
            debug!(peer = %c.peer, transport = c.stream.transport().as_str(), "closing idle connection");
        }
        Metrics::add(&metrics.tcp_idle_closed, 1);
        close_conn(id, conns, wal, opts, metrics, now, queues)?;
    }
    Ok(())
}
