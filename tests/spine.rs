//! The spine end to end: real clients in, rows out, exactly once.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
#[ignore = "needs logger"]
fn logger_over_udp_and_tcp_lands_in_the_database() {
    need_tool("logger");
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let port = env.syslog_port.to_string();
    let runs: [&[&str]; 4] = [
        &["-d", "udp hello"],
        &["-T", "--octet-count", "tcp octet counted"],
        &["-T", "tcp newline framed"],
        &["--rfc5424", "-d", "udp rfc5424"],
    ];
    for args in runs {
        let status = Command::new("logger")
            .args(["-n", "127.0.0.1", "-P", &port, "-t", "spine"])
            .args(args)
            .status()
            .expect("run logger");
        assert!(status.success(), "logger {args:?} failed");
    }
    assert_eq!(env.wait_rows(4, Duration::from_secs(10)), 4);
    let db = env.db();
    for text in [
        "udp hello",
        "tcp octet counted",
        "tcp newline framed",
        "udp rfc5424",
    ] {
        let (kind, ip, raw, received): (String, String, String, String) = db
            .query_row(
                "SELECT type, source_ip, raw_message, received_at FROM messages
                 WHERE raw_message LIKE '%' || ?1",
                [text],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap_or_else(|e| panic!("no row for {text:?}: {e}"));
        assert_eq!(kind, "syslog");
        assert_eq!(ip, "127.0.0.1");
        assert!(
            raw.starts_with('<'),
            "raw_message keeps the line as received: {raw}"
        );
        assert_eq!(received.len(), 27, "fixed-precision ISO 8601: {received}");
    }
    let transports = env
        .count("SELECT COUNT(*) FROM messages WHERE transport = 'tcp'")
        .unwrap();
    assert_eq!(transports, 2);
    let syslog_rows = env.count("SELECT COUNT(*) FROM syslog_messages").unwrap();
    assert_eq!(syslog_rows, 4);
    let (status, _) = daemon.terminate();
    assert!(status.success());
}

#[test]
fn a_volume_burst_is_stored_once_each_with_the_checkpoint_at_the_end() {
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let n = 20_000;
    env.send_udp(env.syslog_port, &numbered_lines("burst", n));
    assert_eq!(env.wait_rows(n as i64, Duration::from_secs(60)), n as i64);
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT raw_message) FROM messages")
            .unwrap(),
        n as i64,
        "every line once"
    );
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT wal_seq) FROM messages")
            .unwrap(),
        n as i64
    );
    assert_eq!(
        env.count("SELECT wal_seq FROM mutt_checkpoint").unwrap(),
        env.count("SELECT MAX(wal_seq) FROM messages").unwrap()
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        n as i64
    );
}

#[test]
fn sigterm_drains_the_wal_and_exits_zero_and_a_second_start_is_refused() {
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let second = env.mutt(&["run"]).output().expect("run second");
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another process"), "{err}");
    assert!(env.path("mutt.pid").exists(), "pid file written");
    env.send_udp(env.syslog_port, &numbered_lines("drain", 500));
    // Every line is in the WAL (a datagram still in the socket at SIGTERM is not MUTT's yet).
    let accepted = daemon.wait_metric(
        "mutt_accepted_syslog_udp_total",
        Duration::from_secs(20),
        |n| n >= 500,
    );
    assert_eq!(accepted, 500);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 500);
    assert!(!env.path("mutt.pid").exists(), "pid file removed on exit");
    assert!(
        file_text(&env.log_path()).contains("MUTT running"),
        "log file written"
    );
}

#[test]
fn a_bad_config_exits_2_naming_file_line_and_key() {
    let env = Env::new(Setup::default());
    let cfg =
        file_text(&env.config_path()).replace(&format!("port: {}", env.syslog_port), "port: abc");
    std::fs::write(env.config_path(), cfg).expect("write");
    let out = env.mutt(&["check-config"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "mutt_config.yaml:11: listeners.syslog.port: expected an integer 1-65535, got \"abc\""
        ),
        "{err}"
    );
    let out = env.mutt(&["run"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_datagram_over_the_size_limit_is_stored_truncated_and_flagged() {
    let env = Env::new(Setup {
        extra: String::new(),
        ..Setup::default()
    });
    let cfg = file_text(&env.config_path()).replace(
        "    protocol: [udp, tcp]\n",
        "    protocol: [udp, tcp]\n    buffer_size: 1024\n",
    );
    std::fs::write(env.config_path(), cfg).expect("write");
    let daemon = env.start();
    let mut big = b"<13>Nov 27 10:00:00 host app: ".to_vec();
    big.extend(std::iter::repeat(b'x').take(3000));
    env.send_udp(env.syslog_port, &[big.clone()]);
    let mut framed = big.clone();
    framed.extend_from_slice(b"\n<13>Nov 27 10:00:01 host app: after the long one\n");
    env.send_tcp(&framed);
    assert_eq!(env.wait_rows(3, Duration::from_secs(10)), 3);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE truncated = 1")
            .unwrap(),
        2
    );
    assert_eq!(
        env.count("SELECT MAX(LENGTH(raw_message)) FROM messages WHERE truncated = 1")
            .unwrap(),
        1024
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE raw_message LIKE '%after the long one'")
            .unwrap(),
        1,
        "the TCP stream resynchronised after the cut frame"
    );
    drop(daemon);
}

#[test]
fn metrics_and_health_are_served_over_http() {
    let env = Env::new(Setup::default());
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("metrics", 10));
    assert_eq!(env.wait_rows(10, Duration::from_secs(10)), 10);
    let get = |path: &str| daemon.http_get(path);
    let metrics = get("/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    assert!(metrics.contains("# TYPE mutt_accepted_syslog_udp_total counter"));
    assert!(
        metrics.contains("mutt_accepted_syslog_udp_total 10\n"),
        "{metrics}"
    );
    assert!(metrics.contains("mutt_stored_total 10\n"), "{metrics}");
    assert!(metrics.contains("mutt_checkpoint_seq 10\n"), "{metrics}");
    let health = get("/health");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    assert!(get("/nope").starts_with("HTTP/1.1 404"));
    drop(daemon);
}

#[test]
fn files_the_daemon_creates_are_readable_by_its_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new(Setup::default());
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("modes", 3));
    assert_eq!(env.wait_rows(3, Duration::from_secs(10)), 3);
    let mut files = vec![env.db_path(), env.log_path(), env.wal_dir().join("engine")];
    files.extend(env.segments());
    for f in &files {
        let mode = std::fs::metadata(f).expect("created").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", f.display(), mode & 0o777);
    }
    drop(daemon);
}

