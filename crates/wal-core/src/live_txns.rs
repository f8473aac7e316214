//! The transactions of this process that have begun and not yet ended, and the floor they
//! hold against removal.
//!
//! Why: a transaction's records are only replayed if its begin record is in the log. A prune
//! (by size or by request) or a `truncate_before` that removed the begin of a live transaction
//! would let its `commit` return `Ok` for a transaction no replay ever yields. So every live
//! transaction holds its begin LSN as a floor: pruning stops there unless forced, and
//! `truncate_before` refuses to pass it. A forced prune, or a `truncate_after` below a
//! transaction's last record, *removes* the transaction: its later deltas and its commit fail
//! with a typed error instead of being acknowledged.
//!
//! Everything here runs under the engine's state lock: a begin is entered, and a delta's last
//! LSN noted, in the same critical section that reserves its LSNs, so no removal can slip
//! between the two.

use std::collections::BTreeMap;

use wal_format::Lsn;

use crate::entry::TxnId;
use crate::error::Error;

/// What removed a live transaction's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// A forced prune moved the start to `start`, past its begin record.
    Pruned { start: Lsn },
    /// `truncate_after` cut every record from `at` on, which included some of its records.
    Truncated { at: Lsn },
}

#[derive(Clone, Copy, Debug)]
struct LiveTxn {
    begin: Lsn,
    /// Its last record so far (the begin, or its last delta).
    last: Lsn,
    removed: Option<Removal>,
}

/// The live transactions, by id.
#[derive(Debug, Default)]
pub(crate) struct LiveTxns {
    by_id: BTreeMap<TxnId, LiveTxn>,
}

impl LiveTxns {
    /// A transaction's begin record was reserved at `lsn`.
    pub(crate) fn begun(&mut self, id: TxnId, lsn: Lsn) {
        self.by_id.insert(id, LiveTxn { begin: lsn, last: lsn, removed: None });
    }

    /// Fails if the transaction's records were removed: it can never commit.
    pub(crate) fn check(&self, id: TxnId) -> Result<(), Error> {
        match self.by_id.get(&id).and_then(|txn| txn.removed.map(|removed| (txn.begin, removed))) {
            None => Ok(()),
            Some((begin, removal)) => Err(removal_error(begin, removal)),
        }
    }

    /// The transaction wrote records up to `last`.
    pub(crate) fn wrote(&mut self, id: TxnId, last: Lsn) {
        if let Some(txn) = self.by_id.get_mut(&id) {
            txn.last = txn.last.max(last);
        }
    }

    /// The transaction ended (committed, aborted or dropped). Returns the error its commit
    /// must report if its records were removed meanwhile.
    pub(crate) fn end(&mut self, id: TxnId) -> Result<(), Error> {
        match self.by_id.remove(&id) {
            Some(LiveTxn { begin, removed: Some(removal), .. }) => {
                Err(removal_error(begin, removal))
            }
            _ => Ok(()),
        }
    }

    /// The oldest begin record a live, intact transaction holds.
    pub(crate) fn floor(&self) -> Option<Lsn> {
        self.by_id.values().filter(|txn| txn.removed.is_none()).map(|txn| txn.begin).min()
    }

    /// The start moved to `start`: transactions that began before it are removed.
    pub(crate) fn start_moved(&mut self, start: Lsn) {
        for txn in self.by_id.values_mut().filter(|txn| txn.begin < start) {
            txn.removed.get_or_insert(Removal::Pruned { start });
        }
    }

    /// Every record from `at` on was cut: transactions with a record there are removed.
    pub(crate) fn cut(&mut self, at: Lsn) {
        for txn in self.by_id.values_mut().filter(|txn| txn.last >= at) {
            txn.removed.get_or_insert(Removal::Truncated { at });
        }
    }
}

fn removal_error(begin: Lsn, removal: Removal) -> Error {
    match removal {
        Removal::Pruned { start } => Error::TransactionPruned { begin, start },
        Removal::Truncated { at } => Error::Truncated { at },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_oldest_intact_begin_and_removal_is_reported_once_at_the_end() {
        let mut live = LiveTxns::default();
        live.begun(1, Lsn(10));
        live.begun(2, Lsn(5));
        live.wrote(1, Lsn(30));
        assert_eq!(live.floor(), Some(Lsn(5)));
        live.start_moved(Lsn(8));
        assert_eq!(live.floor(), Some(Lsn(10)));
        assert!(matches!(live.check(2), Err(Error::TransactionPruned { begin: Lsn(5), .. })));
        live.cut(Lsn(30));
        assert!(matches!(live.check(1), Err(Error::Truncated { at: Lsn(30) })));
        assert_eq!(live.floor(), None);
        assert!(live.end(1).is_err());
        assert!(live.end(1).is_ok(), "ended once");
        live.begun(3, Lsn(40));
        live.cut(Lsn(41));
        assert!(live.end(3).is_ok(), "a cut after its last record leaves it whole");
    }
}
