//! Opening a segment after a crash: scan its data, check its index against the data, tell a
//! torn tail from damage, and leave the segment in a state a second crash cannot change.
//!
//! Steps: (1) scan every chunk; (2) read the index, keeping its well-formed prefix; (3) any entry
//! beyond where the scan stopped whose frame still validates in place (with the salt the entry
//! carries, so even a damaged chunk header cannot hide it) proves the scan stopped at damage
//! inside durable data: an error naming segment, chunk and offset; (4) make the scanned data
//! durable, whatever the index said (a reopen in the same boot may see page-cache state the disk
//! does not have yet); (5) if the index is not exactly the scan's records, rewrite it.
//! A recovered segment is final: the engine continues in a new segment, so bytes after the cut
//! are never followed by new writes that could line up with them.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use wal_format::{Decoded, Lsn, decode_frame};

use std::sync::Arc;

use crate::chunk_header::{CHUNK_HEADER_BYTES, ChunkIdentity, HeaderProblem};
use crate::error::Error;
use crate::files::{index_file_name, segment_file_name};
use crate::index::{IndexEntry, SegmentIndex, write_index_file};
use crate::live::{ChunkRef, LiveChunk, MapOf};
use crate::mapping::ChunkMap;
use crate::options::SegmentOptions;
use crate::scan::{MappedScan, SegmentScan, map_and_scan, scan_chunks};
use crate::seal::SealInfo;
use crate::segment_id::SegmentId;
use crate::storage::{SegmentFile, Storage};

/// What the index said, measured against the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexStatus {
    /// The index listed exactly the records the scan found.
    Confirmed,
    /// The index was missing, short, stale, damaged or ahead of the data, and was rewritten
    /// from the scan. `kept` of its entries agreed with the data.
    Rebuilt {
        /// Entries of the old index that matched the data.
        kept: usize,
    },
}

/// A segment as recovery leaves it.
#[derive(Clone, Debug)]
pub struct RecoveredSegment {
    /// Its records and where its data ends.
    pub scan: SegmentScan,
    /// The position of every record, as now written in the index file.
    pub index: SegmentIndex,
    /// What the index file said before recovery.
    pub index_status: IndexStatus,
    /// The seal, if the segment ends with a valid one that agrees with its data.
    pub sealed: Option<SealInfo>,
    /// Bytes after the end of the data, up to the last nonzero byte of that chunk: what a torn
    /// tail left behind and recovery cut off (0 for a clean end).
    pub cut_bytes: u64,
}

/// Largest index file recovery reads: one entry per smallest possible frame, plus the header.
fn index_bytes_max(options: SegmentOptions) -> u64 {
    let segment_bytes = options.chunk_bytes as u64 * u64::from(options.chunks_per_segment);
    let entries = segment_bytes / wal_format::HEADER_SIZE_BYTES as u64;
    (crate::INDEX_HEADER_BYTES + crate::INDEX_ENTRY_BYTES) as u64 * (entries + 1)
}

/// Recovers segment `segment_id` in `dir`, whose first record must have LSN `first_lsn`.
///
/// Refused (`LiveWriter`) while a writer of this segment is live in this process: the scan
/// would view the mapped bytes the writer is writing.
///
/// # Errors
/// `Corrupt` when durable data is damaged (an intact, indexed record lies beyond the point where
/// the scan stopped) or the seal disagrees with the data, or as [`crate::scan_segment`]; `Io`
/// if syncing or rewriting the index fails.
pub fn recover_segment<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
) -> Result<RecoveredSegment, Error> {
    open_segment(storage, dir, segment_id, first_lsn, options).map(|(recovered, _)| recovered)
}

/// Recovers a segment as [`recover_segment`] does and keeps its chunks mapped for reading:
/// every chunk whose header was read, each closed, published up to where its data ends.
///
/// # Errors
/// As [`recover_segment`].
pub fn open_segment<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
) -> Result<(RecoveredSegment, Vec<ChunkRef<S>>), Error> {
    let (recovered, chunks, _) =
        open_checked(storage, dir, segment_id, first_lsn, options, Strictness::Strict)?;
    Ok((recovered, chunks))
}

