//! End-to-end load benchmark: the real `mutt` daemon on loopback, offered syslog and SNMP traps
//! over UDP by the project's own generator (`mutt::loadgen`), paced, from many source addresses
//! (127.0.1.x), with the figures read from MUTT's own `/metrics`, its database and /proc.
//!
//! Scenarios (`MUTT_LOAD_SCENARIOS`, comma-separated; default all, in this order):
//! - `syslog`: RFC 3164 lines of ~120 B at MUTT_LOAD_RATE (100,000/s) for MUTT_LOAD_SECONDS (10;
//!   the figure is taken with MUTT_LOAD_SECONDS=60), with MUTT_LOAD_RULES rules (1,000);
//! - `v2c`: SNMPv2c linkDown traps with 10 varbinds (~270 B) at MUTT_TRAP_RATE (50,000/s) for
//!   MUTT_LOAD_SECONDS;
//! - `v3`: the same traps as SNMPv3 authPriv (HMAC-SHA-96, AES-128, ~360 B) at MUTT_V3_RATE
//!   (40,000/s) for MUTT_LOAD_SECONDS, one SNMPv3 engine per source address, the user in MUTT's
//!   credentials file; a pool of traps is signed and encrypted before the send;
//! - `replay`: MUTT_REPLAY_COUNT (1,000,000) syslog records written into a WAL, then
//!   `mutt replay` of it timed end to end (records/s, CPU µs per record), MUTT_LOAD_RULES rules;
//! - `sustained`: as `syslog` with 100 rules (the figure kept from before);
//! - `spike`: MUTT_SPIKE_COUNT (1,000,000) lines at MUTT_SPIKE_RATE (400,000/s), 100 rules; the
//!   expectation is zero loss.
//!
//! Every scenario runs MUTT_LOAD_RUNS times (3), each against a fresh daemon and database, and
//! prints each run and the median of each column. Sources: MUTT_LOAD_DEVICES (200) addresses.
//! Before each run the box's idle share is sampled; the header shows load and buffer limits.
//!
//! Peers (`MUTT_LOAD_PEERS=1`): after each MUTT run the same load goes to the peer of its kind,
//! started privately on a free port — rsyslogd (imudp → omfile) for syslog, snmptrapd (→ log
//! file) for traps, found on PATH — measured the same way (lines written, CPU of the process),
//! and the MUTT ÷ peer CPU per message is printed per run and as the median of those same-run
//! ratios. `benches/load/peers.sh` runs this with the peers and says what it needs.
//!
//! Run: `cargo bench --bench load`; e.g. `MUTT_LOAD_SCENARIOS=v3 MUTT_LOAD_SECONDS=2
//! MUTT_V3_RATE=20000 MUTT_LOAD_RUNS=1 cargo bench --bench load` for a quick look. Temporary
//! files go to TMPDIR, whose disk the WAL and database then use.

mod daemon;
mod host;
mod peers;
mod report;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mutt::decode::snmp::credentials::Credentials;
use mutt::decode::snmp::Usm;
use mutt::loadgen::{self, SendReport};
use mutt::metrics::udp_rcvbuf_errors;
use mutt::timefmt::now_us;

use crate::daemon::{scrape, Daemon, Snapshot};
use crate::peers::{Kind, Peer};

const ALL: &str = "syslog,v2c,v3,replay,sustained,spike";

struct Settings {
    runs: u64,
    seconds: u64,
    rate: u64,
    trap_rate: u64,
    v3_rate: u64,
    spike_count: u64,
    spike_rate: u64,
    replay_count: u64,
    rules: usize,
    devices: usize,
    peers: bool,
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            runs: host::env_u64("MUTT_LOAD_RUNS", 3).max(1),
            seconds: host::env_u64("MUTT_LOAD_SECONDS", 10).max(1),
            rate: host::env_u64("MUTT_LOAD_RATE", 100_000),
            trap_rate: host::env_u64("MUTT_TRAP_RATE", 50_000),
            v3_rate: host::env_u64("MUTT_V3_RATE", 40_000),
            spike_count: host::env_u64("MUTT_SPIKE_COUNT", 1_000_000),
            spike_rate: host::env_u64("MUTT_SPIKE_RATE", 400_000),
            replay_count: host::env_u64("MUTT_REPLAY_COUNT", 1_000_000),
            rules: host::env_u64("MUTT_LOAD_RULES", 1_000) as usize,
            devices: host::env_u64("MUTT_LOAD_DEVICES", 200).clamp(1, 60_000) as usize,
            peers: host::env_flag("MUTT_LOAD_PEERS"),
        }
    }
}

