//! Reads published records in sequence order across segments, skipping damaged regions.
//!
//! A record is taken only at the next expected sequence: the segment's first sequence (from its
//! name) at the start of a segment, then the last taken + 1. Anything else at a frame boundary is
//! damage, and the scan after damage follows `record::resync` (docs/WAL_FORMAT.md, "Damage and
//! resynchronisation"); bytes inside a record already taken are never looked at again.
//!
//! The reader keeps its current segment open, so `release_through` may delete (or rename) a
//! segment it is still finishing. It never trusts bytes beyond the published sequence: a record
//! above it may still be on its way to the disk.

use std::fs::File;
use std::io;
use std::sync::Arc;

use super::record::{decode, resync, Damage, Decoded, RecordView, Resync, Tail};
use super::segment::{self, Cursor, HEADER_LEN};
use super::shared::Shared;
use super::{Record, WalError};

/// Reads published records in sequence order.
pub struct Reader {
    shared: Arc<Shared>,
    /// Records up to here are skipped (the checkpoint).
    after: u64,
    /// The last sequence taken from the stream (emitted or skipped as <= `after`).
    last_seen: u64,
    /// The sequence the next record must have; None once the sequence space is used up.
    next: Option<u64>,
    segment_first: u64,
    cur: Cursor,
    /// Inside a damaged region that began at this offset, looking for the next record.
    damaged_at: Option<u64>,
}

/// What the end of the buffered bytes means.
enum More {
    Data,
    /// The file is at its end and will not grow: the writer has moved to this segment.
    NextSegment(u64),
    /// The newest segment is at its end for now.
    Wait,
}

impl Reader {
    pub(super) fn new(shared: Arc<Shared>, after_seq: u64) -> Result<Reader, WalError> {
        let first = shared.segment_for(after_seq.saturating_add(1));
        let (first, file) = open_segment(&shared, first, None)?;
        let mut reader = Reader {
            shared,
            after: after_seq,
            last_seen: 0,
            next: Some(first),
            segment_first: first,
            cur: Cursor::new(file),
            damaged_at: None,
        };
        reader.skip_header()?;
        Ok(reader)
    }

    /// Append up to `max` published records to `out`; returns how many were added (0 = caught up).
    pub fn read_batch(&mut self, max: usize, out: &mut Vec<Record>) -> Result<usize, WalError> {
        let published = self.shared.published();
        let mut added = 0;
        while added < max && self.last_seen.max(self.after) < published {
            if self.damaged_at.is_some() {
                if self.resync(published)? {
                    continue;
                }
                break;
            }
            let Some(expected) = self.next else {
                // The last possible sequence was taken: nothing can follow it.
                break;
            };
            match decode(self.cur.bytes()) {
                Decoded::Record { view, frame_len } if view.seq == expected => {
                    if view.seq > published {
                        break;
                    }
                    if view.seq > self.after && view.seq > self.last_seen {
                        out.push(to_record(&view));
                        added += 1;
                    }
                    self.last_seen = self.last_seen.max(view.seq);
                    self.next = view.seq.checked_add(1);
                    self.cur.consume(frame_len);
                }
                Decoded::Incomplete { .. } => match self.need_more()? {
                    More::Data => {}
                    More::NextSegment(next) if self.cur.bytes().is_empty() => self.enter(next)?,
                    // A published record is complete before it is published, so leftovers here
                    // are damage: a torn older segment, or garbage before the next record.
                    More::NextSegment(_) => self.start_damage(),
                    More::Wait if self.cur.bytes().is_empty() => break,
                    More::Wait => self.start_damage(),
                },
                // Bad length, bad CRC, or not the expected sequence.
                _ => self.start_damage(),
            }
        }
        Ok(added)
    }

    fn start_damage(&mut self) {
        self.damaged_at = Some(self.cur.offset());
        self.cur.consume(1);
    }

    /// Leave a damaged region: the cursor is on the record with `seq` (or at a segment's end).
    fn end_damage(&mut self, lost: u64) {
        if let Some(at) = self.damaged_at.take() {
            self.shared
                .note_corrupt(self.segment_first, at, self.cur.offset(), lost);
        }
    }

    fn damage(&self) -> Option<Damage> {
        let at = self.damaged_at?;
        Some(Damage {
            expected: self.next?,
            skipped: self.cur.offset().saturating_sub(at),
        })
    }

    /// Continue the stream at the record `resync` found at `at`.
    fn found(&mut self, at: usize, seq: u64) {
        let lost = self.next.map_or(0, |expected| seq.saturating_sub(expected));
        self.cur.consume(at);
        self.end_damage(lost);
        self.next = Some(seq);
    }

