//! Group commit: many threads wait for their records to be durable; a few of them sync for all,
//! up to `depth` syncs at once.
//!
//! The durable watermark only grows (a cut of the log's tail, inside the exclusive role, is the one
//! exception: [`GroupCommit::reset`]). A thread that needs LSN `n` durable returns at once if the
//! watermark is past it. Otherwise it *leads* a sync if no sync already planned covers `n` and a
//! sync slot is free; else it sleeps until it is covered, or until it may lead. A leader plans its
//! sync (everything published at that moment, so every waiter that published before then is
//! covered), then runs it without any lock; as soon as the plan is made, the next sync may start
//! (pipelining): with a slot free, the waiter with the smallest LSN not yet covered is woken to
//! lead. Syncs of consecutive ranges thus overlap; what is durable is the prefix of finished syncs
//! (the `Syncer` reports it), so a sync that finishes before an earlier one acknowledges nobody
//! past the earlier one's range.
//!
//! Wake-ups are targeted: each sleeper has a signal of its own; a finished sync wakes exactly
//! the waiters it covered, plus at most one next leader, never everyone (no thundering herd on a
//! machine with few cores). Nobody returns before every byte below their LSN is durable,
//! because the watermark is only raised to a prefix of syncs that all succeeded, and a sync's
//! target never exceeds what was published when it was planned. A failed sync is never
//! retried: it fails the group, and every waiter not covered gets the error.
//!
//! Rolling to a new segment, cutting and closing need the log to themselves
//! ([`GroupCommit::with_role`]): they wait until no sync runs and keep new ones from starting.
//!
//! Sleepers are threads or tasks. A *task* (a future's waiter: a `Waker` and an outcome) never
//! leads, since a sync blocks and must not run on an executor's thread: when a task needs a
//! sync that no plan covers, [`GroupCommit::poll_task`] says so, and its caller wakes the log's
//! task syncer, a thread that waits here like any other for the highest LSN tasks asked for
//! ([`GroupCommit::task_target`]). Tasks are covered by every sync, whoever leads it; they are
//! kept apart from the threads, so the thread path costs one emptiness check more.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(loom)]
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

/// The longest a leader gathers, whatever the mean sync time.
const MAX_GATHER: Duration = Duration::from_millis(2);

/// Makes published records durable for the group, in two steps so that several syncs can be
/// in flight: plans are made one at a time, in order, and run concurrently.
pub(crate) trait Syncer {
    type Plan;
    type Error;
    /// Notes what a sync now would cover: the plan, and its target (everything published below
    /// it is in the plan or an earlier one).
    fn plan(&self) -> Result<(Self::Plan, u64), Self::Error>;
    /// Runs a plan; returns the LSN below which everything is durable now (the target of the
    /// newest plan that finished with no unfinished plan before it).
    fn run(&self, plan: Self::Plan) -> Result<u64, Self::Error>;
}

/// The durable watermark, the syncs in flight, and who waits for what.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    /// A mirror of `Inner::durable`, for the lock-free fast path.
    durable: AtomicU64,
    /// Syncs that may be in flight at once.
    depth: usize,
    inner: Mutex<Inner>,
    /// Signalled when the last sync in flight ends, for a thread waiting in `with_role`.
    drained: Condvar,
    /// Signalled when the threads a gathering leader waits for are back.
    gathered: Condvar,
}

#[derive(Debug)]
struct Inner {
    durable: u64,
    failed: bool,
    /// The largest target of any plan made: a waiter below it is covered by a sync in flight.
    planned: u64,
    /// Syncs being planned or run.
    in_flight: usize,
    /// A leader is planning (plans are made one at a time, so their ranges follow each other).
    planning: bool,
    /// A thread holds the log to itself (`with_role`), or waits to.
    exclusive: bool,
    exclusive_waiting: usize,
    /// Sleeping waiters, each with the LSN it needs durable.
    waiters: Vec<(u64, Arc<Signal>)>,
    /// Signals fired under the lock, notified once it is released ([`Locked`]): a woken
    /// thread then finds the lock free instead of blocking on it at once.
    to_notify: Vec<Arc<Signal>>,
    /// Wakers of tasks decided under the lock, woken once it is released ([`Locked`]): a
    /// waker may run the task's executor code, which must not find this lock held.
    to_wake: Vec<Waker>,
    /// Threads the last finished sync released (its leader included), and how many threads
    /// came to wait since: a leader gathers until they are back, within a window.
    released: usize,
    arrived: usize,
    /// A leader is gathering: arrivals tell it when everyone is back.
    gathering: bool,
    /// A moving average of how long a sync runs, in nanoseconds.
    sync_nanos: u64,
    /// Sleeping tasks: the LSN each needs durable, its registration number, its wake-up.
    tasks: Vec<(u64, u64, Arc<Task>)>,
    /// Tasks registered so far (numbers them).
    task_seq: u64,
    /// The task syncer has been asked to serve tasks and has not yet found none left.
    task_syncer_busy: bool,
    /// The log is closed: no sync will cover a task beyond the watermark any more.
    tasks_closed: bool,
}

