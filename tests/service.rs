//! MUTT as an installed service: `--version`, JSON logs for a log shipper, and the systemd unit in
//! dist/ (checked by `systemd-analyze verify`).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn version_prints_the_package_version() {
    let out = Command::new(MUTT)
        .arg("--version")
        .output()
        .expect("run mutt");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("mutt {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn with_log_format_json_every_log_line_is_a_json_object() {
    let env = Env::new(Setup {
        daemon_yaml: "  log_format: json\n".into(),
        ..Setup::default()
    });
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("json-log", 3));
    assert_eq!(env.wait_rows(3, Duration::from_secs(10)), 3);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    let text = file_text(&env.log_path());
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 3, "{text}");
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "MUTT running"),
        "{text}"
    );
    // stderr carries the same format.
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "{stderr}"
    );
}

#[test]
fn text_logs_are_the_default() {
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    let text = file_text(&env.log_path());
    assert!(text.contains("MUTT running"), "{text}");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "{text}"
    );
}

const UNIT: &str = include_str!("../dist/mutt.service");

#[test]
fn the_systemd_unit_runs_mutt_unprivileged_and_hardened() {
    let directives: Vec<&str> = UNIT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for want in [
        "User=mutt",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/mutt /var/log/mutt",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "StateDirectory=mutt",
        "LogsDirectory=mutt",
    ] {
        assert!(directives.contains(&want), "dist/mutt.service lacks {want}");
    }
    assert!(directives.iter().any(|l| l.starts_with("LimitNOFILE=")));
    assert!(directives
        .iter()
        .any(|l| l.starts_with("ExecStart=/usr/local/bin/mutt --config /etc/mutt/")));
}

#[test]
#[ignore = "needs systemd-analyze"]
fn systemd_analyze_verify_accepts_the_unit() {
    need_tool("systemd-analyze");
    // verify checks that ExecStart's program exists: point it at the binary under test.
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("mutt.service");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/mutt", MUTT)).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Unknown or misspelt directives are only warnings ("Unknown key ..., ignoring").
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("mutt.service"))
        .collect();
    assert!(about_unit.is_empty(), "{stderr}");
}
