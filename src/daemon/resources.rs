//! Everything the daemon reads before it binds a socket, beyond mutt_config.yaml itself: the
//! rules file, the SNMPv3 credentials file and the MIB directories, with the warnings that do not
//! stop a start. `mutt run`, `replay`, `check-config` and `decode` all load through
//! [`Resources::load`].

use std::sync::{Arc, RwLock};

use tracing::{info, warn};

use super::process::credentials_file_warning;
use super::DaemonError;
use crate::config::Config;
use crate::decode::snmp::mib::{self, MibErrorKind};
use crate::decode::snmp::names::NameTable;
use crate::decode::snmp::{credentials::Credentials, SharedUsm, Usm};
use crate::pipeline::SharedRules;
use crate::rules::RuleSet;

/// Everything `mutt run` reads and checks before it binds a socket, beyond the config file
/// itself (which checks its own values and the TLS files as it loads): the rules file, the
/// SNMPv3 credentials file and the MIB directories. `run`, `replay`, `check-config` and `decode`
/// all load through [`Resources::load`], so they accept and refuse the same files with the same
/// messages.
pub struct Resources {
    pub(super) decoding: Decoding,
    /// The syslog TLS listener's server configuration, when it is enabled.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Problems that do not stop a start: the daemon logs them, `check-config` prints them.
    pub warnings: Vec<String>,
}

/// What processing decodes and matches with, loaded from the configuration's files.
pub(super) struct Decoding {
    pub(super) rules: SharedRules,
    pub(super) usm: SharedUsm,
    pub(super) names: Arc<NameTable>,
}

impl Resources {
    /// Load the files the configuration names. An error is a configuration error (exit 2).
    pub fn load(cfg: &Config) -> Result<Resources, DaemonError> {
        let mut warnings = Vec::new();
        let rules = load_rules(cfg)?;
        if let Ok(set) = rules.read() {
            warnings.extend(cfg.outputs.unconfigured_rule_targets(&set));
        }
        warnings.extend(credentials_file_warning(cfg));
        let usm = load_usm(cfg, &mut warnings)?;
        let names = load_mibs(cfg)?;
        Ok(Resources {
            decoding: Decoding { rules, usm, names },
            tls: cfg.syslog_tls_server.clone(),
            warnings,
        })
    }

    /// The number of rules loaded.
    pub fn rule_count(&self) -> usize {
        self.decoding
            .rules
            .read()
            .map_or(0, |set| set.rules().len())
    }

    /// The rules loaded.
    pub fn rules(&self) -> Arc<RuleSet> {
        match self.decoding.rules.read() {
            Ok(set) => set.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The OID names (built-in and from `snmp.mib_dirs`).
    pub fn names(&self) -> &Arc<NameTable> {
        &self.decoding.names
    }

    /// The SNMPv3 users; None without a credentials file.
    pub fn usm(&self) -> Option<Arc<Usm>> {
        self.decoding.usm.read().ok().and_then(|u| u.clone())
    }
}

fn load_rules(cfg: &Config) -> Result<SharedRules, DaemonError> {
    let set = match &cfg.pattern_matching.rules_file {
        Some(path) => RuleSet::load(path)?,
        None => RuleSet::empty(),
    };
    info!(rules = set.rules().len(), summary = %set.summary(), "rules loaded");
    Ok(Arc::new(RwLock::new(Arc::new(set))))
}

/// The SNMPv3 users of `snmpv3.credentials_file`. A file that does not exist leaves v3 messages
/// unauthenticated (with a warning) until it appears; one that does not load stops the start
/// (exit 2).
fn load_usm(cfg: &Config, warnings: &mut Vec<String>) -> Result<SharedUsm, DaemonError> {
    let Some(path) = &cfg.snmpv3.credentials_file else {
        return Ok(SharedUsm::default());
    };
    match Credentials::load(path) {
        Ok(creds) => {
            info!(users = creds.len(), file = %path.display(), "SNMPv3 users loaded");
            Ok(Arc::new(RwLock::new(Some(Arc::new(Usm::new(creds))))))
        }
        Err(e) if e.not_found => {
            warnings.push(format!(
                "{}: no SNMPv3 credentials file; v3 messages are stored unauthenticated",
                path.display()
            ));
            Ok(SharedUsm::default())
        }
        Err(e) => Err(e.into()),
    }
}

/// The OID names: the built-in table plus the MIB files of `snmp.mib_dirs`, read once. A
/// directory that cannot be listed is a configuration error; a bad file or definition is
/// logged with its line and skipped.
fn load_mibs(cfg: &Config) -> Result<Arc<NameTable>, DaemonError> {
    let dirs = &cfg.snmp.mib_dirs;
    if dirs.is_empty() {
        return Ok(Arc::new(crate::decode::snmp::names::builtin().clone()));
    }
    let (table, mut errors) = mib::load_mib_dirs(dirs);
    if let Some(i) = errors
        .iter()
        .position(|e| e.kind == MibErrorKind::Directory)
    {
        return Err(DaemonError::MibDir {
            config: cfg.source.clone(),
            error: errors.swap_remove(i),
        });
    }
    for e in &errors {
        warn!(file = %e.path.display(), line = e.line, problem = ?e.kind, "MIB: {}", e.message);
    }
    info!(
        dirs = dirs.len(),
        names = table.len(),
        problems = errors.len(),
        "MIB names loaded"
    );
    Ok(Arc::new(table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::EXIT_CONFIG;
    use std::path::PathBuf;

    #[test]
    fn a_missing_mib_directory_is_a_configuration_error() {
        let mut cfg = Config {
            source: PathBuf::from("mutt_config.yaml"),
            ..Config::default()
        };
        cfg.snmp.mib_dirs = vec![PathBuf::from("/nonexistent/mutt-mibs")];
        assert!(
            matches!(load_mibs(&cfg), Err(e @ DaemonError::MibDir { .. }) if e.exit_code() == EXIT_CONFIG && e.to_string().starts_with("mutt_config.yaml: snmp.mib_dirs: /nonexistent/mutt-mibs:0:"))
        );
    }

    #[test]
    fn mib_files_add_to_the_builtin_names() {
        let mut cfg = Config::default();
        assert_eq!(
            load_mibs(&cfg).map(|t| t.len()).ok(),
            Some(crate::decode::snmp::names::builtin().len())
        );
        cfg.snmp.mib_dirs =
            vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/mibs-extra")];
        let names = load_mibs(&cfg).map_err(|e| e.to_string()).unwrap();
        assert_eq!(
            names
                .exact(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10, 0, 17])
                .as_deref(),
            Some("MUTT-TEST-TRAP-MIB::muttTestLinuxTrap")
        );
    }
}
