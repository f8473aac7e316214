//! The fixed 24-byte frame header, read and written in place with zerocopy.
//!
//! All fields are little-endian and byte-aligned types, so a header can be viewed directly inside a
//! mapped chunk at any offset without copying or byte shuffling. This module only describes the
//! layout; validation is `decode`'s job.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::limits::HEADER_SIZE_BYTES;

/// The frame header, exactly as it lies on disk (`docs/format.md`, "Frame header").
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct FrameHeader {
    /// CRC-32 of the salt followed by every byte of the frame after this field.
    pub checksum: U32,
    /// Payload length in bytes, excluding header and alignment padding.
    pub payload_len: U32,
    /// The record's log sequence number. A padding frame holds the next record's LSN.
    pub lsn: U64,
    /// The tag byte (see `Tag`).
    pub tag: u8,
    /// Written as zero by version 1; covered by the checksum; ignored by version-1 readers.
    pub reserved: [u8; 7],
}

const _: () = assert!(size_of::<FrameHeader>() == HEADER_SIZE_BYTES);
const _: () = assert!(align_of::<FrameHeader>() == 1);

/// Byte offset of the first field the checksum covers (everything after the checksum itself).
pub const CHECKSUMMED_FROM: usize = core::mem::offset_of!(FrameHeader, payload_len);

/// One row of the header table: field name, offset and size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// The field's name, as in `docs/format.md`.
    pub name: &'static str,
    /// Offset from the start of the frame.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

macro_rules! field {
    ($name:ident, $ty:ty) => {
        FieldLayout {
            name: stringify!($name),
            offset: core::mem::offset_of!(FrameHeader, $name),
            size: size_of::<$ty>(),
        }
    };
}

/// The header's fields in on-disk order, derived from the struct itself so it cannot drift.
pub const HEADER_FIELDS: [FieldLayout; 5] = [
    field!(checksum, U32),
    field!(payload_len, U32),
    field!(lsn, U64),
    field!(tag, u8),
    field!(reserved, [u8; 7]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_tile_the_header_without_gaps() {
        let mut next = 0;
        for field in HEADER_FIELDS {
            assert_eq!(field.offset, next, "{}", field.name);
            next += field.size;
        }
        assert_eq!(next, HEADER_SIZE_BYTES);
        assert_eq!(CHECKSUMMED_FROM, 4);
    }
}
