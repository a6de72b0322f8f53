//! The run lock: one run at a time per state directory.
//!
//! An OS file lock (`File::try_lock`) on `<state.dir>/crmsync.lock`. The OS releases it when the
//! holder exits, even by SIGKILL, so a lock left by a dead process never blocks the next run.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A held run lock; released on drop.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("another crmsync run holds the lock {path}{holder}; try again when it has finished")]
    Held {
        /// Lock file.
        path: PathBuf,
        /// `" (pid N)"` when known.
        holder: String,
    },
    /// The lock file could not be opened.
    // The reason is printed, not also returned as the source (it would print twice).
    #[error("cannot open the run lock {path}: {reason}")]
    Io {
        /// Lock file.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
    },
}

impl RunLock {
    /// Takes the lock in `state_dir` without waiting.
    pub fn acquire(state_dir: &Path) -> Result<RunLock, LockError> {
        let path = state_dir.join("crmsync.lock");
        let io = |reason| LockError::Io {
            path: path.clone(),
            reason,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default();
                return Err(LockError::Held { path, holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Best effort: the pid helps a human; the lock itself is the OS lock.
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(RunLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(err.to_string().contains("another crmsync run"));
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }
}
