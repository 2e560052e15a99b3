//! The single appender: batches records in memory, writes them with one `write` per segment,
//! rotates by size, fsyncs per policy (group commit) and publishes to readers.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use super::record::{self, MAX_PAYLOAD_LEN};
use super::recovery::create_segment;
use super::segment::{self, HEADER_LEN};
use super::shared::Shared;
use super::{Appended, RecordMeta, SyncPolicy, WalConfig, WalError};

/// A pending batch that grew beyond this is shrunk back after the flush, so one burst does not
/// pin its memory for good.
const PENDING_KEEP: usize = 4 << 20;

/// The single appender, owned by the ingest thread.
pub struct Writer {
    shared: Arc<Shared>,
    cfg: WalConfig,
    /// The newest segment, opened for appending.
    file: File,
    file_first_seq: u64,
    next_seq: u64,
    /// The sequence of the last record in `pending`.
    pending_last: u64,
    /// Encoded records not yet written.
    pending: Vec<u8>,
    /// Where in `pending` a new segment starts, and that segment's first sequence.
    splits: Vec<(usize, u64)>,
    /// Bytes of the newest segment, pending ones included (decides rotation).
    seg_len: u64,
    published: u64,
    durable: u64,
    last_sync: Instant,
    /// Under `SyncPolicy::Never` a rotated-away segment is not fsynced; `sync` catches up.
    unsynced_rotation: bool,
    /// Set by a failed write or fsync: what reached the disk is unknown, so nothing more is taken.
    failed: bool,
}

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        cfg: &WalConfig,
        active_first_seq: u64,
        active_len: u64,
        last_seq: u64,
    ) -> Result<Writer, WalError> {
        let path = segment::path(&shared.dir, active_first_seq);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|f| f.sync_all().map(|()| f))
            .map_err(|source| WalError::Io { path, source })?;
        Ok(Writer {
            shared,
            cfg: cfg.clone(),
            file,
            file_first_seq: active_first_seq,
            next_seq: last_seq + 1,
            pending_last: last_seq,
            pending: Vec::with_capacity(64 << 10),
            splits: Vec::new(),
            seg_len: active_len,
            published: last_seq,
            durable: last_seq,
            last_sync: Instant::now(),
            unsynced_rotation: false,
            failed: false,
        })
    }

    /// Copy one record into the pending batch and give it the next sequence number. Returns
    /// `Appended::Full` without taking it when the WAL would exceed `max_size`.
    pub fn append(&mut self, meta: &RecordMeta, payload: &[u8]) -> Result<Appended, WalError> {
        self.check_failed()?;
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(WalError::TooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        let len = record::frame_len(payload.len()) as u64;
        // A record never spans segments; a record bigger than a segment gets one of its own.
        let rotate = self.seg_len > HEADER_LEN as u64 && self.seg_len + len > self.cfg.segment_size;
        let needed = len + if rotate { HEADER_LEN as u64 } else { 0 };
        if self.shared.disk_bytes() + self.pending.len() as u64 + needed > self.cfg.max_size {
            return Ok(Appended::Full);
        }
        let seq = self.next_seq;
        if rotate {
            self.splits.push((self.pending.len(), seq));
            self.seg_len = HEADER_LEN as u64;
        }
        record::encode_into(&mut self.pending, seq, meta, payload);
        self.seg_len += len;
        self.next_seq += 1;
        self.pending_last = seq;
        Ok(Appended::Seq(seq))
    }

    /// Make the next sequence at least `seq + 1`. The pipeline calls this at start-up with its
    /// checkpoint: a power loss under a relaxed sync policy can tear off records the checkpoint
    /// already covers, and their sequence numbers must not be handed to new records, which a
    /// reader positioned at the checkpoint would skip.
    pub fn continue_after(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
    }

    /// Write the pending batch, rotate and sync per policy, publish. Returns the last published
    /// sequence. After an error the writer refuses further work: the caller treats it as fatal.
    pub fn flush(&mut self) -> Result<u64, WalError> {
        self.check_failed()?;
        if self.pending.is_empty() {
            return Ok(self.published);
        }
        let last = self.pending_last;
        if let Err(e) = self.write_pending() {
            self.failed = true;
            return Err(e);
        }
        self.pending.clear();
        self.splits.clear();
        if self.pending.capacity() > PENDING_KEEP {
            self.pending.shrink_to(PENDING_KEEP);
        }
        self.published = last;
        let sync_now = match self.cfg.sync {
            SyncPolicy::Always => true,
            SyncPolicy::Interval => self.last_sync.elapsed() >= self.cfg.sync_interval,
            SyncPolicy::Never => false,
        };
        if sync_now {
            self.sync()?;
        }
        self.shared.publish(last);
        Ok(last)
    }

    /// Force an fsync of the active segment now (used at shutdown and by the interval timer).
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.check_failed()?;
        if self.durable == self.published && !self.unsynced_rotation {
            self.last_sync = Instant::now();
            return Ok(());
        }
        let result = self.file.sync_data().and_then(|()| {
            if self.unsynced_rotation {
                // Older segments written under `Never`: one syncfs covers them all.
                // SAFETY: syncfs on a file descriptor we own; no memory is passed.
                if unsafe { libc::syncfs(self.file.as_raw_fd()) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
        if let Err(source) = result {
            self.failed = true;
            return Err(self.io_err(source));
        }
        self.unsynced_rotation = false;
        self.durable = self.published;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// The last sequence known to be fsynced (equal to the published one under `Always`).
    pub fn durable_seq(&self) -> u64 {
        self.durable
    }

    /// True when an `Interval` sync is due now.
    pub fn sync_due(&self) -> bool {
        self.cfg.sync == SyncPolicy::Interval
            && self.durable < self.published
            && self.last_sync.elapsed() >= self.cfg.sync_interval
    }

    fn write_pending(&mut self) -> Result<(), WalError> {
        let mut start = 0;
        for i in 0..=self.splits.len() {
            let split = self.splits.get(i).copied();
            let end = split.map_or(self.pending.len(), |(at, _)| at);
            if let Some(chunk) = self.pending.get(start..end).filter(|c| !c.is_empty()) {
                if let Err(source) = self.file.write_all(chunk) {
                    return Err(self.io_err(source));
                }
                self.shared.add_disk_bytes(chunk.len() as u64);
            }
            if let Some((_, first_seq)) = split {
                self.rotate(first_seq)?;
            }
            start = end;
        }
        Ok(())
    }

    /// Close the full segment and start a new one whose first record is `first_seq`.
    fn rotate(&mut self, first_seq: u64) -> Result<(), WalError> {
        if self.cfg.sync == SyncPolicy::Never {
            self.unsynced_rotation = true;
        } else if let Err(source) = self.file.sync_data() {
            return Err(self.io_err(source));
        }
        // The header is written before readers can see the segment.
        let durable = self.cfg.sync != SyncPolicy::Never;
        self.file = create_segment(&self.shared.dir, first_seq, durable)?;
        self.file_first_seq = first_seq;
        self.shared.add_disk_bytes(HEADER_LEN as u64);
        self.shared.push_segment(first_seq);
        Ok(())
    }

    fn check_failed(&self) -> Result<(), WalError> {
        if self.failed {
            return Err(self.io_err(io::Error::other("an earlier WAL write or fsync failed")));
        }
        Ok(())
    }

    fn io_err(&self, source: io::Error) -> WalError {
        WalError::Io {
            path: segment::path(&self.shared.dir, self.file_first_seq),
            source,
        }
    }
}
