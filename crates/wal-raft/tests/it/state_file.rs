//! The state file after a failed sync. On ext4 and xfs a failed write-back leaves the pages in
//! the page cache clean, holding new bytes the disk lacks: a later `fsync` writes nothing and
//! succeeds, and reads (even after a process restart) see the new bytes until the power goes.
//! `SimStorage` fails a sync that way.

use std::path::Path;

use openraft::storage::RaftLogStorage;
use openraft::type_config::alias::VoteOf;
use openraft::{RaftLogReader, Vote};
use wal_core::storage::Fault;
use wal_core::{ChunkPreparation, Options, SimStorage};
use wal_raft::WalLogStore;

use crate::kv::TypeConfig;

type Store = WalLogStore<TypeConfig, SimStorage>;

fn dir() -> &'static Path {
    Path::new("/raft")
}

/// Every storage step on the calling thread, so operations can be counted.
fn options() -> Options {
    Options::default().with_preparation(ChunkPreparation::Inline).with_housekeeping(None)
}

fn open(storage: &SimStorage) -> Result<Store, wal_raft::Error> {
    WalLogStore::open_in(storage.clone(), dir(), options())
}

fn vote(term: u64) -> VoteOf<TypeConfig> {
    Vote::new_committed(term, 1)
}

/// A store that saved vote 1 durably, then vote 2, whose sync failed (the last storage
/// operation of `save_vote`); dropped, as openraft stops the node on that error.
async fn failed_second_vote() -> SimStorage {
    // How many storage operations saving a vote takes: the state file's sync is the last.
    let operations = {
        let storage = SimStorage::new();
        let mut store = open(&storage).expect("open");
        store.save_vote(&vote(1)).await.expect("vote 1");
        let before = storage.operations();
        store.save_vote(&vote(2)).await.expect("vote 2");
        storage.operations() - before
    };
    let storage = SimStorage::new();
    let mut store = open(&storage).expect("open");
    store.save_vote(&vote(1)).await.expect("vote 1");
    storage.fail_after(operations - 1, Fault::Io);
    let error = store.save_vote(&vote(2)).await.expect_err("vote 2's sync fails");
    assert!(error.to_string().starts_with("sync /raft/raft.state"), "{error}");
    storage
}

/// The node restarts without a reboot and reads the vote back: the page cache shows vote 2,
/// which never reached the disk. Whichever vote it read, it is the one every power loss from
/// then on leaves: a node acting on a vote its disk lacks could vote twice in a term.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vote_read_at_open_is_the_one_a_later_power_loss_leaves() {
    let storage = failed_second_vote().await;
    let mut store = open(&storage).expect("reopen without a reboot");
    let read = store.read_vote().await.expect("vote");
    assert!(read == Some(vote(1)) || read == Some(vote(2)), "{read:?}");
    drop(store);
    for seed in 0..16 {
        let mut store = open(&storage.crash(seed)).expect("reopen after a power loss");
        let after = store.read_vote().await.expect("vote");
        assert_eq!(
            after, read,
            "the vote after a power loss, and the one read at the restart before it (seed {seed})"
        );
    }
}

/// The write that open makes to keep what it read durable fails too (the sync that ends
/// opening the state file, the last storage operation of an open): open fails, and a power
/// loss leaves the last vote saved durably, or the one whose sync failed; never an older one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_at_open_never_costs_the_last_durable_vote() {
    let operations = {
        let storage = failed_second_vote().await;
        let before = storage.operations();
        let store = open(&storage).expect("reopen");
        let operations = storage.operations() - before;
        drop(store);
        operations
    };
    let storage = failed_second_vote().await;
    storage.fail_after(operations - 1, Fault::Io);
    let error = open(&storage).err().expect("open fails when the state file cannot be synced");
    assert!(error.to_string().starts_with("sync /raft/raft.state"), "{error}");
    for seed in 0..16 {
        let mut store = open(&storage.crash(seed)).expect("reopen after a power loss");
        let after = store.read_vote().await.expect("vote");
        assert!(
            after == Some(vote(1)) || after == Some(vote(2)),
            "the vote after a power loss: {after:?} (seed {seed})"
        );
    }
}