/// Opens a segment keeping whatever precedes damage: as [`open_segment`], except that damage
/// inside durable data (or a seal that disagrees) is returned beside the readable prefix
/// instead of failing, and the index is rewritten to that prefix. For point-in-time recovery.
///
/// # Errors
/// As [`crate::scan_segment`] (damage no prefix survives), and `Io`.
pub fn salvage_segment<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
) -> Result<Opened<S>, Error> {
    open_checked(storage, dir, segment_id, first_lsn, options, Strictness::KeepPrefix)
}

/// Whether damage fails the open or is reported beside the prefix before it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strictness {
    Strict,
    KeepPrefix,
}

/// A recovered segment, its readable chunks, and the damage its readable prefix ends at.
pub type Opened<S> = (RecoveredSegment, Vec<ChunkRef<S>>, Option<Error>);

fn open_checked<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
    strictness: Strictness,
) -> Result<Opened<S>, Error> {
    let MappedScan { path, file, maps, chunks, scan } =
        map_and_scan(storage, dir, segment_id, first_lsn, options)?;
    let index_path = dir.join(index_file_name(segment_id));
    let stated = read_index(storage, &index_path, segment_id, first_lsn, options)?;
    let Assessment { truth, kept, mut damage, sealed, cut_bytes } =
        assess(&path, &scan, &chunks, &stated, segment_id, options.chunk_bytes);
    if let Some(error) = damage.take_if(|_| strictness == Strictness::Strict) {
        return Err(error);
    }
    // What the scan found becomes durable now, so a second crash cannot take it back. Bytes
    // past what the index proves durable are written again first: the page cache may hold
    // them clean without the disk having them (a failed write-back, in this boot), and a sync
    // of a clean page writes nothing.
    // (Rewriting allocated space takes none on most filesystems, but converting an unwritten
    // extent may; on a full disk the sync below is the best there is, and the log still opens.)
    let end_chunk_len = chunks.get(scan.end_chunk as usize).map_or(0, Bytes::len);
    let unproven = unproven_range(
        &scan,
        kept,
        sealed.is_some(),
        cut_bytes,
        end_chunk_len,
        options.chunk_bytes,
    );
    if let Some((from, to)) = unproven {
        match file.rewrite(from, to - from).map_err(|e| Error::io("rewrite", &path, e)) {
            Err(error) if !matches!(error, Error::OutOfSpace { .. }) => return Err(error),
            _ => {}
        }
    }
    for map in maps.iter().take(scan.end_chunk as usize + 1) {
        map.sync(0, map.len_bytes()).map_err(|e| Error::io("msync", &path, e))?;
    }
    let index_status = if kept == stated.entries().len() && kept == truth.entries().len() {
        IndexStatus::Confirmed
    } else {
        // A hint: on a full disk it stays as it was (never ahead of durable data but for
        // damage, which every open finds again), and the next open rebuilds it.
        match rewrite_index(storage, dir, &index_path, &truth, segment_id) {
            Err(error) if !matches!(error, Error::OutOfSpace { .. }) => return Err(error),
            _ => {}
        }
        IndexStatus::Rebuilt { kept }
    };
    drop(chunks);
    let readable = chunk_handles::<S>(maps, &scan);
    Ok((RecoveredSegment { scan, index: truth, index_status, sealed, cut_bytes }, readable, damage))
}

/// The bytes of the file, `[from, to)`, that a reopen in the same boot must write again before
/// it trusts them: the records the index does not prove durable (its first `proven` entries
/// are confirmed by the data), with the chunk header before the first of them if it starts
/// its chunk, and what ends the scan (a zeroed or torn header, or the rest of a torn tail up
/// to its last nonzero byte, `cut_bytes`). The last matters as much: a cut zeroes the header
/// of its first cut frame, and if that zeroing is only in the page cache, a power loss would
/// bring the cut records back. `end_chunk_len` is the length of the chunk the scan ended in;
/// `sealed`, whether the segment ends with a valid seal.
fn unproven_range(
    scan: &SegmentScan,
    proven: usize,
    sealed: bool,
    cut_bytes: u64,
    end_chunk_len: usize,
    chunk_bytes: usize,
) -> Option<(u64, u64)> {
    let chunk_bytes = chunk_bytes as u64;
    let end_chunk = u64::from(scan.end_chunk) * chunk_bytes;
    let scan_end = end_chunk + scan.end_offset as u64;
    // From the end of the last proven record (what follows it, a padding frame that closed
    // its chunk or the next chunk's header, is no more proven than the records after it), or
    // from the segment's start.
    let from = match proven.checked_sub(1).and_then(|last| scan.records.get(last)) {
        None => 0,
        Some(last) => {
            let frame = wal_format::frame_len(last.record.payload.len()).unwrap_or(0) as u64;
            u64::from(last.chunk) * chunk_bytes + last.record.offset as u64 + frame
        }
    };
    // A seal the index proves ends the segment: nothing after it is ever read.
    if sealed && proven == scan.records.len() {
        return None;
    }
    let terminator = cut_bytes.max(CHUNK_HEADER_BYTES as u64);
    let to = (scan_end + terminator).min(end_chunk + end_chunk_len as u64);
    (to > from).then_some((from, to))
}

