//! Numbers read from disk at their extremes, and files cut short: typed errors, never an
//! overflow, a wrap, a panic, or durable records cut as if they were a torn tail.

use std::path::Path;
use wal_core::SegmentId;

use wal_core::{Durability, Error, Options, RecoveryMode, Wal};

use crate::support::TAG;

fn options() -> Options {
    crate::support::small(Durability::Commit)
}

/// A real log of a few segments, cleanly closed.
fn build(dir: &Path, records: u32) {
    let (wal, _) = Wal::open(dir, options()).unwrap();
    for n in 0..records {
        wal.append(TAG, &n.to_le_bytes().repeat(40)).unwrap();
    }
    drop(wal);
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    files.sort();
    files
}

#[test]
fn a_segment_with_the_largest_id_is_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    // A valid log whose one segment has id u64::MAX: the next id would wrap to 0.
    drop(Wal::open(dir.path(), options()).unwrap());
    let segment = wal_segment::SegmentOptions {
        chunk_bytes: 64 << 10,
        chunks_per_segment: 2,
        preparation: wal_core::ChunkPreparation::Inline,
        ..Default::default()
    };
    let lock = wal_segment::DirLock::acquire(&wal_core::RealStorage, dir.path()).unwrap();
    let mut writer = wal_segment::SegmentWriter::create(
        &wal_core::RealStorage,
        dir.path(),
        SegmentId(u64::MAX),
        wal_core::FIRST_LSN,
        segment,
    )
    .unwrap();
    writer.append(&[wal_core::Record { tag: TAG, payload: b"last id" }]).unwrap();
    writer.seal().unwrap();
    drop(lock);
    match Wal::open(dir.path(), options()) {
        Err(error @ Error::Damaged { .. }) => {
            println!("segment id u64::MAX: {error}");
        }
        Err(other) => panic!("expected a typed refusal, got {other:?}"),
        Ok(_) => panic!("a log with segment id u64::MAX opened"),
    }
}

/// The anchor's two slots, rewritten with `edit(sequence, start, cut segment, cut LSN)`.
fn forge_anchor(dir: &Path, words: [u64; 4]) {
    let mut slot = [0u8; 48];
    slot[..8].copy_from_slice(b"WALANCHR");
    for (at, word) in [8, 16, 24, 32].into_iter().zip(words) {
        slot[at..at + 8].copy_from_slice(&word.to_le_bytes());
    }
    let crc = crc32fast::hash(&slot[..40]);
    slot[40..44].copy_from_slice(&crc.to_le_bytes());
    let mut file = vec![0u8; 4096 + 48];
    file[..48].copy_from_slice(&slot);
    std::fs::write(dir.join(wal_core::ANCHOR_FILE_NAME), file).unwrap();
}

#[test]
fn an_anchor_at_the_end_of_its_numbers_is_refused_not_wrapped() {
    for (what, words) in [
        ("a cut below segment u64::MAX", [5, 1, u64::MAX, 10]),
        ("a slot sequence of u64::MAX", [u64::MAX, 1, 0, 0]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), 100);
        forge_anchor(dir.path(), words);
        match Wal::open(dir.path(), options()) {
            Err(error @ (Error::Damaged { .. } | Error::AnchorDamaged { .. })) => {
                println!("{what}: {error}");
            }
            Err(other) => panic!("{what}: expected a typed refusal, got {other:?}"),
            Ok(_) => panic!("{what}: the log opened"),
        }
    }
}

/// A segment file shortened (as `truncate -s` does) loses records its index lists as durable:
/// that is damage naming the file, never a torn tail recovery quietly cuts.
#[test]
fn a_segment_file_cut_short_below_indexed_records_is_damage_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 1000);
    let last = segments(dir.path()).pop().unwrap();
    // Inside the first chunk, below records the index lists.
    let cut = 20_000;
    std::fs::OpenOptions::new().write(true).open(&last).unwrap().set_len(cut).unwrap();
    let inspector = wal_core::inspect::Inspector::open(dir.path()).unwrap();
    let id: u64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let judged = inspector.segment(SegmentId(id)).unwrap();
    match &judged.outcome {
        wal_core::inspect::SegmentOutcome::Checked(check) => {
            assert!(check.damage.is_some(), "inspection calls it clean: {check:?}");
        }
        other => panic!("inspection: {other:?}"),
    }
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::AbsoluteConsistency] {
        match Wal::open(dir.path(), options().with_recovery(mode)) {
            Err(Error::Damaged { path, damage }) => {
                assert_eq!(path, last);
                assert!(matches!(damage, wal_core::Damage::Segment(_)), "{damage:?}");
                assert!(damage.to_string().contains("cut"), "{damage}");
            }
            Err(other) => panic!("{mode:?}: expected Damaged, got {other:?}"),
            Ok((_, report)) => panic!("{mode:?}: opened, cutting {:?}", report.torn_tail),
        }
    }
    let (_, report) =
        Wal::open(dir.path(), options().with_recovery(RecoveryMode::PointInTime)).unwrap();
    let dropped = report.dropped.expect("point-in-time recovery reports the loss");
    println!("segment cut to {cut} bytes: Damaged; point-in-time keeps below {}", dropped.from);
}

/// Safe code holding the re-exported storage cannot resize or write a segment file the log has
/// mapped (a SIGBUS, or bytes changing under zero-copy views), nor scan one it is writing.
#[test]
fn safe_code_cannot_resize_write_or_scan_a_live_segment() {
    use wal_core::storage::SegmentFile;
    use wal_core::{RealStorage, Storage};
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), options()).unwrap();
    let lsn = wal.append(TAG, b"viewed").unwrap();
    let view = wal.get(lsn).unwrap().unwrap();
    let live = segments(dir.path()).pop().unwrap();
    let file = RealStorage.open(&live).unwrap();
    for refused in [file.set_len(0), file.write_at(64, b"changed")] {
        let error = refused.expect_err("a mapped segment file was changed");
        assert_eq!(error.kind(), std::io::ErrorKind::ResourceBusy, "{error}");
    }
    let id: u64 = live.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let segment = wal_segment::SegmentOptions {
        chunk_bytes: 64 << 10,
        chunks_per_segment: 2,
        preparation: wal_core::ChunkPreparation::Inline,
        ..Default::default()
    };
    let scanned = wal_segment::scan_segment(&RealStorage, dir.path(), SegmentId(id), lsn, segment);
    assert!(matches!(scanned, Err(wal_segment::Error::LiveWriter { .. })), "{scanned:?}");
    assert_eq!(view.payload.as_ref(), b"viewed");
    drop(wal);
    drop(view);
    // Once nothing maps it, the file is an ordinary file again.
    file.set_len(std::fs::metadata(&live).unwrap().len()).unwrap();
}
