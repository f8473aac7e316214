//! The log's background threads (the periodic syncer, the housekeeper, the task syncer): each
//! runs a task every interval, or sooner when woken, until stopped or the log is gone. A
//! [`Lazy`] one starts at its first use, and never again once stopped.

use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::mutex::lock;

/// A background thread and the signal that wakes or stops it.
pub(crate) struct Background {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

/// What the thread waits on.
#[derive(Default)]
pub(crate) struct Signal {
    flags: Mutex<Flags>,
    condvar: Condvar,
}

#[derive(Default)]
struct Flags {
    stopped: bool,
    woken: bool,
}

impl Signal {
    /// Makes the thread run its task now (once, however many wakes arrive meanwhile).
    pub(crate) fn wake(&self) {
        lock(&self.flags).woken = true;
        self.condvar.notify_all();
    }
}

impl Background {
    /// Starts thread `name`, running `task` every `interval` and on every wake, while `shared`
    /// lives and `task` returns `true`.
    ///
    /// # Errors
    /// The thread could not be started.
    pub(crate) fn start<T: Send + Sync + 'static>(
        name: &str,
        interval: Duration,
        shared: &Arc<T>,
        signal: Arc<Signal>,
        task: impl Fn(&T) -> bool + Send + 'static,
    ) -> std::io::Result<Background> {
        let weak: Weak<T> = Arc::downgrade(shared);
        let waiting = Arc::clone(&signal);
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            loop {
                {
                    let guard = lock(&waiting.flags);
                    let (mut guard, _) = waiting
                        .condvar
                        .wait_timeout_while(guard, interval, |f| !f.stopped && !f.woken)
                        .unwrap_or_else(PoisonError::into_inner);
                    if guard.stopped {
                        return;
                    }
                    guard.woken = false;
                }
                let Some(shared) = weak.upgrade() else { return };
                if !task(&shared) {
                    return;
                }
            }
        })?;
        Ok(Background { signal, thread: Some(thread) })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&mut self) {
        lock(&self.signal.flags).stopped = true;
        self.signal.condvar.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A background thread started at its first use ([`Lazy::wake`]) and woken through its
/// signal; once stopped, it never starts again.
#[derive(Default)]
pub(crate) struct Lazy {
    signal: Arc<Signal>,
    slot: Mutex<LazySlot>,
}

#[derive(Default)]
enum LazySlot {
    #[default]
    Idle,
    Running(Background),
    Stopped,
}

impl Lazy {
    /// Wakes the thread, first starting it with `start` (given the signal it must wait on)
    /// if it never ran. Does nothing once stopped.
    ///
    /// # Errors
    /// The thread could not be started.
    pub(crate) fn wake(
        &self,
        start: impl FnOnce(Arc<Signal>) -> std::io::Result<Background>,
    ) -> std::io::Result<()> {
        let mut slot = lock(&self.slot);
        match *slot {
            LazySlot::Idle => *slot = LazySlot::Running(start(Arc::clone(&self.signal))?),
            LazySlot::Running(_) => {}
            LazySlot::Stopped => return Ok(()),
        }
        drop(slot);
        self.signal.wake();
        Ok(())
    }

    /// Wakes the thread if it runs (from the thread itself: run the task again).
    pub(crate) fn wake_again(&self) {
        self.signal.wake();
    }

    /// Stops the thread, if it ever started, and waits for it; it never starts again.
    pub(crate) fn stop(&self) {
        let slot = std::mem::replace(&mut *lock(&self.slot), LazySlot::Stopped);
        if let LazySlot::Running(mut thread) = slot {
            thread.stop();
        }
    }
}
