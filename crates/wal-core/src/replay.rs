//! Replay: the committed transactions, in commit order, each with its deltas in order.
//!
//! Aborted transactions and those still open at the end of the log are skipped; a
//! self-contained record is a transaction of its own. Only the deltas of transactions still
//! open are held in memory. The order is a function of the log's bytes alone, so replaying the
//! same log always yields the same sequence.

use std::collections::HashMap;

use wal_format::Lsn;
use wal_segment::{RealStorage, Storage};

use crate::entry::{Entry, EntryKind, TxnId};
use crate::error::Error;
use crate::read::Reader;
use crate::wal::Wal;

/// One committed unit of work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The transaction, or `None` for a self-contained record.
    pub txn: Option<TxnId>,
    /// The LSN of the commit record (or of the self-contained record).
    pub commit_lsn: Lsn,
    /// The changes in the order they were made: the deltas, or the one record.
    pub changes: Vec<Entry>,
}

/// Iterates committed work; see [`Wal::replay`].
pub struct Replay<S: Storage = RealStorage> {
    reader: Reader<S>,
    open: HashMap<TxnId, Vec<Entry>>,
}

/// How a replay ended: what it skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Transactions still open at the end of the log.
    pub unfinished: usize,
}

impl<S: Storage> Wal<S> {
    /// Replays the committed work from the log's start to the last published record.
    ///
    /// # Errors
    /// As [`Wal::read_from`].
    #[track_caller]
    pub fn replay(&self) -> Result<Replay<S>, Error> {
        self.replay_from(self.start_lsn())
    }

    /// Replays from `lsn`: transactions that began before it are not seen whole, so their
    /// commits are skipped.
    ///
    /// # Errors
    /// As [`Wal::read_from`].
    #[track_caller]
    pub fn replay_from(&self, lsn: Lsn) -> Result<Replay<S>, Error> {
        Ok(Replay { reader: self.read_from(lsn)?, open: HashMap::new() })
    }
}

impl<S: Storage> Replay<S> {
    /// What is still open (so far: call after the iterator is exhausted for the final count).
    #[must_use]
    pub fn summary(&self) -> ReplaySummary {
        ReplaySummary { unfinished: self.open.len() }
    }
}

impl<S: Storage> Iterator for Replay<S> {
    type Item = Result<Committed, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.reader.next()? {
                Ok(entry) => entry,
                Err(error) => return Some(Err(error)),
            };
            match entry.kind {
                EntryKind::Record { .. } => {
                    let commit_lsn = entry.lsn;
                    return Some(Ok(Committed { txn: None, commit_lsn, changes: vec![entry] }));
                }
                EntryKind::Begin { txn } => {
                    self.open.insert(txn, Vec::new());
                }
                EntryKind::Delta { txn, .. } => {
                    // A delta of a transaction begun before the replay's start is not seen.
                    if let Some(changes) = self.open.get_mut(&txn) {
                        changes.push(entry);
                    }
                }
                EntryKind::Commit { txn } => {
                    if let Some(changes) = self.open.remove(&txn) {
                        let commit = Committed { txn: Some(txn), commit_lsn: entry.lsn, changes };
                        return Some(Ok(commit));
                    }
                }
                EntryKind::Abort { txn } => {
                    self.open.remove(&txn);
                }
                EntryKind::System { .. } => {}
            }
        }
    }
}
