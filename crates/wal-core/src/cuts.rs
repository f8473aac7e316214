//! The cuts `truncate_after` made in this process, as a chain a reader walks without a lock.
//!
//! A reader that has returned records a later cut removed must learn where that cut was. Each
//! cut is a node linked from the one before; the segment list holds only the newest, and a
//! reader holds the node that was newest when it last looked. So a cut stays in memory exactly
//! as long as a live reader has not seen it: memory is bounded by the readers, not by the
//! number of cuts ever made.
//!
//! Ordering: a cut is linked before the epoch is bumped (`truncate.rs`), and a reader walks the
//! chain only after it saw the bump (an acquire load), so it always finds the cut.

use std::sync::{Arc, OnceLock};

use wal_format::Lsn;

/// One cut, and the next one once it is made.
#[derive(Debug, Default)]
pub(crate) struct CutLink {
    /// The first LSN cut (`None` for the chain's start, which cut nothing).
    at: Option<Lsn>,
    next: OnceLock<Arc<CutLink>>,
}

impl CutLink {
    /// The start of a chain: no cut yet.
    pub(crate) fn origin() -> Arc<CutLink> {
        Arc::new(CutLink::default())
    }

    /// Links a cut at `at` after `latest` (the newest node, held under the state lock) and
    /// returns it, the new newest.
    pub(crate) fn link(latest: &Arc<CutLink>, at: Lsn) -> Arc<CutLink> {
        let cut = Arc::new(CutLink { at: Some(at), next: OnceLock::new() });
        // Only the holder of the state lock links, always after the newest node.
        let linked = latest.next.set(Arc::clone(&cut));
        debug_assert!(linked.is_ok(), "a cut is linked after the newest node only");
        cut
    }

    /// Walks from `seen` to the newest cut: returns the lowest LSN cut since `seen`, and the
    /// newest node, for the reader to hold instead.
    pub(crate) fn since(seen: &Arc<CutLink>) -> (Option<Lsn>, Arc<CutLink>) {
        let mut lowest: Option<Lsn> = None;
        let mut node = Arc::clone(seen);
        while let Some(next) = node.next.get().map(Arc::clone) {
            lowest = match (lowest, next.at) {
                (Some(low), Some(at)) => Some(low.min(at)),
                (low, at) => low.or(at),
            };
            node = next;
        }
        (lowest, node)
    }
}

impl Drop for CutLink {
    /// Unlinks the chain one node at a time: a reader that saw none of a million cuts must
    /// not drop them by recursion.
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(node) = next {
            next = match Arc::try_unwrap(node) {
                Ok(mut node) => node.next.take(),
                Err(_) => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_the_lowest_cut_since_it_looked_and_old_cuts_are_freed() {
        let origin = CutLink::origin();
        let mut latest = Arc::clone(&origin);
        for at in [50, 30, 40] {
            latest = CutLink::link(&latest, Lsn(at));
        }
        let (lowest, newest) = CutLink::since(&origin);
        assert_eq!(lowest, Some(Lsn(30)));
        assert!(Arc::ptr_eq(&newest, &latest));
        assert_eq!(CutLink::since(&newest).0, None, "nothing cut since the newest");
        // Once no reader holds the origin, the chain before the newest node is gone.
        let weak = Arc::downgrade(&origin);
        drop(origin);
        assert!(weak.upgrade().is_none());
        assert_eq!(Arc::strong_count(&latest), 2);
    }

    #[test]
    fn a_long_chain_drops_without_recursion() {
        let origin = CutLink::origin();
        let mut latest = Arc::clone(&origin);
        for at in 0..1_000_000 {
            latest = CutLink::link(&latest, Lsn(at));
        }
        drop(latest);
        drop(origin);
    }
}
