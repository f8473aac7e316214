//! Reopening after a crash keeps the vote, the log and the purge point exactly as acknowledged:
//! simulated power losses between operations (the flusher running meanwhile), and SIGKILLs of
//! a writer process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::log_id;
use openraft::type_config::TypeConfigExt;
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::{RaftLogReader, Vote};
use wal_core::{Options, SimStorage, Storage};
use wal_raft::WalLogStore;

use crate::kv::{Request, TypeConfig};

type LogId = LogIdOf<TypeConfig>;

/// The counts at the two levels of `docs/RELIABILITY.md` (`WAL_TORTURE=1`: the full one).
fn count(ci: usize, torture: usize) -> usize {
    if std::env::var_os("WAL_TORTURE").is_some() { torture } else { ci }
}

fn entry(term: u64, index: u64) -> EntryOf<TypeConfig> {
    let request = Request::Set { key: format!("k{index}"), value: "x".repeat(100) };
    EntryOf::<TypeConfig>::new_normal(log_id::<TypeConfig>(term, 1, index), request)
}

/// Small chunks and segments, so histories cross many segment seals.
fn options() -> Options {
    Options::default().with_chunk_bytes(64 << 10).with_chunks_per_segment(2)
}

/// A tiny deterministic generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// What has been acknowledged, and what may be found.
#[derive(Default)]
struct Model {
    /// Entries appended and not cut since, by index.
    appended: BTreeMap<u64, LogId>,
    /// Of those, the ones whose flush callback reported them durable.
    acked: BTreeMap<u64, LogId>,
    vote: Option<VoteOf<TypeConfig>>,
    purged: Option<LogId>,
    term: u64,
}

impl Model {
    fn last_index(&self) -> Option<u64> {
        self.appended.keys().next_back().copied().or(self.purged.map(|p| p.index))
    }
}

/// Checks a store reopened after a crash against what was acknowledged; returns the entries
/// it holds.
async fn check<S: Storage>(
    store: &mut WalLogStore<TypeConfig, S>,
    model: &Model,
    at: &str,
) -> BTreeMap<u64, LogId> {
    assert_eq!(store.read_vote().await.expect("vote"), model.vote, "vote after {at}");
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, model.purged, "purge point after {at}");
    let entries = store.try_get_log_entries(..).await.expect("entries");
    let found: BTreeMap<u64, LogId> = entries.iter().map(|e| (e.index(), e.log_id())).collect();
    for (index, id) in &model.acked {
        assert_eq!(found.get(index), Some(id), "acknowledged entry {index} after {at}");
    }
    for (index, id) in &found {
        assert_eq!(model.appended.get(index), Some(id), "entry {index} was appended, after {at}");
    }
    if let (Some(first), Some(purged)) = (found.keys().next(), model.purged) {
        assert_eq!(*first, purged.index + 1, "the log continues the purge point, after {at}");
    }
    // A committed index saved ahead of what survived is brought back to the log's end, so the
    // node can re-apply up to it at startup.
    let end = state.last_log_id.map(|id| id.index);
    let committed = store.read_committed().await.expect("committed").map(|id| id.index);
    assert!(committed <= end, "committed {committed:?} beyond the log's end {end:?}, after {at}");
    found
}

