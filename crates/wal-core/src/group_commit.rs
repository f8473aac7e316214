//! Group commit: many threads wait for their records to be durable; one of them syncs for all.
//!
//! The durable watermark only grows. A thread that needs LSN `n` durable returns at once if the
//! watermark is past it. Otherwise it becomes the *leader* if nobody holds the sync role, or a
//! *follower* that sleeps until a sync finishes. The leader syncs everything published at the
//! moment it plans the sync, so every follower that published before then is covered; when the
//! sync ends, the leader raises the watermark, releases the role and wakes every follower at
//! once. Covered followers return; of the rest, one becomes the next leader. (A mutex as the
//! queue would be simpler and worse: a follower already covered would wait behind the next
//! leader's whole sync.) Nobody returns before every byte below their LSN is durable, because
//! the watermark is only raised to a sync's target after that sync succeeded, and a sync's
//! target never exceeds what was published when it started. A failed sync is never retried: it
//! fails the group, and every waiter not covered gets the error.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::{Condvar, Mutex, MutexGuard};

/// The durable watermark and the sync role.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    durable: AtomicU64,
    failed: AtomicBool,
    /// Whether someone holds the sync role.
    role: Mutex<bool>,
    /// Signalled whenever the role is released (a sync, roll or cut finished).
    released: Condvar,
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
    /// This thread's sync succeeded but did not reach its LSN (the log was closed, or its
    /// records were cut): it must not be acknowledged. Nothing failed: the group goes on.
    Short {
        /// Where the sync's durability ended.
        target: u64,
    },
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

/// Holding the sync role; releasing it wakes every waiter.
pub(crate) struct Role<'g> {
    group: &'g GroupCommit,
}

impl Drop for Role<'_> {
    fn drop(&mut self) {
        *lock(&self.group.role) = false;
        self.group.released.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The flag is a plain bool: a panic elsewhere cannot leave it half-written.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl GroupCommit {
    pub(crate) fn new(durable: u64) -> GroupCommit {
        GroupCommit {
            durable: AtomicU64::new(durable),
            failed: AtomicBool::new(false),
            role: Mutex::new(false),
            released: Condvar::new(),
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

    /// Takes the sync role, sleeping while another thread holds it; gives up (`None`) as soon
    /// as `done()` holds, checked under the role's lock after every release.
    fn take_role(&self, done: impl Fn() -> bool) -> Option<Role<'_>> {
        let mut held = lock(&self.role);
        loop {
            if done() {
                return None;
            }
            if !*held {
                *held = true;
                return Some(Role { group: self });
            }
            held = self.released.wait(held).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
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
        let role = self.take_role(|| self.durable() >= lsn || self.has_failed());
        let result = match role {
            None if self.durable() >= lsn => Ok(Waited::Covered),
            None => Err(WaitError::Failed),
            Some(role) => {
                let waiters = self.waiting.load(Ordering::Relaxed);
                let synced = sync();
                let result = match synced {
                    Ok(target) => {
                        self.durable.fetch_max(target, Ordering::AcqRel);
                        // A leader is acknowledged by its own sync only if it covers it.
                        if self.durable() >= lsn {
                            Ok(Waited::Synced { waiters })
                        } else {
                            Err(WaitError::Short { target })
                        }
                    }
                    Err(error) => {
                        self.failed.store(true, Ordering::Release);
                        Err(WaitError::Sync(error))
                    }
                };
                drop(role);
                result
            }
        };
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// Runs `f` holding the sync role: no sync runs meanwhile.
    pub(crate) fn with_role<T>(&self, f: impl FnOnce() -> T) -> T {
        let _role = self.take_role(|| false).expect("taken when free");
        f()
    }

    /// Raises the watermark to `lsn` (everything below it was made durable by other means,
    /// such as sealing a segment), with the role held.
    pub(crate) fn raise(&self, lsn: u64) {
        self.durable.fetch_max(lsn, Ordering::AcqRel);
    }

    /// Sets the watermark to `lsn`, which may lower it: only for cutting the log's tail, with
    /// the role held.
    pub(crate) fn reset(&self, lsn: u64) {
        self.durable.store(lsn, Ordering::Release);
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

    /// A sync that cannot reach a waiter's LSN (the log closed under it) acknowledges
    /// nobody it does not cover, leaves the group usable, and never hangs a waiter.
    #[test]
    fn a_sync_short_of_a_waiter_acknowledges_nobody_beyond_it() {
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0));
            let other = {
                let group = Arc::clone(&group);
                loom::thread::spawn(move || group.wait::<()>(2, || Ok(1)))
            };
            let mine = group.wait::<()>(1, || Ok(1));
            assert!(mine.is_ok(), "its own record is covered");
            assert!(matches!(other.join().unwrap(), Err(WaitError::Short { target: 1 })));
            assert!(!group.has_failed());
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
