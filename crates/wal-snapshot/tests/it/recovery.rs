//! Recovery: snapshot plus replay, fallback from a damaged snapshot, missing history, and
//! deterministic replay.

use wal_core::{Lsn, SimStorage};
use wal_snapshot::{Error, check_determinism, kv::KvStore, snapshot_file_name};

use crate::support::{Model, dir, execute, open, options};

#[test]
fn recovery_is_the_snapshot_plus_only_what_committed_after_it() {
    let storage = SimStorage::new();
    let (durable, report) = open(&storage, options());
    assert!(report.snapshot.is_none());
    let mut model = Model::default();
    execute(&durable, &mut model, 0..150);
    let checkpoint = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 150..200);
    assert!(durable.read(|kv| model.matches(kv)));
    drop(durable);

    let (durable, report) = open(&storage, options());
    let (path, header) = report.snapshot.expect("restored from the snapshot");
    assert_eq!(path, checkpoint.path);
    assert_eq!(header.next_lsn, checkpoint.header.next_lsn);
    assert_eq!(report.replayed, 50, "only the transactions after the snapshot are applied");
    assert_eq!(durable.applied().1, 200);
    assert!(durable.read(|kv| model.matches(kv)));
    // The log before the snapshot's point was pruned, exactly there.
    assert_eq!(durable.wal().start_lsn(), header.replay_from);
    assert!(checkpoint.log_start.1 > checkpoint.log_start.0);
    println!(
        "checkpoint at LSN {} ({} bytes): transactions paused {:?}, whole checkpoint {:?}; \
         log start {} -> {}; reopen replayed {} units",
        header.next_lsn,
        header.body_len,
        checkpoint.paused,
        checkpoint.elapsed,
        checkpoint.log_start.0,
        checkpoint.log_start.1,
        report.replayed
    );
}

#[test]
fn wal_only_recovery_equals_snapshot_plus_wal_recovery_for_the_same_history() {
    let (plain, snapshotted) = (SimStorage::new(), SimStorage::new());
    let (without, _) = open(&plain, options());
    let (with, _) = open(&snapshotted, options().with_prune(false));
    let mut model = Model::default();
    let mut ignored = Model::default();
    for round in 0..4 {
        execute(&without, &mut model, round * 60..round * 60 + 60);
        execute(&with, &mut ignored, round * 60..round * 60 + 60);
        with.checkpoint().expect("checkpoint");
    }
    // One log replayed from its beginning, twice, and from its newest snapshot: all equal.
    let report = check_determinism(&with).expect("check");
    println!("determinism: {report:?}");
    assert!(report.from_beginning.is_some() && report.from_snapshot.is_some());
    assert!(report.is_deterministic(), "{report:?}");
    drop((without, with));
    let (without, from_log) = open(&plain, options());
    let (with, from_snapshot) = open(&snapshotted, options().with_prune(false));
    assert!(from_log.snapshot.is_none() && from_snapshot.snapshot.is_some());
    assert_eq!(from_log.replayed, 240);
    let digest = |d: &wal_snapshot::Durable<KvStore, SimStorage>| {
        d.read(|kv| {
            wal_snapshot::digest::<KvStore>(&wal_snapshot::StateMachine::image(kv)).unwrap()
        })
    };
    assert_eq!(digest(&without), digest(&with));
    assert!(without.read(|kv| model.matches(kv)));
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_one_before() {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options());
    let mut model = Model::default();
    execute(&durable, &mut model, 0..80);
    let older = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 80..160);
    let newer = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 160..170);
    drop(durable);
    // One bit of the newest snapshot's body flips on disk.
    storage.edit_file(&newer.path, |bytes| bytes[100] ^= 0x10);
    let (durable, report) = open(&storage, options());
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(report.skipped[0].1.contains("body checksum"), "{:?}", report.skipped);
    assert_eq!(report.snapshot.as_ref().map(|(path, _)| path), Some(&older.path));
    assert_eq!(report.replayed, 90);
    assert!(durable.read(|kv| model.matches(kv)));
    println!("fell back: {:?}", report.skipped);
}

