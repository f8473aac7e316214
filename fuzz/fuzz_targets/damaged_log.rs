//! Segment recovery over arbitrary file contents: a real log (segments, sidecar indexes, the
//! anchor, a snapshot) is damaged as the input says, then opened by the engine and by the
//! snapshot layer. Neither may panic; whatever the engine reads back must be exactly what was
//! written at that LSN (damage is an error or a shorter log, never different data); a state
//! the snapshot layer rebuilds must be the state after some prefix of the transactions.
//!
//! Input: edits of `file: u8, kind: u8, offset: u32 little-endian, len: u8, bytes: [u8; len]`
//! against the log's files (sorted by name, `file` modulo their count). Kinds, modulo 4:
//! overwrite at `offset`, cut the file at `offset`, zero the 512-byte sector holding
//! `offset`, or replace the whole file with the rest of the input.
#![no_main]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wal_core::{ChunkPreparation, Durability, EntryKind, Lsn, Options};
use wal_snapshot::{Durable, SnapshotOptions, StateMachine, digest, kv::KvStore};

/// The intact log, written once: its directory, each record's payload by LSN, and the
/// digest of the state after each prefix of its transactions.
struct Base {
    /// Each file's name and bytes (the directory itself is gone: a static is never dropped).
    files: Vec<(std::ffi::OsString, Vec<u8>)>,
    payloads: BTreeMap<Lsn, Vec<u8>>,
    states: HashSet<wal_snapshot::Digest>,
}

fn options() -> SnapshotOptions {
    SnapshotOptions::default().with_wal(
        Options::default()
            .with_chunk_bytes(64 << 10)
            .with_chunks_per_segment(2)
            .with_durability(Durability::Commit)
            .with_preparation(ChunkPreparation::Inline)
            .with_housekeeping(None),
    )
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir_in(scratch()).unwrap();
        let (store, _) = Durable::<KvStore>::open(dir.path(), options()).unwrap();
        let mut payloads = BTreeMap::new();
        let mut states = HashSet::new();
        states.insert(store.read(|kv| digest::<KvStore>(&kv.image()).unwrap()));
        for n in 0..120u32 {
            let key = (n % 17).to_le_bytes();
            let value = vec![n as u8; (n as usize * 37) % 900];
            let change = if n % 5 == 4 { KvStore::delete(&key) } else { KvStore::put(&key, &value) };
            store.execute(&[change.as_change()]).unwrap();
            states.insert(store.read(|kv| digest::<KvStore>(&kv.image()).unwrap()));
            if n == 60 {
                // Every record, including those the checkpoint's prune moves the start past
                // (they stay in the segment it keeps, and come back if the anchor's newest
                // slot is damaged: the start rolls back one update, nothing is lost).
                read_into(&store, &mut payloads);
                store.checkpoint().unwrap();
            }
        }
        read_into(&store, &mut payloads);
        drop(store);
        let files = files(dir.path())
            .into_iter()
            .map(|path| (path.file_name().unwrap().to_owned(), std::fs::read(&path).unwrap()))
            .collect();
        Base { files, payloads, states }
    })
}

fn read_into(store: &Durable<KvStore>, payloads: &mut BTreeMap<Lsn, Vec<u8>>) {
    for entry in store.wal().read_from(store.wal().start_lsn()).unwrap() {
        let entry = entry.unwrap();
        payloads.insert(entry.lsn, entry.payload.to_vec());
    }
}

/// Memory-backed when the machine has it: each input copies the log.
fn scratch() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.retain(|path| path.file_name().is_some_and(|name| name != "LOCK"));
    files.sort();
    files
}

fn damage(dir: &Path, mut input: &[u8]) {
    let files = files(dir);
    while let [file, kind, o0, o1, o2, o3, len, rest @ ..] = input {
        let path = &files[usize::from(*file) % files.len()];
        let mut bytes = std::fs::read(path).unwrap();
        let offset = u32::from_le_bytes([*o0, *o1, *o2, *o3]) as usize % (bytes.len() + 1);
        let len = usize::from(*len).min(rest.len());
        match kind % 4 {
            0 => {
                let end = (offset + len).min(bytes.len());
                bytes[offset..end].copy_from_slice(&rest[..end - offset]);
            }
            1 => bytes.truncate(offset),
            2 => {
                let sector = offset / 512 * 512;
                let end = (sector + 512).min(bytes.len());
                bytes[sector.min(end)..end].fill(0);
            }
            _ => {
                std::fs::write(path, rest).unwrap();
                return;
            }
        }
        std::fs::write(path, &bytes).unwrap();
        input = &rest[len..];
    }
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let dir = tempfile::tempdir_in(scratch()).unwrap();
    for (name, bytes) in &base.files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    damage(dir.path(), data);
    let copy = |from: &tempfile::TempDir| {
        let to = tempfile::tempdir_in(scratch()).unwrap();
        for file in files(from.path()) {
            std::fs::copy(&file, to.path().join(file.file_name().unwrap())).unwrap();
        }
        to
    };

    // The engine: an error, or records that are exactly the ones written, then perhaps the
    // aborts recovery appends where damage cut the log short (the intact log holds none).
    let engine_dir = copy(&dir);
    if let Ok((wal, _)) = wal_core::Wal::open(engine_dir.path(), options().wal) {
        if let Ok(reader) = wal.read_from(wal.start_lsn()) {
            let mut cut = false;
            for entry in reader {
                let Ok(entry) = entry else { break };
                if matches!(entry.kind, EntryKind::Abort { .. }) {
                    cut = true;
                    continue;
                }
                assert!(!cut, "a record after recovery's aborts, at {}", entry.lsn);
                let written = base.payloads.get(&entry.lsn);
                let written = written.unwrap_or_else(|| panic!("no record at {}", entry.lsn));
                assert_eq!(&entry.payload[..], &written[..], "different data at {}", entry.lsn);
            }
        }
    }
    // The snapshot layer, on its own copy of the damage: an error, or the state of a prefix of
    // the transactions.
    let snapshot_dir = copy(&dir);
    if let Ok((store, _)) = Durable::<KvStore>::open(snapshot_dir.path(), options()) {
        let state = store.read(|kv| digest::<KvStore>(&kv.image()).unwrap());
        assert!(base.states.contains(&state), "a state no prefix of the transactions gives");
    }
});
