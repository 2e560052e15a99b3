//! MUTT's web UI: read-only pages over the collector's database (SQLite or PostgreSQL), served
//! by axum on a small tokio runtime of its own thread, so a page never competes with ingest for
//! a worker.
//!
//! The map: [`filter`] turns a query string into typed filters and id bounds (pure), [`db`]
//! runs a page's queries on a read-only connection of `mutt-query` (the one query layer: each
//! query is written once and runs on either backend) on a blocking thread, the page modules ([`messages`],
//! [`detail`], [`tail`], [`tables`], [`health`], [`export`]) query and render with maud, which
//! escapes every value it interpolates. On SQLite a device address is read through the
//! collector's block index ([`device_rows`]): the same rows in the same order as the plain
//! query. Every response carries a strict Content-Security-Policy; the only script is a static
//! file.
//!
//! The crate does not depend on `mutt` (mutt embeds it): it knows the schema only as the
//! columns it reads, documented in docs/ARCHITECTURE.md.

mod assets;
pub mod auth;
mod db;
mod detail;
mod device_rows;
mod export;
pub mod filter;
mod health;
mod histogram;
mod html;
mod messages;
mod tables;
mod tail;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::oneshot;

pub use mutt_query::{PgSource, Source};

pub use messages::{PAGE, SCAN_CAP};

/// The policy on every response: only this origin's script and style, no framing, no base or
/// foreign form targets. No page has inline script or style.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What the UI serves and from where.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Address to listen on; port 0 picks a free one ([`WebHandle::addr`] tells which).
    pub listen: SocketAddr,
    /// The collector's database: the SQLite file (a read-only connection per request) or
    /// PostgreSQL (read-only sessions, a few kept for reuse).
    pub database: Source,
    /// The daemon's Prometheus endpoint (`http://127.0.0.1:9162/metrics`), read for the health
    /// page; None when the daemon serves no metrics.
    pub metrics_url: Option<String>,
    /// Who may log in (HTTP Basic against argon2 hashes); None: no login, anyone who reaches
    /// `listen` sees the pages.
    pub users: Option<Vec<auth::WebUser>>,
}

/// Why the UI could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("web UI: cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("web UI: cannot start its runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("web UI: cannot start its thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("web UI: user {user}: password_hash: {message}")]
    Auth { user: String, message: String },
}

/// A running UI: where it listens, and how to stop it.
pub struct WebHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WebHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving and wait for the thread: open streams are cut, queries in flight get a
    /// second to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Wait until the UI stops on its own (it does not, unless its runtime fails).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WebHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub pool: Arc<mutt_query::Pool>,
    pub metrics_url: Option<String>,
    pub users: Option<Vec<auth::WebUser>>,
}

pub(crate) type State = axum::extract::State<Arc<AppState>>;

/// Bind `config.listen` and serve on a new thread with a single-threaded runtime. Queries run on
/// the runtime's blocking pool (at most [`BLOCKING_THREADS`]).
pub fn start(config: WebConfig) -> Result<WebHandle, WebError> {
    for u in config.users.iter().flatten() {
        auth::check_hash(&u.password_hash).map_err(|message| WebError::Auth {
            user: u.name.clone(),
            message,
        })?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("mutt-web-query")
        .build()
        .map_err(WebError::Runtime)?;
    let listener = std::net::TcpListener::bind(config.listen).map_err(|source| WebError::Bind {
        addr: config.listen,
        source,
    })?;
    let bind_err = |source| WebError::Bind {
        addr: config.listen,
        source,
    };
    let addr = listener.local_addr().map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(bind_err)?
    };
    let app = router(Arc::new(AppState {
        pool: db::pool(config.database),
        metrics_url: config.metrics_url,
        users: config.users,
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("mutt-web".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    r = axum::serve(listener, app) => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "web UI stopped");
                        }
                    }
                    _ = stopped => {}
                }
            });
            // Live-tail streams never end on their own: dropping the runtime cuts them.
            runtime.shutdown_timeout(Duration::from_secs(1));
        })
        .map_err(WebError::Thread)?;
    tracing::info!(%addr, "web UI listening");
    Ok(WebHandle {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// How long a page's queries may run, in seconds (and a PostgreSQL connect, by mutt's choice).
pub const DEADLINE_SECS: u64 = db::DEADLINE.as_secs();

/// Blocking threads for queries: two cores are shared with ingest and the writer.
pub const BLOCKING_THREADS: usize = 4;

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(messages::page))
        .route("/messages/{id}", get(detail::page))
        .route("/tail", get(tail::page))
        .route("/events", get(tail::events))
        .route("/export", get(export::export))
        .route("/devices", get(tables::devices))
        .route("/devices/{ip}", get(tables::device))
        .route("/alerts", get(tables::alerts))
        .route("/rules", get(tables::rules))
        .route("/snmpv3", get(tables::snmpv3))
        .route("/archives", get(tables::archives))
        .route("/health", get(health::page))
        .route("/assets/{name}", get(assets::serve))
        .fallback(html::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
