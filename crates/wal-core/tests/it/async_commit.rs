//! The async front door: `append_durable`, `Txn::commit_async` and `wait_durable` under tokio
//! and under a minimal executor of the test's own (a thread-unpark waker), cancellation,
//! closing under pending futures, a failed sync, power losses under async committers, and
//! (feature `stream`) `Tail` as a `Stream`.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use wal_core::{Durability, Error, Lsn, SimStorage};

use crate::support::{TAG, open_sim, small};

/// Wakes the thread that polls.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to its end on this thread, parking between polls; panics if it takes longer
/// than `limit` (a hang, not a slow machine: every wait here is for one simulated sync).
fn block_on<F: Future>(future: F, limit: Duration) -> F::Output {
    let deadline = Instant::now() + limit;
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let left = deadline.checked_duration_since(Instant::now()).expect("the future hangs");
        std::thread::park_timeout(left);
    }
}

/// Polls `future` once, with a waker that does nothing.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn futures_resolve_on_a_plain_waker_once_durable() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    let lsn = block_on(wal.append_durable(TAG, b"one"), LIMIT).unwrap();
    assert!(wal.durable_lsn() > lsn);
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"two").unwrap();
    let commit = block_on(txn.commit_async(), LIMIT).unwrap();
    assert!(wal.durable_lsn() > commit);
    // A tag the application may not write fails the future, and appends nothing.
    let next = wal.next_lsn();
    let refused = block_on(wal.append_durable(wal_core::Tag::TXN_BEGIN, b"x"), LIMIT);
    assert!(matches!(refused, Err(Error::NotAnApplicationTag { .. })), "{refused:?}");
    assert_eq!(wal.next_lsn(), next);
    drop(wal);
    let (wal, _) = open_sim(&storage.crash(7), small(Durability::Commit));
    assert_eq!(wal.get(lsn).unwrap().unwrap().payload.as_ref(), b"one");
    assert_eq!(crate::support::committed_payloads(&wal)[1], vec![b"two".to_vec()]);
}

#[test]
fn under_buffered_durability_a_commit_future_is_ready_at_once_and_wait_durable_syncs() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"buffered").unwrap();
    let mut commit = txn.commit_async();
    let Poll::Ready(Ok(lsn)) = poll_once(&mut commit) else { panic!("not ready at once") };
    assert!(wal.durable_lsn() <= lsn, "nothing synced it");
    // `append_durable` and `wait_durable` wait for durability whatever the setting.
    let appended = block_on(wal.append_durable(TAG, b"durable"), LIMIT).unwrap();
    assert!(wal.durable_lsn() > appended);
    let last = wal.append(TAG, b"last").unwrap();
    block_on(wal.wait_durable(last), LIMIT).unwrap();
    assert!(wal.durable_lsn() > last);
}

#[test]
fn a_dropped_future_stops_waiting_but_its_record_stays() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    storage.set_sync_jitter(Duration::from_millis(5));
    let (mut pending, mut lsns) = (Vec::new(), Vec::new());
    for n in 0..50u32 {
        lsns.push(wal.next_lsn());
        let mut future = wal.append_durable(TAG, &n.to_le_bytes());
        // The first poll registers the wait; nothing synced the record yet for most.
        let _ = poll_once(&mut future);
        pending.push(future);
    }
    drop(pending);
    // Later futures still resolve: dropped waits left nothing behind that blocks them.
    let last = block_on(wal.append_durable(TAG, b"after"), LIMIT).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, _) = open_sim(&storage.crash(3), small(Durability::Commit));
    for (n, lsn) in (0..50u32).zip(lsns) {
        assert_eq!(wal.get(lsn).unwrap().unwrap().payload.as_ref(), &n.to_le_bytes());
    }
    assert!(wal.get(last).unwrap().is_some());
}

