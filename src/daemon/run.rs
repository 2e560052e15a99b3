//! The run and stop sequence of `mutt run` and `mutt replay`: open the WAL, bind the listeners,
//! start the stages, wait, and shut down in order — stop listening, flush and sync the WAL, drain
//! it into the database, then stop the webhook sender, the reloader, the metrics listener and the
//! web UI.
//!
//! The main thread sleeps on events: it waits with `select!` on the signal requests
//! ([`SignalRequests`]), on the ingest and drain threads' ends ([`Stage::ended`]) and on a tick.
//! The drain is awaited the same way, with the shutdown timeout as a deadline, and `replay` waits
//! on the drain's end. What stays periodic, and why:
//! - the tick, every [`HEALTH_EVERY`]: [`Health::check`] looks for conditions that are the
//!   absence of an event (a checkpoint that has not moved for `stall_after`) or flags ingest sets
//!   without waking anyone (WAL shedding, disk full), so each is logged as it starts and ends even
//!   when nobody asks `/health`; the counters summary rides on it every [`SUMMARY_EVERY`];
//! - `replay`'s progress bar, redrawn every [`PROGRESS_EVERY`] while it waits for the drain.
//!
//! A SIGHUP is passed on to the reloader (`pipeline::reload`) on its channel of requests, and the
//! webhook sender is stopped by dropping its stop channel; both wait on their channel with a
//! timeout. Outside this module, the reloader still looks at the files' modification times every
//! second and the webhook sender polls its outbox: nothing tells them of a changed file or a
//! queued alert.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Sender};
use tracing::{info, warn};

use super::process::{PidFile, Request, SignalRequests};
use super::resources::{Decoding, Resources};
use super::threads::{self, Stage};
use super::DaemonError;
use crate::agent::engine::EngineState;
use crate::config::Config;
use crate::decode::snmp::SharedUsm;
use crate::health::Health;
use crate::ingest::tls::TlsListener;
use crate::ingest::{self, IngestOptions, Sockets, StreamLimits};
use crate::metrics::Metrics;
use crate::metrics_http::StopMetrics;
use crate::output::webhook;
use crate::pipeline::reload::{ReloadRequest, Reloader, Watched};
use crate::pipeline::{self, PipelineOptions, SharedRules};
use crate::store::auth_failures::AuthFailures;
use crate::store::devices::DeviceRegistry;
use crate::store::postgres::{PgOutbox, PgSettings, PgStore, PgTls};
use crate::store::{MessageSink, Store, StoreError};
use crate::wal::{self, WalHandle};

/// How often the main thread evaluates health.
const HEALTH_EVERY: Duration = Duration::from_millis(100);
/// How often the counters are logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);
/// How often `replay` redraws its progress bar.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// How long an aborted drain is given to end.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// `mutt run`: until SIGINT/SIGTERM.
pub fn run(cfg: &Config) -> Result<(), DaemonError> {
    let Resources {
        decoding,
        tls,
        warnings,
    } = Resources::load(cfg)?;
    for w in warnings {
        warn!("{w}");
    }
    info!(
        budget_mb = cfg.wal_max_size_mb(),
        "storage.file_buffer is served by the WAL; its path is not used"
    );
    let (writer, wal) = open_wal(cfg)?;
    let engine = start_engine(cfg)?;
    let sockets = bind_sockets(cfg, tls).map_err(DaemonError::Bind)?;
    let _pid = cfg
        .daemon
        .pid_file
        .as_deref()
        .map(PidFile::create)
        .transpose()?;
    let health = Health::new(cfg.metrics.stall_after());
    let signals = SignalRequests::catch(&health)?;
    let running = Running::start(cfg, decoding, engine, sockets, writer, wal, health)?;
    info!("MUTT running");
    running.wait_for_stop(&signals);
    running.stop(cfg, &signals)
}