#[test]
fn missing_history_is_an_error_naming_the_gap_and_builds_nothing() {
    // The only snapshot is damaged and the log before it was pruned.
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options().with_keep(1));
    let mut model = Model::default();
    execute(&durable, &mut model, 0..100);
    let only = durable.checkpoint().expect("checkpoint");
    drop(durable);
    storage.edit_file(&only.path, |bytes| bytes[70] ^= 1);
    let error =
        Durable::<KvStore, SimStorage>::open_in(storage.clone(), dir(), options().with_keep(1))
            .err()
            .expect("refused");
    println!("{error}");
    match &error {
        Error::MissingHistory { needed, start, from: None, skipped } => {
            assert_eq!(*needed, wal_core::FIRST_LSN);
            assert_eq!(*start, only.header.replay_from);
            assert_eq!(skipped.len(), 1);
        }
        other => panic!("{other:?}"),
    }

    // A snapshot whose history was cut away afterwards.
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options().with_prune(false));
    execute(&durable, &mut Model::default(), 0..100);
    let snapshot = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut Model::default(), 100..120);
    let beyond = Lsn(snapshot.header.replay_from.0 + 5);
    drop(durable);
    // Behind the snapshot layer's back: its own view of the log cannot truncate.
    let (wal, _) = wal_core::Wal::open_in(storage.clone(), dir(), options().wal).expect("open");
    wal.truncate_before(beyond).expect("truncate");
    drop(wal);
    let error = Durable::<KvStore, SimStorage>::open_in(storage.clone(), dir(), options())
        .err()
        .expect("refused");
    println!("{error}");
    assert!(
        matches!(&error, Error::MissingHistory { needed, start, from: Some(path), .. }
            if *needed == snapshot.header.replay_from && *start == beyond && *path == snapshot.path),
        "{error:?}"
    );
}

#[test]
fn keeping_k_snapshots_deletes_older_ones_and_keeps_the_log_they_need() {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options().with_keep(3));
    let mut model = Model::default();
    let mut taken = Vec::new();
    for round in 0..5 {
        execute(&durable, &mut model, round * 30..round * 30 + 30);
        taken.push(durable.checkpoint().expect("checkpoint"));
    }
    let expected: Vec<String> =
        taken[2..].iter().map(|c| snapshot_file_name(c.header.next_lsn)).collect();
    assert_eq!(snapshot_names(&storage), expected);
    // The log starts where the oldest kept snapshot needs it.
    assert_eq!(durable.wal().start_lsn(), taken[2].header.replay_from);
}

/// A state kept with `keep = 2`, 30 transactions, a checkpoint, 30 more, a checkpoint.
fn two_checkpoints()
-> (SimStorage, Durable<KvStore, SimStorage>, Model, [wal_snapshot::CheckpointReport; 2]) {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options().with_keep(2));
    let mut model = Model::default();
    execute(&durable, &mut model, 0..30);
    let first = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 30..60);
    let second = durable.checkpoint().expect("checkpoint");
    (storage, durable, model, [first, second])
}

/// A snapshot whose header is damaged is not one of the `keep`: the next checkpoint deletes
/// it and keeps the newest sound ones, and the log they need.
#[test]
fn a_snapshot_with_a_damaged_header_does_not_count_among_those_kept() {
    let (storage, durable, mut model, [first, second]) = two_checkpoints();
    storage.edit_file(&second.path, |bytes| bytes[3] ^= 1);
    execute(&durable, &mut model, 60..90);
    let third = durable.checkpoint().expect("checkpoint");
    assert_eq!(third.snapshots_deleted, 1, "the damaged one");
    let names = snapshot_names(&storage);
    assert_eq!(names, [&first, &third].map(|c| snapshot_file_name(c.header.next_lsn)));
    assert_eq!(durable.wal().start_lsn(), first.header.replay_from);
    drop(durable);
    let (durable, report) = open(&storage, options().with_keep(2));
    assert!(report.skipped.is_empty());
    assert!(durable.read(|kv| model.matches(kv)));
}

/// A snapshot recovery passed over (its body failed its checksum; its header is sound) is not
/// one of the `keep` either: the snapshot recovery used stays as the fallback.
#[test]
fn a_snapshot_passed_over_at_open_does_not_count_among_those_kept() {
    let (storage, durable, mut model, [first, second]) = two_checkpoints();
    drop(durable);
    storage.edit_file(&second.path, |bytes| bytes[100] ^= 0x10);
    let (durable, report) = open(&storage, options().with_keep(2));
    assert_eq!(report.skipped.len(), 1);
    execute(&durable, &mut model, 60..90);
    let third = durable.checkpoint().expect("checkpoint");
    assert_eq!(
        snapshot_names(&storage),
        [&first, &third].map(|c| snapshot_file_name(c.header.next_lsn))
    );
    assert_eq!(durable.wal().start_lsn(), first.header.replay_from);
    drop(durable);
    storage.edit_file(&third.path, |bytes| bytes[100] ^= 0x10);
    let (durable, report) = open(&storage, options().with_keep(2));
    assert_eq!(report.snapshot.map(|(path, _)| path), Some(first.path));
    assert!(durable.read(|kv| model.matches(kv)));
}

