//! Full disks, each a small tmpfs the test mounts (root), filled by a filler file or by the data.
//!
//! The WAL alone: a flush that finds the disk full is undone and the writer carries on, and a
//! segment that cannot be started leaves no half-made file. Through the daemon: when the WAL's
//! disk fills up under load, ingest drops and counts what it cannot write, the daemon stays up,
//! nothing it accepted is lost or stored twice, and it resumes by itself once space returns; a
//! full database disk is retried like any transient failure.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use mutt::wal::{self, Appended, Record, RecordMeta, SyncPolicy, WalConfig, WalError, WalHandle};

fn cfg(dir: &Path) -> WalConfig {
    WalConfig {
        dir: dir.join("wal"),
        segment_size: 64 << 20,
        sync: SyncPolicy::Never,
        sync_interval: Duration::from_millis(100),
        max_size: 1 << 30,
        keep_released: false,
    }
}

fn meta(i: u64) -> RecordMeta {
    RecordMeta {
        received_at_us: 1_700_000_000_000_000 + i as i64,
        source: format!("192.0.2.{}:{}", i % 250, 1000 + i % 5000)
            .parse()
            .unwrap(),
        transport: (i % 3) as u8,
        listener: (i % 2) as u8,
        flags: (i % 7) as u8,
    }
}

fn payload(i: u64) -> Vec<u8> {
    format!("<13>record number {i} {}", "x".repeat((i % 40) as usize)).into_bytes()
}

fn append_n(w: &mut wal::Writer, from: u64, n: u64) {
    for i in from..from + n {
        assert_eq!(w.append(&meta(i), &payload(i)).unwrap(), Appended::Seq(i));
    }
}

fn read_all(h: &WalHandle, after: u64) -> Vec<Record> {
    let mut r = h.reader(after).unwrap();
    let mut out = Vec::new();
    while r.read_batch(100, &mut out).unwrap() > 0 {}
    out
}

fn assert_records(got: &[Record], seqs: impl IntoIterator<Item = u64>) {
    let want: Vec<u64> = seqs.into_iter().collect();
    let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, want);
    for r in got {
        assert_eq!(r.meta, meta(r.seq));
        assert_eq!(r.payload, payload(r.seq));
    }
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".wal"))
        .collect();
    names.sort();
    names
}

/// Where record `seq` starts in the first segment.
fn offset_of(seq: u64) -> u64 {
    wal::segment::HEADER_LEN as u64
        + (1..seq)
            .map(|i| wal::record::frame_len(payload(i).len()) as u64)
            .sum::<u64>()
}

fn live_bytes(dir: &Path) -> u64 {
    segment_files(dir)
        .iter()
        .filter(|f| f.ends_with(".wal"))
        .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
        .sum()
}

/// Append batches of 20 and flush until the disk is full; returns the last accepted seq and
/// the error.
fn fill_until_disk_full(w: &mut wal::Writer, mut last: u64) -> (u64, WalError) {
    loop {
        append_n(w, last + 1, 20);
        match w.flush() {
            Ok(published) => last = published,
            Err(e) => return (last, e),
        }
    }
}

#[test]
#[ignore = "needs root to mount a tmpfs"]
fn a_flush_that_finds_the_disk_full_is_undone_and_the_writer_carries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(tmp.path(), 256 << 10);
    let c = cfg(tmp.path());
    let filler = tmp.path().join("filler");
    std::fs::write(&filler, vec![7u8; 64 << 10]).unwrap();
    let (mut w, h, _) = wal::open(&c).unwrap();
    let (last, e) = fill_until_disk_full(&mut w, 0);
    assert!(e.is_disk_full(), "{e}");
    assert!(last > 100);
    // Nothing accepted is lost, nothing of the failed batch is left on disk.
    assert_eq!(h.published_seq(), last);
    assert_eq!(live_bytes(&c.dir), offset_of(last + 1));
    assert_eq!(h.disk_bytes(), offset_of(last + 1));
    assert_records(&read_all(&h, 0), 1..=last);
    // Still full: the retry fails the same way, and the sequences are handed out again.
    append_n(&mut w, last + 1, 20);
    assert!(w.flush().unwrap_err().is_disk_full());
    std::fs::remove_file(&filler).unwrap();
    append_n(&mut w, last + 1, 20);
    assert_eq!(w.flush().unwrap(), last + 20);
    assert_records(&read_all(&h, 0), 1..=last + 20);
    drop((w, h));
    let (_, h, report) = wal::open(&c).unwrap();
    assert_eq!(report.last_seq, last + 20);
    assert_eq!(report.truncated_tail_bytes, 0);
    assert_records(&read_all(&h, 0), 1..=last + 20);
    assert_eq!(h.corrupt_records(), 0);
}

#[test]
#[ignore = "needs root to mount a tmpfs"]
fn a_segment_that_cannot_be_started_for_lack_of_space_leaves_no_half_made_file() {
    let tmp = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(tmp.path(), 128 << 10);
    let mut c = cfg(tmp.path());
    // One tmpfs page per segment: the disk fills up when a new segment needs its page.
    c.segment_size = 4096;
    c.sync = SyncPolicy::Always;
    let (mut w, h, _) = wal::open(&c).unwrap();
    let (last, e) = fill_until_disk_full(&mut w, 0);
    let WalError::DiskFull { path, .. } = &e else {
        panic!("{e}");
    };
    assert!(!path.exists(), "{} was left behind", path.display());
    assert_eq!(h.published_seq(), last);
    assert_eq!(h.disk_bytes(), live_bytes(&c.dir));
    for f in segment_files(&c.dir) {
        let bytes = std::fs::read(c.dir.join(&f)).unwrap();
        assert!(wal::segment::decode_header(&bytes).is_ok(), "{f}");
    }
    assert_records(&read_all(&h, 0), 1..=last);
    // Space comes back when the pipeline releases what it committed.
    assert!(h.release_through(last / 2).unwrap() > 0);
    append_n(&mut w, last + 1, 20);
    assert_eq!(w.flush().unwrap(), last + 20);
    assert_records(&read_all(&h, last / 2), last / 2 + 1..=last + 20);
    drop((w, h));
    let (_, h, report) = wal::open(&c).unwrap();
    assert_eq!(report.last_seq, last + 20);
    assert_eq!(report.truncated_tail_bytes, 0);
    assert_eq!(h.corrupt_records(), 0);
}

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