/// A running daemon: what its threads share, and the threads in the order they start.
struct Running {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    wal: WalHandle,
    /// SIGHUP's requests to the reloader; dropping it stops the reloader.
    reload: Sender<ReloadRequest>,
    /// Tell the drain that ingest is done, or to give up.
    control: Arc<pipeline::Control>,
    processing: Stage<Result<(), pipeline::PipelineError>>,
    /// Dropped to stop the webhook sender, after processing has drained.
    stop_webhooks: Sender<Infallible>,
    webhooks: Stage<()>,
    metrics_http: Option<(Stage<()>, StopMetrics)>,
    /// The archiver (`storage.archiver.enabled`) and the channel whose drop stops it.
    archiver: Option<Archiver>,
    /// The web UI, when `web.enabled` and its port could be bound.
    web: Option<mutt_web::WebHandle>,
    reloader: Stage<()>,
    stop_ingest: Arc<AtomicBool>,
    ingesting: Stage<Result<(), ingest::IngestError>>,
}

impl Running {
    fn start(
        cfg: &Config,
        decoding: Decoding,
        engine: EngineState,
        sockets: Sockets,
        writer: wal::Writer,
        wal: WalHandle,
        health: Arc<Health>,
    ) -> Result<Running, DaemonError> {
        let metrics = Arc::new(Metrics::default());
        let (rules, usm) = (decoding.rules.clone(), decoding.usm.clone());
        let control = Arc::new(pipeline::Control::default());
        let processing = spawn_pipeline(cfg, wal.clone(), decoding, &metrics, &control, &health)?;
        // Webhook sender: started after the pipeline (which creates the outbox), stopped after it.
        let (stop_webhooks, stop) = crossbeam_channel::bounded(0);
        let webhooks = {
            let (db, outputs) = (cfg.storage.database.path.clone(), cfg.outputs.clone());
            let pg = pg_settings(cfg);
            threads::spawn(&health, "mutt-webhook", move || match pg {
                Some(settings) => webhook::run(PgOutbox::new(settings), &outputs, &stop),
                None => webhook::run_sqlite(&db, &outputs, &stop),
            })?
        };
        let (metrics_http, metrics_addr) =
            spawn_metrics_http(cfg, &metrics, &health, &wal, sockets.udp_inodes());
        let archiver = spawn_archiver(cfg, &metrics, &health)?;
        let web = super::web::start_for_daemon(cfg, metrics_addr);
        let (reloader, reload) = spawn_reloader(cfg, &rules, &usm, &health)?;
        let stop_ingest = Arc::new(AtomicBool::new(false));
        let ingesting = {
            let opts = ingest_options(cfg, engine, usm);
            let (metrics, stop) = (metrics.clone(), stop_ingest.clone());
            threads::spawn(&health, "mutt-ingest", move || {
                ingest::run(sockets, writer, opts, metrics, stop)
            })?
        };
        Ok(Running {
            metrics,
            health,
            wal,
            reload,
            control,
            processing,
            stop_webhooks,
            webhooks,
            metrics_http,
            archiver,
            web,
            reloader,
            stop_ingest,
            ingesting,
        })
    }

    /// Until SIGINT/SIGTERM, or until ingest or the drain ends on its own (a fatal error). Each
    /// tick evaluates health, which logs each unhealthy condition as it starts and ends, also
    /// when nobody asks `/health`.
    fn wait_for_stop(&self, signals: &SignalRequests) {
        let tick = crossbeam_channel::tick(HEALTH_EVERY);
        let mut last_summary = Instant::now();
        loop {
            select! {
                recv(signals.requests()) -> request => {
                    if requested(request, &self.reload) == Some(Request::Stop) {
                        return;
                    }
                }
                recv(self.ingesting.ended()) -> _ => return,
                recv(self.processing.ended()) -> _ => return,
                recv(tick) -> _ => {
                    self.health.check(&self.metrics, self.wal.published_seq());
                    if last_summary.elapsed() >= SUMMARY_EVERY {
                        last_summary = Instant::now();
                        info!(counters = %self.metrics.summary(), "counters");
                    }
                }
            }
        }
    }