/// A segment's scan judged against its index and its seal; nothing written yet.
struct Assessment {
    /// The index the scan implies.
    truth: SegmentIndex,
    /// How many leading entries of the index file agree with it.
    kept: usize,
    /// Damage inside durable data, or a seal that disagrees.
    damage: Option<Error>,
    sealed: Option<SealInfo>,
    cut_bytes: u64,
}

fn assess(
    path: &Path,
    scan: &SegmentScan,
    chunks: &[Bytes],
    stated: &SegmentIndex,
    segment_id: SegmentId,
    chunk_bytes: usize,
) -> Assessment {
    let truth = SegmentIndex::new(
        scan.records
            .iter()
            .map(|r| IndexEntry {
                lsn: r.record.lsn,
                chunk: r.chunk,
                offset: u32::try_from(r.record.offset).expect("chunks are at most 1 GiB"),
                salt: scan.chunk_salts[r.chunk as usize],
            })
            .collect(),
    );
    let mut damage = None;
    let mut beyond = stated.entries().iter().filter(|entry| entry.lsn >= scan.next_lsn);
    if let Some(entry) = beyond.find(|entry| frame_intact(chunks, entry)) {
        damage = Some(Error::Corrupt {
            path: path.to_owned(),
            chunk: scan.end_chunk,
            reason: format!(
                "damaged at offset {} ({}), before LSN {} at chunk {} offset {}, which is \
                 intact and was indexed as durable",
                scan.end_offset, scan.end, entry.lsn, entry.chunk, entry.offset
            ),
        });
    }
    if damage.is_none() {
        damage = cut_short(path, scan, chunks, stated, chunk_bytes);
    }
    let sealed = match check_seal(path, scan, &truth, segment_id) {
        Ok(sealed) => sealed,
        Err(error) => {
            damage.get_or_insert(error);
            None
        }
    };
    let kept = stated.entries().iter().zip(truth.entries()).take_while(|(a, b)| a == b).count();
    let cut_bytes = chunks.get(scan.end_chunk as usize).map_or(0, |chunk| {
        let rest = chunk.get(scan.end_offset..).unwrap_or_default();
        rest.iter().rposition(|&byte| byte != 0).map_or(0, |last| last as u64 + 1)
    });
    Assessment { truth, kept, damage, sealed, cut_bytes }
}

/// Damage by a file cut short: a crash never shortens a file whose chunks were reserved (space
/// is reserved whole before a chunk's header is written, and a reservation a crash interrupts
/// holds no header), so a last chunk shorter than a chunk with a valid header, or an index entry
/// (written only after the sync that made its record durable) in a chunk the file no longer
/// holds whole, means durable records were lost, not torn.
fn cut_short(
    path: &Path,
    scan: &SegmentScan,
    chunks: &[Bytes],
    stated: &SegmentIndex,
    chunk_bytes: usize,
) -> Option<Error> {
    let file_len: u64 = chunks.iter().map(|chunk| chunk.len() as u64).sum();
    let whole = |chunk: u32| chunks.get(chunk as usize).is_some_and(|c| c.len() == chunk_bytes);
    let lost =
        stated.entries().iter().find(|entry| entry.lsn >= scan.next_lsn && !whole(entry.chunk));
    if let Some(entry) = lost {
        let listed = stated.entries().iter().filter(|entry| entry.lsn >= scan.next_lsn).count();
        return Some(Error::Corrupt {
            path: path.to_owned(),
            chunk: entry.chunk,
            reason: format!(
                "the file ends at byte {file_len}, cutting off {listed} records its index lists \
                 as durable (from LSN {} at chunk {} offset {})",
                entry.lsn, entry.chunk, entry.offset
            ),
        });
    }
    let last = u32::try_from(chunks.len().checked_sub(1)?).ok()?;
    let started = scan.chunk_salts.len() > last as usize;
    (started && !whole(last)).then(|| Error::Corrupt {
        path: path.to_owned(),
        chunk: last,
        reason: format!(
            "the file ends at byte {file_len}, inside chunk {last}, which was started: the file \
             was cut short"
        ),
    })
}

