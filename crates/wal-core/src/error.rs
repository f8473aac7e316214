//! The engine's error type. Every variant says what happened and, where it can, where.

use std::path::PathBuf;

use wal_format::Lsn;

use crate::damage::Damage;

/// Everything that can go wrong with the log.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A segment-layer failure: I/O, a full disk, a locked directory, damage inside a segment.
    #[error(transparent)]
    Segment(#[from] wal_segment::Error),
    /// An earlier write or sync failed: the log refuses every write until it is reopened, since
    /// a retried sync can report success for data the disk already lost.
    #[error("the log is poisoned by an earlier failure ({cause}); reopen it")]
    Poisoned {
        /// The failure that poisoned it (the error its first caller got).
        #[source]
        cause: Box<Error>,
    },
    /// Records are missing before the log's first segment: the log starts at `start`, but
    /// the first segment, `path`, begins later.
    #[error("history missing: the log starts at LSN {start}, but its first segment {} starts at LSN {first}", path.display())]
    MissingHistory {
        /// The log's start (from the anchor).
        start: Lsn,
        /// The first segment file.
        path: PathBuf,
        /// Its first LSN.
        first: Lsn,
    },
    /// Damage found by a recovery mode that does not tolerate it, or by a read.
    #[error("damage in {path}: {damage}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What and where.
        damage: Damage,
    },
    /// A record whose frame is intact but whose payload does not have the shape its tag
    /// requires (a transaction record without its id).
    #[error("record {lsn} is malformed: {reason}")]
    Malformed {
        /// The record.
        lsn: Lsn,
        /// What is wrong.
        reason: &'static str,
    },
    /// An LSN outside the records the log holds.
    #[error("LSN {lsn} is outside the log, which holds {start} to below {end}")]
    OutOfRange {
        /// The LSN asked for.
        lsn: Lsn,
        /// The first LSN held.
        start: Lsn,
        /// The LSN after the last one written.
        end: Lsn,
    },
    /// A tag that `append` or `delta` does not take: they take user tags (and `append` also
    /// `Tag::ENTRY`).
    #[error("tag {tag:?} is not an application tag")]
    NotAnApplicationTag {
        /// The tag given.
        tag: wal_format::Tag,
    },
    /// The `Wal` was dropped: a transaction or reader that outlived it cannot write.
    #[error("the log was closed")]
    Closed,
    /// `truncate_after` removed records this reader had already returned: the log from `at`
    /// on is a different history. The reader continues from `at`.
    #[error("the log was truncated at LSN {at}, below records this reader returned")]
    Truncated {
        /// The first LSN that was cut.
        at: Lsn,
    },
    /// A forced prune moved the log's start past this transaction's begin record: it can never
    /// be replayed, so its deltas and its commit fail rather than be acknowledged.
    #[error("the transaction that began at LSN {begin} was pruned (the log now starts at {start})")]
    TransactionPruned {
        /// Its begin record.
        begin: Lsn,
        /// The log's start after the prune.
        start: Lsn,
    },
    /// `truncate_before` would remove the begin record of a transaction still open.
    #[error("LSN {lsn} is past the begin record (LSN {begin}) of an open transaction")]
    HeldByTransaction {
        /// The start asked for.
        lsn: Lsn,
        /// The oldest begin record an open transaction holds.
        begin: Lsn,
    },
    /// Invalid options.
    #[error("invalid options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: &'static str,
    },
    /// [`crate::Wal::open_existing`]: nothing is at `path`.
    #[error("no log at {}: the directory does not exist", path.display())]
    NotFound {
        /// The directory asked for.
        path: PathBuf,
    },
    /// `path`, or a directory above it, is a file: it cannot hold a log.
    #[error("{} is not a directory (a file is in the way): it cannot hold a log", path.display())]
    NotADirectory {
        /// The directory asked for.
        path: PathBuf,
    },
    /// [`crate::Wal::open_existing`]: the directory holds neither an anchor file nor a segment
    /// file. Nothing was created in it.
    #[error("{} holds no log (no anchor file and no segment file)", path.display())]
    NotALog {
        /// The directory.
        path: PathBuf,
    },
    /// The anchor file (the log's logical start) is unreadable in both copies.
    #[error("anchor file {path} is damaged in both copies")]
    AnchorDamaged {
        /// The file.
        path: PathBuf,
    },
}

impl Error {
    /// Whether the log is out of disk space (appends work again once space is freed).
    #[must_use]
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, Error::Segment(wal_segment::Error::OutOfSpace { .. }))
    }
}
