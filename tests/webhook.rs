//! Webhook alerts end to end: queued with their messages, retried until the endpoint is up, sent
//! once each across `kill -9`, folded in a storm, and never dropped silently.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

const RULES: &str = r#"rules:
  - id: hot
    name: Overheat
    pattern_type: keyword
    keywords: ["overheat"]
    severity: critical
    action: webhook
  - id: fan
    name: Fan failure
    pattern_type: keyword
    keywords: ["fan tray failed"]
    severity: warning
    action: webhook
  - id: lost
    name: Nowhere to send
    pattern_type: keyword
    keywords: ["orphan"]
    action: webhook
    webhook: pager
"#;

/// A daemon whose default webhook target is `http://127.0.0.1:<endpoint port>/alerts`, with
/// short backoff so tests see retries within seconds.
fn setup(endpoint_port: u16, storm_window_seconds: u64) -> Setup {
    Setup {
        rules: RULES.into(),
        extra: format!(
            "outputs:\n  webhook:\n    url: http://127.0.0.1:{endpoint_port}/alerts\n    \
             headers: {{X-Test: yes}}\n    timeout_seconds: 2\n    \
             backoff: {{initial_seconds: 0.2, max_seconds: 1}}\n  \
             storm_window_seconds: {storm_window_seconds}\n"
        ),
        ..Setup::default()
    }
}

fn line(text: &str) -> Vec<u8> {
    format!("<130>Nov 27 10:00:00 rack7 envmon: {text}").into_bytes()
}

fn wait_sql(env: &Env, sql: &str, want: i64, timeout: Duration) -> i64 {
    env.wait_count(sql, timeout, |n| n >= want)
}

/// Text of the alerts `posts_past_marker` raises.
const MARKER: &str = "overheat marker";

/// The message text a POST carries.
fn raw_of(p: &Post) -> String {
    p.json()["message"]["raw_message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message.raw_message in {}", p.body))
        .to_string()
}

/// The POSTs received, once the sender has been shown to be done with everything queued so far:
/// one more alert (rule `hot`, its own text) is raised and its POST awaited. The sender is one
/// thread that waits for each answer and the endpoint reads one request at a time, so a POST
/// sent before the marker's is recorded before it. The markers are left out.
fn posts_past_marker(env: &Env, endpoint: &Endpoint, tag: &str) -> Vec<Post> {
    let marker = format!("{MARKER} {tag}");
    env.send_udp(env.syslog_port, &[line(&marker)]);
    let is_marker = |p: &Post| raw_of(p).ends_with(&marker);
    let posts =
        endpoint.wait_posts_until(Duration::from_secs(20), |posts| posts.iter().any(is_marker));
    assert_eq!(
        posts.iter().filter(|p| is_marker(p)).count(),
        1,
        "the marker alert {marker:?} was POSTed once within 20 s"
    );
    posts
        .into_iter()
        .filter(|p| !raw_of(p).contains(MARKER))
        .collect()
}

