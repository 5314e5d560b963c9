//! The directory lock: one kubepki run at a time on a certificate directory.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::{create_dir, exists};
use crate::pki::error::{Error, Result};

/// An exclusive lock on a certificate directory, held until dropped: `flock(2)` on the
/// directory itself, so that locking leaves no file behind. A second run finds the holder's pid
/// in /proc/locks.
#[derive(Debug)]
pub struct Lock {
    _dir: File,
    /// The directory was created to be locked; it is removed again if it is still empty.
    created: Option<PathBuf>,
}

impl Lock {
    /// Takes the lock, waiting up to `wait` for another run to release it. The directory is
    /// created if it does not exist (so that two first runs on it are serialised too).
    pub fn acquire(dir: &Path, wait: std::time::Duration) -> Result<Lock> {
        let created = (!exists(dir)).then(|| dir.to_path_buf());
        create_dir(dir)?;
        let handle = File::open(dir).map_err(|e| Error::io(dir, "open", e))?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            match handle.try_lock() {
                Ok(()) => {
                    return Ok(Lock {
                        _dir: handle,
                        created,
                    });
                }
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    let holder =
                        lock_holder(&handle).map_or("unknown".to_string(), |p| p.to_string());
                    return Err(Error::Locked {
                        path: dir.to_path_buf(),
                        message: format!(
                            "another kubepki run (pid {holder}) holds the lock on this directory; \
                             waited {} s",
                            wait.as_secs()
                        ),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(dir, "lock", e)),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(dir) = &self.created {
            // Only succeeds when the run wrote nothing: a refused run leaves no directory.
            let _ = fs::remove_dir(dir);
        }
    }
}

/// The pid holding a flock on `file`, from /proc/locks (lines like
/// `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF`).
fn lock_holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let inode = file.metadata().ok()?.ino();
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pid, id) = (fields.get(4)?, fields.get(5)?);
        let ino: u64 = id.rsplit(':').next()?.parse().ok()?;
        (fields.get(1) == Some(&"FLOCK") && ino == inode).then(|| pid.parse().ok())?
    })
}
