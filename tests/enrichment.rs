//! Enrichment: reverse DNS never delays a message, and names the device once it is known; the
//! device registry follows.

mod common;

use std::time::Duration;

use common::*;

fn devices_of(env: &Env) -> Vec<String> {
    let db = env.db();
    let mut stmt = db
        .prepare("SELECT source_device FROM messages ORDER BY wal_seq")
        .expect("prepare");
    let rows = stmt.query_map([], |r| r.get(0)).expect("query");
    rows.map(|r| r.expect("row")).collect()
}

#[test]
fn the_resolved_name_replaces_the_sent_hostname_once_known() {
    let Some(resolved) = mutt::enrich::reverse_lookup([127, 0, 0, 1].into()) else {
        panic!("127.0.0.1 has no name in this system's resolver");
    };
    let env = Env::new(Setup::default());
    let daemon = env.start();
    env.send_udp(
        env.syslog_port,
        &[b"<13>Nov 27 10:00:00 core1 app: first".to_vec()],
    );
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    // The resolver thread logs the answer as it puts it in the cache.
    daemon.wait_for_log("reverse DNS ip=127.0.0.1", Duration::from_secs(20));
    env.send_udp(
        env.syslog_port,
        &[b"<13>Nov 27 10:00:01 core1 app: second".to_vec()],
    );
    assert_eq!(env.wait_rows(2, Duration::from_secs(10)), 2);
    drop(daemon);
    assert_eq!(
        devices_of(&env),
        vec!["core1".to_string(), resolved.clone()]
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM devices WHERE source_ip = '127.0.0.1' AND last_seen_syslog = 1"
        )
        .unwrap(),
        1
    );
    let name: String = env
        .db()
        .query_row("SELECT hostname FROM devices", [], |r| r.get(0))
        .expect("device");
    assert_eq!(name, resolved, "the registry follows the latest name");
}

#[test]
fn with_reverse_dns_off_the_sent_hostname_or_the_address_names_the_device() {
    let env = Env::new(Setup {
        extra: "enrichment:\n  reverse_dns: false\n".into(),
        ..Setup::default()
    });
    let daemon = env.start();
    env.send_udp(
        env.syslog_port,
        &[
            b"<13>Nov 27 10:00:00 core1 app: named".to_vec(),
            b"<13>unnamed".to_vec(),
        ],
    );
    // Both rows and their source_device are written in one transaction; nothing changes them
    // after.
    assert_eq!(env.wait_rows(2, Duration::from_secs(10)), 2);
    drop(daemon);
    assert_eq!(
        devices_of(&env),
        vec!["core1".to_string(), "127.0.0.1".to_string()]
    );
}
