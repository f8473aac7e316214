//! Transactions: a begin record, deltas in the order they were made, then a commit or an abort.
//!
//! Each marker and delta is appended when it is called, so begin, commit and abort records lie
//! in the log in exactly the order the engine assigned their LSNs, and the deltas of one
//! transaction in the order they were made (a `Txn` is used by one thread at a time: `&mut`).
//! Deltas of concurrent transactions interleave. A commit is durable on return under
//! `Durability::Commit`; it covers every delta before it, since they have lower LSNs.
//! `Txn::commit_async` is the same commit for async code: the commit record is appended at the
//! call, and the returned future waits for the sync without blocking a thread (`durable.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use wal_format::{Lsn, Record, Tag};
use wal_segment::{RealStorage, Storage};
use wal_telemetry::{Kind, Registration};

use crate::durable::WaitDurable;
use crate::entry::{DELTA_PREFIX_BYTES, TxnId, is_record_tag};
use crate::error::Error;
use crate::shared::{Shared, Step, lock_state};
use crate::wal::Wal;

/// An open transaction. Dropping it without [`Txn::commit`] or [`Txn::abort`] appends an
/// abort (errors then are ignored: the transaction is unfinished either way, and recovery
/// closes it).
pub struct Txn<S: Storage = RealStorage> {
    shared: Arc<Shared<S>>,
    id: TxnId,
    begin_lsn: Lsn,
    /// Reused for every delta: the id, the tag, then the payload.
    buffer: Vec<u8>,
    finished: bool,
    /// Whether it is still among the log's live transactions (holding its begin as a floor).
    live: bool,
    /// The transaction's entry in the log's registry: its site and its age.
    registration: Option<Registration>,
}

impl<S: Storage> Wal<S> {
    /// Begins a transaction: appends its begin record (not waited on for durability).
    ///
    /// # Errors
    /// As [`Wal::append`].
    #[track_caller]
    pub fn begin(&self) -> Result<Txn<S>, Error> {
        let id = self.shared.next_txn_id();
        let begin = [Record { tag: Tag::TXN_BEGIN, payload: &id.to_le_bytes() }];
        let begin_lsn = self.shared.write_step(&begin, Step::Begin(id))?;
        Ok(Txn {
            shared: Arc::clone(&self.shared),
            id,
            begin_lsn,
            buffer: Vec::new(),
            finished: false,
            live: true,
            registration: self.shared.register(Kind::Transaction),
        })
    }
}

impl<S: Storage> Txn<S> {
    /// The transaction's id.
    #[must_use]
    pub fn id(&self) -> TxnId {
        self.id
    }

    /// Appends one change with the application's `tag` (a user tag or `Tag::ENTRY`).
    ///
    /// # Errors
    /// `NotAnApplicationTag`; `Segment(RecordTooLarge)` for a payload larger than
    /// [`Wal::max_delta_bytes`], stating that figure; and as [`Wal::append`].
    pub fn delta(&mut self, tag: Tag, payload: &[u8]) -> Result<Lsn, Error> {
        if !is_record_tag(tag) {
            return Err(Error::NotAnApplicationTag { tag });
        }
        // Checked here so the error states the application's bytes and their limit, not
        // those of the record with the delta's prefix.
        let (max, limit) = self.shared.files.options.delta_limit();
        if payload.len() > max {
            let too_large = wal_segment::Error::RecordTooLarge { len: payload.len(), max, limit };
            return Err(too_large.into());
        }
        self.buffer.clear();
        self.buffer.reserve(DELTA_PREFIX_BYTES + payload.len());
        self.buffer.extend_from_slice(&self.id.to_le_bytes());
        self.buffer.push(tag.byte());
        self.buffer.extend_from_slice(payload);
        let delta = [Record { tag: Tag::DELTA, payload: &self.buffer }];
        self.shared.write_step(&delta, Step::Continue(self.id))
    }

    /// Commits: appends the commit record and, under `Durability::Commit`, returns once it
    /// (and so every delta) is durable. Returns the commit record's LSN.
    ///
    /// Under `Durability::Commit` this blocks the calling thread until the sync is done (or
    /// leads the sync itself); in async code use [`Txn::commit_async`], which blocks no thread.
    ///
    /// # Errors
    /// As [`Wal::append`]. If the commit record was written but the sync failed, the log is
    /// poisoned and the transaction's fate is decided by what reached the disk.
    /// `TransactionPruned` or `Truncated` if a forced prune or a `truncate_after` removed any
    /// of its records (before or while it commits): it is not acknowledged, since no replay
    /// would yield it.
    pub fn commit(mut self) -> Result<Lsn, Error> {
        self.finished = true;
        let lsn = self.marker(Tag::TXN_COMMIT)?;
        self.shared.committed(lsn.next())?;
        // Still live until here: its begin held the floor through the wait.
        self.end()?;
        Ok(lsn)
    }

