//! Hot reload of the rules file and the SNMPv3 credentials file: every
//! `reload_interval_seconds`, on request (SIGHUP), and when a file changes. A file that fails to
//! load is rejected with its error and what is in force stays.
//!
//! The reloader waits on its channel of requests, so a SIGHUP is served at once; the wait times
//! out to look at the files' modification times every [`WATCH_EVERY`] (nothing tells us of a
//! changed file) and to reload when the interval has passed. It ends when the last sender of
//! requests is dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};
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

/// Reload every file now: what SIGHUP asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadRequest;

pub struct Reloader {
    pub files: Vec<Watched>,
    pub interval: Duration,
    /// Requests to reload at once; the reloader ends when every sender is gone.
    pub requests: Receiver<ReloadRequest>,
}

impl Reloader {
    /// Run until the requests' senders are dropped; meant for its own thread.
    pub fn run(mut self) {
        let mut seen: Vec<Option<SystemTime>> =
            self.files.iter().map(|f| modified(&f.path)).collect();
        let mut last_load = Instant::now();
        let mut last_look = Instant::now();
        loop {
            let next_look = (last_look + WATCH_EVERY).min(last_load + self.interval);
            let requested = match self.requests.recv_deadline(next_look) {
                Ok(ReloadRequest) => true,
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let due = last_load.elapsed() >= self.interval;
            last_look = Instant::now();
            if requested || due {
                last_load = Instant::now();
            }
            for (file, seen) in self.files.iter_mut().zip(seen.iter_mut()) {
                let now = modified(&file.path);
                let changed = now != *seen;
                if requested || due || changed {
                    let why = if requested {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{bounded, unbounded, Sender};
    use std::thread;

    /// A reloader over one file whose "loads" are reported on the returned channel.
    fn start(
        path: PathBuf,
        interval: Duration,
    ) -> (
        Sender<ReloadRequest>,
        Receiver<String>,
        thread::JoinHandle<()>,
    ) {
        let (loads_tx, loads) = unbounded();
        let file = Watched {
            path,
            reload: Box::new(move |_, why| loads_tx.send(why.to_string()).is_ok()),
        };
        let (requests_tx, requests) = bounded(1);
        let reloader = Reloader {
            files: vec![file],
            interval,
            requests,
        };
        (requests_tx, loads, thread::spawn(move || reloader.run()))
    }

    #[test]
    fn a_request_reloads_at_once_and_dropping_the_sender_ends_the_reloader() {
        let dir = tempfile::tempdir().unwrap();
        let (requests, loads, thread) =
            start(dir.path().join("rules.yaml"), Duration::from_secs(3600));
        let asked = Instant::now();
        requests.send(ReloadRequest).unwrap();
        assert_eq!(
            loads.recv_timeout(Duration::from_secs(5)).unwrap(),
            "SIGHUP"
        );
        // Well before the file check would have come round.
        assert!(asked.elapsed() < WATCH_EVERY);
        drop(requests);
        thread.join().unwrap();
        assert!(loads.try_recv().is_err(), "nothing else was reloaded");
    }

    #[test]
    fn a_changed_file_is_reloaded_without_a_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.yaml");
        std::fs::write(&path, "rules: []\n").unwrap();
        let (requests, loads, thread) = start(path.clone(), Duration::from_secs(3600));
        // Once this reload is done the reloader has seen the file as it is now.
        requests.send(ReloadRequest).unwrap();
        assert_eq!(
            loads.recv_timeout(Duration::from_secs(5)).unwrap(),
            "SIGHUP"
        );
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(10))
            .unwrap();
        let wait = WATCH_EVERY * 5;
        assert_eq!(loads.recv_timeout(wait).unwrap(), "file changed");
        drop(requests);
        thread.join().unwrap();
    }

    #[test]
    fn the_files_are_reloaded_every_interval() {
        let dir = tempfile::tempdir().unwrap();
        let (requests, loads, thread) =
            start(dir.path().join("rules.yaml"), Duration::from_millis(50));
        for _ in 0..2 {
            assert_eq!(
                loads.recv_timeout(Duration::from_secs(5)).unwrap(),
                "interval"
            );
        }
        drop(requests);
        thread.join().unwrap();
    }
}
