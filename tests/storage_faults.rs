//! Storage faults, driven through the real binary: rows the database refuses, a database locked
//! by another process, made read-only or never writable before a shutdown. MUTT keeps storing
//! what it can, says on `/health` when it cannot, and loses nothing.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{numbered_lines, Env, Setup};

fn setup() -> Setup {
    Setup {
        extra: "enrichment:\n  reverse_dns: false\n".into(),
        ..Setup::default()
    }
}

/// Send one datagram from `from` (any 127/8 address: the loopback answers them all).
fn send_from(env: &Env, from: &str, line: &str) {
    let s = UdpSocket::bind((from, 0)).expect("bind sender");
    s.send_to(line.as_bytes(), ("127.0.0.1", env.syslog_port))
        .expect("send");
}

#[test]
fn three_spoofed_datagrams_with_colliding_names_then_a_thousand_lines_are_all_stored() {
    let env = Env::new(setup());
    let daemon = env.start();
    send_from(&env, "127.0.0.2", "<13>Jan  1 00:00:00 victim app: a");
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    send_from(
        &env,
        "127.0.0.3",
        "<13>Jan  1 00:00:00 victim@127.0.0.4 app: b",
    );
    assert_eq!(env.wait_rows(2, Duration::from_secs(10)), 2);
    send_from(&env, "127.0.0.4", "<13>Jan  1 00:00:00 victim app: c");
    assert_eq!(env.wait_rows(3, Duration::from_secs(10)), 3);
    env.send_udp(env.syslog_port, &numbered_lines("after", 1000));
    assert_eq!(env.wait_rows(1003, Duration::from_secs(30)), 1003);
    let devices = env
        .count("SELECT COUNT(DISTINCT hostname) FROM devices")
        .unwrap();
    assert_eq!(devices, 4, "127.0.0.2-4 and the sender of the 1,000");
    assert_eq!(daemon.metric("mutt_quarantined_total"), 0);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE error_message IS NOT NULL")
            .unwrap(),
        0
    );
}

#[test]
fn a_device_renamed_back_and_forth_between_two_addresses_never_stops_storage() {
    let env = Env::new(setup());
    let daemon = env.start();
    for round in 0..20 {
        let (a, b) = if round % 2 == 0 {
            ("alpha", "beta")
        } else {
            ("beta", "alpha")
        };
        send_from(
            &env,
            "127.0.0.5",
            &format!("<13>Jan  1 00:00:00 {a} app: {round}"),
        );
        send_from(
            &env,
            "127.0.0.6",
            &format!("<13>Jan  1 00:00:00 {b} app: {round}"),
        );
        let n = 2 * (round + 1);
        assert_eq!(
            env.wait_rows(n, Duration::from_secs(10)),
            n,
            "round {round}"
        );
    }
    let names = env
        .count(
            "SELECT COUNT(*) FROM devices WHERE source_ip IN ('127.0.0.5', '127.0.0.6')
             AND hostname IN ('alpha', 'beta', 'alpha@127.0.0.5', 'alpha@127.0.0.6',
                              'beta@127.0.0.5', 'beta@127.0.0.6')",
        )
        .unwrap();
    assert_eq!(names, 2);
    assert_eq!(daemon.metric("mutt_store_retries_total"), 0);
}

#[test]
fn a_row_the_database_refuses_is_isolated_stored_raw_and_the_rest_stored() {
    let env = Env::new(Setup {
        batch_write_size: 1000,
        ..setup()
    });
    // The operator's triggers: one refuses a decoded row (by its type-specific part, which a
    // message stored raw does not have), the other refuses any message with a word in it.
    drop(env.lock_db());
    let c = rusqlite::Connection::open(env.db_path()).unwrap();
    c.execute_batch(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages
             WHEN NEW.syslog_program = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned by an operator trigger'); END;
         CREATE TRIGGER refuse_deadly BEFORE INSERT ON messages
             WHEN NEW.raw_message LIKE '%deadly%'
             BEGIN SELECT RAISE(ABORT, 'refused by an operator trigger'); END;",
    )
    .unwrap();
    drop(c);
    let daemon = env.start();
    let mut lines = numbered_lines("batch", 1000);
    lines[500] = b"<13>Jan  1 00:00:00 host poison: the poisoned one".to_vec();
    lines[700] = b"<13>Jan  1 00:00:00 host app: the deadly one \xff\xfe".to_vec();
    env.send_udp(env.syslog_port, &lines);
    assert_eq!(
        daemon.wait_metric("mutt_checkpoint_seq", Duration::from_secs(30), |n| n
            >= 1000,),
        1000
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 999);
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM messages WHERE validated = 0 AND raw_message LIKE '%poisoned one'
             AND error_message LIKE '%poisoned by an operator trigger%'"
        )
        .unwrap(),
        1
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE error_message IS NOT NULL")
            .unwrap(),
        1
    );
    let (seq, bytes, error): (i64, Vec<u8>, String) = env
        .db()
        .query_row(
            "SELECT wal_seq, raw_bytes, error FROM dead_letters",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(seq, 701);
    assert_eq!(
        bytes, lines[700],
        "the bytes as received, not UTF-8 and all"
    );
    assert!(error.contains("refused by an operator trigger"), "{error}");
    assert_eq!(daemon.metric("mutt_quarantined_total"), 1);
    assert_eq!(daemon.metric("mutt_dead_lettered_total"), 1);
    assert_eq!(daemon.metric("mutt_stored_total"), 999);
    // Storage goes on after them.
    env.send_udp(env.syslog_port, &numbered_lines("later", 10));
    assert_eq!(env.wait_rows(1009, Duration::from_secs(10)), 1009);
}

