//! The log sequence number newtype.
//!
//! An LSN numbers records: it increases by exactly one per record across the whole log, padding
//! frames excluded. It is a `u64` on disk and never wraps; arithmetic that would overflow is an
//! error at the encoder, not a silent wrap.

use core::fmt;

/// A log sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The LSN after this one, or `None` at `u64::MAX`.
    #[must_use]
    pub const fn next(self) -> Option<Lsn> {
        match self.0.checked_add(1) {
            Some(next) => Some(Lsn(next)),
            None => None,
        }
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