    /// Stop in order: ingest (which flushes and syncs the WAL), the drain (at most
    /// `daemon.shutdown_timeout_seconds`, or until a second signal), the webhook sender, the
    /// reloader, the metrics listener and the web UI.
    fn stop(self, cfg: &Config, signals: &SignalRequests) -> Result<(), DaemonError> {
        let Running {
            metrics,
            health,
            wal,
            reload,
            control,
            processing,
            stop_webhooks,
            webhooks,
            metrics_http,
            archiver,
            web,
            reloader,
            stop_ingest,
            ingesting,
        } = self;
        health.stopping();
        // First, so that the drain does not share the database with it: a check in progress
        // stops at its next chunk, and the next start finishes what it left.
        if let Some((thread, stop)) = archiver {
            drop(stop);
            if thread.join().is_err() {
                warn!("archiver thread panicked");
            }
        }
        info!("stopping: no longer listening; draining the WAL into the database");
        stop_ingest.store(true, Ordering::Relaxed);
        let ingest_result = ingesting.join();
        control.ingest_done.store(true, Ordering::Release);
        let timeout = cfg.daemon.shutdown_timeout();
        let drained = wait_for_drain(&processing, &control, signals, &reload, timeout);
        // The drained batches' alerts are queued; the rest are sent after a restart. An
        // in-flight POST finishes first (bounded by its target's timeout).
        drop(stop_webhooks);
        if webhooks.join().is_err() {
            warn!("webhook sender thread panicked");
        }
        drop(reload);
        let _ = reloader.join();
        if let Some((thread, stop)) = metrics_http {
            stop.stop();
            let _ = thread.join();
        }
        if let Some(web) = web {
            web.stop();
        }
        info!(counters = %metrics.summary(), "stopped");
        joined("ingest", ingest_result)?;
        if !drained {
            // The processing thread may be inside a database call that waits on a lock; it is
            // left to end with the process. The WAL is flushed and synced: nothing is lost.
            let left = wal
                .published_seq()
                .saturating_sub(Metrics::get(&metrics.checkpoint));
            return Err(DaemonError::NotDrained {
                timeout_seconds: timeout.as_secs(),
                left,
            });
        }
        joined("processing", processing.join())
    }
}

/// The archiver thread, and the channel whose drop stops it.
type Archiver = (Stage<()>, Sender<Infallible>);

/// The archiver thread, when `storage.archiver.enabled`.
fn spawn_archiver(
    cfg: &Config,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
) -> Result<Option<Archiver>, DaemonError> {
    if !cfg.storage.archiver.enabled {
        return Ok(None);
    }
    let (stop_tx, stop) = crossbeam_channel::bounded::<Infallible>(0);
    let db = crate::archive::Database::from_config(cfg);
    let section = cfg.storage.archiver.clone();
    let metrics = metrics.clone();
    let thread = threads::spawn(health, "mutt-archiver", move || {
        crate::archive::scheduled::run(&db, &section, &metrics, &stop)
    })?;
    Ok(Some((thread, stop_tx)))
}

/// What a signal asks, once a reload is passed on to the reloader.
fn requested<E>(request: Result<Request, E>, reload: &Sender<ReloadRequest>) -> Option<Request> {
    let request = request.ok()?;
    if request == Request::Reload {
        // Full: a reload is already waiting, and it will read the files as they are now.
        // Disconnected: the reloader has died, which /health reports.
        let _ = reload.try_send(ReloadRequest);
    }
    Some(request)
}

/// Wait for processing to drain the WAL, at most `timeout` (a second SIGINT/SIGTERM gives up at
/// once). False when it did not finish: it is told to abort, and given a moment to.
fn wait_for_drain<T>(
    processing: &Stage<T>,
    control: &pipeline::Control,
    signals: &SignalRequests,
    reload: &Sender<ReloadRequest>,
    timeout: Duration,
) -> bool {
    let deadline = crossbeam_channel::after(timeout);
    loop {
        select! {
            recv(processing.ended()) -> _ => return true,
            recv(signals.requests()) -> request => {
                if requested(request, reload) == Some(Request::Stop) {
                    warn!("second signal: stopping now; unprocessed messages stay in the WAL");
                    break;
                }
            }
            recv(deadline) -> _ => {
                warn!(
                    seconds = timeout.as_secs(),
                    "shutdown timeout: the WAL could not be drained into the database"
                );
                break;
            }
        }
    }
    if processing.is_done() {
        return true;
    }
    control.abort.store(true, Ordering::Relaxed);
    processing.wait(ABORT_GRACE);
    false
}