/// A task's wake-up: its waker, and its outcome once a sync decided it. Set under the group's
/// lock; a task that polls again reads it without that lock.
#[derive(Debug, Default)]
pub(crate) struct Task {
    state: Mutex<TaskState>,
}

#[derive(Debug, Default)]
struct TaskState {
    waker: Option<Waker>,
    outcome: Option<TaskPoll>,
    /// In the group's list of tasks.
    listed: bool,
}

/// A task's registration, as its future holds it (loom's `Arc` in the models).
pub(crate) type TaskRef = Arc<Task>;

/// What polling a task's wait found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskPoll {
    /// Every record below its LSN is durable.
    Durable,
    /// A sync failed; nothing is retried.
    Failed,
    /// No sync will reach its LSN: the log was closed, or its records were cut.
    Short {
        /// Where durability ended.
        target: u64,
    },
    /// Not yet; the waker is registered. `start_syncer`: no sync planned covers it, and the
    /// task syncer must be woken (the caller does it, outside this module's lock).
    Pending {
        /// Wake the task syncer.
        start_syncer: bool,
    },
}

/// One sleeper's wake-up.
#[derive(Debug, Default)]
struct Signal {
    /// Set under the group's lock.
    fired: AtomicBool,
    woken: Condvar,
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
    /// This thread synced; that many threads were waiting when it planned.
    Synced {
        /// Waiting threads (this one included) when the sync was planned.
        waiters: usize,
    },
}

/// Holding the log to oneself; dropping it lets syncs start again.
struct Exclusive<'g> {
    group: &'g GroupCommit,
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        let mut inner = Locked::new(&self.group.inner);
        inner.exclusive = false;
        let _ = self.group.wake(&mut inner);
    }
}

/// A sync slot held across `Syncer::plan` and `Syncer::run`; dropped only if one of them
/// panics (the normal paths forget it): gives the slot back and fails the group.
struct Unwinding<'g> {
    group: &'g GroupCommit,
    planning: bool,
}

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        let mut inner = Locked::new(&self.group.inner);
        inner.in_flight -= 1;
        if self.planning {
            inner.planning = false;
        }
        self.group.fail_locked(&mut inner);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every field is updated whole under the lock: a panic elsewhere cannot leave it
    // half-written.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The group's lock, held; releasing it notifies the signals fired meanwhile.
struct Locked<'g> {
    guard: Option<MutexGuard<'g, Inner>>,
}

impl<'g> Locked<'g> {
    fn new(mutex: &'g Mutex<Inner>) -> Locked<'g> {
        Locked { guard: Some(lock(mutex)) }
    }

    /// Waits on `condvar`, releasing the lock meanwhile (signals fired so far are notified
    /// first: nobody else may release the lock before this thread sleeps).
    fn wait(mut self, condvar: &Condvar) -> Locked<'g> {
        let mut guard = self.guard.take().expect("held until dropped");
        notify(std::mem::take(&mut guard.to_notify), std::mem::take(&mut guard.to_wake));
        let guard = condvar.wait(guard).unwrap_or_else(std::sync::PoisonError::into_inner);
        Locked { guard: Some(guard) }
    }

    /// As [`Locked::wait`], for at most `timeout`.
    fn wait_timeout(mut self, condvar: &Condvar, timeout: Duration) -> Locked<'g> {
        let mut guard = self.guard.take().expect("held until dropped");
        notify(std::mem::take(&mut guard.to_notify), std::mem::take(&mut guard.to_wake));
        let (guard, _) = (condvar.wait_timeout(guard, timeout))
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Locked { guard: Some(guard) }
    }
}

