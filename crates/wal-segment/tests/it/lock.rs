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

/// Tries the lock from another process with flock(1), which uses the same `flock` lock.
fn other_process_can_lock(dir: &std::path::Path) -> bool {
    let status = Command::new("flock")
        .args(["--nonblock", "--exclusive"])
        .arg(dir.join("LOCK"))
        .arg("true")
        .status()
        .expect("flock(1) from util-linux is installed");
    status.success()
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
fn the_lock_dies_with_its_holder_process() {
    let dir = tempfile::tempdir().unwrap();
    // A child process takes the lock and is killed while holding it. (`--close` keeps its
    // `sleep` from inheriting the locked descriptor, so the kill really ends the holder.)
    let mut child = Command::new("flock")
        .args(["--exclusive", "--close"])
        .arg(dir.path().join("LOCK"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // Wait (bounded) until the child holds it.
    while other_process_can_lock(dir.path()) {
        assert!(std::time::Instant::now() < deadline, "child never took the lock");
        std::thread::yield_now();
    }
    assert!(matches!(DirLock::acquire(&RealStorage, dir.path()), Err(Error::Locked { .. })));
    child.kill().unwrap();
    child.wait().unwrap();
    // flock(1) forks its command and the fork closes its copy of the descriptor just before
    // exec; a kill inside that window leaves the copy open a moment longer. Bounded wait.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match DirLock::acquire(&RealStorage, dir.path()) {
            Ok(_) => break,
            Err(Error::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(error) => panic!("the lock outlived its holder: {error}"),
        }
    }
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
