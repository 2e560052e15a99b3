//! The write-ahead log: append-only segment files of CRC-checked records holding opaque bytes.
//!
//! Ingest appends every received datagram or frame here before anything else happens to it; the
//! pipeline drains it from its checkpoint. The WAL knows nothing of syslog or SNMP: a record is a
//! sequence number, a receive time, a source address, three opaque bytes and a payload. The byte
//! layout is documented in `record` (records) and `segment` (files), and with recovery, group
//! commit, release and the size budget in docs/WAL_FORMAT.md.
//!
//! Contract:
//! - `open` takes an exclusive lock on the directory (a second open, in this process or another,
//!   gets `WalError::Locked`), scans the segments, truncates a torn tail at the last good record
//!   (reported in `RecoveryReport`), and returns the single `Writer` and a cloneable `WalHandle`.
//! - `Writer::append` copies one record into the pending batch and gives it the next sequence
//!   number (sequences start at 1 and never repeat, also across restarts). It returns
//!   `Appended::Full` without taking the record when the WAL would exceed `max_size`.
//! - `Writer::flush` writes the pending batch with one `write` per segment touched, rotates by
//!   size, fsyncs per the policy, and then publishes the new last sequence to readers. A record is
//!   *accepted* once `flush` returned Ok. `WalError::DiskFull` (ENOSPC, EDQUOT) is not fatal: the
//!   flush was undone and the writer stays usable. Any other error from `flush` or `sync` is
//!   fatal: the writer refuses further work, because what reached the disk is unknown.
//! - Readers (`WalHandle::reader`) see only published records, in sequence order, and never a
//!   half-written one. Corruption in the middle of a segment is skipped and counted, never a panic.
//! - `WalHandle::release_through(seq)` deletes (or keeps, per config) whole segments whose every
//!   record is <= seq, never the newest.
//!
//! Design:
//! - Files: `record.rs` (pure encode/decode and resynchronisation), `segment.rs` (header, names,
//!   buffered cursor), `recovery.rs` (open-time repair), `writer.rs`, `reader.rs`, `shared.rs`
//!   (state between them), `lock.rs` (the directory `flock`).
//! - Sequence numbers live in every record and in each segment's name and header. The newest
//!   segment is never released, so even a WAL whose records were all released remembers where
//!   sequences continue.
//! - Publishing is the only synchronisation between writer and readers: the writer finishes its
//!   `write`s (and the new segment's header) before it stores the published sequence, so a reader
//!   that stops at the published sequence never sees a partial record.
//! - A record is taken only at the next expected sequence (contiguous within a segment). Damage
//!   is handled by resynchronisation: from a bad byte, scan forward for the first record with a
//!   later sequence that fits the skipped bytes and is confirmed by its successor (`record::resync`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod lock;
mod reader;
pub mod record;
mod recovery;
pub mod segment;
mod shared;
mod writer;

/// The WAL directory's lock, for a command that must not run beside the daemon
/// (`mutt archive vacuum`).
pub use lock::{lock as lock_dir, DirLock};
pub use reader::Reader;
pub use record::MAX_PAYLOAD_LEN;
pub use writer::Writer;

/// When the writer calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every flushed batch.
    Always,
    /// At most every `sync_interval` (group commit).
    Interval,
    /// Never; the OS decides (survives `kill -9`, not power loss).
    Never,
}

#[derive(Debug, Clone)]
pub struct WalConfig {
    pub dir: PathBuf,
    pub segment_size: u64,
    pub sync: SyncPolicy,
    pub sync_interval: Duration,
    /// Disk budget for all segments together; at the budget, appends return `Appended::Full`.
    pub max_size: u64,
    /// Keep released segments instead of deleting them.
    pub keep_released: bool,
}

