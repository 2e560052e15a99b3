//! Ingest: one mio thread that receives, decrypts (TLS), frames (TCP, TLS), appends to the WAL and
//! goes back to the socket. No parsing here, apart from recognising an SNMP InformRequest to answer
//! it. TCP and TLS connections are the same [`tcp::Conn`] over a plain or a TLS stream: same
//! framing, limits, idle timeout and back-pressure.
//!
//! [`Ingest`] owns the thread's state: the poller, the UDP sockets, the WAL writer with its view
//! of the room left ([`Sink`]), the informs memory and the answers waiting to be sent, and the
//! [`Connections`] (connections.rs): the stream listeners, their open connections, the ready and
//! held queues and the connection caps. [`run`] takes one [`Ingest::turn`] after another until
//! `stop`.
//!
//! A record is *accepted* once `wal::Writer::flush` returned: one flush per receive batch (up to
//! 32 datagrams, or one connection's turn), fsync per the WAL's policy. Inform Responses are
//! sent after that flush and after an fsync of the WAL, whatever `wal.sync` says, never before.
//! SNMPv3 informs: MUTT is their authoritative engine
//! (agent/informs.rs); a retransmitted v3 inform is answered again but stored once.
//!
//! Fairness: the loop goes in turns. In each, every ready stream connection gets one bounded
//! share (at most 64 KiB read and 512 frames, one TLS handshake step; tcp.rs), up to a share of
//! the whole turn (`STREAM_FRAMES_PER_TURN`, `HANDSHAKES_PER_TURN`; connections.rs); one with
//! more waiting stays in the ready queue (mio is edge-triggered: it will not be told again). Then
//! every UDP socket is read (up to `UDP_ROUNDS` recvmmsg calls, `pending` when more waits).
//! So one sender, however fast and whatever its frame size, cannot keep the others waiting, and
//! what waits for the WAL is one turn's frames, not what the WAL budget allows.
//!
//! When the WAL is at its disk budget, ingest sheds load loudly: UDP datagrams are received and
//! dropped (counted in `dropped_wal_full`), TCP and TLS connections are not read (back-pressure)
//! until there is room. Streams stop earlier, with a quarter of the budget left
//! (`STREAM_RESERVE`, connections.rs): their senders wait and lose nothing, so that quarter is
//! kept for datagrams, which are lost when not taken; a flood over TCP cannot fill the WAL for
//! UDP. Unprocessed records are never deleted. When the disk itself is full
//! (ENOSPC, EDQUOT) the WAL undoes the failed flush and ingest carries on the same way: UDP
//! dropped (counted in `dropped_disk_full`), streams held with their refused frames kept, a
//! write tried again at most every `space::RETRY` (space.rs). Any other WAL error is fatal.

mod connections;
pub mod engine_file;
mod fd_budget;
pub mod framing;
mod space;
mod tcp;
pub mod tls;
pub mod udp;

use crate::decode::snmp::SharedUsm;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::UdpSocket as MioUdp;
use mio::{Events, Interest, Poll, Token};
use tracing::{debug, info};

use crate::agent::engine::EngineState;
use crate::agent::informs::{Decision, Informs};
use crate::metrics::Metrics;
use crate::model::{flags, Listener, Transport};
use crate::timefmt::now_us;
use crate::wal::{Appended, RecordMeta, WalError, Writer};
use connections::Connections;
use space::Space;
use tls::TlsListener;

const SNMP_UDP: Token = Token(0);
const SYSLOG_UDP: Token = Token(1);
const SYSLOG_TCP: Token = Token(2);
const SYSLOG_TLS: Token = Token(3);
/// Stream connections take the tokens from here up.
const FIRST_CONN: usize = 4;

/// recvmmsg calls per socket per wake-up before the other sockets get a turn.
const UDP_ROUNDS: usize = 64;

/// The longest a poll waits when the last turn left nothing to do.
const TICK: Duration = Duration::from_millis(50);

