//! The log sequence number newtype.
//!
//! An LSN numbers records: it increases by exactly one per record across the whole log, padding
//! frames excluded. It is a `u64` on disk and never wraps. `Lsn::MAX` is never assigned to a
//! record, so "the LSN after a record" always exists; the encoder refuses to go there.

use core::fmt;

/// A log sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The largest value, never assigned to a record.
    pub const MAX: Lsn = Lsn(u64::MAX);

    /// This LSN plus `count`, or `None` if that would pass [`Lsn::MAX`].
    #[must_use]
    pub const fn checked_add(self, count: u64) -> Option<Lsn> {
        match self.0.checked_add(count) {
            Some(lsn) => Some(Lsn(lsn)),
            None => None,
        }
    }

    /// The LSN after this one: where the record after it goes, or the end of a range that
    /// ends with it. Saturates at [`Lsn::MAX`], which no record has.
    #[must_use]
    pub const fn next(self) -> Lsn {
        Lsn(self.0.saturating_add(1))
    }

    /// The LSN before this one (the last record of a range that ends here); [`Lsn`] 0 stays 0.
    #[must_use]
    pub const fn before(self) -> Lsn {
        Lsn(self.0.saturating_sub(1))
    }

    /// This LSN plus `count` records, saturating at [`Lsn::MAX`] (for counts already
    /// reserved, which the encoder kept below it).
    #[must_use]
    pub const fn plus(self, count: u64) -> Lsn {
        Lsn(self.0.saturating_add(count))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
