//! The positions of a segment's records in memory, 4 bytes each.
//!
//! Records of a segment have dense LSNs, and each chunk holds a contiguous run of them, so a
//! record's LSN and chunk are implied by its number: only its offset in the chunk is stored.
//! (The index *file* keeps the full 20-byte entries, so each one can be checked on its own.)
//! An LSN taken by a frame this version skips (an unknown skippable tag, from a newer writer)
//! has no record: its offset is `SKIPPED`.

use wal_format::{Lsn, Salt};

use crate::index::{IndexEntry, SegmentIndex};

/// The offset of an LSN that has no record (a skipped frame).
const SKIPPED: u32 = u32::MAX;

/// Where each record of a segment lies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordPositions {
    first_lsn: Lsn,
    /// Offset of record `i` (LSN `first_lsn + i`) within its chunk.
    offsets: Vec<u32>,
    /// For each chunk, by index: the number of its first record and its salt.
    chunks: Vec<(usize, Salt)>,
}

impl RecordPositions {
    /// No records yet; the first will have LSN `first_lsn`.
    #[must_use]
    pub fn new(first_lsn: Lsn) -> RecordPositions {
        RecordPositions { first_lsn, offsets: Vec::new(), chunks: Vec::new() }
    }

    /// As [`RecordPositions::new`], with room for `records` reserved up front: a writer's
    /// positions then never move while it appends (a move of a large vector remaps memory,
    /// which waits for the process's memory-map lock that pre-faulting chunks holds). Only
    /// address space is reserved; pages are used as records come.
    #[must_use]
    pub fn with_capacity(first_lsn: Lsn, records: usize) -> RecordPositions {
        RecordPositions { first_lsn, offsets: Vec::with_capacity(records), chunks: Vec::new() }
    }

    /// Gives back the room reserved beyond the records held (a sealed segment's positions).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.offsets.shrink_to_fit();
    }

    /// The positions an index lists (entries with dense LSNs from `first_lsn`, as recovery
    /// produces them).
    #[must_use]
    pub fn from_index(first_lsn: Lsn, index: &SegmentIndex) -> RecordPositions {
        let mut positions = RecordPositions::new(first_lsn);
        for entry in index.entries() {
            while positions.chunks.len() <= entry.chunk as usize {
                positions.start_chunk(entry.salt);
            }
            // LSNs of skipped frames lie between entries.
            let at = entry.lsn.0.saturating_sub(first_lsn.0);
            while (positions.offsets.len() as u64) < at {
                positions.push(SKIPPED);
            }
            positions.push(entry.offset);
        }
        positions
    }

    /// The next records lie in a new chunk with this salt.
    pub(crate) fn start_chunk(&mut self, salt: Salt) {
        self.chunks.push((self.offsets.len(), salt));
    }

    /// The next record lies at `offset` of the newest chunk.
    pub(crate) fn push(&mut self, offset: u32) {
        self.offsets.push(offset);
    }

    /// Forgets every record from number `len` on.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.offsets.truncate(len);
    }

    /// How many records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The LSN of the first record.
    #[must_use]
    pub fn first_lsn(&self) -> Lsn {
        self.first_lsn
    }

    /// Record number `at` as an index entry.
    ///
    /// # Panics
    /// If there is no such record.
    #[must_use]
    pub fn entry(&self, at: usize) -> IndexEntry {
        // The last chunk that starts at or before the record (an empty chunk starts where the
        // next one does, and holds nothing).
        let chunk = self.chunks.partition_point(|&(start, _)| start <= at) - 1;
        IndexEntry {
            lsn: Lsn(self.first_lsn.0 + at as u64),
            chunk: u32::try_from(chunk).expect("chunks fit in u32"),
            offset: self.offsets[at],
            salt: self.chunks[chunk].1,
        }
    }

    /// Where the record with this LSN lies, if the segment holds it.
    #[must_use]
    pub fn get(&self, lsn: Lsn) -> Option<IndexEntry> {
        let at = usize::try_from(lsn.0.checked_sub(self.first_lsn.0)?).ok()?;
        (self.offsets.get(at).is_some_and(|&offset| offset != SKIPPED)).then(|| self.entry(at))
    }

    /// Records `range` as full index entries. One pass: the chunk is found once, then
    /// followed forward (a seal lists a whole segment's records this way).
    pub fn entries(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = IndexEntry> + '_ {
        let mut chunk = self.chunks.partition_point(|&(start, _)| start <= range.start);
        chunk = chunk.saturating_sub(1);
        range.filter_map(move |at| {
            // The last chunk that starts at or before the record, as in `entry`.
            while self.chunks.get(chunk + 1).is_some_and(|&(start, _)| start <= at) {
                chunk += 1;
            }
            let offset = self.offsets[at];
            (offset != SKIPPED).then(|| IndexEntry {
                lsn: Lsn(self.first_lsn.0 + at as u64),
                chunk: u32::try_from(chunk).expect("chunks fit in u32"),
                offset,
                salt: self.chunks[chunk].1,
            })
        })
    }

    /// The first `len` records as an index.
    #[must_use]
    pub fn to_index(&self, len: usize) -> SegmentIndex {
        SegmentIndex::new(self.entries(0..len).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_an_index_with_empty_chunks() {
        let mut positions = RecordPositions::new(Lsn(10));
        positions.start_chunk(Salt(1));
        positions.push(64);
        positions.push(96);
        positions.start_chunk(Salt(2)); // holds nothing
        positions.start_chunk(Salt(3));
        positions.push(64);
        let index = positions.to_index(positions.len());
        let chunks: Vec<u32> = index.entries().iter().map(|e| e.chunk).collect();
        assert_eq!(chunks, [0, 0, 2]);
        assert_eq!(positions.get(Lsn(12)).map(|e| (e.offset, e.salt)), Some((64, Salt(3))));
        assert_eq!(positions.get(Lsn(13)), None);
        assert_eq!(positions.get(Lsn(9)), None);
        for start in 0..positions.len() {
            let one_by_one: Vec<IndexEntry> =
                (start..positions.len()).map(|at| positions.entry(at)).collect();
            assert_eq!(positions.entries(start..positions.len()).collect::<Vec<_>>(), one_by_one);
        }
        let back = RecordPositions::from_index(Lsn(10), &index);
        assert_eq!(back.to_index(back.len()), index);
    }

    #[test]
    fn lsns_of_skipped_frames_have_no_position() {
        let mut entries = Vec::new();
        for (lsn, offset) in [(5, 64), (7, 128)] {
            entries.push(IndexEntry { lsn: Lsn(lsn), chunk: 0, offset, salt: Salt(9) });
        }
        let positions = RecordPositions::from_index(Lsn(5), &SegmentIndex::new(entries.clone()));
        assert_eq!(positions.len(), 3);
        assert_eq!(positions.get(Lsn(6)), None);
        assert_eq!(positions.get(Lsn(7)), Some(entries[1]));
        assert_eq!(positions.to_index(3).entries(), &entries[..]);
    }
}
