//! Snapshot-aware recovery (issue 20, item 5): damage in the log's fallback range, below the
//! newest valid snapshot's point, moves the log's start past it and the state opens whole;
//! damage the newest snapshot does not cover still fails, and leaves the log's start alone.

use wal_core::inspect::{AnchorState, Inspector};
use wal_core::plan::PlannedSegment;
use wal_core::{Lsn, SimStorage, Storage};
use wal_snapshot::{CheckpointReport, Durable, Error, kv::KvStore};

use crate::support::{Model, dir, execute, open, options};

/// A state with two snapshots (`keep = 2`): 200 transactions, a checkpoint, 1000 more (several
/// segments of fallback range), a checkpoint, 400 more (segments after the newest point).
fn two_snapshots() -> (SimStorage, Model, [CheckpointReport; 2]) {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options());
    let mut model = Model::default();
    execute(&durable, &mut model, 0..200);
    let older = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 200..1200);
    let newer = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 1200..1600);
    (storage, model, [older, newer])
}

/// The segments of the log in `storage`, as recovery plans them.
fn planned(storage: &SimStorage) -> (Inspector<SimStorage>, Vec<PlannedSegment>) {
    let inspector = Inspector::open_in(storage.clone(), dir()).expect("inspect");
    let kept = inspector.plan().expect("plan").plan.kept;
    (inspector, kept)
}

fn anchor_start(storage: &SimStorage) -> Lsn {
    match Inspector::open_in(storage.clone(), dir()).expect("inspect").anchor() {
        AnchorState::Found { start, .. } => start,
        other => panic!("{other:?}"),
    }
}

/// Flips a byte in the middle of `segment`'s data (inside a record: a checksum fails).
fn flip(storage: &SimStorage, inspector: &Inspector<SimStorage>, segment: &PlannedSegment) {
    storage.edit_file(&inspector.segment_path(segment.id), |bytes| bytes[30_000] ^= 0x10);
}

fn reopen(storage: &SimStorage) -> Result<Durable<KvStore, SimStorage>, Error> {
    Durable::<KvStore, SimStorage>::open_in(storage.clone(), dir(), options()).map(
        |(durable, report)| {
            println!("{report}");
            durable
        },
    )
}

#[test]
fn damage_below_the_newest_snapshot_moves_the_start_past_it_and_the_state_opens_whole() {
    let (storage, model, [older, newer]) = two_snapshots();
    let point = newer.header.replay_from;
    let (inspector, kept) = planned(&storage);
    assert_eq!(kept[0].first.max(anchor_start(&storage)), older.header.replay_from);
    // Two segments wholly in the fallback range, the second one's neighbour kept intact.
    let fallback: Vec<_> = kept.iter().filter(|s| s.cap.is_some_and(|cap| cap <= point)).collect();
    assert!(fallback.len() >= 4, "{kept:?}");
    let (first, second) = (fallback[1], fallback[3]);
    flip(&storage, &inspector, first);
    flip(&storage, &inspector, second);

    let (durable, report) =
        Durable::<KvStore, SimStorage>::open_in(storage.clone(), dir(), options())
            .expect("the newest snapshot and the log after it hold every unit");
    println!("{report}");
    assert!(durable.read(|kv| model.matches(kv)), "the whole state");
    assert_eq!(report.snapshot.as_ref().map(|(path, _)| path), Some(&newer.path));
    let cut = report.front_cut.as_ref().expect("the cut is reported");
    assert_eq!((cut.from, cut.to), (older.header.replay_from, second.cap.expect("capped")));
    assert_eq!(cut.damage.len(), 2, "one cut past each damaged segment: {cut:?}");
    assert!(
        cut.damage.iter().all(|damage| matches!(damage, wal_core::Error::Damaged { .. })),
        "{cut:?}"
    );
    assert_eq!(cut.snapshot, newer.path);
    assert_eq!(
        cut.unusable,
        std::slice::from_ref(&older.path),
        "the older snapshot needed the cut history"
    );
    assert!(report.to_string().contains("past damage the snapshot"), "{report}");
    assert_eq!(durable.wal().start_lsn(), cut.to);

    // The state goes on: a checkpoint no longer keeps the unusable snapshot, and the next open
    // finds nothing to cut.
    let mut model = model;
    execute(&durable, &mut model, 1600..1610);
    let third = durable.checkpoint().expect("checkpoint");
    assert!(storage.open(&older.path).is_err(), "the unusable snapshot was deleted");
    drop(durable);
    let (durable, report) =
        Durable::<KvStore, SimStorage>::open_in(storage.clone(), dir(), options()).expect("open");
    assert!(report.front_cut.is_none(), "{report}");
    assert_eq!(report.snapshot.as_ref().map(|(path, _)| path), Some(&third.path));
    assert!(durable.read(|kv| model.matches(kv)));
}

