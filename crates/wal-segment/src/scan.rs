//! Reading a segment back: chunk by chunk, checking each chunk header, then scanning its frames.
//!
//! The scan stops at the first thing that is not a valid next record and says why, with the
//! exact position after the last valid frame. On its own it cannot tell a torn tail from damage:
//! `recover_segment` does that with the sidecar index. Things that can never come from a torn
//! write fail here already: a chunk header of another version, segment or position, a first
//! chunk whose LSN is not the one expected, and a frame of a critical tag this version does not
//! know (the segment was written by a newer version).

use std::path::Path;

use bytes::Bytes;
use wal_format::{Frames, Lsn, RecordBytes, Stop};

use crate::chunk_header::{CHUNK_HEADER_BYTES, ChunkIdentity, HeaderProblem};
use crate::error::Error;
use crate::files::segment_file_name;
use crate::mapping::ChunkMap;
use crate::options::SegmentOptions;
use crate::segment_id::SegmentId;
use crate::storage::{SegmentFile, Storage};

/// A record read back, with the chunk that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRecord {
    /// The chunk's index in the segment.
    pub chunk: u32,
    /// The record; its `offset` is within the chunk, its payload a zero-copy slice of the map.
    pub record: RecordBytes,
}

/// Why the readable data of a segment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentEnd {
    /// Zero bytes where the next frame would start: the writer stopped there.
    Unwritten,
    /// The next chunk was reserved but never started (its header is all zero).
    UnstartedChunk,
    /// Every chunk of the file was read to its end.
    EndOfFile,
    /// A frame failed a check: a torn write in an unsealed segment.
    TornFrame(wal_format::Error),
    /// A chunk header failed its checksum: the chunk was being started when the writer stopped.
    TornChunkHeader,
    /// A chunk header is valid but its first LSN is not the next one: stale, never continued.
    StaleChunk {
        /// The LSN the header names.
        found: Lsn,
    },
}

/// The result of scanning one segment.
#[derive(Clone, Debug)]
pub struct SegmentScan {
    /// Every valid record, in LSN order.
    pub records: Vec<SegmentRecord>,
    /// The LSN the next record would have.
    pub next_lsn: Lsn,
    /// The chunk where the data ends.
    pub end_chunk: u32,
    /// The offset in `end_chunk` just after the last valid frame (or chunk header).
    pub end_offset: usize,
    /// The salt of every chunk whose header was read, by chunk index.
    pub chunk_salts: Vec<wal_format::Salt>,
    /// Why it ended there.
    pub end: SegmentEnd,
}

/// Scans segment `segment_id` in `dir`, whose first record must have LSN `first_lsn`.
///
/// Refused (`LiveWriter`) while a writer of this segment is live in this process: the payloads
/// are views of the mapped chunks the writer is writing. (A writer is only ever made for a
/// file it creates, so none can start on a file whose views a scan handed out.)
///
/// # Errors
/// `Io` if the file cannot be opened or mapped; `LiveWriter`; `LayoutMismatch` if chunk 0's
/// header is valid but states another chunk size than `options` (read the segment's layout
/// with [`crate::read_segment_layout`] first); `Corrupt` or `LsnGap` as described above.
pub fn scan_segment<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
) -> Result<SegmentScan, Error> {
    Ok(map_and_scan(storage, dir, segment_id, first_lsn, options)?.scan)
}

/// A segment's mappings, its chunks as buffers, and the scan of them.
pub(crate) struct MappedScan<F, M> {
    pub(crate) path: std::path::PathBuf,
    pub(crate) file: F,
    pub(crate) maps: Vec<ChunkMap<M>>,
    pub(crate) chunks: Vec<Bytes>,
    pub(crate) scan: SegmentScan,
}

/// Maps every chunk of segment `segment_id` and scans them.
pub(crate) fn map_and_scan<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
) -> Result<MappedScan<S::File, <S::File as SegmentFile>::Map>, Error> {
    let path = dir.join(segment_file_name(segment_id));
    let (file, maps) = map_chunks(storage, &path, options)?;
    let chunks: Vec<Bytes> = maps.iter().map(|map| map.bytes(0, map.len_bytes())).collect();
    let scan = scan_chunks(&path, segment_id, first_lsn, options, chunks.iter().cloned())?;
    Ok(MappedScan { path, file, maps, chunks, scan })
}

/// Opens the segment file at `path` and maps every chunk, the last one only as far as the file
/// goes.
#[allow(clippy::type_complexity)]
fn map_chunks<S: Storage>(
    storage: &S,
    path: &Path,
    options: SegmentOptions,
) -> Result<(S::File, Vec<ChunkMap<<S::File as SegmentFile>::Map>>), Error> {
    options.validate()?;
    let file = storage.open(path).map_err(|e| Error::io("open", path, e))?;
    // A writer of this file in this process may be writing the bytes a scan would view.
    if crate::claim::has_writer(file.id()) {
        return Err(Error::LiveWriter { path: path.to_owned() });
    }
    let len = file.len_bytes().map_err(|e| Error::io("stat", path, e))?;
    let chunk_bytes = options.chunk_bytes as u64;
    let mut maps = Vec::new();
    let mut offset = 0;
    while offset < len {
        // Never map past the end of the file: that page would raise SIGBUS when read.
        let map_len = usize::try_from(chunk_bytes.min(len - offset)).expect("at most a chunk");
        let map = file.map(offset, map_len).map_err(|e| Error::io("map", path, e))?;
        maps.push(ChunkMap::new(map));
        offset += chunk_bytes;
    }
    Ok((file, maps))
}

