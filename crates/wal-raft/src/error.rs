//! What opening or using the store can fail with: the typed errors of `wal-raft`.

use std::path::PathBuf;

/// What opening or using the store can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log failed.
    #[error(transparent)]
    Wal(#[from] wal_core::Error),
    /// An I/O operation on the state file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Neither slot of the state file is whole: the vote cannot be trusted, so the store does
    /// not open.
    #[error("the state file {path} is damaged (neither slot is valid)")]
    StateDamaged {
        /// The file.
        path: PathBuf,
    },
    /// The state (vote, committed and purged log ids, encoded) does not fit in a slot.
    #[error("the encoded vote and log ids take {bytes} bytes, more than a state slot holds")]
    StateTooLarge {
        /// Their encoded size.
        bytes: usize,
    },
    /// A record or the state file holds bytes that do not decode as what was written there.
    #[error("undecodable {what} (at LSN {lsn}): {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The record's LSN (0 for the state file).
        lsn: u64,
        /// The decoder's error.
        source: postcard::Error,
    },
    /// The log does not hold what the store expects: an entry's index does not follow from its
    /// position, or an append does not continue the log.
    #[error("{0}")]
    Inconsistent(String),
}

impl From<Error> for std::io::Error {
    fn from(error: Error) -> std::io::Error {
        let kind = match &error {
            Error::Io { source, .. } => source.kind(),
            Error::Wal(wal) if wal.is_out_of_space() => std::io::ErrorKind::StorageFull,
            Error::Decode { .. } | Error::StateDamaged { .. } | Error::Inconsistent(_) => {
                std::io::ErrorKind::InvalidData
            }
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, error)
    }
}