/// What the WAL stores about one received datagram or frame besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    /// Receive time, Unix epoch microseconds (UTC).
    pub received_at_us: i64,
    pub source: SocketAddr,
    /// `model::Transport` as a byte; opaque to the WAL.
    pub transport: u8,
    /// `model::Listener` as a byte; opaque to the WAL.
    pub listener: u8,
    /// `model::flags` bits; opaque to the WAL.
    pub flags: u8,
}

/// One record read back from the WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub meta: RecordMeta,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Taken into the pending batch with this sequence number.
    Seq(u64),
    /// Not taken: the WAL is at its disk budget.
    Full,
}

/// What `open` found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub last_seq: u64,
    /// Bytes cut from the tail of the last segment (a crash mid-write).
    pub truncated_tail_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL directory {dir} is in use by another process (lock file {lock})")]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("WAL I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("WAL record payload of {len} bytes is larger than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    /// The disk (or quota) is full (ENOSPC, EDQUOT) while writing or creating a segment. Not
    /// fatal: the flush was undone, nothing of its batch was accepted, the writer stays usable.
    #[error("WAL disk full on {path}: {source}")]
    DiskFull {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The next sequence number would overflow u64: nothing more can be appended.
    #[error("WAL sequence numbers used up")]
    SeqExhausted,
    #[error("WAL corruption in {segment} at offset {offset}: {kind}")]
    Corruption {
        segment: PathBuf,
        offset: u64,
        kind: String,
    },
}

impl WalError {
    /// The flush failed for lack of space and was undone; try again later.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, WalError::DiskFull { .. })
    }
}

/// A cheap, cloneable handle for readers and for releasing segments.
#[derive(Clone)]
pub struct WalHandle {
    shared: Arc<shared::Shared>,
}

/// Open the WAL for writing (takes the directory lock).
pub fn open(cfg: &WalConfig) -> Result<(Writer, WalHandle, RecoveryReport), WalError> {
    let (handle, recovered, report) = open_shared(cfg)?;
    let active = recovered.segments.last().copied().unwrap_or(1);
    let writer = Writer::new(
        Arc::clone(&handle.shared),
        cfg,
        active,
        recovered.active_len,
        recovered.last_seq,
    )?;
    Ok((writer, handle, report))
}

/// Open the WAL for offline reading (`mutt replay`): takes the directory lock, repairs a torn tail,
/// publishes everything on disk, and returns no writer.
pub fn open_offline(cfg: &WalConfig) -> Result<(WalHandle, RecoveryReport), WalError> {
    let (handle, _, report) = open_shared(cfg)?;
    Ok((handle, report))
}

fn open_shared(
    cfg: &WalConfig,
) -> Result<(WalHandle, recovery::Recovered, RecoveryReport), WalError> {
    let lock = lock::lock(&cfg.dir)?;
    let recovered = recovery::recover(&cfg.dir)?;
    let report = RecoveryReport {
        segments: recovered.segments.len(),
        last_seq: recovered.last_seq,
        truncated_tail_bytes: recovered.truncated_tail_bytes,
    };
    let shared = shared::Shared::new(
        &cfg.dir,
        cfg.keep_released,
        lock,
        recovered.segments.clone(),
        recovered.last_seq,
        recovered.disk_bytes,
    );
    let handle = WalHandle {
        shared: Arc::new(shared),
    };
    Ok((handle, recovered, report))
}

impl WalHandle {
    /// A reader positioned after `after_seq` (the checkpoint): its first record has a larger seq.
    pub fn reader(&self, after_seq: u64) -> Result<Reader, WalError> {
        Reader::new(Arc::clone(&self.shared), after_seq)
    }

    /// The highest published sequence.
    pub fn published_seq(&self) -> u64 {
        self.shared.published()
    }

    /// Block until a sequence above `seq` is published or `timeout` passes; returns the published
    /// sequence. Publishes up to `seq` do not wake the caller.
    pub fn wait_published(&self, seq: u64, timeout: Duration) -> u64 {
        self.shared.wait_published(seq, timeout)
    }