impl std::ops::Deref for Locked<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            let signals = std::mem::take(&mut guard.to_notify);
            let wakers = std::mem::take(&mut guard.to_wake);
            drop(guard);
            notify(signals, wakers);
        }
    }
}

fn notify(signals: Vec<Arc<Signal>>, wakers: Vec<Waker>) {
    for signal in signals {
        signal.woken.notify_one();
    }
    for waker in wakers {
        waker.wake();
    }
}

impl GroupCommit {
    /// A group whose records below `durable` are durable, running up to `depth` syncs at once
    /// (at least one).
    pub(crate) fn new(durable: u64, depth: usize) -> GroupCommit {
        GroupCommit {
            durable: AtomicU64::new(durable),
            depth: depth.max(1),
            inner: Mutex::new(Inner {
                durable,
                failed: false,
                planned: durable,
                in_flight: 0,
                planning: false,
                exclusive: false,
                exclusive_waiting: 0,
                waiters: Vec::new(),
                to_notify: Vec::new(),
                to_wake: Vec::new(),
                released: 0,
                arrived: 0,
                gathering: false,
                sync_nanos: 0,
                tasks: Vec::new(),
                task_seq: 0,
                task_syncer_busy: false,
                tasks_closed: false,
            }),
            drained: Condvar::new(),
            gathered: Condvar::new(),
        }
    }

    /// Everything below this LSN is durable.
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    #[cfg(loom)]
    fn has_failed(&self) -> bool {
        lock(&self.inner).failed
    }

    /// Returns once every record below `lsn` is durable, running syncs through `syncer` when
    /// this thread is the one to lead.
    pub(crate) fn wait<S: Syncer>(
        &self,
        lsn: u64,
        syncer: &S,
    ) -> Result<Waited, WaitError<S::Error>> {
        if self.durable() >= lsn {
            return Ok(Waited::Covered);
        }
        let mut inner = Locked::new(&self.inner);
        inner.arrived += 1;
        if inner.gathering && inner.arrived >= inner.released {
            self.gathered.notify_one();
        }
        // Set once this thread has led a sync that reached `lsn` before an earlier one ended.
        let mut led = None;
        loop {
            if inner.durable >= lsn {
                return Ok(led.map_or(Waited::Covered, |waiters| Waited::Synced { waiters }));
            }
            if inner.failed {
                return Err(WaitError::Failed);
            }
            if inner.planned < lsn && self.may_lead(&inner) {
                let (next, waiters, target) = self.lead(inner, syncer)?;
                inner = next;
                if inner.durable >= lsn {
                    return Ok(Waited::Synced { waiters });
                }
                if target < lsn {
                    return Err(WaitError::Short { target });
                }
                // An earlier sync still runs: wait for it as any other waiter.
                led = Some(waiters);
                continue;
            }
            inner = self.sleep(inner, lsn);
        }
    }

