//! The numeric limits of format version 1, in one place.
//!
//! Each constant is normative: `docs/format.md` lists it and a test ties the two together. The
//! compile-time assertions at the bottom state how the limits relate, so changing one without the
//! others fails to build. This module holds numbers only; it does not validate anything at runtime.

/// The format version these constants describe. Bumped on any change to the bytes on disk.
pub const FORMAT_VERSION: u32 = 1;

/// Every frame starts at a multiple of this many bytes from the start of its chunk, and every
/// frame's length is a multiple of it. 8 keeps the 8-byte LSN naturally aligned. (A header can
/// still cross a 512-byte sector boundary, at offsets 496 and 504 of a sector; a torn header then
/// fails its checksum like any torn frame.)
pub const ALIGNMENT_BYTES: usize = 8;

/// Size of the fixed frame header (see `FrameHeader`).
pub const HEADER_SIZE_BYTES: usize = 24;

/// Largest payload one frame may carry: 4 MiB minus the header, so the largest frame is 4 MiB.
///
/// It bounds the memory a single record can demand of a reader, and bounds the space lost to
/// padding at the end of a 16 MiB chunk to a quarter of the chunk. Larger values belong in a blob
/// store with a reference in the log. Raising it is a format change: an older reader would report a
/// valid larger frame as `Error::ImpossibleLength`.
pub const MAX_PAYLOAD_BYTES: usize = (4 << 20) - HEADER_SIZE_BYTES;

/// Largest frame: header plus the largest payload, rounded up to the alignment.
pub const MAX_FRAME_BYTES: usize = align_up(HEADER_SIZE_BYTES + MAX_PAYLOAD_BYTES);

/// Size of the salt mixed into every checksum (a little-endian `u32`; see `Salt` for why 32 bits).
pub const SALT_SIZE_BYTES: usize = 4;

/// Rounds `len` up to the next multiple of [`ALIGNMENT_BYTES`]. Only for lengths bounded by
/// [`MAX_FRAME_BYTES`], far from `usize::MAX`; public code uses [`frame_len`].
#[must_use]
pub(crate) const fn align_up(len: usize) -> usize {
    (len + (ALIGNMENT_BYTES - 1)) & !(ALIGNMENT_BYTES - 1)
}

/// Length in bytes of the frame that carries a payload of `payload_len` bytes, padding included.
///
/// Returns `None` when the payload exceeds [`MAX_PAYLOAD_BYTES`].
#[must_use]
pub const fn frame_len(payload_len: usize) -> Option<usize> {
    if payload_len > MAX_PAYLOAD_BYTES {
        None
    } else {
        Some(align_up(HEADER_SIZE_BYTES + payload_len))
    }
}

const _: () = assert!(ALIGNMENT_BYTES.is_power_of_two());
const _: () = assert!(HEADER_SIZE_BYTES.is_multiple_of(ALIGNMENT_BYTES));
// Frames tile sectors evenly: a sector boundary is always a possible frame start.
const _: () = assert!(512usize.is_multiple_of(ALIGNMENT_BYTES));
const _: () = assert!(MAX_FRAME_BYTES.is_multiple_of(ALIGNMENT_BYTES));
// The length field is a u32, and the largest frame must be addressable on 32-bit targets too.
const _: () = assert!(MAX_PAYLOAD_BYTES <= u32::MAX as usize);
const _: () = assert!(MAX_FRAME_BYTES <= i32::MAX as usize);
// The largest frame is exactly a quarter of a 16 MiB chunk.
const _: () = assert!(MAX_FRAME_BYTES == (16 << 20) / 4);
const _: () = assert!(SALT_SIZE_BYTES == size_of::<u32>());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_rounds_up_and_rejects_oversized() {
        assert_eq!(frame_len(0), Some(24));
        assert_eq!(frame_len(1), Some(32));
        assert_eq!(frame_len(8), Some(32));
        assert_eq!(frame_len(9), Some(40));
        assert_eq!(frame_len(128), Some(152));
        assert_eq!(frame_len(MAX_PAYLOAD_BYTES), Some(MAX_FRAME_BYTES));
        assert_eq!(frame_len(MAX_PAYLOAD_BYTES + 1), None);
        assert_eq!(frame_len(usize::MAX), None);
    }
}
