//! The process around the stages: the pid file, the file creation mask, the log destinations,
//! the warning about a credentials file others can read, and the signals (SIGINT, SIGTERM,
//! SIGHUP), which reach the main thread as [`Request`]s on a channel.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use super::threads::{self, Stage};
use super::DaemonError;
use crate::config::Config;
use crate::health::Health;
use crate::log_file::LogFile;

/// What a signal asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Request {
    /// SIGINT or SIGTERM: stop in order; a second one during the drain: stop now.
    Stop,
    /// SIGHUP: reload the rules and SNMPv3 credentials files.
    Reload,
}

/// The signals, caught from creation until drop: the `mutt-signals` thread reads them from
/// `signal_hook`'s iterator and sends them on as [`Request`]s.
pub(super) struct SignalRequests {
    requests: Receiver<Request>,
    /// Kept so the channel never disconnects: were the signal thread to die, `/health` says so,
    /// and a receive simply waits.
    _keep: Sender<Request>,
    handle: Handle,
    thread: Option<Stage<()>>,
}

impl SignalRequests {
    /// Catch SIGINT, SIGTERM and SIGHUP from now on.
    pub(super) fn catch(health: &Arc<Health>) -> Result<SignalRequests, DaemonError> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(DaemonError::Signals)?;
        let handle = signals.handle();
        let (tx, requests) = crossbeam_channel::unbounded();
        let keep = tx.clone();
        // A thread that cannot start takes `signals` with it, and with them the handlers.
        let thread = threads::spawn(health, "mutt-signals", move || {
            // Ends when the handle is closed.
            for signal in signals.forever() {
                let request = if signal == SIGHUP {
                    Request::Reload
                } else {
                    Request::Stop
                };
                let _ = tx.send(request);
            }
        })?;
        Ok(SignalRequests {
            requests,
            _keep: keep,
            handle,
            thread: Some(thread),
        })
    }

    /// The requests, in the order the signals came (repeats of one signal not yet read may
    /// arrive as one).
    pub(super) fn requests(&self) -> &Receiver<Request> {
        &self.requests
    }
}

impl Drop for SignalRequests {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The pid file, removed on a clean exit. (A stale one after `kill -9` is overwritten: the WAL
/// lock, not this file, is what keeps a second instance out.)
pub(super) struct PidFile(PathBuf);

impl PidFile {
    pub(super) fn create(path: &Path) -> Result<PidFile, DaemonError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(DaemonError::PidDir)?;
        }
        fs::write(path, format!("{}\n", std::process::id())).map_err(|source| {
            DaemonError::PidFile {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Files the daemon creates from now on — database, WAL segments, engine file, logs, pid file —
/// are readable by its own user only (umask 077): they hold what the network said, and the
/// engine file MUTT's SNMPv3 identity.
pub fn private_files() {
    // SAFETY: umask only changes this process's file creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// A warning when the SNMPv3 credentials file can be read by group or others: it holds the
/// passwords every v3 sender's keys derive from.
pub(super) fn credentials_file_warning(cfg: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = cfg.snmpv3.credentials_file.as_ref()?;
    let mode = fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{}: SNMPv3 credentials file is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

/// Log to stderr and, when configured, to `daemon.log_file` (appended, mode 0600, rotated past
/// `daemon.log_max_size_mb` keeping `daemon.log_keep` old files: see [`crate::log_file`]), as
/// text or, with `daemon.log_format: json`, one JSON object per line.
pub fn init_logging(cfg: &Config) -> Result<(), DaemonError> {
    use tracing_subscriber::{prelude::*, EnvFilter};
    let filter =
        EnvFilter::try_from_env("MUTT_LOG").unwrap_or_else(|_| EnvFilter::new(cfg.log_filter()));
    let json = cfg.daemon.log_format == crate::config::LogFormat::Json;
    let file = match &cfg.daemon.log_file {
        Some(path) => {
            let max = cfg.daemon.log_max_bytes();
            let f = LogFile::open(path, max, cfg.daemon.log_keep).map_err(|source| {
                DaemonError::LogFile {
                    path: path.clone(),
                    source,
                }
            })?;
            Some(log_layer(json, false, std::sync::Mutex::new(f)))
        }
        None => None,
    };
    let ansi = !json && io::IsTerminal::is_terminal(&io::stderr());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(log_layer(json, ansi, io::stderr))
        .with(file)
        .try_init();
    Ok(())
}

/// One log destination in the configured format.
fn log_layer<S, W>(
    json: bool,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::{fmt, Layer};
    let layer = fmt::layer().with_ansi(ansi).with_writer(writer);
    if json {
        layer.json().boxed()
    } else {
        layer.boxed()
    }
}