    /// Plans and runs one sync; returns the lock again, the waiters when it was planned and
    /// its target.
    fn lead<'g, S: Syncer>(
        &'g self,
        mut inner: Locked<'g>,
        syncer: &S,
    ) -> Result<(Locked<'g>, usize, u64), WaitError<S::Error>> {
        inner.in_flight += 1;
        inner.planning = true;
        let inner = self.gather(inner);
        let waiters = inner.waiters.len() + inner.tasks.len() + 1;
        drop(inner);
        // If `plan` or `run` panics, the slot is given back and the group failed, so no
        // waiter sleeps for good and `with_role` (closing the log) still gets the log.
        let mut unwinding = Unwinding { group: self, planning: true };
        let planned = syncer.plan();
        unwinding.planning = false;
        let mut inner = Locked::new(&self.inner);
        inner.planning = false;
        let (plan, target) = match planned {
            Ok(planned) => planned,
            Err(error) => {
                std::mem::forget(unwinding);
                inner.in_flight -= 1;
                self.fail_locked(&mut inner);
                return Err(WaitError::Sync(error));
            }
        };
        inner.planned = inner.planned.max(target);
        // The next sync may start now, beside this one.
        let _ = self.wake(&mut inner);
        drop(inner);
        let started = Instant::now();
        let ran = syncer.run(plan);
        std::mem::forget(unwinding);
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut inner = Locked::new(&self.inner);
        inner.in_flight -= 1;
        inner.sync_nanos = (inner.sync_nanos.saturating_mul(7) / 8).saturating_add(took / 8);
        match ran {
            Ok(durable) => self.raise_locked(&mut inner, durable),
            Err(error) => {
                self.fail_locked(&mut inner);
                return Err(WaitError::Sync(error));
            }
        }
        inner.released = self.wake(&mut inner) + 1;
        inner.arrived = 0;
        Ok((inner, waiters, target))
    }

    /// Before planning: if the last sync released threads that have not come back to wait
    /// yet (they are appending their next record), waits for them, at most half a sync's
    /// running time (measured: a quarter gathered fewer, a whole one gained no more) and
    /// `MAX_GATHER`. Without this, committers split into two groups that take turns, each
    /// sync covering half of them; with it, one sync covers them all. A lone committer
    /// is back as soon as it leads, so it never waits.
    ///
    /// The wait ends by its deadline when a thread does not come back, which loom cannot model
    /// (its timed waits never time out): the loom models run without gathering, and a unit
    /// test covers the deadline.
    fn gather<'g>(&'g self, mut inner: Locked<'g>) -> Locked<'g> {
        // Capped, so one slow sync cannot make every later one wait long.
        let window = Duration::from_nanos(inner.sync_nanos / 2).min(MAX_GATHER);
        if cfg!(loom) || window.is_zero() || inner.arrived >= inner.released {
            return inner;
        }
        let deadline = Instant::now() + window;
        inner.gathering = true;
        // A thread waiting for the log to itself (a roll, a cut, closing) may be one of those
        // the gathering waits for: it stops the gathering.
        while inner.arrived < inner.released && inner.exclusive_waiting == 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            inner = inner.wait_timeout(&self.gathered, left);
        }
        inner.gathering = false;
        inner
    }

    /// Sleeps until a sync covers `lsn`, fails, or this thread may lead.
    fn sleep<'g>(&'g self, mut inner: Locked<'g>, lsn: u64) -> Locked<'g> {
        let signal = Arc::new(Signal::default());
        inner.waiters.push((lsn, Arc::clone(&signal)));
        while !signal.fired.load(Ordering::Relaxed) {
            inner = inner.wait(&signal.woken);
        }
        inner
    }

    /// Whether a new sync may start now.
    fn may_lead(&self, inner: &Inner) -> bool {
        !inner.planning
            && !inner.exclusive
            && inner.exclusive_waiting == 0
            && inner.in_flight < self.depth
    }

    /// Wakes the waiters the watermark covers (all of them if the group failed), then, if a
    /// sync may start, the waiter with the smallest LSN no planned sync covers, to lead it;
    /// and a thread waiting for the log to itself once no sync runs.
    /// Returns how many covered waiters it woke.
    fn wake(&self, inner: &mut Inner) -> usize {
        let (durable, failed) = (inner.durable, inner.failed);
        let before = inner.waiters.len();
        // The next leader first: its sync starts while the covered waiters are being woken.
        if self.may_lead(inner) && !failed {
            let planned = inner.planned.max(durable);
            let next = (inner.waiters.iter().enumerate())
                .filter(|(_, (lsn, _))| *lsn > planned)
                .min_by_key(|(_, (lsn, _))| *lsn)
                .map(|(at, _)| at);
            if let Some(at) = next {
                let (_, signal) = inner.waiters.swap_remove(at);
                signal.fired.store(true, Ordering::Relaxed);
                inner.to_notify.push(signal);
            }
        }
        let after_leader = inner.waiters.len();
        let mut woken = std::mem::take(&mut inner.to_notify);
        inner.waiters.retain(|(lsn, signal)| {
            let done = failed || *lsn <= durable;
            if done {
                signal.fired.store(true, Ordering::Relaxed);
                woken.push(Arc::clone(signal));
            }
            !done
        });
        inner.to_notify = woken;
        inner.decide_tasks(|lsn, _| {
            if failed {
                Some(TaskPoll::Failed)
            } else {
                (lsn <= durable).then_some(TaskPoll::Durable)
            }
        });
        if inner.in_flight == 0 && inner.exclusive_waiting > 0 {
            self.drained.notify_all();
        }
        debug_assert!(after_leader <= before);
        after_leader - inner.waiters.len()
    }

    /// Runs `f` with the log to itself: no sync runs meanwhile, and none starts.
    pub(crate) fn with_role<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut inner = Locked::new(&self.inner);
        inner.exclusive_waiting += 1;
        // A leader gathering stops, and plans at once.
        self.gathered.notify_all();
        while inner.exclusive || inner.in_flight > 0 {
            inner = inner.wait(&self.drained);
        }
        inner.exclusive_waiting -= 1;
        inner.exclusive = true;
        drop(inner);
        let _exclusive = Exclusive { group: self };
        f()
    }

    /// Raises the watermark to `lsn` (everything below it was made durable by other means,
    /// such as sealing a segment), inside [`GroupCommit::with_role`].
    pub(crate) fn raise(&self, lsn: u64) {
        let mut inner = Locked::new(&self.inner);
        self.raise_locked(&mut inner, lsn);
        let _ = self.wake(&mut inner);
    }

    fn raise_locked(&self, inner: &mut Inner, lsn: u64) {
        inner.durable = inner.durable.max(lsn);
        inner.planned = inner.planned.max(inner.durable);
        self.durable.store(inner.durable, Ordering::Release);
    }

    /// Sets the watermark to `lsn`, which may lower it: only for cutting the log's tail,
    /// inside [`GroupCommit::with_role`].
    pub(crate) fn reset(&self, lsn: u64) {
        let mut inner = Locked::new(&self.inner);
        inner.durable = lsn;
        inner.planned = lsn;
        self.durable.store(lsn, Ordering::Release);
        // Tasks waiting beyond the cut wait for records it removed: no sync will cover them.
        // (A thread waiting there learns it from the next sync it leads.)
        inner.decide_tasks(|wanted, _| (wanted > lsn).then_some(TaskPoll::Short { target: lsn }));
    }

    /// Marks the group failed (a sync outside `wait` failed).
    pub(crate) fn fail(&self) {
        let mut inner = Locked::new(&self.inner);
        self.fail_locked(&mut inner);
    }

    fn fail_locked(&self, inner: &mut Inner) {
        inner.failed = true;
        // Every sleeper learns of it; a thread waiting for the log to itself goes on.
        let _ = self.wake(inner);
    }
}