/// What a segment holds, judged from its bytes alone: for tools that must not modify a log they
/// were asked to read (recovery does the same judging, then makes it durable).
#[derive(Debug)]
pub struct SegmentCheck {
    /// Its records (zero-copy views of `data`) and where its data ends.
    pub scan: SegmentScan,
    /// Whether the index file agrees with the data: `Confirmed`, or how many of its leading
    /// entries do (recovery would rewrite it).
    pub index_status: IndexStatus,
    /// The seal, if the segment ends with a valid one that agrees with its data.
    pub sealed: Option<SealInfo>,
    /// Bytes after the end of the data, up to the last nonzero byte of that chunk: a torn tail
    /// recovery would cut off (0 for a clean end).
    pub cut_bytes: u64,
    /// Damage inside durable data, or a seal that disagrees: recovery would refuse the segment.
    pub damage: Option<Error>,
}

/// Judges segment `segment_id` from the bytes of its file (`data`) and of its index file
/// (`index`, if there is one), as recovery would, without touching either.
///
/// # Errors
/// As [`crate::scan_chunks`]: a segment no prefix of which can be read.
pub fn check_segment_bytes(
    path: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
    data: &Bytes,
    index: Option<&[u8]>,
) -> Result<SegmentCheck, Error> {
    options.validate()?;
    let chunks: Vec<Bytes> = (0..data.len())
        .step_by(options.chunk_bytes)
        .map(|at| data.slice(at..(at + options.chunk_bytes).min(data.len())))
        .collect();
    let scan = scan_chunks(path, segment_id, first_lsn, options, chunks.iter().cloned())?;
    let stated = index
        .filter(|bytes| bytes.len() as u64 <= index_bytes_max(options))
        .map_or_else(SegmentIndex::default, |bytes| {
            SegmentIndex::decode(bytes, segment_id, first_lsn)
        });
    let Assessment { truth, kept, damage, sealed, cut_bytes } =
        assess(path, &scan, &chunks, &stated, segment_id, options.chunk_bytes);
    let index_status = if kept == stated.entries().len() && kept == truth.entries().len() {
        IndexStatus::Confirmed
    } else {
        IndexStatus::Rebuilt { kept }
    };
    Ok(SegmentCheck { scan, index_status, sealed, cut_bytes, damage })
}

/// The chunk size segment `segment_id` was written with and its first record's LSN, read from
/// its first chunk's header, for tools that open a log without its options. `Ok(None)` if that
/// header was never written or is damaged (the segment is empty unless its index lists
/// records, as [`segment_first_lsn`] decides).
///
/// # Errors
/// The [`HeaderProblem`] of a valid header that belongs elsewhere (another segment or chunk),
/// to another version, or states a chunk size no version writes: recovery refuses such a
/// segment.
pub fn segment_layout(
    first_chunk_header: &[u8],
    segment_id: SegmentId,
) -> Result<Option<(usize, Lsn)>, HeaderProblem> {
    let Some(header) = first_chunk_header.get(..CHUNK_HEADER_BYTES) else { return Ok(None) };
    // Whatever size the header states is expected, so only placement, version and a size no
    // version writes are problems.
    let log2 = header[12];
    let expected = ChunkIdentity {
        chunk_size_log2: log2,
        segment_id,
        chunk_index: 0,
        salt: wal_format::Salt(0),
        first_lsn: Lsn(0),
    };
    match ChunkIdentity::decode(header, &expected) {
        Ok(identity) => Ok(Some((1usize << log2, identity.first_lsn))),
        Err(HeaderProblem::Unstarted | HeaderProblem::Damaged) => Ok(None),
        Err(problem) => Err(problem),
    }
}

