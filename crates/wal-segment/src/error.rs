//! The one error type of the segment layer. Every variant names where it happened.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use wal_format::Lsn;

/// Everything that can go wrong with segment files. `Clone`, so a log that a failure poisoned
/// can name that failure to every later caller (the OS error is shared, not copied).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another handle, in this process or another, holds the directory's lock.
    #[error("log directory {dir} is locked by another open log")]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// The disk is full: a chunk could not be reserved, or a file could not be created or
    /// written (a segment, its index, the anchor). Nothing already written is affected, and
    /// the operation can be retried once space is freed.
    #[error("out of space: {op} {path} ({bytes} bytes)")]
    OutOfSpace {
        /// What was being done ("allocate", "create", "write", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Bytes requested (0 when the file system did not say, as for a creation).
        bytes: u64,
    },
    /// A write, map or sync failed. After a failed sync the writer is poisoned (see `Poisoned`).
    #[error("{op} {path}{}: {source}", chunk.map(|c| format!(", chunk {c}")).unwrap_or_default())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The chunk concerned, if any.
        chunk: Option<u32>,
        /// The OS error.
        source: Arc<io::Error>,
    },
    /// An earlier sync failed; the writer refuses everything, because a retried sync can report
    /// success after the data was lost. Reopening the log in the same boot reads the page cache,
    /// which may hold data the disk lost; the only state known to be on disk is what was
    /// acknowledged before the failure.
    #[error("segment {path} is poisoned by an earlier failure; reopen the log")]
    Poisoned {
        /// The segment file.
        path: PathBuf,
    },
    /// A reservation was dropped without being written: the records reserved after it can
    /// never be published, so the segment refuses everything until the log is reopened.
    #[error("an earlier reservation was abandoned unwritten; reopen the log")]
    Abandoned,
    /// A segment with a live writer in this process cannot be scanned, recovered or rewritten:
    /// a scan's views would alias the bytes the writer's reservations write.
    #[error("segment {path} has a live writer in this process; it cannot be scanned or recovered")]
    LiveWriter {
        /// The segment file.
        path: PathBuf,
    },
    /// A segment cannot be cut in place while handles on its chunks, or views of them, exist.
    #[error("segment {path} is being read; it cannot be cut in place")]
    InUse {
        /// The segment file.
        path: PathBuf,
    },
    /// A record larger than this log takes: `max` is the smaller of what one chunk holds
    /// ([`crate::SegmentOptions::max_payload_bytes`]) and the format's frame limit
    /// ([`wal_format::MAX_PAYLOAD_BYTES`]), less what the caller adds to the payload (`wal-core`
    /// reports a delta's own bytes and their limit). Nothing was written.
    #[error(
        "payload of {len} bytes is larger than the largest this log takes, {max} bytes ({limit})"
    )]
    RecordTooLarge {
        /// Payload length.
        len: usize,
        /// The largest payload this log takes (of this kind of record).
        max: usize,
        /// What sets `max`: the log's chunk size, or the format.
        limit: RecordLimit,
    },
    /// The segment has used all its chunks; the caller starts a new segment.
    #[error("segment {path} is full")]
    SegmentFull {
        /// The segment file.
        path: PathBuf,
    },
    /// A truncation point outside the segment's records.
    #[error(
        "cannot truncate before LSN {requested}: the segment holds LSNs {first} to below {next}"
    )]
    TruncateOutOfRange {
        /// The requested LSN.
        requested: Lsn,
        /// The segment's first LSN.
        first: Lsn,
        /// The LSN after its last record.
        next: Lsn,
    },
    /// Invalid options.
    #[error("invalid options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: &'static str,
    },
    /// A record was refused by the codec (a reserved tag, or no LSN left).
    #[error("record refused: {0}")]
    Format(#[from] wal_format::Error),
    /// A segment's chunk holds data that cannot be a torn write: a damaged chunk header, or a
    /// chunk of another version, segment or position.
    #[error("segment {path}, chunk {chunk}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// The chunk index.
        chunk: u32,
        /// What is wrong.
        reason: String,
    },
    /// A segment written with another layout than the options given: the segment is intact,
    /// and reads with `on_disk` (`wal-core` adopts it; this layer's callers choose).
    #[error("segment {path} was written with {field} = {on_disk}; the options say {requested}")]
    LayoutMismatch {
        /// The segment file.
        path: PathBuf,
        /// The option that differs, as [`crate::SegmentOptions`] names it (`chunk_bytes`).
        field: &'static str,
        /// What the segment's chunk header states.
        on_disk: u64,
        /// What the options asked for.
        requested: u64,
    },
    /// The first LSN in a segment is not the one the caller expected.
    #[error("segment {path} starts at LSN {found}, expected {expected}")]
    LsnGap {
        /// The segment file.
        path: PathBuf,
        /// Expected first LSN.
        expected: Lsn,
        /// Found first LSN.
        found: Lsn,
    },
}

impl Error {
    /// Wraps an OS error.
    /// The error of a failed `op` on `path`: `OutOfSpace` if the disk is full and the
    /// operation was not a sync (a full disk is then only a refusal: nothing is in doubt),
    /// `Io` otherwise. A sync that fails with `ENOSPC` stays an `Io` error: data it was to make
    /// durable may be lost, so it must poison, never pass for a harmless refusal.
    pub fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> Error {
        Error::io_sized(op, path, 0, source)
    }

    /// As [`Error::io`], for an operation that needed `bytes` of space.
    pub fn io_sized(
        op: &'static str,
        path: &std::path::Path,
        bytes: u64,
        source: io::Error,
    ) -> Error {
        if is_out_of_space(&source) && !is_sync(op) {
            return Error::OutOfSpace { op, path: path.to_owned(), bytes };
        }
        Error::Io { op, path: path.to_owned(), chunk: None, source: Arc::new(source) }
    }

    /// Adds the chunk to an `Io` error.
    pub(crate) fn in_chunk(self, index: u32) -> Error {
        match self {
            Error::Io { op, path, source, .. } => {
                Error::Io { op, path, chunk: Some(index), source }
            }
            other => other,
        }
    }
}

/// What sets the largest record a log takes (`RecordTooLarge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordLimit {
    /// What a chunk of `chunk_bytes` holds beside its header, a frame header and the room
    /// kept for a seal: chunks under 8 MiB.
    Chunk {
        /// The log's chunk size.
        chunk_bytes: usize,
    },
    /// The format's frame limit, [`wal_format::MAX_PAYLOAD_BYTES`]: chunks of 8 MiB and more.
    Format,
}

/// What a human reads: what sets the limit.
impl std::fmt::Display for RecordLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordLimit::Chunk { chunk_bytes } => write!(
                f,
                "what a chunk of {chunk_bytes} bytes holds beside its header, a frame header and \
                 the room kept for a seal"
            ),
            RecordLimit::Format => f.write_str("the format's limit: a frame is at most 4 MiB"),
        }
    }
}

/// Whether an OS error means the disk is full (or the user's quota is).
pub(crate) fn is_out_of_space(error: &io::Error) -> bool {
    let code = error.raw_os_error();
    code == Some(rustix::io::Errno::NOSPC.raw_os_error())
        || code == Some(rustix::io::Errno::DQUOT.raw_os_error())
        || error.kind() == io::ErrorKind::StorageFull
        || error.kind() == io::ErrorKind::QuotaExceeded
}

/// Whether `op` names a sync (`msync`, `sync ...`, `fdatasync`): its failure leaves data in
/// doubt, whatever the error.
fn is_sync(op: &str) -> bool {
    op.contains("sync")
}
