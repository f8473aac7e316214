//! A log written with other chunk options: `wal verify` and `wal recover` (which opens the log
//! with the default options) agree that it is intact; and `wal recover` never makes a log
//! where there was none.

use wal_core::{Options, Wal};

use crate::{TAG, contents, wal};

#[test]
fn verify_and_recover_agree_on_a_log_of_other_chunk_options() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().with_chunk_bytes(1 << 20).with_housekeeping(None);
    let (log, _) = Wal::open(dir.path(), options).unwrap();
    for n in 0..40u32 {
        log.append(TAG, &n.to_le_bytes().repeat(20_000)).unwrap();
    }
    drop(log);
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = wal(dir.path(), &["recover", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("records:           40 "), "{text}");
    let (code, text) = wal(dir.path(), &["recover", "[dir]", "--apply"]);
    assert_eq!(code, 0, "{text}");
    let (log, report) = Wal::open(dir.path(), Options::default()).unwrap();
    assert_eq!((report.records, log.chunk_bytes()), (40, 1 << 20));
}

#[test]
fn recover_refuses_a_directory_without_a_log_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["recover", "[dir]"][..], &["recover", "[dir]", "--apply"]] {
        let (code, text) = wal(dir.path(), args);
        assert_eq!(code, 4, "{args:?}: {text}");
        assert!(text.contains("[dir] holds no log"), "{args:?}: {text}");
        assert!(contents(dir.path()).is_empty(), "{args:?} created files");
    }
}
