//! The process around the stages: the pid file, the file creation mask, the log destinations,
//! and the warning about a credentials file others can read.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::DaemonError;
use crate::config::Config;
use crate::log_file::LogFile;

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
