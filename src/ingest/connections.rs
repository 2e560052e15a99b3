//! Stream connections (TCP and TLS) in the ingest loop, all owned by [`Connections`]: the two
//! listeners and their caps (lowered to the open-file limit, fd_budget.rs), accepting, serving
//! each connection one turn at a time from the ready queue within the turn's share, holding them
//! while the WAL has no room for them (the part of the budget kept for datagrams, a full WAL, a
//! full disk), closing them, and taking what they hold at shutdown. One connection's framing,
//! limits and idle tracking are in tcp.rs.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Interest, Registry, Token};
use rustls::ServerConfig;
use tracing::{debug, warn};

use super::tcp::{self, Conn, ReadStop, Stream, Unaccepted};
use super::tls::{TlsListener, TlsStream};
use super::{
    fd_budget, IngestError, IngestOptions, Sink, StreamLimits, FIRST_CONN, SYSLOG_TCP, SYSLOG_TLS,
};
use crate::log_limit::Repeats;
use crate::metrics::Metrics;
use crate::model::{flags, Listener, Transport};
use crate::timefmt::now_us;
use crate::wal::{Appended, RecordMeta, WalError, Writer};

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

/// How often idle connections are looked for.
const SWEEP: Duration = Duration::from_secs(1);

/// The stream connections of the ingest loop and everything about them.
pub(super) struct Connections {
    /// Open connections by their poll token.
    conns: HashMap<usize, Conn>,
    /// The token of the next accepted connection.
    next_id: usize,
    tcp: Option<TcpListener>,
    /// The TLS listener and the configuration its connections use.
    tls: Option<(TcpListener, Arc<ServerConfig>)>,
    limits: Limits,
    refusals: Refusals,
    queues: Queues,
    /// What connections took so far in this turn.
    share: TurnShare,
    /// The frames of the connection being read, until their flush succeeded.
    scratch: Unaccepted,
    last_sweep: Instant,
    metrics: Arc<Metrics>,
}

impl Connections {
    /// Take over the stream listeners, registered with `registry`, and lower their connection
    /// caps to what the open-file limit allows. Five arguments: the two listeners it owns from
    /// now on, their options, the poller to register them with and the counters.
    pub(super) fn new(
        registry: &Registry,
        tcp: Option<std::net::TcpListener>,
        tls: Option<TlsListener>,
        opts: &IngestOptions,
        metrics: Arc<Metrics>,
    ) -> io::Result<Connections> {
        let limits = Limits::budgeted(opts, tls.is_some());
        let tcp = register_listener(registry, tcp, SYSLOG_TCP)?;
        let tls = match tls {
            Some(t) => register_listener(registry, Some(t.listener), SYSLOG_TLS)?
                .map(|listener| (listener, t.config)),
            None => None,
        };
        Ok(Connections {
            conns: HashMap::new(),
            next_id: FIRST_CONN,
            tcp,
            tls,
            limits,
            refusals: Refusals::default(),
            queues: Queues::default(),
            share: TurnShare::default(),
            scratch: Unaccepted::default(),
            last_sweep: Instant::now(),
            metrics,
        })
    }

    /// Open connections.
    pub(super) fn len(&self) -> usize {
        self.conns.len()
    }

    /// Connections wait in the ready queue: the next poll must not wait.
    pub(super) fn has_ready(&self) -> bool {
        !self.queues.ready.is_empty()
    }