    /// Delete (or keep) whole segments whose every record is <= `seq`; returns how many. Kept
    /// segments are renamed `*.wal.done` and leave the disk budget: cleaning them up is the
    /// operator's business.
    pub fn release_through(&self, seq: u64) -> Result<usize, WalError> {
        self.shared.release_through(seq)
    }

    /// How many segments `release_through(seq)` would delete (or keep) now.
    pub fn releasable_through(&self, seq: u64) -> usize {
        self.shared.releasable_through(seq)
    }

    /// The sequences a reader resuming after `checkpoint` can never get: the inclusive range that
    /// is neither at or below the checkpoint nor in a live segment, because the oldest live
    /// segment starts above `checkpoint + 1`. None when nothing is missing. The pipeline asks this
    /// at start (its checkpoint can point below the oldest segment after a database restored
    /// from an older backup, or segments removed by hand) and reports the range loudly.
    pub fn missing_after(&self, checkpoint: u64) -> Option<(u64, u64)> {
        let from = checkpoint.checked_add(1)?;
        let to = self.shared.oldest_segment().checked_sub(1)?;
        (from <= to).then_some((from, to))
    }

    /// Bytes of all live segment files on disk now (`*.wal.done` files not included).
    pub fn disk_bytes(&self) -> u64 {
        self.shared.disk_bytes()
    }

    /// Damaged regions skipped by readers since open. One region may have held several records;
    /// it counts once, however many readers pass it.
    pub fn corrupt_records(&self) -> u64 {
        self.shared.corrupt_records()
    }

    /// Sequence numbers lost inside the damaged regions counted by `corrupt_records`, as far as
    /// the sequences on either side of each region tell.
    pub fn lost_records(&self) -> u64 {
        self.shared.lost_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::os::unix::fs::FileExt;

    fn cfg(dir: &std::path::Path) -> WalConfig {
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

    fn append_n(w: &mut Writer, from: u64, n: u64) {
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

    fn segment_files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".wal"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn flushed_records_read_back_in_order_with_all_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, h, report) = open(&cfg(tmp.path())).unwrap();
        assert_eq!(report.last_seq, 0);
        append_n(&mut w, 1, 500);
        assert_eq!(h.published_seq(), 0, "nothing is visible before flush");
        assert_eq!(w.flush().unwrap(), 500);
        assert_records(&read_all(&h, 0), 1..=500);
        assert_records(&read_all(&h, 250), 251..=500);
        assert!(read_all(&h, 500).is_empty());
    }

    #[test]
    fn segments_rotate_by_size_and_reads_cross_them() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 4096;
        let (mut w, h, _) = open(&c).unwrap();
        for batch in 0..10 {
            append_n(&mut w, batch * 100 + 1, 100);
            w.flush().unwrap();
        }
        let files = segment_files(&c.dir);
        assert!(files.len() > 10, "{files:?}");
        for f in &files {
            let len = std::fs::metadata(c.dir.join(f)).unwrap().len();
            assert!(len <= 4096, "{f} is {len} bytes");
        }
        assert_records(&read_all(&h, 0), 1..=1000);
        assert_records(&read_all(&h, 777), 778..=1000);
        assert_eq!(
            h.disk_bytes(),
            files
                .iter()
                .map(|f| std::fs::metadata(c.dir.join(f)).unwrap().len())
                .sum::<u64>()
        );
    }

