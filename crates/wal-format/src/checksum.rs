//! The salted frame checksum.
//!
//! checksum = CRC-32 (IEEE, as computed by crc32fast) of `salt as u32 little-endian` followed by the
//! frame bytes from offset 4 (just after the checksum field) to the end of the frame, alignment
//! padding included. The salt comes first so a reader can hash it once per chunk and clone that
//! state for every frame. The salt is never stored in the frame.
//!
//! Why 32 bits: CRC-32 maps any 32-bit message injectively onto its 32-bit state (it detects every
//! burst of up to 32 bits), and the state transition over the bytes that follow is invertible. So
//! two *different* salts give *different* checksums for the same frame bytes, always: a frame
//! copied into a chunk with another salt (a recycled chunk of an earlier epoch, another segment)
//! never validates. A longer salt would buy nothing: the state has 32 bits, and salts whose
//! difference lies in the kernel of the 64-to-32-bit map would collide on every frame.

use crc32fast::Hasher;

use crate::header::CHECKSUMMED_FROM;

/// The caller-supplied value mixed into every checksum of one chunk.
///
/// The segment layer gives every use of a chunk's space a salt different from all earlier ones,
/// so stale or misplaced frames never validate (see the module documentation for why that holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Salt(pub u32);

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

    /// The checksum of one whole frame (`frame.len()` is the aligned frame length). Bytes before
    /// [`CHECKSUMMED_FROM`] (the checksum field) are not covered.
    #[must_use]
    #[inline]
    pub fn checksum(&self, frame: &[u8]) -> u32 {
        let mut hasher = self.salted.clone();
        hasher.update(frame.get(CHECKSUMMED_FROM..).unwrap_or_default());
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
        let mut plain = Vec::from(0x89ab_cdef_u32.to_le_bytes());
        plain.extend_from_slice(&frame[4..]);
        let salt = Salt(0x89ab_cdef);
        assert_eq!(FrameHasher::new(salt).checksum(&frame), crc32fast::hash(&plain));
    }

    #[test]
    fn distinct_salts_always_give_distinct_checksums() {
        // The claim in the module documentation, checked on salts that differ in one bit, in
        // many bits, and by small counts, over frames of several lengths.
        let frames: [&[u8]; 3] = [&[0; 24], &[0xA5; 152], &[7; 4096]];
        let mut pairs = 0;
        for frame in frames {
            for base in [0u32, 1, 0xDEAD_BEEF, u32::MAX] {
                let reference = FrameHasher::new(Salt(base)).checksum(frame);
                let others = (0..32)
                    .map(|bit| base ^ (1 << bit))
                    .chain((1..1000).map(|d| base.wrapping_add(d)));
                for other in others {
                    assert_ne!(
                        FrameHasher::new(Salt(other)).checksum(frame),
                        reference,
                        "{base:#x} vs {other:#x}"
                    );
                    pairs += 1;
                }
            }
        }
        println!("salt pairs compared: {pairs}, equal checksums: 0");
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
