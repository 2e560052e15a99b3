//! A small HTTP listener for operators' tools: `GET /metrics` in the Prometheus text format and
//! `GET /health`. One request per connection, each on a short-lived thread (at most 8 at once),
//! with a bounded request size and a whole-request deadline; it reads the shared counters and
//! never touches the pipeline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tracing::{debug, info, warn};

use crate::health::Health;
use crate::metrics::{udp_rcvbuf_errors, Metrics};
use crate::wal::WalHandle;

/// `metrics:` in mutt_config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    pub enabled: bool,
    /// Address of the listener; keep it on loopback or a management network.
    pub listen: SocketAddr,
    /// `/health` answers 503 when storage has not advanced for this long while records wait in
    /// the WAL. Default 30, at least 1.
    pub stall_after_seconds: u64,
}

impl MetricsSection {
    pub fn stall_after(&self) -> Duration {
        Duration::from_secs(self.stall_after_seconds.max(1))
    }
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9162)),
            stall_after_seconds: 30,
        }
    }
}

/// Longest request head read; anything longer is answered 431 and closed.
const MAX_REQUEST: usize = 8 * 1024;

/// Start the listener thread. A port that cannot be bound is logged and skipped: metrics must
/// never keep MUTT from receiving.
pub fn start(
    cfg: &MetricsSection,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    wal: WalHandle,
    stop: Arc<AtomicBool>,
) -> Option<thread::JoinHandle<()>> {
    if !cfg.enabled {
        return None;
    }
    let listener = match TcpListener::bind(cfg.listen) {
        Ok(l) => l,
        Err(e) => {
            warn!(addr = %cfg.listen, error = %e, "metrics listener not started");
            return None;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "metrics and health on http://{addr}/metrics and /health");
    }
    let _ = listener.set_nonblocking(true);
    thread::Builder::new()
        .name("mutt-metrics".into())
        .spawn(move || {
            serve(
                listener,
                Served {
                    metrics,
                    health,
                    wal,
                },
                &stop,
            )
        })
        .ok()
}

/// What a request reads; cloned into each connection's thread.
#[derive(Clone)]
struct Served {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    wal: WalHandle,
}

/// Connections answered at once; one more is refused with 503 until one ends.
const MAX_CLIENTS: usize = 8;
/// A request must arrive whole within this, however slowly its bytes come.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);

/// Accept connections and answer each on a thread of its own, so a client that dribbles its
/// request holds only its own thread, for at most `REQUEST_DEADLINE`. Connection threads are not
/// joined: shutdown never waits for a client.
fn serve(listener: TcpListener, served: Served, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut stream, peer)) => {
                if active.load(Ordering::Relaxed) >= MAX_CLIENTS {
                    let _ = stream.set_nonblocking(false).and_then(|()| {
                        stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
                        respond(
                            &mut stream,
                            "503 Service Unavailable",
                            "text/plain",
                            "busy\n",
                        )
                    });
                    continue;
                }
                active.fetch_add(1, Ordering::Relaxed);
                let (served, active) = (served.clone(), active.clone());
                let spawned = thread::Builder::new()
                    .name("mutt-metrics-conn".into())
                    .spawn(move || {
                        if let Err(e) = answer(stream, &served) {
                            debug!(%peer, error = %e, "metrics request failed");
                        }
                        active.fetch_sub(1, Ordering::Relaxed);
                    });
                if let Err(e) = spawned {
                    debug!(error = %e, "metrics connection thread not started");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                debug!(error = %e, "metrics accept failed");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn answer(mut stream: TcpStream, served: &Served) -> io::Result<()> {
    let (metrics, health, wal) = (&served.metrics, &served.health, &served.wal);
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "request too slow"));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            );
        }
    }
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(b"");
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
    match (method, path) {
        (b"GET", b"/metrics") => respond(
            &mut stream,
            "200 OK",
            "text/plain; version=0.0.4",
            &prometheus_text(metrics, wal),
        ),
        (b"GET", b"/health") => {
            let report = health.check(metrics, wal.published_seq());
            let status = if report.is_healthy() {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let body = report.to_json() + "\n";
            respond(&mut stream, status, "application/json", &body)
        }
        (b"GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found\n"),
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", ""),
    }
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Every counter as `mutt_<name>_total`, plus the WAL gauges and the kernel's UDP drops.
pub fn prometheus_text(metrics: &Metrics, wal: &WalHandle) -> String {
    let mut out = String::with_capacity(4096);
    for (name, help, value) in metrics.counters() {
        if name == "checkpoint" {
            continue;
        }
        counter(&mut out, &format!("mutt_{name}_total"), help, value);
    }
    let gauges: [(&str, &str, u64); 4] = [
        (
            "mutt_wal_published_seq",
            "Last WAL sequence accepted.",
            wal.published_seq(),
        ),
        (
            "mutt_checkpoint_seq",
            "Last WAL sequence stored in the database.",
            Metrics::get(&metrics.checkpoint),
        ),
        (
            "mutt_wal_disk_bytes",
            "Bytes of WAL segments on disk.",
            wal.disk_bytes(),
        ),
        (
            "mutt_wal_corrupt_records",
            "WAL regions skipped as corrupt since start.",
            wal.corrupt_records(),
        ),
    ];
    for (name, help, value) in gauges {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    }
    if let Some(drops) = udp_rcvbuf_errors() {
        counter(
            &mut out,
            "mutt_kernel_udp_rcvbuf_errors_total",
            "UDP datagrams the kernel dropped for a full receive buffer (whole host).",
            drops,
        );
    }
    out
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    ));
}
