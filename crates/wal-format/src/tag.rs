//! The tag byte: what a frame is, and whether a reader that does not know it may skip it.
//!
//! The tag space is split by the byte's two high bits, the way PNG splits chunk types by letter
//! case: bit 6 says system (0) or user (1), bit 7 says critical (0) or skippable (1). The table and
//! the compatibility rule are in `docs/format.md`, "Tags". This module classifies tags; it does not
//! decide what a frame's payload means.

use core::fmt;

/// A frame's tag byte.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(u8);

/// How a reader of this format version treats a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagClass {
    /// A system tag defined by this version.
    Known,
    /// A tag in the user ranges: always delivered, its meaning is the application's.
    User,
    /// A system tag from a newer version that marked itself safe to skip.
    UnknownSkippable,
    /// A system tag this version does not know and may not skip (0x00 included).
    UnknownCritical,
}

const SKIPPABLE_BIT: u8 = 0x80;
const USER_BIT: u8 = 0x40;

impl Tag {
    /// Marks the rest of the chunk as empty: readers move on to the next chunk. Does not consume
    /// an LSN; its LSN field holds the LSN of the next record.
    pub const PADDING: Tag = Tag(0x01);
    /// Opens a transaction.
    pub const TXN_BEGIN: Tag = Tag(0x02);
    /// One change inside an open transaction.
    pub const DELTA: Tag = Tag(0x03);
    /// Commits a transaction: its deltas become visible.
    pub const TXN_COMMIT: Tag = Tag(0x04);
    /// Aborts a transaction: its deltas are discarded.
    pub const TXN_ABORT: Tag = Tag(0x05);
    /// A record that commits on its own, outside any transaction.
    pub const ENTRY: Tag = Tag(0x06);
    /// Marks the point a checkpoint or snapshot covers.
    pub const CHECKPOINT: Tag = Tag(0x07);
    /// Marks a segment as finished: nothing follows it in that segment.
    pub const SEAL: Tag = Tag(0x08);

    /// Every system tag defined by format version 1, with its name, in tag order.
    pub const SYSTEM: [(Tag, &'static str); 8] = [
        (Tag::PADDING, "PADDING"),
        (Tag::TXN_BEGIN, "TXN_BEGIN"),
        (Tag::DELTA, "DELTA"),
        (Tag::TXN_COMMIT, "TXN_COMMIT"),
        (Tag::TXN_ABORT, "TXN_ABORT"),
        (Tag::ENTRY, "ENTRY"),
        (Tag::CHECKPOINT, "CHECKPOINT"),
        (Tag::SEAL, "SEAL"),
    ];

    /// The tag with this byte value. Any byte is a tag; [`Tag::class`] says what it means here.
    #[must_use]
    pub const fn from_byte(byte: u8) -> Tag {
        Tag(byte)
    }

    /// A user tag: `Some` only for bytes in 0x40..=0x7F (critical) or 0xC0..=0xFF (skippable).
    #[must_use]
    pub const fn user(byte: u8) -> Option<Tag> {
        if byte & USER_BIT != 0 { Some(Tag(byte)) } else { None }
    }

    /// The byte written on disk.
    #[must_use]
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// Whether a reader that does not know this tag may skip the frame by its length.
    #[must_use]
    pub const fn is_skippable(self) -> bool {
        self.0 & SKIPPABLE_BIT != 0
    }

    /// Whether the tag is in one of the two user ranges.
    #[must_use]
    pub const fn is_user(self) -> bool {
        self.0 & USER_BIT != 0
    }

    /// How a version-1 reader treats this tag.
    #[must_use]
    pub fn class(self) -> TagClass {
        if self.is_user() {
            TagClass::User
        } else if self.name().is_some() {
            TagClass::Known
        } else if self.is_skippable() {
            TagClass::UnknownSkippable
        } else {
            TagClass::UnknownCritical
        }
    }

    /// The name of a system tag defined by this version.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        // System tags are numbered from 1 without gaps, so the table is indexed by value.
        let index = usize::from(self.0).checked_sub(1)?;
        Tag::SYSTEM.get(index).map(|(_, name)| *name)
    }

    /// Whether an application may write a frame with this tag through the encoder: a known system
    /// tag other than padding, or a user tag. Unknown system tags are reserved for later versions.
    #[must_use]
    pub fn is_writable(self) -> bool {
        match self.class() {
            TagClass::Known => self != Tag::PADDING,
            TagClass::User => true,
            TagClass::UnknownSkippable | TagClass::UnknownCritical => false,
        }
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.is_user()) {
            (Some(name), _) => write!(f, "{name}(0x{:02x})", self.0),
            (None, true) => write!(f, "USER(0x{:02x})", self.0),
            (None, false) => write!(f, "UNKNOWN(0x{:02x})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_has_exactly_one_class() {
        for byte in 0..=u8::MAX {
            let tag = Tag::from_byte(byte);
            let expected = match byte {
                0x01..=0x08 => TagClass::Known,
                0x40..=0x7F | 0xC0..=0xFF => TagClass::User,
                0x80..=0xBF => TagClass::UnknownSkippable,
                _ => TagClass::UnknownCritical,
            };
            assert_eq!(tag.class(), expected, "{tag}");
            assert_eq!(Tag::user(byte).is_some(), expected == TagClass::User);
        }
    }

    #[test]
    fn system_table_is_numbered_from_one_without_gaps() {
        for (index, (tag, _)) in Tag::SYSTEM.iter().enumerate() {
            assert_eq!(usize::from(tag.byte()), index + 1);
        }
    }

    #[test]
    fn zero_is_never_a_valid_tag() {
        // All-zero bytes are space never written; tag 0 must never name a frame.
        assert_eq!(Tag::from_byte(0).class(), TagClass::UnknownCritical);
        assert!(!Tag::from_byte(0).is_writable());
        assert!(!Tag::PADDING.is_writable());
        assert!(Tag::DELTA.is_writable());
    }
}
