//! Group commit: many threads wait for their records to be durable; one of them syncs for all.
//!
//! The durable watermark only grows. A thread that needs LSN `n` durable returns at once if the
//! watermark is past it; otherwise it queues for the sync role (a mutex). Whoever holds the role
//! checks the watermark again (the previous holder's sync may have covered it) and only then
//! syncs, up to everything published *at that moment*, so the threads that queued behind it
//! while the previous sync ran are all covered by this one. Nobody returns before every byte
//! below their LSN is durable, because the watermark is only raised to a sync's target after
//! that sync succeeded, and a sync's target never exceeds what was published when it started.
//! A failed sync is never retried: it poisons the group, and every waiter gets the error.

#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::Mutex;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// The durable watermark and the sync role.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    durable: AtomicU64,
    role: Mutex<()>,
    failed: AtomicBool,
    /// Threads waiting for durability right now (to measure how many one sync serves).
    waiting: AtomicUsize,
}

/// Why waiting for durability failed.
#[derive(Debug)]
pub(crate) enum WaitError<E> {
    /// An earlier sync failed; nothing is retried.
    Failed,
    /// This thread's sync failed with `E`.
    Sync(E),
}

/// What one completed wait did: whether it ran a sync, and for how many waiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// Already durable, or made durable by another thread's sync.
    Covered,
    /// This thread synced; that many threads were waiting when it started.
    Synced {
        /// Waiting threads (this one included) when the sync started.
        waiters: usize,
    },
}

impl GroupCommit {
    pub(crate) fn new(durable: u64) -> GroupCommit {
        GroupCommit {
            durable: AtomicU64::new(durable),
            role: Mutex::new(()),
            failed: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Everything below this LSN is durable.
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Returns once every record below `lsn` is durable. `sync` makes everything published
    /// durable and returns the LSN below which that is; it runs with the sync role held.
    pub(crate) fn wait<E>(
        &self,
        lsn: u64,
        sync: impl FnOnce() -> Result<u64, E>,
    ) -> Result<Waited, WaitError<E>> {
        if self.durable() >= lsn {
            return Ok(Waited::Covered);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let result = self.with_role(|| {
            if self.durable() >= lsn {
                return Ok(Waited::Covered);
            }
            if self.has_failed() {
                return Err(WaitError::Failed);
            }
            let waiters = self.waiting.load(Ordering::Relaxed);
            match sync() {
                Ok(target) => {
                    self.durable.fetch_max(target, Ordering::AcqRel);
                    Ok(Waited::Synced { waiters })
                }
                Err(error) => {
                    self.failed.store(true, Ordering::Release);
                    Err(WaitError::Sync(error))
                }
            }
        });
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// Runs `f` holding the sync role: no sync runs meanwhile.
    pub(crate) fn with_role<T>(&self, f: impl FnOnce() -> T) -> T {
        // A panic while syncing leaves nothing half-updated here (the watermark only moves after
        // success), so a poisoned role mutex is still usable.
        let _role = self.role.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f()
    }

    /// Sets the watermark to `lsn`, which may lower it: only for cutting the log's tail, with
    /// the role held.
    pub(crate) fn reset(&self, lsn: u64) {
        self.durable.store(lsn, Ordering::Release);
    }

    /// Raises the watermark to `lsn` (everything below it was made durable by other means,
    /// such as sealing a segment), with the role held.
    pub(crate) fn raise(&self, lsn: u64) {
        self.durable.fetch_max(lsn, Ordering::AcqRel);
    }

    /// Marks the group failed (a sync outside `wait` failed).
    pub(crate) fn fail(&self) {
        self.failed.store(true, Ordering::Release);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Two committers publish a record each and wait for durability; the "disk" syncs up to
    /// what is published when a sync starts. Each committer returns only once its record is
    /// on the disk, and at most two syncs run.
    #[test]
    fn nobody_returns_before_their_record_is_durable() {
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0));
            let published = Arc::new(AtomicU64::new(0));
            let on_disk = Arc::new(AtomicU64::new(0));
            let syncs = Arc::new(AtomicU64::new(0));
            let committers: Vec<_> = (0..2)
                .map(|_| {
                    let (group, published, on_disk, syncs) = (
                        Arc::clone(&group),
                        Arc::clone(&published),
                        Arc::clone(&on_disk),
                        Arc::clone(&syncs),
                    );
                    loom::thread::spawn(move || {
                        let mine = published.fetch_add(1, Ordering::AcqRel) + 1;
                        group
                            .wait::<()>(mine, || {
                                syncs.fetch_add(1, Ordering::Relaxed);
                                let target = published.load(Ordering::Acquire);
                                on_disk.fetch_max(target, Ordering::AcqRel);
                                Ok(target)
                            })
                            .unwrap();
                        assert!(on_disk.load(Ordering::Acquire) >= mine);
                    })
                })
                .collect();
            for committer in committers {
                committer.join().unwrap();
            }
            assert!(syncs.load(Ordering::Relaxed) <= 2);
            assert_eq!(group.durable(), 2);
        });
    }

    /// A failed sync is reported to every waiter it did not cover and never retried.
    #[test]
    fn a_failed_sync_fails_every_later_waiter() {
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0));
            let other = {
                let group = Arc::clone(&group);
                loom::thread::spawn(move || group.wait::<()>(2, || Err(())).is_err())
            };
            let mine = group.wait::<()>(1, || Err(())).is_err();
            assert!(mine && other.join().unwrap());
            assert!(group.has_failed());
        });
    }
}
