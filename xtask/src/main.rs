//! Developer workflows, run as `cargo xtask <command>`.
//!
//! - `ci`: the one gate: formatting, the tidy rules, clippy, tests, docs, the layering and
//!   module-loop checks, and a short fuzz smoke run when a nightly toolchain with cargo-fuzz is
//!   installed.
//! - `fuzz [--seconds N] [TARGET...]`: runs the cargo-fuzz targets (nightly).
//! - `torture [--minutes N]`: the long reliability run: every test in release with the full
//!   counts of `docs/RELIABILITY.md` (`WAL_TORTURE=1`), the real-filesystem cases that need
//!   root, then every fuzz target for a share of N minutes (10 by default).
//! - `bench`: runs the benchmarks (codec, segment sync, engine W1-W5, telemetry cost, W6
//!   recovery, and the comparison with peers, which also writes `docs/peers.svg`) and prints
//!   the tables for `docs/PERFORMANCE.md`.
//! - `layering`: checks the crate dependency graph against `docs/ARCHITECTURE.md`, and that no
//!   crate's modules import each other in a loop.
//! - `tidy`: the house rules no compiler checks (`tidy.rs`).
//!
//! This program only orchestrates cargo; it holds no project logic beyond those rules.

mod bench_report;
mod code_map;
mod layering;
mod modules;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Seconds each fuzz target runs in the CI smoke run.
const CI_FUZZ_SECONDS: u32 = 20;
/// Seconds each fuzz target runs when `cargo xtask fuzz` is given no `--seconds`.
const DEFAULT_FUZZ_SECONDS: u32 = 60;
const FUZZ_TARGETS: [&str; 5] =
    ["decode_frame", "decode_stream", "round_trip", "damaged_log", "op_model"];
/// Minutes of fuzzing in `cargo xtask torture` when it is given no `--minutes`.
const DEFAULT_TORTURE_MINUTES: u32 = 10;
/// Histories and cases of every proptest in the torture run.
const TORTURE_PROPTEST_CASES: &str = "10000";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz_command(&args[1..]),
        Some("bench") => bench(),
        Some("layering") => layering::check_workspace(&workspace_root())
            .and_then(|()| modules::check_workspace(&workspace_root())),
        Some("tidy") => tidy::check_workspace(&workspace_root()),
        Some("loom") => loom(),
        Some("torture") => torture_command(&args[1..]),
        _ => {
            Err("usage: cargo xtask <ci | fuzz [--seconds N] [TARGET...] | torture [--minutes N] \
                  | bench | layering | tidy | loom>"
                .into())
        }
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
    step("tidy", || tidy::check_workspace(&workspace_root()))?;
    step("clippy", || {
        cargo(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"], &[])
    })?;
    step("test", || cargo(&["test", "--workspace", "--locked"], &test_env))?;
    // wal-core's optional `Tail` as a `Stream`: linted and tested with the feature on.
    step("stream feature", || {
        let features = ["-p", "wal-core", "--all-targets", "--features", "stream", "--locked"];
        cargo(&[&["clippy"], &features[..], &["--", "-D", "warnings"]].concat(), &[])?;
        cargo(&[&["test"], &features[..], &["--", "async_commit"]].concat(), &test_env)
    })?;
    step("loom", loom)?;
    step("doc", || {
        cargo(&["doc", "--workspace", "--no-deps", "--locked"], &[("RUSTDOCFLAGS", "-D warnings")])
    })?;
    step("layering", || layering::check_workspace(&workspace_root()))?;
    step("module loops", || modules::check_workspace(&workspace_root()))?;
    // The comparison harness at 1/100 of the records: that every system and cell still runs.
    step("peer bench (quick)", || {
        cargo(
            &["bench", "--locked", "--package", "wal-benches", "--bench", "peers"],
            &[("WAL_BENCH_SCALE", "100")],
        )
    })?;
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
    cargo(&["bench", "--package", "wal-benches", "--bench", "recovery"], &[])?;
    let plot = workspace_root().join("docs").join("peers.svg");
    let plot = plot.to_str().ok_or("the docs path is not UTF-8")?;
    cargo(&["bench", "--package", "wal-benches", "--bench", "peers"], &[("WAL_BENCH_PLOT", plot)])?;
    cargo(&["bench", "--package", "wal-raft", "--bench", "append"], &[])
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

fn torture_command(args: &[String]) -> Result {
    let minutes = match args {
        [] => DEFAULT_TORTURE_MINUTES,
        [flag, value] if flag == "--minutes" => {
            value.parse().map_err(|_| format!("--minutes: not a number: {value}"))?
        }
        _ => return Err("usage: cargo xtask torture [--minutes N]".into()),
    };
    let started = Instant::now();
    println!("xtask: torture run on {}", machine_description());
    install_xfsprogs();
    step("tests at torture counts (release)", || {
        cargo(
            &[
                "test",
                "--workspace",
                "--locked",
                "--release",
                "--no-fail-fast",
                "--",
                "--nocapture",
            ],
            &[("WAL_TORTURE", "1"), ("PROPTEST_CASES", TORTURE_PROPTEST_CASES)],
        )
    })?;
    step("loom", loom)?;
    if fuzz_available() {
        let targets = u32::try_from(FUZZ_TARGETS.len()).expect("a few targets");
        let seconds = (minutes * 60 / targets).max(1);
        step("fuzz", || fuzz(seconds, &FUZZ_TARGETS))?;
    } else {
        println!("xtask: fuzzing skipped: no nightly toolchain with cargo-fuzz");
    }
    println!("xtask: torture run passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The kernel, cores and date, for the report.
fn machine_description() -> String {
    let output = |program: &str, args: &[&str]| {
        Command::new(program).args(args).output().ok().map_or_else(
            || format!("({program} unavailable)"),
            |out| String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    };
    format!(
        "{}, {} cores, {}",
        output("uname", &["-srm"]),
        output("nproc", &[]),
        output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    )
}

/// The xfs case of the disk-full figure needs `mkfs.xfs`: installed when missing and this
/// runs as root with apt; otherwise the test prints why it skipped.
fn install_xfsprogs() {
    let present = |program: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if present("mkfs.xfs") || !present("apt-get") {
        return;
    }
    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-qq", "xfsprogs"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|status| status.success());
    println!("xtask: installing xfsprogs for the xfs disk-full case: {installed}");
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
            // No single allocation above 64 MiB: every input is far smaller, so a bigger
            // one would be sized by a length read from the input.
            .args(["--", &max_time, "-malloc_limit_mb=64", "-print_final_stats=1"]))?;
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