/// How long datagrams gather before the next turn when the last one took only a few (fewer than
/// a receive batch, `udp::BATCH`): the time a burst at `BURST_RATE` takes to fill a quarter of the
/// smallest UDP receive buffer, between `GATHER_MIN` and `GATHER_MAX` ([`gather_time`]). At
/// 100,000 datagrams a second from many senders the thread otherwise woke for every 7 or so, and
/// each wake-up (the poll, the receive, the WAL write) cost more than the datagrams it took: on
/// this machine kind a 1 ms gather instead of 200 µs saved about 0.5 µs a syslog message
/// (docs/PERFORMANCE.md, fifth round). A datagram waits at most that long more in the kernel; an
/// idle listener is not delayed (the sleep follows datagrams, never a quiet turn).
const GATHER_MIN: Duration = Duration::from_micros(200);
const GATHER_MAX: Duration = Duration::from_millis(1);
/// The burst a gather must leave room for: MUTT's spike target, datagrams a second.
const BURST_RATE: u64 = 400_000;
/// Receive-buffer bytes a datagram of a syslog line takes in the kernel (its `truesize`: 832
/// bytes for a 120-byte line on loopback, measured with `/proc/net/udp`'s rx_queue).
const DATAGRAM_TRUESIZE: u64 = 832;

/// The gather for the smallest UDP receive buffer, `rcvbuf` bytes as SO_RCVBUF reports it. With
/// Debian's default `net.core.rmem_max` (212,992 bytes, 256 such datagrams) a quarter fills in
/// 160 µs at 400,000 a second, so the floor of 200 µs (80 datagrams) holds; 4 MiB or more gives
/// the full 1 ms.
fn gather_time(rcvbuf: usize) -> Duration {
    let datagrams = rcvbuf as u64 / DATAGRAM_TRUESIZE;
    let micros = (datagrams / 4).saturating_mul(1_000_000) / BURST_RATE;
    Duration::from_micros(micros).clamp(GATHER_MIN, GATHER_MAX)
}

/// What ingest listens on, already bound (so tests can bind port 0 and read the address).
pub struct Sockets {
    pub snmp_udp: Option<UdpSocket>,
    pub syslog_udp: Option<UdpSocket>,
    pub syslog_tcp: Option<std::net::TcpListener>,
    pub syslog_tls: Option<TlsListener>,
}

