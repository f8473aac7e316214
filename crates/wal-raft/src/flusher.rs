//! The flusher: one thread that makes appended entries durable and then calls openraft's flush
//! callbacks, in order. Callbacks that queue while a sync runs are served by the next one, so one
//! sync acknowledges every append made meanwhile (group commit).
//!
//! An append that finds the flusher idle (nothing queued, no batch being synced) syncs on its
//! own thread instead and completes its callback there ([`Flusher::complete_inline`]): the
//! hand-off to the flusher thread and back costs about as much as a third of a sync on this
//! machine (`docs/PERFORMANCE.md`), so one append at a time is served at the sync's own speed;
//! under load, appends queue and the flusher gathers them as before.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use openraft::RaftTypeConfig;
use openraft::storage::IOFlushed;
use wal_core::{Lsn, Storage, Wal};

pub(crate) struct Flusher<C: RaftTypeConfig> {
    queue: Mutex<Queue<C>>,
    wake: Condvar,
    /// Held while a batch is synced and acknowledged; a truncation holds it too, so it never
    /// cuts records a taken batch is still waiting on.
    gate: Mutex<()>,
}

struct Queue<C: RaftTypeConfig> {
    /// Callbacks, each with the LSN below which its entries lie.
    pending: Vec<(Lsn, IOFlushed<C>)>,
    stop: bool,
    /// The thread died (a panic): callbacks are failed at once, never left waiting.
    dead: bool,
}

/// Fails every queued callback, and every later one, if the flusher thread unwinds.
struct FailOnPanic<'a, C: RaftTypeConfig>(&'a Flusher<C>);

impl<C: RaftTypeConfig> Drop for FailOnPanic<'_, C> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let pending = {
                let mut queue = lock(&self.0.queue);
                queue.dead = true;
                std::mem::take(&mut queue.pending)
            };
            for (_, callback) in pending {
                callback.io_completed(Err(dead()));
            }
        }
    }
}

/// A batch taken from the queue: if the thread unwinds while syncing it, its callbacks are
/// failed, never dropped unanswered.
struct InFlight<C: RaftTypeConfig>(Vec<(Lsn, IOFlushed<C>)>);

impl<C: RaftTypeConfig> Drop for InFlight<C> {
    fn drop(&mut self) {
        for (_, callback) in self.0.drain(..) {
            callback.io_completed(Err(dead()));
        }
    }
}

/// Completes every callback of `batch` with the outcome of the sync that covered it.
fn answer<C: RaftTypeConfig>(mut batch: InFlight<C>, result: Result<(), wal_core::Error>) {
    for (_, callback) in batch.0.drain(..) {
        callback.io_completed(match &result {
            Ok(()) => Ok(()),
            Err(error) => Err(std::io::Error::other(error.to_string())),
        });
    }
}

fn dead() -> std::io::Error {
    std::io::Error::other("the wal-raft flusher thread panicked; nothing more is made durable")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent at every await-free step, so a panic elsewhere does not
    // make it unusable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: RaftTypeConfig> Flusher<C> {
    pub(crate) fn new() -> Self {
        Flusher {
            queue: Mutex::new(Queue { pending: Vec::new(), stop: false, dead: false }),
            wake: Condvar::new(),
            gate: Mutex::new(()),
        }
    }

    /// Makes every record below `end` durable and completes `callback` on this thread, if the
    /// flusher is idle: nothing queued (so no earlier callback is still unanswered) and no
    /// batch being synced. Holding the gate meanwhile keeps a batch queued later from being
    /// answered first. Otherwise hands `callback` back, for [`Flusher::push`].
    pub(crate) fn complete_inline<S: Storage>(
        &self,
        wal: &Wal<S>,
        end: Lsn,
        callback: IOFlushed<C>,
    ) -> Option<IOFlushed<C>> {
        let Ok(_gate) = self.gate.try_lock() else { return Some(callback) };
        {
            let queue = lock(&self.queue);
            if !queue.pending.is_empty() || queue.dead || queue.stop {
                return Some(callback);
            }
        }
        let batch = InFlight(vec![(end, callback)]);
        answer(batch, wal.sync_below(end));
        None
    }

    /// Queues `callback`, to be called once every record below `end` is durable.
    pub(crate) fn push(&self, end: Lsn, callback: IOFlushed<C>) {
        let mut queue = lock(&self.queue);
        if queue.dead {
            drop(queue);
            callback.io_completed(Err(dead()));
            return;
        }
        queue.pending.push((end, callback));
        drop(queue);
        self.wake.notify_one();
    }

    /// The thread's body: serves batches until stopped, then serves what is left.
    pub(crate) fn run<S: Storage>(&self, wal: &Wal<S>) {
        let _guard = FailOnPanic(self);
        loop {
            {
                let mut queue = lock(&self.queue);
                while queue.pending.is_empty() && !queue.stop {
                    queue = self.wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
                }
                if queue.pending.is_empty() {
                    return;
                }
            }
            let _gate = lock(&self.gate);
            self.serve(wal);
        }
    }

    /// Takes the gate and serves everything queued; returns the gate, so the caller can change
    /// the log before any later batch is served.
    pub(crate) fn drain<S: Storage>(&self, wal: &Wal<S>) -> MutexGuard<'_, ()> {
        let gate = lock(&self.gate);
        self.serve(wal);
        gate
    }

    /// Syncs below the highest end queued and completes every queued callback (with the
    /// sync's error, if it failed: openraft then stops the node). Called holding the gate.
    fn serve<S: Storage>(&self, wal: &Wal<S>) {
        let batch = InFlight(std::mem::take(&mut lock(&self.queue).pending));
        let Some(end) = batch.0.iter().map(|(end, _)| *end).max() else {
            return;
        };
        answer(batch, wal.sync_below(end));
    }

    /// Asks the thread to serve what is queued and stop.
    pub(crate) fn stop(&self) {
        lock(&self.queue).stop = true;
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use openraft::type_config::TypeConfigExt;

    use super::*;

    openraft::declare_raft_types!(Config: AsyncRuntime = openraft_rt_tokio::TokioRuntime);

    #[test]
    fn a_panicked_flusher_fails_queued_and_later_callbacks() {
        let flusher = Flusher::<Config>::new();
        let (queued, queued_answer) = Config::oneshot();
        flusher.push(Lsn(5), IOFlushed::signal(queued));
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| {
                let _guard = FailOnPanic(&flusher);
                panic!("a sync path bug");
            });
            assert!(thread.join().is_err());
        });
        let (later, later_answer) = Config::oneshot();
        flusher.push(Lsn(6), IOFlushed::signal(later));
        // A batch being synced when the thread unwinds.
        let (in_flight, in_flight_answer) = Config::oneshot();
        let _ = std::thread::spawn(move || {
            let _batch = InFlight::<Config>(vec![(Lsn(7), IOFlushed::signal(in_flight))]);
            panic!("the sync panicked");
        })
        .join();
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        for answer in [queued_answer, later_answer, in_flight_answer] {
            let result = runtime.block_on(answer).expect("answered");
            assert!(result.is_err(), "failed, not left waiting");
        }
    }
}
