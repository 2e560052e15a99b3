//! Rules hot reload: every `reload_interval_seconds`, on SIGHUP, and when the file changes.
//! A file that fails to compile is rejected with its error and the rules in force stay.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info};

use super::SharedRules;
use crate::rules::RuleSet;

/// How often the file's modification time is looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);

pub struct Reloader {
    pub path: PathBuf,
    pub interval: Duration,
    pub rules: SharedRules,
    /// Raised by SIGHUP; cleared here.
    pub hangup: Arc<AtomicBool>,
    pub stop: Arc<AtomicBool>,
}

impl Reloader {
    /// Run until `stop`; meant for its own thread.
    pub fn run(self) {
        let mut seen = modified(&self.path);
        let mut last_load = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(200));
            let hup = self.hangup.swap(false, Ordering::Relaxed);
            let due = last_load.elapsed() >= self.interval;
            let now_modified = if last_load.elapsed() >= WATCH_EVERY || hup {
                modified(&self.path)
            } else {
                seen
            };
            let changed = now_modified != seen;
            if hup || due || changed {
                let why = if hup {
                    "SIGHUP"
                } else if changed {
                    "file changed"
                } else {
                    "interval"
                };
                seen = now_modified;
                last_load = Instant::now();
                reload(&self.path, &self.rules, why);
            }
        }
    }
}

/// Compile the file and swap it in; on error keep the rules in force. Returns whether it swapped.
pub fn reload(path: &Path, rules: &SharedRules, why: &str) -> bool {
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

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
