//! The web UI in a real headless Chromium, driven over WebDriver by chromedriver: what the page
//! shows after its script ran, which no HTTP test sees. The live tail shows a line sent with
//! `logger` within 2 s; a stored XSS attempt, in syslog text and in a varbind string, is shown as
//! text and opens no dialog; the page's links filter and page; the CSP stops inline script; with
//! `web.auth`, nothing shows without the login, and behind it an SNMPv3 authPriv trap from
//! `snmptrap` shows its MIB names, security name and level, and no secret.
//!
//! The WebDriver client is the few W3C endpoints these tests use, over the HTTP client the crate
//! already has (ureq), rather than a WebDriver crate and its second HTTP stack.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, need_tool, numbered_lines, Daemon, Env, Setup, XSS};
use serde_json::{json, Value};

/// chromedriver and one browser session; both end when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let a = agent();
    let mut r = match (method, body) {
        ("GET", _) => a.get(url).call(),
        ("DELETE", _) => a.delete(url).call(),
        (_, b) => a
            .post(url)
            .header("content-type", "application/json")
            .send(b.unwrap_or(json!({})).to_string()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Browser {
    fn start() -> Browser {
        need_tool("chromium");
        need_tool("chromedriver");
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let until = Instant::now() + Duration::from_secs(20);
        while agent().get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < until, "chromedriver never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--window-size=1400,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let (status, v) = call("POST", &format!("{base}/session"), Some(caps));
        assert_eq!(status, 200, "new session: {v}");
        let session = v["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        Browser {
            driver,
            base,
            session,
            _profile: profile,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn open(&self, url: &str) {
        let (status, v) = call("POST", &self.url("/url"), Some(json!({ "url": url })));
        assert_eq!(status, 200, "open {url}: {v}");
    }

    fn current_url(&self) -> String {
        let (_, v) = call("GET", &self.url("/url"), None);
        v["value"].as_str().unwrap_or("").to_string()
    }

    /// Run `script` in the page; its return value.
    fn js(&self, script: &str) -> Value {
        let (status, v) = call(
            "POST",
            &self.url("/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
        );
        assert_eq!(status, 200, "script {script}: {v}");
        v["value"].clone()
    }

    /// A PNG of the window as it is now.
    fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let (status, v) = call("GET", &self.url("/screenshot"), None);
        assert_eq!(status, 200, "screenshot: {v}");
        base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().expect("base64 text"))
            .expect("base64")
    }

    /// The text of an open alert/confirm/prompt, if one is open.
    fn dialog(&self) -> Option<String> {
        let (status, v) = call("GET", &self.url("/alert/text"), None);
        (status == 200).then(|| v["value"].to_string())
    }

    fn click(&self, css: &str) {
        let (status, v) = call(
            "POST",
            &self.url("/element"),
            Some(json!({ "using": "css selector", "value": css })),
        );
        assert_eq!(status, 200, "find {css}: {v}");
        let id = v["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("element id")
            .to_string();
        let (status, v) = call(
            "POST",
            &self.url(&format!("/element/{id}/click")),
            Some(json!({})),
        );
        assert_eq!(status, 200, "click {css}: {v}");
    }

    /// Poll the expression `condition` until it is true; how long that took, or None after
    /// `timeout`.
    fn wait_true(&self, condition: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        let script = format!("return {condition}");
        while start.elapsed() < timeout {
            if self.js(&script) == Value::Bool(true) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = agent().delete(&self.url("")).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A daemon serving its UI; the UI's base URL.
fn daemon_with_ui(env: &Env) -> (Daemon, String) {
    let daemon = env.start();
    let base = daemon.web_base();
    (daemon, base)
}

fn env() -> Env {
    Env::new(Setup {
        extra: "web:\n  enabled: true\n  listen: 127.0.0.1:0\n".into(),
        ..Setup::default()
    })
}

#[test]
#[ignore = "needs chromium, chromedriver and logger"]
fn the_live_tail_shows_a_line_sent_with_logger_within_two_seconds_and_pauses() {
    need_tool("logger");
    let env = env();
    let (_daemon, base) = daemon_with_ui(&env);
    let b = Browser::start();
    b.open(&format!("{base}/tail"));
    let following = "document.getElementById('status').textContent === 'following'";
    assert!(
        b.wait_true(following, Duration::from_secs(10)).is_some(),
        "the stream opened"
    );
    env.logger("tailtest", "first live line");
    let shown = "document.querySelector('#messages tbody').textContent.includes('first live line')";
    let took = b.wait_true(shown, Duration::from_secs(5));
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(2)),
        "shown after {took:?}"
    );
    // The new row links to its message and filters by its device.
    let link = b.js("return document.querySelector('#messages tbody tr a').getAttribute('href')");
    assert!(
        link.as_str().is_some_and(|h| h.starts_with("/messages/")),
        "{link}"
    );
    b.click("#pause");
    assert_eq!(
        b.js("return document.getElementById('status').textContent"),
        "paused"
    );
    env.logger("tailtest", "second live line");
    env.wait_count(
        "SELECT COUNT(*) FROM messages WHERE raw_message LIKE '%second live line%'",
        Duration::from_secs(10),
        |n| n == 1,
    );
    let second =
        "document.querySelector('#messages tbody').textContent.includes('second live line')";
    assert_eq!(
        b.js(&format!("return {second}")),
        false,
        "paused: not shown"
    );
    b.click("#pause");
    assert!(
        b.wait_true(second, Duration::from_secs(5)).is_some(),
        "resumed from where it paused"
    );
    let count = b.js("return document.querySelectorAll('#messages tbody tr').length");
    assert_eq!(count, 2, "each line once");
}

#[test]
#[ignore = "needs chromium, chromedriver, logger and snmptrap"]
fn a_stored_xss_attempt_is_shown_as_text_and_opens_no_dialog() {
    need_tool("logger");
    need_tool("snmptrap");
    let env = env();
    let (_daemon, base) = daemon_with_ui(&env);
    env.send_xss();
    env.wait_rows(2, Duration::from_secs(10));
    let b = Browser::start();
    for page in ["/", "/tail"] {
        b.open(&format!("{base}{page}"));
        assert_eq!(b.dialog(), None, "{page}: no dialog");
        let cells = b.js(
            "return Array.from(document.querySelectorAll('#messages td.text')).map(td => td.textContent)",
        );
        let cells: Vec<String> = serde_json::from_value(cells).expect("texts");
        assert!(
            cells.iter().any(|t| t.ends_with(XSS)),
            "{page}: the syslog text as text: {cells:?}"
        );
        assert!(
            cells
                .iter()
                .any(|t| t.contains(&format!("sysName.0=\"{XSS}\""))),
            "{page}: {cells:?}"
        );
        assert_eq!(
            b.js("return document.querySelectorAll('img[src=\"x\"], main script').length"),
            0
        );
    }
    // The trap's page: MIB names, and the varbind string as text.
    b.click("a[href^='/?type=snmp_trap']");
    assert!(b.current_url().contains("type=snmp_trap"));
    b.click("#messages td.time a");
    assert!(
        b.current_url().contains("/messages/"),
        "{}",
        b.current_url()
    );
    assert_eq!(b.dialog(), None);
    let rows = b.js(
        "return Array.from(document.querySelectorAll('#varbinds tr')).map(tr => tr.textContent)",
    );
    let rows: Vec<String> = serde_json::from_value(rows).expect("rows");
    assert!(
        rows.iter().any(|r| r.starts_with("IF-MIB::ifIndex.2")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("SNMPv2-MIB::sysName.0") && r.ends_with(XSS)),
        "{rows:?}"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('img[src=\"x\"]').length"),
        0
    );
    // The CSP is in force: script added inline does not run.
    let ran = b.js(
        "var s = document.createElement('script'); s.textContent = 'window.inlineRan = 1'; \
         document.body.appendChild(s); return window.inlineRan === 1",
    );
    assert_eq!(ran, false, "inline script ran despite the CSP");
    assert_eq!(b.dialog(), None);
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn filter_links_and_older_pages_work_in_the_browser() {
    let env = env();
    let (_daemon, base) = daemon_with_ui(&env);
    env.send_udp(env.syslog_port, &numbered_lines("paging", 150));
    env.wait_rows(150, Duration::from_secs(20));
    let b = Browser::start();
    b.open(&format!("{base}/?range=1h"));
    let rows = "return document.querySelectorAll('#messages tbody tr').length";
    assert_eq!(b.js(rows), 100);
    b.click("a[rel=next]");
    let url = b.current_url();
    assert!(url.contains("before=") && url.contains("range=1h"), "{url}");
    assert_eq!(b.js(rows), 50);
    assert_eq!(
        b.js("return document.querySelector('.pager').textContent.includes('End of the range.')"),
        true
    );
    // A program link filters by it, and the form shows the filter.
    b.open(&format!("{base}/?range=1h"));
    b.click("#messages tbody tr td:nth-child(6) a");
    let url = b.current_url();
    assert!(url.contains("program=app"), "{url}");
    assert_eq!(
        b.js("return document.querySelector('input[name=program]').value"),
        "app"
    );
    // The form's search narrows the list.
    b.js("document.querySelector('input[name=q]').value = 'message 000042'; document.querySelector('form.filters').submit(); return 1");
    let one = "document.querySelectorAll('#messages tbody tr').length === 1 && location.search.includes('q=message')";
    assert!(
        b.wait_true(one, Duration::from_secs(10)).is_some(),
        "{}",
        b.current_url()
    );
}

#[test]
#[ignore = "needs chromium, chromedriver and snmptrap"]
fn behind_the_login_a_v3_trap_shows_its_mib_names_and_security_name() {
    need_tool("snmptrap");
    let env = Env::new(Setup::default());
    let credentials = env.path("snmpv3_credentials.yaml");
    std::fs::write(
        &credentials,
        "snmpv3_credentials:\n  - username: noc-v3\n    credentials:\n      - priority: 1\n        \
         auth_type: SHA\n        auth_password: auth-secret-1\n        priv_type: AES\n        \
         priv_password: priv-secret-1\n        active: true\n",
    )
    .expect("credentials");
    // `printf %s 'correct horse' | argon2 mutt-test-salt -id -t 1 -m 6 -p 1 -e`
    let extra = format!(
        "snmpv3:\n  credentials_file: {}\nweb:\n  enabled: true\n  listen: 127.0.0.1:0\n  auth:\n    \
         users:\n      - name: ops\n        password_hash: \"$argon2id$v=19$m=64,t=1,p=1$bXV0dC10ZXN0LXNhbHQ$iQisuIqe+G77/mbHZpwsCJnKkcD0sso0EIePr6xN1NU\"\n",
        credentials.display()
    );
    let env = Env {
        setup: Setup {
            extra,
            ..Setup::default()
        },
        ..env
    };
    env.write_config();
    let (_daemon, base) = daemon_with_ui(&env);
    let netsnmp = env.path("netsnmp");
    std::fs::create_dir_all(&netsnmp).expect("net-snmp dir");
    let out = Command::new("snmptrap")
        .env("SNMP_PERSISTENT_DIR", &netsnmp)
        .env("SNMPCONFPATH", &netsnmp)
        .env("MIBS", "")
        .args([
            "-M",
            "/nonexistent",
            "-v",
            "3",
            "-e",
            "0x80001f8880c0ffee42",
        ])
        .args([
            "-u",
            "noc-v3",
            "-l",
            "authPriv",
            "-a",
            "SHA",
            "-A",
            "auth-secret-1",
        ])
        .args(["-x", "AES", "-X", "priv-secret-1"])
        .arg(format!("127.0.0.1:{}", env.snmp_port))
        .args(["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7"])
        .args(["1.3.6.1.2.1.2.2.1.7.7", "i", "2"])
        .output()
        .expect("run snmptrap");
    assert!(out.status.success(), "{out:?}");
    env.wait_rows(1, Duration::from_secs(10));
    let b = Browser::start();
    // Without a login the page says so and shows nothing stored.
    let host = base.trim_start_matches("http://");
    b.open(&format!("{base}/?type=snmp_trap"));
    assert_eq!(
        b.js("return document.querySelectorAll('#messages tbody tr').length"),
        0,
        "no rows without a login"
    );
    // With it, the list and the trap's page. Chromium keeps the login for the origin.
    b.open(&format!(
        "http://ops:correct%20horse@{host}/?type=snmp_trap"
    ));
    assert_eq!(
        b.js("return document.querySelectorAll('#messages tbody tr').length"),
        1,
        "the trap listed once logged in"
    );
    b.click("#messages td.time a");
    assert!(
        b.current_url().contains("/messages/"),
        "{}",
        b.current_url()
    );
    let rows = b.js(
        "return Array.from(document.querySelectorAll('#varbinds tr')).map(tr => tr.textContent)",
    );
    let rows: Vec<String> = serde_json::from_value(rows).expect("rows");
    assert!(
        rows.iter().any(|r| r.starts_with("IF-MIB::ifIndex.7")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("IF-MIB::ifAdminStatus.7")),
        "{rows:?}"
    );
    let page: String =
        serde_json::from_value(b.js("return document.body.innerText")).expect("the page's text");
    assert!(page.contains("noc-v3"), "the security name: {page}");
    assert!(page.contains("authPriv"), "the security level: {page}");
    assert!(page.contains("IF-MIB::linkDown"), "the trap's name: {page}");
    assert!(
        !page.contains("auth-secret-1") && !page.contains("priv-secret-1"),
        "no secret on the page"
    );
}

/// The screenshots in docs/ (and the README) are this test's: with `MUTT_UPDATE_SCREENSHOTS=1`
/// it writes them there, otherwise into a temporary directory. Either way each is checked to be a
/// PNG of the window's size showing what the page must show.
#[test]
#[ignore = "needs chromium, chromedriver, logger and snmptrap"]
fn screenshots_of_the_messages_message_and_health_pages() {
    need_tool("snmptrap");
    let env = env();
    let (_daemon, base) = daemon_with_ui(&env);
    for (tag, text) in [
        (
            "sshd",
            "Accepted publickey for admin from 10.20.0.11 port 511 ssh2",
        ),
        ("kernel", "eth0: link down"),
        ("bgpd", "BGP neighbor 192.0.2.1 Down: hold timer expired"),
    ] {
        env.logger(tag, text);
    }
    for index in ["1", "2"] {
        let out = Command::new("snmptrap")
            .env("MIBS", "")
            .args(["-M", "/nonexistent", "-v", "2c", "-c", "public"])
            .arg(format!("127.0.0.1:{}", env.snmp_port))
            .args(["", "1.3.6.1.6.3.1.1.5.3"])
            .args([&format!("1.3.6.1.2.1.2.2.1.1.{index}"), "i", index])
            .args([&format!("1.3.6.1.2.1.2.2.1.7.{index}"), "i", "2"])
            .args([&format!("1.3.6.1.2.1.2.2.1.8.{index}"), "i", "2"])
            .output()
            .expect("run snmptrap");
        assert!(out.status.success(), "{out:?}");
    }
    env.wait_rows(5, Duration::from_secs(10));
    let trap: String = env
        .db()
        .query_row(
            "SELECT id FROM messages WHERE type = 'snmp_trap' ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("a trap");
    let keep = tempfile::tempdir().expect("dir");
    let dir = if std::env::var_os("MUTT_UPDATE_SCREENSHOTS").is_some() {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
    } else {
        keep.path().to_path_buf()
    };
    let b = Browser::start();
    for (file, path, shown) in [
        (
            "web-messages.png",
            "/?range=1h".to_string(),
            "#messages tbody tr",
        ),
        (
            "web-message.png",
            format!("/messages/{trap}"),
            "#varbinds tr",
        ),
        ("web-health.png", "/health".to_string(), "#health tr"),
    ] {
        b.open(&format!("{base}{path}"));
        let ready = format!("document.querySelectorAll('{shown}').length > 0");
        assert!(
            b.wait_true(&ready, Duration::from_secs(10)).is_some(),
            "{path} shows {shown}"
        );
        let png = b.screenshot();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{file}: a PNG");
        // IHDR: width and height, big-endian, at bytes 16..24.
        let width = png
            .get(16..20)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
        assert_eq!(width, Some(1400), "{file}: the window's width");
        std::fs::write(dir.join(file), &png).expect("write the screenshot");
    }
}
