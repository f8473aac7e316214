//! The `wal` command on logs written by the library: intact, with a torn tail, and damaged
//! in the middle. Text output is compared with insta snapshots (the temporary directory's
//! path replaced by `[dir]`); exit codes and that nothing was changed are checked too.

mod damaged;
mod dump;
mod layout;
mod snapshot_aware;

use std::path::Path;
use std::process::Command;

use wal_core::{ChunkPreparation, Durability, Options, Tag, Wal};

const TAG: Tag = match Tag::user(0x41) {
    Some(tag) => tag,
    None => panic!("0x41 is a user tag"),
};

fn options() -> Options {
    Options::default()
        .with_chunk_bytes(64 << 10)
        .with_chunks_per_segment(2)
        .with_durability(Durability::Buffered)
        .with_preparation(ChunkPreparation::Inline)
        .with_housekeeping(None)
}

/// A log of plain records, a committed and an aborted transaction, across three segments.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), options()).unwrap();
    wal.append(TAG, b"hello").unwrap();
    wal.append(TAG, &[0xAB; 40]).unwrap();
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"put a=1").unwrap();
    txn.delta(TAG, b"put b=2").unwrap();
    txn.commit().unwrap();
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"put c=3").unwrap();
    txn.abort().unwrap();
    for n in 0..300u32 {
        wal.append(TAG, &n.to_le_bytes().repeat(200)).unwrap();
    }
    wal.sync().unwrap();
    dir
}

/// Runs `wal ARGS`; its exit code and standard output, then standard error, the directory
/// replaced by `[dir]`.
fn wal(dir: &Path, args: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = wal_split(dir, args);
    (code, stdout + &stderr)
}

/// Runs `wal ARGS`; its exit code, standard output and standard error, each with the directory
/// replaced by `[dir]` and checksums by `#`.
fn wal_split(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_wal"))
        .args(args.iter().map(|arg| arg.replace("[dir]", &dir.display().to_string())))
        .output()
        .unwrap();
    let clean = |bytes: Vec<u8>| {
        redact_checksums(
            &String::from_utf8(bytes).unwrap().replace(&dir.display().to_string(), "[dir]"),
        )
    };
    (output.status.code().unwrap_or(-1), clean(output.stdout), clean(output.stderr))
}

/// Frame checksums are salted per chunk (a new salt for every use of the space): their values
/// differ from run to run, so they are replaced by `#`.
fn redact_checksums(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["stored ", "computed "]
        .iter()
        .filter_map(|key| rest.find(key).map(|i| i + key.len()))
        .min()
    {
        out.push_str(&rest[..at]);
        let value = rest[at..].strip_prefix("0x").unwrap_or(&rest[at..]);
        let digits = value.len() - value.trim_start_matches(|c: char| c.is_ascii_hexdigit()).len();
        if digits == 0 {
            rest = &rest[at..];
            continue;
        }
        rest = &value[digits..];
        out.push('#');
    }
    out.push_str(rest);
    out
}

/// Every file's bytes, to show a command changed nothing.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The LSNs `wal dump --json` lists, in its order.
fn dumped_lsns(dir: &Path) -> Vec<u64> {
    let (code, text) = wal(dir, &["dump", "[dir]", "--json"]);
    assert_eq!(code, 0, "{text}");
    text.lines()
        .filter_map(|line| line.strip_prefix("{\"lsn\":")?.split(',').next()?.parse().ok())
        .collect()
}

fn segment(dir: &Path, id: u64) -> std::path::PathBuf {
    dir.join(format!("{id:020}.wal"))
}

#[test]
fn dump_lists_every_record_and_changes_nothing() {
    let dir = fixture();
    let before = contents(dir.path());
    let (code, text) = wal(dir.path(), &["dump", "[dir]", "--to", "12"]);
    assert_eq!(code, 0, "{text}");
    insta::assert_snapshot!("dump_text", text);
    let (code, json) = wal(dir.path(), &["dump", "[dir]", "--from", "3", "--to", "8", "--json"]);
    assert_eq!(code, 0, "{json}");
    insta::assert_snapshot!("dump_json", json);
    assert!(contents(dir.path()) == before, "dump changed the log");
}