#[test]
fn dropping_the_log_resolves_pending_futures_with_closed() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    // Never polled before the log goes: under `Buffered` nothing syncs them.
    let unpolled = wal.append_durable(TAG, b"unpolled");
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"txn").unwrap();
    let waiting = wal.wait_durable(txn.commit_unsynced().unwrap());
    drop(wal);
    assert!(matches!(block_on(unpolled, LIMIT), Err(Error::Closed)));
    assert!(matches!(block_on(waiting, LIMIT), Err(Error::Closed)));

    // Polled: its wait is registered, and the task syncer may or may not make it durable
    // before the log goes; it resolves either way.
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    storage.set_sync_jitter(Duration::from_millis(2));
    let mut polled: Vec<_> =
        (0..20u32).map(|n| wal.append_durable(TAG, &n.to_le_bytes())).collect();
    for future in &mut polled {
        let _ = poll_once(future);
    }
    drop(wal);
    for future in polled {
        let result = block_on(future, LIMIT);
        assert!(matches!(result, Ok(_) | Err(Error::Closed)), "{result:?}");
    }
}

#[test]
fn a_failed_sync_fails_every_waiting_future_with_the_poisoning_error() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    block_on(wal.append_durable(TAG, b"durable"), LIMIT).unwrap();
    let first = wal.append_durable(TAG, b"in doubt");
    let second = wal.append_durable(TAG, b"in doubt too");
    // The next storage operation is the task syncer's msync.
    storage.fail_after(0, wal_core::storage::Fault::Io);
    for result in [block_on(first, LIMIT), block_on(second, LIMIT)] {
        assert!(matches!(result, Err(Error::Poisoned { .. })), "{result:?}");
    }
    let later = block_on(wal.append_durable(TAG, b"later"), LIMIT);
    assert!(matches!(later, Err(Error::Poisoned { .. })), "{later:?}");
}

/// Many tasks on a multi-thread runtime commit at once, records and transactions; after a
/// power loss, every commit a future acknowledged is there.
#[test]
fn many_concurrent_async_committers_under_tokio_keep_every_acknowledged_commit() {
    const TASKS: u32 = 64;
    const COMMITS: u32 = 20;
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    let wal = Arc::new(wal);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let acknowledged: Vec<(Lsn, u32, u32)> = runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let wal = Arc::clone(&wal);
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for n in 0..COMMITS {
                        let payload = [task.to_le_bytes(), n.to_le_bytes()].concat();
                        let lsn = if n % 2 == 0 {
                            wal.append_durable(TAG, &payload).await.unwrap()
                        } else {
                            let mut txn = wal.begin().unwrap();
                            txn.delta(TAG, &payload).unwrap();
                            txn.commit_async().await.unwrap()
                        };
                        acked.push((lsn, task, n));
                    }
                    acked
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    assert_eq!(acknowledged.len(), (TASKS * COMMITS) as usize);
    let stats = wal.stats();
    assert!(stats.syncs < u64::from(TASKS * COMMITS), "no sharing: {} syncs", stats.syncs);
    let crashed = storage.crash(11);
    drop(runtime);
    drop(wal);
    let (wal, _) = open_sim(&crashed, small(Durability::Commit));
    let committed: Vec<Vec<u8>> =
        crate::support::committed_payloads(&wal).into_iter().flatten().collect();
    for (lsn, task, n) in acknowledged {
        let payload = [task.to_le_bytes(), n.to_le_bytes()].concat();
        assert!(committed.contains(&payload), "acknowledged {lsn} ({task}, {n}) lost");
    }
}

