//! Bounded state, through the real daemon: the devices table stops at its cap without failing
//! a batch, finished webhook alerts past their retention are deleted while pending ones stay,
//! and connections refused at the cap are counted each but logged once.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;

/// Poll `sql` until it returns `want`; returns the last value seen.
fn wait_sql(env: &Env, sql: &str, want: i64, timeout: Duration) -> i64 {
    env.wait_count(sql, timeout, |n| n == want)
}

/// Add `line` under `storage.database:` in the env's config.
fn with_database_key(env: &Env, line: &str) {
    let path = env.config_path();
    let text = file_text(&path);
    let text = text.replacen("  database:\n", &format!("  database:\n    {line}\n"), 1);
    std::fs::write(&path, text).expect("rewrite config");
}

#[test]
fn new_addresses_past_max_devices_are_stored_counted_and_logged_once() {
    let env = Env::new(Setup::default());
    with_database_key(&env, "max_devices: 3");
    let daemon = env.start();
    // Six senders on six loopback addresses, two messages each.
    for round in 0..2 {
        for host in 2..=7u8 {
            let s = UdpSocket::bind(("127.0.0.".to_string() + &host.to_string(), 0))
                .expect("bind a loopback address");
            let line = format!("<134>Nov 27 10:00:00 sw{host} app: round {round}");
            s.send_to(line.as_bytes(), ("127.0.0.1", env.syslog_port))
                .expect("send");
        }
        assert_eq!(
            env.wait_rows(6 * (round + 1), Duration::from_secs(20)),
            6 * (round + 1)
        );
    }
    assert_eq!(env.count("SELECT COUNT(*) FROM devices").unwrap(), 3);
    // Every new address past the cap counts, once per message (the second round too).
    let over_cap = daemon.wait_metric(
        "mutt_devices_over_cap_total",
        Duration::from_secs(10),
        |n| n >= 6,
    );
    assert_eq!(over_cap, 6);
    let (status, _) = daemon.terminate();
    assert!(status.success());
    let log = file_text(&env.log_path());
    assert_eq!(log.matches("the devices table is full").count(), 1, "{log}");
}

#[test]
fn finished_webhook_alerts_past_retention_are_deleted_and_pending_ones_stay() {
    // Nothing listens on the endpoint: the pending alert stays pending.
    let closed = free_port();
    let env = Env::new(Setup {
        extra: format!(
            "outputs:\n  webhook: {{url: \"http://127.0.0.1:{closed}/alerts\"}}\n  \
             retention: {{delivered_days: 7, dead_days: 30}}\n"
        ),
        ..Setup::default()
    });
    drop(mutt::store::Store::open(&env.db_path(), Duration::from_secs(5)).expect("create db"));
    let db = rusqlite::Connection::open(env.db_path()).expect("open db");
    let recent = mutt::timefmt::iso8601_us(mutt::timefmt::now_us() - 86_400_000_000);
    let old = "2020-01-01T00:00:00.000000Z";
    for (state, at) in [
        ("delivered", old),
        ("dead", old),
        ("pending", old),
        ("delivered", recent.as_str()),
        ("dead", recent.as_str()),
    ] {
        db.execute(
            "INSERT INTO webhook_outbox (message_id, rule_id, target, body, state,
                 next_attempt_at, created_at, delivered_at, fold_key)
             VALUES ('m', 'r', 'default', '{}', ?1, ?2, ?2,
                 CASE ?1 WHEN 'delivered' THEN ?2 END, 0)",
            rusqlite::params![state, at],
        )
        .expect("insert outbox row");
    }
    drop(db);
    let daemon = env.start();
    let finished = "SELECT COUNT(*) FROM webhook_outbox WHERE state IN ('delivered', 'dead')";
    assert_eq!(wait_sql(&env, finished, 2, Duration::from_secs(20)), 2);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'")
            .unwrap(),
        1
    );
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) FROM webhook_outbox WHERE created_at = '{recent}'"
        ))
        .unwrap(),
        2,
        "the recent finished rows are kept"
    );
    drop(daemon);
}

#[test]
fn connections_refused_at_the_cap_are_each_counted_and_logged_once() {
    let env = Env::new(Setup::default());
    let path = env.config_path();
    let text = file_text(&path).replacen(
        "    protocol: [udp, tcp]\n",
        "    protocol: [udp, tcp]\n    max_connections: 2\n",
        1,
    );
    std::fs::write(&path, text).expect("rewrite config");
    let daemon = env.start();
    let held: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", env.syslog_port)).expect("connect"))
        .collect();
    for _ in 0..50 {
        // Accepted by the kernel, then closed by MUTT at its cap.
        let _ = std::net::TcpStream::connect(("127.0.0.1", env.syslog_port));
    }
    let refused = daemon.wait_metric("mutt_tcp_refused_total", Duration::from_secs(10), |n| {
        n >= 50
    });
    assert_eq!(refused, 50, "each refusal counted once");
    let log = daemon.stderr();
    assert_eq!(
        log.matches("connection refused: at the connection cap")
            .count(),
        1,
        "{log}"
    );
    drop(held);
}
