//! Waking tailing readers when records are published: a condition variable that costs the
//! publisher one atomic load while nobody waits, and (for `Tail` as a `Stream`) task wakers
//! behind the same count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::task::Waker;
use std::time::Duration;

use crate::mutex::lock;

/// Wakes tailing readers when records are published.
pub(crate) struct TailSignal {
    /// The wakers of tails polled as streams, each under its tail's number.
    wakers: Mutex<Vec<(u64, Waker)>>,
    condvar: Condvar,
    /// Threads waiting on the condvar, plus the wakers registered.
    waiters: AtomicU64,
}

impl TailSignal {
    pub(crate) fn new() -> TailSignal {
        TailSignal {
            wakers: Mutex::new(Vec::new()),
            condvar: Condvar::new(),
            waiters: AtomicU64::new(0),
        }
    }

    /// Wakes waiting readers, if any (one load when there are none).
    pub(crate) fn notify(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let mut wakers = lock(&self.wakers);
            self.condvar.notify_all();
            if !wakers.is_empty() {
                self.waiters.fetch_sub(wakers.len() as u64, Ordering::SeqCst);
                let woken = std::mem::take(&mut *wakers);
                drop(wakers);
                woken.into_iter().for_each(|(_, waker)| waker.wake());
            }
        }
    }

    /// Waits until `ready()` or `timeout`. Either the publisher sees this waiter, or the
    /// waiter sees the publication (both sides are sequentially consistent); the timeout
    /// bounds any wake-up that is missed anyway.
    pub(crate) fn wait(&self, timeout: Duration, ready: impl Fn() -> bool) {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        let guard = lock(&self.wakers);
        if !ready() {
            let _ = self.condvar.wait_timeout(guard, timeout);
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Has `waker` woken at the next publication (in place of the waker registered before
    /// under `id`, if any). The caller checks for a record again after this, so that a
    /// publication between its check and the registration is not missed.
    #[cfg(feature = "stream")]
    pub(crate) fn register(&self, id: u64, waker: &Waker) {
        let mut wakers = lock(&self.wakers);
        match wakers.iter_mut().find(|(registered, _)| *registered == id) {
            Some((_, old)) => old.clone_from(waker),
            None => {
                wakers.push((id, waker.clone()));
                self.waiters.fetch_add(1, Ordering::SeqCst);
            }
        }
        drop(wakers);
        std::sync::atomic::fence(Ordering::SeqCst);
    }

    /// Forgets the waker registered under `id` (a tail dropped while waiting).
    #[cfg(feature = "stream")]
    pub(crate) fn unregister(&self, id: u64) {
        let mut wakers = lock(&self.wakers);
        if let Some(at) = wakers.iter().position(|(registered, _)| *registered == id) {
            wakers.swap_remove(at);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