#[test]
fn alerts_raised_while_the_endpoint_is_down_arrive_once_it_is_up() {
    let port = free_port();
    let env = Env::new(setup(port, 60));
    let daemon = env.start();
    let alerts: Vec<Vec<u8>> = (0..5)
        .map(|i| line(&format!("overheat sensor {i}")))
        .collect();
    let quiet: Vec<Vec<u8>> = (0..3).map(|i| line(&format!("all fine {i}"))).collect();
    env.send_udp(env.syslog_port, &alerts);
    env.send_udp(env.syslog_port, &quiet);
    assert_eq!(env.wait_rows(8, Duration::from_secs(10)), 8);
    assert_eq!(env.count("SELECT COUNT(*) FROM webhook_outbox").unwrap(), 5);
    // MUTT has tried and found nobody listening: the alerts wait, none is dead.
    let tried = wait_sql(
        &env,
        "SELECT COUNT(*) FROM webhook_outbox WHERE last_error LIKE 'unreachable%'",
        1,
        Duration::from_secs(10),
    );
    assert!(
        tried >= 1,
        "no delivery was tried while the endpoint was down"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM webhook_outbox WHERE state <> 'pending'")
            .unwrap(),
        0
    );

    let endpoint = Endpoint::start(port);
    assert_eq!(endpoint.wait_posts(5, Duration::from_secs(20)), 5);
    let delivered = wait_sql(
        &env,
        "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'delivered' AND delivered_at IS NOT NULL",
        5,
        Duration::from_secs(5),
    );
    assert_eq!(delivered, 5);
    let posts = posts_past_marker(&env, &endpoint, "after the five");
    assert_eq!(posts.len(), 5, "one POST per alert, no more");
    let mut texts: Vec<String> = Vec::new();
    for p in &posts {
        assert_eq!(p.path, "/alerts");
        assert_eq!(p.header("Content-Type"), Some("application/json"));
        assert_eq!(p.header("X-Test"), Some("yes"));
        let body = p.json();
        assert_eq!(body["rule"]["id"], "hot");
        assert_eq!(body["rule"]["severity"], "critical");
        assert_eq!(body["fold_count"], 1);
        assert_eq!(
            p.header("X-MUTT-Alert-Id").map(str::to_string),
            Some(body["alert_id"].to_string())
        );
        assert_eq!(body["message"]["source_ip"], "127.0.0.1");
        texts.push(raw_of(p));
    }
    texts.sort();
    let mut want: Vec<String> = alerts
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    want.sort();
    assert_eq!(texts, want);
    let (status, _) = daemon.terminate();
    assert!(status.success());
}

#[test]
fn alerts_survive_kill_9_and_arrive_exactly_once_after_restart() {
    let port = free_port();
    let env = Env::new(setup(port, 60));
    let daemon = env.start();
    let n = 40;
    let alerts: Vec<Vec<u8>> = (0..n)
        .map(|i| line(&format!("overheat board {i:03}")))
        .collect();
    env.send_udp(env.syslog_port, &alerts);
    assert_eq!(env.wait_rows(n as i64, Duration::from_secs(10)), n as i64);
    daemon.kill9();

    let daemon = env.start();
    let endpoint = Endpoint::start(port);
    assert_eq!(endpoint.wait_posts(n, Duration::from_secs(30)), n);
    let delivered = wait_sql(
        &env,
        "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'delivered'",
        n as i64,
        Duration::from_secs(5),
    );
    assert_eq!(delivered, n as i64);
    let posts = posts_past_marker(&env, &endpoint, "after the restart");
    let mut per_id: HashMap<String, usize> = HashMap::new();
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for p in &posts {
        let id = p.header("X-MUTT-Alert-Id").expect("X-MUTT-Alert-Id");
        *per_id.entry(id.to_string()).or_default() += 1;
        *per_message.entry(raw_of(p)).or_default() += 1;
    }
    assert_eq!(posts.len(), n, "exactly one POST per alert");
    assert_eq!(per_id.len(), n);
    assert!(per_id.values().all(|&c| c == 1), "{per_id:?}");
    assert_eq!(per_message.len(), n);
    assert!(per_message.values().all(|&c| c == 1));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        n as i64 + 1,
        "the alerts and the marker"
    );
    let (status, _) = daemon.terminate();
    assert!(status.success());
}

#[test]
fn a_storm_of_identical_alerts_is_one_post_carrying_the_count() {
    let port = free_port();
    let env = Env::new(setup(port, 60));
    let daemon = env.start();
    let storm = vec![line("fan tray failed"); 50];
    env.send_udp(env.syslog_port, &storm);
    assert_eq!(env.wait_rows(50, Duration::from_secs(10)), 50);
    assert_eq!(env.count("SELECT COUNT(*) FROM webhook_outbox").unwrap(), 1);
    assert_eq!(
        env.count("SELECT fold_count FROM webhook_outbox").unwrap(),
        50
    );

    let endpoint = Endpoint::start(port);
    assert_eq!(endpoint.wait_posts(1, Duration::from_secs(20)), 1);
    let posts = posts_past_marker(&env, &endpoint, "after the storm");
    assert_eq!(posts.len(), 1);
    let body = posts[0].json();
    assert_eq!(body["fold_count"], 50);
    assert_eq!(body["rule"]["id"], "fan");

    // Within the window after delivery: counted on the row, not sent again.
    env.send_udp(env.syslog_port, &[line("fan tray failed")]);
    // The storm, the first marker and this one.
    assert_eq!(env.wait_rows(52, Duration::from_secs(10)), 52);
    assert_eq!(
        wait_sql(
            &env,
            "SELECT fold_count FROM webhook_outbox WHERE rule_id = 'fan'",
            51,
            Duration::from_secs(5)
        ),
        51
    );
    assert_eq!(
        posts_past_marker(&env, &endpoint, "after the fold").len(),
        1
    );
    let (status, _) = daemon.terminate();
    assert!(status.success());
}