    #[test]
    fn a_reader_follows_the_writer_as_it_publishes() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 2048;
        let (mut w, h, _) = open(&c).unwrap();
        let mut r = h.reader(0).unwrap();
        let mut out = Vec::new();
        for batch in 0..20 {
            append_n(&mut w, batch * 37 + 1, 37);
            assert_eq!(r.read_batch(1000, &mut out).unwrap(), 0);
            w.flush().unwrap();
            assert_eq!(
                h.wait_published(batch * 37, Duration::ZERO),
                (batch + 1) * 37
            );
            while r.read_batch(10, &mut out).unwrap() > 0 {}
        }
        assert_records(&out, 1..=740);
    }

    #[test]
    fn a_waiter_is_woken_when_its_sequence_is_published_and_not_before() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, h, _) = open(&cfg(tmp.path())).unwrap();
        // Nobody waits: publishing wakes nobody.
        append_n(&mut w, 1, 5);
        w.flush().unwrap();
        assert_eq!(h.shared.wakes(), 0);
        let waiter = {
            let h = h.clone();
            std::thread::spawn(move || h.wait_published(99, Duration::from_secs(30)))
        };
        while h.shared.waiting() == 0 {
            std::thread::yield_now();
        }
        for seq in 6..=100 {
            append_n(&mut w, seq, 1);
            w.flush().unwrap();
            if seq < 100 {
                assert_eq!(h.shared.wakes(), 0, "woken at {seq}, waiting for 100");
            }
        }
        assert_eq!(waiter.join().unwrap(), 100);
        assert_eq!(h.shared.wakes(), 1);
        // A waiter whose time runs out returns what is published, and is no longer waited for.
        assert_eq!(h.wait_published(200, Duration::from_millis(20)), 100);
        append_n(&mut w, 101, 150);
        w.flush().unwrap();
        assert_eq!(h.shared.wakes(), 1);
    }

    #[test]
    fn sequences_continue_after_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        {
            let (mut w, _, _) = open(&c).unwrap();
            append_n(&mut w, 1, 10);
            w.flush().unwrap();
            append_n(&mut w, 11, 5); // never flushed: not accepted, seqs are reused
        }
        let (mut w, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 10);
        assert_eq!(h.published_seq(), 10);
        append_n(&mut w, 11, 10);
        w.flush().unwrap();
        assert_records(&read_all(&h, 0), 1..=20);
    }

    #[test]
    fn sequences_continue_after_every_segment_was_released() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 1024;
        {
            let (mut w, h, _) = open(&c).unwrap();
            append_n(&mut w, 1, 100);
            w.flush().unwrap();
            assert!(h.release_through(100).unwrap() > 0);
        }
        let (mut w, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 100);
        append_n(&mut w, 101, 1);
        w.flush().unwrap();
        assert_records(&read_all(&h, 100), [101]);
    }

    #[test]
    fn a_torn_tail_is_truncated_and_every_complete_record_survives() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        {
            let (mut w, _, _) = open(&c).unwrap();
            append_n(&mut w, 1, 50);
            w.flush().unwrap();
        }
        let path = c.dir.join(segment::file_name(1));
        let len = std::fs::metadata(&path).unwrap().len();
        let last = record::frame_len(payload(50).len()) as u64;
        // Cut the last record in half.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - last / 2)
            .unwrap();
        let (mut w, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 49);
        assert_eq!(report.truncated_tail_bytes, last - last / 2);
        append_n(&mut w, 50, 1);
        w.flush().unwrap();
        assert_records(&read_all(&h, 0), 1..=50);
        assert_eq!(h.corrupt_records(), 0);
    }

    #[test]
    fn a_flipped_byte_mid_segment_is_skipped_counted_and_later_records_still_read() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        {
            let (mut w, _, _) = open(&c).unwrap();
            append_n(&mut w, 1, 30);
            w.flush().unwrap();
        }
        // Flip a payload byte of record 10.
        let at: usize = segment::HEADER_LEN
            + (1..10)
                .map(|i| record::frame_len(payload(i).len()))
                .sum::<usize>()
            + record::MIN_FRAME_LEN
            + 2;
        let path = c.dir.join(segment::file_name(1));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at as u64).unwrap();
        f.write_all_at(&[b[0] ^ 0x40], at as u64).unwrap();
        drop(f);
        let (mut w, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 30);
        assert_eq!(report.truncated_tail_bytes, 0);
        append_n(&mut w, 31, 5);
        w.flush().unwrap();
        assert_records(&read_all(&h, 0), (1..=9).chain(11..=35));
        assert_eq!(h.corrupt_records(), 1);
        // A second reader over the same damage does not count it again.
        assert_records(&read_all(&h, 5), (6..=9).chain(11..=35));
        assert_eq!(h.corrupt_records(), 1);
    }

    #[test]
    fn damage_in_an_older_segment_is_skipped_and_the_next_segment_still_read() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 1024;
        {
            let (mut w, _, _) = open(&c).unwrap();
            append_n(&mut w, 1, 60);
            w.flush().unwrap();
        }
        let seqs: Vec<u64> = segment_files(&c.dir)
            .iter()
            .filter_map(|n| segment::parse_name(n))
            .collect();
        assert!(seqs.len() >= 3);
        // Tear the end off the first segment (a lost tail of a finished segment) and garble the
        // start of the second one's first record.
        let first = c.dir.join(segment::file_name(seqs[0]));
        let len = std::fs::metadata(&first).unwrap().len();
        let f = OpenOptions::new().write(true).open(&first).unwrap();
        f.set_len(len - 10).unwrap();
        let second = c.dir.join(segment::file_name(seqs[1]));
        let f = OpenOptions::new().write(true).open(&second).unwrap();
        f.write_all_at(&[0xff; 4], segment::HEADER_LEN as u64)
            .unwrap();
        drop(f);
        let (_, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 60);
        let lost = [seqs[1] - 1, seqs[1]];
        let want: Vec<u64> = (1..=60).filter(|s| !lost.contains(s)).collect();
        assert_records(&read_all(&h, 0), want);
        assert_eq!(h.corrupt_records(), 2);
    }

    #[test]
    fn release_through_deletes_only_segments_wholly_at_or_below_the_sequence() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 1024;
        let (mut w, h, _) = open(&c).unwrap();
        append_n(&mut w, 1, 200);
        w.flush().unwrap();
        let before: Vec<u64> = segment_files(&c.dir)
            .iter()
            .filter_map(|n| segment::parse_name(n))
            .collect();
        let bytes_before = h.disk_bytes();
        // Release through the record just before the third segment starts.
        let third = before[2];
        assert_eq!(h.release_through(third - 2).unwrap(), 1);
        assert_eq!(h.release_through(third - 1).unwrap(), 1);
        let after: Vec<u64> = segment_files(&c.dir)
            .iter()
            .filter_map(|n| segment::parse_name(n))
            .collect();
        assert_eq!(after, before[2..]);
        assert!(h.disk_bytes() < bytes_before);
        assert_records(&read_all(&h, third - 1), third..=200);
        // Never the newest segment, even when everything is released.
        h.release_through(u64::MAX).unwrap();
        assert_eq!(segment_files(&c.dir).len(), 1);
        assert!(read_all(&h, 200).is_empty());
    }

    #[test]
    fn missing_after_names_the_sequences_between_the_checkpoint_and_the_oldest_segment() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 1024;
        let (mut w, h, _) = open(&c).unwrap();
        assert_eq!(h.missing_after(0), None);
        append_n(&mut w, 1, 100);
        w.flush().unwrap();
        assert_eq!(h.missing_after(0), None);
        h.release_through(60).unwrap();
        let oldest = read_all(&h, 0)[0].seq;
        assert!(oldest > 1 && oldest <= 61, "{oldest}");
        assert_eq!(h.missing_after(0), Some((1, oldest - 1)));
        assert_eq!(h.missing_after(10), Some((11, oldest - 1)));
        assert_eq!(h.missing_after(oldest - 2), Some((oldest - 1, oldest - 1)));
        assert_eq!(h.missing_after(oldest - 1), None);
        assert_eq!(h.missing_after(500), None);
        assert_eq!(h.missing_after(u64::MAX), None);
        // Everything released but the newest segment; a restart sees the same.
        h.release_through(u64::MAX).unwrap();
        let newest = read_all(&h, 0)[0].seq;
        drop((w, h));
        let (_, h, _) = open(&c).unwrap();
        assert_eq!(h.missing_after(newest - 1), None);
        assert_eq!(h.missing_after(40), Some((41, newest - 1)));
    }

    #[test]
    fn released_segments_are_kept_as_done_files_when_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 1024;
        c.keep_released = true;
        let (mut w, h, _) = open(&c).unwrap();
        append_n(&mut w, 1, 100);
        w.flush().unwrap();
        let n = h.release_through(100).unwrap();
        let files = segment_files(&c.dir);
        assert_eq!(files.iter().filter(|f| f.ends_with(".wal.done")).count(), n);
        assert_eq!(files.iter().filter(|f| f.ends_with(".wal")).count(), 1);
    }

    #[test]
    fn a_reader_survives_release_of_the_segment_it_is_finishing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 1024;
        let (mut w, h, _) = open(&c).unwrap();
        append_n(&mut w, 1, 100);
        w.flush().unwrap();
        let mut r = h.reader(0).unwrap();
        let mut out = Vec::new();
        r.read_batch(3, &mut out).unwrap();
        h.release_through(3).unwrap();
        h.release_through(50).unwrap();
        while r.read_batch(7, &mut out).unwrap() > 0 {}
        // The open segment stays readable. Segments released before the reader reached them are
        // gone (callers release only what was read); the reader carries on with the next live one.
        assert_eq!(out.first().map(|r| r.seq), Some(1));
        assert!(out.windows(2).all(|p| p[0].seq < p[1].seq));
        assert_eq!(out.last().map(|r| r.seq), Some(100));
    }

    #[test]
    fn appends_return_full_at_the_budget_and_nothing_unread_is_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 2048;
        c.max_size = 16 << 10;
        let (mut w, h, _) = open(&c).unwrap();
        let mut seq = 0;
        while let Appended::Seq(s) = w.append(&meta(seq + 1), &payload(seq + 1)).unwrap() {
            seq = s;
            if seq % 10 == 0 {
                w.flush().unwrap();
            }
        }
        w.flush().unwrap();
        assert!(h.disk_bytes() <= c.max_size);
        assert_eq!(
            w.append(&meta(seq + 1), &payload(seq + 1)).unwrap(),
            Appended::Full
        );
        // Nothing read, nothing released: every record is still there.
        assert_records(&read_all(&h, 0), 1..=seq);
        // Releasing what was read makes room again.
        assert!(h.release_through(seq / 2).unwrap() > 0);
        assert_eq!(
            w.append(&meta(seq + 1), &payload(seq + 1)).unwrap(),
            Appended::Seq(seq + 1)
        );
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        let (w, h, _) = open(&c).unwrap();
        assert!(matches!(open(&c), Err(WalError::Locked { .. })));
        assert!(matches!(open_offline(&c), Err(WalError::Locked { .. })));
        drop(w);
        assert!(
            matches!(open(&c), Err(WalError::Locked { .. })),
            "handles hold the lock too"
        );
        drop(h);
        assert!(open(&c).is_ok());
    }

    #[test]
    fn offline_open_publishes_everything_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.segment_size = 1024;
        {
            let (mut w, _, _) = open(&c).unwrap();
            append_n(&mut w, 1, 64);
            w.flush().unwrap();
        }
        let (h, report) = open_offline(&c).unwrap();
        assert_eq!(report.last_seq, 64);
        assert_eq!(report.segments, segment_files(&c.dir).len());
        assert_records(&read_all(&h, 0), 1..=64);
    }

    #[test]
    fn sync_policies_track_the_durable_sequence() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.sync = SyncPolicy::Always;
        let (mut w, _, _) = open(&c).unwrap();
        append_n(&mut w, 1, 3);
        w.flush().unwrap();
        assert_eq!(w.durable_seq(), 3);
        drop(w);
        c.sync = SyncPolicy::Interval;
        c.sync_interval = Duration::from_secs(3600);
        let (mut w, _, _) = open_again(&c);
        append_n(&mut w, 4, 3);
        w.flush().unwrap();
        assert_eq!(w.durable_seq(), 3);
        assert!(!w.sync_due());
        w.sync().unwrap();
        assert_eq!(w.durable_seq(), 6);
    }

    fn open_again(c: &WalConfig) -> (Writer, WalHandle, RecoveryReport) {
        open(c).unwrap()
    }

    #[test]
    fn an_oversized_payload_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, _, _) = open(&cfg(tmp.path())).unwrap();
        let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
        assert!(matches!(
            w.append(&meta(1), &big),
            Err(WalError::TooLarge { .. })
        ));
        assert_eq!(w.append(&meta(1), &payload(1)).unwrap(), Appended::Seq(1));
    }

    /// Bytes of the records with these sequences (as `payload` makes them), header included.
    fn offset_of(seq: u64) -> u64 {
        segment::HEADER_LEN as u64
            + (1..seq)
                .map(|i| record::frame_len(payload(i).len()) as u64)
                .sum::<u64>()
    }

    /// Write a segment file by hand: header, then these raw bytes.
    fn write_segment(dir: &std::path::Path, first_seq: u64, body: &[u8]) {
        std::fs::create_dir_all(dir).unwrap();
        let mut bytes = segment::encode_header(first_seq).to_vec();
        bytes.extend_from_slice(body);
        std::fs::write(dir.join(segment::file_name(first_seq)), bytes).unwrap();
    }

    fn encoded(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        record::encode_into(&mut out, seq, &meta(seq), payload);
        out
    }

    #[test]
    fn a_valid_record_inside_a_damaged_records_payload_is_never_taken() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        // Record 3 carries, inside its payload, a complete CRC-valid record claiming seq 4 and one
        // claiming seq 5 right after it; then the real 4 and 5 follow.
        let mut inner = b"<13>prefix bytes before the forgery ".to_vec();
        inner.extend(encoded(4, b"forged four"));
        inner.extend(b"and some text after it");
        let mut body = Vec::new();
        body.extend(encoded(1, &payload(1)));
        body.extend(encoded(2, &payload(2)));
        let third_at = body.len();
        body.extend(encoded(3, &inner));
        body.extend(encoded(4, &payload(4)));
        body.extend(encoded(5, &payload(5)));
        // Damage the real header of record 3 (its CRC), as a flipped bit would.
        body[third_at + 4] ^= 0x01;
        write_segment(&c.dir, 1, &body);
        let (_, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 5);
        assert_eq!(report.truncated_tail_bytes, 0);
        let got = read_all(&h, 0);
        let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 4, 5]);
        assert!(
            got.iter().all(|r| r.payload != b"forged four"),
            "the embedded record was taken"
        );
        assert_eq!(h.corrupt_records(), 1);
        assert_eq!(h.lost_records(), 1);
    }

    #[test]
    fn a_valid_record_inside_an_accepted_payload_is_never_read_as_a_record() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        let (mut w, h, _) = open(&c).unwrap();
        // A sender controls payloads: one that carries what would be the next records.
        let mut forged = encoded(2, b"forged two");
        forged.extend(encoded(3, b"forged three"));
        assert_eq!(w.append(&meta(1), &forged).unwrap(), Appended::Seq(1));
        append_n(&mut w, 2, 2);
        w.flush().unwrap();
        let got = read_all(&h, 0);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].payload, forged);
        assert_eq!(got[1].payload, payload(2));
        assert_eq!(h.corrupt_records(), 0);
    }

    #[test]
    fn a_torn_tail_in_the_middle_of_a_payload_holding_a_record_is_cut_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        let mut inner = b"<13>x".to_vec();
        inner.extend(encoded(4, b"forged four"));
        inner.extend(encoded(5, b"forged five"));
        inner.extend(vec![b'y'; 200]);
        {
            let (mut w, _, _) = open(&c).unwrap();
            append_n(&mut w, 1, 2);
            assert_eq!(w.append(&meta(3), &inner).unwrap(), Appended::Seq(3));
            w.flush().unwrap();
        }
        // Cut record 3 after both forgeries but before the end of its payload.
        let path = c.dir.join(segment::file_name(1));
        let good = offset_of(3);
        let cut = good + record::MIN_FRAME_LEN as u64 + 100;
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let (mut w, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 2);
        assert_eq!(report.truncated_tail_bytes, cut - good);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
        append_n(&mut w, 3, 3);
        w.flush().unwrap();
        assert_records(&read_all(&h, 0), 1..=5);
    }

    #[test]
    fn sequences_near_the_top_of_u64_never_wrap() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        let top = u64::MAX - 3;
        {
            let (mut w, h, _) = open(&c).unwrap();
            append_n(&mut w, 1, 2);
            w.flush().unwrap();
            w.continue_after(top - 1);
            append_n(&mut w, top, 3);
            assert!(matches!(
                w.append(&meta(1), &payload(1)),
                Err(WalError::SeqExhausted)
            ));
            assert_eq!(w.flush().unwrap(), u64::MAX - 1);
            assert_records(&read_all(&h, 0), (1..=2).chain(top..=u64::MAX - 1));
            assert_records(&read_all(&h, top), top + 1..=u64::MAX - 1);
            w.continue_after(u64::MAX);
            assert!(matches!(
                w.append(&meta(1), &payload(1)),
                Err(WalError::SeqExhausted)
            ));
        }
        // The jump started a segment named after it; a restart continues at the top.
        assert!(segment_files(&c.dir).contains(&segment::file_name(top)));
        let (mut w, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, u64::MAX - 1);
        assert!(matches!(
            w.append(&meta(1), &payload(1)),
            Err(WalError::SeqExhausted)
        ));
        assert_records(&read_all(&h, 0), (1..=2).chain(top..=u64::MAX - 1));
        assert_eq!(h.release_through(u64::MAX).unwrap(), 1);
    }

    #[test]
    fn a_record_claiming_a_sequence_far_ahead_after_damage_is_not_taken() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        let mut body = Vec::new();
        for i in 1..=3 {
            body.extend(encoded(i, &payload(i)));
        }
        let bad = body.len();
        body.extend(encoded(4, &payload(4)));
        body[bad] ^= 0xff;
        // Two valid records that chain, but claim far more lost records than the gap can hold.
        body.extend(encoded(u64::MAX - 2, &payload(1)));
        body.extend(encoded(u64::MAX - 1, &payload(2)));
        body.extend(encoded(5, &payload(5)));
        body.extend(encoded(6, &payload(6)));
        write_segment(&c.dir, 1, &body);
        let (_, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 6);
        assert_records(&read_all(&h, 0), (1..=3).chain(5..=6));
    }

    #[test]
    fn a_garbage_region_of_several_mib_is_skipped_in_linear_time() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(tmp.path());
        let mut body = Vec::new();
        for i in 1..=3 {
            body.extend(encoded(i, &payload(i)));
        }
        // Every fourth byte starts a plausible 1 MiB length: a byte-by-byte scan that checks the
        // CRC of every plausible length does about a terabyte of work here.
        let len = (record::BODY_FIXED_LEN + MAX_PAYLOAD_LEN) as u32;
        for _ in 0..(6 << 20) / 4 {
            body.extend_from_slice(&len.to_le_bytes());
        }
        for i in 5..=7 {
            body.extend(encoded(i, &payload(i)));
        }
        write_segment(&c.dir, 1, &body);
        let started = std::time::Instant::now();
        let (_, h, report) = open(&c).unwrap();
        assert_eq!(report.last_seq, 7);
        assert_records(&read_all(&h, 0), (1..=3).chain(5..=7));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(20), "took {took:?}");
        assert_eq!(h.lost_records(), 1);
    }
}