/// A stage thread's outcome as the daemon's.
fn joined<E>(what: &'static str, result: thread::Result<Result<(), E>>) -> Result<(), DaemonError>
where
    DaemonError: From<E>,
{
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(DaemonError::Panicked(what)),
    }
}

/// Open the WAL (taking its lock and repairing a torn tail) and start its sequence after the
/// database's checkpoint.
fn open_wal(cfg: &Config) -> Result<(wal::Writer, wal::WalHandle), DaemonError> {
    let (mut writer, wal, report) = wal::open(&cfg.wal_config(None))?;
    info!(
        dir = %cfg.wal.path.display(),
        segments = report.segments,
        last_seq = report.last_seq,
        truncated_tail_bytes = report.truncated_tail_bytes,
        "WAL opened"
    );
    // Records the checkpoint covers may have been torn off the WAL by a power loss (relaxed sync):
    // their sequence numbers must not be reused, or the drain would skip the new records.
    let checkpoint = match pg_settings(cfg) {
        // PostgreSQL must answer once at start: the schema is migrated (or refused) here, and a
        // wrong URL, password or sslmode is a configuration error, not an outage to wait out.
        Some(settings) => {
            info!(
                target_db = %settings.target(),
                collector_id = %settings.collector_id,
                "storage.backend is postgresql: messages, devices, rule counters, SNMPv3 \
                 failures and webhook alerts go there, and the web UI and the archiver read them \
                 there"
            );
            let mut store = PgStore::open(settings).map_err(|error| DaemonError::Storage {
                config: cfg.source.clone(),
                key: error.config_key(),
                error,
            })?;
            prepare_partitions(cfg);
            store.checkpoint()
        }
        None => Store::open(&cfg.storage.database.path, Duration::from_secs(1))
            .and_then(|mut s| s.checkpoint()),
    };
    match checkpoint {
        Ok(checkpoint) => writer.continue_after(checkpoint),
        Err(e) => warn!(error = %e, "database not readable at start; processing will retry"),
    }
    Ok((writer, wal))
}

/// MUTT's SNMPv3 engine: its ID and a new engineBoots, persisted beside the WAL.
fn start_engine(cfg: &Config) -> Result<EngineState, DaemonError> {
    let engine = crate::ingest::engine_file::start(&cfg.wal.path, cfg.snmpv3.engine_id_octets())
        .map_err(DaemonError::EngineFile)?;
    info!(
        engine_id = %crate::hex::encode(&engine.engine_id),
        boots = engine.boots,
        "SNMPv3 engine"
    );
    Ok(engine)
}

/// The thread that reloads the rules and credentials files, and the sender of its requests
/// (dropping it stops the thread).
fn spawn_reloader(
    cfg: &Config,
    rules: &SharedRules,
    usm: &SharedUsm,
    health: &Arc<Health>,
) -> Result<(Stage<()>, Sender<ReloadRequest>), DaemonError> {
    let mut files = Vec::new();
    if let Some(path) = cfg.pattern_matching.rules_file.clone() {
        files.push(Watched::rules(path, rules.clone()));
    }
    if let Some(path) = cfg.snmpv3.credentials_file.clone() {
        files.push(Watched::credentials(path, usm.clone()));
    }
    let (reload, requests) = crossbeam_channel::bounded(1);
    let reloader = Reloader {
        files,
        interval: Duration::from_secs(cfg.pattern_matching.reload_interval_seconds.max(1)),
        requests,
    };
    let thread = threads::spawn(health, "mutt-reload", move || reloader.run())?;
    Ok((thread, reload))
}

