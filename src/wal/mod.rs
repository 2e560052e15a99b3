//! The write-ahead log: append-only segment files of CRC-checked records holding opaque bytes.
//!
//! STUB: the interface the rest of MUTT programs against. The implementation (record format,
//! segments, group commit, reader, recovery) replaces the bodies; the signatures stay.
//!
//! Contract:
//! - `open` takes an exclusive lock on the directory (a second process gets `WalError::Locked`),
//!   scans the segments, truncates a torn tail at the last good record (reported in
//!   `RecoveryReport`), and returns the single `Writer` and a cloneable `WalHandle`.
//! - `Writer::append` copies one record into the pending batch and gives it the next sequence
//!   number (sequences start at 1 and never repeat, also across restarts). It returns
//!   `Appended::Full` without taking the record when the WAL would exceed `max_size`.
//! - `Writer::flush` writes the pending batch with one `write` per segment touched, rotates by
//!   size, fsyncs per the policy, and then publishes the new last sequence to readers. A record is
//!   *accepted* once `flush` returned Ok.
//! - Readers (`WalHandle::reader`) see only published records, in sequence order, and never a
//!   half-written one. Corruption in the middle of a segment is skipped and counted, never a panic.
//! - `WalHandle::release_through(seq)` deletes (or keeps, per config) whole segments whose every
//!   record is <= seq, never the active one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    #[error("WAL corruption in {segment} at offset {offset}: {kind}")]
    Corruption {
        segment: PathBuf,
        offset: u64,
        kind: String,
    },
}

/// The single appender, owned by the ingest thread.
pub struct Writer {
    _private: (),
}

/// A cheap, cloneable handle for readers and for releasing segments.
#[derive(Clone)]
pub struct WalHandle {
    _private: (),
}

/// Reads published records in sequence order.
pub struct Reader {
    _private: (),
}

/// Open the WAL for writing (takes the directory lock).
pub fn open(_cfg: &WalConfig) -> Result<(Writer, WalHandle, RecoveryReport), WalError> {
    unimplemented!("wal::open")
}

/// Open the WAL for offline reading (`mutt replay`): takes the directory lock, repairs a torn tail,
/// publishes everything on disk, and returns no writer.
pub fn open_offline(_cfg: &WalConfig) -> Result<(WalHandle, RecoveryReport), WalError> {
    unimplemented!("wal::open_offline")
}

impl Writer {
    pub fn append(&mut self, _meta: &RecordMeta, _payload: &[u8]) -> Result<Appended, WalError> {
        unimplemented!()
    }

    /// Write the pending batch, rotate and sync per policy, publish. Returns the last published
    /// sequence.
    pub fn flush(&mut self) -> Result<u64, WalError> {
        unimplemented!()
    }

    /// Force an fsync of the active segment now (used at shutdown and by the interval timer).
    pub fn sync(&mut self) -> Result<(), WalError> {
        unimplemented!()
    }

    /// The last sequence known to be fsynced (equal to the published one under `Always`).
    pub fn durable_seq(&self) -> u64 {
        unimplemented!()
    }

    /// True when an `Interval` sync is due now.
    pub fn sync_due(&self) -> bool {
        unimplemented!()
    }
}

impl WalHandle {
    /// A reader positioned after `after_seq` (the checkpoint): its first record has a larger seq.
    pub fn reader(&self, _after_seq: u64) -> Result<Reader, WalError> {
        unimplemented!()
    }

    /// The highest published sequence.
    pub fn published_seq(&self) -> u64 {
        unimplemented!()
    }

    /// Block until a sequence above `seq` is published or `timeout` passes; returns the published
    /// sequence.
    pub fn wait_published(&self, _seq: u64, _timeout: Duration) -> u64 {
        unimplemented!()
    }

    /// Delete (or keep) whole segments whose every record is <= `seq`; returns how many.
    pub fn release_through(&self, _seq: u64) -> Result<usize, WalError> {
        unimplemented!()
    }

    /// Bytes of all segment files on disk now.
    pub fn disk_bytes(&self) -> u64 {
        unimplemented!()
    }

    /// Records skipped as corrupt since open.
    pub fn corrupt_records(&self) -> u64 {
        unimplemented!()
    }
}

impl Reader {
    /// Append up to `max` published records to `out`; returns how many were added (0 = caught up).
    pub fn read_batch(&mut self, _max: usize, _out: &mut Vec<Record>) -> Result<usize, WalError> {
        unimplemented!()
    }
}
