//! `mutt check-config` refuses what `mutt run` refuses before it binds a socket, with exit code 2
//! and the same `file:line: key:` message; and it accepts what `run` accepts.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

/// The `mutt: ...` line of a command's stderr (logs may come before it).
fn refusal(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("mutt: "))
        .unwrap_or_default()
        .to_string()
}

/// Run check-config and run on the env's config; both must exit 2 with the same message, which
/// is returned.
fn refused_by_both(env: &Env) -> String {
    let out = env
        .mutt(&["check-config"])
        .output()
        .expect("run check-config");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "check-config: {stderr}");
    let message = refusal(&stderr);
    assert!(!message.is_empty(), "no message: {stderr}");

    let mut run = env
        .mutt(&["run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mutt run");
    let status = wait_timeout(&mut run, Duration::from_secs(20));
    let out = run.wait_with_output().expect("run's stderr");
    let run_stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "run: {run_stderr}");
    assert_eq!(refusal(&run_stderr), message, "run said: {run_stderr}");
    message
}

fn line_of(path: &std::path::Path, needle: &str) -> usize {
    file_text(path)
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in file")
        + 1
}

fn with_extra(extra: &str) -> Env {
    Env::new(Setup {
        extra: extra.into(),
        ..Setup::default()
    })
}

#[test]
fn an_unknown_config_key_is_refused_with_its_line() {
    let env = with_extra("snmp:\n  mib_dir: [./mibs]\n");
    let message = refused_by_both(&env);
    let line = line_of(&env.config_path(), "mib_dir:");
    assert!(
        message.starts_with(&format!(
            "mutt: {}:{line}: snmp.mib_dir: unknown field `mib_dir`",
            env.config_path().display()
        )),
        "{message}"
    );
}

#[test]
fn a_bad_wal_sync_value_is_refused_at_load_not_replaced_by_a_default() {
    let env = Env::new(Setup::default());
    let text = file_text(&env.config_path()).replace("sync: interval", "sync: sometimes");
    std::fs::write(env.config_path(), text).expect("write config");
    let message = refused_by_both(&env);
    let line = line_of(&env.config_path(), "sync: sometimes");
    assert_eq!(
        message,
        format!(
            "mutt: {}:{line}: wal.sync: expected interval, always or never, got \"sometimes\"",
            env.config_path().display()
        )
    );
}

#[test]
fn a_bad_rules_file_is_refused_with_its_line() {
    let env = Env::new(Setup {
        rules: "rules:\n  - id: r1\n    pattern_type: regex\n    pattern: \"(unclosed\"\n".into(),
        ..Setup::default()
    });
    let message = refused_by_both(&env);
    let rules = env.path("alert_rules.yaml");
    assert!(
        message.starts_with(&format!("mutt: {}:", rules.display())),
        "{message}"
    );
    assert!(message.contains("pattern"), "{message}");
}

#[test]
fn a_bad_credentials_file_is_refused_with_its_line_and_field() {
    let env = with_extra("snmpv3:\n  credentials_file: creds.yaml\n");
    std::fs::write(
        env.path("creds.yaml"),
        "snmpv3_credentials:\n  - username: u\n    credentials:\n      - priority: 1\n        \
         auth_type: MD6\n        auth_password: authpass123\n",
    )
    .expect("write credentials");
    let message = refused_by_both(&env);
    assert!(
        message.starts_with(
            "mutt: creds.yaml:5: snmpv3_credentials[0].credentials[0].auth_type: unknown auth_type \"MD6\""
        ),
        "{message}"
    );
}

#[test]
fn an_empty_password_for_a_real_protocol_is_refused() {
    let env = with_extra("snmpv3:\n  credentials_file: creds.yaml\n");
    std::fs::write(
        env.path("creds.yaml"),
        "snmpv3_credentials:\n  - username: u\n    credentials:\n      - priority: 1\n        \
         auth_type: SHA\n        auth_password: authpass123\n        priv_type: AES\n        \
         priv_password: ''\n",
    )
    .expect("write credentials");
    let message = refused_by_both(&env);
    assert_eq!(
        message,
        "mutt: creds.yaml:8: snmpv3_credentials[0].credentials[0].priv_password: the password is empty"
    );
}

