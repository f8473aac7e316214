//! A batch larger than a segment goes into the log in pieces. When a later piece fails (a full
//! disk, an I/O error), the pieces already in the log are the store's too: its log state, its
//! reads and its next append agree with the log, and reopening finds the same entries.

use std::path::Path;

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use openraft::type_config::alias::LogIdOf;
use openraft::{RaftLogReader, testing::log_id};
use wal_core::storage::Fault;
use wal_core::{ChunkPreparation, Options, SimStorage};
use wal_raft::WalLogStore;

use crate::kv::{Request, TypeConfig};

type Store = WalLogStore<TypeConfig, SimStorage>;
type LogId = LogIdOf<TypeConfig>;

/// Entries per split batch: about 220 KiB encoded, more than a segment (2 x 64 KiB) holds.
const BATCH: u64 = 1500;

fn entry(index: u64) -> openraft::type_config::alias::EntryOf<TypeConfig> {
    let request = Request::Set { key: format!("k{index}"), value: "x".repeat(100) };
    openraft::type_config::alias::EntryOf::<TypeConfig>::new_normal(
        log_id::<TypeConfig>(1, 1, index),
        request,
    )
}

/// Small segments, every storage step on the calling thread in a fixed order.
fn options() -> Options {
    Options::default()
        .with_chunk_bytes(64 << 10)
        .with_chunks_per_segment(2)
        .with_preparation(ChunkPreparation::Inline)
        .with_housekeeping(None)
}

fn dir() -> &'static Path {
    Path::new("/raft")
}

fn open(storage: &SimStorage) -> Store {
    WalLogStore::open_in(storage.clone(), dir(), options()).expect("open")
}

/// Appends entries `range` and waits for their flush callback; `Err` if the append or the
/// flush failed.
async fn append(store: &mut Store, range: std::ops::RangeInclusive<u64>) -> Result<(), String> {
    let (done, waiter) = TypeConfig::oneshot();
    let entries: Vec<_> = range.map(entry).collect();
    store.append(entries, IOFlushed::signal(done)).await.map_err(|e| e.to_string())?;
    waiter.await.expect("answered").map_err(|e| e.to_string())
}

/// The store's view: its last log id, and the log ids of every entry it reads back (which must
/// be entries 1, 2, ... as appended, and end at that last log id).
async fn view(store: &mut Store, at: &str) -> Vec<LogId> {
    let state = store.get_log_state().await.expect("log state");
    let entries = store.try_get_log_entries(..).await.expect("the entries the store claims");
    let ids: Vec<LogId> = entries.iter().map(RaftEntry::log_id).collect();
    for (position, id) in ids.iter().enumerate() {
        assert_eq!(*id, entry(position as u64 + 1).log_id(), "entry at position {position}, {at}");
    }
    assert_eq!(state.last_log_id, ids.last().copied(), "the log state's last log id, {at}");
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_append_failing_at_a_later_piece_keeps_the_pieces_that_landed() {
    // Room for the first segment and not the next: the first piece fills it, the next segment
    // cannot be created. (The room is searched in 4 KiB steps above the segment's two chunks,
    // so the storage's accounting of the small files beside them does not matter.)
    for extra in (0..64).map(|step| step * 4096) {
        let storage = SimStorage::new();
        let mut store = open(&storage);
        storage.set_capacity(Some(2 * (64 << 10) + extra));
        let error = append(&mut store, 1..=BATCH).await.expect_err("the disk is full");
        assert!(error.contains("space"), "{error}");
        // What the log took, counted by the log itself.
        let in_log = store.stats().records;
        if in_log == 0 {
            continue; // not even the first piece fitted
        }
        let landed = view(&mut store, "after the failed append").await;
        let last = landed.len() as u64;
        assert_eq!(last, in_log, "the store holds the {in_log} entries the log took");
        assert!(last < BATCH, "{last}");

        // Space again: openraft resends what the store does not have, continuing the log.
        storage.set_capacity(None);
        append(&mut store, last + 1..=BATCH).await.expect("the rest appends and flushes");
        assert_eq!(view(&mut store, "after the resend").await.len() as u64, BATCH);
        drop(store);

        let mut store = open(&storage);
        assert_eq!(view(&mut store, "after a reopen").await.len() as u64, BATCH);
        let crashed = storage.crash(7);
        drop(store);
        let mut store = open(&crashed);
        assert_eq!(view(&mut store, "after a power loss").await.len() as u64, BATCH);
        println!(
            "split append on a full disk: {last} of {BATCH} entries landed first, then the rest"
        );
        return;
    }
    panic!("no capacity let a first piece land");
}

/// An I/O error at each storage operation of a split append in turn, the log poisoned or not:
/// the store never claims an entry the log lacks nor misses one it holds, an append after a
/// failure that did not poison the log continues from the store's view, and a reopen finds
/// exactly the entries the store last showed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_io_error_anywhere_in_a_split_append_leaves_the_store_and_the_log_agreeing() {
    let operations = {
        let storage = SimStorage::new();
        let mut store = open(&storage);
        append(&mut store, 1..=10).await.expect("a first batch");
        let before = storage.operations();
        append(&mut store, 11..=10 + BATCH).await.expect("a clean split append");
        storage.operations() - before
    };
    let (mut partial, mut poisoned) = (0, 0);
    for step in 0..operations {
        let at = format!("an I/O error at operation {step} of the split append");
        let storage = SimStorage::new();
        let mut store = open(&storage);
        append(&mut store, 1..=10).await.expect("a first batch");
        storage.fail_after(step, Fault::Io);
        let outcome = append(&mut store, 11..=10 + BATCH).await;
        storage.cancel_fault();
        let mut seen = view(&mut store, &at).await;
        if outcome.is_err() && (11..10 + BATCH).contains(&(seen.len() as u64)) {
            partial += 1;
        }
        let next = seen.len() as u64 + 1;
        if next <= 10 + BATCH {
            // What openraft does next: append what the store lacks.
            match append(&mut store, next..=10 + BATCH).await {
                Ok(()) => {}
                Err(error) if error.contains("poisoned") => poisoned += 1,
                Err(error) => panic!("the resend after {at} failed: {error}"),
            }
            seen = view(&mut store, &format!("after the resend, {at}")).await;
        }
        drop(store);
        let mut store = open(&storage);
        let reopened = view(&mut store, &format!("reopened after {at}")).await;
        // (`view` checked both are entries 1, 2, ... in order: their counts say it all.)
        assert_eq!(
            reopened.len(),
            seen.len(),
            "entries a reopen finds, and those the store showed, after {at}"
        );
    }
    assert!(partial > 0, "some failure struck after a first piece had landed");
    println!(
        "split append: an I/O error at each of {operations} operations ({partial} after a \
         piece had landed, {poisoned} poisoning the log): store and log agreed every time"
    );
}
