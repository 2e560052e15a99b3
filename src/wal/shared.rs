//! State shared by the writer, the readers and every `WalHandle`: the published sequence, the
//! segment list, the disk-byte count, corruption counts, and the directory lock.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::lock::DirLock;
use super::segment;
use super::WalError;

pub struct Shared {
    pub dir: PathBuf,
    keep_released: bool,
    published: AtomicU64,
    publish_lock: Mutex<()>,
    publish_cond: Condvar,
    disk_bytes: AtomicU64,
    corrupt: AtomicU64,
    lost: AtomicU64,
    /// The furthest (segment, offset) counted as corrupt, so several readers passing the same
    /// damage count it once.
    corrupt_mark: Mutex<(u64, u64)>,
    /// First sequences of the live segments, ascending. The writer pushes before it publishes
    /// any record of a new segment; release removes from the front, never the last.
    segments: Mutex<Vec<u64>>,
    _lock: DirLock,
}

/// A poisoned mutex only means another thread panicked holding it; the data is still plain.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(
        dir: &Path,
        keep_released: bool,
        lock: DirLock,
        segments: Vec<u64>,
        last_seq: u64,
        disk_bytes: u64,
    ) -> Shared {
        Shared {
            dir: dir.to_path_buf(),
            keep_released,
            published: AtomicU64::new(last_seq),
            publish_lock: Mutex::new(()),
            publish_cond: Condvar::new(),
            disk_bytes: AtomicU64::new(disk_bytes),
            corrupt: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            corrupt_mark: Mutex::new((0, 0)),
            segments: Mutex::new(segments),
            _lock: lock,
        }
    }

    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    pub fn publish(&self, seq: u64) {
        self.published.store(seq, Ordering::Release);
        // Taking the lock orders this store against a waiter between its check and its wait.
        drop(locked(&self.publish_lock));
        self.publish_cond.notify_all();
    }

    pub fn wait_published(&self, seq: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut guard = locked(&self.publish_lock);
        loop {
            let published = self.published();
            let now = Instant::now();
            if published > seq || now >= deadline {
                return published;
            }
            guard = match self.publish_cond.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes.load(Ordering::Relaxed)
    }

    pub fn add_disk_bytes(&self, n: u64) {
        self.disk_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub_disk_bytes(&self, n: u64) {
        let _ = self
            .disk_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(n))
            });
    }

    pub fn corrupt_records(&self) -> u64 {
        self.corrupt.load(Ordering::Relaxed)
    }

    pub fn lost_records(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Count a damaged region a reader skipped, and the sequences lost in it, once per place.
    pub fn note_corrupt(&self, segment_first: u64, offset: u64, resumed_at: u64, lost: u64) {
        let mut mark = locked(&self.corrupt_mark);
        if (segment_first, offset) <= *mark {
            return;
        }
        *mark = (segment_first, offset);
        self.corrupt.fetch_add(1, Ordering::Relaxed);
        self.lost.fetch_add(lost, Ordering::Relaxed);
        tracing::warn!(
            segment = %segment::path(&self.dir, segment_first).display(),
            offset,
            lost_records = lost,
            skipped_bytes = resumed_at.saturating_sub(offset),
            "WAL corruption skipped"
        );
    }

    pub fn push_segment(&self, first_seq: u64) {
        locked(&self.segments).push(first_seq);
    }

    /// Take back a segment the writer pushed and then removed (a flush undone for lack of
    /// space). Only ever the newest.
    pub fn forget_segment(&self, first_seq: u64) {
        let mut segs = locked(&self.segments);
        if segs.len() > 1 && segs.last() == Some(&first_seq) {
            segs.pop();
        }
    }

    /// The segment holding `seq` if it is still there, else the oldest one.
    pub fn segment_for(&self, seq: u64) -> u64 {
        let segs = locked(&self.segments);
        let idx = segs.partition_point(|&first| first <= seq);
        match idx.checked_sub(1).and_then(|i| segs.get(i)) {
            Some(&first) => first,
            None => segs.first().copied().unwrap_or(1),
        }
    }

    /// The first sequence of the oldest live segment.
    pub fn oldest_segment(&self) -> u64 {
        locked(&self.segments).first().copied().unwrap_or(1)
    }

    /// The live segment after the one starting at `first_seq`.
    pub fn segment_after(&self, first_seq: u64) -> Option<u64> {
        let segs = locked(&self.segments);
        let idx = segs.partition_point(|&first| first <= first_seq);
        segs.get(idx).copied()
    }

    /// Remove whole segments whose records are all <= `seq`, never the newest.
    /// How many segments `release_through(seq)` would release now.
    pub fn releasable_through(&self, seq: u64) -> usize {
        releasable(&locked(&self.segments), seq)
    }

    pub fn release_through(&self, seq: u64) -> Result<usize, WalError> {
        let released: Vec<u64> = {
            let mut segs = locked(&self.segments);
            let n = releasable(&segs, seq);
            segs.drain(..n).collect()
        };
        for &first in &released {
            let path = segment::path(&self.dir, first);
            let io_err = |source| WalError::Io {
                path: path.clone(),
                source,
            };
            let len = std::fs::metadata(&path).map_err(io_err)?.len();
            if self.keep_released {
                std::fs::rename(&path, segment::done_path(&self.dir, first)).map_err(io_err)?;
            } else {
                std::fs::remove_file(&path).map_err(io_err)?;
            }
            self.sub_disk_bytes(len);
        }
        Ok(released.len())
    }
}

/// Segments (first sequences, ascending) wholly at or below `seq`: segment i is when segment i+1
/// starts at or before `seq + 1`. The newest is never one.
fn releasable(segs: &[u64], seq: u64) -> usize {
    segs.windows(2)
        .take_while(|w| w[1] <= seq.saturating_add(1))
        .count()
}