    /// A readiness event for connection `id`: it is served in the coming turn, unless it is
    /// held (it is then tried again with the held ones).
    pub(super) fn ready(&mut self, id: usize) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if !self.queues.held.contains(&id) {
                self.queues.mark_ready(id, conn);
            }
        }
    }

    /// Accept on the listener of `transport` until it would block, registering each new
    /// connection with `registry`; past the listener's cap a connection is closed at once.
    pub(super) fn accept(
        &mut self,
        transport: Transport,
        registry: &Registry,
        now: Instant,
    ) -> io::Result<()> {
        let (listener, tls) = match (transport, &mut self.tcp, &mut self.tls) {
            (Transport::Tls, _, Some((listener, config))) => (listener, Some(&*config)),
            (Transport::Tcp, Some(listener), _) => (listener, None),
            _ => return Ok(()),
        };
        let max = self.limits.of(transport).max_connections;
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
                    let id = self.next_id;
                    self.next_id += 1;
                    registry.register(stream.socket(), Token(id), interest)?;
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

    /// A new turn: serve the ready connections one turn each, in order, until the turn's shares
    /// ([`STREAM_FRAMES_PER_TURN`], [`HANDSHAKES_PER_TURN`]) are spent; the rest keep their
    /// place.
    pub(super) fn serve_ready(&mut self, wal: &mut Sink, now: Instant) -> Result<(), IngestError> {
        self.share = TurnShare::default();
        for _ in 0..self.queues.ready.len() {
            let Some(id) = self.queues.ready.pop_front() else {
                break;
            };
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            let handshaking = conn.stream.is_handshaking();
            if !self.share.admits(handshaking) {
                self.queues.ready.push_back(id);
                continue;
            }
            conn.queued = false;
            self.share.handshakes += usize::from(handshaking);
            let taken = self.read_conn(id, wal, now)?;
            self.share.frames += taken;
        }
        Ok(())
    }

    /// Later in the same turn, while the disk may be written: the held connections close, or
    /// are read within what is left of the turn's share.
    pub(super) fn retry_held(&mut self, wal: &mut Sink, now: Instant) -> Result<(), IngestError> {
        if self.queues.held.is_empty() || !wal.space.may_write(now) {
            return Ok(());
        }
        let ids = std::mem::take(&mut self.queues.held);
        // Those the turn's share leaves out go first next time.
        let mut later = Vec::new();
        for id in ids {
            let Some(conn) = self.conns.get(&id) else {
                continue;
            };
            if conn.closed {
                self.close_conn(id, wal, now)?;
            } else if self.share.admits(conn.stream.is_handshaking()) {
                // Edge-triggered readiness may have been consumed while we held back: read now
                // (one turn; what is left waits in the ready queue).
                let taken = self.read_conn(id, wal, now)?;
                self.share.frames += taken;
            } else {
                later.push(id);
            }
        }
        later.append(&mut self.queues.held);
        self.queues.held = later;
        Ok(())
    }

    /// Once a second ([`SWEEP`]): close the idle connections, and log the end of a storm of
    /// refusals at the connection cap.
    pub(super) fn sweep(&mut self, wal: &mut Sink, now: Instant) -> Result<(), IngestError> {
        if now.duration_since(self.last_sweep) < SWEEP {
            return Ok(());
        }
        self.last_sweep = now;
        self.close_idle(wal, now)?;
        self.refusals.tick(now);
        Ok(())
    }

    /// At shutdown: the frames already read from open connections (refused ones, those a turn
    /// left in the buffer, the unfinished last one) are appended and flushed before the final
    /// sync.
    pub(super) fn take_at_shutdown(&mut self, wal: &mut Sink) -> Result<(), IngestError> {
        let (mut tcp, mut tls) = (0, 0);
        for c in self.conns.values_mut() {
            let from = Origin::of(c);
            let max_frame = self.limits.of(from.transport).max_frame;
            let mut n = 0;
            for (frame, cut) in c.unaccepted.iter() {
                n += u64::from(from.append(&mut wal.writer, frame, cut, 0)?);
            }
            // Complete frames a turn left in the buffer, then the unfinished one.
            let mut wal_error = None;
            let mut append = |frame: &[u8], cut| match from.append(&mut wal.writer, frame, cut, 0) {
                Ok(taken) => {
                    n += u64::from(taken);
                    taken
                }
                Err(e) => {
                    wal_error = Some(e);
                    false
                }
            };
            c.buffered_frames(max_frame, &mut append);
            if let Some(e) = wal_error {
                return Err(e.into());
            }
            if let Some((frame, cut)) = c.final_frame(max_frame) {
                n += u64::from(from.append(&mut wal.writer, &frame, cut, 0)?);
            }
            match from.transport {
                Transport::Tls => tls += n,
                _ => tcp += n,
            }
        }
        let frames = tcp + tls;
        if wal.flush(&self.metrics, Instant::now())? {
            count_frames(&self.metrics, Transport::Tcp, tcp, 0);
            count_frames(&self.metrics, Transport::Tls, tls, 0);
        } else {
            warn!(
                frames,
                "stream frames not accepted at shutdown: the WAL disk is full"
            );
        }
        Ok(())
    }

    /// One turn of connection `id`: replay what a full disk refused, then read and append at
    /// most one turn's share (tcp.rs) and flush. Returns the frames accepted.
    fn read_conn(&mut self, id: usize, wal: &mut Sink, now: Instant) -> Result<usize, IngestError> {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Ok(0);
        };
        // While the disk is full, or frames refused before are still waiting: do not read.
        if !wal.space.may_write(now) || !replay(conn, wal, &self.metrics, now)? {
            self.queues.held.push(id);
            return Ok(0);
        }
        let from = Origin::of(conn);
        let transport = from.transport;
        let max_frame = self.limits.of(transport).max_frame;
        let reserve = stream_reserve(&wal.writer);
        let mut wal_error = None;
        let (writer, scratch) = (&mut wal.writer, &mut self.scratch);
        scratch.clear();
        let mut append = |frame: &[u8], cut| match from.append(writer, frame, cut, reserve) {
            Ok(true) => {
                scratch.push(frame, cut);
                true
            }
            Ok(false) => false,
            Err(e) => {
                wal_error = Some(e);
                false
            }
        };
        let stop = conn.read_frames(max_frame, now, &mut append);
        if let Some(e) = wal_error {
            return Err(e.into());
        }
        if !wal.flush(&self.metrics, now)? {
            // Keep the frames on the connection and stop reading it until there is space.
            std::mem::swap(&mut conn.unaccepted, &mut self.scratch);
            self.queues.held.push(id);
            return Ok(0);
        }
        let taken = self.scratch.len();
        count_frames(
            &self.metrics,
            transport,
            taken as u64,
            self.scratch.cut_count(taken),
        );
        if taken > 0 {
            // Frames were taken below the reserve: the WAL is not at its budget.
            wal.space.at_budget(false, 0, &self.metrics);
        }
        let refused = stop == ReadStop::Refused;
        if refused || taken > 0 {
            wal.space.streams_held(refused);
        }
        match stop {
            ReadStop::Drained => {}
            ReadStop::Yielded => self.queues.mark_ready(id, conn),
            ReadStop::Refused => self.queues.held.push(id),
            ReadStop::Closed => self.close_conn(id, wal, now)?,
        }
        Ok(taken)
    }

    /// Take the last frame of connection `id` and drop it; held instead while the WAL cannot
    /// take what it still has.
    fn close_conn(&mut self, id: usize, wal: &mut Sink, now: Instant) -> Result<(), IngestError> {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        if !wal.space.may_write(now) || !replay(conn, wal, &self.metrics, now)? {
            self.queues.held.push(id);
            return Ok(());
        }
        let transport = conn.stream.transport();
        if let Some((frame, cut)) = conn.final_frame(self.limits.of(transport).max_frame) {
            // WAL full or disk full: keep the connection object (and its last frame) until
            // there is room.
            let reserve = stream_reserve(&wal.writer);
            if !Origin::of(conn).append(&mut wal.writer, &frame, cut, reserve)?
                || !wal.flush(&self.metrics, now)?
            {
                self.queues.held.push(id);
                return Ok(());
            }
            count_frames(&self.metrics, transport, 1, u64::from(cut));
        }
        if let Some(failure) = conn.stream.failed_handshake() {
            Metrics::add(&self.metrics.tls_handshake_failed, 1);
            match failure {
                Some(e) => debug!(peer = %conn.peer, error = %e, "TLS handshake failed"),
                None => {
                    debug!(peer = %conn.peer, "TLS connection closed before its handshake ended")
                }
            }
        }
        self.conns.remove(&id);
        Ok(())
    }

    /// Close connections silent for their listener's idle timeout (TLS ones that never finished
    /// the handshake included); a partial last frame is kept as a final frame.
    fn close_idle(&mut self, wal: &mut Sink, now: Instant) -> Result<(), IngestError> {
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(id, c)| {
                let idle = self.limits.of(c.stream.transport()).idle_timeout;
                now.duration_since(c.last_activity) >= idle && !self.queues.held.contains(id)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            if let Some(c) = self.conns.get(&id) {
                debug!(peer = %c.peer, transport = c.stream.transport().as_str(), "closing idle connection");
            }
            Metrics::add(&self.metrics.tcp_idle_closed, 1);
            self.close_conn(id, wal, now)?;
        }
        Ok(())
    }
}