impl Sockets {
    /// The UDP sockets' listener names and inodes, by which the kernel's tables name them
    /// (`metrics::udp_socket_drops`).
    pub fn udp_inodes(&self) -> Vec<(&'static str, u64)> {
        use std::os::fd::AsRawFd;
        [("snmp", &self.snmp_udp), ("syslog", &self.syslog_udp)]
            .into_iter()
            .filter_map(|(name, socket)| {
                let fd = socket.as_ref()?.as_raw_fd();
                // SAFETY: fstat on an open descriptor this struct owns, into a zeroed stat.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((name, st.st_ino))
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Largest SNMP datagram kept whole.
    pub snmp_max: usize,
    /// Largest syslog datagram or TCP frame kept whole.
    pub syslog_max: usize,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    /// The TLS listener's own limits.
    pub tls: StreamLimits,
    /// MUTT's SNMPv3 engine (answers v3 discovery and informs); None: v3 informs go unanswered.
    pub engine: Option<Arc<EngineState>>,
    /// SNMPv3 users, to authenticate the informs to answer.
    pub usm: SharedUsm,
    /// v2c communities whose informs are answered (`snmp.communities`; empty: all).
    pub communities: Vec<String>,
}

/// Limits of one stream listener.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Largest frame kept whole.
    pub max_frame: usize,
    pub max_connections: usize,
    /// A connection silent this long (or still handshaking) is closed.
    pub idle_timeout: Duration,
}

impl IngestOptions {
    fn limits(&self, transport: Transport) -> StreamLimits {
        match transport {
            Transport::Tls => self.tls,
            _ => StreamLimits {
                max_frame: self.syslog_max,
                max_connections: self.max_connections,
                idle_timeout: self.idle_timeout,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("ingest: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Wal(#[from] WalError),
}

struct UdpIn {
    token: Token,
    socket: MioUdp,
    batch: udp::RecvBatch,
    listener: Listener,
    /// More may be waiting (we stopped before WouldBlock).
    pending: bool,
}

/// The WAL writer with ingest's view of its room.
struct Sink {
    writer: Writer,
    space: Space,
}

impl Sink {
    /// Flush what was appended. Ok(true): accepted (or nothing to do); Ok(false): the disk is
    /// full, nothing of the batch was written and the caller must not count or acknowledge it.
    fn flush(&mut self, metrics: &Metrics, now: Instant) -> Result<bool, WalError> {
        if !self.writer.has_pending() {
            return Ok(true);
        }
        match self.writer.flush() {
            Ok(_) => {
                self.space.written(now, metrics);
                Ok(true)
            }
            Err(e) if e.is_disk_full() => {
                self.space.disk_full(now, metrics, &e);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// A datagram to send from the SNMP socket: destination, octets, counted as an inform ack.
type Ack = (SocketAddr, Vec<u8>, bool);

/// The ingest loop. Runs until `stop`, then flushes and syncs the WAL and returns.
pub fn run(
    sockets: Sockets,
    wal: Writer,
    opts: IngestOptions,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> Result<(), IngestError> {
    let mut ingest = Ingest::new(sockets, wal, opts, metrics)?;
    while !stop.load(Ordering::Relaxed) {
        ingest.turn()?;
    }
    ingest.finish()
}

/// Everything the ingest thread owns.
struct Ingest {
    poll: Poll,
    events: Events,
    /// The SNMP and syslog UDP sockets, those configured.
    udp: Vec<UdpIn>,
    /// The TCP and TLS listeners and their connections.
    connections: Connections,
    wal: Sink,
    /// Which SNMP datagrams to store and answer; the v3 informs accepted lately.
    informs: Informs,
    /// Answers waiting for the flush and fsync of what they acknowledge.
    acks: Vec<Ack>,
    metrics: Arc<Metrics>,
    /// The last turn took some datagrams but fewer than a receive batch: let more gather.
    gather: bool,
    /// How long ([`gather_time`] of the smallest UDP receive buffer).
    gather_time: Duration,
}

impl Ingest {
    fn new(
        sockets: Sockets,
        wal: Writer,
        opts: IngestOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Ingest, IngestError> {
        let poll = Poll::new()?;
        let mut udp = Vec::new();
        let mut smallest_rcvbuf = usize::MAX;
        for (token, socket, listener, max) in [
            (SNMP_UDP, sockets.snmp_udp, Listener::Snmp, opts.snmp_max),
            (
                SYSLOG_UDP,
                sockets.syslog_udp,
                Listener::Syslog,
                opts.syslog_max,
            ),
        ] {
            if let Some(s) = socket {
                s.set_nonblocking(true)?;
                let rcvbuf = socket2::SockRef::from(&s).recv_buffer_size()?;
                smallest_rcvbuf = smallest_rcvbuf.min(rcvbuf);
                let mut socket = MioUdp::from_std(s);
                poll.registry()
                    .register(&mut socket, token, Interest::READABLE)?;
                udp.push(UdpIn {
                    token,
                    socket,
                    batch: udp::RecvBatch::new(max),
                    listener,
                    // Datagrams may have arrived between bind and register.
                    pending: true,
                });
            }
        }
        let connections = Connections::new(
            poll.registry(),
            sockets.syslog_tcp,
            sockets.syslog_tls,
            &opts,
            metrics.clone(),
        )?;
        let now = Instant::now();
        Ok(Ingest {
            poll,
            events: Events::with_capacity(256),
            udp,
            connections,
            wal: Sink {
                writer: wal,
                space: Space::new(now),
            },
            informs: Informs::new(opts.engine, opts.communities, opts.usm, now),
            acks: Vec::new(),
            metrics,
            gather: false,
            gather_time: gather_time(smallest_rcvbuf),
        })
    }

    /// One turn of the loop: the ready stream connections one share each, every UDP socket,
    /// the held connections within what is left of the turn, then the due fsync and the
    /// answers.
    fn turn(&mut self) -> Result<(), IngestError> {
        let now = self.wait()?;
        self.connections.serve_ready(&mut self.wal, now)?;
        self.receive_udp()?;
        self.connections.retry_held(&mut self.wal, now)?;
        self.sync_and_ack()?;
        self.connections.sweep(&mut self.wal, now)
    }

    /// Wait for readiness (not at all when the last turn left work) and note it: the UDP
    /// sockets to read, the listeners to accept on, the connections to serve. Returns the time
    /// of the turn.
    fn wait(&mut self) -> Result<Instant, IngestError> {
        let busy = self.udp.iter().any(|u| u.pending) || self.connections.has_ready();
        if self.gather && !busy {
            std::thread::sleep(self.gather_time);
        }
        let timeout = if busy { Duration::ZERO } else { TICK };
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        let now = Instant::now();
        for event in self.events.iter() {
            match event.token() {
                token @ (SNMP_UDP | SYSLOG_UDP) => {
                    for u in self.udp.iter_mut().filter(|u| u.token == token) {
                        u.pending = true;
                    }
                }
                SYSLOG_TCP => self
                    .connections
                    .accept(Transport::Tcp, self.poll.registry(), now)?,
                SYSLOG_TLS => self
                    .connections
                    .accept(Transport::Tls, self.poll.registry(), now)?,
                Token(id) => self.connections.ready(id),
            }
        }
        Ok(now)
    }

    /// Read the UDP sockets that have datagrams waiting.
    fn receive_udp(&mut self) -> Result<(), IngestError> {
        let mut taken = 0;
        for i in 0..self.udp.len() {
            if self.udp.get(i).is_some_and(|u| u.pending) {
                taken += self.receive_from(i)?;
            }
        }
        self.gather = (1..udp::BATCH).contains(&taken);
        Ok(())
    }

    /// Up to `UDP_ROUNDS` receive batches from the UDP socket `self.udp[which]`, each appended
    /// and flushed; `pending` stays set when the socket may hold more. Returns how many it took.
    ///
    /// A batch shorter than `udp::BATCH` emptied the socket's queue (recvmmsg stops early only
    /// at EAGAIN or an error), so the socket is not asked again until epoll says so: a datagram
    /// that came after the call makes the socket ready again, edge-triggered or not. That saves
    /// a recvmmsg per wake-up that would only say EAGAIN.
    fn receive_from(&mut self, which: usize) -> Result<usize, IngestError> {
        let mut taken = 0;
        for _ in 0..UDP_ROUNDS {
            let Some(u) = self.udp.get_mut(which) else {
                return Ok(taken);
            };
            let n = u.batch.recv(&u.socket)?;
            if n < udp::BATCH {
                u.pending = false;
            }
            if n == 0 {
                return Ok(taken);
            }
            self.take_datagrams(which, n)?;
            taken += n;
            if n < udp::BATCH {
                return Ok(taken);
            }
        }
        // Stopped before WouldBlock: come back after the other sockets had their turn.
        if let Some(u) = self.udp.get_mut(which) {
            u.pending = true;
        }
        Ok(taken)
    }

    /// Append the `n` datagrams the UDP socket `self.udp[which]` just received, flush them, and
    /// queue the answers to the informs among them; counted once the flush succeeded.
    fn take_datagrams(&mut self, which: usize, n: usize) -> Result<(), IngestError> {
        let Some(u) = self.udp.get(which) else {
            return Ok(());
        };
        let (wal, acks, metrics) = (&mut self.wal, &mut self.acks, &*self.metrics);
        let received_at_us = now_us();
        let now = Instant::now();
        if !wal.space.may_write(now) {
            // The disk is full and the next retry has not come: take the datagrams off the
            // socket and drop them, counted.
            wal.space.dropped_disk_full(n as u64, metrics);
            return Ok(());
        }
        // Acks up to `acks_safe` answer written records (or need none); counts likewise.
        let mut acks_safe = acks.len();
        let (mut accepted, mut dropped, mut cut_count) = (0u64, 0u64, 0u64);
        let (mut flushed, mut flushed_cut) = (0u64, 0u64);
        let mut looked = 0;
        let mut disk_full = false;
        for i in 0..n {
            looked = i + 1;
            let Some((payload, source, cut)) = u.batch.get(i) else {
                continue;
            };
            let meta = RecordMeta {
                received_at_us,
                source,
                transport: Transport::Udp as u8,
                listener: u.listener as u8,
                flags: if cut { flags::TRUNCATED } else { 0 },
            };
            let (ack, key, inform) = match u.listener {
                Listener::Snmp => match self.informs.decide(payload, now) {
                    Decision::Store { ack, key, inform } => (ack, key, inform),
                    Decision::AnswerOnly { reply, inform } => {
                        acks.push((source, reply, inform));
                        continue;
                    }
                },
                Listener::Syslog => (None, None, false),
            };
            match wal.writer.append(&meta, payload)? {
                Appended::Seq(_) => {
                    accepted += 1;
                    cut_count += u64::from(cut);
                    if let Some(ack) = ack {
                        acks.push((source, ack, inform));
                    }
                    if let Some(key) = key {
                        // A v3 inform is remembered (so a retransmission, maybe later in this
                        // very batch, is answered but not stored again) only once written.
                        if !wal.flush(metrics, now)? {
                            disk_full = true;
                            break;
                        }
                        self.informs.accepted(key, now);
                        (flushed, flushed_cut, acks_safe) = (accepted, cut_count, acks.len());
                    }
                }
                Appended::Full => dropped += 1,
            }
        }
        if !disk_full && wal.flush(metrics, now)? {
            (flushed, flushed_cut) = (accepted, cut_count);
        } else {
            // Nothing after the last good flush was written: no counts, no Responses for it.
            acks.truncate(acks_safe);
            let lost = accepted - flushed + (n - looked) as u64;
            wal.space.dropped_disk_full(lost, metrics);
        }
        let counter = match u.listener {
            Listener::Snmp => &metrics.accepted_snmp,
            Listener::Syslog => &metrics.accepted_syslog_udp,
        };
        Metrics::add(counter, flushed);
        Metrics::add(&metrics.truncated, flushed_cut);
        if dropped > 0 || flushed > 0 {
            wal.space.at_budget(dropped > 0, dropped, metrics);
        }
        Ok(())
    }

    /// Sync the WAL when its policy says so, then send the answers.
    fn sync_and_ack(&mut self) -> Result<(), WalError> {
        if self.wal.writer.sync_due() {
            self.wal.writer.sync()?;
        }
        self.send_acks()
    }

    /// Send the queued datagrams from the SNMP socket. The records they acknowledge were
    /// flushed; an fsync first makes them durable whatever the WAL's sync policy (one per
    /// receive batch that holds informs; nothing to do when the WAL is already synced).
    fn send_acks(&mut self) -> Result<(), WalError> {
        if self.acks.is_empty() {
            return Ok(());
        }
        self.wal.writer.sync()?;
        if let Some(u) = self.udp.iter().find(|u| u.token == SNMP_UDP) {
            let mut sent = 0;
            for (addr, bytes, counted) in self.acks.iter() {
                match u.socket.send_to(bytes, *addr) {
                    Ok(_) => sent += u64::from(*counted),
                    Err(e) => debug!(peer = %addr, error = %e, "inform response not sent"),
                }
            }
            Metrics::add(&self.metrics.informs_acked, sent);
        }
        self.acks.clear();
        Ok(())
    }

    /// After `stop`: take what the open connections hold, sync the WAL, send the last answers.
    fn finish(mut self) -> Result<(), IngestError> {
        info!(
            connections = self.connections.len(),
            "ingest stopping: closing listeners"
        );
        self.connections.take_at_shutdown(&mut self.wal)?;
        self.wal.writer.sync()?;
        self.send_acks()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gather_leaves_a_burst_three_quarters_of_the_receive_buffer() {
        // Debian's default buffer: a quarter fills in 160 µs at 400,000/s; the floor holds.
        assert_eq!(gather_time(212_992), GATHER_MIN);
        // 1 MiB (about 1,260 datagrams): a quarter is 315 of them, 787 µs at 400,000/s.
        assert_eq!(gather_time(1 << 20), Duration::from_micros(787));
        // 4 MiB and up (what the shipped 32 MiB request gets as root, or with rmem_max raised).
        assert_eq!(gather_time(8 << 20), GATHER_MAX);
        assert_eq!(gather_time(usize::MAX), GATHER_MAX);
    }
}
