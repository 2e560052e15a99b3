//! Test harness: start the real `mutt` binary on free loopback ports with a private config, send
//! with real clients, and read the SQLite file it writes.

#![allow(dead_code)]

pub mod pg;
pub mod web;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MUTT: &str = env!("CARGO_BIN_EXE_mutt");

/// Fail the test when an outside client is missing. Tests that call this are
/// `#[ignore = "needs <client>"]`: plain `cargo test` skips them, and
/// `cargo test -- --include-ignored` (as `.ci/run` does, after installing the clients) runs them,
/// where a missing client is a failure, never a silent pass.
pub fn need_tool(name: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{name} is not installed; .ci/run installs it");
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    // The kernel may hand the same ephemeral port out again once it is released, so a test
    // asking for two (TCP and TLS listeners) could get one twice: never return a port twice.
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..100 {
        let Ok(tcp) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = tcp.local_addr() else { continue };
        if !given.contains(&addr.port()) && UdpSocket::bind(addr).is_ok() {
            given.push(addr.port());
            return addr.port();
        }
    }
    panic!("no free port");
}

/// Settings for one test daemon.
#[derive(Clone)]
pub struct Setup {
    pub rules: String,
    pub extra: String,
    pub connection_timeout: f64,
    pub batch_write_size: usize,
    /// Lines added under `daemon:` (indented two spaces).
    pub daemon_yaml: String,
    /// Lines added under `metrics:` (indented two spaces).
    pub metrics_yaml: String,
    /// Lines added under `storage:` (indented two spaces).
    pub storage_yaml: String,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            rules: "rules: []\n".into(),
            extra: String::new(),
            connection_timeout: 0.2,
            batch_write_size: 100,
            daemon_yaml: String::new(),
            metrics_yaml: String::new(),
            storage_yaml: String::new(),
        }
    }
}

/// A private directory with config, rules, WAL and database for one daemon (and its restarts).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub snmp_port: u16,
    pub syslog_port: u16,
    pub setup: Setup,
}

