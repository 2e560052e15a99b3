//! WAL recovery at open (`wal::open_offline` / `wal::open`) on a segment file made from the
//! input, in a temporary directory (on /dev/shm when it exists, so fsync costs nothing).
//!
//! Input: `[flags, first_seq selector, damage lo, damage hi, damage len, cut, ...]`.
//! flags bit 0: the rest of the input is the segment's bytes after the header (raw); otherwise
//! the target encodes records from it (`[len, payload]...`), XORs a region with the input's
//! tail and cuts `cut` bytes off the end (a torn write). bit 1: a damaged header. bit 2: an older,
//! complete segment comes first, so the reader crosses a segment boundary.
//!
//! Checks: the reader returns records in increasing sequence, at or below the recovered last
//! sequence; undamaged records all come back (torn tail: all complete ones); recovery is
//! idempotent (a second open cuts nothing and reads the same); and a record appended after
//! recovery gets the next sequence and is read back after all the others.

#![no_main]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mutt::wal::record::encode_into;
use mutt::wal::segment::{encode_header, file_name, HEADER_LEN};
use mutt::wal::{self, Appended, Record, RecordMeta, RecoveryReport, SyncPolicy, WalConfig};
use tempfile::TempDir;

const FIRST_SEQS: [u64; 3] = [1, 3, 100];
/// Records in the older segment when there is one.
const OLDER: u64 = 2;

fn dir() -> &'static TempDir {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let parent = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let b = tempfile::Builder::new()
            .prefix("mutt-fuzz-wal")
            .tempdir_in(parent);
        b.expect("temporary directory")
    })
}

fn config(dir: &Path) -> WalConfig {
    WalConfig {
        dir: dir.to_path_buf(),
        segment_size: 64 << 20,
        sync: SyncPolicy::Never,
        sync_interval: Duration::from_secs(3600),
        max_size: 1 << 30,
        keep_released: false,
    }
}

