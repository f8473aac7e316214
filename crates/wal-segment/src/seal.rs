//! The seal record: the last record of a finished segment, stating how many records precede it
//! and the checksum of the index that lists them (`docs/format.md`, "Seal record").

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use wal_format::Lsn;

use crate::index::{IndexEntry, SegmentIndex};
use crate::segment_id::SegmentId;

/// Size of the seal record's payload.
pub const SEAL_PAYLOAD_BYTES: usize = 24;

/// The payload of a `SEAL` record, as it lies on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct SealPayload {
    /// The seal record's own LSN: the LSN after the segment's last data record.
    pub seal_lsn: U64,
    /// How many records precede the seal in the segment.
    pub record_count: U64,
    /// CRC-32 of the index file as it was before the seal's own entry.
    pub index_crc: U32,
    /// Written as zero.
    pub reserved: U32,
}

const _: () = assert!(size_of::<SealPayload>() == SEAL_PAYLOAD_BYTES);

/// Bytes a seal record's frame takes; every chunk keeps this much free for it.
pub(crate) const SEAL_FRAME_BYTES: usize = match wal_format::frame_len(SEAL_PAYLOAD_BYTES) {
    Some(len) => len,
    None => panic!("the seal payload is small"),
};

/// What a valid seal states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealInfo {
    /// The seal record's LSN; the next segment starts after it.
    pub seal_lsn: Lsn,
    /// Records before the seal.
    pub record_count: u64,
    /// CRC-32 of the index before the seal's entry.
    pub index_crc: u32,
}

/// What a human reads, for a message comparing a stated seal with the one the data gives.
impl std::fmt::Display for SealInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LSN {}, {} records before it, index checksum {:#010x}",
            self.seal_lsn, self.record_count, self.index_crc
        )
    }
}

impl SealInfo {
    /// The seal that belongs after the records `index` lists, as record `seal_lsn`.
    #[must_use]
    pub fn for_index(seal_lsn: Lsn, index: &SegmentIndex, segment_id: SegmentId) -> SealInfo {
        SealInfo::for_entries(seal_lsn, index.entries().iter().copied(), segment_id)
    }

    /// As [`SealInfo::for_index`], for the records `entries` lists, without building an index
    /// (a seal of a whole segment's records, on the appending path).
    pub(crate) fn for_entries(
        seal_lsn: Lsn,
        entries: impl Iterator<Item = IndexEntry>,
        segment_id: SegmentId,
    ) -> SealInfo {
        let (index_crc, record_count) = crate::index::image_crc(segment_id, entries);
        SealInfo { seal_lsn, record_count, index_crc }
    }

    /// The payload bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; SEAL_PAYLOAD_BYTES] {
        let payload = SealPayload {
            seal_lsn: self.seal_lsn.0.into(),
            record_count: self.record_count.into(),
            index_crc: self.index_crc.into(),
            reserved: 0.into(),
        };
        let mut bytes = [0u8; SEAL_PAYLOAD_BYTES];
        bytes.copy_from_slice(payload.as_bytes());
        bytes
    }

    /// Reads a seal payload; `None` if it has the wrong size.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<SealInfo> {
        let payload = SealPayload::ref_from_bytes(bytes).ok()?;
        Some(SealInfo {
            seal_lsn: Lsn(payload.seal_lsn.get()),
            record_count: payload.record_count.get(),
            index_crc: payload.index_crc.get(),
        })
    }
}
