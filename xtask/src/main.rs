//! Developer workflows, run as `cargo xtask <command>`.
//!
//! - `ci`: the one gate: formatting, clippy, tests, docs, the layering check, and a short fuzz smoke
//!   run when a nightly toolchain with cargo-fuzz is installed.
//! - `fuzz [--seconds N] [TARGET...]`: runs the cargo-fuzz targets (nightly).
//! - `bench`: runs the benchmarks (codec, segment sync, engine W1-W5, telemetry cost, W6
//!   recovery) and prints
//!   the tables for `docs/PERFORMANCE.md`.
//! - `layering`: checks the crate dependency graph against `docs/ARCHITECTURE.md`.
//!
//! This program only orchestrates cargo; it holds no project logic beyond the layering rule.

mod bench_report;
mod layering;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Seconds each fuzz target runs in the CI smoke run.
const CI_FUZZ_SECONDS: u32 = 20;
/// Seconds each fuzz target runs when `cargo xtask fuzz` is given no `--seconds`.
const DEFAULT_FUZZ_SECONDS: u32 = 60;
const FUZZ_TARGETS: [&str; 3] = ["decode_frame", "decode_stream", "round_trip"];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz_command(&args[1..]),
        Some("bench") => bench(),
        Some("layering") => layering::check_workspace(&workspace_root()),
        Some("loom") => loom(),
        _ => Err(
            "usage: cargo xtask <ci | fuzz [--seconds N] [TARGET...] | bench | layering | loom>"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result {
    // Snapshots are never accepted by CI itself: a changed one fails the run.
    let test_env = [("INSTA_UPDATE", "no"), ("CI", "true"), ("PROPTEST_CASES", "512")];
    step("fmt", || cargo(&["fmt", "--all", "--", "--check"], &[]))?;
    step("clippy", || {
        cargo(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"], &[])
    })?;
    step("test", || cargo(&["test", "--workspace", "--locked"], &test_env))?;
    step("loom", loom)?;
    step("doc", || {
        cargo(&["doc", "--workspace", "--no-deps", "--locked"], &[("RUSTDOCFLAGS", "-D warnings")])
    })?;
    step("layering", || layering::check_workspace(&workspace_root()))?;
    if fuzz_available() {
        step("fuzz smoke", || fuzz(CI_FUZZ_SECONDS, &FUZZ_TARGETS))
    } else {
        println!("xtask: fuzz smoke skipped: no nightly toolchain with cargo-fuzz");
        Ok(())
    }
}

/// The loom models of the handle registry and segment release (wal-telemetry), the
/// publication watermark (wal-segment) and group commit (wal-core):
/// every interleaving of a few threads. A separate target directory keeps `--cfg loom` builds
/// from invalidating the normal ones.
fn loom() -> Result {
    let target = workspace_root().join("target").join("loom");
    let target = target.to_str().ok_or("the target path is not UTF-8")?;
    cargo(
        &[
            "test",
            "--locked",
            "--release",
            "-p",
            "wal-telemetry",
            "-p",
            "wal-segment",
            "-p",
            "wal-core",
            "--lib",
            "--target-dir",
            target,
            "loom",
        ],
        &[("RUSTFLAGS", "--cfg loom"), ("LOOM_MAX_PREEMPTIONS", "3")],
    )
}

fn step(name: &str, run: impl FnOnce() -> Result) -> Result {
    println!("xtask: == {name}");
    let started = Instant::now();
    run().map_err(|error| format!("{name} failed: {error}"))?;
    println!("xtask: == {name} ok ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn bench() -> Result {
    cargo(&["bench", "--package", "wal-benches", "--bench", "codec"], &[])?;
    bench_report::print_codec_report(&workspace_root().join("target/criterion"))?;
    cargo(&["bench", "--package", "wal-benches", "--bench", "codec_paired"], &[])?;
    cargo(&["bench", "--package", "wal-benches", "--bench", "segment_sync"], &[])?;
    cargo(&["bench", "--package", "wal-benches", "--bench", "engine"], &[])?;
    cargo(&["bench", "--package", "wal-benches", "--bench", "telemetry"], &[])?;
    cargo(&["bench", "--package", "wal-benches", "--bench", "recovery"], &[])
}

fn fuzz_command(args: &[String]) -> Result {
    let mut seconds = DEFAULT_FUZZ_SECONDS;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            let value = args.next().ok_or("--seconds needs a value")?;
            seconds = value.parse().map_err(|_| format!("--seconds: not a number: {value}"))?;
        } else if FUZZ_TARGETS.contains(&arg.as_str()) {
            targets.push(arg.as_str());
        } else {
            return Err(format!("unknown fuzz target {arg}; targets: {FUZZ_TARGETS:?}"));
        }
    }
    if !fuzz_available() {
        return Err("fuzzing needs a nightly toolchain and `cargo install cargo-fuzz`".into());
    }
    if targets.is_empty() {
        targets.extend(FUZZ_TARGETS);
    }
    fuzz(seconds, &targets)
}

fn fuzz_available() -> bool {
    Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(workspace_root())
        .output()
        .is_ok_and(|output| output.status.success())
}

fn fuzz(seconds: u32, targets: &[&str]) -> Result {
    let fuzz_dir = workspace_root().join("fuzz");
    for target in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .map_err(|error| format!("{}: {error}", corpus.display()))?;
        let seeds = fuzz_dir.join("seeds");
        let max_time = format!("-max_total_time={seconds}");
        run(Command::new("cargo")
            .current_dir(&fuzz_dir)
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .arg(&seeds)
            .args(["--", &max_time, "-print_final_stats=1"]))?;
    }
    Ok(())
}

fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root()).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    run(&mut command)
}

fn run(command: &mut Command) -> Result {
    let status = command.status().map_err(|error| format!("{command:?}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} exited with {status}")) }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}