#[test]
fn verify_and_stats_of_an_intact_log() {
    let dir = fixture();
    let before = contents(dir.path());
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    insta::assert_snapshot!("verify_clean", text);
    let (code, text) = wal(dir.path(), &["stats", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    insta::assert_snapshot!("stats", text);
    assert!(contents(dir.path()) == before, "verify or stats changed the log");
}

#[test]
fn a_torn_tail_is_repairable_and_mid_log_damage_is_corruption_named_by_file_and_offset() {
    // Garbage after the last record of the last segment: a torn tail.
    let dir = fixture();
    let last = segment(dir.path(), 1);
    let mut bytes = std::fs::read(&last).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    bytes[end + 8..end + 40].fill(0x5A);
    std::fs::write(&last, &bytes).unwrap();
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 1, "{text}");
    insta::assert_snapshot!("verify_torn_tail", text);
    let before = contents(dir.path());
    let (code, text) = wal(dir.path(), &["recover", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    insta::assert_snapshot!("recover_dry_run", text);
    assert!(contents(dir.path()) == before, "a dry run changed the log");

    // A flipped byte inside a record of the first (sealed) segment: corruption.
    let dir = fixture();
    let first = segment(dir.path(), 0);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[20_000] ^= 0x10;
    std::fs::write(&first, &bytes).unwrap();
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 3, "{text}");
    insta::assert_snapshot!("verify_corrupt", text);
    let (code, text) = wal(dir.path(), &["recover", "[dir]", "--mode", "point-in-time"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("dropped:"), "{text}");
}

#[test]
fn bad_paths_and_non_logs_give_a_clear_message_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let (code, text) = wal(dir.path(), &["verify", missing.to_str().unwrap()]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("nowhere"), "{text}");
    let (code, text) = wal(dir.path(), &["dump", "[dir]", "--from", "x"]);
    assert_eq!(code, 2, "{text}");
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 4, "an empty directory is not a log: {text}");
    assert!(text.contains("no log here"), "{text}");
}

#[test]
fn the_demo_loses_nothing_it_acknowledged_and_leaves_a_log_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("demo");
    let log_arg = log.to_str().unwrap();
    let (code, text) = wal(dir.path(), &["demo", log_arg, "--seconds", "0.5", "--threads", "2"]);
    println!("{text}");
    assert_eq!(code, 0, "{text}");
    let figure = |name: &str| -> u64 {
        let line = text.lines().find(|line| line.contains(name)).unwrap();
        line.split_whitespace().find_map(|word| word.parse().ok()).unwrap()
    };
    assert!(figure("transactions acknowledged") > 0, "{text}");
    assert_eq!(figure("acknowledged and lost"), 0, "{text}");
    // The recovered log verifies clean, even where the kill tore the end of a segment:
    // recovery cut it and went on in a new one.
    let (code, text) = wal(&log, &["verify", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = wal(&log, &["stats", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    // A second demo refuses a directory that already holds a log.
    let (code, text) = wal(dir.path(), &["demo", log_arg, "--seconds", "0.5"]);
    assert_eq!(code, 4, "{text}");
}

/// After `truncate_after` and `truncate_before` the log verifies clean: cut records and
/// records before the start are not shown, and the segments a later one superseded are not
/// taken for a gap.
#[test]
fn truncated_logs_verify_clean_and_dump_only_what_the_log_holds() {
    let dir = fixture();
    {
        let (wal, _) = Wal::open(dir.path(), options()).unwrap();
        wal.truncate_after(wal_core::Lsn(50)).unwrap();
        for n in 0..100u32 {
            wal.append(TAG, &n.to_le_bytes().repeat(150)).unwrap();
        }
        wal.truncate_before(wal_core::Lsn(20)).unwrap();
        wal.sync().unwrap();
    }
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    let lsns = dumped_lsns(dir.path());
    assert_eq!(lsns.first(), Some(&20), "the start");
    assert!(lsns.windows(2).all(|w| w[1] == w[0] + 1), "each LSN once, in order: {lsns:?}");
}

/// A log cut twice, with a segment the first cut superseded still on disk (a crash before its
/// deletion): the anchor names only the latest cut, and recovery learns the earlier one from
/// where the next segment starts. `verify` and `dump` must follow the same plan.
#[test]
fn a_superseded_segment_left_by_an_earlier_cut_is_not_judged_as_part_of_the_log() {
    let dir = fixture();
    let (superseded, first) = {
        let (wal, _) = Wal::open(dir.path(), options()).unwrap();
        drop(wal);
        // The last segment and where it starts.
        let inspector = wal_core::inspect::Inspector::open(dir.path()).unwrap();
        let plan = inspector.plan().unwrap().plan;
        let last = *plan.kept.last().unwrap();
        (last.id, last.first)
    };
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = [segment(dir.path(), (superseded).0)]
        .into_iter()
        .chain([dir.path().join(format!("{superseded:020}.idx"))])
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    let records = {
        let (wal, _) = Wal::open(dir.path(), options()).unwrap();
        // The first cut, below the segment's start: it is deleted, a new one starts there.
        wal.truncate_after(wal_core::Lsn(first.0 - 10)).unwrap();
        for n in 0..50u32 {
            wal.append(TAG, &n.to_le_bytes().repeat(150)).unwrap();
        }
        // The second cut, inside what followed: the anchor now names only this one.
        wal.truncate_after(wal_core::Lsn(first.0 + 20)).unwrap();
        wal.append(TAG, b"after both cuts").unwrap();
        wal.sync().unwrap();
        wal.next_lsn()
    };
    for (path, bytes) in &saved {
        assert!(!path.exists(), "the first cut deleted {}", path.display());
        std::fs::write(path, bytes).unwrap();
    }
    // Recovery would delete it: what an interrupted cut leaves, so repairable, and counted.
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("delete 1 segment file "), "{text}");
    let lsns = dumped_lsns(dir.path());
    assert!(lsns.windows(2).all(|w| w[1] == w[0] + 1), "each LSN once, in order: {lsns:?}");
    assert_eq!(lsns.last().map(|lsn| lsn + 1), Some(records.0), "up to the last record");
    let (code, text) = wal(dir.path(), &["stats", "[dir]"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("({} records)", lsns.len())), "{text}");
    // Seven of them are the fixture's two transactions.
    assert!(text.contains(&format!("entries:      {} plain records", lsns.len() - 7)), "{text}");
    // Recovery agrees: it deletes the superseded segment and keeps the same records.
    let (wal, report) = Wal::open(dir.path(), options()).unwrap();
    assert_eq!(report.segments_deleted, 1);
    assert_eq!(wal.next_lsn(), records);
}

/// A segment file shortened below records its index lists (`truncate -s`): the tools call it
/// corruption, never a torn tail that "loses nothing synced", and recovery refuses it in every
/// mode but point-in-time.
#[test]
fn a_segment_cut_short_below_indexed_records_is_corruption_in_every_tool() {
    let dir = fixture();
    let last = segment(dir.path(), 1);
    std::fs::OpenOptions::new().write(true).open(&last).unwrap().set_len(20_000).unwrap();
    let (code, text) = wal(dir.path(), &["verify", "[dir]"]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("cut") && !text.contains("loses nothing"), "{text}");
    for mode in ["tolerate-torn-tail", "absolute-consistency"] {
        let (code, text) = wal(dir.path(), &["recover", "[dir]", "--mode", mode]);
        assert_eq!(code, 3, "{mode}: {text}");
    }
    let (code, text) = wal(dir.path(), &["recover", "[dir]", "--mode", "point-in-time"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("dropped:"), "{text}");
}