/// The limits of the two stream listeners, with the connection caps that fit the open-file
/// limit.
#[derive(Debug, Clone, Copy)]
struct Limits {
    tcp: StreamLimits,
    tls: StreamLimits,
}

impl Limits {
    /// Raise the open-file limit and lower the connection caps to what it allows
    /// (fd_budget.rs); `tls`: there is a TLS listener.
    fn budgeted(opts: &IngestOptions, tls: bool) -> Limits {
        let mut limits = Limits {
            tcp: opts.limits(Transport::Tcp),
            tls: opts.limits(Transport::Tls),
        };
        let nofile = fd_budget::raise_nofile();
        let tls_max = tls.then_some(opts.tls.max_connections);
        let (tcp_cap, tls_cap) = fd_budget::caps(opts.max_connections, tls_max, nofile);
        if tcp_cap < opts.max_connections || (tls && tls_cap < opts.tls.max_connections) {
            warn!(
                nofile,
                reserve = fd_budget::RESERVE,
                tcp_configured = opts.max_connections,
                tcp = tcp_cap,
                tls_configured = opts.tls.max_connections,
                tls = tls_cap,
                "connection caps lowered to fit the open-file limit"
            );
        }
        limits.tcp.max_connections = tcp_cap;
        if tls {
            limits.tls.max_connections = tls_cap;
        }
        limits
    }

