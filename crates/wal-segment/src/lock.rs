//! The directory lock: one open log per directory, across threads and processes.
//!
//! Why it matters beyond tidiness: a second writer would map and change the same files, and a
//! file truncated by another process under a live mapping kills the first one with SIGBUS.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::storage::Storage;

/// Holds a log directory's exclusive lock until dropped (or until the process dies).
#[derive(Debug)]
pub struct DirLock<S: Storage> {
    dir: PathBuf,
    _held: S::Lock,
}

impl<S: Storage> DirLock<S> {
    /// Creates `dir` if needed and takes its lock.
    ///
    /// # Errors
    /// `Locked` naming the directory if another handle holds it; `Io` otherwise.
    pub fn acquire(storage: &S, dir: &Path) -> Result<DirLock<S>, Error> {
        storage.create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        // A new log directory must itself survive a crash, or every segment in it could vanish.
        if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            storage.sync_dir(parent).map_err(|e| Error::io("sync directory", parent, e))?;
        }
        match storage.try_lock_dir(dir) {
            Ok(held) => Ok(DirLock { dir: dir.to_owned(), _held: held }),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                Err(Error::Locked { dir: dir.to_owned() })
            }
            Err(error) => Err(Error::io("lock", dir, error)),
        }
    }

    /// The locked directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