/// The metrics and health listener, when it is enabled and its port can be bound: metrics never
/// keep MUTT from receiving, so a failure is logged and MUTT goes on without it. With it, the
/// address it is bound to (for the web UI's health page).
fn spawn_metrics_http(
    cfg: &Config,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
    wal: &WalHandle,
    udp_inodes: Vec<(&'static str, u64)>,
) -> (Option<(Stage<()>, StopMetrics)>, Option<SocketAddr>) {
    let Some((server, stop)) = crate::metrics_http::bind(
        &cfg.metrics,
        metrics.clone(),
        health.clone(),
        wal.clone(),
        udp_inodes,
    ) else {
        return (None, None);
    };
    let addr = server.addr();
    match threads::spawn(health, "mutt-metrics", move || server.run()) {
        Ok(thread) => (Some((thread, stop)), addr),
        Err(e) => {
            warn!(error = %e, "metrics listener thread not started");
            (None, None)
        }
    }
}

fn ingest_options(cfg: &Config, engine: EngineState, usm: SharedUsm) -> IngestOptions {
    let secs = |s: u64| Duration::from_secs(s.max(1));
    IngestOptions {
        snmp_max: cfg.listeners.snmp.buffer_size,
        syslog_max: cfg.listeners.syslog.buffer_size,
        max_connections: cfg.listeners.syslog.max_connections,
        idle_timeout: secs(cfg.listeners.syslog.idle_timeout_seconds),
        tls: StreamLimits {
            max_frame: cfg.listeners.syslog_tls.buffer_size,
            max_connections: cfg.listeners.syslog_tls.max_connections,
            idle_timeout: secs(cfg.listeners.syslog_tls.idle_timeout_seconds),
        },
        engine: Some(Arc::new(engine)),
        usm,
        communities: cfg.snmp.communities.clone(),
    }
}

/// `mutt replay DIR`: drain a WAL directory into the configured database, offline, with a
/// progress bar. Running it twice stores nothing new the second time.
pub fn replay(cfg: &Config, dir: &Path, progress: bool) -> Result<u64, DaemonError> {
    // Replayed alerts are queued (folded as configured) for the next `mutt run`.
    let resources = Resources::load(cfg)?;
    for w in &resources.warnings {
        warn!("{w}");
    }
    let decoding = resources.decoding;
    let (wal, report) = wal::open_offline(&cfg.wal_config(Some(dir)))?;
    let metrics = Arc::new(Metrics::default());
    let control = Arc::new(pipeline::Control::default());
    control.ingest_done.store(true, Ordering::Release);
    // Nothing serves /health here, and the drain is meant to end: its end is no death.
    let health = Health::new(cfg.metrics.stall_after());
    health.stopping();
    let last = report.last_seq;
    let processing = spawn_pipeline(cfg, wal, decoding, &metrics, &control, &health)?;
    let bar = if progress {
        indicatif::ProgressBar::new(last)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} replay [{bar:40}] seq {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while !processing.wait(PROGRESS_EVERY) {
        bar.set_position(Metrics::get(&metrics.checkpoint));
    }
    bar.set_position(Metrics::get(&metrics.checkpoint).max(last));
    bar.finish();
    joined("processing", processing.join())?;
    info!(counters = %metrics.summary(), "replay finished");
    Ok(Metrics::get(&metrics.stored))
}

/// The drain thread (`mutt-drain`), which starts the pipeline's own writer and decode threads.
fn spawn_pipeline(
    cfg: &Config,
    wal: WalHandle,
    decoding: Decoding,
    metrics: &Arc<Metrics>,
    control: &Arc<pipeline::Control>,
    health: &Arc<Health>,
) -> Result<Stage<Result<(), pipeline::PipelineError>>, DaemonError> {
    let db_path = cfg.storage.database.path.clone();
    let timeout = Duration::from_secs_f64(cfg.storage.database.connection_timeout.max(0.0));
    let batch = cfg.processor.batch_write_size;
    let opts = PipelineOptions {
        batch_size: batch,
        queue_batches: (cfg.processor.queue_max_size / batch).max(1),
        batch_timeout: Duration::from_secs_f64(cfg.processor.batch_timeout_seconds),
        default_utc_offset_secs: cfg.default_utc_offset_secs(),
        source_utc_offsets: cfg.source_utc_offsets(),
        // One core stays with ingest.
        workers: thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
        communities: cfg.snmp.communities.clone(),
        dns: cfg
            .enrichment
            .reverse_dns
            .then(|| crate::enrich::Resolver::start(&cfg.enrichment)),
        usm: decoding.usm,
        store_unauthenticated: cfg.snmpv3.store_unauthenticated,
        names: decoding.names,
    };
    let rules = decoding.rules;
    let (metrics, control) = (metrics.clone(), control.clone());
    let max_failure_users = cfg.snmpv3.max_auth_failure_users;
    let max_devices = cfg.storage.database.max_devices;
    let storm_window = cfg.outputs.storm_window();
    let pg = pg_settings(cfg);
    threads::spawn(health, "mutt-drain", move || {
        let counted = metrics.clone();
        let failures = || AuthFailures::new(max_failure_users, Some(counted.clone()));
        let devices = || DeviceRegistry::new(max_devices, Some(counted.clone()));
        pipeline::run(
            wal,
            || -> Result<Box<dyn MessageSink + Send>, StoreError> {
                if let Some(settings) = &pg {
                    let store = PgStore::open(settings.clone())?;
                    return Ok(Box::new(
                        store
                            .with_auth_failures(failures())
                            .with_devices(max_devices, Some(counted.clone()))
                            .with_storm_window(storm_window),
                    ));
                }
                Store::open(&db_path, timeout).map(|s| {
                    Box::new(
                        s.with_auth_failures(failures())
                            .with_devices(devices())
                            .with_storm_window(storm_window),
                    ) as Box<dyn MessageSink + Send>
                })
            },
            rules,
            opts,
            metrics,
            control,
        )
    })
}

/// The PostgreSQL sink's settings when `storage.backend` is postgresql, else None.
pub fn pg_settings(cfg: &Config) -> Option<PgSettings> {
    use crate::config::{Backend, SslMode};
    let pg = &cfg.storage.postgresql;
    if cfg.storage.backend != Backend::Postgresql {
        return None;
    }
    let mut config = pg.url.as_ref()?.0.clone();
    if let Some(p) = &pg.password {
        config.password(p.expose());
    }
    config.application_name("mutt");
    config.connect_timeout(Duration::from_secs(10));
    let tls = match pg.sslmode {
        SslMode::Disable => PgTls::Disable,
        SslMode::Prefer => PgTls::Prefer,
        SslMode::Require => PgTls::Require,
        SslMode::VerifyFull => PgTls::VerifyFull(
            pg.ca
                .as_ref()
                .map(|ca| ca.certificates().to_vec())
                .unwrap_or_default(),
        ),
    };
    Some(PgSettings {
        config,
        tls,
        collector_id: cfg.collector_id().0,
    })
}

/// Partition an empty PostgreSQL `messages` as `storage.postgresql.partition` asks, and make
/// its partitions ahead, before the writer stores (logged; storing never waits on it: the
/// default partition takes what no partition does).
fn prepare_partitions(cfg: &Config) {
    let period = cfg.storage.postgresql.partition;
    match crate::archive::Database::from_config(cfg).prepare_partitions() {
        Ok(crate::archive::partitions::Prepared::Unpartitioned) => {}
        Ok(p @ crate::archive::partitions::Prepared::KeptUnpartitioned) => {
            warn!("{}", p.describe(period))
        }
        Ok(p) => info!("{}", p.describe(period)),
        Err(e) => {
            warn!(error = %e, "cannot prepare the partitions of messages; storing goes on into the table as it is (the default partition, when partitioned)")
        }
    }
}

/// `mutt migrate`: create or upgrade the PostgreSQL schema (SQLite files migrate on open); with
/// `reindex`, rebuild SQLite's index of messages by device (store/blocks.rs).
pub fn migrate(cfg: &Config, reindex: bool) -> Result<String, DaemonError> {
    let Some(settings) = pg_settings(cfg) else {
        let stored = |e| DaemonError::Pipeline(pipeline::PipelineError::from(e));
        let mut store =
            Store::open(&cfg.storage.database.path, Duration::from_secs(1)).map_err(stored)?;
        let mut said = format!(
            "SQLite {}: schema {}",
            cfg.storage.database.path.display(),
            crate::store::schema::SCHEMA_VERSION
        );
        if reindex {
            let (entries, blocks) = store.rebuild_device_index().map_err(stored)?;
            said.push_str(&format!(
                "; device index rebuilt: {entries} entries, {blocks} blocks"
            ));
        }
        return Ok(said);
    };
    let m = PgStore::migrate(&settings).map_err(|error| DaemonError::Storage {
        config: cfg.source.clone(),
        key: error.config_key(),
        error,
    })?;
    let schema = if m.from == m.to {
        format!(
            "PostgreSQL {}: schema {} (up to date)",
            settings.target(),
            m.to
        )
    } else {
        format!(
            "PostgreSQL {}: schema {} -> {}",
            settings.target(),
            m.from,
            m.to
        )
    };
    let period = cfg.storage.postgresql.partition;
    let prepared = crate::archive::Database::from_config(cfg)
        .prepare_partitions()
        .map_err(DaemonError::Partitions)?;
    let reindexed = if reindex {
        "; --reindex: PostgreSQL indexes messages by row, nothing to rebuild"
    } else {
        ""
    };
    Ok(format!(
        "{schema}; {}{reindexed}",
        prepared.describe(period)
    ))
}

/// Bind every enabled listener. Syslog UDP and TCP share the port number; TLS has its own.
pub fn bind_sockets(
    cfg: &Config,
    tls_config: Option<Arc<rustls::ServerConfig>>,
) -> io::Result<Sockets> {
    let rcvbuf = |mb: usize| mb.saturating_mul(1 << 20);
    let snmp = &cfg.listeners.snmp;
    let syslog = &cfg.listeners.syslog;
    let with_context = |what: &'static str, addr: SocketAddr| {
        move |e: io::Error| io::Error::new(e.kind(), format!("cannot bind {what} on {addr}: {e}"))
    };
    let snmp_addr = SocketAddr::new(snmp.bind, snmp.port());
    let syslog_addr = SocketAddr::new(syslog.bind, syslog.port());
    let snmp_udp: Option<UdpSocket> = if snmp.enabled {
        Some(
            ingest::udp::bind(snmp_addr, rcvbuf(snmp.socket_receive_buffer_mb), "snmp")
                .map_err(with_context("SNMP UDP", snmp_addr))?,
        )
    } else {
        None
    };
    let syslog_udp = if syslog.enabled && syslog.protocol.udp {
        Some(
            ingest::udp::bind(
                syslog_addr,
                rcvbuf(syslog.socket_receive_buffer_mb),
                "syslog",
            )
            .map_err(with_context("syslog UDP", syslog_addr))?,
        )
    } else {
        None
    };
    let syslog_tcp = if syslog.enabled && syslog.protocol.tcp {
        Some(bind_tcp(syslog_addr).map_err(with_context("syslog TCP", syslog_addr))?)
    } else {
        None
    };
    let tls = &cfg.listeners.syslog_tls;
    let syslog_tls = match tls_config {
        Some(config) => {
            let addr = SocketAddr::new(tls.bind, tls.port.0);
            let listener = bind_tcp(addr).map_err(with_context("syslog TLS", addr))?;
            Some(TlsListener { listener, config })
        }
        None => None,
    };
    for (what, on) in [
        ("SNMP UDP", snmp_udp.as_ref().map(|s| s.local_addr())),
        ("syslog UDP", syslog_udp.as_ref().map(|s| s.local_addr())),
        ("syslog TCP", syslog_tcp.as_ref().map(|s| s.local_addr())),
        (
            "syslog TLS",
            syslog_tls.as_ref().map(|s| s.listener.local_addr()),
        ),
    ] {
        if let Some(Ok(addr)) = on {
            info!(%addr, "listening for {what}");
        }
    }
    Ok(Sockets {
        snmp_udp,
        syslog_udp,
        syslog_tcp,
        syslog_tls,
    })
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
