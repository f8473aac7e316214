//! The sidecar index of a segment: the exact position of every durable record
//! (`docs/format.md`, "Sidecar index"). Version 2, written since 2026-12-07, takes 4 bytes per
//! record: a record's LSN is implied by its place, and its chunk and the chunk's salt by the
//! last chunk mark before it. Version 1 (a 20-byte entry per record) is still read.
//!
//! It is written only after a sync has made the records it lists durable, and it is only ever a
//! hint: on open it is checked against the data, entries the data does not confirm are dropped,
//! and a missing, short, stale or damaged index is rebuilt from a scan. What it adds beyond speed
//! is the *durable point*: an entry whose frame still validates in place proves that everything
//! before it was synced, so a scan that stops earlier has met damage, not a torn write.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use wal_format::{Lsn, Salt};

use crate::chunk_header::CHUNK_HEADER_BYTES;
use crate::segment_id::SegmentId;
use crate::storage::SegmentFile;

/// Size of the index file header.
pub const INDEX_HEADER_BYTES: usize = 24;
/// Size of one version-1 index entry (read, no longer written).
pub const INDEX_ENTRY_BYTES: usize = 20;
/// The index format this version writes.
pub const INDEX_FORMAT_VERSION: u32 = 2;
/// Size of one version-2 word: a record's offset, or part of a mark.
pub const INDEX_WORD_BYTES: usize = 4;
/// A version-2 word that starts a chunk's records: the chunk's index, its salt and the LSN of
/// its first record (low word, then high word) follow.
pub const INDEX_CHUNK_MARK: u32 = u32::MAX;
/// A version-2 word for an LSN that has no record (a frame of an unknown skippable tag).
pub const INDEX_SKIP_MARK: u32 = u32::MAX - 1;
/// The magic bytes that open an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"WALINDEX";

/// The index file header, as it lies on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct IndexHeader {
    /// [`INDEX_MAGIC`].
    pub magic: [u8; 8],
    /// The index format version: 2 (version 1 is still read).
    pub format_version: U32,
    /// Written as zero.
    pub reserved: U32,
    /// The segment this index describes.
    pub segment_id: U64,
}

/// One index entry, as it lies on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct IndexEntryBytes {
    /// The record's LSN.
    pub lsn: U64,
    /// The chunk that holds it.
    pub chunk: U32,
    /// The offset of its frame in the chunk.
    pub offset: U32,
    /// The salt of that chunk: lets recovery check the frame even if the chunk header is damaged.
    pub salt: U32,
}

const _: () = assert!(size_of::<IndexHeader>() == INDEX_HEADER_BYTES);
const _: () = assert!(size_of::<IndexEntryBytes>() == INDEX_ENTRY_BYTES);

/// Where one record lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The record's LSN.
    pub lsn: Lsn,
    /// The chunk that holds it.
    pub chunk: u32,
    /// The offset of its frame in the chunk.
    pub offset: u32,
    /// The salt of that chunk.
    pub salt: Salt,
}

/// The positions of a segment's records, in increasing LSN order. (Frames a newer version wrote
/// with an unknown skippable tag take an LSN but are not records, so there can be gaps.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentIndex {
    entries: Vec<IndexEntry>,
}

impl SegmentIndex {
    /// An index of `entries`, which must have increasing LSNs.
    #[must_use]
    pub fn new(entries: Vec<IndexEntry>) -> SegmentIndex {
        debug_assert!(entries.windows(2).all(|w| w[0].lsn < w[1].lsn));
        SegmentIndex { entries }
    }

    /// Where the record with LSN `lsn` lies: a binary search, O(log n).
    #[must_use]
    pub fn lookup(&self, lsn: Lsn) -> Option<IndexEntry> {
        let at = self.entries.partition_point(|entry| entry.lsn < lsn);
        self.entries.get(at).filter(|entry| entry.lsn == lsn).copied()
    }