    /// Scan past damage; true when the cursor is on a record again (or moved to a new segment),
    /// false when the newest segment has nothing more yet.
    fn resync(&mut self, published: u64) -> Result<bool, WalError> {
        loop {
            let Some(damage) = self.damage() else {
                // No sequence can follow: skip whatever is left.
                self.cur.consume(self.cur.bytes().len());
                return Ok(false);
            };
            match resync(self.cur.bytes(), damage, Tail::Open) {
                Resync::Found { at, seq } => {
                    self.found(at, seq);
                    return Ok(true);
                }
                Resync::NotYet { resume } => {
                    self.cur.consume(resume);
                    let more = self.need_more()?;
                    let Some(damage) = self.damage() else {
                        continue;
                    };
                    // Nothing more on disk now: a candidate ending at the end is confirmed by the
                    // sequence the data is known to end with.
                    let last = match more {
                        More::Data => continue,
                        More::Wait => Some(published),
                        More::NextSegment(next) => next.checked_sub(1),
                    };
                    if let Resync::Found { at, seq } =
                        resync(self.cur.bytes(), damage, Tail::Closed { last })
                    {
                        self.found(at, seq);
                        return Ok(true);
                    }
                    let More::NextSegment(next) = more else {
                        // The newest segment may still grow: keep the undecided bytes.
                        return Ok(false);
                    };
                    let lost = next.saturating_sub(damage.expected);
                    self.cur.consume(self.cur.bytes().len());
                    self.end_damage(lost);
                    self.enter(next)?;
                    return Ok(true);
                }
            }
        }
    }

    fn need_more(&mut self) -> Result<More, WalError> {
        // Look for a newer segment before reading: if one exists now, every byte of this one was
        // written before it was created, so a read that finds nothing means the end for good.
        let next = self.shared.segment_after(self.segment_first);
        if self.cur.fill().map_err(|e| self.io_err(e))? > 0 {
            return Ok(More::Data);
        }
        Ok(next.map_or(More::Wait, More::NextSegment))
    }

    fn enter(&mut self, next: u64) -> Result<(), WalError> {
        let (first, file) = open_segment(&self.shared, next, Some(self.segment_first))?;
        self.segment_first = first;
        self.next = Some(first);
        self.cur.reset(file);
        self.skip_header()
    }

    /// Check the header of the segment just opened and step past it. A damaged header (only in a
    /// segment torn by a crash) counts as corruption; the records still carry their own CRCs.
    fn skip_header(&mut self) -> Result<(), WalError> {
        while self.cur.bytes().len() < HEADER_LEN {
            if self.cur.fill().map_err(|e| self.io_err(e))? == 0 {
                break;
            }
        }
        match segment::decode_header(self.cur.bytes()) {
            Ok(first) if first == self.segment_first => {}
            _ => self
                .shared
                .note_corrupt(self.segment_first, 0, HEADER_LEN as u64, 0),
        }
        self.cur.consume(HEADER_LEN);
        Ok(())
    }

    fn io_err(&self, source: io::Error) -> WalError {
        WalError::Io {
            path: segment::path(&self.shared.dir, self.segment_first),
            source,
        }
    }
}

/// Open the segment starting at `first`; if release removed it meanwhile, the next live one after
/// `prev` (or the oldest).
fn open_segment(
    shared: &Shared,
    mut first: u64,
    prev: Option<u64>,
) -> Result<(u64, File), WalError> {
    loop {
        let path = segment::path(&shared.dir, first);
        match File::open(&path) {
            Ok(file) => return Ok((first, file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let replacement = match prev {
                    Some(prev) => shared.segment_after(prev),
                    None => Some(shared.segment_for(first)),
                };
                first = match replacement {
                    // Released meanwhile: release removes from the front, so this is later.
                    Some(seq) if seq > first => seq,
                    // Still listed but gone: removed from outside the WAL. Carry on after it.
                    _ => match shared.segment_after(first) {
                        Some(seq) => {
                            tracing::warn!(segment = %path.display(), "WAL segment missing; skipping it");
                            seq
                        }
                        None => return Err(WalError::Io { path, source: e }),
                    },
                };
            }
            Err(source) => return Err(WalError::Io { path, source }),
        }
    }
}

fn to_record(view: &RecordView<'_>) -> Record {
    Record {
        seq: view.seq,
        meta: view.meta,
        payload: view.payload.to_vec(),
    }
}
