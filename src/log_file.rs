//! `daemon.log_file`: the log appended to disk, rotated by size with the `file-rotate` crate.
//!
//! Past `daemon.log_max_size_mb` the file is renamed `mutt.log.1` (`.1` becomes `.2`, and so on,
//! the names logrotate uses) and a new one is started; at most `daemon.log_keep` rotated files
//! are kept. Rotation happens between two writes and each log line is one write, so no line is
//! cut. Files are created mode 0600: they hold what the network said.
//!
//! Why a wrapper: file-rotate panics (asserts, `unwrap`) when the directory changes under it —
//! a `mutt.log.1` made by someone else between two rotations (an external logrotate rule), a
//! directory that cannot be listed. A log line must never take down the thread that wrote it
//! (ingest, the writer), so [`LogFile`] catches such a panic, starts afresh from what is on
//! disk, and reports the lost line as an I/O error, which the subscriber drops.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};

/// The log file; `Write` for the tracing subscriber (behind its `Mutex`).
pub struct LogFile {
    path: PathBuf,
    max_bytes: Option<u64>,
    keep: usize,
    inner: Inner,
}

enum Inner {
    /// `log_max_size_mb: 0`: appended, never rotated here.
    Plain(File),
    Rotating(FileRotate<AppendCount>),
}

impl LogFile {
    /// Open (creating it and its directory) `path` for appending, rotated past `max_bytes`
    /// (None: never) keeping `keep` old files.
    pub fn open(path: &Path, max_bytes: Option<u64>, keep: usize) -> io::Result<LogFile> {
        // file-rotate lists the directory by an absolute path; relative ones resolve here once.
        let path = std::path::absolute(path)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let inner = open_inner(&path, max_bytes, keep)?;
        Ok(LogFile {
            path,
            max_bytes,
            keep,
            inner,
        })
    }
}

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.create(true).append(true).mode(0o600);
    o
}

fn open_inner(path: &Path, max_bytes: Option<u64>, keep: usize) -> io::Result<Inner> {
    let Some(max) = max_bytes else {
        return options().open(path).map(Inner::Plain);
    };
    // The file must open now, so a bad path is an error at start-up, not a silent log.
    drop(options().open(path)?);
    let limit = ContentLimit::BytesSurpassed(usize::try_from(max).unwrap_or(usize::MAX).max(1));
    catch_unwind(|| {
        FileRotate::new(
            path,
            AppendCount::new(keep),
            limit,
            Compression::None,
            Some(options()),
        )
    })
    .map(Inner::Rotating)
    .map_err(|_| io::Error::other(format!("{}: log rotation cannot start", path.display())))
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let rotating = match &mut self.inner {
            Inner::Plain(f) => return f.write(buf),
            Inner::Rotating(r) => r,
        };
        match catch_unwind(AssertUnwindSafe(|| rotating.write(buf))) {
            Ok(result) => result,
            Err(_) => {
                // Start again from the directory as it is now; this line is lost.
                if let Ok(fresh) = open_inner(&self.path, self.max_bytes, self.keep) {
                    self.inner = fresh;
                }
                Err(io::Error::other(
                    "log rotation failed; the log file was reopened",
                ))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(f) => f.flush(),
            Inner::Rotating(r) => catch_unwind(AssertUnwindSafe(|| r.flush()))
                .unwrap_or_else(|_| Err(io::Error::other("log file flush failed"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn past_the_size_the_file_rotates_whole_lines_and_keeps_only_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/mutt.log");
        let mut log = LogFile::open(&path, Some(1000), 2).unwrap();
        for i in 0..200 {
            log.write_all(format!("line {i:04} {}\n", "x".repeat(40)).as_bytes())
                .unwrap();
        }
        let logs = dir.path().join("logs");
        assert_eq!(names(&logs), ["mutt.log", "mutt.log.1", "mutt.log.2"]);
        for name in names(&logs) {
            let p = logs.join(&name);
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.len() <= 1000 + 51, "{name}: {} bytes", text.len());
            assert!(
                text.lines().all(|l| l.len() == 50),
                "{name}: a line was cut"
            );
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.ends_with(&format!("line 0199 {}\n", "x".repeat(40))));
    }

    #[test]
    fn a_rotated_name_taken_behind_its_back_costs_a_line_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mutt.log");
        let mut log = LogFile::open(&path, Some(100), 3).unwrap();
        log.write_all(&[b'a'; 150]).unwrap();
        // Someone else rotates: mutt.log.1 appears where file-rotate does not expect one.
        std::fs::write(dir.path().join("mutt.log.1"), "theirs").unwrap();
        let mut failed = 0;
        for _ in 0..5 {
            failed += usize::from(log.write_all(&[b'b'; 150]).is_err());
        }
        assert!(failed <= 1, "{failed} lines lost");
        assert!(names(dir.path()).len() <= 4, "{:?}", names(dir.path()));
        assert!(std::fs::read_to_string(&path).unwrap().contains('b'));
    }

    #[test]
    fn size_zero_only_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mutt.log");
        std::fs::write(&path, "before\n").unwrap();
        let mut log = LogFile::open(&path, None, 5).unwrap();
        for _ in 0..100 {
            log.write_all(b"0123456789\n").unwrap();
        }
        assert_eq!(names(dir.path()), ["mutt.log"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().len(), 7 + 1100);
    }
}
