//! `mutt run` and `mutt replay`, and what `check-config` and `decode` share with them: the
//! files the configuration names ([`resources`]), the process around the stages ([`process`]:
//! pid file, logging, file modes), and the run and stop sequence ([`run`]: bind, start the
//! stages, wait, drain, stop). [`DaemonError`] is why any of them could not go on, with the one
//! [`DaemonError::exit_code`].

mod process;
mod resources;
mod run;
mod threads;
mod web;

use std::io;
use std::path::PathBuf;

use crate::decode::snmp::mib;
use crate::{ingest, pipeline, wal};

pub use process::{init_logging, private_files};
pub use resources::Resources;
pub use run::{bind_sockets, migrate, pg_settings, replay, run};
pub use web::{serve as serve_web, web_config};

/// Why the daemon, or a command that loads what it loads, could not run. Each variant carries
/// the error it comes from; [`DaemonError::exit_code`] decides what the process returns, and the
/// text is made only when a person reads it (`cli::execute`).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// mutt_config.yaml does not load.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The rules file does not load.
    #[error("{0}")]
    Rules(#[from] crate::rules::RulesError),
    /// The SNMPv3 credentials file exists but does not load.
    #[error("{0}")]
    Credentials(#[from] crate::decode::snmp::credentials::CredentialsError),
    /// A directory of `snmp.mib_dirs` cannot be listed (`config`: the configuration file).
    #[error("{}: snmp.mib_dirs: {error}", .config.display())]
    MibDir {
        config: PathBuf,
        error: mib::MibError,
    },
    /// The WAL cannot be opened or locked.
    #[error("{0}")]
    Wal(#[from] wal::WalError),
    /// The SNMPv3 engine file beside the WAL cannot be read or written.
    #[error("{0}")]
    EngineFile(#[source] io::Error),
    /// A listener cannot be bound.
    #[error("{0}")]
    Bind(#[source] io::Error),
    /// The signal handlers cannot be installed.
    #[error("{0}")]
    Signals(#[source] io::Error),
    /// A thread cannot be started.
    #[error("{0}")]
    Spawn(#[source] io::Error),
    /// The pid file's directory cannot be created.
    #[error("{0}")]
    PidDir(#[source] io::Error),
    #[error("cannot write pid file {}: {source}", .path.display())]
    PidFile { path: PathBuf, source: io::Error },
    #[error("cannot open log file {}: {source}", .path.display())]
    LogFile { path: PathBuf, source: io::Error },
    /// The ingest thread failed.
    #[error("{0}")]
    Ingest(#[from] ingest::IngestError),
    /// The drain or writer failed.
    #[error("{0}")]
    Pipeline(#[from] pipeline::PipelineError),
    #[error("{0} thread panicked")]
    Panicked(&'static str),
    /// SIGTERM's wait for the drain ended first; `left` records stay in the WAL.
    #[error(
        "shutdown: the WAL was not drained into the database (daemon.shutdown_timeout_seconds \
         is {timeout_seconds} s, or a second signal came); {left} records stay in the WAL and \
         are stored at the next start"
    )]
    NotDrained { timeout_seconds: u64, left: u64 },
    /// PostgreSQL refused at start: unreachable, a wrong password or sslmode, a newer schema.
    /// `key` is the setting to check.
    #[error("{}: {key}: {error}", .config.display())]
    Storage {
        config: PathBuf,
        key: &'static str,
        error: crate::store::postgres::PgError,
    },
    /// `mutt web`: the UI cannot be started (its port, its thread).
    #[error("{0}")]
    Web(#[from] mutt_web::WebError),
    /// `mutt migrate`: the partitions of PostgreSQL's `messages` could not be prepared.
    #[error("partitions of messages: {0}")]
    Partitions(#[source] crate::archive::ArchiveError),
}

/// Exit code of a configuration or usage error.
pub const EXIT_CONFIG: i32 = 2;
/// Exit code of a failure at run time.
pub const EXIT_RUNTIME: i32 = 1;

impl DaemonError {
    /// What the process returns: 2 when a file or setting must change, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(_)
            | DaemonError::Rules(_)
            | DaemonError::Credentials(_)
            | DaemonError::MibDir { .. }
            | DaemonError::Storage { .. } => EXIT_CONFIG,
            DaemonError::Wal(_)
            | DaemonError::EngineFile(_)
            | DaemonError::Bind(_)
            | DaemonError::Signals(_)
            | DaemonError::Spawn(_)
            | DaemonError::PidDir(_)
            | DaemonError::PidFile { .. }
            | DaemonError::LogFile { .. }
            | DaemonError::Ingest(_)
            | DaemonError::Pipeline(_)
            | DaemonError::Panicked(_)
            | DaemonError::NotDrained { .. }
            | DaemonError::Web(_)
            | DaemonError::Partitions(_) => EXIT_RUNTIME,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_failures_exit_1_with_the_words_they_always_had() {
        let e = DaemonError::NotDrained {
            timeout_seconds: 30,
            left: 7,
        };
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
        assert_eq!(
            e.to_string(),
            "shutdown: the WAL was not drained into the database (daemon.shutdown_timeout_seconds \
             is 30 s, or a second signal came); 7 records stay in the WAL and are stored at the \
             next start"
        );
        let e = DaemonError::PidFile {
            path: PathBuf::from("/run/mutt.pid"),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
        assert!(e
            .to_string()
            .starts_with("cannot write pid file /run/mutt.pid: "));
        assert_eq!(
            DaemonError::Panicked("ingest").to_string(),
            "ingest thread panicked"
        );
    }
}
