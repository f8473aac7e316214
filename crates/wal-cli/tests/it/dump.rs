//! `wal dump`'s options: ranges checked against the log, `--limit`, the filters by kind, tag and
//! transaction, whole payloads in JSON, `--follow` on a log being written; and `--help`'s
//! list of exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{TAG, fixture, options, wal, wal_split};

#[test]
fn a_range_outside_the_log_is_a_usage_error_not_an_empty_listing() {
    let dir = fixture();
    {
        let (wal, _) = wal_core::Wal::open(dir.path(), options()).unwrap();
        wal.truncate_before(wal_core::Lsn(20)).unwrap();
    }
    let cases: [(&[&str], &str); 3] = [
        (&["--from", "400"], "--from 400 is past the end of the log: its last record is LSN 310"),
        (&["--from", "100", "--to", "50"], "--from 100 is after --to 50"),
        (&["--to", "10"], "--to 10 is before the log's start, LSN 20"),
    ];
    for (range, message) in cases {
        let args: Vec<&str> = ["dump", "[dir]"].iter().chain(range).copied().collect();
        let (code, stdout, stderr) = wal_split(dir.path(), &args);
        assert_eq!(code, 2, "{range:?}: {stdout}{stderr}");
        assert_eq!(stdout, "", "{range:?}: no header alone");
        assert!(stderr.contains(message), "{range:?}: {stderr}");
    }
}

#[test]
fn limit_and_filters_select_records() {
    let dir = fixture();
    let (code, text) = wal(dir.path(), &["dump", "[dir]", "--limit", "3"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.lines().count(), 4, "a header and 3 records: {text}");
    let (code, text) = wal(dir.path(), &["dump", "[dir]", "--txn", "1"]);
    assert_eq!(code, 0, "{text}");
    insta::assert_snapshot!("dump_txn_1", text);
    let (code, text) = wal(dir.path(), &["dump", "[dir]", "--tag", "delta", "--tag", "commit"]);
    assert_eq!(code, 0, "{text}");
    insta::assert_snapshot!("dump_deltas_and_commits", text);
    let (code, text) = wal(dir.path(), &["dump", "[dir]", "--tag", "0x41", "--limit", "2"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"hello\"") && text.lines().count() == 3, "{text}");
    let (code, text) = wal(dir.path(), &["dump", "[dir]", "--tag", "bogus"]);
    assert_eq!(code, 2, "{text}");
}

#[test]
fn json_shows_whole_payloads() {
    let dir = fixture();
    let (code, text) = wal(dir.path(), &["dump", "[dir]", "--json", "--from", "10", "--to", "10"]);
    assert_eq!(code, 0, "{text}");
    let hex = text.split("\"payload_hex\":\"").nth(1).unwrap().split('"').next().unwrap();
    assert_eq!(hex.len(), 2 * 800, "all 800 bytes: {text}");
}

/// `--follow` prints what is there, then each record as it is written, from another process
/// that holds the log open, until it is killed.
#[test]
fn follow_prints_records_as_they_are_written() {
    let dir = fixture();
    let (wal, _) = wal_core::Wal::open(dir.path(), options()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wal"))
        .args(["dump", dir.path().to_str().unwrap(), "--follow", "--json", "--from", "309"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| {
        seen.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no line: {what}"))
    };
    assert!(next("the last record there was").starts_with("{\"lsn\":309,"));
    assert!(next("the last record there was").starts_with("{\"lsn\":310,"));
    let lsn = wal.append(TAG, b"written while followed").unwrap();
    let line = next("the new record");
    assert!(line.starts_with(&format!("{{\"lsn\":{},", lsn.0)), "{line}");
    assert!(line.contains("\"payload_text\":\"written while followed\""), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn help_lists_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["verify", "--help"], &["dump", "--help"]] {
        let (code, text) = wal(dir.path(), args);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("Exit codes:"), "{args:?}: {text}");
        for code in ["0  clean", "1  only what a crash leaves", "3  corruption", "6  recovery"] {
            assert!(text.contains(code), "{args:?} lacks {code:?}: {text}");
        }
    }
}
