//! `wal recover` in a directory with snapshots (issue 20, item 5): it never leaves a log the
//! snapshot layer refuses. Damage in the history kept only for older snapshots is cut from the
//! log's front, after which `Durable::open` gives the whole state; point-in-time recovery that
//! would end the log before the newest snapshot's point is refused, with exit 3.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wal_core::inspect::Inspector;
use wal_core::{Lsn, SegmentId};
use wal_snapshot::kv::KvStore;
use wal_snapshot::{CheckpointReport, Durable, SnapshotOptions};

use crate::{contents, options, wal};

fn snapshot_options() -> SnapshotOptions {
    SnapshotOptions::default().with_wal(options())
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn execute(store: &Durable<KvStore>, model: &mut Model, range: std::ops::Range<u32>) {
    for n in range {
        let key = format!("key-{:03}", n % 211).into_bytes();
        let value = format!("value-{n}-{}", "v".repeat((n % 7) as usize * 30)).into_bytes();
        store.execute(&[KvStore::put(&key, &value).as_change()]).unwrap();
        model.insert(key, value);
    }
}

/// A state with two snapshots: the older one's history (several segments) is kept only as
/// its fallback; segments after the newest point follow.
fn state(dir: &Path) -> (Model, [CheckpointReport; 2]) {
    let (store, _) = Durable::<KvStore>::open(dir, snapshot_options()).unwrap();
    let mut model = Model::new();
    execute(&store, &mut model, 0..300);
    let older = store.checkpoint().unwrap();
    execute(&store, &mut model, 300..2300);
    let newer = store.checkpoint().unwrap();
    execute(&store, &mut model, 2300..3300);
    store.wal().sync().unwrap();
    (model, [older, newer])
}

/// The planned segments: id, first LSN, and where its records end (`None` for the newest).
fn segments(dir: &Path) -> Vec<(SegmentId, Lsn, Option<Lsn>)> {
    let plan = Inspector::open(dir).unwrap().plan().unwrap().plan;
    plan.kept.iter().map(|segment| (segment.id, segment.first, segment.cap)).collect()
}

/// Flips a byte inside the record `lsn` of segment `id`; returns the file and the offset.
fn flip(dir: &Path, id: SegmentId, lsn: Lsn) -> (PathBuf, usize) {
    let segment = Inspector::open(dir).unwrap().segment(id).unwrap();
    let (at, ..) = segment.records().find(|(_, _, found, _)| *found == lsn).unwrap();
    let offset = at.chunk as usize * (64 << 10) + at.offset + 30;
    flip_at(&segment.path, offset);
    (segment.path, offset)
}

fn flip_at(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

fn opens_whole(dir: &Path, model: &Model) -> wal_snapshot::OpenReport {
    let (store, report) = Durable::<KvStore>::open(dir, snapshot_options()).expect("open");
    let state: Model =
        store.read(|kv| kv.iter().map(|(key, value)| (key.to_vec(), value.to_vec())).collect());
    assert!(state == *model, "the state differs");
    report
}

#[test]
fn point_in_time_recovery_of_damage_below_the_snapshot_cuts_the_front_and_the_state_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (model, [_, newer]) = state(dir.path());
    let point = newer.header.replay_from;
    let below: Vec<_> = segments(dir.path())
        .into_iter()
        .filter(|(_, _, cap)| cap.is_some_and(|cap| cap <= point))
        .collect();
    assert!(below.len() >= 2, "{below:?}");
    let (id, first, _) = below[1];
    flip(dir.path(), id, Lsn(first.0 + 10));
    // What the issue found: the log refuses to open, though the snapshot holds all it needs.
    let before = contents(dir.path());
    let (code, text) = wal(dir.path(), &["recover", "[dir]", "--mode", "point-in-time"]);
    assert_eq!(code, 0, "{text}");
    assert!(contents(dir.path()) == before, "a dry run changed the log");
    insta::assert_snapshot!("recover_front_cut_dry_run", text);
    let (code, text) = wal(dir.path(), &["recover", "[dir]", "--apply", "--mode", "point-in-time"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("front cut:") && !text.contains("dropped:"), "{text}");
    let report = opens_whole(dir.path(), &model);
    assert!(report.front_cut.is_none(), "the cut was made by `wal recover`: {report}");
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn point_in_time_recovery_that_would_end_the_log_before_the_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (model, [_, newer]) = state(dir.path());
    let point = newer.header.next_lsn;
    // Damage in the history the newest snapshot covers but the log must still hold: just
    // before its point, in the segment holding it (not the newest: no torn tail).
    let (id, ..) = segments(dir.path())
        .into_iter()
        .find(|(_, first, cap)| *first < point && cap.is_some_and(|cap| cap > point))
        .unwrap();
    let (file, offset) = flip(dir.path(), id, Lsn(point.0 - 3));
    let before = contents(dir.path());
    let (code, text) = wal(dir.path(), &["recover", "[dir]", "--apply", "--mode", "point-in-time"]);
    assert_eq!(code, 3, "{text}");
    insta::assert_snapshot!("recover_refused_before_snapshot", text);
    let changed: Vec<String> = contents(dir.path())
        .into_iter()
        .filter(|file| !before.contains(file))
        .map(|(name, _)| name)
        .filter(|name| name != wal_core::ANCHOR_FILE_NAME)
        .collect();
    assert!(changed.is_empty(), "a refused recovery changed {changed:?}");
    // The log still holds everything after the damage: repaired by hand, it opens whole.
    flip_at(&file, offset);
    opens_whole(dir.path(), &model);
}

/// Damage below the newest snapshot's point and just before it: the front cut past the first
/// is made (and stays: it removed only history the snapshot holds), the recovery is refused
/// for the second, and says both.
#[test]
fn a_refused_recovery_says_when_it_kept_a_front_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (model, [_, newer]) = state(dir.path());
    let (replay_from, point) = (newer.header.replay_from, newer.header.next_lsn);
    let all = segments(dir.path());
    let (below, first, _) =
        *all.iter().find(|(_, _, cap)| cap.is_some_and(|cap| cap <= replay_from)).unwrap();
    let (holding, ..) = *all
        .iter()
        .find(|(_, first, cap)| *first < point && cap.is_some_and(|cap| cap > point))
        .unwrap();
    flip(dir.path(), below, Lsn(first.0 + 10));
    let (file, offset) = flip(dir.path(), holding, Lsn(point.0 - 3));
    let (code, text) = wal(dir.path(), &["recover", "[dir]", "--apply", "--mode", "point-in-time"]);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("would end the log at LSN") && text.contains("except: the log's start moved"),
        "{text}"
    );
    flip_at(&file, offset);
    let report = opens_whole(dir.path(), &model);
    assert!(report.front_cut.is_none(), "{report}");
}
