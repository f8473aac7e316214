//! The segment id type: a leaf every other module may import.

use std::fmt;

/// A segment's id. Segments are numbered in the order they are created, and ids only grow, so
/// a later segment has a higher id (the chain rule of `docs/format.md` relies on it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub u64);

impl SegmentId {
    /// The id after this one; `None` at the end of the id space (never wrapped: a wrapped id
    /// would sort first).
    #[must_use]
    pub fn next(self) -> Option<SegmentId> {
        self.0.checked_add(1).map(SegmentId)
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
