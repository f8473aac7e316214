//! `Wal::open_existing` opens a log only where there is one and creates nothing otherwise;
//! `Wal::open` on a file says so instead of failing to create a directory.

use std::path::Path;

use wal_core::{Error, Options, SimStorage, Storage, Wal};

use crate::support::TAG;

fn options() -> Options {
    Options::default().with_chunk_bytes(64 << 10).with_housekeeping(None)
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `open_existing` on `path` fails as `expected` says, naming `path`.
fn check_refused(path: &Path, expected: fn(&Error) -> bool) {
    match Wal::open_existing(path, options()) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(error) => {
            assert!(expected(&error), "{error:?}");
            assert!(error.to_string().contains(&path.display().to_string()), "{error}");
        }
    }
}

#[test]
fn a_missing_directory_is_not_found_and_not_created() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("missing");
    check_refused(&missing, |error| matches!(error, Error::NotFound { .. }));
    assert!(!missing.exists());
    assert!(names(parent.path()).is_empty());
}

#[test]
fn a_directory_without_a_log_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    check_refused(dir.path(), |error| matches!(error, Error::NotALog { .. }));
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    // Files that are not a log's do not make one.
    std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    std::fs::write(dir.path().join("00000000000000000001.idx"), b"x").unwrap();
    check_refused(dir.path(), |error| matches!(error, Error::NotALog { .. }));
    assert_eq!(names(dir.path()), ["00000000000000000001.idx", "notes.txt"]);
}

#[test]
fn a_regular_file_is_not_a_directory_for_either_open() {
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("file");
    std::fs::write(&file, b"not a log").unwrap();
    check_refused(&file, |error| matches!(error, Error::NotADirectory { .. }));
    let opened = Wal::open(&file, options()).map(drop);
    assert!(matches!(opened, Err(Error::NotADirectory { .. })), "{opened:?}");
    // Below a file, too.
    let below = file.join("log");
    let opened = Wal::open(&below, options()).map(drop);
    assert!(matches!(opened, Err(Error::NotADirectory { .. })), "{opened:?}");
    check_refused(&below, |error| matches!(error, Error::NotADirectory { .. }));
    assert_eq!(std::fs::read(&file).unwrap(), b"not a log");
}

#[test]
fn a_real_log_opens_with_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), options()).unwrap();
    drop(wal);
    // A log without a record yet is a log: its anchor file says so.
    let (wal, report) = Wal::open_existing(dir.path(), options()).unwrap();
    assert_eq!(report.records, 0);
    wal.append(TAG, b"kept").unwrap();
    drop(wal);
    let (wal, report) = Wal::open_existing(dir.path(), options()).unwrap();
    assert_eq!(report.records, 1);
    assert_eq!(wal.get(wal_core::Lsn(1)).unwrap().unwrap().payload.as_ref(), b"kept");
}

#[test]
fn on_simulated_storage_too() {
    let storage = SimStorage::new();
    let dir = Path::new("/log");
    let refused = Wal::open_existing_in(storage.clone(), dir, options()).map(drop);
    assert!(matches!(refused, Err(Error::NotFound { .. })), "{refused:?}");
    storage.create_dir_all(dir).unwrap();
    let refused = Wal::open_existing_in(storage.clone(), dir, options()).map(drop);
    assert!(matches!(refused, Err(Error::NotALog { .. })), "{refused:?}");
    assert!(storage.list(dir).unwrap().is_empty());
    drop(Wal::open_in(storage.clone(), dir, options()).unwrap());
    let (_, report) = Wal::open_existing_in(storage.clone(), dir, options()).unwrap();
    assert_eq!(report.records, 0);
}
