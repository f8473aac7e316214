//! How a log is opened: layout, durability, recovery, and pruning.

use std::path::Path;
use std::time::Duration;

use wal_segment::{ChunkPreparation, SegmentOptions, SpaceFill};
use wal_telemetry::LeakThresholds;

use crate::error::Error;

/// When an acknowledged write is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Writes go to the page cache; the OS writes them back when it likes. [`crate::Wal::sync`]
    /// makes everything durable on request. A crash can lose any suffix of what was written.
    Buffered,
    /// A background thread syncs every `interval`: a crash loses at most about that much.
    Periodic {
        /// Time between syncs.
        interval: Duration,
    },
    /// A commit (and a self-contained [`crate::Wal::append`]) returns only once it is durable.
    /// Concurrent commits share syncs (group commit).
    #[default]
    Commit,
}

/// What recovery does with damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// A torn tail of the last segment (what a crash leaves) is cut back to the last complete
    /// record; transactions it left unfinished are closed with an abort. Damage anywhere else
    /// is an error.
    #[default]
    TolerateTornTail,
    /// Any damage, a torn tail included, is an error, and the log does not open. (Opening may
    /// still rebuild a stale sidecar index, which holds no data.)
    AbsoluteConsistency,
    /// Recovery stops at the first damage, keeps everything before it, deletes what follows,
    /// and reports what was dropped.
    PointInTime,
}

/// Options for [`crate::Wal::open`]. Start from `Options::default()` and set fields with the
/// `with_` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Bytes per mapped chunk of a new log: a power of two from 64 KiB to 1 GiB (16 MiB by
    /// default). An existing log keeps the size it was written with ([`crate::Wal::open`]).
    /// The largest record is `chunk_bytes` - 136 bytes, or the format's limit of 4 MiB - 24
    /// bytes from 8 MiB chunks up ([`crate::Wal::max_record_bytes`]).
    pub chunk_bytes: usize,
    /// Chunks per new segment file (4 by default); segments are the unit of deletion. Nothing
    /// on disk records it: each existing segment is read for as many chunks as its file has.
    pub chunks_per_segment: u32,
    /// When writes become durable.
    pub durability: Durability,
    /// What recovery does with damage.
    pub recovery: RecoveryMode,
    /// Prune whole segments, oldest first, once the log holds more than this many bytes, but
    /// never below the retention floor ([`crate::Wal::set_retention_floor`]). `None`: never.
    pub size_limit_bytes: Option<u64>,
    /// Prepare the next chunk on a background thread (default) or in the appending thread.
    pub preparation: ChunkPreparation,
    /// How a chunk's space is made ready. `None` (default): by durability, `Reserved` under
    /// `Commit` (small page-cache folios: a commit's `msync` writes only its pages), `Zeroed`
    /// under `Buffered` and `Periodic` (cheaper preparation and write-back). Set `Reserved`
    /// for a `Buffered` log synced often by hand (`Wal::sync_below` per small batch).
    pub space_fill: Option<SpaceFill>,
    /// Register every reader, tailing reader and transaction with its creation site and age
    /// (default). Off, they are neither counted nor named in leak warnings.
    pub track_handles: bool,
    /// When a handle's age or the bytes held back deserve a warning.
    pub leak_thresholds: LeakThresholds,
    /// How often the housekeeping thread exports metrics, checks for leaks and deletes the
    /// files of released segments (1 s by default; it also wakes on every release). `None`:
    /// no thread; call [`crate::Wal::housekeep`] yourself.
    pub housekeeping: Option<Duration>,
    /// How many syncs the group commit may run at once (at least 1; default
    /// [`DEFAULT_SYNCS_IN_FLIGHT`]). Above 1, the next sync starts as soon as the previous one
    /// is planned, on the range published since. Measured on ext4 over a virtual disk with
    /// small records, overlapping syncs were slower (consecutive ranges share a page, so the
    /// second sync waits for the first one's write of it and writes it again:
    /// `docs/PERFORMANCE.md`); a disk that serves concurrent syncs in parallel, with records of
    /// a page or more, may gain from 2.
    pub syncs_in_flight: usize,
    /// The value of the `log` label on every metric this log exports, so that two logs in one
    /// process are two series. `None` (default): the directory as given to [`crate::Wal::open`]
    /// (`dir.display()`), stable across reopens as long as the path is written the same way. A
    /// name is `'static` to keep `Options` `Copy`; for names made at run time, leave it `None`.
    /// Two logs given the same name share their series, each export overwriting the other's.
    pub metrics_label: Option<&'static str>,
}

/// The default of [`Options::syncs_in_flight`].
pub const DEFAULT_SYNCS_IN_FLIGHT: usize = 1;

