//! Recovery at open: find the segments, repair the newest one's tail, learn the last sequence.
//!
//! Only the newest segment is scanned. Older segments were complete when the writer moved on, and
//! the next segment's name says where their sequences end; damage inside them is the reader's
//! business (skipped and counted). In the newest segment, bytes after the last good record that
//! no valid record follows are a torn tail: a crash mid-`write` or a power loss before fsync. They
//! are cut off, so new records are appended directly after the last good one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::record::{decode, resync, Damage, Decoded, Resync, Tail};
use super::segment::{self, Cursor, HEADER_LEN};
use super::WalError;

/// The state of the WAL directory after repair.
#[derive(Debug)]
pub struct Recovered {
    /// First sequences of the live segments, ascending; never empty.
    pub segments: Vec<u64>,
    pub last_seq: u64,
    /// Size of the newest segment after repair, where the writer continues.
    pub active_len: u64,
    pub disk_bytes: u64,
    pub truncated_tail_bytes: u64,
}

/// Scan and repair the segments in `dir` (the caller holds the lock).
pub fn recover(dir: &Path) -> Result<Recovered, WalError> {
    let segments = segment::list(dir)?;
    let Some(&newest) = segments.last() else {
        create_segment(dir, 1, true)?;
        return Ok(Recovered {
            segments: vec![1],
            last_seq: 0,
            active_len: HEADER_LEN as u64,
            disk_bytes: HEADER_LEN as u64,
            truncated_tail_bytes: 0,
        });
    };
    let path = segment::path(dir, newest);
    let io_err = |source| WalError::Io {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err)?;
    let (last_seq, good_end, truncated) = repair_newest(&file, &path, newest).map_err(io_err)?;
    let mut disk_bytes = 0;
    for &first in &segments {
        let p = segment::path(dir, first);
        disk_bytes += std::fs::metadata(&p)
            .map_err(|source| WalError::Io { path: p, source })?
            .len();
    }
    Ok(Recovered {
        segments,
        last_seq,
        active_len: good_end,
        disk_bytes,
        truncated_tail_bytes: truncated,
    })
}

/// Create an empty segment holding only its header; with `durable`, fsync it and its directory
/// entry.
pub fn create_segment(dir: &Path, first_seq: u64, durable: bool) -> Result<File, WalError> {
    let path = segment::path(dir, first_seq);
    let io_err = |source| WalError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(io_err)?;
    file.write_all(&segment::encode_header(first_seq))
        .map_err(io_err)?;
    if durable {
        file.sync_all().map_err(io_err)?;
        sync_dir(dir)?;
    }
    Ok(file)
}

/// Make a new directory entry durable.
pub fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| WalError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Validate the newest segment and cut a torn tail. Returns (last seq, end of the last good
/// record, bytes cut).
fn repair_newest(file: &File, path: &Path, first_seq: u64) -> io::Result<(u64, u64, u64)> {
    let len = file.metadata()?.len();
    if len < HEADER_LEN as u64 {
        // Created but the header never reached the disk: start the segment again.
        tracing::warn!(segment = %path.display(), bytes = len, "WAL segment header torn; rewriting it");
        file.set_len(0)?;
        file.write_all_at(&segment::encode_header(first_seq), 0)?;
        file.sync_all()?;
        return Ok((first_seq.saturating_sub(1), HEADER_LEN as u64, len));
    }
    let mut cur = Cursor::new(file.try_clone()?);
    while cur.bytes().len() < HEADER_LEN && cur.fill()? > 0 {}
    match segment::decode_header(cur.bytes()) {
        Ok(seq) if seq == first_seq => {}
        other => {
            // The file name is authoritative; records carry their own checksums.
            tracing::warn!(segment = %path.display(), header = ?other, "WAL segment header damaged; rewriting it from the file name");
            file.write_all_at(&segment::encode_header(first_seq), 0)?;
        }
    }
    cur.consume(HEADER_LEN);
    // Records must follow each other from the segment's first sequence on, one by one.
    let mut next = Some(first_seq);
    let mut last_seq = first_seq.saturating_sub(1);
    let mut good_end = HEADER_LEN as u64;
    loop {
        match decode(cur.bytes()) {
            Decoded::Record { view, frame_len } if Some(view.seq) == next => {
                last_seq = view.seq;
                next = view.seq.checked_add(1);
                cur.consume(frame_len);
                good_end = cur.offset();
                continue;
            }
            Decoded::Incomplete { .. } => {
                if cur.fill()? > 0 {
                    continue;
                }
                if cur.bytes().is_empty() {
                    return Ok((last_seq, good_end, 0));
                }
            }
            _ => {}
        }
        // Damage at `bad_at`: either a confirmed record follows (skip, the reader counts it) or
        // this is the torn tail.
        let bad_at = cur.offset();
        cur.consume(1);
        let found = match next {
            Some(expected) => skip_to_next_record(&mut cur, bad_at, expected)?,
            None => None,
        };
        let Some(seq) = found else {
            let cut = len.saturating_sub(good_end);
            tracing::warn!(segment = %path.display(), offset = good_end, bytes = cut, "WAL torn tail truncated at the last good record");
            file.set_len(good_end)?;
            file.sync_all()?;
            return Ok((last_seq, good_end, cut));
        };
        next = Some(seq);
        tracing::warn!(segment = %path.display(), offset = bad_at, resumes_at = cur.offset(), "WAL corruption inside the newest segment; readers will skip it");
    }
}

/// Move the cursor to the next record the scan may continue at (`record::resync`) in a file that
/// does not grow, the damage having begun at `bad_at`; None when there is none. Its sequence is
/// returned. At the end of the file nothing confirms a lone last record, so it is cut with the
/// torn tail.
fn skip_to_next_record(cur: &mut Cursor, bad_at: u64, expected: u64) -> io::Result<Option<u64>> {
    let mut at_end = false;
    loop {
        let damage = Damage {
            expected,
            skipped: cur.offset().saturating_sub(bad_at),
        };
        let tail = if at_end {
            Tail::Closed { last: None }
        } else {
            Tail::Open
        };
        match resync(cur.bytes(), damage, tail) {
            Resync::Found { at, seq } => {
                cur.consume(at);
                return Ok(Some(seq));
            }
            Resync::NotYet { .. } if at_end => return Ok(None),
            Resync::NotYet { resume } => {
                cur.consume(resume);
                at_end = cur.fill()? == 0;
            }
        }
    }
}
