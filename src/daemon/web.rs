//! The web UI from the collector's side: its settings from the config, started by `mutt run`
//! beside the stages (`web.enabled`) or alone by `mutt web`. The UI is the `mutt-web` crate; it
//! reads the database read-only and the daemon's counters over HTTP, so it shares nothing else.
//! With `storage.backend: postgresql` it connects with the store's own connect (URL, password
//! file, sslmode over rustls), handed to it as a closure.

use std::net::SocketAddr;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing::{info, warn};

use super::DaemonError;
use crate::config::{Config, WebSection};

/// The UI's settings from the configuration.
pub fn web_config(cfg: &Config) -> mutt_web::WebConfig {
    mutt_web::WebConfig {
        listen: cfg.web.listen,
        database: database(cfg),
        metrics_url: WebSection::metrics_url(&cfg.metrics),
        users: cfg.web.users(),
    }
}

/// The database the UI reads: PostgreSQL when `storage.backend` says so, else the SQLite file.
fn database(cfg: &Config) -> mutt_web::Source {
    let Some(mut settings) = super::run::pg_settings(cfg) else {
        return mutt_web::Source::Sqlite(cfg.storage.database.path.clone());
    };
    // Its sessions show as the UI's in pg_stat_activity, and a server that does not answer
    // is a page within the UI's own deadline rather than the writer's ten seconds.
    settings.config.application_name("mutt-web");
    settings
        .config
        .connect_timeout(Duration::from_secs(mutt_web::DEADLINE_SECS));
    let target = settings.target();
    // The store's error names the server as user@host:port/dbname, never the password.
    let connect = move || settings.connect().map_err(|e| e.to_string());
    mutt_web::Source::Postgres(mutt_web::PgSource::new(target, connect))
}

/// For `mutt run`: the UI when `web.enabled`, reading the metrics listener at the address it
/// was bound to (None: not running). Like metrics, it never keeps MUTT from receiving: a port
/// that cannot be bound is logged and the daemon goes on without it.
pub(super) fn start_for_daemon(
    cfg: &Config,
    metrics: Option<SocketAddr>,
) -> Option<mutt_web::WebHandle> {
    if !cfg.web.enabled {
        return None;
    }
    let config = mutt_web::WebConfig {
        metrics_url: metrics.map(|a| format!("http://{a}/metrics")),
        ..web_config(cfg)
    };
    match mutt_web::start(config) {
        Ok(handle) => {
            info!("web UI on http://{}/", handle.addr());
            Some(handle)
        }
        Err(e) => {
            warn!(error = %e, "web UI not started");
            None
        }
    }
}

/// `mutt web`: serve the UI alone until SIGINT or SIGTERM, whatever `web.enabled` says. It logs
/// to stderr only: `daemon.log_file` is the daemon's to write and rotate.
pub fn serve(cfg: &Config) -> Result<(), DaemonError> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUTT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cfg.log_filter()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(DaemonError::Signals)?;
    let handle = mutt_web::start(web_config(cfg))?;
    println!("web UI at http://{}/", handle.addr());
    let _ = signals.forever().next();
    info!("stopping the web UI");
    handle.stop();
    Ok(())
}