impl Default for Options {
    fn default() -> Self {
        let segment = SegmentOptions::default();
        Options {
            chunk_bytes: segment.chunk_bytes,
            chunks_per_segment: segment.chunks_per_segment,
            durability: Durability::default(),
            recovery: RecoveryMode::default(),
            size_limit_bytes: None,
            preparation: segment.preparation,
            space_fill: None,
            track_handles: true,
            leak_thresholds: LeakThresholds::default(),
            housekeeping: Some(Duration::from_secs(1)),
            syncs_in_flight: DEFAULT_SYNCS_IN_FLIGHT,
            metrics_label: None,
        }
    }
}

impl Options {
    /// Sets [`Options::chunk_bytes`].
    #[must_use]
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes;
        self
    }

    /// Sets [`Options::chunks_per_segment`].
    #[must_use]
    pub fn with_chunks_per_segment(mut self, chunks: u32) -> Self {
        self.chunks_per_segment = chunks;
        self
    }

    /// Sets [`Options::durability`].
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets [`Options::recovery`].
    #[must_use]
    pub fn with_recovery(mut self, mode: RecoveryMode) -> Self {
        self.recovery = mode;
        self
    }

    /// Sets [`Options::size_limit_bytes`].
    #[must_use]
    pub fn with_size_limit_bytes(mut self, bytes: Option<u64>) -> Self {
        self.size_limit_bytes = bytes;
        self
    }

    /// Sets [`Options::preparation`].
    #[must_use]
    pub fn with_preparation(mut self, preparation: ChunkPreparation) -> Self {
        self.preparation = preparation;
        self
    }

    /// Sets [`Options::space_fill`].
    #[must_use]
    pub fn with_space_fill(mut self, fill: Option<SpaceFill>) -> Self {
        self.space_fill = fill;
        self
    }

    /// Sets [`Options::track_handles`].
    #[must_use]
    pub fn with_track_handles(mut self, track: bool) -> Self {
        self.track_handles = track;
        self
    }

    /// Sets [`Options::leak_thresholds`].
    #[must_use]
    pub fn with_leak_thresholds(mut self, thresholds: LeakThresholds) -> Self {
        self.leak_thresholds = thresholds;
        self
    }

    /// Sets [`Options::housekeeping`].
    #[must_use]
    pub fn with_housekeeping(mut self, interval: Option<Duration>) -> Self {
        self.housekeeping = interval;
        self
    }

    /// Sets [`Options::syncs_in_flight`].
    #[must_use]
    pub fn with_syncs_in_flight(mut self, syncs: usize) -> Self {
        self.syncs_in_flight = syncs;
        self
    }

    /// Sets [`Options::metrics_label`].
    #[must_use]
    pub fn with_metrics_label(mut self, label: Option<&'static str>) -> Self {
        self.metrics_label = label;
        self
    }

    /// The `log` label of the metrics of the log in `dir`.
    pub(crate) fn metrics_label_for(&self, dir: &Path) -> String {
        self.metrics_label.map_or_else(|| dir.display().to_string(), str::to_owned)
    }

    /// The segment layer's view of these options.
    pub(crate) fn segment(&self) -> SegmentOptions {
        SegmentOptions {
            chunk_bytes: self.chunk_bytes,
            chunks_per_segment: self.chunks_per_segment,
            preparation: self.preparation,
            space_fill: self.space_fill.unwrap_or(match self.durability {
                Durability::Commit => SpaceFill::Reserved,
                Durability::Buffered | Durability::Periodic { .. } => SpaceFill::Zeroed,
            }),
        }
    }

    /// The largest payload of a self-contained record in a log of these options.
    pub(crate) fn max_record_bytes(&self) -> usize {
        self.segment().max_payload_bytes()
    }

    /// The largest payload of a delta in a log of these options: the record's, less the bytes
    /// a delta adds.
    pub(crate) fn max_delta_bytes(&self) -> usize {
        self.max_record_bytes() - crate::entry::DELTA_PREFIX_BYTES
    }

    /// [`Options::max_delta_bytes`] and what sets it, for a `RecordTooLarge` error.
    pub(crate) fn delta_limit(&self) -> (usize, wal_segment::RecordLimit) {
        (self.max_delta_bytes(), self.segment().record_limit())
    }

    /// Checks every option.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        self.segment().validate()?;
        if let Durability::Periodic { interval } = self.durability
            && interval.is_zero()
        {
            return Err(Error::InvalidOptions { reason: "a periodic sync interval must be > 0" });
        }
        if self.syncs_in_flight == 0 {
            return Err(Error::InvalidOptions { reason: "syncs in flight must be at least 1" });
        }
        if self.housekeeping.is_some_and(|interval| interval.is_zero()) {
            return Err(Error::InvalidOptions { reason: "a housekeeping interval must be > 0" });
        }
        if self.metrics_label == Some("") {
            // Prometheus reads an empty label as no label: the logs' series would merge.
            return Err(Error::InvalidOptions { reason: "a metrics label must not be empty" });
        }
        Ok(())
    }
}
