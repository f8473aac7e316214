//! The anchor file: where the log logically starts, and its latest tail cut, kept durable in two
//! alternating copies.
//!
//! `truncate_before` and pruning move the start forward before they delete any file, so a crash
//! never exposes records the user dropped. `truncate_after` records its cut here too (segments
//! below an id end at an LSN), beside the new segment that starts at the cut: if that segment's
//! first chunk header were lost while it holds no record, the cut records still stay cut.
//! Each update writes the older of two 48-byte slots, 4 KiB apart (never in one sector), and
//! syncs it; a torn write can only damage the slot being written, and opening takes the valid
//! slot with the higher sequence number. Layout of a slot (little-endian): magic `WALANCHR` (8),
//! sequence (u64), start LSN (u64), cut segment id (u64), cut LSN (u64), CRC-32 of the first
//! 40 bytes (u32), zero (4). No cut is segment id 0 (no segment lies below it).

use std::io;
use std::path::{Path, PathBuf};

use wal_format::Lsn;
use wal_segment::storage::SegmentFile;
use wal_segment::{SegmentId, Storage};

use crate::error::Error;

/// The anchor file's name in the log directory.
pub const ANCHOR_FILE_NAME: &str = "wal.anchor";
const MAGIC: &[u8; 8] = b"WALANCHR";
const SLOT_BYTES: usize = 48;
const SLOT_STRIDE: usize = 4096;

// A slot's fields (`docs/format.md`, "The anchor file"; a test checks the two agree).
const MAGIC_AT: usize = 0;
const SEQUENCE_AT: usize = 8;
const START_AT: usize = 16;
const CUT_SEGMENT_AT: usize = 24;
const CUT_LSN_AT: usize = 32;
/// The CRC-32 of the bytes before it.
const CRC_AT: usize = 40;
const RESERVED_AT: usize = 44;
const _: () = assert!(RESERVED_AT + 4 == SLOT_BYTES && CRC_AT + 4 == RESERVED_AT);
const _: () = assert!(SLOT_STRIDE >= SLOT_BYTES && SLOT_STRIDE.is_multiple_of(4096));
/// Bytes of an anchor file: two slots.
const FILE_BYTES: usize = SLOT_STRIDE + SLOT_BYTES;
/// The longest valid anchor file: two slots. A longer file is damaged, and is never read.
pub(crate) const MAX_BYTES: u64 = FILE_BYTES as u64;

/// The open anchor file and what it says.
pub(crate) struct Anchor<S: Storage> {
    file: S::File,
    path: PathBuf,
    sequence: u64,
    start: Lsn,
    cut: Cut,
}

/// The latest tail cut: segments with an id below `below_segment` hold no record at or after
/// `at`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) below_segment: SegmentId,
    pub(crate) at: Lsn,
}

impl<S: Storage> Anchor<S> {
    /// Opens the anchor of `dir`, creating it (durably) with `start` if it does not exist.
    pub(crate) fn open(storage: &S, dir: &Path, start: Lsn) -> Result<Anchor<S>, Error> {
        let path = dir.join(ANCHOR_FILE_NAME);
        match storage.open(&path) {
            Ok(file) => {
                let len = file.len_bytes().map_err(|e| io_error("stat", &path, e))?;
                // A valid anchor is two slots; never read more than that from an untrusted file.
                let bytes = if len <= MAX_BYTES {
                    file.read_to_end().map_err(|e| io_error("read", &path, e))?
                } else {
                    Vec::new()
                };
                let Some((sequence, start, cut)) = decode(&bytes) else {
                    return Err(Error::AnchorDamaged { path });
                };
                let mut anchor = Anchor { file, path, sequence, start, cut };
                anchor.make_durable()?;
                Ok(anchor)
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let file = storage.create(&path).map_err(|e| io_error("create", &path, e))?;
                // Both slots' blocks are written now, so later updates never need space: an
                // anchor can be rewritten on a full disk.
                file.write_at(0, &[0; FILE_BYTES]).map_err(|e| io_error("write", &path, e))?;
                let mut anchor = Anchor { file, path, sequence: 0, start, cut: Cut::default() };
                anchor.set_start(start)?;
                storage.sync_dir(dir).map_err(|e| io_error("sync directory", dir, e))?;
                Ok(anchor)
            }
            Err(error) => Err(io_error("open", &path, error)),
        }
    }

    /// Makes what the anchor says durable by a write of this process, before recovery acts on
    /// it (deletes segments before the start or after the cut). The slot read may be only in
    /// the page cache: written by a process that died, or whose sync failed (Linux then marks
    /// the page clean though the disk never got it, and a later sync writes nothing). So the
    /// same start and cut are written into the other slot with the next sequence number, and
    /// synced. On a full disk (the other slot's block never allocated), a plain sync is the
    /// best there is; the log still opens.
    fn make_durable(&mut self) -> Result<(), Error> {
        match self.write(self.start, self.cut) {
            Err(error) if error.is_out_of_space() => {
                self.file.sync_data().map_err(|e| io_error("sync", &self.path, e))
            }
            other => other,
        }
    }

    /// Replaces a damaged anchor with a new one saying `start`.
    pub(crate) fn recreate(storage: &S, dir: &Path, start: Lsn) -> Result<Anchor<S>, Error> {
        let path = dir.join(ANCHOR_FILE_NAME);
        storage.remove(&path).map_err(|e| io_error("remove", &path, e))?;
        Anchor::open(storage, dir, start)
    }

