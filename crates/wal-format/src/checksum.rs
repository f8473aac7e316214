//! The salted frame checksum.
//!
//! checksum = CRC-32 (IEEE, as computed by crc32fast) of `salt as u64 little-endian` followed by the
//! frame bytes from offset 4 (just after the checksum field) to the end of the frame, alignment
//! padding included. The salt comes first so a reader can hash it once per chunk and clone that
//! state for every frame. The salt is never stored in the frame: a frame copied into a chunk with
//! another salt (a reused chunk of an earlier epoch, another segment) fails to validate.

use crc32fast::Hasher;

use crate::header::CHECKSUMMED_FROM;

/// The caller-supplied value mixed into every checksum of one chunk.
///
/// The segment layer derives it from what identifies a chunk's contents in time and place
/// (segment, chunk index, epoch), so stale or misplaced frames never validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Salt(pub u64);

/// A CRC-32 state that has already absorbed a salt, reused for every frame of a chunk.
#[derive(Clone, Debug)]
pub struct FrameHasher {
    salted: Hasher,
}

impl FrameHasher {
    /// Absorbs `salt` once.
    #[must_use]
    pub fn new(salt: Salt) -> FrameHasher {
        let mut salted = Hasher::new();
        salted.update(&salt.0.to_le_bytes());
        FrameHasher { salted }
    }

    /// The checksum of one whole frame (`frame.len()` is the aligned frame length).
    ///
    /// # Panics
    /// If `frame` is shorter than the checksum field, which callers rule out beforehand.
    #[must_use]
    #[inline]
    pub fn checksum(&self, frame: &[u8]) -> u32 {
        let mut hasher = self.salted.clone();
        hasher.update(&frame[CHECKSUMMED_FROM..]);
        hasher.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_changes_the_checksum() {
        let frame = [7u8; 32];
        let a = FrameHasher::new(Salt(1)).checksum(&frame);
        let b = FrameHasher::new(Salt(2)).checksum(&frame);
        assert_ne!(a, b);
    }

    #[test]
    fn matches_plain_crc32_of_salt_then_body() {
        let frame: Vec<u8> = (0..40).collect();
        let mut plain = Vec::from(0x0123_4567_89ab_cdef_u64.to_le_bytes());
        plain.extend_from_slice(&frame[4..]);
        let salt = Salt(0x0123_4567_89ab_cdef);
        assert_eq!(FrameHasher::new(salt).checksum(&frame), crc32fast::hash(&plain));
    }

    #[test]
    fn checksum_field_itself_is_not_covered() {
        let mut frame = [3u8; 24];
        let hasher = FrameHasher::new(Salt(9));
        let before = hasher.checksum(&frame);
        frame[..4].copy_from_slice(&[0xff; 4]);
        assert_eq!(hasher.checksum(&frame), before);
    }
}
