//! The *published* watermark: the LSN below which every reserved record is fully written.
//!
//! Appenders reserve LSNs and space in order (under the caller's lock), write their frames in
//! parallel, and then publish in reservation order: a reservation waits until the watermark
//! reaches its first LSN, makes its bytes visible, and moves the watermark to its end. So the
//! watermark only ever covers complete records, and everything below it stays as it is.
//! A reservation dropped without being written poisons the watermark: the records after it
//! could never be published, so every waiter is released with an error instead of hanging.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(loom)]
use loom::thread::yield_now;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::thread::yield_now;

/// Busy-wait rounds before yielding. Under loom every wait yields, so the model checker can
/// schedule the predecessor.
#[cfg(not(loom))]
const SPINS: u32 = 64;
#[cfg(loom)]
const SPINS: u32 = 0;

/// The watermark one segment's appenders publish through.
#[derive(Debug)]
pub(crate) struct Publication {
    lsn: AtomicU64,
    poisoned: AtomicBool,
    /// The segment file's writer claim: it lives as long as the writer or any of its
    /// reservations, which all hold this publication (see `claim`).
    _claim: Option<crate::claim::WriterClaim>,
}

/// A reservation can never be published: its writer went away without writing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Abandoned;

impl Publication {
    pub(crate) fn new(first_lsn: u64) -> Publication {
        Publication {
            lsn: AtomicU64::new(first_lsn),
            poisoned: AtomicBool::new(false),
            _claim: None,
        }
    }

    /// A publication that holds `claim` for as long as anyone may still write.
    pub(crate) fn claiming(first_lsn: u64, claim: crate::claim::WriterClaim) -> Publication {
        Publication { _claim: Some(claim), ..Publication::new(first_lsn) }
    }

    /// Every record below this LSN is fully written and visible.
    pub(crate) fn lsn(&self) -> u64 {
        self.lsn.load(Ordering::Acquire)
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Waits until every reservation before `first` has been published. Spins briefly (the
    /// predecessor is usually mid-memcpy), then yields, since on a machine with fewer cores
    /// than appenders the predecessor may need this core to finish.
    pub(crate) fn wait_turn(&self, first: u64) -> Result<(), Abandoned> {
        let mut spins = 0u32;
        loop {
            if self.lsn.load(Ordering::Acquire) == first {
                return Ok(());
            }
            if self.is_poisoned() {
                return Err(Abandoned);
            }
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                yield_now();
            }
        }
    }

    /// Publishes `[first, end)`; the caller has waited for its turn and made its bytes visible.
    ///
    /// A plain store, not a read-modify-write: only the holder of the turn (the reservation
    /// whose `first` the watermark has reached) ever moves the watermark, and every other
    /// appender only reads it until its own turn, so no update can be lost. The check before
    /// the store still catches a caller out of turn (a bug) without moving the watermark.
    pub(crate) fn advance(&self, first: u64, end: u64) -> Result<(), Abandoned> {
        if self.lsn.load(Ordering::Acquire) != first {
            // Out of turn: a bug, but never a watermark moved backwards. Nothing after this
            // can be published correctly any more.
            self.poison();
            return Err(Abandoned);
        }
        self.lsn.store(end, Ordering::Release);
        Ok(())
    }

    /// Releases every waiter with an error: a reservation will never be published.
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    use super::*;

    /// Two appenders write their slots out of order and publish in order: a reader that sees
    /// the watermark past a slot always reads that slot's final value, and the watermark ends
    /// at the end of both.
    #[test]
    fn publication_covers_only_written_slots() {
        loom::model(|| {
            let publication = Arc::new(Publication::new(0));
            let slots = Arc::new([UnsafeCell::new(0u8), UnsafeCell::new(0u8)]);
            let appenders: Vec<_> = (0..2u64)
                .map(|lsn| {
                    let (publication, slots) = (Arc::clone(&publication), Arc::clone(&slots));
                    loom::thread::spawn(move || {
                        // The slot is this appender's alone until it is published.
                        slots[lsn as usize].with_mut(|slot| unsafe { *slot = lsn as u8 + 1 });
                        publication.wait_turn(lsn).unwrap();
                        publication.advance(lsn, lsn + 1).unwrap();
                    })
                })
                .collect();
            let seen = publication.lsn();
            for lsn in 0..seen {
                // Below the watermark, slots are never written again.
                let value = slots[lsn as usize].with(|slot| unsafe { *slot });
                assert_eq!(value, lsn as u8 + 1);
            }
            for appender in appenders {
                appender.join().unwrap();
            }
            assert_eq!(publication.lsn(), 2);
        });
    }

    /// An abandoned reservation releases its successor with an error instead of a hang.
    #[test]
    fn poison_releases_waiters() {
        loom::model(|| {
            let publication = Arc::new(Publication::new(0));
            let waiter = {
                let publication = Arc::clone(&publication);
                loom::thread::spawn(move || publication.wait_turn(1))
            };
            publication.poison();
            assert_eq!(waiter.join().unwrap(), Err(Abandoned));
        });
    }
}