/// What is offered in a live scenario.
enum Load {
    Syslog,
    /// Datagrams built before the send, sent in turn.
    Traps(Vec<Vec<u8>>),
}

struct Live {
    name: &'static str,
    title: String,
    rules: usize,
    rate: u64,
    count: u64,
    load: Load,
    peer: Kind,
}

impl Live {
    fn send(&self, target: SocketAddr, run: u32, devices: usize) -> SendReport {
        let sent = match &self.load {
            Load::Syslog => loadgen::send_syslog_udp(target, self.rate, self.count, run, devices),
            Load::Traps(pool) => {
                loadgen::send_pool_udp(target, self.rate, self.count, devices, pool)
            }
        };
        sent.expect("send")
    }
}

/// One MUTT run, as printed.
struct MuttRun {
    idle: f64,
    sent: SendReport,
    after: Snapshot,
    kernel_drops: u64,
    stored_rate: f64,
    peak_backlog: u64,
    cpu_us: u64,
    /// CPU by thread name over the run, µs.
    threads: BTreeMap<String, u64>,
    drain: f64,
    stalled: bool,
    counters: String,
}

impl MuttRun {
    fn cpu_per_msg(&self) -> f64 {
        self.cpu_us as f64 / self.after.stored.max(1) as f64
    }
}

/// One peer run.
struct PeerRun {
    idle: f64,
    sent: SendReport,
    written: u64,
    kernel_drops: u64,
    written_rate: f64,
    cpu_us: u64,
}

impl PeerRun {
    fn cpu_per_msg(&self) -> f64 {
        self.cpu_us as f64 / self.written.max(1) as f64
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let s = Settings::from_env();
    let scenarios = std::env::var("MUTT_LOAD_SCENARIOS").unwrap_or_else(|_| ALL.into());
    // Names as spelled in ALL, so they live as long as the program.
    let mut names: Vec<&'static str> = Vec::new();
    for n in scenarios
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        match ALL.split(',').find(|a| *a == n) {
            Some(a) => names.push(a),
            None => {
                eprintln!("unknown scenario {n:?} in MUTT_LOAD_SCENARIOS; known: {ALL}");
                std::process::exit(2);
            }
        }
    }
    println!("MUTT end-to-end load bench: {}", names.join(", "));
    println!("box: {}", host::box_state());
    println!(
        "{} run(s) per scenario, {} source addresses, peers {}",
        s.runs,
        s.devices,
        if s.peers {
            "on (MUTT_LOAD_PEERS=1)"
        } else {
            "off (MUTT_LOAD_PEERS=1 adds them)"
        }
    );
    println!("{}", report::LEGEND);
    let mut summary = Vec::new();
    for name in names {
        if name == "replay" {
            summary.push(replay_scenario(&s));
        } else {
            let live = live_scenario(name, &s);
            summary.push(run_live(&live, &s));
        }
    }
    println!("\n== summary (medians) ==");
    for line in summary {
        println!("{line}");
    }
}

