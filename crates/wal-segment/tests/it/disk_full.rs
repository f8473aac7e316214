//! A full disk is a typed error when a chunk is reserved, never a SIGBUS, and the writer keeps
//! what it had and works again once space is freed.

use std::path::Path;
use wal_segment::SegmentId;

use wal_format::{Lsn, Record, Tag};
use wal_segment::{
    ChunkPreparation, DirLock, Error, RealStorage, SegmentOptions, SegmentWriter, SimStorage,
    Storage, scan_segment,
};

use crate::{CHUNK, options};

/// Appends 1 KiB records until the storage refuses a chunk; returns how many were appended.
fn fill<S: Storage>(writer: &mut SegmentWriter<S>) -> u64 {
    let payload = [0x42u8; 1024];
    for appended in 0.. {
        match writer.append(&[Record { tag: Tag::ENTRY, payload: &payload }]) {
            Ok(_) => {}
            Err(Error::OutOfSpace { bytes, .. }) => {
                assert_eq!(bytes, CHUNK as u64);
                return appended;
            }
            Err(other) => panic!("expected OutOfSpace, got {other}"),
        }
    }
    unreachable!()
}

fn check_full_disk<S: Storage>(storage: &S, dir: &Path, free_space: impl FnOnce()) {
    let _lock = DirLock::acquire(storage, dir).unwrap();
    let mut writer =
        SegmentWriter::create(storage, dir, SegmentId(1), Lsn(0), options(64)).unwrap();
    let appended = fill(&mut writer);
    assert!(appended > 0);
    writer.sync().expect("what was appended before the full disk syncs");
    assert_eq!(writer.durable_lsn(), Lsn(appended));
    free_space();
    writer
        .append(&[Record { tag: Tag::ENTRY, payload: &[7; 1024] }])
        .expect("works again once space is freed");
    writer.sync().unwrap();
    drop(writer);
    let scan = scan_segment(storage, dir, SegmentId(1), Lsn(0), options(64)).unwrap();
    assert_eq!(scan.records.len() as u64, appended + 1, "nothing written is lost");
    println!("disk full after {appended} records: typed OutOfSpace, 0 lost, appends resumed");
}

#[test]
fn simulated_full_disk() {
    let storage = SimStorage::new();
    storage.set_capacity(Some(3 * CHUNK as u64));
    let again = storage.clone();
    check_full_disk(&storage, &crate::sim_dir(), move || again.set_capacity(None));
}

#[path = "../../src/testing.rs"]
#[allow(dead_code, unreachable_pub)]
mod testing;
use testing::{leave_free, mount};

fn full_filesystem(kind: &str) {
    let mounted = match mount(kind, 512 << 10) {
        Ok(mounted) => mounted,
        // The torture run promises these cases: there a skip is a failure.
        Err(reason) if std::env::var_os("WAL_TORTURE").is_some() => panic!("{kind}: {reason}"),
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    // Room for a few chunks: the disk fills before the segment (64 chunks) does.
    let filler = leave_free(&mounted, 8 * CHUNK as u64, 2 * CHUNK as u64);
    let dir = mounted.path().join("log");
    print!("{kind}: ");
    check_full_disk(&RealStorage, &dir, || std::fs::remove_file(&filler).unwrap());
}

#[test]
fn full_tmpfs_gives_out_of_space_not_sigbus() {
    full_filesystem("tmpfs");
}

#[test]
fn full_ext4_on_a_loop_device_gives_out_of_space_not_sigbus() {
    full_filesystem("ext4");
}

#[test]
fn full_xfs_on_a_loop_device_gives_out_of_space_not_sigbus() {
    full_filesystem("xfs");
}

#[test]
fn a_create_that_finds_the_disk_full_leaves_nothing_and_can_be_retried() {
    let storage = SimStorage::new();
    let dir = Path::new("/full");
    storage.create_dir_all(dir).unwrap();
    storage.set_capacity(Some(0));
    let options =
        SegmentOptions { preparation: ChunkPreparation::Inline, ..SegmentOptions::default() };
    let refused = SegmentWriter::create(&storage, dir, SegmentId(3), Lsn(1), options);
    assert!(matches!(refused, Err(Error::OutOfSpace { .. })));
    assert!(storage.list(dir).unwrap().is_empty(), "{:?}", storage.list(dir));
    storage.set_capacity(None);
    let mut writer = SegmentWriter::create(&storage, dir, SegmentId(3), Lsn(1), options).unwrap();
    writer.append(&[Record { tag: Tag::ENTRY, payload: b"retried" }]).unwrap();
}
