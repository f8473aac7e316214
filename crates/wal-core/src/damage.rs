//! Where a log is damaged and how: the typed context of [`crate::Error::Damaged`], of the torn
//! tail recovery cut, and of what point-in-time recovery dropped. A caller matches on the kind
//! of damage instead of parsing a message; `Display` gives the message.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use wal_format::Lsn;
use wal_segment::{SegmentEnd, SegmentId};

/// Where a segment's readable data ended, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataEnd {
    /// The chunk where the data ends.
    pub chunk: u32,
    /// The offset in that chunk just after the last valid frame.
    pub offset: usize,
    /// Why it ends there.
    pub end: SegmentEnd,
}

/// A torn tail: the last segment's data ends in a write a crash interrupted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub path: PathBuf,
    /// Where its data ends.
    pub at: DataEnd,
}

/// What is wrong with a damaged file.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Damage {
    /// The segment layer found damage in the file: a chunk header, a frame under indexed
    /// records, a seal that does not match, a file cut short.
    #[error("{}", in_segment(.0))]
    Segment(Arc<wal_segment::Error>),
    /// A frame failed its checks when it was read.
    #[error("chunk {chunk} at offset {offset}: {error}")]
    Frame {
        /// The chunk.
        chunk: u32,
        /// The frame's offset in the chunk.
        offset: usize,
        /// The check it failed.
        error: wal_format::Error,
    },
    /// A torn tail, which `RecoveryMode::AbsoluteConsistency` does not tolerate.
    #[error("torn tail at {0}")]
    TornTail(TornTail),
    /// The segment's records end before the next segment begins: records are missing.
    #[error("its records end at LSN {end} ({at}), but the next segment starts at LSN {next}")]
    EndsBeforeNext {
        /// The LSN after its last record.
        end: Lsn,
        /// Where and why its data ends.
        at: DataEnd,
        /// The next segment's first LSN.
        next: Lsn,
    },
    /// The segment's first chunk header is unreadable, yet later segments hold records.
    #[error("its first chunk header is unreadable, yet later segments hold records")]
    EmptyBeforeNewer,
    /// No segment id is left for a new segment.
    #[error(
        "segment ids are exhausted (highest file id {highest:?}, anchor cut below segment \
         {below_segment})"
    )]
    IdsExhausted {
        /// The highest id of a file in the directory.
        highest: Option<SegmentId>,
        /// The segment the anchor's cut applies below.
        below_segment: SegmentId,
    },
}

/// A segment error's message without the file's name, which [`crate::Error::Damaged`] gives.
fn in_segment(error: &wal_segment::Error) -> String {
    match error {
        wal_segment::Error::Corrupt { chunk, reason, .. } => format!("chunk {chunk}: {reason}"),
        other => other.to_string(),
    }
}

impl fmt::Display for DataEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chunk {}, offset {}: {}", self.chunk, self.offset, self.end)
    }
}

/// Why a segment's data ends, in words (for the recovery report and its events; the
/// `Display` of [`DataEnd`] names the variant instead).
pub(crate) struct EndReason<'a>(pub(crate) &'a SegmentEnd);

impl fmt::Display for EndReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SegmentEnd::Unwritten => write!(f, "space never written"),
            SegmentEnd::UnstartedChunk => write!(f, "a chunk reserved but never started"),
            SegmentEnd::EndOfFile => write!(f, "the end of the file"),
            SegmentEnd::TornFrame(error) => write!(f, "a frame torn by a crash ({error})"),
            SegmentEnd::TornChunkHeader => write!(f, "a chunk header torn by a crash"),
            SegmentEnd::StaleChunk { found } => {
                write!(f, "a chunk never continued (its header names LSN {found})")
            }
        }
    }
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.at)
    }
}

impl PartialEq for Damage {
    /// Segment-layer damage compares by its message (the segment error holds I/O errors,
    /// which do not compare); every other kind by its fields.
    fn eq(&self, other: &Damage) -> bool {
        match (self, other) {
            (Damage::Segment(a), Damage::Segment(b)) => a.to_string() == b.to_string(),
            (
                Damage::Frame { chunk, offset, error },
                Damage::Frame { chunk: c, offset: o, error: e },
            ) => (chunk, offset, error) == (c, o, e),
            (Damage::TornTail(a), Damage::TornTail(b)) => a == b,
            (
                Damage::EndsBeforeNext { end, at, next },
                Damage::EndsBeforeNext { end: e, at: a, next: n },
            ) => (end, at, next) == (e, a, n),
            (Damage::EmptyBeforeNewer, Damage::EmptyBeforeNewer) => true,
            (
                Damage::IdsExhausted { highest, below_segment },
                Damage::IdsExhausted { highest: h, below_segment: b },
            ) => (highest, below_segment) == (h, b),
            _ => false,
        }
    }
}

impl Eq for Damage {}