/// How segment `segment_id` is laid out, as its file and first chunk header state it: what a
/// reader needs, whatever options the log is opened with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentLayout {
    /// The chunk size its first chunk header states.
    pub chunk_bytes: usize,
    /// Chunks its file spans (the last one may be partial), at least 1.
    pub chunks: u32,
    /// The LSN of its first record.
    pub first_lsn: Lsn,
}

impl SegmentLayout {
    /// `base` with this segment's layout: the options to read it with.
    #[must_use]
    pub fn options(&self, base: SegmentOptions) -> SegmentOptions {
        SegmentOptions { chunk_bytes: self.chunk_bytes, chunks_per_segment: self.chunks, ..base }
    }
}

/// Reads segment `segment_id`'s layout from its file length and first chunk header; `None` if
/// that header was never written, or was torn before any record was made durable (the segment
/// holds no record).
///
/// # Errors
/// `Io` if the file cannot be read; `Corrupt` if the header belongs elsewhere, to another
/// version or states a chunk size no version writes, or if it is missing, zeroed or damaged
/// while the sidecar index lists records (index entries are written only after the sync that
/// made the header durable, so the segment held records: calling it empty would lose them).
pub fn read_segment_layout<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
) -> Result<Option<SegmentLayout>, Error> {
    let path = dir.join(segment_file_name(segment_id));
    let file = storage.open(&path).map_err(|e| Error::io("open", &path, e))?;
    let len = file.len_bytes().map_err(|e| Error::io("stat", &path, e))?;
    if len < CHUNK_HEADER_BYTES as u64 {
        return no_header_unless_indexed(storage, dir, segment_id, path);
    }
    let map = file.map(0, CHUNK_HEADER_BYTES).map_err(|e| Error::io("map", &path, e))?;
    let header = ChunkMap::new(map).bytes(0, CHUNK_HEADER_BYTES);
    match segment_layout(&header, segment_id) {
        Ok(Some((chunk_bytes, first_lsn))) => {
            let chunks = u32::try_from(len.div_ceil(chunk_bytes as u64)).unwrap_or(u32::MAX);
            Ok(Some(SegmentLayout { chunk_bytes, chunks, first_lsn }))
        }
        // Never written, or torn while being written (a crash before the first sync), or
        // zeroed or damaged later. Only in the last case can the index list records.
        Ok(None) => no_header_unless_indexed(storage, dir, segment_id, path),
        Err(problem) => Err(Error::Corrupt { path, chunk: 0, reason: problem.to_string() }),
    }
}

/// The LSN of segment `segment_id`'s first record, as [`read_segment_layout`] reads it.
///
/// # Errors
/// As [`read_segment_layout`]; `LayoutMismatch` if the segment was written with another chunk
/// size than `options.chunk_bytes`.
pub fn segment_first_lsn<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
    options: SegmentOptions,
) -> Result<Option<Lsn>, Error> {
    options.validate()?;
    let Some(layout) = read_segment_layout(storage, dir, segment_id)? else { return Ok(None) };
    if layout.chunk_bytes != options.chunk_bytes {
        return Err(Error::LayoutMismatch {
            path: dir.join(segment_file_name(segment_id)),
            field: "chunk_bytes",
            on_disk: layout.chunk_bytes as u64,
            requested: options.chunk_bytes as u64,
        });
    }
    Ok(Some(layout.first_lsn))
}

/// Handles on the chunks of a recovered segment whose header was read.
fn chunk_handles<S: Storage>(
    maps: Vec<ChunkMap<MapOf<S>>>,
    scan: &SegmentScan,
) -> Vec<ChunkRef<S>> {
    let mut handles = Vec::new();
    for ((index, map), &salt) in (0u32..).zip(maps).zip(&scan.chunk_salts) {
        let end = if index == scan.end_chunk { scan.end_offset } else { map.len_bytes() };
        let at = scan.records.partition_point(|r| r.chunk < index);
        let first_lsn = scan.records.get(at).map_or(scan.next_lsn, |r| r.record.lsn);
        handles.push(Arc::new(LiveChunk::recovered(map, index, salt, first_lsn, end)));
    }
    handles
}