    fn of(&self, transport: Transport) -> StreamLimits {
        match transport {
            Transport::Tls => self.tls,
            _ => self.tcp,
        }
    }
}

/// What stream connections took in this turn, against [`STREAM_FRAMES_PER_TURN`] and
/// [`HANDSHAKES_PER_TURN`].
#[derive(Default)]
struct TurnShare {
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
struct Queues {
    /// Connections holding frames the full WAL refused, or held at the datagram reserve; retried
    /// every turn while the disk may be written.
    held: Vec<usize>,
    /// Connections with data left after their turn, or a new readiness event: served in order,
    /// round robin, each once a turn at most.
    ready: VecDeque<usize>,
}

impl Queues {
    fn mark_ready(&mut self, id: usize, conn: &mut Conn) {
        if !conn.queued {
            conn.queued = true;
            self.ready.push_back(id);
        }
    }
}

/// The rate limits of the "refused at the connection cap" warning, per transport: a client
/// that reconnects in a loop must not write a log line per attempt.
#[derive(Default)]
struct Refusals {
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
    fn tick(&mut self, now: Instant) {
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

fn register_listener(
    registry: &Registry,
    listener: Option<std::net::TcpListener>,
    token: Token,
) -> io::Result<Option<TcpListener>> {
    let Some(l) = listener else { return Ok(None) };
    l.set_nonblocking(true)?;
    let mut l = TcpListener::from_std(l);
    registry.register(&mut l, token, Interest::READABLE)?;
    Ok(Some(l))
}

/// Bytes of the WAL budget stream frames leave to datagrams ([`STREAM_RESERVE`]).
fn stream_reserve(wal: &Writer) -> u64 {
    wal.max_size() / STREAM_RESERVE
}

/// Where a connection's frames come from, as their WAL records say.
#[derive(Clone, Copy)]
struct Origin {
    peer: SocketAddr,
    transport: Transport,
}

impl Origin {
    fn of(conn: &Conn) -> Origin {
        Origin {
            peer: conn.peer,
            transport: conn.stream.transport(),
        }
    }

    /// Append one stream frame; false when it would leave less than `reserve` of the WAL
    /// budget, or the WAL is at its budget (not taken). Counted once the flush succeeded
    /// ([`count_frames`]).
    fn append(
        self,
        wal: &mut Writer,
        frame: &[u8],
        cut: bool,
        reserve: u64,
    ) -> Result<bool, WalError> {
        if wal.room() < reserve.saturating_add(frame.len() as u64) {
            return Ok(false);
        }
        let meta = RecordMeta {
            received_at_us: now_us(),
            source: self.peer,
            transport: self.transport as u8,
            listener: Listener::Syslog as u8,
            flags: if cut { flags::TRUNCATED } else { 0 },
        };
        Ok(matches!(wal.append(&meta, frame)?, Appended::Seq(_)))
    }
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
    let from = Origin::of(conn);
    let reserve = stream_reserve(&wal.writer);
    let mut taken = 0;
    for (frame, cut) in conn.unaccepted.iter() {
        if !from.append(&mut wal.writer, frame, cut, reserve)? {
            break;
        }
        taken += 1;
    }
    if !wal.flush(metrics, now)? {
        return Ok(false);
    }
    count_frames(
        metrics,
        from.transport,
        taken as u64,
        conn.unaccepted.cut_count(taken),
    );
    conn.unaccepted.drain_front(taken);
    Ok(conn.unaccepted.is_empty())
}
