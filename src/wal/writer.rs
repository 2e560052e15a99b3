//! The single appender: batches records in memory, writes them with one `write` per segment,
//! rotates by size, fsyncs per policy (group commit) and publishes to readers.
//!
//! Disk full (ENOSPC, EDQUOT) on a write or while creating a segment is not fatal: the flush is
//! undone (segments made by it removed, the segment it started in cut back to its length before
//! the flush), the batch is dropped and its sequence numbers are handed out again, and the caller
//! gets `WalError::DiskFull`. Any other write error, and every fsync error, is fatal.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use super::record::{self, MAX_PAYLOAD_LEN};
use super::recovery::sync_dir;
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
    /// Bytes of `file` on disk (written records only).
    file_len: u64,
    next_seq: u64,
    /// The sequence the next record must have to go into the segment `pending` ends in; a
    /// record with any other sequence starts a new segment (records in a segment are contiguous).
    seg_next: u64,
    /// The sequences of the first and the last record in `pending`.
    pending_first: u64,
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
            file_len: active_len,
            next_seq: last_seq.saturating_add(1),
            seg_next: last_seq.saturating_add(1),
            pending_first: last_seq.saturating_add(1),
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
        let seq = self.next_seq;
        let Some(after) = seq.checked_add(1) else {
            return Err(WalError::SeqExhausted);
        };
        let len = record::frame_len(payload.len()) as u64;
        // A record never spans segments; a record bigger than a segment gets one of its own. A
        // jump in the sequence (`continue_after`) starts a segment named after the new sequence.
        let rotate = (self.seg_len > HEADER_LEN as u64
            && self.seg_len + len > self.cfg.segment_size)
            || seq != self.seg_next;
        let needed = len + if rotate { HEADER_LEN as u64 } else { 0 };
        if self.shared.disk_bytes() + self.pending.len() as u64 + needed > self.cfg.max_size {
            return Ok(Appended::Full);
        }
        if rotate {
            self.splits.push((self.pending.len(), seq));
            self.seg_len = HEADER_LEN as u64;
        }
        if self.pending.is_empty() {
            self.pending_first = seq;
        }
        record::encode_into(&mut self.pending, seq, meta, payload);
        self.seg_len += len;
        self.next_seq = after;
        self.seg_next = after;
        self.pending_last = seq;
        Ok(Appended::Seq(seq))
    }

    /// Bytes the WAL may still take under its budget (`max_size`), the records waiting for the
    /// flush counted as taken. Ingest reads it to keep the last part of the budget for
    /// datagrams.
    pub fn room(&self) -> u64 {
        let used = self.shared.disk_bytes() + self.pending.len() as u64;
        self.cfg.max_size.saturating_sub(used)
    }

    /// The WAL's budget in bytes.
    pub fn max_size(&self) -> u64 {
        self.cfg.max_size
    }

    /// Make the next sequence at least `seq + 1`. The pipeline calls this at start-up with its
    /// checkpoint: a power loss under a relaxed sync policy can tear off records the checkpoint
    /// already covers, and their sequence numbers must not be handed to new records, which a
    /// reader positioned at the checkpoint would skip. A jump starts a new segment named after
    /// the new next sequence, so that records within a segment stay contiguous.
    pub fn continue_after(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
    }

    /// Write the pending batch, rotate and sync per policy, publish. Returns the last published
    /// sequence.
    ///
    /// `WalError::DiskFull`: nothing of the batch was accepted, the writer is as it was before
    /// the batch and stays usable (retry later). After any other error the writer refuses further
    /// work: the caller treats it as fatal.
    pub fn flush(&mut self) -> Result<u64, WalError> {
        self.check_failed()?;
        if self.pending.is_empty() {
            return Ok(self.published);
        }
        let last = self.pending_last;
        let mut undo = Undo {
            first_seq: self.file_first_seq,
            len: self.file_len,
            created: Vec::new(),
            bytes_added: 0,
        };
        match self.write_pending(&mut undo) {
            Ok(()) => {}
            Err(Fault::NoSpace { path, source }) => {
                let err = WalError::DiskFull { path, source };
                if let Err(e) = self.undo(undo) {
                    self.failed = true;
                    return Err(e);
                }
                return Err(err);
            }
            Err(Fault::Fatal(e)) => {
                self.failed = true;
                return Err(e);
            }
        }
        self.clear_pending();
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

    fn clear_pending(&mut self) {
        self.pending.clear();
        self.splits.clear();
        if self.pending.capacity() > PENDING_KEEP {
            self.pending.shrink_to(PENDING_KEEP);
        }
    }

    /// Put the disk and the writer back as they were before the failed flush: remove the
    /// segments it made (a half-made one too), cut the segment it began in back to its length,
    /// drop the batch and hand its sequence numbers out again.
    fn undo(&mut self, undo: Undo) -> Result<(), WalError> {
        let dir = self.shared.dir.clone();
        for &first in undo.created.iter().rev() {
            let path = segment::path(&dir, first);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(WalError::Io { path, source }),
            }
            self.shared.forget_segment(first);
        }
        let path = segment::path(&dir, undo.first_seq);
        let io_err = |source| WalError::Io {
            path: path.clone(),
            source,
        };
        if self.file_first_seq != undo.first_seq {
            self.file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_err)?;
            self.file_first_seq = undo.first_seq;
        }
        self.file.set_len(undo.len).map_err(io_err)?;
        self.shared.sub_disk_bytes(undo.bytes_added);
        self.file_len = undo.len;
        self.seg_len = undo.len;
        self.seg_next = if undo.len > HEADER_LEN as u64 {
            self.published.saturating_add(1)
        } else {
            undo.first_seq
        };
        // The batch's sequence numbers are handed out again: sequences stay contiguous.
        self.next_seq = self.pending_first;
        self.pending_last = self.pending_first.saturating_sub(1);
        self.clear_pending();
        Ok(())
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

    /// True when records were appended since the last flush.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
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

    fn write_pending(&mut self, undo: &mut Undo) -> Result<(), Fault> {
        let mut start = 0;
        for i in 0..=self.splits.len() {
            let split = self.splits.get(i).copied();
            let end = split.map_or(self.pending.len(), |(at, _)| at);
            if let Some(chunk) = self.pending.get(start..end).filter(|c| !c.is_empty()) {
                if let Err(source) = self.file.write_all(chunk) {
                    return Err(self.fault(source, true));
                }
                let n = chunk.len() as u64;
                self.file_len += n;
                undo.bytes_added += n;
                self.shared.add_disk_bytes(n);
            }
            if let Some((_, first_seq)) = split {
                self.rotate(first_seq, undo)?;
            }
            start = end;
        }
        Ok(())
    }

    /// Close the full segment and start a new one whose first record is `first_seq`.
    fn rotate(&mut self, first_seq: u64, undo: &mut Undo) -> Result<(), Fault> {
        if self.cfg.sync == SyncPolicy::Never {
            self.unsynced_rotation = true;
        } else if let Err(source) = self.file.sync_data() {
            return Err(self.fault(source, false));
        }
        // Noted before the file exists, so that a half-made one is removed by `undo`.
        undo.created.push(first_seq);
        let path = segment::path(&self.shared.dir, first_seq);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&segment::encode_header(first_seq)).map(|()| f))
            .map_err(|source| self.fault_at(&path, source, true))?;
        // The header is durable before readers can see the segment (unless `Never`).
        if self.cfg.sync != SyncPolicy::Never {
            file.sync_all()
                .map_err(|source| self.fault_at(&path, source, false))?;
            sync_dir(&self.shared.dir).map_err(Fault::Fatal)?;
        }
        file.flush()
            .map_err(|source| self.fault_at(&path, source, true))?;
        self.file = file;
        self.file_first_seq = first_seq;
        self.file_len = HEADER_LEN as u64;
        undo.bytes_added += HEADER_LEN as u64;
        self.shared.add_disk_bytes(HEADER_LEN as u64);
        self.shared.push_segment(first_seq);
        Ok(())
    }

    /// A write error on the active segment: disk full is undone and retried later (only for a
    /// write, `may_be_full`), anything else is fatal.
    fn fault(&self, source: io::Error, may_be_full: bool) -> Fault {
        let path = segment::path(&self.shared.dir, self.file_first_seq);
        self.fault_at(&path, source, may_be_full)
    }

    fn fault_at(&self, path: &std::path::Path, source: io::Error, may_be_full: bool) -> Fault {
        if may_be_full && is_no_space(&source) {
            Fault::NoSpace {
                path: path.to_path_buf(),
                source,
            }
        } else {
            Fault::Fatal(WalError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
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

/// What a failed flush must undo.
struct Undo {
    /// The segment the flush began in, and its length then.
    first_seq: u64,
    len: u64,
    /// Segments the flush made or began to make.
    created: Vec<u64>,
    /// Bytes added to the shared disk count.
    bytes_added: u64,
}

/// Why a flush stopped.
enum Fault {
    /// No space (ENOSPC, EDQUOT) while writing this file: undone, not fatal.
    NoSpace {
        path: std::path::PathBuf,
        source: io::Error,
    },
    Fatal(WalError),
}

/// ENOSPC or EDQUOT: the disk (or the quota) is full.
pub(super) fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}