/// A checkpoint at the point of a snapshot recovery passed over writes a snapshot of the same
/// name: that new, sound file is kept (and used by the next open), not deleted as the damaged
/// one it replaced.
#[test]
fn a_checkpoint_replacing_a_snapshot_passed_over_at_open_keeps_it() {
    let (storage, durable, model, [first, second]) = two_checkpoints();
    drop(durable);
    storage.edit_file(&second.path, |bytes| bytes[100] ^= 0x10);
    let (durable, report) = open(&storage, options().with_keep(2));
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.snapshot.as_ref().map(|(path, _)| path), Some(&first.path));
    // No transaction since: the same point, so the same name.
    let again = durable.checkpoint().expect("checkpoint");
    assert_eq!(again.header.next_lsn, second.header.next_lsn);
    assert_eq!(again.path, second.path);
    assert_eq!(
        snapshot_names(&storage),
        [&first, &again].map(|c| snapshot_file_name(c.header.next_lsn)),
        "the checkpoint's snapshot is still there"
    );
    drop(durable);
    let (durable, report) = open(&storage, options().with_keep(2));
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    // Restored from it: its header and body passed their checks.
    assert_eq!(report.snapshot, Some((again.path, again.header)));
    assert_eq!(report.replayed, 0);
    assert!(durable.read(|kv| model.matches(kv)));
}

/// Without pruning, checkpoints keep the whole log.
#[test]
fn without_pruning_checkpoints_keep_the_whole_log() {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options().with_prune(false).with_keep(1));
    let mut model = Model::default();
    for round in 0..3 {
        execute(&durable, &mut model, round * 40..round * 40 + 40);
        let checkpoint = durable.checkpoint().expect("checkpoint");
        assert_eq!(checkpoint.log_start.0, checkpoint.log_start.1);
    }
    assert_eq!(durable.wal().start_lsn(), wal_core::FIRST_LSN);
    assert_eq!(snapshot_names(&storage).len(), 1);
}

fn snapshot_names(storage: &SimStorage) -> Vec<String> {
    let mut names: Vec<String> = wal_core::Storage::list(storage, dir())
        .unwrap()
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .filter(|name| name.starts_with("snapshot-"))
        .collect();
    names.sort();
    names
}

#[test]
fn open_transactions_at_a_checkpoint_are_replayed_whole() {
    // Transactions begun before the checkpoint's point and committed after it: their deltas
    // lie before the point, so replay starts at the oldest one's begin.
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options());
    let durable = std::sync::Arc::new(durable);
    let mut model = Model::default();
    execute(&durable, &mut model, 0..20);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let (durable, stop) = (std::sync::Arc::clone(&durable), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut done = Vec::new();
                let mut n = 1000 * (w + 1);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let ops = Model::transaction(n);
                    crate::support::execute_one(&durable, &ops).expect("execute");
                    done.push(n);
                    n += 1;
                }
                done
            })
        })
        .collect();
    // Until enough checkpoints caught a transaction open at their point (a checkpoint takes
    // microseconds: without pauses they could all run before any writer starts).
    let mut checkpoints = 0;
    let mut replay_behind = 0;
    let started = std::time::Instant::now();
    while (checkpoints < 20 || replay_behind < 5) && started.elapsed().as_secs() < 20 {
        // sleep: paces the checkpoints between the writers' transactions (above)
        std::thread::sleep(std::time::Duration::from_micros(300));
        let report = durable.checkpoint().expect("checkpoint");
        checkpoints += 1;
        replay_behind += u64::from(report.header.replay_from < report.header.next_lsn);
    }
    assert!(replay_behind > 0, "no checkpoint met an open transaction in {checkpoints}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let done: Vec<Vec<u64>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let report = check_determinism(&durable).expect("check");
    assert!(report.is_deterministic(), "{report:?}");
    let live = durable.read(Clone::clone);
    drop(durable);
    let (reopened, _) = open(&storage, options());
    assert!(reopened.read(|kv| *kv == live), "the reopened state equals the live one");
    let total: usize = done.iter().map(Vec::len).sum();
    println!(
        "{total} concurrent transactions, {checkpoints} checkpoints ({replay_behind} with a \
         transaction open at their point); reopened state equal to the live one"
    );
}

