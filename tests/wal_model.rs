//! Model test of the WAL: random appends, flushes, reads, releases, crashes and torn tails,
//! checked against an in-memory list of accepted records.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mutt::wal::{self, Appended, RecordMeta, SyncPolicy, WalConfig, WalHandle, Writer};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Append this many records with payloads of these lengths.
    Append(Vec<u16>),
    Flush,
    /// Read up to this many records with the long-lived reader.
    Read(u8),
    /// Release everything the reader has passed.
    Release,
    /// Drop the writer without flushing, optionally cut this many bytes off the newest segment,
    /// and open again.
    Crash(Option<u16>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(0u16..300, 1..40).prop_map(Op::Append),
        3 => Just(Op::Flush),
        3 => (1u8..100).prop_map(Op::Read),
        1 => Just(Op::Release),
        1 => prop::option::of(0u16..400).prop_map(Op::Crash),
    ]
}

fn meta(seq: u64) -> RecordMeta {
    let source: SocketAddr = if seq % 2 == 0 {
        format!("10.0.{}.{}:{}", seq % 200, seq % 100, seq % 60000)
            .parse()
            .unwrap()
    } else {
        format!("[2001:db8::{:x}]:{}", seq % 60000, seq % 60000)
            .parse()
            .unwrap()
    };
    RecordMeta {
        received_at_us: seq as i64 * 1000,
        source,
        transport: seq as u8,
        listener: (seq >> 8) as u8,
        flags: (seq >> 16) as u8,
    }
}

fn payload(seq: u64, len: u16) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

fn cfg(dir: &Path) -> WalConfig {
    WalConfig {
        dir: dir.to_path_buf(),
        segment_size: 2048,
        sync: SyncPolicy::Never,
        sync_interval: Duration::from_millis(10),
        max_size: 1 << 30,
        keep_released: false,
    }
}

fn newest_segment(dir: &Path) -> (u64, std::path::PathBuf) {
    let mut segs: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            wal::segment::parse_name(&name).map(|s| (s, e.path()))
        })
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

fn disk_bytes_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| wal::segment::parse_name(&e.file_name().to_string_lossy()).is_some())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

struct Harness {
    cfg: WalConfig,
    writer: Writer,
    handle: WalHandle,
    reader: wal::Reader,
    /// Accepted (flushed) records not yet read, in order: (seq, payload length).
    unread: Vec<(u64, u16)>,
    /// Appended, not flushed.
    pending: Vec<(u64, u16)>,
    /// The highest sequence read: the checkpoint.
    checkpoint: u64,
    /// The highest sequence flushed.
    flushed: u64,
    next_seq: u64,
}

impl Harness {
    fn new(cfg: WalConfig) -> Harness {
        let (writer, handle, report) = wal::open(&cfg).unwrap();
        assert_eq!(report.last_seq, 0);
        let reader = handle.reader(0).unwrap();
        Harness {
            cfg,
            writer,
            handle,
            reader,
            unread: Vec::new(),
            pending: Vec::new(),
            checkpoint: 0,
            flushed: 0,
            next_seq: 1,
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Append(lens) => {
                for len in lens {
                    let seq = self.next_seq;
                    let got = self.writer.append(&meta(seq), &payload(seq, len)).unwrap();
                    assert_eq!(got, Appended::Seq(seq));
                    self.pending.push((seq, len));
                    self.next_seq += 1;
                }
            }
            Op::Flush => {
                let published = self.writer.flush().unwrap();
                if let Some(&(last, _)) = self.pending.last() {
                    self.flushed = last;
                }
                assert_eq!(published, self.flushed);
                assert_eq!(self.handle.published_seq(), self.flushed);
                self.unread.append(&mut self.pending);
            }
            Op::Read(max) => self.read(max as usize),
            Op::Release => {
                self.handle.release_through(self.checkpoint).unwrap();
            }
            Op::Crash(cut) => self.crash(cut),
        }
    }

    fn read(&mut self, max: usize) {
        let mut out = Vec::new();
        let n = self.reader.read_batch(max, &mut out).unwrap();
        assert_eq!(n, out.len());
        assert_eq!(
            n,
            max.min(self.unread.len()),
            "every published record is readable"
        );
        for (rec, (seq, len)) in out.iter().zip(self.unread.drain(..n)) {
            assert_eq!(rec.seq, seq);
            assert_eq!(rec.meta, meta(seq));
            assert_eq!(rec.payload, payload(seq, len));
            self.checkpoint = seq;
        }
    }