/// Runs a random history of appends, votes, truncations and purges; after every operation, a
/// power loss (with the flusher possibly mid-sync) is simulated and the reopened store checked.
/// Now and then the process restarts without a power loss, or the history goes on in the store
/// reopened after one, so later crashes hit a store that itself came back from a crash.
async fn history(seed: u64, operations: usize) -> usize {
    let mut storage = SimStorage::new();
    let dir = Path::new("/raft");
    let mut store =
        WalLogStore::<TypeConfig, _>::open_in(storage.clone(), dir, options()).expect("open");
    let (mut rng, mut model) = (Rng(seed), Model::default());
    let mut pending = Vec::new();
    let mut checks = 0;
    for step in 0..operations {
        let operation = rng.below(10);
        match operation {
            0..=5 => {
                let next = model.last_index().map_or(1, |last| last + 1);
                // Now and then a batch larger than a segment (2 x 64 KiB), which goes in pieces.
                let count = if rng.below(20) == 0 { 1500 } else { 1 + rng.below(8) };
                let entries: Vec<_> = (next..next + count).map(|i| entry(model.term, i)).collect();
                let ids: Vec<LogId> = entries.iter().map(RaftEntry::log_id).collect();
                let (done, waiter) = TypeConfig::oneshot();
                store.append(entries, IOFlushed::signal(done)).await.expect("append");
                for id in &ids {
                    model.appended.insert(id.index, *id);
                }
                pending.push((ids, waiter));
                if rng.below(2) == 0 {
                    let (ids, waiter) = pending.pop().expect("just pushed");
                    waiter.await.expect("answered").expect("durable");
                    model.acked.extend(ids.iter().map(|id| (id.index, *id)));
                }
            }
            6 => {
                model.term += 1;
                let vote = Vote::new_committed(model.term, 1);
                store.save_vote(&vote).await.expect("vote");
                model.vote = Some(vote);
            }
            7 => {
                let Some(&last) = model.appended.keys().next_back() else { continue };
                let keep = last.saturating_sub(rng.below(6));
                let keep_id = model.appended.get(&keep).copied().or(model.purged);
                store.truncate_after(keep_id).await.expect("truncate");
                // Every append before a truncation is durable once it returns.
                model.acked = model.appended.clone();
                let cut = keep_id.map_or(0, |id| id.index + 1);
                model.appended.retain(|index, _| *index < cut);
                model.acked.retain(|index, _| *index < cut);
            }
            8 => {
                let Some(last) = model.last_index() else { continue };
                let id = if rng.below(4) == 0 {
                    // Past the last entry, as when a snapshot is installed: the log empties and
                    // continues after the purge point.
                    log_id::<TypeConfig>(model.term, 1, last + 1 + rng.below(3))
                } else {
                    let upto = last.saturating_sub(rng.below(12)).max(1);
                    let Some(&id) = model.appended.get(&upto) else { continue };
                    id
                };
                store.purge(id).await.expect("purge");
                if model.purged.is_none_or(|purged| purged.index < id.index) {
                    model.purged = Some(id);
                    model.appended.retain(|index, _| *index > id.index);
                    model.acked.retain(|index, _| *index > id.index);
                }
            }
            _ => {
                // openraft may commit entries this node has not made durable yet.
                let committed = model.appended.values().next_back().copied();
                store.save_committed(committed).await.expect("committed");
            }
        }
        // Callbacks that have fired: those entries are durable from here on.
        pending.retain_mut(|(ids, waiter)| match waiter.try_recv() {
            Ok(result) => {
                result.expect("durable");
                for id in ids.iter() {
                    if model.appended.get(&id.index) == Some(id) {
                        model.acked.insert(id.index, *id);
                    }
                }
                false
            }
            Err(_) => true,
        });
        let crashed = storage.crash(seed.wrapping_mul(1000).wrapping_add(step as u64));
        let mut reopened =
            WalLogStore::<TypeConfig, _>::open_in(crashed.clone(), dir, options()).expect("reopen");
        let found = check(&mut reopened, &model, &format!("step {step} of history {seed}")).await;
        checks += 1;
        if rng.below(8) == 0 {
            // A process restart (no power loss): unsynced writes stay in the page cache, and
            // opening makes what it finds durable.
            drop(store);
            store = WalLogStore::<TypeConfig, _>::open_in(storage.clone(), dir, options())
                .expect("reopen after a restart");
            pending.clear();
            model.acked.clone_from(&model.appended);
        } else if rng.below(8) == 0 {
            // Go on from what survived: its entries are durable; unacknowledged ones are gone.
            (store, storage) = (reopened, crashed);
            pending.clear();
            model.appended.clone_from(&found);
            model.acked = found;
        }
    }
    checks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_loss_keeps_what_was_acknowledged() {
    let histories = count(40, 400);
    let mut checks = 0;
    for seed in 0..histories as u64 {
        checks += history(seed, 40).await;
    }
    println!(
        "wal-raft power losses: {histories} histories, {checks} reopened after a crash, 0 lost"
    );
}

/// The SIGKILL writer: appends, votes and purges, printing each acknowledgement. Run only by
/// `sigkill_keeps_what_was_acknowledged`, as a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the writer process of the SIGKILL test; does nothing on its own"]
async fn sigkill_writer() {
    let Some(dir) = std::env::var_os("WAL_RAFT_KILL_DIR") else { return };
    let mut store =
        WalLogStore::<TypeConfig>::open_in(wal_core::RealStorage, &dir, options()).expect("open");
    let state = store.get_log_state().await.expect("state");
    let mut next = state.last_log_id.map_or(1, |id| id.index + 1);
    let mut term = store.read_vote().await.expect("vote").map_or(0, |v| v.leader_id.term);
    for round in 0u64.. {
        if round % 50 == 0 {
            term += 1;
            store.save_vote(&Vote::new_committed(term, 1)).await.expect("vote");
            println!("KILLTEST vote {term}");
        }
        let count = 1 + round % 8;
        let entries: Vec<_> = (next..next + count).map(|i| entry(term, i)).collect();
        let (done, waiter) = TypeConfig::oneshot();
        store.append(entries, IOFlushed::signal(done)).await.expect("append");
        waiter.await.expect("answered").expect("durable");
        next += count;
        println!("KILLTEST ack {} {term}", next - 1);
        if round % 20 == 19 {
            let upto = next - 10;
            store.purge(log_id::<TypeConfig>(term, 1, upto)).await.expect("purge");
            println!("KILLTEST purge {upto}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().expect("dir");
    let kills = count(5, 100);
    let (mut acked, mut vote, mut purged) = (BTreeMap::<u64, u64>::new(), 0, 0);
    let mut acknowledged = 0;
    for kill in 0..kills {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(["--exact", "crash::sigkill_writer", "--ignored", "--nocapture"])
            .env("WAL_RAFT_KILL_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the writer");
        let lines = BufReader::new(child.stdout.take().expect("stdout"));
        // Kill after a varying number of acknowledgements.
        let target = 50 + (kill * 37) % 200;
        let mut seen = 0;
        for line in lines.lines() {
            let line = line.expect("line");
            let Some(rest) = line.find("KILLTEST ").map(|at| &line[at + 9..]) else { continue };
            let fields: Vec<u64> =
                rest.split(' ').skip(1).map(|f| f.parse().expect("a number")).collect();
            match rest.split(' ').next() {
                Some("vote") => vote = fields[0],
                Some("purge") => purged = fields[0],
                Some("ack") => {
                    // Entries up to this index, of this term, are durable (older ones kept
                    // their terms).
                    let (last, term) = (fields[0], fields[1]);
                    let first = acked.keys().next_back().map_or(1, |l| l + 1);
                    for index in first..=last {
                        acked.insert(index, term);
                        acknowledged += 1;
                    }
                    seen += 1;
                }
                _ => panic!("unexpected line {line}"),
            }
            if seen == target {
                break;
            }
        }
        assert_eq!(seen, target, "the writer acknowledged {target} appends before the kill");
        assert!(child.try_wait().expect("status").is_none(), "the writer was still running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let mut store =
            WalLogStore::<TypeConfig>::open_in(wal_core::RealStorage, dir.path(), options())
                .expect("reopen after SIGKILL");
        let found_vote = store.read_vote().await.expect("vote").expect("a vote");
        // A vote being saved at the kill may have landed too.
        assert!((vote..=vote + 1).contains(&found_vote.leader_id.term), "vote after kill {kill}");
        let state = store.get_log_state().await.expect("state");
        let found_purge = state.last_purged_log_id.expect("purged").index;
        assert!(found_purge >= purged, "purge point after kill {kill}");
        let entries = store.try_get_log_entries(..).await.expect("entries");
        let found: BTreeMap<u64, u64> =
            entries.iter().map(|e| (e.index(), e.log_id().leader_id.term)).collect();
        for (index, term) in acked.range(found_purge + 1..) {
            assert_eq!(
                found.get(index),
                Some(term),
                "acknowledged entry {index} after kill {kill}"
            );
        }
        // The next writer continues from whatever survived.
        acked.retain(|index, _| found.contains_key(index));
        acked.extend(found.iter().map(|(i, t)| (*i, *t)));
        vote = found_vote.leader_id.term;
        purged = found_purge;
    }
    println!("wal-raft SIGKILLs: {kills}, {acknowledged} entries acknowledged, 0 lost");
}