/// Waiting as a task: never leads, never blocks.
impl GroupCommit {
    /// Whether every record below `lsn` is durable; if not yet, registers `waker` to be woken
    /// when that is decided (once `task` holds a registration, polling again only renews its
    /// waker). Never blocks beyond this group's lock.
    pub(crate) fn poll_task(
        &self,
        lsn: u64,
        task: &mut Option<Arc<Task>>,
        waker: &Waker,
    ) -> TaskPoll {
        if let Some(task) = task {
            let mut state = lock(&task.state);
            if let Some(outcome) = state.outcome {
                return outcome;
            }
            if !state.waker.as_ref().is_some_and(|old| old.will_wake(waker)) {
                state.waker = Some(waker.clone());
            }
            return TaskPoll::Pending { start_syncer: false };
        }
        if self.durable() >= lsn {
            return TaskPoll::Durable;
        }
        let mut inner = lock(&self.inner);
        if inner.durable >= lsn {
            return TaskPoll::Durable;
        }
        if inner.failed {
            return TaskPoll::Failed;
        }
        if inner.tasks_closed {
            return TaskPoll::Short { target: inner.durable };
        }
        let registered = Arc::new(Task::default());
        {
            let mut state = lock(&registered.state);
            state.waker = Some(waker.clone());
            state.listed = true;
        }
        inner.task_seq += 1;
        let seq = inner.task_seq;
        inner.tasks.push((lsn, seq, Arc::clone(&registered)));
        *task = Some(registered);
        let start_syncer = lsn > inner.planned && !inner.task_syncer_busy;
        inner.task_syncer_busy |= start_syncer;
        TaskPoll::Pending { start_syncer }
    }

    /// Forgets a task whose future was dropped before its outcome (its record stays).
    pub(crate) fn cancel_task(&self, task: &Arc<Task>) {
        if !lock(&task.state).listed {
            return;
        }
        let mut inner = lock(&self.inner);
        if let Some(at) = inner.tasks.iter().position(|(_, _, listed)| Arc::ptr_eq(listed, task)) {
            inner.tasks.swap_remove(at);
        }
        lock(&task.state).listed = false;
    }

