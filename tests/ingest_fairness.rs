//! One TCP client cannot monopolise ingest: while it floods 2-byte frames (`x\n`) as fast as it
//! can write, 20,000 UDP datagrams a second for 10 s are all received, accepted and stored, the
//! kernel drops none of them, and the daemon's memory stays bounded.

mod common;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const UDP_RATE: usize = 20_000;
const UDP_SECONDS: usize = 10;
const UDP_TOTAL: usize = UDP_RATE * UDP_SECONDS;
const MARKER: &str = "fairness-udp";
const RSS_LIMIT_KIB: u64 = 256 * 1024;

/// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`); panics when it cannot be read, so a
/// memory bound is never checked against a made-up 0.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Write `x\n` frames as fast as the connection takes them until `stop`; returns bytes written.
fn flood(port: u16, stop: Arc<AtomicBool>, written: Arc<AtomicU64>) -> thread::JoinHandle<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect flood");
    // Wake now and then to see `stop`, also when MUTT holds the connection back.
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .expect("write timeout");
    thread::spawn(move || {
        let chunk = b"x\n".repeat(32 * 1024);
        while !stop.load(Ordering::Relaxed) {
            match s.write(&chunk) {
                Ok(n) => {
                    written.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("flood connection failed: {e}"),
            }
        }
    })
}

/// Send `lines` at `UDP_RATE` a second: each millisecond's share is sent once its time has come.
fn send_paced(port: u16, lines: &[Vec<u8>]) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    let per_ms = UDP_RATE / 1000;
    let start = Instant::now();
    for (ms, slot) in lines.chunks(per_ms).enumerate() {
        let due = start + Duration::from_millis(ms as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        for p in slot {
            s.send_to(p, ("127.0.0.1", port)).expect("send");
        }
    }
}

/// Sample the daemon's resident memory every 50 ms until `stop`; returns the largest seen (KiB).
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(status_kib(pid, "VmRSS"));
            thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

#[test]
fn a_tcp_client_flooding_tiny_frames_does_not_starve_udp_or_grow_memory() {
    let env = Env::new(Setup {
        batch_write_size: 2000,
        ..Setup::default()
    });
    // The harness's WAL budget, 64 MiB: the flood may fill three quarters of it, and the last
    // quarter (about 140,000 of these datagrams) absorbs what the database falls behind the
    // UDP rate on a slow test machine. The flood's backlog, stored before the last UDP rows,
    // stays under a million rows.
    let daemon = env.start();
    let pid = daemon.pid();
    let rss_start = status_kib(pid, "VmRSS");
    let lines = numbered_lines(MARKER, UDP_TOTAL);

    let stop_flood = Arc::new(AtomicBool::new(false));
    let flood_bytes = Arc::new(AtomicU64::new(0));
    let flooder = flood(env.syslog_port, stop_flood.clone(), flood_bytes.clone());
    let stop_rss = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(pid, stop_rss.clone());
    // The flood is being read before the datagrams start.
    assert!(
        daemon.wait_metric(
            "mutt_accepted_syslog_tcp_total",
            Duration::from_secs(10),
            |n| n >= 1
        ) > 0
    );

    let drops_before = mutt::metrics::udp_rcvbuf_errors();
    let sent_at = Instant::now();
    send_paced(env.syslog_port, &lines);
    let send_seconds = sent_at.elapsed().as_secs_f64();
    // Whatever the kernel still holds is taken within a few seconds even under the flood.
    let accepted = daemon.wait_metric(
        "mutt_accepted_syslog_udp_total",
        Duration::from_secs(10),
        |n| n >= UDP_TOTAL as u64,
    );
    let drops_after = mutt::metrics::udp_rcvbuf_errors();
    let tcp_during = daemon.metric("mutt_accepted_syslog_tcp_total");
    let rss_during = status_kib(pid, "VmRSS");

    stop_flood.store(true, Ordering::Relaxed);
    flooder.join().expect("flood thread");
    let rows_sql =
        format!("SELECT COUNT(*) FROM messages WHERE raw_message LIKE '%{MARKER} message%'");
    // Every accepted datagram is stored, behind the flood's frames written before it.
    let stored = env.wait_count(&rows_sql, Duration::from_secs(300), |n| {
        n >= accepted as i64
    });
    stop_rss.store(true, Ordering::Relaxed);
    let rss_peak = sampler.join().expect("rss sampler");
    let hwm = status_kib(pid, "VmHWM");
    let kernel_drops = match (drops_before, drops_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    let dropped_wal_full = daemon.metric("mutt_dropped_wal_full_total");
    eprintln!(
        "fairness: UDP sent {UDP_TOTAL} in {send_seconds:.1} s, accepted {accepted}, stored \
         {stored}, kernel drops {kernel_drops:?}, dropped_wal_full {dropped_wal_full}; flood: \
         {} bytes written, {tcp_during} frames accepted while UDP ran; RSS {rss_during} KiB at \
         the end of UDP, sampled peak {rss_peak} KiB, VmHWM {hwm} KiB, {rss_start} KiB at start",
        flood_bytes.load(Ordering::Relaxed)
    );

    assert_eq!(kernel_drops, Some(0), "the kernel dropped datagrams");
    assert_eq!(
        accepted, UDP_TOTAL as u64,
        "not every datagram was accepted"
    );
    assert_eq!(dropped_wal_full, 0, "datagrams were shed at the WAL budget");
    assert_eq!(stored, UDP_TOTAL as i64, "not every datagram was stored");
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(DISTINCT raw_message) FROM messages WHERE raw_message LIKE '%{MARKER} message%'"
        ))
        .expect("count distinct"),
        UDP_TOTAL as i64
    );
    assert!(
        tcp_during > UDP_TOTAL as u64,
        "the flood was not served alongside: {tcp_during} frames"
    );
    assert!(
        rss_peak.max(hwm) < RSS_LIMIT_KIB,
        "RSS peak {} KiB",
        rss_peak.max(hwm)
    );
    drop(daemon);
}
