//! The directory lock: an exclusive `flock` on `dir/LOCK`, held for as long as the WAL is open.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::WalError;

/// Holds the lock until dropped (closing the file releases it).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Create `dir` if needed and lock it. `flock` locks belong to the open file description, so a
/// second `open` in the same process conflicts just like one in another process.
pub fn lock(dir: &Path) -> Result<DirLock, WalError> {
    let lock_path = dir.join("LOCK");
    std::fs::create_dir_all(dir).map_err(|source| WalError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(|source| WalError::Io {
            path: lock_path.clone(),
            source,
        })?;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(WalError::Locked {
                dir: dir.to_path_buf(),
                lock: lock_path,
            });
        }
        return Err(WalError::Io {
            path: lock_path,
            source: err,
        });
    }
    Ok(DirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        let first = lock(&wal_dir).unwrap();
        assert!(matches!(lock(&wal_dir), Err(WalError::Locked { .. })));
        drop(first);
        assert!(lock(&wal_dir).is_ok());
    }
}
