//! Waiting for durability without blocking a thread: the futures [`WaitDurable`] and
//! [`AppendDurable`] (and `Txn::commit_async`'s), and the task syncer, the thread that leads
//! syncs for them.
//!
//! A future appends at once (a few hundred nanoseconds under the state lock, then a copy) and
//! only its wait for the sync is asynchronous. Its waiter is a *task* of the group commit
//! (`group_commit.rs`): it never leads a sync, since a sync blocks in `msync` and must not run
//! on an executor's thread. When no sync planned covers it, the log's task syncer (a thread,
//! `wal-task-syncer`, started at the first such future, stopped when the `Wal` is dropped)
//! waits in the group commit for the highest LSN tasks asked for, like a committing thread:
//! it leads a sync or is covered by another's. So futures and threads share syncs.
//!
//! Executor-agnostic: only `std::task::Waker`s. Dropping a future stops the wait, never the
//! write: the record stays appended, and becomes durable with the next sync.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use wal_format::{Lsn, Record, Tag};
use wal_segment::{RealStorage, Storage};

use crate::background::Background;
use crate::entry::is_record_tag;
use crate::error::Error;
use crate::group_commit::{TaskPoll, TaskRef};
use crate::options::Durability;
use crate::shared::Shared;
use crate::wal::Wal;

/// How often the task syncer looks for work it was not woken for (it always is: a safety net).
const TASK_SYNCER_INTERVAL: Duration = Duration::from_secs(1);

/// A future that resolves once every record below an LSN is durable: see
/// [`Wal::wait_durable`]. Dropping it stops the wait, not the records.
#[must_use = "a future does nothing unless awaited (its records are written already)"]
pub struct WaitDurable<S: Storage = RealStorage> {
    shared: Arc<Shared<S>>,
    /// Every record below it must be durable.
    end: u64,
    /// Its registration with the group commit, once it had to wait.
    task: Option<TaskRef>,
}

impl<S: Storage> WaitDurable<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>, end: Lsn) -> WaitDurable<S> {
        WaitDurable { shared, end: end.0, task: None }
    }

    /// What `Durability` asks of a commit that ends below `end`: a wait under
    /// `Durability::Commit`, nothing otherwise (as the blocking `Shared::committed`).
    pub(crate) fn committed(shared: Arc<Shared<S>>, end: Lsn) -> Option<WaitDurable<S>> {
        match shared.files.options.durability {
            Durability::Commit => Some(WaitDurable::new(shared, end)),
            Durability::Buffered | Durability::Periodic { .. } => None,
        }
    }
}

impl<S: Storage> Future for WaitDurable<S> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = &this.shared;
        match shared.commit.poll_task(this.end, &mut this.task, cx.waker()) {
            TaskPoll::Durable => Poll::Ready(Ok(())),
            TaskPoll::Failed => Poll::Ready(Err(shared.poisoned_error())),
            TaskPoll::Short { target } => Poll::Ready(Err(shared.short_error(target))),
            TaskPoll::Pending { start_syncer: false } => Poll::Pending,
            TaskPoll::Pending { start_syncer: true } => match start_task_syncer(shared) {
                Ok(()) => Poll::Pending,
                Err(error) => Poll::Ready(Err(error)),
            },
        }
    }
}

impl<S: Storage> Drop for WaitDurable<S> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            self.shared.commit.cancel_task(task);
        }
    }
}

/// A future that appended a record (at its creation) and resolves to its LSN once it is
/// durable: see [`Wal::append_durable`]. Dropping it stops the wait, not the record.
#[must_use = "a future does nothing unless awaited (its record is written already)"]
pub struct AppendDurable<S: Storage = RealStorage> {
    /// The LSN and the wait, or why the append failed (taken when returned).
    appended: Result<(Lsn, WaitDurable<S>), Option<Error>>,
}

impl<S: Storage> Future for AppendDurable<S> {
    type Output = Result<Lsn, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().appended {
            Ok((lsn, wait)) => Pin::new(wait).poll(cx).map_ok(|()| *lsn),
            Err(error) => Poll::Ready(Err(error.take().expect("polled after it returned"))),
        }
    }
}

/// Wakes the task syncer, starting it first if it never ran.
fn start_task_syncer<S: Storage>(shared: &Arc<Shared<S>>) -> Result<(), Error> {
    let started = shared.task_syncer.wake(|signal| {
        Background::start("wal-task-syncer", TASK_SYNCER_INTERVAL, shared, signal, serve_tasks)
    });
    started.map_err(|error| {
        wal_segment::Error::io("start the task syncer thread for", &shared.files.dir, error).into()
    })
}

/// One round of the task syncer: waits, as a committing thread would, until the highest LSN
/// a task waits for is durable, then looks again (tasks may have come meanwhile). Returns
/// `false` (the thread ends) once the log is poisoned: every task was told, and a later one
/// is told when it polls.
fn serve_tasks<S: Storage>(shared: &Shared<S>) -> bool {
    let Some((target, seq)) = shared.commit.task_target() else { return true };
    match shared.wait_durable(Lsn(target)) {
        Ok(()) => {}
        // The log closed, or a cut removed records tasks wait for: tell them.
        Err(Error::Closed | Error::Truncated { .. }) => shared.commit.end_tasks_short(seq),
        Err(_) => return false,
    }
    shared.task_syncer.wake_again();
    true
}

impl<S: Storage> Wal<S> {
    /// Appends one self-contained record with `tag` now, and returns a future that resolves
    /// to its LSN once it is durable, whatever [`Options::durability`](crate::Options) says:
    /// [`Wal::append`] for async code, with no thread blocked while the sync runs. Futures and
    /// committing threads share syncs (group commit); the sync runs on a thread of the log.
    ///
    /// The record is written when this is called, not when the future is first polled, and
    /// dropping the future does not remove it: it only stops the wait (the record becomes
    /// durable with the next sync, and recovery returns it once it is).
    ///
    /// # Errors
    /// The future resolves to the errors of [`Wal::append`], and to `Closed` if the log is
    /// dropped before the record is durable.
    pub fn append_durable(&self, tag: Tag, payload: &[u8]) -> AppendDurable<S> {
        let appended = if is_record_tag(tag) {
            self.shared.write(&[Record { tag, payload }])
        } else {
            Err(Error::NotAnApplicationTag { tag })
        };
        let appended = appended.map_err(Some);
        AppendDurable {
            appended: appended
                .map(|lsn| (lsn, WaitDurable::new(Arc::clone(&self.shared), lsn.next()))),
        }
    }

    /// A future that resolves once the record at `lsn`, and every record before it, is
    /// durable, whatever the durability setting: [`Wal::sync_below`]`(lsn.next())` for async
    /// code. `lsn` is a record whose append returned (a future for a later one resolves to
    /// `Truncated` if the sync it waits for cannot reach it).
    ///
    /// # Errors
    /// The future resolves to `Poisoned` after a failed sync, `Closed` if the log is dropped
    /// first, `Truncated` if a cut removed the record.
    pub fn wait_durable(&self, lsn: Lsn) -> WaitDurable<S> {
        WaitDurable::new(Arc::clone(&self.shared), lsn.next())
    }
}