fn live_scenario(name: &'static str, s: &Settings) -> Live {
    let secs = s.seconds;
    let devices = s.devices;
    // Four batches per device: the pool repeats every few hundred traps of a device.
    let per_device = 4 * loadgen::BATCH as u64;
    match name {
        "syslog" | "sustained" => {
            let rules = if name == "syslog" { s.rules } else { 100 };
            Live {
                name,
                title: format!(
                    "{name}: RFC 3164 lines (~120 B) over UDP at {}/s for {secs} s, {rules} rules",
                    s.rate
                ),
                rules,
                rate: s.rate,
                count: s.rate * secs,
                load: Load::Syslog,
                peer: Kind::Rsyslogd,
            }
        }
        "spike" => Live {
            name,
            title: format!(
                "spike: {} RFC 3164 lines at {}/s, 100 rules (zero loss expected)",
                s.spike_count, s.spike_rate
            ),
            rules: 100,
            rate: s.spike_rate,
            count: s.spike_count,
            load: Load::Syslog,
            peer: Kind::Rsyslogd,
        },
        "v2c" => {
            let pool = loadgen::device_pool(devices, per_device, |_, k| {
                loadgen::v2c_linkdown(daemon::COMMUNITY, k)
            });
            Live {
                name,
                title: format!(
                    "v2c: SNMPv2c linkDown traps, 10 varbinds ({} B), at {}/s for {secs} s, {} rules",
                    pool[0].len(),
                    s.trap_rate,
                    s.rules
                ),
                rules: s.rules,
                rate: s.trap_rate,
                count: s.trap_rate * secs,
                load: Load::Traps(pool),
                peer: Kind::Snmptrapd,
            }
        }
        "v3" => {
            let creds = Credentials::from_yaml(&mutt_credentials(), std::path::Path::new("bench"))
                .expect("bench credentials");
            let started = Instant::now();
            let pool = loadgen::v3_linkdown_pool(
                &Usm::new(creds),
                daemon::V3_USER,
                devices,
                per_device,
                7,
            )
            .expect("v3 pool");
            Live {
                name,
                title: format!(
                    "v3: SNMPv3 authPriv (SHA, AES-128) linkDown traps ({} B), at {}/s for {secs} s, \
                     {} rules; {} traps pre-encoded in {:.2} s",
                    pool[0].len(),
                    s.v3_rate,
                    s.rules,
                    pool.len(),
                    started.elapsed().as_secs_f64()
                ),
                rules: s.rules,
                rate: s.v3_rate,
                count: s.v3_rate * secs,
                load: Load::Traps(pool),
                peer: Kind::Snmptrapd,
            }
        }
        other => unreachable!("scenario {other}"),
    }
}

fn mutt_credentials() -> String {
    format!(
        "snmpv3_credentials:\n  - username: {}\n    credentials:\n      - priority: 1\n        auth_type: SHA\n        auth_password: {}\n        priv_type: AES\n        priv_password: {}\n        active: true\n",
        daemon::V3_USER,
        daemon::V3_AUTH_PASSWORD,
        daemon::V3_PRIV_PASSWORD
    )
}

fn run_live(live: &Live, s: &Settings) -> String {
    println!("\n== {} ==", live.title);
    println!("  box before: {}", host::load_average());
    let mut runs = Vec::new();
    let mut peer_runs = Vec::new();
    let mut peer_error = None;
    for r in 0..s.runs {
        let run = mutt_run(live, r as u32, s.devices);
        if run.stalled || run.after.stored < run.sent.sent || run.after.rejected > 0 {
            eprintln!(
                "    run {}: MUTT's counters at exit: {}",
                r + 1,
                run.counters
            );
        }
        runs.push(run);
        if s.peers && peer_error.is_none() {
            match peer_run(live, 1_000 + r as u32, s.devices) {
                Ok(p) => peer_runs.push(p),
                Err(e) => peer_error = Some(e),
            }
        }
    }
    report::print_mutt_table(&runs);
    report::print_threads(&runs);
    for (i, r) in runs.iter().enumerate() {
        if r.sent.send_errors > 0 {
            println!(
                "  run {}: the sender's kernel refused {} datagrams (not offered)",
                i + 1,
                r.sent.send_errors
            );
        }
        if r.stalled {
            println!("  run {}: MUTT stopped making progress for 30 s with a backlog; figures are partial", i + 1);
        }
    }
    let rejected: u64 = runs.iter().map(|r| r.after.rejected).sum();
    if rejected > 0 {
        println!("  WARNING: {rejected} messages rejected (community or SNMPv3 trust) over the runs; see the counters above");
    } else if live.name == "v3" {
        println!("  v3_rejected_* stayed 0 in every run: every trap authenticated and decrypted");
    }
    let m = |f: &dyn Fn(&MuttRun) -> f64| host::median(runs.iter().map(f).collect());
    let mut line = format!(
        "{:<10} stored {:>7.0}/s, offered {:>7.0}/s (asked {}/s), lost {:.0} ({:.3}%), kernel drops {:.0}, peak backlog {:.0} ({:.2} s), MUTT {:.2} µs/msg",
        live.name,
        m(&|r| r.stored_rate),
        m(&|r| r.sent.rate()),
        live.rate,
        m(&|r| r.sent.sent.saturating_sub(r.after.stored) as f64),
        m(&|r| 100.0 * r.sent.sent.saturating_sub(r.after.stored) as f64 / r.sent.sent.max(1) as f64),
        m(&|r| r.kernel_drops as f64),
        m(&|r| r.peak_backlog as f64),
        m(&|r| r.peak_backlog as f64 / r.sent.rate().max(1.0)),
        m(&|r| r.cpu_per_msg()),
    );
    if let Some(e) = &peer_error {
        println!("  peer {}: {e}", live.peer.program());
        line += &format!(", peer: {e}");
    } else if !peer_runs.is_empty() {
        let ratio = report::print_peer_table(live.peer.program(), &runs, &peer_runs);
        let peer_cpu = host::median(peer_runs.iter().map(PeerRun::cpu_per_msg).collect());
        line += &format!(
            ", {} {peer_cpu:.2} µs/msg, ratio {ratio:.2}",
            live.peer.program()
        );
    }
    line
}

