//! Rules and routing end to end: the seed's example rules plus exact, discard and disabled rules,
//! and hot reload without a restart.

mod common;

use std::time::{Duration, Instant};

use common::*;

const RULES: &str = r#"
rules:
  - id: "rule_001"
    name: "High Temperature Alert"
    pattern_type: "regex"
    pattern: "temperature.*critical"
    severity: "critical"
    action: "store"
  - id: "rule_002"
    name: "Interface Down"
    pattern_type: "keyword"
    keywords: ["down", "unreachable"]
    severity: "warning"
    action: "store"
  - id: "rule_003"
    name: "Memory Low"
    pattern_type: "regex"
    pattern: "memory.*low|low.*memory"
    severity: "info"
    action: "store"
  - id: "exact_001"
    name: "Exact heartbeat"
    pattern_type: "exact"
    pattern: "<13>Nov 27 10:00:00 core1 hb: HEARTBEAT OK"
    severity: "debug"
    action: "store"
  - id: "noise_001"
    name: "Drop chatter"
    pattern_type: "keyword"
    keywords: ["chatter"]
    severity: "debug"
    action: "discard"
  - id: "off_001"
    name: "Disabled"
    pattern_type: "keyword"
    keywords: ["memory"]
    severity: "critical"
    action: "store"
    enabled: false
"#;

fn rule_of(env: &Env, marker: &str) -> (Option<String>, Option<String>, Option<String>) {
    env.db()
        .query_row(
            "SELECT matched_rule_id, matched_rule_name, match_severity FROM messages
             WHERE raw_message LIKE '%' || ?1 || '%'",
            [marker],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap_or_else(|e| panic!("no row with {marker:?}: {e}"))
}

fn line(text: &str) -> Vec<u8> {
    format!("<13>Nov 27 10:00:00 core1 app: {text}").into_bytes()
}

#[test]
fn the_first_enabled_matching_rule_is_stored_and_discards_are_only_counted() {
    let env = Env::new(Setup {
        rules: RULES.into(),
        ..Setup::default()
    });
    let daemon = env.start();
    let lines = vec![
        line("Temperature sensor 3 CRITICAL t1"),
        line("Interface Gi0/1 is DOWN and memory low t2"),
        line("memory is low t3"),
        b"<13>Nov 27 10:00:00 core1 hb: HEARTBEAT OK".to_vec(),
        line("routine chatter t5"),
        line("nothing to see t6"),
    ];
    env.send_udp(env.syslog_port, &lines);
    assert_eq!(env.wait_rows(5, Duration::from_secs(10)), 5);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    let some = |a: &str, b: &str, c: &str| (Some(a.into()), Some(b.into()), Some(c.into()));
    assert_eq!(
        rule_of(&env, "t1"),
        some("rule_001", "High Temperature Alert", "critical")
    );
    // rule_002 comes before rule_003 in the file: first match wins.
    assert_eq!(
        rule_of(&env, "t2"),
        some("rule_002", "Interface Down", "warning")
    );
    // The disabled rule would match "memory" first; it is skipped.
    assert_eq!(rule_of(&env, "t3"), some("rule_003", "Memory Low", "info"));
    assert_eq!(
        rule_of(&env, "HEARTBEAT OK"),
        some("exact_001", "Exact heartbeat", "debug")
    );
    assert_eq!(rule_of(&env, "t6"), (None, None, None));
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 5);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE raw_message LIKE '%chatter%'")
            .unwrap(),
        0
    );
    assert_eq!(
        env.count("SELECT discarded FROM rule_counters WHERE rule_id = 'noise_001'")
            .unwrap(),
        1
    );
    assert_eq!(
        env.count("SELECT wal_seq FROM mutt_checkpoint").unwrap(),
        6,
        "the discarded record still advanced the checkpoint"
    );
    assert!(stderr.contains("discarded=1"), "{stderr}");
}

#[test]
fn a_changed_rules_file_applies_without_restart_and_a_broken_one_keeps_the_old_rules() {
    let env = Env::new(Setup {
        rules: "rules:\n  - id: a\n    name: A\n    pattern_type: keyword\n    keywords: [alpha]\n"
            .into(),
        ..Setup::default()
    });
    let daemon = env.start();
    env.send_udp(env.syslog_port, &[line("alpha beta r1")]);
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    assert_eq!(rule_of(&env, "r1").0.as_deref(), Some("a"));

    // A new rule in front: picked up from the file change, no signal, no restart.
    std::fs::write(
        env.path("alert_rules.yaml"),
        "rules:\n  - id: b\n    name: B\n    pattern_type: keyword\n    keywords: [beta]\n  - id: a\n    name: A\n    pattern_type: keyword\n    keywords: [alpha]\n",
    )
    .expect("write rules");
    daemon.wait_for_log("reason=\"file changed\"", Duration::from_secs(10));
    env.send_udp(env.syslog_port, &[line("alpha beta r2")]);
    assert_eq!(env.wait_rows(2, Duration::from_secs(10)), 2);
    assert_eq!(rule_of(&env, "r2").0.as_deref(), Some("b"));

    // A broken file is rejected with its line; the rules in force stay.
    std::fs::write(
        env.path("alert_rules.yaml"),
        "rules:\n  - id: c\n    name: C\n    pattern_type: regex\n    pattern: \"(unclosed\"\n",
    )
    .expect("write rules");
    signal(daemon.pid(), libc::SIGHUP);
    daemon.wait_for_log("rules file rejected", Duration::from_secs(10));
    assert!(
        daemon.stderr().contains("alert_rules.yaml:5"),
        "{}",
        daemon.stderr()
    );
    env.send_udp(env.syslog_port, &[line("alpha beta r3")]);
    assert_eq!(env.wait_rows(3, Duration::from_secs(10)), 3);
    assert_eq!(rule_of(&env, "r3").0.as_deref(), Some("b"));

    // SIGHUP with the file unchanged: read again all the same.
    let sighup = "reason=\"SIGHUP\"";
    let before = daemon.stderr().matches(sighup).count();
    signal(daemon.pid(), libc::SIGHUP);
    let until = Instant::now() + Duration::from_secs(10);
    while daemon.stderr().matches(sighup).count() == before {
        assert!(
            Instant::now() < until,
            "SIGHUP reloaded nothing: {}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(daemon);
}
