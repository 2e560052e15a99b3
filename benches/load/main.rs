//! End-to-end load benchmark: the real `mutt` daemon on loopback with 100 rules, syslog offered
//! over UDP by the project's own generator, rows counted in SQLite.
//!
//! Two scenarios, each reported with offered, accepted, stored and lost messages, the kernel's
//! receive-buffer drops (RcvbufErrors) and the rates:
//! - sustained: MUTT_LOAD_RATE msgs/s (100,000) for MUTT_LOAD_SECONDS (10);
//! - spike: MUTT_SPIKE_COUNT messages (1,000,000) offered at MUTT_SPIKE_RATE (400,000/s);
//!
//! both from MUTT_LOAD_DEVICES source addresses (200, 127.0.1.x), as a fleet sends.
//!
//! Run: `cargo bench --bench load` (MUTT_LOAD_RUNS=3 for a median of three).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mutt::loadgen::send_syslog_udp;
use mutt::metrics::udp_rcvbuf_errors;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// 100 rules in the seed's format: 70 keyword rules and 30 regexes, as an operator writes them;
/// a few match the generated traffic.
fn rules_yaml() -> String {
    let mut y = String::from("rules:\n");
    for i in 0..100 {
        if i % 10 < 7 {
            y += &format!(
                "  - id: kw{i}\n    name: keyword rule {i}\n    pattern_type: keyword\n    keywords: [\"fault{i}\", \"alarm {i}\"]\n    severity: warning\n    action: store\n"
            );
        } else {
            y += &format!(
                "  - id: re{i}\n    name: regex rule {i}\n    pattern_type: regex\n    pattern: \"interface \\\\S+ (down|flap){i}\"\n    severity: critical\n    action: store\n"
            );
        }
    }
    y += "  - id: updown\n    name: link up/down\n    pattern_type: regex\n    pattern: \"%LINK-3-UPDOWN\"\n    severity: warning\n    action: store\n";
    y
}

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let port = free_port();
        let config = format!(
            "daemon:\n  log_level: INFO\n  log_file: {d}/mutt.log\n  pid_file: {d}/mutt.pid\n\
             listeners:\n  snmp:\n    bind: 127.0.0.1\n    port: {snmp}\n  syslog:\n    bind: 127.0.0.1\n    port: {port}\n    protocol: udp\n\
             storage:\n  database:\n    path: {d}/messages.db\n\
             pattern_matching:\n  rules_file: {d}/rules.yaml\n\
             wal:\n  path: {d}/wal\n\
             metrics:\n  listen: 127.0.0.1:0\n",
            snmp = free_port(),
        );
        std::fs::write(dir.path().join("mutt.yaml"), config).expect("config");
        std::fs::write(dir.path().join("rules.yaml"), rules_yaml()).expect("rules");
        let child = Command::new(env!("CARGO_BIN_EXE_mutt"))
            .args(["run", "--config"])
            .arg(dir.path().join("mutt.yaml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mutt");
        let log = dir.path().join("mutt.log");
        let until = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("MUTT running")
        {
            assert!(Instant::now() < until, "mutt did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Daemon { child, dir, port }
    }

    fn rows(&self) -> u64 {
        let Ok(c) = rusqlite::Connection::open_with_flags(
            self.dir.path().join("messages.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return 0;
        };
        c.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| n as u64)
    }

    /// Wait until `expected` rows are there or the count stops moving for 5 s.
    fn wait_stored(&self, expected: u64) -> (u64, Instant) {
        let mut last = (self.rows(), Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let n = self.rows();
            if n >= expected {
                return (n, Instant::now());
            }
            if n != last.0 {
                last = (n, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(5) {
                return last;
            }
        }
    }

    /// SIGTERM, wait, and read the final counters line from the log.
    fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let log = std::fs::read_to_string(self.dir.path().join("mutt.log")).unwrap_or_default();
        log.lines()
            .rfind(|l| l.contains("stopped"))
            .unwrap_or("")
            .to_string()
    }
}

struct Outcome {
    offered: u64,
    stored: u64,
    kernel_drops: u64,
    offer_rate: f64,
    store_rate: f64,
}

fn scenario(rate: u64, count: u64, run: u32, devices: usize) -> Outcome {
    let daemon = Daemon::start();
    let target: SocketAddr = ([127, 0, 0, 1], daemon.port).into();
    let before_drops = udp_rcvbuf_errors().unwrap_or(0);
    let before_rows = daemon.rows();
    let start = Instant::now();
    let sent = send_syslog_udp(target, rate, count, run, devices).expect("send");
    let (stored, done) = daemon.wait_stored(before_rows + sent.sent);
    let kernel_drops = udp_rcvbuf_errors()
        .unwrap_or(0)
        .saturating_sub(before_drops);
    let counters = daemon.stop();
    eprintln!("    mutt: {counters}");
    Outcome {
        offered: sent.sent,
        stored: stored - before_rows,
        kernel_drops,
        offer_rate: sent.rate(),
        store_rate: (stored - before_rows) as f64 / done.duration_since(start).as_secs_f64(),
    }
}

fn report(name: &str, outcomes: &mut [Outcome]) {
    outcomes.sort_by(|a, b| a.store_rate.total_cmp(&b.store_rate));
    for o in outcomes.iter() {
        println!(
            "{name}: offered {} at {:.0}/s, stored {}, lost {}, kernel rcvbuf drops {}, stored end to end at {:.0}/s",
            o.offered,
            o.offer_rate,
            o.stored,
            o.offered.saturating_sub(o.stored),
            o.kernel_drops,
            o.store_rate
        );
    }
    let m = &outcomes[outcomes.len() / 2];
    println!(
        "{name} median: stored {:.0}/s, lost {} of {} ({:.4}%), kernel drops {}",
        m.store_rate,
        m.offered.saturating_sub(m.stored),
        m.offered,
        100.0 * m.offered.saturating_sub(m.stored) as f64 / m.offered.max(1) as f64,
        m.kernel_drops
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let runs = env_u64("MUTT_LOAD_RUNS", 1).max(1);
    let rate = env_u64("MUTT_LOAD_RATE", 100_000);
    let seconds = env_u64("MUTT_LOAD_SECONDS", 10);
    let spike_count = env_u64("MUTT_SPIKE_COUNT", 1_000_000);
    let spike_rate = env_u64("MUTT_SPIKE_RATE", 400_000);
    let devices = env_u64("MUTT_LOAD_DEVICES", 200) as usize;
    println!("{devices} devices (source addresses), 100 rules");
    let mut sustained: Vec<Outcome> = (0..runs)
        .map(|r| scenario(rate, rate * seconds, r as u32, devices))
        .collect();
    report(&format!("sustained {rate}/s x {seconds}s"), &mut sustained);
    let mut spike: Vec<Outcome> = (0..runs)
        .map(|r| scenario(spike_rate, spike_count, 100 + r as u32, devices))
        .collect();
    report(
        &format!("spike {spike_count} at {spike_rate}/s"),
        &mut spike,
    );
}