    /// Commits as [`Txn::commit`] does, for async code: appends the commit record now, and
    /// returns a future that resolves to its LSN once it is as durable as
    /// [`Options::durability`](crate::Options) asks of a commit (durable under
    /// `Durability::Commit`, at once otherwise). No thread is blocked meanwhile: the sync
    /// runs on a thread of the log, shared with every other committer (group commit).
    ///
    /// Dropping the future stops the wait, not the commit: the commit record is appended
    /// already, and the transaction is committed once a later sync makes it durable (or lost,
    /// like any unsynced record, by a crash before that).
    ///
    /// ```
    /// # use wal_core::{Options, Tag, Wal};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let (wal, _) = Wal::open(dir.path(), Options::default())?;
    /// # let tag = Tag::user(0x40).expect("a user tag");
    /// let mut txn = wal.begin()?;
    /// txn.delta(tag, b"set x = 1")?;
    /// let lsn = txn.commit_async().await?;
    /// assert!(wal.durable_lsn() > lsn);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The future resolves to the errors of [`Txn::commit`], and to `Closed` if the log is
    /// dropped before the commit is durable.
    pub fn commit_async(mut self) -> CommitAsync<S> {
        self.finished = true;
        let marked = self.marker(Tag::TXN_COMMIT);
        let wait = (marked.as_ref().ok())
            .and_then(|lsn| WaitDurable::committed(Arc::clone(&self.shared), lsn.next()));
        CommitAsync { txn: Some(self), marked: marked.map_err(Some), wait }
    }

    /// Appends the commit record and returns its LSN at once, without waiting for it to be
    /// durable. For a caller that orders its own work by commit LSN (applying committed
    /// transactions to in-memory state under its lock, in the order of their commit records)
    /// and then waits with [`Wal::wait_commit`] outside that lock, so that commits still share
    /// syncs. The transaction is committed once the record is durable.
    ///
    /// # Errors
    /// As [`Wal::append`]; `TransactionPruned` or `Truncated` as [`Txn::commit`].
    pub fn commit_unsynced(mut self) -> Result<Lsn, Error> {
        self.finished = true;
        self.marker(Tag::TXN_COMMIT)
    }

    /// The LSN of the transaction's begin record.
    #[must_use]
    pub fn begin_lsn(&self) -> Lsn {
        self.begin_lsn
    }

    /// Aborts: appends the abort record. Returns its LSN.
    ///
    /// # Errors
    /// As [`Wal::append`].
    pub fn abort(mut self) -> Result<Lsn, Error> {
        self.finished = true;
        self.marker(Tag::TXN_ABORT)
    }

    fn marker(&self, tag: Tag) -> Result<Lsn, Error> {
        let step = if tag == Tag::TXN_COMMIT { Step::Continue(self.id) } else { Step::Plain };
        self.shared.write_step(&[Record { tag, payload: &self.id.to_le_bytes() }], step)
    }

    /// Leaves the live transactions (once); the error says whether its records were removed.
    fn end(&mut self) -> Result<(), Error> {
        if !std::mem::replace(&mut self.live, false) {
            return Ok(());
        }
        lock_state(&self.shared).live_txns.end(self.id)
    }
}

impl<S: Storage> Drop for Txn<S> {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.marker(Tag::TXN_ABORT);
        }
        let _ = self.end();
        if let Some(registration) = self.registration.take() {
            self.shared.registry.deregister(registration);
        }
    }
}

/// A transaction's commit, appended, waiting for its sync: see [`Txn::commit_async`].
/// Dropping it stops the wait, not the commit.
#[must_use = "a future does nothing unless awaited (the commit record is written already)"]
pub struct CommitAsync<S: Storage = RealStorage> {
    /// Still live (its begin a floor) until the wait is over, as in [`Txn::commit`].
    txn: Option<Txn<S>>,
    /// The commit record's LSN, or why it could not be appended (taken when returned).
    marked: Result<Lsn, Option<Error>>,
    wait: Option<WaitDurable<S>>,
}

impl<S: Storage> Future for CommitAsync<S> {
    type Output = Result<Lsn, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let lsn = match &mut this.marked {
            Ok(lsn) => *lsn,
            Err(error) => return Poll::Ready(Err(error.take().expect("polled after it returned"))),
        };
        if let Some(wait) = &mut this.wait {
            std::task::ready!(Pin::new(wait).poll(cx))?;
            this.wait = None;
        }
        let mut txn = this.txn.take().expect("polled after it returned");
        Poll::Ready(txn.end().map(|()| lsn))
    }
}
