//! The tools on logs damaged the ways issue 20 found them: a flipped byte mid-segment, random
//! bytes in a segment, a deleted anchor, a stray segment file, an index without its segment, a
//! transaction left open. Each output and exit code is pinned; `verify` must count the changes
//! a dry-run `recover` reports, and nothing may call such a log clean.

use std::path::Path;

use wal_core::{Lsn, Wal};

use crate::{contents, fixture, options, segment, wal, wal_split};

/// Deterministic noise (xorshift), standing in for random bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

fn damage(path: &Path, at: usize, bytes: &[u8]) {
    let mut data = std::fs::read(path).unwrap();
    data[at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, data).unwrap();
}

/// A figure from `recover`'s report: the number after `label`.
fn reported(text: &str, label: &str) -> u64 {
    let line =
        text.lines().find(|line| line.starts_with(label)).unwrap_or_else(|| panic!("{text}"));
    line[label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn dump_stops_at_a_flipped_byte_saying_where_and_what_to_do() {
    let dir = fixture();
    let first = segment(dir.path(), 0);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[20_000] ^= 0x10;
    std::fs::write(&first, &bytes).unwrap();
    let before = contents(dir.path());
    let (code, stdout, stderr) = wal_split(dir.path(), &["dump", "[dir]"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    // Every record before the damaged one (LSN 33), none after it.
    assert_eq!(stdout.lines().last().unwrap().split_whitespace().next(), Some("32"), "{stdout}");
    insta::assert_snapshot!("dump_flipped_byte", stderr);
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 3, "{text}");
    assert!(!text.contains("TornFrame") && !text.contains("{ "), "no Debug dump: {text}");
    // `--apply` refused: an accurate sentence, exit 3.
    let (code, text) = wal(dir.path(), &["recover", "[dir]", "--apply"]);
    assert_eq!(code, 3, "{text}");
    insta::assert_snapshot!("recover_apply_refused", text);
    // Opening rewrites the anchor's other slot with the same start (as the message says);
    // nothing else may change.
    let after = contents(dir.path());
    let changed: Vec<&String> = after
        .iter()
        .filter(|file| !before.contains(file))
        .map(|(name, _)| name)
        .filter(|name| *name != wal_core::ANCHOR_FILE_NAME)
        .collect();
    assert!(changed.is_empty(), "a refused recovery changed {changed:?}");
}

#[test]
fn random_bytes_inside_a_sealed_segment_are_corruption_in_dump_and_verify() {
    let dir = fixture();
    damage(&segment(dir.path(), 0), 30_000, &noise(4096, 7));
    let (code, stdout, stderr) = wal_split(dir.path(), &["dump", "[dir]", "--json"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    insta::assert_snapshot!("dump_random_bytes", stderr);
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 3, "{text}");
    insta::assert_snapshot!("verify_random_bytes", text);
    // What verify says point-in-time recovery would drop is what its dry run drops.
    let (code, dry_run) = wal(dir.path(), &["recover", "[dir]", "--mode", "point-in-time"]);
    assert_eq!(code, 0, "{dry_run}");
    let dropped = dry_run.lines().find(|line| line.starts_with("dropped:")).unwrap();
    let from = |text: &str, key: &str| -> u64 {
        let at = text.find(key).unwrap_or_else(|| panic!("{key:?} in {text}")) + key.len();
        text[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    assert_eq!(from(dropped, "records from LSN "), from(&text, "keep the records before LSN "));
    assert!(dropped.ends_with(", 1 later files"), "{dropped}");
    assert!(text.contains("and 1 segment file after it"), "{text}");
}

/// The anchor deleted from a log whose start `truncate_before` had moved: recovery would bring
/// the truncated records back (a new anchor starts the log at LSN 1). Not clean: exit 6.
#[test]
fn a_deleted_anchor_is_unexplained_never_clean() {
    let dir = fixture();
    {
        let (wal, _) = Wal::open(dir.path(), options()).unwrap();
        wal.truncate_before(Lsn(40)).unwrap();
    }
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 0, "intact before the deletion: {text}");
    std::fs::remove_file(dir.path().join(wal_core::ANCHOR_FILE_NAME)).unwrap();
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 6, "{text}");
    insta::assert_snapshot!("verify_deleted_anchor", text);
    let (code, stdout, stderr) = wal_split(dir.path(), &["dump", "[dir]", "--limit", "2"]);
    assert_eq!(code, 6, "{stdout}{stderr}");
    assert!(stdout.contains("\"hello\""), "every record from LSN 1: {stdout}");
    assert!(stderr.contains("missing"), "{stderr}");
    // Recovery indeed moves the start back to LSN 1.
    let (code, text) = wal(dir.path(), &["recover", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("(LSNs 1 to"), "{text}");
}

/// A file of random bytes named like the newest segment: recovery deletes it without a word.
/// `verify` says so (exit 6) and counts it as the dry run does.
#[test]
fn a_stray_segment_recovery_would_delete_is_reported_and_counted() {
    let dir = fixture();
    std::fs::write(segment(dir.path(), 9), noise(64 << 10, 11)).unwrap();
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 6, "{text}");
    insta::assert_snapshot!("verify_stray_segment", text);
    let (code, dry_run) = wal(dir.path(), &["recover", "[dir]"]);
    assert_eq!(code, 0, "{dry_run}");
    assert_eq!(reported(&dry_run, "segments deleted:"), 1, "{dry_run}");
    assert!(text.contains("delete 1 segment file (65536 bytes"), "{text}");
    // A zero-filled one (a segment a crash left before its first sync) is only repairable.
    std::fs::write(segment(dir.path(), 9), vec![0; 64 << 10]).unwrap();
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("never started"), "{text}");
}

/// What a crash leaves besides a torn tail: an index without its segment, a transaction never
/// ended. Recovery removes the one and aborts the other: repairable, with the same counts.
#[test]
fn orphan_indexes_and_open_transactions_are_changes_recovery_makes() {
    let dir = fixture();
    {
        let (wal, _) = Wal::open(dir.path(), options()).unwrap();
        let mut txn = wal.begin().unwrap();
        txn.delta(crate::TAG, b"never committed").unwrap();
        wal.sync().unwrap();
        // A crash before the commit: no abort is written.
        std::mem::forget(txn);
    }
    std::fs::write(dir.path().join(format!("{:020}.idx", 7)), [0u8; 16]).unwrap();
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 1, "{text}");
    insta::assert_snapshot!("verify_crash_leftovers", text);
    let (code, dry_run) = wal(dir.path(), &["recover", "[dir]"]);
    assert_eq!(code, 0, "{dry_run}");
    assert!(dry_run.contains("1 left open by a crash"), "{dry_run}");
}

/// Random bytes after the last record of the newest segment: a torn tail. `dump` shows every
/// record, then says the log ends in a torn write (exit 1, as `verify`).
#[test]
fn dump_names_a_torn_tail_after_the_last_record() {
    let dir = fixture();
    let last = segment(dir.path(), 1);
    let bytes = std::fs::read(&last).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    damage(&last, end + 8, &noise(200, 3));
    let (code, stdout, stderr) = wal_split(dir.path(), &["dump", "[dir]", "--from", "305"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 7, "a header and LSNs 305 to 310: {stdout}");
    insta::assert_snapshot!("dump_torn_tail", stderr);
}