/// One run against a fresh MUTT: offer the load, watch /metrics until everything accepted is
/// committed, read CPU and drops around it.
fn mutt_run(live: &Live, run: u32, devices: usize) -> MuttRun {
    let idle = host::idle_percent(Duration::from_millis(500)).unwrap_or(f64::NAN);
    let daemon = Daemon::start(live.rules);
    let target = match live.load {
        Load::Syslog => daemon.syslog,
        Load::Traps(_) => daemon.snmp,
    };
    let before = scrape(daemon.metrics).expect("metrics before the run");
    let cpu0 = host::cpu_us(daemon.pid()).unwrap_or(0);
    let threads0 = host::cpu_us_by_thread(daemon.pid());
    let drops0 = udp_rcvbuf_errors().unwrap_or(0);
    let t0 = now_us();
    let sent_flag = AtomicBool::new(false);
    let (sent, sent_at, watched) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| watch(daemon.metrics, &sent_flag));
        let sent = live.send(target, run, devices);
        let sent_at = now_us();
        sent_flag.store(true, Ordering::Release);
        (sent, sent_at, watcher.join().expect("watcher"))
    });
    let cpu1 = host::cpu_us(daemon.pid()).unwrap_or(0);
    let mut threads = host::cpu_us_by_thread(daemon.pid());
    for (name, us) in threads.iter_mut() {
        *us = us.saturating_sub(threads0.get(name).copied().unwrap_or(0));
    }
    let kernel_drops = udp_rcvbuf_errors().unwrap_or(0).saturating_sub(drops0);
    let last_commit = daemon.last_commit_us().unwrap_or(t0);
    let counters = daemon.stop();
    let a = watched.last;
    let after = Snapshot {
        accepted: a.accepted - before.accepted,
        stored: a.stored - before.stored,
        invalid: a.invalid - before.invalid,
        dropped: a.dropped - before.dropped,
        rejected: a.rejected - before.rejected,
        ..a
    };
    let span = (last_commit - t0).max(1) as f64 / 1e6;
    MuttRun {
        idle,
        sent,
        after,
        kernel_drops,
        stored_rate: after.stored as f64 / span,
        peak_backlog: watched.peak_backlog,
        cpu_us: cpu1.saturating_sub(cpu0),
        threads,
        // The last commit can be stamped a hair before the sender reads its clock.
        drain: (last_commit - sent_at).max(0) as f64 / 1e6,
        stalled: watched.stalled,
        counters,
    }
}

struct Watched {
    last: Snapshot,
    peak_backlog: u64,
    stalled: bool,
}