fn meta(i: u64) -> RecordMeta {
    RecordMeta {
        received_at_us: 1_700_000_000_000_000 + i as i64,
        source: SocketAddr::from(([192, 0, 2, (i % 250) as u8], 514)),
        transport: 1,
        listener: 1,
        flags: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_at_checked(6) else {
        return;
    };
    let flags = head[0];
    let dir = dir().path();
    for entry in std::fs::read_dir(dir).expect("read temp dir") {
        let _ = std::fs::remove_file(entry.expect("dir entry").path());
    }

    let mut first = FIRST_SEQS[usize::from(head[1]) % FIRST_SEQS.len()];
    let mut expected: Vec<(u64, Vec<u8>)> = Vec::new();
    if flags & 4 != 0 {
        // An older segment holding OLDER records, complete: the newest starts after it.
        let mut seg = encode_header(first).to_vec();
        for q in first..first + OLDER {
            encode_into(&mut seg, q, &meta(q), b"older segment");
            expected.push((q, b"older segment".to_vec()));
        }
        std::fs::write(dir.join(file_name(first)), &seg).expect("write older segment");
        first += OLDER;
    }

    let mut seg = encode_header(first).to_vec();
    if flags & 2 != 0 {
        seg[usize::from(head[1]) % HEADER_LEN] ^= 0x5a;
    }
    // (start, end, seq, payload) of the records written into the newest segment.
    let mut written = Vec::new();
    let (damage, keep) = if flags & 1 != 0 {
        seg.extend_from_slice(body);
        ((HEADER_LEN, seg.len()), seg.len())
    } else {
        let mut rest = body;
        let mut q = first;
        while let Some((&len, tail)) = rest.split_first() {
            if written.len() == 8 {
                break;
            }
            let len = usize::from(len).min(tail.len());
            let (payload, tail) = tail.split_at(len);
            rest = tail;
            let start = seg.len();
            encode_into(&mut seg, q, &meta(q), payload);
            written.push((start, seg.len(), q, payload.to_vec()));
            q += 1;
        }
        let at = HEADER_LEN
            + usize::from(u16::from_le_bytes([head[2], head[3]])) % (seg.len() - HEADER_LEN + 1);
        let len = usize::from(head[4]).min(seg.len() - at);
        let (mut lo, mut hi) = (usize::MAX, 0);
        for (k, x) in rest.iter().cycle().take(len).enumerate() {
            seg[at + k] ^= x;
            if *x != 0 {
                lo = lo.min(at + k);
                hi = hi.max(at + k + 1);
            }
        }
        let keep = seg.len() - usize::from(head[5]).min(seg.len() - HEADER_LEN);
        seg.truncate(keep);
        (if lo == usize::MAX { (0, 0) } else { (lo, hi) }, keep)
    };
    let newest = dir.join(file_name(first));
    std::fs::write(&newest, &seg).expect("write segment");

    let (report, records) = open_and_read(dir);
    check_order(&report, &records);

    // Undamaged records come back, unless the damage forged a valid record of its own (a CRC
    // made up by the XOR), which may legitimately hide later ones.
    let forged = records.iter().any(|r| {
        !expected.iter().any(|(q, p)| *q == r.seq && *p == r.payload)
            && !written
                .iter()
                .any(|(_, _, q, p)| *q == r.seq && *p == r.payload)
    });
    if !forged {
        let intact = |k: usize| {
            written.get(k).is_some_and(|(start, end, _, _)| {
                *end <= keep && (*end <= damage.0 || *start >= damage.1)
            })
        };
        for (k, (start, end, q, _)) in written.iter().enumerate() {
            // After damage a record is taken only once its successor confirms it (a lone last
            // record there is cut with the torn tail): claim only those.
            if intact(k) && (*end <= damage.0 || intact(k + 1)) {
                assert!(
                    records.iter().any(|r| r.seq == *q),
                    "intact record {q} at {start}..{end} lost (damage {damage:?}, kept {keep})"
                );
            }
        }
        for (q, _) in &expected {
            assert!(
                records.iter().any(|r| r.seq == *q),
                "older segment's record {q} lost"
            );
        }
    }
    let len_after = std::fs::metadata(&newest).map(|m| m.len()).unwrap_or(0);
    assert!(
        len_after as usize <= seg.len().max(HEADER_LEN),
        "recovery grew the segment"
    );

    // Idempotent: nothing more to cut, the same records.
    let (again, records2) = open_and_read(dir);
    assert_eq!(again.truncated_tail_bytes, 0, "second recovery cut more");
    assert_eq!(again.last_seq, report.last_seq);
    assert_eq!(records2, records);

    // A record appended after recovery follows everything that was there.
    {
        let (mut writer, _handle, r) = wal::open(&config(dir)).expect("open for writing");
        assert_eq!(r.last_seq, report.last_seq);
        let seq = match writer
            .append(&meta(0), b"appended after recovery")
            .expect("append")
        {
            Appended::Seq(s) => s,
            Appended::Full => panic!("WAL full"),
        };
        assert_eq!(seq, report.last_seq + 1);
        writer.flush().expect("flush");
    }
    let (after, records3) = open_and_read(dir);
    assert_eq!(after.last_seq, report.last_seq + 1);
    assert_eq!(after.truncated_tail_bytes, 0);
    let (last, old) = records3.split_last().expect("the appended record is read");
    assert_eq!(last.seq, report.last_seq + 1);
    assert_eq!(last.payload, b"appended after recovery");
    assert_eq!(old, &records[..], "appending changed what was read before");
});

fn open_and_read(dir: &Path) -> (RecoveryReport, Vec<Record>) {
    let (handle, report) = wal::open_offline(&config(dir)).expect("recovery of a fuzzed segment");
    let mut reader = handle.reader(0).expect("reader");
    let mut out = Vec::new();
    while reader.read_batch(64, &mut out).expect("read") > 0 {
        assert!(out.len() < 100_000, "reader does not stop");
    }
    (report, out)
}

fn check_order(report: &RecoveryReport, records: &[Record]) {
    let mut last = 0;
    for r in records {
        assert!(r.seq > last, "sequence {} after {last}", r.seq);
        assert!(
            r.seq <= report.last_seq,
            "read {} beyond the recovered last {}",
            r.seq,
            report.last_seq
        );
        last = r.seq;
    }
}