    /// For the task syncer: the highest LSN a task waits for that no planned sync covers, and
    /// the newest task registration; `None` (the syncer may rest) when every task is covered.
    pub(crate) fn task_target(&self) -> Option<(u64, u64)> {
        let mut inner = lock(&self.inner);
        let planned = inner.planned.max(inner.durable);
        let target = inner.tasks.iter().map(|(lsn, _, _)| *lsn).max().filter(|&lsn| lsn > planned);
        if target.is_none() || inner.failed || inner.tasks_closed {
            inner.task_syncer_busy = false;
            return None;
        }
        target.map(|target| (target, inner.task_seq))
    }

    /// For the task syncer, after its wait for a target from [`GroupCommit::task_target`]
    /// came short (the log closed, or a cut): tells every task registered by then that the
    /// watermark does not cover that no sync will reach it. Their records were published
    /// before the sync that came short was planned, so they were in its range.
    pub(crate) fn end_tasks_short(&self, seq: u64) {
        let mut inner = Locked::new(&self.inner);
        let durable = inner.durable;
        inner.decide_tasks(|lsn, registered| {
            (registered <= seq && lsn > durable).then_some(TaskPoll::Short { target: durable })
        });
    }

    /// The log is closed: every task the watermark does not cover is told so, now and later.
    pub(crate) fn close_tasks(&self) {
        let mut inner = Locked::new(&self.inner);
        inner.tasks_closed = true;
        let durable = inner.durable;
        inner.decide_tasks(|lsn, _| {
            Some(if lsn <= durable {
                TaskPoll::Durable
            } else {
                TaskPoll::Short { target: durable }
            })
        });
    }
}

impl Inner {
    /// Decides every task `outcome_of` (given its LSN and registration number) has an outcome
    /// for, and takes it off the list; their wakers are woken once the lock is released.
    fn decide_tasks(&mut self, outcome_of: impl Fn(u64, u64) -> Option<TaskPoll>) {
        if self.tasks.is_empty() {
            return;
        }
        let mut wakers = std::mem::take(&mut self.to_wake);
        self.tasks.retain(|(lsn, registered, task)| match outcome_of(*lsn, *registered) {
            Some(outcome) => {
                wakers.extend(task.decide(outcome));
                false
            }
            None => true,
        });
        self.to_wake = wakers;
    }
}

impl Task {
    /// Decides the task (under the group's lock); returns its waker, to wake once that lock is
    /// released.
    fn decide(&self, outcome: TaskPoll) -> Option<Waker> {
        let mut state = lock(&self.state);
        state.outcome = Some(outcome);
        state.listed = false;
        state.waker.take()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Syncs that succeed at once, up to what the caller says is published.
    struct Instant(u64);

    impl Syncer for Instant {
        type Plan = ();
        type Error = ();
        fn plan(&self) -> Result<((), u64), ()> {
            Ok(((), self.0))
        }
        fn run(&self, (): ()) -> Result<u64, ()> {
            Ok(self.0)
        }
    }

    /// A leader waiting for released threads that never come back still syncs, once its
    /// window has passed: half the mean sync time (here 1 ms), and never more than
    /// `MAX_GATHER` (2 ms) whatever the mean.
    #[test]
    fn a_leader_gathers_no_longer_than_its_window() {
        for (mean, at_least) in [(2_000_000, 1), (10_000_000_000, 2)] {
            let group = GroupCommit::new(0, 1);
            {
                let mut inner = lock(&group.inner);
                inner.sync_nanos = mean;
                inner.released = 5;
            }
            let started = std::time::Instant::now();
            assert_eq!(group.wait(1, &Instant(1)).unwrap(), Waited::Synced { waiters: 1 });
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(at_least), "it gathered: {waited:?}");
            assert!(waited < Duration::from_secs(5), "it stopped gathering: {waited:?}");
        }
        let group = GroupCommit::new(0, 1);
        group.wait(1, &Instant(1)).unwrap();
        // The sync released only its leader, which is back as soon as it waits again: the
        // next leader has nobody to gather.
        let inner = lock(&group.inner);
        assert_eq!((inner.released, inner.arrived), (1, 0));
        drop(inner);
        group.wait(2, &Instant(2)).unwrap();
        assert_eq!(lock(&group.inner).arrived, 0, "a new sync finished and reset the count");
    }