    /// The entries, in LSN order.
    #[must_use]
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The file image of this index for segment `segment_id` (version 2). The first entry must
    /// have the segment's first LSN: LSNs are implied from there.
    #[must_use]
    pub fn encode(&self, segment_id: SegmentId) -> Vec<u8> {
        let mut bytes =
            Vec::with_capacity(INDEX_HEADER_BYTES + (self.entries.len() + 3) * INDEX_WORD_BYTES);
        bytes.extend_from_slice(&header_bytes(segment_id, INDEX_FORMAT_VERSION));
        let mut words = WordEncoder::default();
        for entry in &self.entries {
            words.push(entry, &mut bytes);
        }
        bytes
    }

    /// The entries an index file states, as far as they are well formed: a header for
    /// `segment_id` (version 1 or 2), then entries with increasing LSNs from `first_lsn` on.
    /// Never fails: whatever cannot be used is left out, and the caller checks the rest against
    /// the data. Allocates only for entries the bytes hold.
    #[must_use]
    pub fn decode(bytes: &[u8], segment_id: SegmentId, first_lsn: Lsn) -> SegmentIndex {
        let Ok((header, body)) = IndexHeader::ref_from_prefix(bytes) else {
            return SegmentIndex::default();
        };
        if header.magic != INDEX_MAGIC || header.segment_id.get() != segment_id.0 {
            return SegmentIndex::default();
        }
        let entries = match header.format_version.get() {
            1 => decode_v1(body, first_lsn),
            INDEX_FORMAT_VERSION => decode_v2(body, first_lsn),
            _ => Vec::new(),
        };
        SegmentIndex { entries }
    }
}

/// Version 1: 20-byte entries, each with its LSN, chunk, offset and salt.
fn decode_v1(body: &[u8], first_lsn: Lsn) -> Vec<IndexEntry> {
    let mut entries: Vec<IndexEntry> = Vec::new();
    for raw in body.chunks_exact(INDEX_ENTRY_BYTES) {
        let Ok(raw) = IndexEntryBytes::ref_from_bytes(raw) else { break };
        let entry = IndexEntry {
            lsn: Lsn(raw.lsn.get()),
            chunk: raw.chunk.get(),
            offset: raw.offset.get(),
            salt: Salt(raw.salt.get()),
        };
        let in_order = match entries.last() {
            None => entry.lsn == first_lsn,
            Some(last) => entry.lsn > last.lsn,
        };
        if !in_order {
            break;
        }
        entries.push(entry);
    }
    entries
}

/// Version 2: 4-byte words. A chunk mark (the chunk's index, its salt, the LSN of its first
/// record), then the offsets of its records; a skip mark for an LSN without a record. The
/// usable prefix ends at a word that cannot be: a record before any chunk mark, a chunk not
/// after the previous one, a mark whose LSN goes back (or, for the first, is not the
/// segment's first LSN), a mark cut short.
fn decode_v2(body: &[u8], first_lsn: Lsn) -> Vec<IndexEntry> {
    let mut entries = Vec::new();
    let mut words = body
        .chunks_exact(INDEX_WORD_BYTES)
        .map(|word| u32::from_le_bytes(word.try_into().expect("chunks_exact gives words")));
    let mut chunk: Option<(u32, Salt)> = None;
    let mut lsn = Some(first_lsn);
    // The offset of the chunk's last entry: offsets only grow within a chunk, and no record
    // starts inside the chunk header. A word that breaks this (the zeros of a hole an append
    // left, or damage) ends the usable part.
    let mut last_offset = 0;
    while let (Some(word), Some(at)) = (words.next(), lsn) {
        match word {
            INDEX_CHUNK_MARK => {
                let mark = (words.next(), words.next(), words.next(), words.next());
                let (Some(index), Some(salt), Some(low), Some(high)) = mark else { break };
                let starts = Lsn(u64::from(low) | u64::from(high) << 32);
                let in_order = match chunk {
                    None => starts == first_lsn,
                    Some((previous, _)) => index > previous && starts >= at,
                };
                if !in_order {
                    break;
                }
                chunk = Some((index, Salt(salt)));
                lsn = Some(starts);
                last_offset = 0;
            }
            INDEX_SKIP_MARK => lsn = at.0.checked_add(1).map(Lsn),
            offset => {
                let Some((index, salt)) = chunk else { break };
                let header_end = u32::try_from(CHUNK_HEADER_BYTES).expect("64");
                if offset < header_end || offset <= last_offset {
                    break;
                }
                last_offset = offset;
                entries.push(IndexEntry { lsn: at, chunk: index, offset, salt });
                lsn = at.0.checked_add(1).map(Lsn);
            }
        }
    }
    entries
}

