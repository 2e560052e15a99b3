//! Hot reload of the rules file and the SNMPv3 credentials file: every
//! `reload_interval_seconds`, on SIGHUP, and when a file changes. A file that fails to load is
//! rejected with its error and what is in force stays.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info};

use super::SharedRules;
use crate::decode::snmp::credentials::Credentials;
use crate::decode::snmp::{SharedUsm, Usm};
use crate::rules::RuleSet;

/// How often the files' modification times are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Load a file (path, reason) and swap it in; false when it was rejected.
type ReloadFn = Box<dyn FnMut(&Path, &str) -> bool + Send>;

/// One file and what loading it means.
pub struct Watched {
    pub path: PathBuf,
    pub reload: ReloadFn,
}

impl Watched {
    pub fn rules(path: PathBuf, rules: SharedRules) -> Watched {
        Watched {
            path,
            reload: Box::new(move |path, why| reload_rules(path, &rules, why)),
        }
    }

    pub fn credentials(path: PathBuf, usm: SharedUsm) -> Watched {
        Watched {
            path,
            reload: Box::new(move |path, why| reload_credentials(path, &usm, why)),
        }
    }
}

pub struct Reloader {
    pub files: Vec<Watched>,
    pub interval: Duration,
    /// Raised by SIGHUP; cleared here.
    pub hangup: Arc<AtomicBool>,
    pub stop: Arc<AtomicBool>,
}

impl Reloader {
    /// Run until `stop`; meant for its own thread.
    pub fn run(mut self) {
        let mut seen: Vec<Option<SystemTime>> =
            self.files.iter().map(|f| modified(&f.path)).collect();
        let mut last_load = Instant::now();
        let mut last_look = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(200));
            let hup = self.hangup.swap(false, Ordering::Relaxed);
            let due = last_load.elapsed() >= self.interval;
            let look = hup || due || last_look.elapsed() >= WATCH_EVERY;
            if !look {
                continue;
            }
            last_look = Instant::now();
            if hup || due {
                last_load = Instant::now();
            }
            for (file, seen) in self.files.iter_mut().zip(seen.iter_mut()) {
                let now = modified(&file.path);
                let changed = now != *seen;
                if hup || due || changed {
                    let why = if hup {
                        "SIGHUP"
                    } else if changed {
                        "file changed"
                    } else {
                        "interval"
                    };
                    *seen = now;
                    (file.reload)(&file.path, why);
                }
            }
        }
    }
}

/// Compile the rules file and swap it in; on error keep the rules in force.
pub fn reload_rules(path: &Path, rules: &SharedRules, why: &str) -> bool {
    match RuleSet::load(path) {
        Ok(set) => {
            let count = set.rules().len();
            match rules.write() {
                Ok(mut guard) => *guard = Arc::new(set),
                Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
            }
            info!(file = %path.display(), rules = count, reason = why, "rules reloaded");
            true
        }
        Err(e) => {
            error!(error = %e, reason = why, "rules file rejected; the rules in force stay");
            false
        }
    }
}

/// Load the credentials file and swap it in; on error keep the users in force. The error names
/// the file, line and field, never a password.
pub fn reload_credentials(path: &Path, usm: &SharedUsm, why: &str) -> bool {
    match Credentials::load(path) {
        Ok(creds) => {
            let users = creds.len();
            let mut guard = match usm.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            // The sender engines' clocks outlive the users: a reload must not reopen the
            // time window to replays.
            let clocks = guard
                .as_ref()
                .map(|u| u.clocks().clone())
                .unwrap_or_default();
            *guard = Some(Arc::new(Usm::new(creds).with_clocks(clocks)));
            drop(guard);
            info!(file = %path.display(), users, reason = why, "SNMPv3 credentials reloaded");
            true
        }
        Err(e) => {
            error!(error = %e, reason = why, "credentials file rejected; the users in force stay");
            false
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
