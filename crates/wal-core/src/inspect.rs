//! Looking at a log without changing it: what recovery would find, judged from the bytes of
//! its files, read through [`Storage::read`] (opened for reading only). Nothing is locked,
//! created, mapped, synced, cut or rewritten, so a tool (the `wal` command) can look at a log
//! another process is writing, or at a copy someone sent, and leave it exactly as it was.
//!
//! One segment is read at a time ([`Inspector::segment`]), so memory stays at one segment file
//! whatever the log's length.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use wal_format::{Lsn, Tag};
use wal_segment::SegmentId;
use wal_segment::{
    RealStorage, SegmentOptions, Storage, check_segment_bytes, index_entry_count, index_file_name,
    segment_file_name, segment_id_of, segment_layout,
};

pub use wal_segment::{IndexStatus, SegmentCheck, SegmentEnd, SegmentRecord, SegmentScan};

use crate::anchor::{self, ANCHOR_FILE_NAME};
use crate::entry::{Entry, interpret};
use crate::error::Error;

/// What the anchor file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnchorState {
    /// No anchor file: a log that was never opened, or not a log.
    Missing,
    /// Neither of its slots is valid.
    Damaged,
    /// The log's start, and its latest tail cut: segments with an id below `cut_below_segment`
    /// hold no record at or after `cut_at` (0: no cut).
    Found {
        /// Records before it were truncated or pruned.
        start: Lsn,
        /// Segments below this id were cut at `cut_at`.
        cut_below_segment: SegmentId,
        /// Where the latest tail cut is.
        cut_at: Lsn,
    },
}

/// A log directory, listed.
#[derive(Debug)]
pub struct Inspector<S: Storage = RealStorage> {
    storage: S,
    dir: PathBuf,
    anchor: AnchorState,
    segments: Vec<SegmentId>,
}

/// Where a record lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The segment's id (its file is `segment_file_name(segment)`).
    pub segment: SegmentId,
    /// The chunk within the segment.
    pub chunk: u32,
    /// The frame's offset within the chunk.
    pub offset: usize,
}

/// One segment as recovery would find it.
#[derive(Debug)]
pub struct InspectedSegment {
    /// Its id.
    pub id: SegmentId,
    /// Its file.
    pub path: PathBuf,
    /// The file's length.
    pub file_bytes: u64,
    /// Whether its sidecar index file exists.
    pub index_present: bool,
    /// The chunk size its first chunk header states, if that header is readable.
    pub chunk_bytes: Option<usize>,
    /// What its bytes hold.
    pub outcome: SegmentOutcome,
}

/// What a segment's bytes hold.
#[derive(Debug)]
#[non_exhaustive]
pub enum SegmentOutcome {
    /// The first chunk header was never written (or was torn before any record was durable)
    /// and the index lists nothing: a segment that holds no record.
    Empty,
    /// Read and judged: its records, index and seal status, and any damage.
    Checked(SegmentCheck),
    /// No prefix of it can be read: damage where recovery would refuse the log.
    Unreadable(wal_segment::Error),
}

impl Inspector<RealStorage> {
    /// Lists the log in `dir` and reads its anchor.
    ///
    /// # Errors
    /// `Io` if the directory cannot be listed or the anchor read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Inspector, Error> {
        Inspector::open_in(RealStorage, dir)
    }
}

impl<S: Storage> Inspector<S> {
    /// As [`Inspector::open`], on `storage`.
    ///
    /// # Errors
    /// As [`Inspector::open`].
    pub fn open_in(storage: S, dir: impl AsRef<Path>) -> Result<Inspector<S>, Error> {
        let dir = dir.as_ref().to_owned();
        let io = |op, path: &Path, source| io_error(op, path, source);
        let mut segments = Vec::new();
        for path in storage.list(&dir).map_err(|e| io("list", &dir, e))? {
            let Some(name) = path.file_name().map(|name| name.to_string_lossy()) else { continue };
            segments.extend(segment_id_of(&name));
        }
        segments.sort_unstable();
        let anchor_path = dir.join(ANCHOR_FILE_NAME);
        let anchor = match storage.read(&anchor_path, anchor::MAX_BYTES) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => AnchorState::Missing,
            Err(error) => return Err(io("read", &anchor_path, error)),
            // Longer than two slots: recovery refuses it as damaged, so does this.
            Ok((_, len)) if len > anchor::MAX_BYTES => AnchorState::Damaged,
            Ok((bytes, _)) => {
                anchor::decode(&bytes).map_or(AnchorState::Damaged, |(_, start, cut)| {
                    AnchorState::Found {
                        start,
                        cut_below_segment: cut.below_segment,
                        cut_at: cut.at,
                    }
                })
            }
        };
        Ok(Inspector { storage, dir, anchor, segments })
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the anchor says.
    #[must_use]
    pub fn anchor(&self) -> AnchorState {
        self.anchor
    }

    /// The path of segment `id`'s file.
    #[must_use]
    pub fn segment_path(&self, id: SegmentId) -> PathBuf {
        self.dir.join(segment_file_name(id))
    }

    /// The ids of the segment files, in order.
    #[must_use]
    pub fn segment_ids(&self) -> &[SegmentId] {
        &self.segments
    }

