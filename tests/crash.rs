//! Crash safety: kill -9, torn WAL tails, an unavailable database, offline replay. Every accepted
//! message is stored exactly once.

mod common;

use std::time::Duration;

use common::*;

fn assert_exactly_once(env: &Env, n: usize) {
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        n as i64,
        "row count"
    );
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT raw_message) FROM messages")
            .unwrap(),
        n as i64,
        "no line stored twice"
    );
}

/// Wait until ingest has put `n` datagrams in the WAL (flushed: a kill -9 no longer loses them).
fn assert_all_accepted(daemon: &Daemon, n: u64) {
    let accepted = daemon.wait_metric(
        "mutt_accepted_syslog_udp_total",
        Duration::from_secs(20),
        |a| a >= n,
    );
    assert_eq!(accepted, n, "datagrams accepted into the WAL");
}

#[test]
fn kill_9_twice_during_bursts_loses_nothing_and_duplicates_nothing() {
    let env = Env::new(Setup::default());
    let mut sent = 0;
    for round in 0..2 {
        let daemon = env.start();
        let lines = numbered_lines(&format!("round{round}"), 10_000);
        env.send_udp(env.syslog_port, &lines);
        sent += lines.len();
        // Kill as soon as ingest has accepted the whole burst, while processing is still going.
        assert_all_accepted(&daemon, lines.len() as u64);
        daemon.kill9();
        eprintln!(
            "round {round}: {:?} of {sent} stored at the kill",
            env.count_when_ready("SELECT COUNT(*) FROM messages")
        );
    }
    let daemon = env.start();
    assert_eq!(
        env.wait_rows(sent as i64, Duration::from_secs(60)),
        sent as i64
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert_exactly_once(&env, sent);
}

#[test]
fn replay_while_the_daemon_is_down_stores_everything_once_and_a_second_replay_nothing() {
    let env = Env::new(Setup::default());
    let lock = env.lock_db();
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("replay", 3000));
    daemon.wait_for_log(
        "retrying, messages stay in the WAL",
        Duration::from_secs(10),
    );
    assert_all_accepted(&daemon, 3000);
    daemon.kill9();
    drop(lock);
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 0);

    let wal = env.wal_dir();
    let out = env
        .mutt(&["replay", "--quiet", wal.to_str().expect("utf-8 path")])
        .output()
        .expect("replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3000 messages stored"));
    assert_exactly_once(&env, 3000);

    let out = env
        .mutt(&["replay", "--quiet", wal.to_str().expect("utf-8 path")])
        .output()
        .expect("replay again");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 messages stored"));
    assert_exactly_once(&env, 3000);
}

#[test]
fn a_torn_wal_tail_is_truncated_at_the_last_good_record() {
    let env = Env::new(Setup::default());
    let lock = env.lock_db();
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("torn", 1000));
    assert_all_accepted(&daemon, 1000);
    daemon.kill9();
    drop(lock);
    // A crash mid-write: the last record is cut short.
    let last = env.segments().pop().expect("a segment");
    let len = std::fs::metadata(&last).expect("stat").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .expect("open");
    f.set_len(len - 10).expect("truncate");
    drop(f);

    let daemon = env.start();
    assert_eq!(env.wait_rows(999, Duration::from_secs(30)), 999);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert_exactly_once(&env, 999);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE raw_message LIKE '%torn message 000999'")
            .unwrap(),
        0,
        "the torn record is gone"
    );
    assert!(
        file_text(&env.log_path()).contains("truncated_tail_bytes"),
        "the repair is reported"
    );
}

#[test]
fn a_database_locked_for_a_while_loses_nothing_once_it_is_free() {
    let env = Env::new(Setup::default());
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("before", 100));
    assert_eq!(env.wait_rows(100, Duration::from_secs(10)), 100);
    let lock = rusqlite::Connection::open(env.db_path()).expect("open");
    lock.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    env.send_udp(env.syslog_port, &numbered_lines("during", 2000));
    daemon.wait_for_log(
        "retrying, messages stay in the WAL",
        Duration::from_secs(10),
    );
    // "A while": every line is in the WAL and the writer has failed and backed off a few times.
    assert_all_accepted(&daemon, 2100);
    let retries = daemon.wait_metric("mutt_store_retries_total", Duration::from_secs(20), |n| {
        n >= 4
    });
    assert!(retries >= 4, "only {retries} retries while locked");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        100,
        "nothing stored while locked"
    );
    lock.execute_batch("ROLLBACK").expect("unlock");
    drop(lock);
    assert_eq!(env.wait_rows(2100, Duration::from_secs(30)), 2100);
    daemon.wait_for_log("database available again", Duration::from_secs(10));
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert_exactly_once(&env, 2100);
}
