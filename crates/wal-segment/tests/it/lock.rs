//! The directory lock: one holder at a time, in this process or another, released on drop.

use std::process::Command;

use wal_segment::{DirLock, Error, RealStorage, SimStorage};

use crate::sim_dir;

#[test]
fn a_second_opener_in_this_process_gets_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = DirLock::acquire(&RealStorage, dir.path()).unwrap();
    match DirLock::acquire(&RealStorage, dir.path()) {
        Err(Error::Locked { dir: named }) => assert_eq!(named, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    DirLock::acquire(&RealStorage, dir.path()).unwrap();

    let storage = SimStorage::new();
    let held = DirLock::acquire(&storage, &sim_dir()).unwrap();
    assert!(matches!(DirLock::acquire(&storage, &sim_dir()), Err(Error::Locked { .. })));
    drop(held);
    DirLock::acquire(&storage, &sim_dir()).unwrap();
}

/// Starts a probe process on `dir`; returns it once it has answered, and whether it won (a
/// winner holds the lock until its standard input is closed).
fn probe(dir: &std::path::Path) -> (std::process::Child, bool) {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wal-lock-probe"))
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line == "won\n" || line == "locked\n", "{line:?}");
    (child, line == "won\n")
}

/// Whether another process can take the lock right now (it releases it at once).
fn other_process_can_lock(dir: &std::path::Path) -> bool {
    let (mut child, won) = probe(dir);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    won
}

#[test]
fn another_process_cannot_take_a_held_lock_and_can_after_release() {
    let dir = tempfile::tempdir().unwrap();
    let held = DirLock::acquire(&RealStorage, dir.path()).unwrap();
    assert!(!other_process_can_lock(dir.path()), "another process took a held lock");
    drop(held);
    assert!(other_process_can_lock(dir.path()), "the lock outlived its holder");
}

#[test]
fn the_lock_dies_with_its_holder_process_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, won) = probe(dir.path());
    assert!(won);
    assert!(matches!(DirLock::acquire(&RealStorage, dir.path()), Err(Error::Locked { .. })));
    child.kill().unwrap();
    child.wait().unwrap();
    // A process's record locks go with it: no window, no retry.
    DirLock::acquire(&RealStorage, dir.path()).expect("the lock died with its holder");
}

/// A log closed and reopened while other threads fork and exec children: a child forked while
/// the lock was held must not keep it held (an `flock` would, through the copy of the
/// descriptor the child holds until it execs), so every reopen succeeds at once.
#[test]
fn reopening_while_other_threads_spawn_processes_never_finds_the_lock_held() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spawners: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut spawned = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    Command::new("true").status().unwrap();
                    spawned += 1;
                }
                spawned
            })
        })
        .collect();
    let reopens = crate::reliability_count(2_000, 20_000);
    for round in 0..reopens {
        let held = DirLock::acquire(&RealStorage, dir.path())
            .unwrap_or_else(|error| panic!("reopen {round}: {error}"));
        drop(held);
    }
    stop.store(true, Ordering::Relaxed);
    let spawned: u64 = spawners.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(spawned > 0);
    println!("lock reopened {reopens} times while {spawned} processes were spawned: never locked");
}

/// Starts `count` processes that all try to open `dir` at once; returns how many won. Winners
/// hold the lock until every racer has answered, so no timing decides the outcome.
fn race(dir: &std::path::Path, count: usize) -> usize {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut probes: Vec<_> = (0..count)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_wal-lock-probe"))
                .arg(dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let answers: Vec<String> = probes
        .iter_mut()
        .map(|probe| {
            let mut line = String::new();
            std::io::BufReader::new(probe.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
            line
        })
        .collect();
    for mut probe in probes {
        drop(probe.stdin.take()); // lets a winner release the lock and exit
        assert!(probe.wait().unwrap().success());
    }
    assert!(answers.iter().all(|a| a == "won\n" || a == "locked\n"), "{answers:?}");
    answers.iter().filter(|answer| answer.as_str() == "won\n").count()
}

#[test]
fn processes_racing_to_open_one_directory_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let mut rounds = 0;
    for _ in 0..crate::reliability_count(200, 1_000) {
        assert_eq!(race(dir.path(), 6), 1, "exactly one of the racing processes holds the lock");
        rounds += 1;
    }
    println!(
        "lock races: {rounds} rounds of 6 processes ({} opens), exactly one winner in each",
        rounds * 6
    );
}