#[test]
fn check_config_warns_about_a_credentials_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new(Setup {
        extra: "snmpv3:\n  credentials_file: creds.yaml\n".into(),
        ..Setup::default()
    });
    let creds = env.path("creds.yaml");
    std::fs::write(&creds, "snmpv3_credentials: []\n").unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.mutt(&["check-config"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("readable by group or others (mode 644)"),
        "{err}"
    );
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = env.mutt(&["check-config"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable"));
}

#[test]
fn a_dribbling_metrics_client_neither_holds_up_health_nor_shutdown() {
    use std::io::Write;
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let addr = daemon.metrics_addr();
    // Slow clients: a byte every 1.5 s, each within any per-read timeout.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (connected_tx, connected) = std::sync::mpsc::channel();
    let dribblers: Vec<_> = (0..3)
        .map(|_| {
            let (addr, stop, connected) = (addr.clone(), stop.clone(), connected_tx.clone());
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(&addr).expect("connect");
                connected.send(()).expect("report the connection");
                for b in b"GET /health HTTP/1.1\r\n".iter().cycle() {
                    if stop.load(std::sync::atomic::Ordering::Relaxed)
                        || s.write_all(&[*b]).is_err()
                    {
                        return;
                    }
                    // The dribble itself: this client is slow on purpose.
                    std::thread::sleep(Duration::from_millis(1500));
                }
            })
        })
        .collect();
    // Connected: the listener takes them before the health checks that follow (the kernel
    // queues connections in order), so they hold their slots during every check.
    for _ in 0..3 {
        connected
            .recv_timeout(Duration::from_secs(10))
            .expect("a dribbler connected");
    }
    for _ in 0..5 {
        let asked = std::time::Instant::now();
        let (code, _) = daemon.health();
        assert_eq!(code, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
        // Spread the checks over the dribblers' bytes; not a wait for anything.
        std::thread::sleep(Duration::from_millis(700));
    }
    let asked = std::time::Instant::now();
    let (status, log) = daemon.terminate();
    assert!(status.success(), "{log}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for d in dribblers {
        let _ = d.join();
    }
}

#[test]
fn metrics_are_typed_and_each_commit_is_timed_in_the_latency_histograms() {
    let env = Env::new(Setup::default());
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("timed", 10));
    assert_eq!(env.wait_rows(10, Duration::from_secs(10)), 10);
    let text = daemon.http_get("/metrics");
    for typed in [
        "# TYPE mutt_stored_total counter\n",
        "# TYPE mutt_checkpoint_seq gauge\n",
        "# TYPE mutt_wal_published_seq gauge\n",
        "# TYPE mutt_wal_corrupt_records_total counter\n",
        "# TYPE mutt_batch_commit_seconds histogram\n",
        "# TYPE mutt_receive_to_commit_seconds histogram\n",
    ] {
        assert!(text.contains(typed), "no {typed:?} in\n{text}");
    }
    assert!(!text.contains("mutt_wal_corrupt_records "), "{text}");
    let commits = daemon.metric("mutt_batch_commit_seconds_count");
    assert!(commits >= 1, "{text}");
    // Two delays a committed batch: its oldest and its newest row.
    let delays = daemon.metric("mutt_receive_to_commit_seconds_count");
    assert!(delays >= 2 && delays % 2 == 0, "{text}");
    assert!(text.contains("mutt_receive_to_commit_seconds_bucket{le=\"+Inf\"} "));
    drop(daemon);
}

#[test]
fn clients_past_the_cap_are_told_busy_and_silent_ones_are_dropped_at_the_deadline() {
    use std::io::Read;
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let addr = daemon.metrics_addr();
    // Eight clients that connect and never send: they take every slot.
    let mut silent: Vec<_> = (0..8)
        .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
        .collect();
    // The kernel queues connections in order: the listener takes all eight before this one.
    let (code, body) = daemon.health();
    assert_eq!((code, body.as_str()), (503, "busy\n"));
    // The deadline frees the slots however long the clients stay.
    daemon.wait_health(200, Duration::from_secs(5));
    for s in &mut silent {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        match s.read(&mut [0u8; 64]) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a silent client was not dropped: {other:?}"),
        }
    }
    drop(daemon);
}
