//! The command line a network engineer uses besides `run`: decode, rules, check-config.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn run_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mutt");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn decode_syslog_prints_what_would_be_stored_one_object_per_line() {
    let env = Env::new(Setup::default());
    let out = run_with_stdin(
        &mut env.mutt(&[
            "decode",
            "syslog",
            "-",
            "--received-at",
            "2027-01-01T00:00:05Z",
        ]),
        "<34>Dec 31 23:59:58 core1 sshd[42]: Failed password\n\
         <165>1 2026-11-27T10:00:00.123456+02:00 edge app 7 ID47 [x@1 a=\"b\\\"c\"] hi\n\
         not syslog at all\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(first["format"], "rfc3164");
    assert_eq!(
        (first["facility"].as_i64(), first["level"].as_i64()),
        (Some(4), Some(2))
    );
    // Received on New Year's day: a Dec 31 stamp belongs to the old year.
    assert_eq!(first["timestamp"], "2026-12-31T23:59:58.000000Z");
    assert_eq!(first["hostname"], "core1");
    assert_eq!(first["program"], "sshd");
    assert_eq!(first["process_id"], 42);
    assert_eq!(first["valid"], true);
    let second = &lines[1];
    assert_eq!(second["format"], "rfc5424");
    assert_eq!(second["timestamp"], "2026-11-27T08:00:00.123456Z");
    assert_eq!(second["msgid"], "ID47");
    assert_eq!(second["structured_data"]["x@1"]["a"], "b\"c");
    assert_eq!(second["message"], "hi");
    let third = &lines[2];
    assert_eq!(third["valid"], false);
    assert!(!third["validation_errors"]
        .as_array()
        .expect("errors")
        .is_empty());
    for key in [
        "format",
        "facility",
        "level",
        "timestamp",
        "hostname",
        "program",
        "process_id",
        "msgid",
        "structured_data",
        "message",
        "valid",
        "validation_errors",
    ] {
        assert!(third.get(key).is_some(), "key {key} missing");
    }
}

#[test]
fn decode_snmp_uses_the_configured_users_and_never_prints_a_password() {
    let env = Env::new(Setup::default());
    let creds = env.path("creds.yaml");
    std::fs::write(
        &creds,
        "snmpv3_credentials:\n  - username: myuser2\n    credentials:\n      - priority: 1\n        auth_type: MD5\n        auth_password: mypassword2\n        priv_type: AES\n        priv_password: myprivacy2\n",
    )
    .expect("write credentials");
    let trap = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/snmp/gosnmp_v3_trap_authpriv_md5_aes.bin"
    );

    // Without users: the header only, with an error.
    let out = env.mutt(&["decode", "snmp", trap]).output().expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], false);

    let setup = Setup {
        extra: format!("snmpv3:\n  credentials_file: {}\n", creds.display()),
        ..Setup::default()
    };
    let env = Env { setup, ..env };
    env.write_config();
    let out = env.mutt(&["decode", "snmp", trap]).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["snmp_version"], "v3");
    assert_eq!(v["security_name"], "myuser2");
    assert_eq!(v["security_level"], "authPriv");
    assert_eq!(v["request_id"], 1318065890);
    assert_eq!(v["oid"], "1.3.6.1.4.1.8072.2.3.0.1");
    assert_eq!(v["valid"], true, "{text}");
    for secret in ["mypassword2", "myprivacy2"] {
        assert!(!text.contains(secret));
        assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    }
}

#[test]
fn rules_check_and_test_explain_a_rules_file() {
    let env = Env::new(Setup {
        rules: "rules:\n  - id: down\n    name: Link down\n    pattern_type: keyword\n    keywords: [down]\n    severity: warning\n    action: webhook\n".into(),
        ..Setup::default()
    });
    let out = env.mutt(&["rules", "check"]).output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 rules)"));
    let out = env
        .mutt(&[
            "rules",
            "test",
            "<13>Nov 27 10:00:00 sw1 ifmgr: Gi0/1 is down",
        ])
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "matches down (Link down): severity warning, action webhook"
    );
    let out = env
        .mutt(&["rules", "test", "all quiet"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no rule matches"));

    let bad = env.path("bad_rules.yaml");
    std::fs::write(
        &bad,
        "rules:\n  - id: r\n    name: R\n    pattern_type: regex\n    pattern: \"(\"\n",
    )
    .expect("write");
    let out = env
        .mutt(&["rules", "check", bad.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad_rules.yaml:5: rules[0].pattern"), "{err}");
}

#[test]
fn rules_test_decodes_a_trap_as_received_so_oid_and_trap_type_rules_match() {
    let env = Env::new(Setup {
        rules: "rules:
  - id: linkdown
    name: Link down
    pattern_type: keyword
    keywords: ['1.3.6.1.6.3.1.1.5.3']
    field: oid
    severity: critical
  - id: cold
    name: Cold start
    pattern_type: regex
    pattern: '^SNMPv2-MIB::coldStart$'
    field: trap_type
    severity: info
"
        .into(),
        ..Setup::default()
    });
    let test = |args: &[&str]| {
        let mut all = vec!["rules", "test"];
        all.extend_from_slice(args);
        let out = env.mutt(&all).output().expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.code(), stdout)
    };
    let link_down = "matches linkdown (Link down): severity critical, action store";

    // A captured datagram, in hex with a comment line, as `decode snmp --hex` reads it.
    let captured = include_bytes!("data/snmp/netsnmp_v2c_linkdown.bin");
    let hex = format!("# linkDown from net-snmp\n{}", mutt::hex::spaced(captured));
    assert_eq!(
        test(&["--type", "snmp-trap", &hex]),
        (Some(0), link_down.to_string())
    );

    // The short form: a minimal v2c trap with that snmpTrapOID.
    assert_eq!(
        test(&["--oid", "1.3.6.1.6.3.1.1.5.3"]),
        (Some(0), link_down.to_string())
    );
    // The built trap is a valid one: nothing to note about it.
    let out = env
        .mutt(&["rules", "test", "--oid", "1.3.6.1.6.3.1.1.5.3"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("note:"), "{err}");
    // trap_type is the OID's name, as the decoder gives it.
    assert_eq!(
        test(&["--oid", "1.3.6.1.6.3.1.1.5.1"]),
        (
            Some(0),
            "matches cold (Cold start): severity info, action store".to_string()
        )
    );
    assert_eq!(
        test(&["--oid", "1.3.6.1.4.1.9.9.41.2.0.1"]),
        (Some(0), "no rule matches: stored unmatched".to_string())
    );

    // Usage errors exit 2.
    assert_eq!(test(&["--type", "snmp-trap", "not hex"]).0, Some(2));
    assert_eq!(test(&["--oid", "linkDown"]).0, Some(2));
}
