//! The archive directory: its lock, archive files written under a temporary name and published
//! durably without ever overwriting, their manifests, and the scan for leftovers of a crash.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ArchiveError;

/// Suffix of a file being written; such a file is never part of an archive.
pub const TEMP_SUFFIX: &str = ".tmp";
/// Suffix of an archive file (JSON lines, uncompressed).
pub const DATA_SUFFIX: &str = ".jsonl";
/// Suffix of the manifest beside `NAME.jsonl`: `NAME.jsonl.manifest.json`.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An exclusive `flock` on `dir/.lock`, held for the run: a second `mutt archive` on the same
/// directory would take the first one's unrecorded files for a crash's leftovers.
pub struct DirLock {
    _file: File,
}

pub fn lock(dir: &Path) -> Result<DirLock, ArchiveError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(ArchiveError::Locked(dir.to_path_buf()));
    }
    Ok(DirLock { _file: file })
}

/// What the manifest beside an archive file says, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub file: String,
    pub format: String,
    pub compression: String,
    /// How `raw_bytes` (a BLOB) is written in each line.
    pub raw_bytes_encoding: String,
    pub message_type: String,
    pub rows: u64,
    pub size_bytes: u64,
    pub sha256: String,
    pub first_received_at: String,
    pub last_received_at: String,
    pub first_id: String,
    pub last_id: String,
}

/// An archive file being written under a temporary name, hashed as it goes.
pub struct TempFile {
    path: PathBuf,
    out: BufWriter<File>,
    hash: Sha256,
    size: u64,
}

impl TempFile {
    pub fn create(dir: &Path, kind: &str) -> Result<TempFile, ArchiveError> {
        let path = dir.join(format!(
            ".{kind}-{}{DATA_SUFFIX}{TEMP_SUFFIX}",
            uuid::Uuid::now_v7().simple()
        ));
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok(TempFile {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            size: 0,
        })
    }

    pub fn write_line(&mut self, line: &[u8]) -> Result<(), ArchiveError> {
        self.hash.update(line);
        self.hash.update(b"\n");
        self.size += line.len() as u64 + 1;
        let path = &self.path;
        self.out.write_all(line).map_err(io(path))?;
        self.out.write_all(b"\n").map_err(io(path))
    }

    /// Flush and fsync; returns the temporary path, the size and the hex SHA-256.
    pub fn finish(self) -> Result<(PathBuf, u64, String), ArchiveError> {
        let TempFile {
            path,
            out,
            hash,
            size,
        } = self;
        let file = out.into_inner().map_err(|e| io(&path)(e.into_error()))?;
        file.sync_all().map_err(io(&path))?;
        Ok((path, size, crate::hex::encode(&hash.finalize())))
    }
}

/// Give the fsynced temporary file `temp` its name `stem.jsonl` (else `stem-2.jsonl`, …; an
/// existing file is never replaced: `link` fails where `rename` would overwrite), write its
/// manifest the same way, remove the temporary names and fsync the directory. Returns the
/// archive file's name. A crash anywhere in here leaves only temporary files or files that no
/// `archives` row names, both removed by the next run.
pub fn publish(
    dir: &Path,
    temp: &Path,
    stem: &str,
    manifest: &mut Manifest,
) -> Result<String, ArchiveError> {
    let mut n = 1;
    let name = loop {
        let name = if n == 1 {
            format!("{stem}{DATA_SUFFIX}")
        } else {
            format!("{stem}-{n}{DATA_SUFFIX}")
        };
        let target = dir.join(&name);
        match std::fs::hard_link(temp, &target) {
            Ok(()) => break name,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(io(&target)(e)),
        }
    };
    manifest.file = name.clone();
    let manifest_temp = dir.join(format!(".{name}{MANIFEST_SUFFIX}{TEMP_SUFFIX}"));
    let text = serde_json::to_vec_pretty(manifest).map_err(ArchiveError::Json)?;
    let mut file = File::create(&manifest_temp).map_err(io(&manifest_temp))?;
    file.write_all(&text).map_err(io(&manifest_temp))?;
    file.sync_all().map_err(io(&manifest_temp))?;
    let manifest_path = dir.join(format!("{name}{MANIFEST_SUFFIX}"));
    std::fs::rename(&manifest_temp, &manifest_path).map_err(io(&manifest_path))?;
    std::fs::remove_file(temp).map_err(io(temp))?;
    sync_dir(dir)?;
    Ok(name)
}

pub fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// What a directory holds besides its lock: temporary files, and archive files with their
/// manifests by the archive file's name.
#[derive(Debug, Default)]
pub struct Listing {
    pub temps: Vec<PathBuf>,
    /// Archive file names (`NAME.jsonl`), whether the file or only its manifest is present.
    pub archives: Vec<String>,
}

pub fn list(dir: &Path) -> Result<Listing, ArchiveError> {
    let mut listing = Listing::default();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.ends_with(TEMP_SUFFIX) {
            listing.temps.push(entry.path());
        } else if let Some(data) = name.strip_suffix(MANIFEST_SUFFIX) {
            if !listing.archives.iter().any(|a| a == data) {
                listing.archives.push(data.to_string());
            }
        } else if name.ends_with(DATA_SUFFIX) && !listing.archives.contains(&name) {
            listing.archives.push(name);
        }
    }
    listing.archives.sort();
    Ok(listing)
}

/// Remove an archive file and its manifest (either may be missing).
pub fn remove_archive(dir: &Path, name: &str) -> Result<(), ArchiveError> {
    for path in [dir.join(name), dir.join(format!("{name}{MANIFEST_SUFFIX}"))] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(())
}

/// `2026-11-27T03:43:02.123456Z` as `20261127T034302.123456Z`: a file name with no colons.
pub fn compact_time(iso: &str) -> String {
    iso.chars().filter(|c| *c != '-' && *c != ':').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            file: String::new(),
            format: "jsonl".into(),
            compression: "none".into(),
            raw_bytes_encoding: "hex".into(),
            message_type: "syslog".into(),
            rows: 1,
            size_bytes: 3,
            sha256: String::new(),
            first_received_at: String::new(),
            last_received_at: String::new(),
            first_id: String::new(),
            last_id: String::new(),
        }
    }

    #[test]
    fn publishing_under_a_taken_name_picks_the_next_and_leaves_the_first_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        for text in [b"{1}", b"{2}"] {
            let mut t = TempFile::create(dir.path(), "syslog").expect("temp");
            t.write_line(text).expect("write");
            let (temp, _, _) = t.finish().expect("finish");
            publish(dir.path(), &temp, "syslog-a-b", &mut manifest()).expect("publish");
        }
        assert_eq!(
            std::fs::read(dir.path().join("syslog-a-b.jsonl")).expect("first"),
            b"{1}\n"
        );
        assert_eq!(
            std::fs::read(dir.path().join("syslog-a-b-2.jsonl")).expect("second"),
            b"{2}\n"
        );
        let listing = list(dir.path()).expect("list");
        assert!(listing.temps.is_empty());
        assert_eq!(listing.archives, ["syslog-a-b-2.jsonl", "syslog-a-b.jsonl"]);
    }

    #[test]
    fn a_time_becomes_a_name_without_colons() {
        assert_eq!(
            compact_time("2026-11-27T03:43:02.123456Z"),
            "20261127T034302.123456Z"
        );
    }
}
