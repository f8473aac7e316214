//! Each recovery mode against each kind of damage: a torn tail, a bit flip in the middle of the
//! log (in a sealed segment and in the last one), and a segment file missing in the middle.

use std::path::{Path, PathBuf};
use wal_core::SegmentId;

use wal_core::{Durability, Error, Lsn, Options, RecoveryMode, SimStorage, Storage, Wal};

use crate::support::{TAG, dir, segment_files, small};

const RECORDS: u32 = 3000;

/// A log of several segments, cleanly closed; returns its segment files in order.
fn build() -> (SimStorage, Vec<PathBuf>) {
    let storage = SimStorage::new();
    let (wal, _) = Wal::open_in(storage.clone(), dir(), small(Durability::Buffered)).unwrap();
    for n in 0..RECORDS {
        wal.append(TAG, &[n.to_le_bytes()[0]; 200]).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let files = segment_files(&storage);
    assert!(files.len() >= 4, "{files:?}");
    (storage, files)
}

/// The file offset of the `nth` record of the segment at `path`, and its LSN.
fn record_at(storage: &SimStorage, path: &Path, nth: usize) -> (usize, Lsn) {
    let options = small(Durability::Buffered);
    let id: u64 = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let first =
        wal_segment::segment_first_lsn(storage, dir(), SegmentId(id), segment_options(&options))
            .unwrap()
            .unwrap();
    let scan =
        wal_segment::scan_segment(storage, dir(), SegmentId(id), first, segment_options(&options))
            .unwrap();
    let record = &scan.records[nth.min(scan.records.len() - 1)];
    let offset = record.chunk as usize * options.chunk_bytes + record.record.offset;
    (offset, record.record.lsn)
}

fn segment_options(options: &Options) -> wal_segment::SegmentOptions {
    wal_segment::SegmentOptions {
        chunk_bytes: options.chunk_bytes,
        chunks_per_segment: options.chunks_per_segment,
        preparation: options.preparation,
        ..Default::default()
    }
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    TornTail,
    FlipInSealedSegment,
    FlipInLastSegment,
    MissingMiddleSegment,
}

/// Damages a fresh log; returns the storage and the LSN of the first record the damage hits.
fn damaged(damage: Damage) -> (SimStorage, PathBuf, Lsn) {
    let (storage, files) = build();
    let last = files.iter().rev().find(|path| !storage.read_file(path).is_empty()).unwrap().clone();
    let (path, nth) = match damage {
        Damage::TornTail => (last.clone(), usize::MAX),
        Damage::FlipInSealedSegment => (files[1].clone(), 40),
        Damage::FlipInLastSegment => (last.clone(), 5),
        Damage::MissingMiddleSegment => {
            let (_, lsn) = record_at(&storage, &files[2], 0);
            storage.remove(&files[2]).unwrap();
            storage.remove(&files[2].with_extension("idx")).unwrap();
            return (storage, files[1].clone(), lsn);
        }
    };
    let (offset, lsn) = record_at(&storage, &path, nth);
    // A byte of the payload: the frame's checksum fails, its header still says where it ends.
    storage.edit_file(&path, |bytes| bytes[offset + 30] ^= 0x40);
    (storage, path, lsn)
}

#[test]
fn every_mode_against_every_damage() {
    let mut figures = Vec::new();
    for damage in [
        Damage::TornTail,
        Damage::FlipInSealedSegment,
        Damage::FlipInLastSegment,
        Damage::MissingMiddleSegment,
    ] {
        for mode in [
            RecoveryMode::TolerateTornTail,
            RecoveryMode::AbsoluteConsistency,
            RecoveryMode::PointInTime,
        ] {
            let (storage, path, hit) = damaged(damage);
            let options = small(Durability::Buffered).with_recovery(mode);
            let opened = Wal::open_in(storage.clone(), dir(), options);
            let torn_tail = matches!(damage, Damage::TornTail);
            match (mode, torn_tail, opened) {
                (
                    RecoveryMode::AbsoluteConsistency,
                    _,
                    Err(Error::Damaged { path: at, damage: why }),
                )
                | (
                    RecoveryMode::TolerateTornTail,
                    false,
                    Err(Error::Damaged { path: at, damage: why }),
                ) => {
                    assert_eq!(at, path, "{damage:?} {mode:?}: {why}");
                    // A torn tail is refused as one (typed), all other damage as what it is.
                    assert_eq!(
                        torn_tail,
                        matches!(why, wal_core::Damage::TornTail(_)),
                        "{damage:?} {mode:?}: {why:?}"
                    );
                    figures.push(format!("{damage:?}/{mode:?}: refused, naming {}", at.display()));
                }
                (
                    RecoveryMode::TolerateTornTail | RecoveryMode::PointInTime,
                    true,
                    Ok((wal, report)),
                ) => {
                    assert_eq!(report.records, u64::from(RECORDS) - 1, "{damage:?} {mode:?}");
                    assert!(report.torn_tail.is_some() && report.bytes_cut > 0, "{report:?}");
                    assert_eq!(wal.next_lsn(), hit);
                    figures.push(format!("{damage:?}/{mode:?}: cut {} bytes", report.bytes_cut));
                }
                (RecoveryMode::PointInTime, false, Ok((wal, report))) => {
                    let dropped = report.dropped.clone().expect("reported");
                    assert_eq!(dropped.path, path, "{damage:?}");
                    assert_eq!(dropped.from, hit, "{damage:?}: {dropped:?}");
                    assert_eq!(wal.next_lsn(), hit);
                    // Everything before the damage is there, intact.
                    let kept = wal.read_from(wal.start_lsn()).unwrap().count();
                    assert_eq!(kept as u64, report.records);
                    drop(wal);
                    // And the point-in-time result is stable: a strict reopen accepts it.
                    let strict = small(Durability::Buffered)
                        .with_recovery(RecoveryMode::AbsoluteConsistency);
                    let (_, again) = Wal::open_in(storage, dir(), strict).unwrap();
                    assert_eq!(again.records, report.records);
                    figures.push(format!(
                        "{damage:?}/{mode:?}: kept {} records, dropped from LSN {} ({} later files)",
                        report.records, dropped.from, dropped.later_segments
                    ));
                }
                (mode, _, other) => {
                    panic!("{damage:?} {mode:?}: unexpected {:?}", other.map(|(_, r)| r))
                }
            }
        }
    }
    println!("recovery modes:\n  {}", figures.join("\n  "));
}
