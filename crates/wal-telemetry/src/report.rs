//! The plain snapshot of a log's telemetry, for users who run no metrics recorder.

use std::time::Duration;

use crate::kind::Kind;
use crate::life::LedgerCounts;
use crate::registry::{KindCounts, LiveHandle};

/// Everything the log knows about its handles, mappings and work, at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Telemetry {
    /// Per kind of handle, in the order of [`Kind::ALL`].
    pub handles: Vec<(Kind, KindCounts)>,
    /// Zero-copy payload views alive (`Bytes` of mapped chunks, a reader's scan included).
    /// They are counted per chunk through the mapping's reference count, not registered one
    /// by one: registering every record read would cost more than reading it.
    pub payload_views: u64,
    /// Chunk mappings and held-back segments.
    pub chunks: LedgerCounts,
    /// Segments retired but still held, oldest first.
    pub held_back: Vec<HeldBack>,
    /// Leak warnings emitted since the log was opened.
    pub leak_warnings: u64,
    /// What the engine did.
    pub engine: EngineFigures,
}

impl Telemetry {
    /// The counts of one kind of handle.
    #[must_use]
    pub fn kind(&self, kind: Kind) -> KindCounts {
        self.handles.iter().find(|(k, _)| *k == kind).map(|(_, c)| c.clone()).unwrap_or_default()
    }
}

/// A segment the log retired whose file stays because handles still view its chunks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeldBack {
    /// The segment's id.
    pub segment: u64,
    /// Bytes of its file.
    pub bytes: u64,
    /// Its chunk mappings still alive.
    pub chunks_mapped: u64,
    /// How long since it was retired.
    pub held_for: Duration,
    /// The registered handles viewing it. Empty when only payload views (or handles beyond
    /// the registry's capacity) hold it.
    pub holders: Vec<LiveHandle>,
}

/// The engine's own figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineFigures {
    /// Records appended (transaction markers included).
    pub records: u64,
    /// Payload bytes appended.
    pub bytes: u64,
    /// Syncs run.
    pub syncs: u64,
    /// Time spent in syncs.
    pub sync_time: Duration,
    /// Syncs run on behalf of waiting committers.
    pub group_syncs: u64,
    /// Committers served by those syncs, summed.
    pub group_waiters: u64,
    /// Segments sealed and replaced.
    pub segments_rolled: u64,
    /// Segments in the log now, the active one included (not the retired ones held back).
    pub segments: u64,
    /// Bytes of those segments' files, as the log's size limit counts them.
    pub segment_bytes: u64,
    /// The LSN the next record will get.
    pub next_lsn: u64,
    /// Every record below this LSN is durable.
    pub durable_lsn: u64,
    /// Whether a failed write or sync poisoned the log (it refuses writes until reopened).
    pub poisoned: bool,
    /// What opening the log recovered.
    pub recovery: RecoveryFigures,
}

/// What the last recovery did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryFigures {
    /// Segments opened.
    pub segments: u64,
    /// Records found.
    pub records: u64,
    /// How long it took.
    pub elapsed: Duration,
}
