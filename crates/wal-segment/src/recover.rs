//! Opening a segment after a crash: scan its data, check its index against the data, tell a
//! torn tail from damage, and leave the segment in a state a second crash cannot change.
//!
//! Steps: (1) scan every chunk; (2) read the index, keeping its well-formed prefix; (3) any entry
//! beyond where the scan stopped whose frame still validates in place proves the scan stopped at
//! damage inside durable data: an error naming segment, chunk and offset; (4) if the index is not
//! exactly the scan's records, sync the recovered data and rewrite the index from the scan.
//! A recovered segment is final: the engine continues in a new segment, so bytes after the cut
//! are never followed by new writes that could line up with them.

use std::io;
use std::path::Path;

use bytes::Bytes;
use wal_format::{Decoded, Lsn, decode_frame};

use crate::chunk_header::{ChunkIdentity, HeaderProblem};
use crate::error::Error;
use crate::index::{IndexEntry, SegmentIndex, index_file_name};
use crate::options::SegmentOptions;
use crate::scan::{SegmentScan, map_chunks, scan_chunks};
use crate::seal::SealInfo;
use crate::storage::{SegmentFile, Storage};
use crate::writer::segment_file_name;

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
}

/// Recovers segment `segment_id` in `dir`, whose first record must have LSN `first_lsn`.
///
/// # Errors
/// `Corrupt` when durable data is damaged (an intact, indexed record lies beyond the point where
/// the scan stopped), or as [`crate::scan_segment`]; `Io` if rewriting the index or syncing fails.
pub fn recover_segment<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: u64,
    first_lsn: Lsn,
    options: SegmentOptions,
) -> Result<RecoveredSegment, Error> {
    let path = dir.join(segment_file_name(segment_id));
    let maps = map_chunks(storage, &path, options)?;
    let chunks: Vec<Bytes> = maps.iter().map(|map| map.bytes(0, map.len_bytes())).collect();
    let scan = scan_chunks(&path, segment_id, first_lsn, options, chunks.iter().cloned())?;
    let truth = SegmentIndex::new(
        scan.records
            .iter()
            .map(|r| IndexEntry {
                lsn: r.record.lsn,
                chunk: r.chunk,
                offset: u32::try_from(r.record.offset).expect("chunks are at most 1 GiB"),
            })
            .collect(),
    );
    let index_path = dir.join(index_file_name(segment_id));
    let stated = match storage.open(&index_path).and_then(|file| file.read_to_end()) {
        Ok(bytes) => SegmentIndex::decode(&bytes, segment_id, first_lsn),
        Err(error) if error.kind() == io::ErrorKind::NotFound => SegmentIndex::default(),
        Err(error) => return Err(Error::io("read", &index_path, error)),
    };
    let mut beyond = stated.entries().iter().filter(|entry| entry.lsn >= scan.next_lsn);
    if let Some(entry) = beyond.find(|entry| frame_intact(&chunks, entry, segment_id, options)) {
        return Err(Error::Corrupt {
            path,
            chunk: scan.end_chunk,
            reason: format!(
                "damaged at offset {} ({:?}), before LSN {} at chunk {} offset {}, which is \
                 intact and was indexed as durable",
                scan.end_offset, scan.end, entry.lsn, entry.chunk, entry.offset
            ),
        });
    }
    let sealed = check_seal(&path, &scan, &truth, segment_id)?;
    let kept = stated.entries().iter().zip(truth.entries()).take_while(|(a, b)| a == b).count();
    let index_status = if kept == stated.entries().len() && kept == truth.entries().len() {
        IndexStatus::Confirmed
    } else {
        // Make what the scan found durable before the index vouches for it.
        for map in maps.iter().take(scan.end_chunk as usize + 1) {
            map.sync(0, map.len_bytes()).map_err(|e| Error::io("msync", &path, e))?;
        }
        rewrite_index(storage, dir, &index_path, &truth, segment_id)?;
        IndexStatus::Rebuilt { kept }
    };
    Ok(RecoveredSegment { scan, index: truth, index_status, sealed })
}

/// The seal, if the last record is one. A seal that disagrees with the data it describes cannot
/// come from a crash: it is corruption.
fn check_seal(
    path: &Path,
    scan: &SegmentScan,
    truth: &SegmentIndex,
    segment_id: u64,
) -> Result<Option<SealInfo>, Error> {
    let Some(last) = scan.records.last().filter(|r| r.record.tag == wal_format::Tag::SEAL) else {
        return Ok(None);
    };
    let before = scan.records.len() - 1;
    let index_crc =
        crc32fast::hash(&SegmentIndex::new(truth.entries()[..before].to_vec()).encode(segment_id));
    let expected = SealInfo { seal_lsn: last.record.lsn, record_count: before as u64, index_crc };
    match SealInfo::decode(&last.record.payload) {
        Some(info) if info == expected => Ok(Some(info)),
        stated => Err(Error::Corrupt {
            path: path.to_owned(),
            chunk: last.chunk,
            reason: format!(
                "seal record at offset {} states {stated:?}, the data gives {expected:?}",
                last.record.offset
            ),
        }),
    }
}

/// Deletes segment `segment_id` and its index from `dir`, and makes the deletion durable.
///
/// # Errors
/// `Io` if a removal or the directory sync fails. A missing index is not an error.
pub fn delete_segment<S: Storage>(storage: &S, dir: &Path, segment_id: u64) -> Result<(), Error> {
    let data = dir.join(segment_file_name(segment_id));
    storage.remove(&data).map_err(|e| Error::io("remove", &data, e))?;
    let index = dir.join(index_file_name(segment_id));
    match storage.remove(&index) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(Error::io("remove", &index, error)),
    }
    storage.sync_dir(dir).map_err(|e| Error::io("sync directory", dir, e))
}

/// Whether the frame an index entry points at validates in place, with its chunk's salt.
fn frame_intact(
    chunks: &[Bytes],
    entry: &IndexEntry,
    segment_id: u64,
    options: SegmentOptions,
) -> bool {
    let Some(chunk) = chunks.get(entry.chunk as usize) else { return false };
    let expected = ChunkIdentity {
        chunk_size_log2: options.chunk_size_log2(),
        segment_id,
        chunk_index: entry.chunk,
        salt: wal_format::Salt(0),
        first_lsn: entry.lsn,
    };
    let identity: Result<ChunkIdentity, HeaderProblem> = ChunkIdentity::decode(chunk, &expected);
    let Ok(identity) = identity else { return false };
    matches!(
        decode_frame(chunk, entry.offset as usize, identity.salt, entry.lsn),
        Ok((Decoded::Record(_) | Decoded::Skipped { .. }, _))
    )
}

fn rewrite_index<S: Storage>(
    storage: &S,
    dir: &Path,
    index_path: &Path,
    index: &SegmentIndex,
    segment_id: u64,
) -> Result<(), Error> {
    let io = |op| move |error| Error::io(op, index_path, error);
    let file = match storage.open(index_path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let file = storage.create(index_path).map_err(io("create"))?;
            storage.sync_dir(dir).map_err(|e| Error::io("sync directory", dir, e))?;
            file
        }
        Err(error) => return Err(Error::io("open", index_path, error)),
    };
    let bytes = index.encode(segment_id);
    file.set_len(0).map_err(io("truncate"))?;
    file.write_at(0, &bytes).map_err(io("write"))?;
    file.sync_data().map_err(io("fdatasync"))
}