#[test]
fn with_the_window_off_every_identical_alert_is_sent() {
    let port = free_port();
    let env = Env::new(setup(port, 0));
    let endpoint = Endpoint::start(port);
    let daemon = env.start();
    env.send_udp(env.syslog_port, &vec![line("fan tray failed"); 5]);
    assert_eq!(endpoint.wait_posts(5, Duration::from_secs(20)), 5);
    assert_eq!(env.count("SELECT COUNT(*) FROM webhook_outbox").unwrap(), 5);
    let (status, _) = daemon.terminate();
    assert!(status.success());
}

#[test]
fn an_alert_for_an_unconfigured_target_is_kept_dead_with_the_reason_and_a_warning() {
    let port = free_port();
    let env = Env::new(setup(port, 60));
    let daemon = env.start();
    assert!(
        daemon
            .stderr()
            .contains("outputs.webhooks.pager is not configured"),
        "no start-up warning:\n{}",
        daemon.stderr()
    );
    env.send_udp(env.syslog_port, &[line("orphan alert")]);
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    let dead = wait_sql(
        &env,
        "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'dead' AND target = 'pager'
         AND last_error LIKE '%outputs.webhooks.pager%'",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(dead, 1);
    let (status, _) = daemon.terminate();
    assert!(status.success());
}

#[test]
fn a_receiver_trickling_its_status_line_holds_the_sender_no_longer_than_the_deadline() {
    // One byte a second: the old per-read timeout never fired and held the only sender thread
    // for the minute this takes.
    let slow = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let slow_port = slow.local_addr().expect("addr").port();
    let (accepted_tx, accepted_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut s in slow.incoming().flatten() {
            let _ = accepted_tx.send(());
            std::thread::spawn(move || {
                let status = format!("HTTP/1.1 200 {}\r\n", "O".repeat(60));
                for b in status.bytes() {
                    if s.write_all(&[b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
    });
    let port = free_port();
    let env = Env::new(Setup {
        rules: format!(
            "{RULES}  - {{id: slow, pattern_type: keyword, keywords: [\"to slow\"], action: webhook, webhook: slow}}\n"
        ),
        extra: format!(
            "outputs:\n  webhook: {{url: \"http://127.0.0.1:{port}/alerts\", timeout_seconds: 2}}\n  \
             webhooks:\n    slow: {{url: \"http://127.0.0.1:{slow_port}/\", timeout_seconds: 2}}\n"
        ),
        ..Setup::default()
    });
    let endpoint = Endpoint::start(port);
    let daemon = env.start();
    env.send_udp(env.syslog_port, &[line("to slow")]);
    accepted_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the sender connected to the slow receiver");
    // The sender is now inside the slow POST; the next alert waits for it to end.
    env.send_udp(env.syslog_port, &[line("overheat while the other hangs")]);
    assert_eq!(endpoint.wait_posts(1, Duration::from_secs(8)), 1);
    let timed_out = wait_sql(
        &env,
        "SELECT COUNT(*) FROM webhook_outbox WHERE rule_id = 'slow' AND state = 'pending'
         AND last_error LIKE 'unreachable%'",
        1,
        Duration::from_secs(5),
    );
    assert_eq!(timed_out, 1);
    let (status, _) = daemon.terminate();
    assert!(status.success());
}
