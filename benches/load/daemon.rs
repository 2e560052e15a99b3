//! MUTT as the bench runs it: a private `mutt run` on free loopback ports with its own config,
//! rules and SNMPv3 credentials in a temporary directory, read through its `/metrics`, its
//! database's checkpoint row and /proc; and `mutt replay` of a WAL the bench writes itself.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mutt::loadgen;
use mutt::wal::{self, Appended, RecordMeta, SyncPolicy, WalConfig};

use crate::host;

/// The SNMPv3 user of the v3 scenario (loadgen's): SHA-1 authentication, AES-128 privacy.
pub use mutt::loadgen::{V3_AUTH_PASSWORD, V3_PRIV_PASSWORD, V3_USER};
/// The v2c traps' community.
pub const COMMUNITY: &str = "public";

/// mutt_config.yaml for a private MUTT in `dir`: defaults everywhere else (WAL group commit,
/// 32 MiB receive buffers, reverse DNS on).
fn config_yaml(dir: &Path, syslog_port: u16, snmp_port: u16, metrics_port: u16) -> String {
    let d = dir.display();
    format!(
        "daemon:\n  log_level: INFO\n  log_file: {d}/mutt.log\n  pid_file: {d}/mutt.pid\n\
         listeners:\n  snmp:\n    bind: 127.0.0.1\n    port: {snmp_port}\n  syslog:\n    bind: 127.0.0.1\n    port: {syslog_port}\n    protocol: udp\n\
         storage:\n  database:\n    path: {d}/messages.db\n\
         pattern_matching:\n  rules_file: {d}/rules.yaml\n\
         wal:\n  path: {d}/wal\n\
         snmpv3:\n  credentials_file: {d}/snmpv3_credentials.yaml\n\
         metrics:\n  listen: 127.0.0.1:{metrics_port}\n"
    )
}

fn credentials_yaml() -> String {
    format!(
        "snmpv3_credentials:\n  - username: {V3_USER}\n    credentials:\n      - priority: 1\n        auth_type: SHA\n        auth_password: {V3_AUTH_PASSWORD}\n        priv_type: AES\n        priv_password: {V3_PRIV_PASSWORD}\n        active: true\n"
    )
}

/// Config, rules and credentials files in `dir`.
fn write_files(dir: &Path, rules: usize, ports: (u16, u16, u16)) {
    use std::os::unix::fs::PermissionsExt;
    let config = config_yaml(dir, ports.0, ports.1, ports.2);
    std::fs::write(dir.join("mutt.yaml"), config).expect("config");
    std::fs::write(dir.join("rules.yaml"), mutt::loadgen::rules_yaml(rules)).expect("rules");
    let creds = dir.join("snmpv3_credentials.yaml");
    std::fs::write(&creds, credentials_yaml()).expect("credentials");
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// What `/metrics` says at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub accepted: u64,
    pub stored: u64,
    pub invalid: u64,
    /// Not accepted by MUTT: WAL at its budget, disk full.
    pub dropped: u64,
    /// Not stored on purpose: unknown community, untrusted SNMPv3, discovery probes.
    pub rejected: u64,
    pub published: u64,
    pub checkpoint: u64,
}

impl Snapshot {
    /// Records accepted into the WAL and not yet committed to the database.
    pub fn backlog(&self) -> u64 {
        self.published.saturating_sub(self.checkpoint)
    }

    fn parse(text: &str) -> Snapshot {
        let mut s = Snapshot::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.split_once(' ') else {
                continue;
            };
            let Ok(v) = value.trim().parse::<f64>() else {
                continue;
            };
            let v = v as u64;
            let Some(name) = name.strip_prefix("mutt_") else {
                continue;
            };
            match name {
                n if n.starts_with("accepted_") && n.ends_with("_total") => s.accepted += v,
                "stored_total" => s.stored = v,
                "invalid_total" => s.invalid = v,
                "dropped_wal_full_total" | "dropped_disk_full_total" => s.dropped += v,
                "community_rejected_total" | "v3_discovery_probes_total" => s.rejected += v,
                n if n.starts_with("v3_rejected_") => s.rejected += v,
                "wal_published_seq" => s.published = v,
                "checkpoint_seq" => s.checkpoint = v,
                _ => {}
            }
        }
        s
    }
}

/// `GET /metrics` with a short deadline; None when MUTT does not answer.
pub fn scrape(addr: SocketAddr) -> Option<Snapshot> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: mutt\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    Some(Snapshot::parse(body))
}

/// A private `mutt run`.
pub struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    pub syslog: SocketAddr,
    pub snmp: SocketAddr,
    pub metrics: SocketAddr,
}

