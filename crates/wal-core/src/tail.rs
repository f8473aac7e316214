//! Waking tailing readers when records are published: a condition variable that costs the
//! publisher one atomic load while nobody waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::mutex::lock;

/// Wakes tailing readers when records are published.
pub(crate) struct TailSignal {
    lock: Mutex<()>,
    condvar: Condvar,
    waiters: AtomicU64,
}

impl TailSignal {
    pub(crate) fn new() -> TailSignal {
        TailSignal { lock: Mutex::new(()), condvar: Condvar::new(), waiters: AtomicU64::new(0) }
    }

    /// Wakes waiting readers, if any (one load when there are none).
    pub(crate) fn notify(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.condvar.notify_all();
        }
    }

    /// Waits until `ready()` or `timeout`. Either the publisher sees this waiter, or the
    /// waiter sees the publication (both sides are sequentially consistent); the timeout
    /// bounds any wake-up that is missed anyway.
    pub(crate) fn wait(&self, timeout: Duration, ready: impl Fn() -> bool) {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        let guard = lock(&self.lock);
        if !ready() {
            let _ = self.condvar.wait_timeout(guard, timeout);
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}