impl Env {
    pub fn new(setup: Setup) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = Env {
            dir,
            snmp_port: free_port(),
            syslog_port: free_port(),
            setup,
        };
        env.write_config();
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("mutt_config.yaml")
    }

    pub fn db_path(&self) -> PathBuf {
        self.path("data/messages.db")
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.path("wal")
    }

    pub fn log_path(&self) -> PathBuf {
        self.path("logs/mutt.log")
    }

    pub fn write_config(&self) {
        let d = self.dir.path().display();
        let s = &self.setup;
        let config = format!(
            "daemon:\n  log_level: DEBUG\n  log_file: {d}/logs/mutt.log\n  pid_file: {d}/mutt.pid\n{daemon_yaml}\
             listeners:\n  snmp:\n    bind: 127.0.0.1\n    port: {snmp}\n  syslog:\n    bind: 127.0.0.1\n    port: {syslog}\n    protocol: [udp, tcp]\n\
             processor:\n  batch_write_size: {batch}\n  queue_max_size: {queue}\n  batch_timeout_seconds: 1\n\
             storage:\n  database:\n    path: {d}/data/messages.db\n    connection_timeout: {timeout}\n{storage_yaml}\
             pattern_matching:\n  rules_file: {d}/alert_rules.yaml\n  reload_interval_seconds: 300\n\
             wal:\n  path: {d}/wal\n  segment_size_mb: 1\n  sync: interval\n  sync_interval_ms: 50\n  max_size_mb: 64\n\
             metrics:\n  listen: 127.0.0.1:0\n{metrics_yaml}\
             {extra}",
            snmp = self.snmp_port,
            syslog = self.syslog_port,
            batch = s.batch_write_size,
            queue = (s.batch_write_size * 10).max(10_000),
            timeout = s.connection_timeout,
            extra = s.extra,
            daemon_yaml = s.daemon_yaml,
            metrics_yaml = s.metrics_yaml,
            storage_yaml = s.storage_yaml,
        );
        std::fs::write(self.config_path(), config).expect("write config");
        std::fs::write(self.path("alert_rules.yaml"), &s.rules).expect("write rules");
    }

    /// Change the config file: the first `from` becomes `to`. Panics when `from` is not in it,
    /// so a test never runs with a change that did not happen.
    pub fn config_replace(&self, from: &str, to: &str) {
        let config = std::fs::read_to_string(self.config_path()).expect("read config");
        assert!(
            config.contains(from),
            "{from:?} is not in the config:\n{config}"
        );
        std::fs::write(self.config_path(), config.replacen(from, to, 1)).expect("write config");
    }

    pub fn mutt(&self, args: &[&str]) -> Command {
        let mut c = Command::new(MUTT);
        c.arg("--config").arg(self.config_path()).args(args);
        c.current_dir(self.dir.path());
        c
    }

    /// Start `mutt run` and wait until it listens.
    pub fn start(&self) -> Daemon {
        let mut child = self
            .mutt(&["run"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mutt");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("mutt's stderr is piped");
        let sink = stderr.clone();
        // Until the pipe closes (mutt exited); a line that is not UTF-8 is kept, lossily, and
        // the lines after it too.
        let stderr_reader = std::thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match pipe.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => sink
                        .lock()
                        .expect("stderr buffer")
                        .push_str(&String::from_utf8_lossy(&line)),
                    Err(e) => panic!("read mutt's stderr: {e}"),
                }
            }
        });
        let d = Daemon {
            child,
            stderr,
            stderr_reader: Some(stderr_reader),
        };
        d.wait_for_log("MUTT running", Duration::from_secs(20));
        d
    }

    /// A read-only connection to the database.
    pub fn db(&self) -> rusqlite::Connection {
        self.open_db().expect("open database")
    }

    fn open_db(&self) -> rusqlite::Result<rusqlite::Connection> {
        let c = rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        c.busy_timeout(Duration::from_secs(5))?;
        Ok(c)
    }

    /// `sql`'s single integer, or the error: a typo in a test's SQL, a missing table or a NULL
    /// result fails the test instead of reading as 0.
    pub fn count(&self, sql: &str) -> rusqlite::Result<i64> {
        self.open_db()?.query_row(sql, [], |r| r.get(0))
    }

    /// `sql`'s single integer, or None while the daemon has not yet created the database file or
    /// the table `sql` reads. Any other error panics.
    pub fn count_when_ready(&self, sql: &str) -> Option<i64> {
        if !self.db_path().exists() {
            return None;
        }
        match self.count(sql) {
            Ok(n) => Some(n),
            Err(rusqlite::Error::SqliteFailure(_, Some(msg)))
                if msg.starts_with("no such table") =>
            {
                None
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// Poll `sql` until `done` holds for its value or `timeout` passes; returns the last value
    /// seen. Panics when the database or the table `sql` reads never appeared, and on any other
    /// SQL error.
    pub fn wait_count(&self, sql: &str, timeout: Duration, done: impl Fn(i64) -> bool) -> i64 {
        let until = Instant::now() + timeout;
        loop {
            let n = self.count_when_ready(sql);
            if n.is_some_and(&done) {
                return n.unwrap_or_default();
            }
            if Instant::now() > until {
                return n.unwrap_or_else(|| {
                    panic!("{sql}: the database or its table did not appear within {timeout:?}")
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `snmpv3_auth_failures.num_failures` of `user` (0 when the user has no row).
    pub fn auth_failures(&self, user: &str) -> i64 {
        let sql = auth_failures_sql(user);
        self.count(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Poll [`Env::auth_failures`] of `user` until `done` holds for it or `timeout` passes;
    /// returns the last value seen.
    pub fn wait_auth_failures(
        &self,
        user: &str,
        timeout: Duration,
        done: impl Fn(i64) -> bool,
    ) -> i64 {
        self.wait_count(&auth_failures_sql(user), timeout, done)
    }

    /// Wait until `SELECT COUNT(*) FROM messages` reaches `n`; returns the last count seen.
    pub fn wait_rows(&self, n: i64, timeout: Duration) -> i64 {
        self.wait_count("SELECT COUNT(*) FROM messages", timeout, |c| c >= n)
    }

    pub fn send_udp(&self, port: u16, payloads: &[Vec<u8>]) {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
        for (i, p) in payloads.iter().enumerate() {
            s.send_to(p, ("127.0.0.1", port)).expect("send");
            // Paced so a loaded test machine's kernel buffer never overflows.
            if i % 500 == 499 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// A witness that every datagram sent to the SNMP port so far has been through ingest and
    /// the pipeline: send [`SNMP_MARKER`] after them and wait until it is stored. The socket is
    /// read in order and the WAL is stored in order, so nothing sent before the marker can turn
    /// up later. The marker is one more row in `messages`.
    pub fn snmp_marker(&self) {
        let sql = format!("SELECT COUNT(*) FROM snmp_messages WHERE oid = '{SNMP_MARKER_OID}'");
        let before = self.count_when_ready(&sql).unwrap_or(0);
        self.send_udp(self.snmp_port, &[SNMP_MARKER.to_vec()]);
        let after = self.wait_count(&sql, Duration::from_secs(20), |n| n > before);
        assert!(after > before, "the SNMP marker was not stored within 20 s");
    }

    pub fn send_tcp(&self, bytes: &[u8]) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.syslog_port)).expect("connect");
        s.write_all(bytes).expect("write");
    }

    /// Hold an exclusive write lock on the database (the schema is created first), until dropped.
    pub fn lock_db(&self) -> rusqlite::Connection {
        drop(mutt::store::Store::open(&self.db_path(), Duration::from_secs(5)).expect("create db"));
        let c = rusqlite::Connection::open(self.db_path()).expect("open db");
        c.execute_batch("BEGIN EXCLUSIVE").expect("lock db");
        c
    }

    /// The WAL segment files, in order; panics when the WAL directory cannot be read.
    pub fn segments(&self) -> Vec<PathBuf> {
        let dir = self.wal_dir();
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read WAL directory {}: {e}", dir.display()));
        let mut v: Vec<PathBuf> = entries
            .map(|e| {
                e.unwrap_or_else(|e| panic!("read WAL directory {}: {e}", dir.display()))
                    .path()
            })
            .filter(|p| p.extension().is_some_and(|x| x == "wal"))
            .collect();
        v.sort();
        v
    }
}

fn auth_failures_sql(user: &str) -> String {
    format!(
        "SELECT COALESCE(SUM(num_failures), 0) FROM snmpv3_auth_failures WHERE username = '{user}'"
    )
}

/// A v2c linkDown trap (community `public`) captured from net-snmp, sent by [`Env::snmp_marker`].
pub const SNMP_MARKER: &[u8] = include_bytes!("../data/snmp/netsnmp_v2c_linkdown.bin");
/// The trap OID [`SNMP_MARKER`] is stored with.
pub const SNMP_MARKER_OID: &str = "1.3.6.1.6.3.1.1.5.3";

/// Distinct syslog lines numbered 0..n, tagged so tests can check every one arrived once.
pub fn numbered_lines(tag: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                "<134>Nov 27 10:00:00 host{} app[{}]: {tag} message {i:06}",
                i % 7,
                i % 50
            )
            .into_bytes()
        })
        .collect()
}

pub struct Daemon {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
    /// Collects stderr into `stderr`; ends when mutt exits.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// `GET path` on the metrics listener (its address is read from the log); the whole
    /// response, status line first.
    pub fn http_get(&self, path: &str) -> String {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(self.metrics_addr()).expect("connect to metrics");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: mutt\r\n\r\n").expect("request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("response");
        out
    }

    /// The metrics listener's address, read from the log.
    pub fn metrics_addr(&self) -> String {
        self.wait_for_log("metrics and health on http://", Duration::from_secs(10));
        self.stderr()
            .split("metrics and health on http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("metrics address in the log")
            .to_string()
    }

    /// `/health`: (status code, body).
    pub fn health(&self) -> (u16, String) {
        let r = self.http_get("/health");
        let code = r
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status code");
        let body = r
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of headers in {r:?}"))
            .1
            .to_string();
        (code, body)
    }

    /// Poll `/health` until its status code is `code`; panics with the last answer otherwise.
    pub fn wait_health(&self, code: u16, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        loop {
            let (got, body) = self.health();
            if got == code {
                return body;
            }
            if Instant::now() > until {
                panic!("/health never answered {code}; last {got} {body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One sample of `/metrics` (`mutt_stored_total`, ...); panics when it is not there.
    pub fn metric(&self, name: &str) -> u64 {
        let text = self.http_get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }

    /// Poll `/metrics` until `done` holds for `name`'s sample or `timeout` passes; returns the
    /// last value seen.
    pub fn wait_metric(&self, name: &str, timeout: Duration, done: impl Fn(u64) -> bool) -> u64 {
        let until = Instant::now() + timeout;
        loop {
            let v = self.metric(name);
            if done(v) || Instant::now() > until {
                return v;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.stderr().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("mutt never logged {needle:?}; stderr:\n{}", self.stderr());
    }

    /// The base URL of the web UI this daemon serves (`web.enabled`), once it says so.
    pub fn web_base(&self) -> String {
        self.wait_for_log("web UI on http://", Duration::from_secs(10));
        self.stderr()
            .split("web UI on http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .map(|a| format!("http://{a}"))
            .expect("the UI's address in the log")
    }

    /// kill -9: no chance to flush or drain. Panics when mutt had already exited: a test that
    /// means to crash a running daemon must not pass on one that died by itself.
    pub fn kill9(mut self) {
        if let Some(status) = self.child.try_wait().expect("mutt's status") {
            panic!(
                "mutt had already exited ({status}) before kill -9; stderr:\n{}",
                self.stderr()
            );
        }
        self.child.kill().expect("kill -9 mutt");
        self.child.wait().expect("reap mutt");
    }

    /// SIGTERM and wait for the exit status; the stderr returned is all of it (read to the end of
    /// the pipe, which closes when mutt exits).
    pub fn terminate(mut self) -> (ExitStatus, String) {
        signal(self.child.id(), libc::SIGTERM);
        let status = wait_timeout(&mut self.child, Duration::from_secs(60));
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().expect("stderr reader");
        }
        (status, self.stderr())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send `sig` to `pid`; panics when kill(2) fails (the process is gone).
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child we spawned.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    if rc != 0 {
        panic!("signal {sig} to {pid}: {}", std::io::Error::last_os_error());
    }
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let until = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The whole of a text file; panics when it cannot be read (a missing log file is a failure,
/// not an empty log that contains no secret).
pub fn file_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Wait until something listens on UDP `port` (an outside daemon such as rsyslogd, started as
/// `child`). Read from /proc/net/udp, so looking never takes the port from it; panics when
/// `child` exits first or `timeout` passes.
pub fn wait_udp_bound(child: &mut Child, port: u16, timeout: Duration) {
    let until = Instant::now() + timeout;
    let bound = || {
        ["/proc/net/udp", "/proc/net/udp6"].iter().any(|table| {
            file_text(Path::new(table)).lines().skip(1).any(|l| {
                let local = l.split_whitespace().nth(1).unwrap_or_default();
                local.rsplit(':').next() == Some(format!("{port:04X}").as_str())
            })
        })
    };
    while !bound() {
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("the process meant to listen on UDP {port} exited: {status}");
        }
        assert!(
            Instant::now() < until,
            "nothing listened on UDP {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request a test [`Endpoint`] received.
#[derive(Debug, Clone)]
pub struct Post {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Post {
    /// A header's value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("POST body is not JSON ({e}): {}", self.body))
    }
}

/// A webhook receiver on 127.0.0.1: records every POST and answers 200. A request it cannot
/// read is recorded too, and fails the test at the next look at the POSTs.
pub struct Endpoint {
    pub port: u16,
    posts: Arc<Mutex<Vec<Post>>>,
    errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Endpoint {
    /// Listen on `port` (chosen earlier with `free_port`, so the config could name it).
    pub fn start(port: u16) -> Endpoint {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind endpoint");
        listener.set_nonblocking(true).expect("nonblocking");
        let posts = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sink, failed, flag) = (posts.clone(), errors.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => match serve_one(stream) {
                        Ok(post) => sink.lock().expect("posts").push(post),
                        Err(e) => failed.lock().expect("errors").push(e),
                    },
                    // Non-blocking, so `stop` is seen: look again shortly.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => failed.lock().expect("errors").push(format!("accept: {e}")),
                }
            }
        });
        Endpoint {
            port,
            posts,
            errors,
            stop,
            handle: Some(handle),
        }
    }

    /// The POSTs received so far; panics when a request could not be read.
    pub fn posts(&self) -> Vec<Post> {
        let errors = self.errors.lock().expect("errors");
        assert!(
            errors.is_empty(),
            "the endpoint could not read a request: {errors:?}"
        );
        self.posts.lock().expect("posts").clone()
    }

    /// Wait until at least `n` POSTs arrived; returns how many did.
    pub fn wait_posts(&self, n: usize, timeout: Duration) -> usize {
        self.wait_posts_until(timeout, |posts| posts.len() >= n)
            .len()
    }

    /// Poll the POSTs until `done` holds for them or `timeout` passes; returns the last seen.
    pub fn wait_posts_until(&self, timeout: Duration, done: impl Fn(&[Post]) -> bool) -> Vec<Post> {
        let until = Instant::now() + timeout;
        loop {
            let posts = self.posts();
            if done(&posts) || Instant::now() > until {
                return posts;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Read one request (headers, then Content-Length bytes) and answer 200; the error says what
/// was wrong with it.
fn serve_one(mut stream: std::net::TcpStream) -> Result<Post, String> {
    use std::io::Read;
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    stream
        .set_nonblocking(false)
        .map_err(|e| io("blocking", e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| io("read timeout", e))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).map_err(|e| io("read head", e))?;
        if n == 0 {
            return Err(format!(
                "closed before the end of the head: {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .ok_or_else(|| format!("no request line: {head:?}"))?
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| format!("no Content-Length: {head:?}"))?;
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).map_err(|e| io("read body", e))?;
        if n == 0 {
            return Err(format!("closed after {} of {len} body bytes", body.len()));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .map_err(|e| io("answer", e))?;
    Ok(Post {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Put `yaml` (keys indented two spaces, as under `listeners:`) at the top of the config's
/// `listeners:` section, for listeners `Setup.extra` cannot add (it appends top-level keys).
pub fn add_listener_yaml(env: &Env, yaml: &str) {
    let path = env.config_path();
    let text = file_text(&path);
    let text = text.replacen("listeners:\n", &format!("listeners:\n{yaml}"), 1);
    std::fs::write(&path, text).expect("write config");
}

/// A tmpfs mounted on a directory for one test, unmounted (lazily, so open files do not block
/// it) when dropped, also when the test fails.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `bytes` on `path` (created if missing); panics when the mount is refused
    /// (not root). Tests that mount are `#[ignore = "needs root to mount a tmpfs"]`.
    pub fn mount(path: &Path, bytes: u64) -> Tmpfs {
        use std::os::unix::ffi::OsStrExt;
        std::fs::create_dir_all(path).expect("mount point");
        let target = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
        let opts = std::ffi::CString::new(format!("size={bytes}")).expect("options");
        // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            panic!(
                "cannot mount a tmpfs on {} (needs root): {e}",
                path.display()
            );
        }
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    /// Bytes an unprivileged writer can still put on it.
    pub fn free_bytes(&self) -> u64 {
        use std::os::unix::ffi::OsStrExt;
        let target = std::ffi::CString::new(self.path.as_os_str().as_bytes()).expect("path");
        // SAFETY: statvfs(2) into a zeroed struct we own.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(target.as_ptr(), &mut st) } != 0 {
            let e = std::io::Error::last_os_error();
            panic!("statvfs {}: {e}", self.path.display());
        }
        st.f_bavail as u64 * st.f_bsize as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        if let Ok(target) = std::ffi::CString::new(self.path.as_os_str().as_bytes()) {
            // SAFETY: umount2(2) on the directory this guard mounted.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// A v2c linkDown trap (ifIndex 2) with net-snmp's `snmptrap` to `port`, `sysname` as its
/// sysName.0 varbind; no MIB files, so every OID goes out numeric.
pub fn snmptrap_linkdown(port: u16, sysname: &str) {
    let out = Command::new("snmptrap")
        .env("MIBS", "")
        .args(["-M", "/nonexistent", "-v", "2c", "-c", "public"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.2", "i", "2"])
        .args(["1.3.6.1.2.1.1.5.0", "s", sysname])
        .output()
        .expect("run snmptrap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stored-XSS attempt the web UI tests send as syslog text and as a varbind string.
pub const XSS: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

impl Env {
    /// One line to the daemon's syslog UDP port with util-linux `logger` (`-d`), tagged `tag`.
    pub fn logger(&self, tag: &str, text: &str) {
        let status = Command::new("logger")
            .args(["-n", "127.0.0.1", "-P", &self.syslog_port.to_string()])
            .args(["-d", "-t", tag, text])
            .status()
            .expect("run logger");
        assert!(status.success(), "logger failed");
    }

    /// [`XSS`] as a syslog line (`logger`) and as a varbind string of a v2c linkDown trap
    /// (`snmptrap`).
    pub fn send_xss(&self) {
        self.logger("xss", XSS);
        snmptrap_linkdown(self.snmp_port, XSS);
    }

    /// A linkDown trap (ifIndex 3) with net-snmp's `snmptrap -v 3` as `user` from engine
    /// `0x80001f8880c0ffee<engine>`: `auth` with `auth_pw`, and `privacy` with `priv-<user>`, or
    /// authNoPriv when `privacy` is `none`.
    pub fn snmptrap_v3(&self, user: &str, auth: &str, auth_pw: &str, privacy: &str, engine: &str) {
        let dir = self.path("netsnmp");
        let _ = std::fs::create_dir_all(&dir);
        let mut c = Command::new("snmptrap");
        c.env("SNMP_PERSISTENT_DIR", &dir)
            .env("SNMPCONFPATH", &dir)
            .args(["-v", "3", "-e", &format!("0x80001f8880c0ffee{engine}")])
            .args(["-u", user, "-a", auth, "-A", auth_pw]);
        if privacy == "none" {
            c.args(["-l", "authNoPriv"]);
        } else {
            c.args([
                "-l",
                "authPriv",
                "-x",
                privacy,
                "-X",
                &format!("priv-{user}"),
            ]);
        }
        let status = c
            .arg(format!("127.0.0.1:{}", self.snmp_port))
            .args(["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.3", "i", "3"])
            .stdout(Stdio::null())
            // net-snmp complains about MIB modules it cannot find; the exit status is what counts.
            .stderr(Stdio::null())
            .status()
            .expect("run snmptrap");
        assert!(status.success(), "snmptrap for {user}");
    }
}