    /// A sync whose planning panics.
    struct Panics;

    impl Syncer for Panics {
        type Plan = ();
        type Error = ();
        fn plan(&self) -> Result<((), u64), ()> {
            panic!("a bug in planning")
        }
        fn run(&self, (): ()) -> Result<u64, ()> {
            Ok(1)
        }
    }

    /// A panic inside a sync gives its slot back and fails the group: later waiters get an
    /// error instead of sleeping for good, and the exclusive role (closing the log) is free.
    #[test]
    fn a_panicking_sync_fails_the_group_and_hangs_nobody() {
        let group = GroupCommit::new(0, 1);
        let panicked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| group.wait(1, &Panics)));
        assert!(panicked.is_err());
        assert!(matches!(group.wait(1, &Instant(1)), Err(WaitError::Failed)));
        assert_eq!(group.with_role(|| 7), 7);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A "disk" for the models: plans take what is published, in order; a plan's run makes its
    /// range durable; the durable prefix is the target of the newest plan with no unfinished
    /// plan before it (as `SyncProgress` computes it).
    struct Disk {
        published: AtomicU64,
        syncs: AtomicU64,
        plans: Mutex<Vec<(u64, bool)>>,
        /// Everything below this is on the disk, whatever the group believes.
        on_disk: AtomicU64,
        /// Syncs running right now.
        running: AtomicU64,
        fail: bool,
    }

    /// Set once any execution of a model ran two syncs at once (outside loom's state, so it
    /// outlives the executions): proof that the models explore overlapping syncs.
    static OVERLAPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    impl Disk {
        fn new(fail: bool) -> Disk {
            Disk {
                published: AtomicU64::new(0),
                syncs: AtomicU64::new(0),
                plans: Mutex::new(Vec::new()),
                on_disk: AtomicU64::new(0),
                running: AtomicU64::new(0),
                fail,
            }
        }
    }

    impl Syncer for Disk {
        type Plan = usize;
        type Error = ();

        fn plan(&self) -> Result<(usize, u64), ()> {
            let target = self.published.load(Ordering::Acquire);
            let mut plans = lock(&self.plans);
            plans.push((target, false));
            Ok((plans.len() - 1, target))
        }

        fn run(&self, plan: usize) -> Result<u64, ()> {
            self.syncs.fetch_add(1, Ordering::Relaxed);
            if self.fail {
                return Err(());
            }
            if self.running.fetch_add(1, Ordering::AcqRel) == 1 {
                OVERLAPPED.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            loom::thread::yield_now();
            self.running.fetch_sub(1, Ordering::AcqRel);
            let mut plans = lock(&self.plans);
            plans[plan].1 = true;
            let prefix = plans.iter().take_while(|(_, done)| *done).map(|(t, _)| *t).max();
            let durable = prefix.unwrap_or(0);
            self.on_disk.fetch_max(durable, Ordering::AcqRel);
            Ok(durable)
        }
    }

    fn committers(
        group: &Arc<GroupCommit>,
        disk: &Arc<Disk>,
        count: usize,
    ) -> Vec<loom::thread::JoinHandle<()>> {
        (0..count)
            .map(|_| {
                let (group, disk) = (Arc::clone(group), Arc::clone(disk));
                loom::thread::spawn(move || {
                    let mine = disk.published.fetch_add(1, Ordering::AcqRel) + 1;
                    group.wait(mine, &*disk).unwrap();
                    assert!(disk.on_disk.load(Ordering::Acquire) >= mine);
                })
            })
            .collect()
    }

    /// Two committers publish a record each and wait for durability, one sync at a time. Each
    /// returns only once its record is on the disk, and at most two syncs run.
    #[test]
    fn nobody_returns_before_their_record_is_durable() {
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0, 1));
            let disk = Arc::new(Disk::new(false));
            for committer in committers(&group, &disk, 2) {
                committer.join().unwrap();
            }
            assert!(disk.syncs.load(Ordering::Relaxed) <= 2);
            assert_eq!(group.durable(), 2);
        });
    }

    /// The same with two syncs in flight, which may finish in either order: nobody is
    /// acknowledged by a sync that finished while an earlier one still ran.
    #[test]
    fn overlapping_syncs_acknowledge_only_their_finished_prefix() {
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0, 2));
            let disk = Arc::new(Disk::new(false));
            for committer in committers(&group, &disk, 2) {
                committer.join().unwrap();
            }
            assert_eq!(group.durable(), 2);
        });
        assert!(OVERLAPPED.load(std::sync::atomic::Ordering::Relaxed), "no execution overlapped");
    }

    /// A thread that needs the log to itself waits until no sync runs, and no sync starts
    /// while it holds it.
    #[test]
    fn the_exclusive_role_sees_no_sync_running() {
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0, 2));
            let disk = Arc::new(Disk::new(false));
            let running = committers(&group, &disk, 1);
            group.with_role(|| {
                let before = disk.syncs.load(Ordering::Relaxed);
                let plans = lock(&disk.plans);
                assert!(plans.iter().all(|(_, done)| *done), "a sync runs beside the role");
                drop(plans);
                loom::thread::yield_now();
                assert_eq!(disk.syncs.load(Ordering::Relaxed), before);
            });
            for committer in running {
                committer.join().unwrap();
            }
        });
    }

    /// A sync that cannot reach a waiter's LSN (the log closed under it) acknowledges
    /// nobody it does not cover, leaves the group usable, and never hangs a waiter.
    #[test]
    fn a_sync_short_of_a_waiter_acknowledges_nobody_beyond_it() {
        struct Closed;
        impl Syncer for Closed {
            type Plan = ();
            type Error = ();
            fn plan(&self) -> Result<((), u64), ()> {
                Ok(((), 1))
            }
            fn run(&self, (): ()) -> Result<u64, ()> {
                Ok(1)
            }
        }
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0, 2));
            let other = {
                let group = Arc::clone(&group);
                loom::thread::spawn(move || group.wait(2, &Closed))
            };
            let mine = group.wait(1, &Closed);
            assert!(mine.is_ok(), "its own record is covered");
            assert!(matches!(other.join().unwrap(), Err(WaitError::Short { target: 1 })));
            assert!(!group.has_failed());
        });
    }

    /// Wakes the loom thread that polls a task.
    struct Unpark(loom::thread::Thread);

    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }

    /// The task syncer as `durable.rs` runs it: waits for what tasks asked, until none is left.
    fn task_syncer(group: &GroupCommit, disk: &Disk) {
        while let Some((target, seq)) = group.task_target() {
            if let Err(WaitError::Short { .. }) = group.wait(target, disk) {
                group.end_tasks_short(seq);
            }
        }
    }

    /// A task and a thread commit at once: the task never leads (the task syncer or the thread
    /// does), it is woken, and only once its record is on the disk.
    #[test]
    fn a_task_is_woken_once_its_record_is_durable() {
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0, 2));
            let disk = Arc::new(Disk::new(false));
            let mut running = committers(&group, &disk, 1);
            let mine = disk.published.fetch_add(1, Ordering::AcqRel) + 1;
            let waker =
                std::task::Waker::from(std::sync::Arc::new(Unpark(loom::thread::current())));
            let mut task = None;
            loop {
                match group.poll_task(mine, &mut task, &waker) {
                    TaskPoll::Durable => break,
                    TaskPoll::Pending { start_syncer } => {
                        if start_syncer {
                            let (group, disk) = (Arc::clone(&group), Arc::clone(&disk));
                            running.push(loom::thread::spawn(move || task_syncer(&group, &disk)));
                        }
                        loom::thread::park();
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert!(disk.on_disk.load(Ordering::Acquire) >= mine);
            for thread in running {
                thread.join().unwrap();
            }
        });
    }

    /// A failed sync is reported to every waiter it did not cover and never retried.
    #[test]
    fn a_failed_sync_fails_every_later_waiter() {
        loom::model(|| {
            let group = Arc::new(GroupCommit::new(0, 2));
            let disk = Arc::new(Disk::new(true));
            let other = {
                let (group, disk) = (Arc::clone(&group), Arc::clone(&disk));
                loom::thread::spawn(move || group.wait(2, &*disk).is_err())
            };
            let mine = group.wait(1, &*disk).is_err();
            assert!(mine && other.join().unwrap());
            assert!(group.has_failed());
            assert!(disk.syncs.load(Ordering::Relaxed) <= 2);
        });
    }
}
