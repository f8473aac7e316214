//! Integration tests of segment files, in one binary: round trips on real and simulated storage,
//! every cut point, simulated crashes, the directory lock, a full disk and failed syncs.
#![allow(clippy::cast_possible_truncation, reason = "small test indexes and byte patterns")]

use wal_segment::SegmentId;
mod concurrent;
mod crash;
mod cuts;
mod disk_full;
mod faults;
mod index;
mod layout;
mod lifecycle;
mod lock;
mod roundtrip;
mod spec;

use std::path::{Path, PathBuf};

use wal_format::{Lsn, Record, Tag};
use wal_segment::{ChunkPreparation, SegmentOptions, SegmentScan};

/// The smallest chunk, so tests cross chunk boundaries with little data.
pub(crate) const CHUNK: usize = 64 << 10;

/// Options with the smallest chunk; the next chunk is prepared in the background (the default).
pub(crate) fn options(chunks_per_segment: u32) -> SegmentOptions {
    SegmentOptions { chunk_bytes: CHUNK, chunks_per_segment, ..SegmentOptions::default() }
}

/// As [`options`], but every storage operation happens in the writer's thread, in a fixed order:
/// what tests that inject a fault at the Nth operation, or crash with a seed, need to be
/// reproducible.
pub(crate) fn inline_options(chunks_per_segment: u32) -> SegmentOptions {
    SegmentOptions { preparation: ChunkPreparation::Inline, ..options(chunks_per_segment) }
}

/// `ci` normally; `torture` under `cargo xtask torture` (which sets `WAL_TORTURE=1`): the
/// counts of a reliability figure at the two levels of `docs/RELIABILITY.md`.
pub(crate) fn reliability_count<T>(ci: T, torture: T) -> T {
    if std::env::var_os("WAL_TORTURE").is_some() { torture } else { ci }
}

/// The log directory used on simulated storage.
pub(crate) fn sim_dir() -> PathBuf {
    PathBuf::from("/log")
}

pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(wal_segment::segment_file_name(SegmentId(id)))
}

/// A record as the tests remember it: tag and payload, its LSN given by its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) tag: Tag,
    pub(crate) payload: Vec<u8>,
}

impl Written {
    pub(crate) fn new(tag: Tag, payload: Vec<u8>) -> Written {
        Written { tag, payload }
    }

    pub(crate) fn record(&self) -> Record<'_> {
        Record { tag: self.tag, payload: &self.payload }
    }
}

/// A payload whose bytes depend on its LSN, so a record read at the wrong LSN never matches.
pub(crate) fn payload(lsn: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (lsn.wrapping_mul(31).wrapping_add(i as u64 * 7) % 251) as u8).collect()
}

/// Checks that `scan` holds exactly the first `count` of `written`, from LSN `first`.
pub(crate) fn assert_prefix(scan: &SegmentScan, written: &[Written], first: Lsn, count: usize) {
    assert_eq!(scan.records.len(), count, "records recovered (end: {:?})", scan.end);
    for (index, (got, want)) in scan.records.iter().zip(written).enumerate() {
        assert_eq!(got.record.lsn, Lsn(first.0 + index as u64));
        assert_eq!((got.record.tag, &got.record.payload[..]), (want.tag, &want.payload[..]));
    }
    assert_eq!(scan.next_lsn, Lsn(first.0 + count as u64));
}