use wal_snapshot::Durable;

mod arbitrary_files {
    use proptest::prelude::*;
    use wal_core::{SimStorage, Storage, storage::SegmentFile};
    use wal_snapshot::{Durable, Error, kv::KvStore, snapshot_file_name};

    use crate::support::{Model, dir, execute, open, options};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Arbitrary bytes as the newest snapshot file (a header that may be valid, then
        /// garbage): opening never panics; it falls back to the log, or refuses with a typed
        /// error, and never returns a state other than the committed one.
        #[test]
        fn arbitrary_bytes_as_a_snapshot_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), header_ok in any::<bool>()) {
            let storage = SimStorage::new();
            let (durable, _) = open(&storage, options().with_prune(false));
            let mut model = Model::default();
            execute(&durable, &mut model, 0..30);
            let next = durable.wal().next_lsn();
            drop(durable);
            let mut contents = bytes.clone();
            if header_ok {
                // A valid header over the arbitrary body: only the body checksum guards it.
                let header = wal_snapshot::SnapshotHeader {
                    next_lsn: next, replay_from: next, last_commit_lsn: wal_core::Lsn(next.0 - 1),
                    units: 30, body_len: bytes.len() as u64, body_crc: crc32fast::hash(&bytes),
                };
                contents = header.encode().to_vec();
                contents.extend_from_slice(&bytes);
            }
            let path = dir().join(snapshot_file_name(next));
            let file = storage.create(&path).unwrap();
            file.write_at(0, &contents).unwrap();
            match Durable::<KvStore, SimStorage>::open_in(storage.clone(), dir(), options().with_prune(false)) {
                // A body that passes its checksum and reads as a state is a valid snapshot (of
                // some other state); otherwise the log alone rebuilds the committed state.
                Ok((durable, report)) => {
                    prop_assert!(report.snapshot.is_some() || durable.read(|kv| model.matches(kv)));
                }
                Err(Error::Restore { .. }) => prop_assert!(header_ok),
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
    }
}

/// A state machine that panics on a change it cannot take.
struct Fragile(u64);

impl wal_snapshot::StateMachine for Fragile {
    type Image = u64;

    fn empty() -> Self {
        Fragile(0)
    }

    fn apply(&mut self, unit: &wal_snapshot::Unit<'_>) {
        for change in unit.changes {
            assert!(change.payload != b"poison", "cannot take this change");
            self.0 += 1;
        }
    }

    fn image(&self) -> u64 {
        self.0
    }

    fn write_image(image: &u64, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(&image.to_le_bytes())
    }

    fn restore(body: &mut wal_snapshot::Body<'_>) -> std::io::Result<Self> {
        Ok(Fragile(u64::from_le_bytes(body.read_array()?)))
    }
}

/// After a panic in `apply`, the half-changed state is neither built upon nor written to a
/// snapshot; a reopen rebuilds it from the log.
#[test]
fn a_panic_in_apply_stops_execute_and_checkpoint_until_reopened() {
    use wal_snapshot::{Change, Durable};
    let storage = SimStorage::new();
    let open = || Durable::<Fragile, SimStorage>::open_in(storage.clone(), dir(), options());
    let (durable, _) = open().expect("open");
    let tag = wal_core::Tag::user(0x60).expect("a user tag");
    let change = |payload: &'static [u8]| Change { tag, payload };
    durable.execute(&[change(b"a"), change(b"b")]).expect("execute");
    // A panic in a reader's closure changes no state: execution goes on.
    let read_panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        durable.read(|_| panic!("a reader's bug"));
    }));
    assert!(read_panic.is_err());
    durable.execute(&[]).expect("a panicking reader does not poison the state");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        durable.execute(&[change(b"c"), change(b"poison")])
    }));
    assert!(panicked.is_err());
    assert!(matches!(durable.execute(&[change(b"d")]), Err(Error::StatePoisoned)));
    assert!(matches!(durable.checkpoint(), Err(Error::StatePoisoned)));
    assert!(matches!(check_determinism(&durable), Err(Error::StatePoisoned)));
    assert_eq!(durable.read(|state| state.0), 3, "the half-applied unit, as the panic left it");
    assert_eq!(durable.applied().1, 2, "the unit that panicked is not counted");
    durable.wal().sync().expect("sync");
    drop(durable);
    // The poisoned unit's commit is in the log, so rebuilding it panics again: the state
    // machine's bug, reported the same way, and nothing is written.
    let reopened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open));
    assert!(reopened.is_err(), "replaying the unit that panicked panics again");
}