/// Writes entries as version-2 words, remembering the chunk and the next LSN between calls so
/// a sync can append where the last one stopped.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WordEncoder {
    /// The chunk of the last entry written.
    chunk: Option<u32>,
    /// The LSN after the last entry written.
    next_lsn: Option<Lsn>,
}

impl WordEncoder {
    /// The state after `last`, the last entry written (or none).
    pub(crate) fn after(last: Option<&IndexEntry>) -> WordEncoder {
        WordEncoder { chunk: last.map(|entry| entry.chunk), next_lsn: last.map(|e| e.lsn.next()) }
    }

    /// Appends `entry`'s words to `out`: a chunk mark when the chunk changes (stating the
    /// entry's LSN), else skip marks for LSNs passed over; then its offset.
    pub(crate) fn push(&mut self, entry: &IndexEntry, out: &mut Vec<u8>) {
        if self.chunk == Some(entry.chunk) {
            let next = self.next_lsn.map_or(entry.lsn.0, |next| next.0);
            for _ in next..entry.lsn.0 {
                out.extend_from_slice(&INDEX_SKIP_MARK.to_le_bytes());
            }
        } else {
            let lsn = entry.lsn.0;
            // The low and high words of the LSN: truncation intended.
            #[allow(clippy::cast_possible_truncation)]
            let (low, high) = (lsn as u32, (lsn >> 32) as u32);
            for word in [INDEX_CHUNK_MARK, entry.chunk, entry.salt.0, low, high] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            self.chunk = Some(entry.chunk);
        }
        out.extend_from_slice(&entry.offset.to_le_bytes());
        self.next_lsn = Some(entry.lsn.next());
    }
}

/// The header of segment `segment_id`'s index file, in format `version`.
pub(crate) fn header_bytes(segment_id: SegmentId, version: u32) -> [u8; INDEX_HEADER_BYTES] {
    let header = IndexHeader {
        magic: INDEX_MAGIC,
        format_version: version.into(),
        reserved: 0.into(),
        segment_id: segment_id.0.into(),
    };
    let mut bytes = [0u8; INDEX_HEADER_BYTES];
    bytes.copy_from_slice(header.as_bytes());
    bytes
}

/// The seal's checksum of an index of `entries` for segment `segment_id`: CRC-32 of its
/// canonical image (the version-1 layout: header, then 20-byte entries), whatever version the
/// file is written in, so seals of every version check the same way. Computed without building
/// the image.
pub(crate) fn image_crc(
    segment_id: SegmentId,
    entries: impl Iterator<Item = IndexEntry>,
) -> (u32, u64) {
    // Entries are hashed 4 KiB at a time: the CRC has a fixed cost per call.
    const BATCH: usize = 4096 / INDEX_ENTRY_BYTES;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header_bytes(segment_id, 1));
    let mut count = 0u64;
    let mut buffer = [0u8; BATCH * INDEX_ENTRY_BYTES];
    let mut filled = 0;
    for entry in entries {
        buffer[filled..filled + INDEX_ENTRY_BYTES].copy_from_slice(&encode_entry(&entry));
        filled += INDEX_ENTRY_BYTES;
        count += 1;
        if filled == buffer.len() {
            hasher.update(&buffer);
            filled = 0;
        }
    }
    hasher.update(&buffer[..filled]);
    (hasher.finalize(), count)
}

/// The 20 bytes of one entry.
#[must_use]
pub(crate) fn encode_entry(entry: &IndexEntry) -> [u8; INDEX_ENTRY_BYTES] {
    let raw = IndexEntryBytes {
        lsn: entry.lsn.0.into(),
        chunk: entry.chunk.into(),
        offset: entry.offset.into(),
        salt: entry.salt.0.into(),
    };
    let mut bytes = [0u8; INDEX_ENTRY_BYTES];
    bytes.copy_from_slice(raw.as_bytes());
    bytes
}