/// Scrape /metrics every 100 ms: the peak backlog, and the end — once the sender is done, the
/// WAL holds nothing unstored and nothing new arrived since the last scrape. Gives up when the
/// checkpoint has not moved for 30 s after the send.
fn watch(metrics: SocketAddr, sent: &AtomicBool) -> Watched {
    let mut w = Watched {
        last: Snapshot::default(),
        peak_backlog: 0,
        stalled: false,
    };
    let mut prev: Option<Snapshot> = None;
    let mut moved_at = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let done_sending = sent.load(Ordering::Acquire);
        if let Some(s) = scrape(metrics) {
            w.peak_backlog = w.peak_backlog.max(s.backlog());
            w.last = s;
            if let Some(p) = prev {
                if s.checkpoint != p.checkpoint || s.published != p.published {
                    moved_at = Instant::now();
                }
                if done_sending && s.backlog() == 0 && s.published == p.published {
                    return w;
                }
            }
            prev = Some(s);
        }
        if done_sending && moved_at.elapsed() > Duration::from_secs(30) {
            w.stalled = true;
            return w;
        }
    }
}

/// The same load to the peer of the scenario's kind, in a run of its own.
fn peer_run(live: &Live, run: u32, devices: usize) -> Result<PeerRun, String> {
    let idle = host::idle_percent(Duration::from_millis(500)).unwrap_or(f64::NAN);
    let peer = match live.peer {
        Kind::Rsyslogd => Peer::rsyslogd()?,
        Kind::Snmptrapd => {
            let engines: Vec<Vec<u8>> = (0..devices).map(loadgen::engine_id).collect();
            Peer::snmptrapd(&engines)?
        }
    };
    let cpu0 = host::cpu_us(peer.pid()).unwrap_or(0);
    let drops0 = udp_rcvbuf_errors().unwrap_or(0);
    let t0 = std::time::SystemTime::now();
    let sent = live.send(peer.target, run, devices);
    // Done when the output file has not grown for a second.
    let mut last = (peer.output_bytes(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let b = peer.output_bytes();
        if b != last.0 {
            last = (b, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            break;
        }
    }
    let cpu1 = host::cpu_us(peer.pid()).unwrap_or(0);
    let kernel_drops = udp_rcvbuf_errors().unwrap_or(0).saturating_sub(drops0);
    // From the first send to the output file's last write.
    let span = peer
        .output_modified()
        .and_then(|m| m.duration_since(t0).ok())
        .map_or(1e-6, |d| d.as_secs_f64().max(1e-6));
    let written = peer.written(&format!(" r{run} n"));
    peer.stop();
    Ok(PeerRun {
        idle,
        sent,
        written,
        kernel_drops,
        written_rate: written as f64 / span,
        cpu_us: cpu1.saturating_sub(cpu0),
    })
}

fn replay_scenario(s: &Settings) -> String {
    println!(
        "\n== replay: {} syslog records written into a WAL, then `mutt replay` timed end to end, {} rules ==",
        s.replay_count, s.rules
    );
    println!("  box before: {}", host::load_average());
    let mut rows = Vec::new();
    for r in 0..s.runs {
        let idle = host::idle_percent(Duration::from_millis(500)).unwrap_or(f64::NAN);
        let x = daemon::replay(s.replay_count, s.rules, s.devices, 2_000 + r as u32);
        let secs = x.wall.as_secs_f64();
        rows.push(vec![
            idle,
            x.records as f64,
            x.wal_bytes as f64 / 1e6,
            x.stored as f64,
            x.records.saturating_sub(x.stored) as f64,
            secs,
            x.stored as f64 / secs.max(1e-9),
            x.cpu_us as f64 / x.stored.max(1) as f64,
            100.0 * x.cpu_us as f64 / 1e6 / secs.max(1e-9),
            x.max_rss_kib as f64 / 1024.0,
        ]);
    }
    println!(
        "  (records/s = stored / wall time of the whole process, start-up and WAL scan included; \
         cpu_% = CPU / wall, 100 = one core)"
    );
    let table = report::Table {
        columns: vec![
            ("idle%", 0),
            ("records", 0),
            ("wal_MB", 0),
            ("stored", 0),
            ("lost", 0),
            ("seconds", 2),
            ("records/s", 0),
            ("cpu_us/rec", 2),
            ("cpu_%", 0),
            ("max_rss_MB", 0),
        ],
        rows,
    };
    table.print();
    let m = |c: usize| host::median(table.rows.iter().map(|r| r[c]).collect());
    format!(
        "{:<10} {:>9.0} records/s, {:.2} µs CPU/record, lost {:.0} of {}",
        "replay",
        m(6),
        m(7),
        m(4),
        s.replay_count
    )
}