/// A segment whose first chunk header is missing or unreadable holds no record, unless its
/// index says otherwise.
fn no_header_unless_indexed<S: Storage, T>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
    path: PathBuf,
) -> Result<Option<T>, Error> {
    match indexed_entries(storage, dir, segment_id)? {
        0 => Ok(None),
        entries => Err(Error::Corrupt {
            path,
            chunk: 0,
            reason: format!(
                "the first chunk header is missing or damaged, yet its index lists at least \
                 {entries} records"
            ),
        }),
    }
}

/// The usable part of the index file (empty if it is missing or oversized).
fn read_index<S: Storage>(
    storage: &S,
    index_path: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
) -> Result<SegmentIndex, Error> {
    let file = match storage.open(index_path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(SegmentIndex::default()),
        Err(error) => return Err(Error::io("open", index_path, error)),
    };
    // Never read more than a valid index of this segment can hold.
    let len = file.len_bytes().map_err(|e| Error::io("stat", index_path, e))?;
    if len > index_bytes_max(options) {
        return Ok(SegmentIndex::default());
    }
    let bytes = file.read_to_end().map_err(|e| Error::io("read", index_path, e))?;
    Ok(SegmentIndex::decode(&bytes, segment_id, first_lsn))
}

/// The seal, if the last record is one. A seal that disagrees with the data it describes cannot
/// come from a crash: it is corruption.
fn check_seal(
    path: &Path,
    scan: &SegmentScan,
    truth: &SegmentIndex,
    segment_id: SegmentId,
) -> Result<Option<SealInfo>, Error> {
    let Some(last) = scan.records.last().filter(|r| r.record.tag == wal_format::Tag::SEAL) else {
        return Ok(None);
    };
    let before = SegmentIndex::new(truth.entries()[..scan.records.len() - 1].to_vec());
    let expected = SealInfo::for_index(last.record.lsn, &before, segment_id);
    match SealInfo::decode(&last.record.payload) {
        Some(info) if info == expected => Ok(Some(info)),
        stated => Err(Error::Corrupt {
            path: path.to_owned(),
            chunk: last.chunk,
            reason: format!(
                "seal record at offset {} states {}; the data gives {expected}",
                last.record.offset,
                stated.map_or_else(|| "nothing readable".to_owned(), |info| info.to_string())
            ),
        }),
    }
}

/// Whether the frame an index entry points at validates in place, with the entry's salt.
fn frame_intact(chunks: &[Bytes], entry: &IndexEntry) -> bool {
    let Some(chunk) = chunks.get(entry.chunk as usize) else { return false };
    matches!(
        decode_frame(chunk, entry.offset as usize, entry.salt, entry.lsn),
        Ok((Decoded::Record(_) | Decoded::Skipped { .. }, _))
    )
}

fn rewrite_index<S: Storage>(
    storage: &S,
    dir: &Path,
    index_path: &Path,
    index: &SegmentIndex,
    segment_id: SegmentId,
) -> Result<(), Error> {
    let file = match storage.open(index_path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let file =
                storage.create(index_path).map_err(|e| Error::io("create", index_path, e))?;
            storage.sync_dir(dir).map_err(|e| Error::io("sync directory", dir, e))?;
            file
        }
        Err(error) => return Err(Error::io("open", index_path, error)),
    };
    write_index_file(&file, index, segment_id)
        .map(drop)
        .map_err(|e| Error::io("rewrite", index_path, e))
}

/// At least how many entries an index file of `len` bytes lists, in either version, if it is
/// well formed: 0 when it has no room for one (a version-1 entry is 20 bytes), else at least 1
/// and no more than one per 24 bytes (a version-1 entry takes 20, a version-2 chunk with one
/// record 24). What recovery counts as evidence that a segment held durable records (entries
/// are written only after the sync that made them durable), whether or not they read back.
#[must_use]
pub fn index_entry_count(len: u64) -> u64 {
    let body = len.saturating_sub(crate::INDEX_HEADER_BYTES as u64);
    if body < crate::INDEX_ENTRY_BYTES as u64 { 0 } else { (body / 24).max(1) }
}

fn indexed_entries<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
) -> Result<u64, Error> {
    let path = dir.join(index_file_name(segment_id));
    match storage.open(&path) {
        Ok(file) => {
            Ok(index_entry_count(file.len_bytes().map_err(|e| Error::io("stat", &path, e))?))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(error) => Err(Error::io("open", &path, error)),
    }
}
