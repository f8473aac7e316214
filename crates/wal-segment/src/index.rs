//! The sidecar index of a segment: the exact position of every durable record, one 20-byte entry
//! per record (`docs/format.md`, "Sidecar index").
//!
//! It is written only after a sync has made the records it lists durable, and it is only ever a
//! hint: on open it is checked against the data, entries the data does not confirm are dropped,
//! and a missing, short, stale or damaged index is rebuilt from a scan. What it adds beyond speed
//! is the *durable point*: an entry whose frame still validates in place proves that everything
//! before it was synced, so a scan that stops earlier has met damage, not a torn write.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use wal_format::{Lsn, Salt};

use crate::segment_id::SegmentId;
use crate::storage::SegmentFile;

/// Size of the index file header.
pub const INDEX_HEADER_BYTES: usize = 24;
/// Size of one index entry.
pub const INDEX_ENTRY_BYTES: usize = 20;
/// The magic bytes that open an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"WALINDEX";

/// The index file header, as it lies on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct IndexHeader {
    /// [`INDEX_MAGIC`].
    pub magic: [u8; 8],
    /// The segment format version (1).
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

    /// The file image of this index for segment `segment_id`.
    #[must_use]
    pub fn encode(&self, segment_id: SegmentId) -> Vec<u8> {
        let mut bytes =
            Vec::with_capacity(INDEX_HEADER_BYTES + self.entries.len() * INDEX_ENTRY_BYTES);
        bytes.extend_from_slice(&header_bytes(segment_id));
        for entry in &self.entries {
            bytes.extend_from_slice(&encode_entry(entry));
        }
        bytes
    }

    /// The entries an index file states, as far as they are well formed: a header for
    /// `segment_id`, then entries with increasing LSNs from `first_lsn` on. Never fails: whatever
    /// cannot be used is left out, and the caller checks the rest against the data.
    #[must_use]
    pub fn decode(bytes: &[u8], segment_id: SegmentId, first_lsn: Lsn) -> SegmentIndex {
        let Ok((header, body)) = IndexHeader::ref_from_prefix(bytes) else {
            return SegmentIndex::default();
        };
        let header_ok = header.magic == INDEX_MAGIC
            && header.format_version.get() == crate::SEGMENT_FORMAT_VERSION
            && header.segment_id.get() == segment_id.0;
        if !header_ok {
            return SegmentIndex::default();
        }
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
        SegmentIndex { entries }
    }
}

/// The header of segment `segment_id`'s index file.
pub(crate) fn header_bytes(segment_id: SegmentId) -> [u8; INDEX_HEADER_BYTES] {
    let header = IndexHeader {
        magic: INDEX_MAGIC,
        format_version: crate::SEGMENT_FORMAT_VERSION.into(),
        reserved: 0.into(),
        segment_id: segment_id.0.into(),
    };
    let mut bytes = [0u8; INDEX_HEADER_BYTES];
    bytes.copy_from_slice(header.as_bytes());
    bytes
}

/// CRC-32 of the file image of an index of `entries` for segment `segment_id`, computed
/// without building the image (the seal's checksum of a whole segment's index).
pub(crate) fn image_crc(
    segment_id: SegmentId,
    entries: impl Iterator<Item = IndexEntry>,
) -> (u32, u64) {
    // Entries are hashed 4 KiB at a time: the CRC has a fixed cost per call.
    const BATCH: usize = 4096 / INDEX_ENTRY_BYTES;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header_bytes(segment_id));
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
                    offset: n % 10 * 64,
                    salt: Salt(n),
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
            assert_eq!(crc, crc32fast::hash(&index.encode(SegmentId(9))), "{count} entries");
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

    #[test]
    fn damage_shortens_the_usable_prefix_and_never_panics() {
        let bytes = index(0, 20).encode(SegmentId(1));
        for cut in 0..bytes.len() {
            let decoded = SegmentIndex::decode(&bytes[..cut], SegmentId(1), Lsn(0));
            let whole = cut.saturating_sub(INDEX_HEADER_BYTES) / INDEX_ENTRY_BYTES;
            assert_eq!(decoded.entries().len(), if cut < INDEX_HEADER_BYTES { 0 } else { whole });
        }
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