#[test]
fn segments_missing_below_the_newest_snapshot_are_cut_past_too() {
    let (storage, model, [older, newer]) = two_snapshots();
    let (inspector, kept) = planned(&storage);
    assert!(kept[0].cap.is_some_and(|cap| cap <= newer.header.replay_from), "{kept:?}");
    // The oldest segment of the log is lost (deleted by hand, say).
    storage.remove(&inspector.segment_path(kept[0].id)).expect("remove");
    let (durable, report) =
        Durable::<KvStore, SimStorage>::open_in(storage.clone(), dir(), options()).expect("open");
    assert!(durable.read(|kv| model.matches(kv)));
    let cut = report.front_cut.as_ref().expect("the cut is reported");
    assert_eq!((cut.from, cut.to), (older.header.replay_from, kept[1].first));
    assert!(matches!(cut.damage[..], [wal_core::Error::MissingHistory { .. }]), "{cut:?}");
}

/// Damage the newest snapshot does not cover: in the segment holding its `replay_from`, and
/// in a segment after its point. The open fails as before, and the log's start stays.
#[test]
fn damage_the_newest_snapshot_does_not_cover_still_fails_and_cuts_nothing() {
    type Pick = fn(&PlannedSegment, Lsn, Lsn) -> bool;
    let cases: [(&str, Pick); 2] = [
        ("holding the point", |s, replay_from, _| {
            s.first <= replay_from && s.cap.is_some_and(|cap| cap > replay_from)
        }),
        ("after the point", |s, _, next_lsn| s.first >= next_lsn && s.cap.is_some()),
    ];
    for (name, pick) in cases {
        let (storage, _, [_, newer]) = two_snapshots();
        let (inspector, kept) = planned(&storage);
        let (replay_from, next_lsn) = (newer.header.replay_from, newer.header.next_lsn);
        let segment = kept
            .iter()
            .find(|s| pick(s, replay_from, next_lsn))
            .unwrap_or_else(|| panic!("{name}: {kept:?}"));
        flip(&storage, &inspector, segment);
        let start = anchor_start(&storage);
        let error = reopen(&storage).err().unwrap_or_else(|| panic!("{name}: opened"));
        println!("{name}: {error}");
        assert!(matches!(error, Error::Wal(wal_core::Error::Damaged { .. })), "{name}: {error:?}");
        assert_eq!(anchor_start(&storage), start, "{name}: the start moved");
    }
}

/// `AbsoluteConsistency` refuses any damage: no front cut either.
#[test]
fn absolute_consistency_refuses_damage_below_the_snapshot_too() {
    let (storage, _, [_, newer]) = two_snapshots();
    let (inspector, kept) = planned(&storage);
    let below = kept.iter().find(|s| s.cap.is_some_and(|cap| cap <= newer.header.replay_from));
    flip(&storage, &inspector, below.expect("a segment below the point"));
    let start = anchor_start(&storage);
    let strict = options()
        .with_wal(options().wal.with_recovery(wal_core::RecoveryMode::AbsoluteConsistency));
    let error = Durable::<KvStore, SimStorage>::open_in(storage.clone(), dir(), strict)
        .err()
        .expect("refused");
    assert!(matches!(error, Error::Wal(wal_core::Error::Damaged { .. })), "{error:?}");
    assert_eq!(anchor_start(&storage), start);
}