    /// The durable logical start.
    pub(crate) fn start(&self) -> Lsn {
        self.start
    }

    /// The latest durable tail cut.
    pub(crate) fn cut(&self) -> Cut {
        self.cut
    }

    /// Makes `start` the durable logical start.
    pub(crate) fn set_start(&mut self, start: Lsn) -> Result<(), Error> {
        self.write(start, self.cut)
    }

    /// Makes `cut` the durable latest tail cut.
    pub(crate) fn set_cut(&mut self, cut: Cut) -> Result<(), Error> {
        self.write(self.start, cut)
    }

    fn write(&mut self, start: Lsn, cut: Cut) -> Result<(), Error> {
        // The sequence is read from disk: at its end, the file is damaged, never wrapped (a
        // wrapped sequence would lose to the older slot).
        let sequence =
            self.sequence.checked_add(1).ok_or(Error::AnchorDamaged { path: self.path.clone() })?;
        let at = (sequence % 2) * SLOT_STRIDE as u64;
        let slot = encode_slot(sequence, start, cut);
        self.file.write_at(at, &slot).map_err(|e| io_error("write", &self.path, e))?;
        self.file.sync_data().map_err(|e| io_error("sync", &self.path, e))?;
        (self.sequence, self.start, self.cut) = (sequence, start, cut);
        Ok(())
    }
}

/// Bytes of a slot the CRC covers.
const CHECKED: usize = CRC_AT;

fn encode_slot(sequence: u64, start: Lsn, cut: Cut) -> [u8; SLOT_BYTES] {
    let mut slot = [0u8; SLOT_BYTES];
    slot[MAGIC_AT..MAGIC_AT + 8].copy_from_slice(MAGIC);
    let words = [
        (SEQUENCE_AT, sequence),
        (START_AT, start.0),
        (CUT_SEGMENT_AT, cut.below_segment.0),
        (CUT_LSN_AT, cut.at.0),
    ];
    for (at, word) in words {
        slot[at..at + 8].copy_from_slice(&word.to_le_bytes());
    }
    let crc = crc32fast::hash(&slot[..CHECKED]);
    slot[CHECKED..CHECKED + 4].copy_from_slice(&crc.to_le_bytes());
    slot
}

/// The sequence, start and cut an anchor file's bytes say (the valid slot with the higher
/// sequence), or `None` if neither slot is valid. Reads nothing but `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Option<(u64, Lsn, Cut)> {
    [0, SLOT_STRIDE]
        .iter()
        .filter_map(|&at| decode_slot(bytes.get(at..at + SLOT_BYTES)?))
        .max_by_key(|slot| slot.0)
}

fn decode_slot(slot: &[u8]) -> Option<(u64, Lsn, Cut)> {
    let word = |at: usize| u64::from_le_bytes(slot[at..at + 8].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(slot[CHECKED..CHECKED + 4].try_into().expect("4 bytes"));
    let valid = &slot[MAGIC_AT..MAGIC_AT + 8] == MAGIC && crc32fast::hash(&slot[..CHECKED]) == crc;
    let cut = Cut { below_segment: SegmentId(word(CUT_SEGMENT_AT)), at: Lsn(word(CUT_LSN_AT)) };
    valid.then(|| (word(SEQUENCE_AT), Lsn(word(START_AT)), cut))
}

fn io_error(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Segment(wal_segment::Error::io(op, path, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = include_str!("../../../docs/format.md");

    #[test]
    fn the_slot_layout_is_the_one_format_md_gives() {
        let section = SPEC.split("### The anchor file").nth(1).expect("the section");
        let section = section.split("\n#").next().expect("its text");
        let rows: Vec<&str> = section
            .lines()
            .filter(|line| {
                line.starts_with("| ") && (line.contains('`') || line.contains("reserved"))
            })
            .filter(|line| !line.starts_with("| offset"))
            .collect();
        let fields = [
            (MAGIC_AT, 8, "`magic`"),
            (SEQUENCE_AT, 8, "`sequence`"),
            (START_AT, 8, "`start`"),
            (CUT_SEGMENT_AT, 8, "`cut_segment`"),
            (CUT_LSN_AT, 8, "`cut_lsn`"),
            (CRC_AT, 4, "`crc`"),
            (RESERVED_AT, 4, "reserved"),
        ];
        assert_eq!(rows.len(), fields.len(), "{rows:?}");
        for ((at, size, name), row) in fields.iter().zip(&rows) {
            assert!(row.starts_with(&format!("| {at} | {size} |")) && row.contains(name), "{row}");
        }
        let magic = format!("`{}`", std::str::from_utf8(MAGIC).expect("ASCII"));
        assert!(section.contains(&magic));
        let slots = format!("two {SLOT_BYTES}-byte slots, at offsets 0 and {SLOT_STRIDE}");
        assert!(section.contains(&slots), "{slots}");
    }

    #[test]
    fn a_slot_round_trips_and_any_flipped_bit_is_refused() {
        let cut = Cut { below_segment: SegmentId(3), at: Lsn(99) };
        let slot = encode_slot(7, Lsn(42), cut);
        assert_eq!(decode_slot(&slot), Some((7, Lsn(42), cut)));
        for bit in 0..(CHECKED + 4) * 8 {
            let mut bad = slot;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(decode_slot(&bad), None, "bit {bit}");
        }
    }
}
