//! What can go wrong keeping a state durable.

use std::path::{Path, PathBuf};

use wal_core::Lsn;

/// An error of the snapshot layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log failed (its own error says how).
    #[error(transparent)]
    Wal(#[from] wal_core::Error),
    /// A snapshot file could not be written, read, renamed or deleted.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Recovery needs records the log no longer holds: nothing was rebuilt.
    #[error(
        "history is missing: recovery needs the log from LSN {needed} ({}), but it starts at \
         LSN {start}{}",
        from.as_ref().map_or_else(|| "no usable snapshot".to_owned(), |p| format!("for snapshot {}", p.display())),
        if skipped.is_empty() { String::new() } else { format!("; damaged snapshots skipped: {}", skipped.join("; ")) }
    )]
    MissingHistory {
        /// The first LSN recovery needs.
        needed: Lsn,
        /// The first LSN the log holds.
        start: Lsn,
        /// The snapshot that needs it (`None`: replay from the beginning).
        from: Option<PathBuf>,
        /// Newer snapshots that failed their checks, with why.
        skipped: Vec<String>,
    },
    /// A snapshot covers records the log does not hold: the log lost synced records, or the
    /// snapshot belongs to another log.
    #[error(
        "snapshot {} covers the log up to LSN {next_lsn}, but the log ends at LSN {log_end}",
        path.display()
    )]
    AheadOfLog {
        /// The snapshot.
        path: PathBuf,
        /// The point it covers.
        next_lsn: Lsn,
        /// Where the log ends.
        log_end: Lsn,
    },
    /// A snapshot passed its checksum but the state machine could not read it (a body of
    /// another version of the state).
    #[error("snapshot {} could not be restored: {source}", path.display())]
    Restore {
        /// The snapshot.
        path: PathBuf,
        /// The state machine's error.
        #[source]
        source: std::io::Error,
    },
    /// The state machine panicked while applying a unit, so the live state may hold part of
    /// it. Nothing more is executed or checkpointed: reopen to rebuild the state from the log.
    #[error(
        "the state machine panicked while applying a unit; reopen to rebuild the state from the log"
    )]
    StatePoisoned,
    /// An option is out of range.
    #[error("invalid option: {reason}")]
    InvalidOptions {
        /// Which rule was broken.
        reason: &'static str,
    },
}

pub(crate) fn io_error(op: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io { op, path: path.to_owned(), source }
}