#[test]
fn a_database_locked_by_another_process_for_a_minute_turns_health_503_and_loses_nothing() {
    let env = Env::new(Setup {
        metrics_yaml: "  stall_after_seconds: 2\n".into(),
        ..setup()
    });
    let lock = env.lock_db();
    let locked_at = Instant::now();
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("locked", 1000));
    let body = daemon.wait_health(503, Duration::from_secs(15));
    assert!(body.contains(r#""reasons":["storage_stalled"]"#), "{body}");
    assert!(body.contains(r#""wal_backlog":1000"#), "{body}");
    assert!(
        locked_at.elapsed() < Duration::from_secs(20),
        "503 within the stall time"
    );
    // Unhealthy as long as the lock is held, while the writer keeps trying: its retries go on
    // through the minute (the backoff tops out at 5 s), so each 503 is an answer about a
    // database still locked, not about a writer that stopped.
    let retries_at_503 = daemon.metric("mutt_store_retries_total");
    while locked_at.elapsed() < Duration::from_secs(60) {
        let (code, _) = daemon.health();
        assert_eq!(code, 503, "unhealthy as long as the lock is held");
        // How often /health is asked; what is shown is the retries counted below.
        std::thread::sleep(Duration::from_millis(500));
    }
    let retries = daemon.metric("mutt_store_retries_total") - retries_at_503;
    assert!(
        retries >= 5,
        "the writer retried only {retries} times in the locked minute"
    );
    drop(lock);
    assert_eq!(env.wait_rows(1000, Duration::from_secs(30)), 1000);
    daemon.wait_health(200, Duration::from_secs(10));
    assert_eq!(daemon.metric("mutt_quarantined_total"), 0);
    let log = daemon.stderr();
    assert_eq!(
        log.matches("unhealthy: storage has not advanced").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("healthy again: storage_stalled").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("cannot store a batch").count(), 1, "{log}");
}

/// `chattr` the database's files; panics unless it worked (root on a file system with
/// attributes, as CI is).
fn chattr(flag: &str, files: &[std::path::PathBuf]) {
    let ok = Command::new("chattr")
        .arg(flag)
        .args(files)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "chattr {flag} failed: needs root on a file system with attributes"
    );
}

#[test]
#[ignore = "needs chattr and root"]
fn a_database_made_read_only_during_a_run_is_retried_until_it_is_writable_again() {
    let env = Env::new(setup());
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("before", 100));
    assert_eq!(env.wait_rows(100, Duration::from_secs(10)), 100);
    let files = [env.db_path(), env.path("data/messages.db-wal")];
    chattr("+i", &files);
    // Immutable: even root's writes fail (SQLite reports an I/O error).
    env.send_udp(env.syslog_port, &numbered_lines("during", 100));
    let retries = daemon.wait_metric("mutt_store_retries_total", Duration::from_secs(10), |n| {
        n >= 1
    });
    let stored = env.count("SELECT COUNT(*) FROM messages").unwrap();
    chattr("-i", &files);
    assert!(retries >= 1, "the writer met the read-only file");
    assert_eq!(stored, 100, "nothing stored while read-only");
    assert_eq!(env.wait_rows(200, Duration::from_secs(20)), 200);
    assert_eq!(daemon.metric("mutt_quarantined_total"), 0);
    assert_eq!(daemon.metric("mutt_dead_lettered_total"), 0);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE validated = 1")
            .unwrap(),
        200
    );
}

#[test]
fn sigterm_with_the_database_locked_exits_within_the_shutdown_timeout_and_keeps_the_records() {
    let env = Env::new(Setup {
        daemon_yaml: "  shutdown_timeout_seconds: 3\n".into(),
        ..setup()
    });
    let lock = env.lock_db();
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("kept", 50));
    assert_eq!(
        daemon.wait_metric(
            "mutt_accepted_syslog_udp_total",
            Duration::from_secs(10),
            |n| n >= 50,
        ),
        50
    );
    let asked = Instant::now();
    let (status, log) = daemon.terminate();
    let took = asked.elapsed();
    assert!(!status.success(), "{status:?}");
    assert!(took < Duration::from_secs(8), "exited after {took:?}");
    assert!(
        took >= Duration::from_secs(3),
        "waited the timeout: {took:?}"
    );
    assert!(
        log.contains("50 records stay in the WAL and are stored at the next start"),
        "{log}"
    );
    drop(lock);
    let _daemon = env.start();
    assert_eq!(env.wait_rows(50, Duration::from_secs(10)), 50);
}

#[test]
fn an_undecodable_trap_keeps_its_bytes_and_mutt_decode_stored_shows_them() {
    let env = Env::new(setup());
    let _daemon = env.start();
    let junk = b"\x30\x82\xff\xff\x02\x01\x01 not really SNMP \x00\xff".to_vec();
    env.send_udp(env.snmp_port, std::slice::from_ref(&junk));
    let latin1 = b"<13>Jan  1 00:00:00 host app: caf\xe9".to_vec();
    env.send_udp(env.syslog_port, std::slice::from_ref(&latin1));
    assert_eq!(env.wait_rows(2, Duration::from_secs(10)), 2);
    let db = env.db();
    let (id, bytes): (String, Vec<u8>) = db
        .query_row(
            "SELECT id, raw_bytes FROM messages WHERE type = 'snmp_trap' AND validated = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(bytes, junk);
    let syslog_bytes: Vec<u8> = db
        .query_row(
            "SELECT raw_bytes FROM messages WHERE type = 'syslog'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(syslog_bytes, latin1, "not UTF-8: kept exactly");
    let out = env.mutt(&["decode", "stored", &id]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hex = mutt::hex::encode(&junk);
    assert_eq!(line["raw_hex"], hex.as_str());
    assert_eq!(line["type"], "snmp_trap");
    assert_eq!(line["decoded"]["valid"], false, "{line}");
}
