//! Figure 10: arbitrary bytes as the files of a log (a segment, its sidecar index, the
//! anchor), alone and over the files of a real log. Opening gives the log or a typed error,
//! never a panic; whatever it reads back was written.

use std::path::Path;
use wal_core::SegmentId;

use proptest::prelude::*;
use wal_core::{ANCHOR_FILE_NAME, Durability, Wal};
use wal_segment::{index_file_name, segment_file_name};

use crate::support::{TAG, small};

/// Inspects the log in `dir` (what `wal verify` does), then opens it and reads all of it;
/// every record read must be one of `written`.
fn open_and_read(dir: &Path, written: &[Vec<u8>]) {
    if let Ok(inspector) = wal_core::inspect::Inspector::open(dir) {
        for &id in inspector.segment_ids() {
            if let Ok(segment) = inspector.segment(id) {
                segment.records().for_each(drop);
            }
        }
    }
    let Ok((wal, _)) = Wal::open(dir, small(Durability::Commit).with_housekeeping(None)) else {
        return;
    };
    let Ok(reader) = wal.read_from(wal.start_lsn()) else { return };
    for entry in reader {
        let Ok(entry) = entry else { return };
        if matches!(entry.kind, wal_core::EntryKind::Record { .. }) {
            assert!(written.iter().any(|w| w[..] == entry.payload[..]), "a record never written");
        }
    }
}

fn payloads() -> Vec<Vec<u8>> {
    (0..200u32).map(|n| n.to_le_bytes().repeat(1 + n as usize % 300)).collect()
}

proptest! {
    #[test]
    fn arbitrary_bytes_as_log_files_never_panic(
        segment in prop::collection::vec(any::<u8>(), 0..2048),
        zeros in 0usize..(130 << 10),
        index in prop::option::of(prop::collection::vec(any::<u8>(), 0..256)),
        anchor in prop::option::of(prop::collection::vec(any::<u8>(), 0..4200)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // The bytes, then zeros (as a preallocated chunk holds), so lengths reach past a chunk.
        let mut file = segment;
        file.resize(file.len() + zeros, 0);
        std::fs::write(dir.path().join(segment_file_name(SegmentId(0))), &file).unwrap();
        if let Some(index) = index {
            std::fs::write(dir.path().join(index_file_name(SegmentId(0))), index).unwrap();
        }
        if let Some(anchor) = anchor {
            std::fs::write(dir.path().join(ANCHOR_FILE_NAME), anchor).unwrap();
        }
        open_and_read(dir.path(), &[]);
    }

    #[test]
    fn arbitrary_bytes_over_a_real_log_never_panic_nor_invent_records(
        file in 0usize..8,
        offset in any::<prop::sample::Index>(),
        bytes in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let base = real_log();
        for (name, content) in base {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let (name, content) = &base[file % base.len()];
        let mut content = content.clone();
        if !content.is_empty() {
            let at = offset.index(content.len());
            let end = (at + bytes.len()).min(content.len());
            content[at..end].copy_from_slice(&bytes[..end - at]);
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        open_and_read(dir.path(), &payloads());
    }
}

/// The files of a real log of [`payloads`] (written once, kept in memory), by name.
fn real_log() -> &'static [(std::ffi::OsString, Vec<u8>)] {
    static FILES: std::sync::OnceLock<Vec<(std::ffi::OsString, Vec<u8>)>> =
        std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        {
            let (wal, _) = Wal::open(dir.path(), small(Durability::Buffered)).unwrap();
            for payload in &payloads() {
                wal.append(TAG, payload).unwrap();
            }
            wal.sync().unwrap();
        }
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.file_name().is_some_and(|name| name != "LOCK"))
            .map(|path| (path.file_name().unwrap().to_owned(), std::fs::read(&path).unwrap()))
            .collect();
        files.sort();
        files
    })
}
