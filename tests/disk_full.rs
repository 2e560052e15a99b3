//! The WAL's disk fills up under load: ingest drops and counts what it cannot write, the daemon
//! stays up, nothing it accepted is lost or stored twice, and it resumes by itself once space
//! returns. The WAL lives on a 16 MiB tmpfs the test mounts (root); a filler file takes the space.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
#[ignore = "needs root to mount a tmpfs"]
fn a_full_wal_disk_drops_and_counts_keeps_what_was_accepted_and_recovers_by_itself() {
    let env = Env::new(Setup::default());
    let fs = Tmpfs::mount(&env.wal_dir(), 16 << 20);
    let daemon = env.start();
    // Leave less than a segment (1 MiB) free: the newest segment is never released, so the disk
    // stays full until the filler goes.
    let filler = env.wal_dir().join("filler");
    let free = fs.free_bytes();
    std::fs::write(&filler, vec![0u8; (free - (384 << 10)) as usize]).expect("filler");

    let mut sent = 0;
    while daemon.metric("mutt_dropped_disk_full_total") == 0 {
        assert!(
            sent < 100_000,
            "the disk never filled up after {sent} messages"
        );
        env.send_udp(
            env.syslog_port,
            &numbered_lines(&format!("before{sent}"), 500),
        );
        sent += 500;
    }
    // More while full: dropped and counted, the daemon stays up.
    let dropped = daemon.metric("mutt_dropped_disk_full_total");
    env.send_udp(env.syslog_port, &numbered_lines("while-full", 2000));
    assert!(
        daemon.wait_metric(
            "mutt_dropped_disk_full_total",
            Duration::from_secs(10),
            |n| n > dropped
        ) > dropped
    );
    let body = daemon.wait_health(503, Duration::from_secs(5));
    assert!(body.contains(r#""wal_disk_full""#), "{body}");
    let starts = daemon.stderr().matches("WAL disk full: dropping").count();
    assert_eq!(starts, 1, "the condition is logged once, not per datagram");

    std::fs::remove_file(&filler).expect("remove filler");
    // Ingest tries again by itself: probe until one datagram is accepted.
    let accepted = daemon.metric("mutt_accepted_syslog_udp_total");
    let until = Instant::now() + Duration::from_secs(20);
    let mut probes = 0;
    while daemon.metric("mutt_accepted_syslog_udp_total") == accepted {
        assert!(Instant::now() < until, "ingest did not resume");
        env.send_udp(
            env.syslog_port,
            &numbered_lines(&format!("probe{probes}"), 1),
        );
        probes += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.wait_for_log("WAL disk has space again", Duration::from_secs(5));
    env.send_udp(env.syslog_port, &numbered_lines("after", 2000));
    let accepted_at_end = daemon.wait_metric(
        "mutt_accepted_syslog_udp_total",
        Duration::from_secs(20),
        |n| n > accepted + 2000,
    );
    assert!(accepted_at_end > accepted + 2000);

    // Everything accepted is stored, once.
    let rows = env.wait_rows(accepted_at_end as i64, Duration::from_secs(60));
    assert_eq!(rows, accepted_at_end as i64);
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT raw_message) FROM messages")
            .unwrap(),
        rows
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE raw_message LIKE '% after message %'")
            .unwrap(),
        2000
    );
    assert!(daemon.metric("mutt_dropped_disk_full_total") > 0);
    daemon.wait_health(200, Duration::from_secs(5));
    let (status, log) = daemon.terminate();
    assert!(status.success(), "{log}");
    drop(fs);
}

#[test]
#[ignore = "needs root to mount a tmpfs"]
fn a_full_database_disk_is_retried_like_any_transient_failure_and_nothing_is_quarantined() {
    let env = Env::new(Setup {
        metrics_yaml: "  stall_after_seconds: 2\n".into(),
        ..Setup::default()
    });
    let fs = Tmpfs::mount(&env.path("data"), 8 << 20);
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("first", 100));
    assert_eq!(env.wait_rows(100, Duration::from_secs(10)), 100);
    // Leave the database almost no room: its next transactions fail with SQLITE_FULL.
    let filler = env.path("data/filler");
    std::fs::write(
        &filler,
        vec![0u8; fs.free_bytes().saturating_sub(32 << 10) as usize],
    )
    .expect("filler");
    env.send_udp(env.syslog_port, &numbered_lines("full", 5000));
    let body = daemon.wait_health(503, Duration::from_secs(20));
    assert!(body.contains(r#""storage_stalled""#), "{body}");
    assert!(daemon.metric("mutt_store_retries_total") > 0);
    let log = daemon.stderr();
    assert!(log.contains("database or disk is full"), "{log}");
    let stored_while_full = env.count("SELECT COUNT(*) FROM messages").unwrap();
    assert!(stored_while_full < 5100, "the disk was not full");
    std::fs::remove_file(&filler).expect("remove filler");
    assert_eq!(env.wait_rows(5100, Duration::from_secs(30)), 5100);
    daemon.wait_health(200, Duration::from_secs(10));
    assert_eq!(daemon.metric("mutt_quarantined_total"), 0);
    assert_eq!(daemon.metric("mutt_dead_lettered_total"), 0);
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT raw_message) FROM messages WHERE validated = 1")
            .unwrap(),
        5100
    );
    drop(daemon);
    drop(fs);
}