/// Scans the chunks of a segment given as buffers (each a whole chunk, or less at the end of a
/// short file). The pure core of [`scan_segment`].
///
/// # Errors
/// As [`scan_segment`], without the I/O.
pub fn scan_chunks(
    path: &Path,
    segment_id: SegmentId,
    first_lsn: Lsn,
    options: SegmentOptions,
    chunks: impl IntoIterator<Item = Bytes>,
) -> Result<SegmentScan, Error> {
    let mut scan = SegmentScan {
        records: Vec::new(),
        next_lsn: first_lsn,
        end_chunk: 0,
        end_offset: 0,
        chunk_salts: Vec::new(),
        end: SegmentEnd::EndOfFile,
    };
    for (index, chunk) in (0u32..).zip(chunks) {
        scan.end_chunk = index;
        scan.end_offset = 0;
        let identity = match chunk_header(path, segment_id, options, index, &chunk, scan.next_lsn)?
        {
            Ok(identity) => identity,
            Err(end) => return Ok(ended(scan, end)),
        };
        scan.chunk_salts.push(identity.salt);
        let mut frames = Frames::resume(chunk, identity.salt, CHUNK_HEADER_BYTES, scan.next_lsn);
        let mut failure = None;
        for record in frames.by_ref() {
            match record {
                Ok(record) => scan.records.push(SegmentRecord { chunk: index, record }),
                Err(error) => failure = Some(error),
            }
        }
        scan.next_lsn = frames.next_lsn();
        scan.end_offset = frames.offset();
        match (frames.stop(), failure) {
            (_, Some(wal_format::Error::Zeroed { .. })) => {
                return Ok(ended(scan, SegmentEnd::Unwritten));
            }
            (_, Some(error @ wal_format::Error::UnsupportedTag { .. })) => {
                let reason = format!("{error}: refusing to read a segment of a newer version");
                return Err(Error::Corrupt { path: path.to_owned(), chunk: index, reason });
            }
            (_, Some(error)) => return Ok(ended(scan, SegmentEnd::TornFrame(error))),
            // A chunk that ends without padding is the last one the writer used.
            (Some(Stop::ChunkEnd | Stop::ChunkTail), None) => {}
            (Some(Stop::Padding), None) => {}
            (stop, None) => unreachable!("a finished scan without error stopped with {stop:?}"),
        }
    }
    Ok(scan)
}

/// Chunk `index`'s header, judged for a scan whose next LSN is `next_lsn`: its identity, or
/// why the data ends at it.
///
/// # Errors
/// `LayoutMismatch` for chunk 0 of another chunk size than `options` (the segment's layout
/// is chunk 0's); `Corrupt` for a header of another version, place, or a later chunk of
/// another size; `LsnGap` for chunk 0 out of sequence.
fn chunk_header(
    path: &Path,
    segment_id: SegmentId,
    options: SegmentOptions,
    index: u32,
    chunk: &[u8],
    next_lsn: Lsn,
) -> Result<Result<ChunkIdentity, SegmentEnd>, Error> {
    let expected = ChunkIdentity {
        chunk_size_log2: options.chunk_size_log2(),
        segment_id,
        chunk_index: index,
        salt: wal_format::Salt(0),
        first_lsn: next_lsn,
    };
    let identity = match ChunkIdentity::decode(chunk, &expected) {
        Ok(identity) => identity,
        Err(HeaderProblem::Unstarted) => return Ok(Err(SegmentEnd::UnstartedChunk)),
        Err(HeaderProblem::Damaged) => return Ok(Err(SegmentEnd::TornChunkHeader)),
        // Chunk 0 sets the segment's layout: a size other than the options' is the caller's
        // mismatch, not damage. Later chunks must state chunk 0's size.
        Err(HeaderProblem::OtherChunkSize { log2 }) if index == 0 => {
            return Err(Error::LayoutMismatch {
                path: path.to_owned(),
                field: "chunk_bytes",
                on_disk: 1 << log2,
                requested: options.chunk_bytes as u64,
            });
        }
        Err(problem) => return Err(corrupt(path, index, &problem)),
    };
    if identity.first_lsn == next_lsn {
        return Ok(Ok(identity));
    }
    if index == 0 {
        return Err(Error::LsnGap {
            path: path.to_owned(),
            expected: next_lsn,
            found: identity.first_lsn,
        });
    }
    Ok(Err(SegmentEnd::StaleChunk { found: identity.first_lsn }))
}

/// What a human reads: why the data ends there, without the type's field names.
impl std::fmt::Display for SegmentEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmentEnd::Unwritten => f.write_str("zero bytes where the next frame would start"),
            SegmentEnd::UnstartedChunk => f.write_str("the next chunk was never started"),
            SegmentEnd::EndOfFile => f.write_str("the end of the file"),
            SegmentEnd::TornFrame(error) => write!(f, "{error}"),
            SegmentEnd::TornChunkHeader => f.write_str("a chunk header that fails its checksum"),
            SegmentEnd::StaleChunk { found } => {
                write!(f, "a stale chunk (its header names LSN {found}, not the next one)")
            }
        }
    }
}

fn ended(mut scan: SegmentScan, end: SegmentEnd) -> SegmentScan {
    scan.end = end;
    scan
}

fn corrupt(path: &Path, chunk: u32, problem: &HeaderProblem) -> Error {
    let reason = match problem {
        HeaderProblem::OtherChunkSize { log2 } => {
            format!("chunk header states chunks of 2^{log2} bytes, unlike the segment's chunk 0")
        }
        problem => problem.to_string(),
    };
    Error::Corrupt { path: path.to_owned(), chunk, reason }
}