    /// Recovery's plan of the log ([`crate::plan::plan`]), from the anchor and each segment's
    /// first chunk header (nothing else is read). Segments whose header is damage are left out
    /// of the plan and listed beside it.
    ///
    /// # Errors
    /// `Io` if a file cannot be read.
    pub fn plan(&self) -> Result<InspectedPlan, Error> {
        let mut found = Vec::new();
        let mut unreadable = Vec::new();
        for &id in &self.segments {
            let path = self.dir.join(segment_file_name(id));
            let header_bytes = wal_segment::CHUNK_HEADER_BYTES as u64;
            let (header, _) =
                self.storage.read(&path, header_bytes).map_err(|e| io_error("read", &path, e))?;
            let index_path = self.dir.join(index_file_name(id));
            let index_entries = match self.storage.read(&index_path, 0) {
                Ok((_, len)) => index_entry_count(len),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
                Err(source) => return Err(io_error("read", &index_path, source)),
            };
            match layout_of(&path, &header, id, index_entries) {
                Ok(layout) => found.push((id, layout.map(|(_, first)| first))),
                Err(error) => unreadable.push((id, error)),
            }
        }
        let (start, cut) = match self.anchor {
            AnchorState::Found { start, cut_below_segment, cut_at } => {
                (start, Some((cut_below_segment, cut_at)))
            }
            _ => (crate::FIRST_LSN, None),
        };
        Ok(InspectedPlan { plan: crate::plan::plan(&found, start, cut), unreadable })
    }

    /// Reads segment `id` and its index and judges them as recovery would.
    ///
    /// # Errors
    /// `Io` if a file cannot be read.
    pub fn segment(&self, id: SegmentId) -> Result<InspectedSegment, Error> {
        let path = self.dir.join(segment_file_name(id));
        let io = |op, source| io_error(op, &path, source);
        // The segment file is the input itself: read whole (its length is what is judged).
        let (data, _) = self.storage.read(&path, u64::MAX).map_err(|e| io("read", e))?;
        let data = Bytes::from(data);
        // An index never needs more than an entry per smallest frame of the segment; a longer
        // one is not read (its length still counts as evidence, as in recovery).
        let index_path = self.dir.join(index_file_name(id));
        let most = index_bytes_for(data.len() as u64);
        let (index, index_entries) = match self.storage.read(&index_path, most) {
            Ok((bytes, len)) => ((len <= most).then_some(bytes), index_entry_count(len)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => (None, 0),
            Err(source) => return Err(io_error("read", &index_path, source)),
        };
        let index_present = index_entries > 0 || index.is_some();
        let layout = layout_of(&path, &data, id, index_entries);
        let chunk_bytes = layout.as_ref().ok().and_then(|layout| layout.map(|(bytes, _)| bytes));
        let outcome = match layout {
            Err(error) => SegmentOutcome::Unreadable(error),
            Ok(Some((chunk_bytes, first_lsn))) => {
                let options = SegmentOptions {
                    chunk_bytes,
                    chunks_per_segment: segment_chunks(data.len(), chunk_bytes),
                    ..SegmentOptions::default()
                };
                match check_segment_bytes(&path, id, first_lsn, options, &data, index.as_deref()) {
                    Ok(check) => SegmentOutcome::Checked(check),
                    Err(error) => SegmentOutcome::Unreadable(error),
                }
            }
            Ok(None) => SegmentOutcome::Empty,
        };
        Ok(InspectedSegment {
            id,
            file_bytes: data.len() as u64,
            index_present,
            chunk_bytes,
            outcome,
            path,
        })
    }
}

/// A segment's chunk size and first LSN from its first chunk header, as recovery reads them:
/// `None` if the header was never written or torn (the segment is empty), unless its index
/// lists records (then the header was durable once: damage); a header naming another segment or
/// version is damage.
fn layout_of(
    path: &Path,
    data: &[u8],
    id: SegmentId,
    index_entries: u64,
) -> Result<Option<(usize, Lsn)>, wal_segment::Error> {
    let corrupt =
        |reason: String| wal_segment::Error::Corrupt { path: path.to_owned(), chunk: 0, reason };
    match segment_layout(data, id) {
        Err(problem) => Err(corrupt(problem.to_string())),
        Ok(None) if index_entries > 0 => Err(corrupt(
            "the first chunk header is missing or damaged, yet the index lists records".into(),
        )),
        Ok(layout) => Ok(layout),
    }
}

/// Recovery's plan of a log, and the segments it could not place.
#[derive(Debug)]
pub struct InspectedPlan {
    /// The plan of the segments whose first chunk header could be judged.
    pub plan: crate::plan::Plan,
    /// Segments whose first chunk header is damage (recovery fails on them).
    pub unreadable: Vec<(SegmentId, wal_segment::Error)>,
}

/// The most bytes a valid index of a segment file of `len` bytes can hold: an entry per
/// smallest frame, and the header.
fn index_bytes_for(len: u64) -> u64 {
    let entries = len / wal_format::HEADER_SIZE_BYTES as u64 + 1;
    let entry_bytes = wal_segment::INDEX_ENTRY_BYTES as u64;
    (wal_segment::INDEX_HEADER_BYTES as u64).saturating_add(entries.saturating_mul(entry_bytes))
}

/// Chunks a segment file of `len` bytes spans (at least one: options must be valid).
fn segment_chunks(len: usize, chunk_bytes: usize) -> u32 {
    u32::try_from(len.div_ceil(chunk_bytes).max(1)).unwrap_or(u32::MAX)
}

impl InspectedSegment {
    /// Its records in LSN order, each with its position and meaning (segment seals included,
    /// as `None`).
    pub fn records(
        &self,
    ) -> impl Iterator<Item = (Position, Tag, Lsn, Option<Result<Entry, Error>>)> {
        let records = match &self.outcome {
            SegmentOutcome::Checked(check) => check.scan.records.as_slice(),
            _ => &[],
        };
        let segment = self.id;
        records.iter().map(move |record| {
            let position = Position { segment, chunk: record.chunk, offset: record.record.offset };
            let (tag, lsn) = (record.record.tag, record.record.lsn);
            (position, tag, lsn, interpret(record.record.clone()))
        })
    }
}

fn io_error(op: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Segment(wal_segment::Error::io(op, path, source))
}
