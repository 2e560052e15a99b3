//! The daemon's log file: rotated by size through the real daemon, old files deleted past
//! `daemon.log_keep`, every file private to MUTT's user.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::*;

fn log_files(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env.path("logs"))
        .expect("read the log directory")
        .map(|e| {
            e.expect("read the log directory")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// A log file's text, or None when it was rotated away since it was listed.
fn log_text(env: &Env, name: &str) -> Option<String> {
    match std::fs::read_to_string(env.path(&format!("logs/{name}"))) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("read logs/{name}: {e}"),
    }
}

#[test]
fn the_log_file_rotates_by_size_keeps_log_keep_old_files_and_is_private() {
    let env = Env::new(Setup {
        // 10 KiB files, two old ones kept.
        daemon_yaml: "  log_max_size_mb: 0.009765625\n  log_keep: 2\n".into(),
        ..Setup::default()
    });
    let daemon = env.start();
    // Each TCP connection logs one DEBUG line. Keep connecting until the start-up lines have
    // rotated out of every file kept: then files were rotated and deleted.
    let until = Instant::now() + Duration::from_secs(60);
    let mut connections = 0;
    loop {
        for _ in 0..50 {
            env.send_tcp(b"<134>Nov 27 10:00:00 sw1 app: hello\n");
        }
        connections += 50;
        let files = log_files(&env);
        // A file rotated away between listing and reading: look again.
        let started_gone = files.len() == 3
            && files
                .iter()
                .all(|f| log_text(&env, f).is_some_and(|text| !text.contains("MUTT running")));
        if started_gone {
            break;
        }
        assert!(
            Instant::now() < until,
            "after {connections} connections: {files:?}"
        );
    }
    assert_eq!(log_files(&env), ["mutt.log", "mutt.log.1", "mutt.log.2"]);
    for name in log_files(&env) {
        let path = env.path(&format!("logs/{name}"));
        let meta = std::fs::metadata(&path).expect("log file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        // Rotation happens between lines: a file passes the size by at most one line.
        assert!(meta.len() < 10_240 + 1_024, "{name}: {} bytes", meta.len());
        let text = file_text(&path);
        assert!(
            text.lines()
                .all(|l| l.starts_with("20") && l.contains("mutt::")),
            "{name}: a cut line"
        );
    }
    let (status, _) = daemon.terminate();
    assert!(status.success());
}