/// Power losses at random moments while async committers (on tokio) and a committing thread
/// share syncs, one to three in flight: every commit acknowledged before the loss survives.
#[test]
fn power_losses_under_async_committers_keep_every_acknowledged_commit() {
    const TASKS: u8 = 6;
    let (mut checked, mut crashes) = (0, 0);
    for depth in 1..=3 {
        let options = small(Durability::Commit).with_syncs_in_flight(depth);
        let storage = SimStorage::new();
        let (wal, _) = open_sim(&storage, options);
        storage.set_sync_jitter(Duration::from_micros(300));
        let wal = Arc::new(wal);
        let acknowledged: Arc<Mutex<Vec<(Lsn, u8, u16)>>> = Arc::default();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let mut running: Vec<_> = (0..TASKS)
            .map(|task| {
                let (wal, acknowledged) = (Arc::clone(&wal), Arc::clone(&acknowledged));
                runtime.spawn(async move {
                    for n in 0..80u16 {
                        let mut payload = vec![task; 300 + usize::from(n % 7) * 200];
                        payload[1..3].copy_from_slice(&n.to_le_bytes());
                        let lsn = wal.append_durable(TAG, &payload).await.unwrap();
                        acknowledged.lock().unwrap().push((lsn, task, n));
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        // A thread commits beside them: it leads syncs that cover tasks, and theirs cover it.
        let thread = {
            let (wal, acknowledged) = (Arc::clone(&wal), Arc::clone(&acknowledged));
            std::thread::spawn(move || {
                for n in 0..80u16 {
                    let mut payload = vec![TASKS; 500];
                    payload[1..3].copy_from_slice(&n.to_le_bytes());
                    let lsn = wal.append(TAG, &payload).unwrap();
                    acknowledged.lock().unwrap().push((lsn, TASKS, n));
                }
            })
        };
        let mut snapshots = Vec::new();
        let mut seen = 0;
        while running.iter().any(|task| !task.is_finished()) || !thread.is_finished() {
            let acked = acknowledged.lock().unwrap();
            if acked.len() > seen {
                seen = acked.len();
                // Under the lock: every commit recorded so far was acknowledged before this.
                snapshots.push((storage.crash(seen as u64), acked.clone()));
            }
            drop(acked);
            std::thread::yield_now();
        }
        for task in running.drain(..) {
            runtime.block_on(task).unwrap();
        }
        thread.join().unwrap();
        drop(runtime);
        drop(wal);
        for (crashed, acked) in snapshots {
            let (wal, _) = open_sim(&crashed, options);
            for (lsn, task, n) in &acked {
                let entry = wal.get(*lsn).unwrap().unwrap_or_else(|| {
                    panic!("{depth} in flight: acknowledged {lsn} lost ({} acked)", acked.len())
                });
                assert_eq!(entry.payload[0], *task);
                assert_eq!(u16::from_le_bytes([entry.payload[1], entry.payload[2]]), *n);
            }
            checked += acked.len();
            crashes += 1;
        }
    }
    println!(
        "async committers (1 to 3 syncs in flight): {crashes} power losses, {checked} \
         acknowledged commits checked, 0 lost"
    );
}

#[cfg(feature = "stream")]
#[test]
fn a_tail_is_a_stream_that_follows_appends_and_ends_when_the_log_closes() {
    use futures_core::Stream;

    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let mut tail = wal.tail_from(wal.next_lsn()).unwrap();
    let next = |tail: &mut wal_core::Tail<SimStorage>| {
        block_on(std::future::poll_fn(|cx| std::pin::Pin::new(&mut *tail).poll_next(cx)), LIMIT)
    };
    std::thread::scope(|scope| {
        let wal = &wal;
        scope.spawn(move || {
            for n in 0..300u32 {
                wal.append(TAG, &n.to_le_bytes()).unwrap();
            }
        });
        for n in 0..300u32 {
            let entry = next(&mut tail).expect("not closed").unwrap();
            assert_eq!(entry.payload.as_ref(), &n.to_le_bytes());
        }
    });
    let mut waiting = std::future::poll_fn(|cx| std::pin::Pin::new(&mut tail).poll_next(cx));
    assert!(poll_once(&mut waiting).is_pending());
    drop(waiting);
    // Closed while the stream waits (or just before it polls): it ends either way.
    let closing = std::thread::spawn(move || drop(wal));
    assert!(next(&mut tail).is_none());
    closing.join().unwrap();
}