impl Daemon {
    pub fn start(rules: usize) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = (
            host::free_udp_port(),
            host::free_udp_port(),
            host::free_tcp_port(),
        );
        write_files(dir.path(), rules, ports);
        let child = Command::new(env!("CARGO_BIN_EXE_mutt"))
            .arg("--config")
            .arg(dir.path().join("mutt.yaml"))
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mutt");
        let d = Daemon {
            child,
            dir,
            syslog: ([127, 0, 0, 1], ports.0).into(),
            snmp: ([127, 0, 0, 1], ports.1).into(),
            metrics: ([127, 0, 0, 1], ports.2).into(),
        };
        let log = d.dir.path().join("mutt.log");
        let up = host::wait_for(Duration::from_secs(30), Duration::from_millis(50), || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            (text.contains("MUTT running") && scrape(d.metrics).is_some()).then_some(())
        });
        assert!(
            up.is_some(),
            "mutt did not start; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        d
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When the last batch was committed (`mutt_checkpoint.updated_at`), Unix µs.
    pub fn last_commit_us(&self) -> Option<i64> {
        let c = rusqlite::Connection::open_with_flags(
            self.dir.path().join("messages.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()?;
        let at: String = c
            .query_row(
                "SELECT updated_at FROM mutt_checkpoint WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .ok()?;
        mutt::timefmt::parse_rfc3339_us(&at)
    }

    /// SIGTERM, wait, and return the counters line MUTT logs as it stops.
    pub fn stop(mut self) -> String {
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

/// What one `mutt replay` did.
pub struct Replayed {
    pub records: u64,
    pub wal_bytes: u64,
    pub stored: u64,
    pub wall: Duration,
    pub cpu_us: u64,
    pub max_rss_kib: u64,
}

/// Write `count` syslog records (the load generator's lines, from `devices` addresses) into a
/// new WAL in `dir/wal`, as ingest would have, then time `mutt replay` of it into an empty
/// database with `rules` rules: wall clock from start to exit, CPU from the kernel's accounting of
/// the finished process (all its threads).
pub fn replay(count: u64, rules: usize, devices: usize, run: u32) -> Replayed {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = (
        host::free_udp_port(),
        host::free_udp_port(),
        host::free_tcp_port(),
    );
    write_files(dir.path(), rules, ports);
    let wal_dir = dir.path().join("wal");
    let wal_bytes = write_wal(&wal_dir, count, devices, run);
    let start = Instant::now();
    // Reaped by `wait4` below, which also gives the finished process's resource usage.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_mutt"))
        .arg("--config")
        .arg(dir.path().join("mutt.yaml"))
        .args(["replay", "--quiet"])
        .arg(&wal_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mutt replay");
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let (status, usage) = wait4(child.id());
    let wall = start.elapsed();
    assert!(
        status == 0,
        "mutt replay exited with status {status}: {out}"
    );
    let stored = out
        .split_whitespace()
        .find_map(|w| w.parse::<u64>().ok())
        .unwrap_or(0);
    let tv_us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Replayed {
        records: count,
        wal_bytes,
        stored,
        wall,
        cpu_us: tv_us(usage.ru_utime) + tv_us(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
    }
}

/// Reap child `pid`: its wait status and resource usage.
fn wait4(pid: u32) -> (i32, libc::rusage) {
    // SAFETY: a zeroed rusage is a valid value; wait4 fills both out-parameters for our child.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let mut status = 0;
        libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage);
        (status, usage)
    }
}

/// `count` RFC 3164 records received over UDP from `devices` addresses in the last minutes,
/// appended and flushed in receive-sized batches; returns the bytes written.
fn write_wal(dir: &Path, count: u64, devices: usize, run: u32) -> u64 {
    let cfg = WalConfig {
        dir: dir.to_path_buf(),
        segment_size: 64 << 20,
        sync: SyncPolicy::Never,
        sync_interval: Duration::from_millis(200),
        max_size: u64::MAX / 2,
        keep_released: false,
    };
    let (mut writer, handle, _) = wal::open(&cfg).expect("open WAL");
    let start_us = mutt::timefmt::now_us() - 600_000_000;
    let mut line = Vec::with_capacity(256);
    let mut stamp = (0i64, String::new());
    for i in 0..count {
        // As if received at 10,000/s over the last minutes.
        let at = start_us + (i as i64 * 100);
        if at / 1_000_000 != stamp.0 {
            stamp = (at / 1_000_000, loadgen::rfc3164_stamp(at / 1_000_000));
        }
        loadgen::line(run, i, &stamp.1, &mut line);
        let k = (i / loadgen::BATCH as u64) as usize % devices.max(1);
        let meta = RecordMeta {
            received_at_us: at,
            source: SocketAddr::from(([127, 0, 1 + (k / 250) as u8, 1 + (k % 250) as u8], 514)),
            transport: mutt::model::Transport::Udp as u8,
            listener: mutt::model::Listener::Syslog as u8,
            flags: 0,
        };
        assert!(matches!(
            writer.append(&meta, &line).expect("append"),
            Appended::Seq(_)
        ));
        if i % 1024 == 1023 {
            writer.flush().expect("flush");
        }
    }
    writer.flush().expect("flush");
    writer.sync().expect("sync");
    let bytes = handle.disk_bytes();
    drop(writer);
    drop(handle);
    bytes
}