#[test]
fn a_seed_format_credentials_file_loads() {
    let env = with_extra("snmpv3:\n  credentials_file: creds.yaml\n");
    let creds = env.path("creds.yaml");
    std::fs::write(
        &creds,
        "snmpv3_credentials:\n\
         \x20 - username: authpriv\n    credentials:\n      - priority: 1\n        auth_type: SHA\n\
         \x20       auth_password: authpass123\n        priv_type: AES\n        priv_password: privpass456\n\
         \x20       active: true\n\
         \x20 - username: authonly\n    credentials:\n      - priority: 1\n        auth_type: MD5\n\
         \x20       auth_password: authpass789\n        priv_type: none\n        priv_password: ''\n\
         \x20       active: true\n\
         \x20 - username: noauth\n    credentials:\n      - priority: 1\n        auth_type: none\n\
         \x20       auth_password: ''\n        priv_type: none\n        priv_password: ''\n\
         \x20       active: true\n",
    )
    .expect("write credentials");
    std::fs::set_permissions(&creds, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let out = env
        .mutt(&["check-config"])
        .output()
        .expect("run check-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "no warning expected: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok (0 rules)"));
}

#[test]
fn a_missing_mib_directory_is_refused() {
    let env = with_extra("snmp:\n  mib_dirs: [./no-such-mibs]\n");
    let message = refused_by_both(&env);
    assert!(
        message.starts_with(&format!(
            "mutt: {}: snmp.mib_dirs: ./no-such-mibs",
            env.config_path().display()
        )),
        "{message}"
    );
}

#[test]
fn a_missing_tls_key_file_is_refused_with_its_line() {
    let env = with_tls("server.pem", "./no-such.key");
    let message = refused_by_both(&env);
    let line = line_of(&env.config_path(), "key_file:");
    assert!(
        message.starts_with(&format!(
            "mutt: {}:{line}: listeners.syslog_tls.key_file: cannot read ./no-such.key",
            env.config_path().display()
        )),
        "{message}"
    );
}

#[test]
fn a_certificate_path_that_is_no_certificate_is_refused() {
    let env = with_tls("README.md", "{data}/server.key");
    let message = refused_by_both(&env);
    let line = line_of(&env.config_path(), "cert_file:");
    assert!(
        message.starts_with(&format!(
            "mutt: {}:{line}: listeners.syslog_tls.cert_file:",
            env.config_path().display()
        )),
        "{message}"
    );
}

#[test]
fn a_webhook_rule_without_a_configured_target_is_reported_by_check_config_as_by_run() {
    let env = Env::new(Setup {
        rules: "rules:\n  - id: hot\n    pattern_type: keyword\n    keywords: [hot]\n    \
                action: webhook\n    webhook: pager\n"
            .into(),
        ..Setup::default()
    });
    let out = env
        .mutt(&["check-config"])
        .output()
        .expect("run check-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Not an error: run starts and marks such alerts dead with the reason.
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "warning: rule hot (line 2) sends webhook alerts to target \"pager\", but \
             outputs.webhooks.pager is not configured"
        ),
        "{stderr}"
    );
}

#[test]
fn the_shipped_config_files_pass_check_config() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(MUTT)
        .args(["--config", "config/mutt_config.yaml", "check-config"])
        .current_dir(root)
        .output()
        .expect("run check-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("config/mutt_config.yaml: ok ("));
}

/// A config with the TLS listener on: `cert` names a file under tests/data/tls, `key` a path
/// where `{data}` stands for that directory.
fn with_tls(cert: &str, key: &str) -> Env {
    let env = Env::new(Setup::default());
    let data = format!("{}/tests/data/tls", env!("CARGO_MANIFEST_DIR"));
    let key = key.replace("{data}", &data);
    add_listener_yaml(
        &env,
        &format!(
            "  syslog_tls:\n    enabled: true\n    bind: 127.0.0.1\n    port: {}\n    \
             cert_file: {data}/{cert}\n    key_file: {key}\n",
            free_port()
        ),
    );
    env
}
