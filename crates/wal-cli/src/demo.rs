//! `wal demo`: what the log promises, shown on this machine. A child process runs writer
//! threads that commit key-value transactions under `Durability::Commit` (each acknowledged
//! only once durable) and checkpoint every second; after each acknowledgement a thread
//! appends the transaction's number to its own file. The child is killed with SIGKILL
//! mid-flight; the log is recovered and every acknowledged transaction looked up.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use wal_core::{Durability, Options};
use wal_snapshot::kv::KvStore;
use wal_snapshot::{Durable, SnapshotOptions};

/// Where the writer threads record what was acknowledged (beside the log's own files).
const ACKS: &str = "demo-acks";

fn options() -> SnapshotOptions {
    SnapshotOptions::default()
        .with_wal(Options::default().with_durability(Durability::Commit).with_housekeeping(None))
}

fn key(thread: u32, n: u64) -> Vec<u8> {
    format!("thread-{thread}/txn-{n}").into_bytes()
}

fn value(thread: u32, n: u64) -> Vec<u8> {
    format!("value of {thread}/{n}").repeat(4).into_bytes()
}

pub(crate) fn run(
    dir: Option<PathBuf>,
    threads: u32,
    seconds: f64,
    out: &mut dyn Write,
) -> Result<ExitCode, crate::Failure> {
    let dir = dir.unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        // Not the working directory: run from a checkout, the demo's tens of megabytes would
        // land in the working tree.
        std::env::temp_dir().join(format!("wal-demo-{stamp}-{}", std::process::id()))
    });
    if !seconds.is_finite() || !(0.1..=3600.0).contains(&seconds) {
        return Err(crate::Failure::Log(format!("--seconds {seconds}: give 0.1 to 3600")));
    }
    // A fresh directory: acknowledgements left by an earlier run would be counted again.
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(crate::Failure::Log(format!(
            "{}: not empty; the demo writes a new log (give a new directory, or none)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir.join(ACKS)).map_err(|e| failed(&dir.display().to_string(), e))?;
    writeln!(out, "log: {} ({threads} writer threads, Commit durability)", dir.display())?;
    // Killed however this function returns.
    let mut child = start_writer(&dir, threads)?;
    let killed_after = run_then_kill(&mut child, &dir, threads, seconds)?;
    let acked = acknowledged(&dir, threads);
    if acked.is_empty() {
        return Err(crate::Failure::Log("no transaction was acknowledged before the kill".into()));
    }
    writeln!(out, "killed the writer with SIGKILL after {:.1} s", killed_after.as_secs_f64())?;
    let lost = recover_and_look_up(&dir, &acked, killed_after, out)?;
    if lost > 0 {
        return Err(crate::Failure::Lost(lost));
    }
    writeln!(out, "every acknowledged transaction survived the kill")?;
    writeln!(
        out,
        "the log stays in {} (try `wal verify` or `wal stats` on it; delete it when done)",
        dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The failure of an I/O step of the demo, named by `what`.
fn failed(what: &str, error: std::io::Error) -> crate::Failure {
    crate::Failure::Log(format!("{what}: {error}"))
}

/// Starts the writer process on `dir` and waits until it says it is ready to commit.
fn start_writer(dir: &Path, threads: u32) -> Result<KillOnDrop, crate::Failure> {
    let exe = std::env::current_exe().map_err(|e| failed("this program's path", e))?;
    let child = Command::new(exe)
        .arg("demo-writer")
        .arg(dir)
        .args(["--threads", &threads.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed("starting the writer", e))?;
    let mut child = KillOnDrop(child);
    let mut ready = String::new();
    // Read in place: the pipe stays open, with the child, until the demo ends.
    let mut lines = BufReader::new(child.0.stdout.as_mut().expect("piped"));
    while ready.trim_end() != "ready" {
        ready.clear();
        if lines.read_line(&mut ready).map_err(|e| failed("the writer", e))? == 0 {
            return Err(crate::Failure::Log("the writer stopped before it was ready".into()));
        }
    }
    Ok(child)
}

/// Lets the writer commit for `seconds` (a progress bar counting the acknowledgements), then
/// kills it with SIGKILL; returns how long it ran.
fn run_then_kill(
    child: &mut KillOnDrop,
    dir: &Path,
    threads: u32,
    seconds: f64,
) -> Result<Duration, crate::Failure> {
    let started = Instant::now();
    let run_for = Duration::from_secs_f64(seconds.max(0.1));
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let bar = ProgressBar::new(millis(run_for));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    while started.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(200));
        bar.set_position(millis(started.elapsed()));
        bar.set_message(format!("{} transactions acknowledged", acknowledged(dir, threads).len()));
    }
    // The writer must still be running: a writer that stopped on its own tested nothing.
    if let Ok(Some(status)) = child.0.try_wait() {
        return Err(crate::Failure::Log(format!("the writer stopped before the kill: {status}")));
    }
    child.0.kill().map_err(|e| failed("killing the writer", e))?; // SIGKILL
    let killed_after = started.elapsed();
    let status = child.0.wait().map_err(|e| failed("the writer", e))?;
    bar.finish_and_clear();
    if std::os::unix::process::ExitStatusExt::signal(&status) != Some(9) {
        return Err(crate::Failure::Log(format!("the writer was not killed by SIGKILL: {status}")));
    }
    Ok(killed_after)
}

/// Recovers the log the kill left, looks up every acknowledged transaction in it, and writes
/// the figures; returns how many acknowledged transactions were lost.
fn recover_and_look_up(
    dir: &Path,
    acked: &[(u32, u64)],
    killed_after: Duration,
    out: &mut dyn Write,
) -> Result<u64, crate::Failure> {
    let recovery = Instant::now();
    let (store, report) = Durable::<KvStore>::open(dir, options())?;
    let recovery = recovery.elapsed();
    let lost = acked
        .iter()
        .filter(|&&(thread, n)| {
            store.read(|kv| kv.get(&key(thread, n)) != Some(&value(thread, n)[..]))
        })
        .count() as u64;
    let (_, units) = store.applied();
    let rate = acked.len() as f64 / killed_after.as_secs_f64();
    writeln!(out)?;
    writeln!(out, "  transactions acknowledged   {:>10}", acked.len())?;
    writeln!(
        out,
        "  transactions recovered      {units:>10}  (acknowledged ones, plus any committed but not yet acknowledged when killed)"
    )?;
    writeln!(out, "  acknowledged and lost       {lost:>10}")?;
    writeln!(
        out,
        "  commits per second          {rate:>10.0}  (each durable before it was acknowledged)"
    )?;
    writeln!(
        out,
        "  recovery                    {:>8.1} ms  ({} transactions replayed {})",
        recovery.as_secs_f64() * 1e3,
        report.replayed,
        report.snapshot.as_ref().map_or_else(
            || "from the log alone".to_owned(),
            |(path, _)| format!("after {}", path.file_name().unwrap_or_default().to_string_lossy())
        )
    )?;
    writeln!(out)?;
    Ok(lost)
}

/// The writer process, killed if the demo returns early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every (thread, number) a writer thread recorded as acknowledged (a line the kill cut short
/// is not counted: its transaction was acknowledged, but the record of that is incomplete).
fn acknowledged(dir: &Path, threads: u32) -> Vec<(u32, u64)> {
    let mut acked = Vec::new();
    for thread in 0..threads {
        let text = std::fs::read_to_string(dir.join(ACKS).join(format!("acked-{thread}")))
            .unwrap_or_default();
        let whole = text.split_inclusive('\n').filter(|line| line.ends_with('\n'));
        acked.extend(whole.filter_map(|line| line.trim().parse().ok()).map(|n| (thread, n)));
    }
    acked
}

/// The demo's writer process: commits until it is killed.
pub(crate) fn writer(dir: &Path, threads: u32) -> Result<ExitCode, crate::Failure> {
    let (store, _) = Durable::<KvStore>::open(dir, options())?;
    println!("ready");
    std::io::stdout().flush().map_err(crate::Failure::Output)?;
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let store = &store;
            scope.spawn(move || {
                let failed = |what: &str, error: &dyn std::fmt::Display| -> ! {
                    // The parent sees the writer stop before its kill and reports it.
                    eprintln!("wal demo-writer: thread {thread}: {what}: {error}");
                    std::process::exit(6)
                };
                let path = dir.join(ACKS).join(format!("acked-{thread}"));
                let mut acked = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .unwrap_or_else(|e| failed("its acknowledgement file", &e));
                for n in 0.. {
                    let put = KvStore::put(&key(thread, n), &value(thread, n));
                    if let Err(error) = store.execute(&[put.as_change()]) {
                        failed("execute", &error);
                    }
                    if let Err(error) = acked.write_all(format!("{n}\n").as_bytes()) {
                        failed("recording an acknowledgement", &error);
                    }
                }
            });
        }
        loop {
            std::thread::sleep(Duration::from_secs(1));
            store.checkpoint()?;
        }
    })
}