/// Replaces the content of an index file with `index` and makes it durable; returns its length.
pub(crate) fn write_index_file<F: SegmentFile>(
    file: &F,
    index: &SegmentIndex,
    segment_id: SegmentId,
) -> std::io::Result<u64> {
    let bytes = index.encode(segment_id);
    file.set_len(0)?;
    file.write_at(0, &bytes)?;
    file.sync_data()?;
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(first: u32, count: u32) -> SegmentIndex {
        SegmentIndex::new(
            (first..first + count)
                .map(|n| IndexEntry {
                    lsn: Lsn(u64::from(n)),
                    chunk: n / 10,
                    offset: 64 + n % 10 * 64,
                    salt: Salt(n / 10),
                })
                .collect(),
        )
    }

    #[test]
    fn the_streamed_checksum_equals_the_checksum_of_the_image() {
        let batch = 4096 / INDEX_ENTRY_BYTES;
        for count in [0, 1, batch - 1, batch, batch + 1, 3 * batch + 7] {
            let index = index(5, u32::try_from(count).unwrap());
            let (crc, entries) = image_crc(SegmentId(9), index.entries().iter().copied());
            let mut canonical = header_bytes(SegmentId(9), 1).to_vec();
            for entry in index.entries() {
                canonical.extend_from_slice(&encode_entry(entry));
            }
            assert_eq!(crc, crc32fast::hash(&canonical), "{count} entries");
            assert_eq!(entries, count as u64);
        }
    }

    #[test]
    fn round_trip_and_lookup() {
        let original = index(100, 50);
        let decoded = SegmentIndex::decode(&original.encode(SegmentId(7)), SegmentId(7), Lsn(100));
        assert_eq!(decoded, original);
        assert_eq!(decoded.lookup(Lsn(120)), Some(original.entries()[20]));
        assert_eq!(decoded.lookup(Lsn(99)), None);
        assert_eq!(decoded.lookup(Lsn(150)), None);
    }

    /// A hole of zeros (an append that failed while a later one was written) or an offset that
    /// goes back ends the usable part instead of listing entries that point into the chunk
    /// header or backwards.
    #[test]
    fn a_zeroed_or_backward_word_ends_the_usable_part() {
        let whole = index(0, 20);
        let bytes = whole.encode(SegmentId(1));
        let header = size_of::<IndexHeader>();
        // Word 0 is the first chunk's mark (5 words); entry 3 is word 5 + 3.
        let at = header + (5 + 3) * INDEX_WORD_BYTES;
        let mut hole = bytes.clone();
        hole[at..at + INDEX_WORD_BYTES].fill(0);
        assert_eq!(
            SegmentIndex::decode(&hole, SegmentId(1), Lsn(0)).entries(),
            &whole.entries()[..3]
        );
        let mut backward = bytes;
        backward[at..at + INDEX_WORD_BYTES].copy_from_slice(&64u32.to_le_bytes());
        let decoded = SegmentIndex::decode(&backward, SegmentId(1), Lsn(0));
        assert_eq!(decoded.entries(), &whole.entries()[..3]);
    }

    #[test]
    fn damage_shortens_the_usable_prefix_and_never_panics() {
        let whole = index(0, 20);
        let bytes = whole.encode(SegmentId(1));
        let mut last = 0;
        for cut in 0..bytes.len() {
            let decoded = SegmentIndex::decode(&bytes[..cut], SegmentId(1), Lsn(0));
            let n = decoded.entries().len();
            assert_eq!(decoded.entries(), &whole.entries()[..n], "a prefix, cut at {cut}");
            assert!(n >= last, "never fewer entries for a longer prefix");
            last = n;
        }
        assert_eq!(SegmentIndex::decode(&bytes, SegmentId(1), Lsn(0)), whole);
        assert!(
            SegmentIndex::decode(&bytes, SegmentId(2), Lsn(0)).entries().is_empty(),
            "another segment"
        );
        assert!(
            SegmentIndex::decode(&bytes, SegmentId(1), Lsn(5)).entries().is_empty(),
            "another first LSN"
        );
    }
}