    fn crash(&mut self, cut: Option<u16>) {
        // Replace the open WAL by a throwaway so the real one is closed (and unlocked).
        let tmp = tempfile::tempdir().unwrap();
        let (w, h, _) = wal::open(&cfg(tmp.path())).unwrap();
        let r = h.reader(0).unwrap();
        drop(std::mem::replace(&mut self.reader, r));
        drop(std::mem::replace(&mut self.writer, w));
        drop(std::mem::replace(&mut self.handle, h));
        self.pending.clear();
        let (newest_first, newest) = newest_segment(&self.cfg.dir);
        if let Some(cut) = cut {
            let len = std::fs::metadata(&newest).unwrap().len();
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&newest)
                .unwrap();
            f.set_len(len.saturating_sub(cut as u64)).unwrap();
        }
        let (writer, handle, report) = wal::open(&self.cfg).unwrap();
        if cut.is_none() {
            assert_eq!(report.last_seq, self.flushed.max(newest_first - 1));
            assert_eq!(report.truncated_tail_bytes, 0);
        }
        // A cut loses only records of the newest segment, and only from its end.
        assert!(report.last_seq + 1 >= newest_first);
        let lost = self.unread.iter().filter(|(s, _)| *s > report.last_seq);
        assert!(lost.clone().all(|(s, _)| *s >= newest_first));
        let lost = lost.count();
        self.unread.truncate(self.unread.len() - lost);
        self.flushed = self.flushed.min(report.last_seq);
        self.writer = writer;
        self.handle = handle;
        self.writer.continue_after(self.checkpoint);
        self.next_seq = report.last_seq.max(self.checkpoint) + 1;
        self.reader = self.handle.reader(self.checkpoint).unwrap();
        assert_eq!(self.handle.disk_bytes(), disk_bytes_on_disk(&self.cfg.dir));
    }

    fn finish(&mut self) {
        self.apply(Op::Flush);
        while !self.unread.is_empty() {
            let before = self.unread.len();
            self.read(64);
            assert!(self.unread.len() < before);
        }
        self.read(64);
        assert_eq!(self.handle.corrupt_records(), 0);
        assert_eq!(self.handle.disk_bytes(), disk_bytes_on_disk(&self.cfg.dir));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_flushed_record_is_read_back_exactly_once_in_order(
        ops in prop::collection::vec(op(), 1..80)
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = Harness::new(cfg(&tmp.path().join("wal")));
        for op in ops {
            h.apply(op);
        }
        h.finish();
    }
}

/// The same model with a fixed seed and many more steps, to reach long runs of rotation and
/// release that short generated cases rarely do.
#[test]
fn a_long_seeded_run_matches_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = Harness::new(cfg(&tmp.path().join("wal")));
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let op = match next() % 12 {
            0..=3 => Op::Append(
                (0..next() % 40 + 1)
                    .map(|_| (next() % 300) as u16)
                    .collect(),
            ),
            4..=6 => Op::Flush,
            7..=9 => Op::Read((next() % 100 + 1) as u8),
            10 => Op::Release,
            _ if next() % 4 == 0 => Op::Crash(Some((next() % 400) as u16)),
            _ => Op::Crash(None),
        };
        h.apply(op);
    }
    h.finish();
}

/// A reader thread draining and releasing while the writer thread appends and rotates.
#[test]
fn a_concurrent_reader_sees_every_record_once_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = cfg(&tmp.path().join("wal"));
    c.segment_size = 8192;
    const TOTAL: u64 = 30_000;
    let (mut w, h, _) = wal::open(&c).unwrap();
    let reader_handle = h.clone();
    let reader = std::thread::spawn(move || {
        let mut r = reader_handle.reader(0).unwrap();
        let mut out = Vec::new();
        let mut next = 1;
        while next <= TOTAL {
            out.clear();
            if r.read_batch(500, &mut out).unwrap() == 0 {
                reader_handle.wait_published(next - 1, Duration::from_millis(50));
                continue;
            }
            for rec in &out {
                assert_eq!(rec.seq, next);
                assert_eq!(rec.payload, payload(next, (next % 200) as u16));
                next += 1;
            }
            reader_handle.release_through(next - 1).unwrap();
        }
    });
    for seq in 1..=TOTAL {
        assert_eq!(
            w.append(&meta(seq), &payload(seq, (seq % 200) as u16))
                .unwrap(),
            Appended::Seq(seq)
        );
        if seq % 97 == 0 {
            w.flush().unwrap();
        }
    }
    w.flush().unwrap();
    reader.join().unwrap();
    assert_eq!(h.corrupt_records(), 0);
}
