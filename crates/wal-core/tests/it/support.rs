//! Helpers shared by the tests.

use std::path::Path;

use wal_core::{ChunkPreparation, Durability, Options, SimStorage, Tag, Wal};

/// The application tag the tests write.
pub(crate) const TAG: Tag = match Tag::user(0x41) {
    Some(tag) => tag,
    None => panic!("0x41 is a user tag"),
};

/// Small chunks and segments, so tests cross chunk and segment boundaries often, with every
/// step in a fixed order (inline chunk preparation).
pub(crate) fn small(durability: Durability) -> Options {
    Options::default()
        .with_chunk_bytes(64 << 10)
        .with_chunks_per_segment(2)
        .with_durability(durability)
        .with_preparation(ChunkPreparation::Inline)
}

pub(crate) fn dir() -> &'static Path {
    Path::new("/log")
}

/// Opens the simulated log in [`dir`].
pub(crate) fn open_sim(
    storage: &SimStorage,
    options: Options,
) -> (Wal<SimStorage>, wal_core::RecoveryReport) {
    Wal::open_in(storage.clone(), dir(), options).expect("open")
}

/// The segment files of the simulated log, in order.
pub(crate) fn segment_files(storage: &SimStorage) -> Vec<std::path::PathBuf> {
    use wal_core::Storage;
    let mut files: Vec<_> = storage
        .list(dir())
        .unwrap()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    files.sort();
    files
}

/// The payloads of every committed unit, in replay order.
pub(crate) fn committed_payloads<S: wal_core::Storage>(wal: &Wal<S>) -> Vec<Vec<Vec<u8>>> {
    wal.replay()
        .expect("replay")
        .map(|unit| unit.expect("readable").changes.iter().map(|e| e.payload.to_vec()).collect())
        .collect()
}

/// `ci` normally; `torture` under `cargo xtask torture` (which sets `WAL_TORTURE=1`): the
/// counts of a reliability figure at the two levels of `docs/RELIABILITY.md`.
pub(crate) fn reliability_count<T>(ci: T, torture: T) -> T {
    if std::env::var_os("WAL_TORTURE").is_some() { torture } else { ci }
}
