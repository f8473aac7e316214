//! The log's background threads (the periodic syncer, the housekeeper): each runs a task every
//! interval, or sooner when woken, until stopped or the log is gone.

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
