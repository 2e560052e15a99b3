//! The HTTP listener for operators' tools: `GET /metrics` in the Prometheus text format and
//! `GET /health`. It reads the shared metrics and `Health`, and never touches the pipeline.
//!
//! The server is hyper's (HTTP/1.1, one request per connection) on a single-threaded tokio
//! runtime on a thread of its own: each client is a task, not a thread, so a client that dribbles
//! its request holds only its task, and only for `REQUEST_DEADLINE`, the deadline for the whole
//! exchange. At most `MAX_CLIENTS` are answered at once; one more is told 503 busy. Stopping ends
//! the accept loop and drops the runtime with its tasks: shutdown never waits on a client. The
//! exposition is prometheus-client's encoder over the registry built once at start.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Semaphore};
use tracing::{debug, info, warn};

use crate::config::MetricsSection;
use crate::health::Health;
use crate::metrics::{udp_rcvbuf_errors, Metrics};
use crate::wal::WalHandle;

/// Longest request head read (hyper's smallest buffer); anything longer is answered 431.
const MAX_REQUEST: usize = 8 * 1024;
/// Connections answered at once; one more is answered 503 until one ends.
const MAX_CLIENTS: usize = 8;
/// A request must arrive, and its answer leave, within this, however slowly its bytes come.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);

/// The bound listener and what it serves; [`MetricsServer::run`] serves until
/// [`StopMetrics::stop`], on a thread of its own.
pub struct MetricsServer {
    listener: std::net::TcpListener,
    served: Arc<Served>,
    stopped: oneshot::Receiver<()>,
}

/// Ends a [`MetricsServer`]'s run.
pub struct StopMetrics(oneshot::Sender<()>);

impl StopMetrics {
    /// Stop accepting and drop every open connection; the server's `run` returns at once, without
    /// waiting for any client.
    pub fn stop(self) {
        let _ = self.0.send(());
    }
}

/// Bind the listener. A port that cannot be bound is logged and skipped: metrics must never keep
/// MUTT from receiving.
pub fn bind(
    cfg: &MetricsSection,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    wal: WalHandle,
    udp_inodes: Vec<(&'static str, u64)>,
) -> Option<(MetricsServer, StopMetrics)> {
    if !cfg.enabled {
        return None;
    }
    let listener = match bind_nonblocking(cfg.listen) {
        Ok(l) => l,
        Err(e) => {
            warn!(addr = %cfg.listen, error = %e, "metrics listener not started");
            return None;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "metrics and health on http://{addr}/metrics and /health");
    }
    let mut registry = Registry::with_prefix("mutt");
    metrics.register(&mut registry);
    registry.register_collector(Box::new(WalGauges(wal.clone())));
    registry.register_collector(Box::new(SocketDrops(udp_inodes)));
    let served = Arc::new(Served {
        registry,
        metrics,
        health,
        wal,
    });
    let (stop, stopped) = oneshot::channel();
    let server = MetricsServer {
        listener,
        served,
        stopped,
    };
    Some((server, StopMetrics(stop)))
}

fn bind_nonblocking(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// What a request reads; shared by the connection tasks.
struct Served {
    registry: Registry,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    wal: WalHandle,
}

impl MetricsServer {
    /// The bound address (the port when `metrics.listen` asked for 0).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serve until stopped; open connections are dropped then, whatever their clients are doing.
    pub fn run(self) {
        let MetricsServer {
            listener,
            served,
            stopped,
        } = self;
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "metrics listener not started");
                return;
            }
        };
        runtime.block_on(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => accept_until(listener, served, stopped).await,
                Err(e) => warn!(error = %e, "metrics listener not started"),
            }
        });
        runtime.shutdown_background();
    }
}

async fn accept_until(
    listener: tokio::net::TcpListener,
    served: Arc<Served>,
    mut stopped: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: let some close before trying again.
                debug!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(busy(stream));
            continue;
        };
        let served = served.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(|req| {
                let served = served.clone();
                async move { Ok::<_, Infallible>(answer(&req, &served)) }
            });
            let exchange = http1::Builder::new()
                .keep_alive(false)
                .max_buf_size(MAX_REQUEST)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(REQUEST_DEADLINE, exchange).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(%peer, error = %e, "metrics request failed"),
                Err(_) => debug!(%peer, "metrics request too slow: dropped"),
            }
        });
    }
}

/// Answer 503 without reading the request, then read what the client sends until it closes (or
/// the deadline): closing with its request unread would reset the connection and lose the answer.
async fn busy(mut stream: tokio::net::TcpStream) {
    let answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
        Content-Length: 5\r\nConnection: close\r\n\r\nbusy\n";
    let _ = tokio::time::timeout(REQUEST_DEADLINE, async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

fn answer(req: &Request<Incoming>, served: &Served) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", String::new());
    }
    match req.uri().path() {
        "/metrics" => {
            let mut text = String::with_capacity(8192);
            match prometheus_text::encode(&mut text, &served.registry) {
                Ok(()) => reply(StatusCode::OK, prometheus_text::CONTENT_TYPE, text),
                Err(fmt::Error) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "metrics could not be encoded\n".into(),
                ),
            }
        }
        "/health" => {
            let report = served
                .health
                .check(&served.metrics, served.wal.published_seq());
            let status = if report.is_healthy() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            reply(status, "application/json", report.to_json() + "\n")
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

fn reply(status: StatusCode, kind: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static(kind));
    response
}

/// The kernel's drops on MUTT's own UDP sockets (listener name, socket inode), read from
/// /proc/net/udp at each scrape: what was lost before MUTT could accept it.
#[derive(Debug)]
struct SocketDrops(Vec<(&'static str, u64)>);

impl Collector for SocketDrops {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let inodes: Vec<u64> = self.0.iter().map(|(_, inode)| *inode).collect();
        let drops = crate::metrics::udp_socket_drops(&inodes);
        if drops.iter().all(Option::is_none) {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "udp_socket_drops",
            "UDP datagrams the kernel dropped on this listener's socket (its receive buffer was \
             full): lost before MUTT could accept them.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for ((listener, _), dropped) in self.0.iter().zip(drops) {
            if let Some(dropped) = dropped {
                let labels = [("listener", *listener)];
                ConstCounter::new(dropped).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// What the WAL and the kernel know, read at each scrape.
struct WalGauges(WalHandle);

impl fmt::Debug for WalGauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WalGauges")
    }
}

impl Collector for WalGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let wal = &self.0;
        for (name, help, value) in [
            (
                "wal_published_seq",
                "Last WAL sequence accepted.",
                wal.published_seq(),
            ),
            (
                "wal_disk_bytes",
                "Bytes of WAL segments on disk.",
                wal.disk_bytes(),
            ),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let mut counters = vec![(
            "wal_corrupt_records",
            "WAL regions skipped as corrupt since start.",
            wal.corrupt_records(),
        )];
        if let Some(drops) = udp_rcvbuf_errors() {
            counters.push((
                "kernel_udp_rcvbuf_errors",
                "UDP datagrams the kernel dropped for a full receive buffer (whole host).",
                drops,
            ));
        }
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}
