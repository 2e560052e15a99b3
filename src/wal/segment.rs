//! Segment files: the header format, file naming, directory listing and a buffered cursor.
//!
//! A segment is named after the sequence its first record has (or will have), zero-padded to 20
//! digits so names sort as numbers: `00000000000000000001.wal`. Released segments kept on request
//! are renamed `….wal.done` and are no longer part of the WAL.
//!
//! Segment header, 24 bytes, little-endian, followed directly by records (see `record`):
//!
//! ```text
//! offset  size  field
//! 0       8     magic      b"MUTTWAL\0"
//! 8       4     version    u32 = 1
//! 12      8     first_seq  u64   the sequence the segment's first record gets; for an empty
//!                                newest segment this is the next sequence to hand out
//! 20      4     crc        u32   CRC32C of bytes 0..20
//! ```

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::record::{read_u64, MAX_FRAME_LEN};
use super::WalError;

pub const HEADER_LEN: usize = 24;
const MAGIC: &[u8; 8] = b"MUTTWAL\0";
const VERSION: u32 = 1;
const EXT: &str = "wal";
const DONE_EXT: &str = "wal.done";

/// The header bytes of a segment whose first record has `first_seq`.
pub fn encode_header(first_seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a header is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    Short,
    BadMagic,
    BadCrc,
    UnknownVersion(u32),
}

/// The `first_seq` of a valid header.
pub fn decode_header(buf: &[u8]) -> Result<u64, HeaderError> {
    let h = buf.get(..HEADER_LEN).ok_or(HeaderError::Short)?;
    if &h[0..8] != MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let crc = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
    if crc32c::crc32c(&h[0..20]) != crc {
        return Err(HeaderError::BadCrc);
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != VERSION {
        return Err(HeaderError::UnknownVersion(version));
    }
    Ok(read_u64(h, 12))
}

pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.{EXT}")
}

pub fn path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(file_name(first_seq))
}

pub fn done_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.{DONE_EXT}"))
}

/// The first sequence a live segment's file name stands for (`None` for any other file).
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Sequence 0 is never handed out, so no segment can start there.
    digits.parse().ok().filter(|&seq| seq > 0)
}

/// The first sequences of the live segments in `dir`, ascending.
pub fn list(dir: &Path) -> Result<Vec<u64>, WalError> {
    let io_err = |source| WalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Reads a segment file in large chunks and exposes the unread bytes as one slice.
pub(crate) struct Cursor {
    file: File,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
}

/// Reads aim for this many bytes at a time.
const CHUNK: usize = 1 << 20;

impl Cursor {
    /// A cursor at the start of `file`.
    pub fn new(file: File) -> Cursor {
        Cursor {
            file,
            // Deciding a resync candidate takes it and the record after it: two records at most.
            buf: vec![0; CHUNK + 2 * MAX_FRAME_LEN],
            start: 0,
            end: 0,
            offset: 0,
        }
    }

    /// Reuse this cursor's buffer for another file.
    pub fn reset(&mut self, file: File) {
        self.file = file;
        self.start = 0;
        self.end = 0;
        self.offset = 0;
    }

    /// The buffered, unconsumed bytes.
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// File offset of the first unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Read more of the file behind the buffered bytes; returns how many arrived (0 at the end of
    /// the file as it is now). The buffer always has room for two whole records after `start`.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 && self.buf.len() - self.end < CHUNK {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_its_first_sequence() {
        let h = encode_header(123_456_789);
        assert_eq!(decode_header(&h), Ok(123_456_789));
    }

    #[test]
    fn damaged_headers_are_rejected_with_the_reason() {
        let h = encode_header(7);
        assert_eq!(decode_header(&h[..10]), Err(HeaderError::Short));
        let mut bad = h;
        bad[0] = b'X';
        assert_eq!(decode_header(&bad), Err(HeaderError::BadMagic));
        let mut bad = h;
        bad[13] ^= 1;
        assert_eq!(decode_header(&bad), Err(HeaderError::BadCrc));
    }

    #[test]
    fn names_sort_as_numbers_and_parse_back() {
        assert_eq!(file_name(1), "00000000000000000001.wal");
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_name("00000000000000000001.wal.done"), None);
        assert_eq!(parse_name("1.wal"), None);
        assert_eq!(parse_name(&file_name(0)), None);
        assert_eq!(parse_name("LOCK"), None);
    }

    #[test]
    fn cursor_reads_the_whole_file_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| i as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let mut cur = Cursor::new(File::open(&p).unwrap());
        let mut seen = Vec::new();
        loop {
            // Leave a partial "record" behind each time, as a reader does.
            while cur.bytes().len() > 1000 {
                seen.extend_from_slice(&cur.bytes()[..999]);
                cur.consume(999);
            }
            if cur.fill().unwrap() == 0 {
                break;
            }
        }
        seen.extend_from_slice(cur.bytes());
        assert_eq!(seen, data);
    }
}
