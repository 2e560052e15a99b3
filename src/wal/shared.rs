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
    /// What each blocked `wait_published` waits for: a sequence at least this high.
    waiters: Mutex<Vec<u64>>,
    /// The lowest of `waiters` (`u64::MAX` with none). `publish` wakes the waiters only once it
    /// reaches this, so a publish nobody waits for costs no system call (ingest publishes a few
    /// thousand times a second, and each wake-up of the drain cost both threads a futex call
    /// and a context switch).
    wake_at: AtomicU64,
    publish_cond: Condvar,
    /// Wake-ups `publish` has made, for the tests.
    #[cfg(test)]
    wakes: AtomicU64,
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
            waiters: Mutex::new(Vec::new()),
            wake_at: AtomicU64::new(u64::MAX),
            publish_cond: Condvar::new(),
            #[cfg(test)]
            wakes: AtomicU64::new(0),
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
        // SeqCst with the waiter's store of `wake_at` and load of `published`: either this load
        // sees the waiter's target, or the waiter sees this sequence before it sleeps.
        self.published.store(seq, Ordering::SeqCst);
        if seq >= self.wake_at.load(Ordering::SeqCst) {
            // Taking the lock waits for a waiter between its check and its wait.
            drop(locked(&self.waiters));
            self.publish_cond.notify_all();
            #[cfg(test)]
            self.wakes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Block until a sequence above `seq` is published or `timeout` passes; returns the published
    /// sequence. Publishes below it do not wake the caller.
    pub fn wait_published(&self, seq: u64, timeout: Duration) -> u64 {
        let target = seq.saturating_add(1);
        let deadline = Instant::now() + timeout;
        let mut waiters = locked(&self.waiters);
        waiters.push(target);
        self.wake_at.fetch_min(target, Ordering::SeqCst);
        let published = loop {
            let published = self.published.load(Ordering::SeqCst);
            let now = Instant::now();
            if published >= target || now >= deadline {
                break published;
            }
            waiters = match self.publish_cond.wait_timeout(waiters, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        };
        if let Some(i) = waiters.iter().position(|&t| t == target) {
            waiters.swap_remove(i);
        }
        let lowest = waiters.iter().copied().min().unwrap_or(u64::MAX);
        self.wake_at.store(lowest, Ordering::SeqCst);
        published
    }

    /// Wake-ups `publish` has made.
    #[cfg(test)]
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }

    /// Callers blocked in `wait_published`.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        locked(&self.waiters).len()
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
