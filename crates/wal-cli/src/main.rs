//! `wal`: a crash-and-recover demo, and tools to look inside a log.
//!
//! - `wal demo [DIR]`: writers commit key-value transactions, a writer process is killed with
//!   SIGKILL mid-flight, the log is recovered and every acknowledged transaction checked.
//! - `wal dump DIR`, `wal verify DIR`, `wal stats DIR`: read the files as they are, through
//!   `wal_core::inspect`, and never change them (no lock, no recovery, no write).
//! - `wal recover DIR --mode MODE`: recovery in a chosen mode, on a copy unless `--apply`.
//!
//! Exit codes: 0 clean (or done), 1 a torn tail or a stale index only (recovery repairs it),
//! 2 usage, 3 corruption, 4 the log could not be read (bad path, I/O error), 5 the demo lost an
//! acknowledged transaction.

mod check;
mod demo;
mod dump;
mod recover;
mod stats;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use wal_core::Lsn;

#[derive(Parser)]
#[command(
    name = "wal",
    version,
    about = "A write-ahead log: a crash-and-recover demo, and tools to look inside a log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Commit transactions from several threads in a child process, kill it with SIGKILL,
    /// recover, and check that every acknowledged transaction survived.
    Demo {
        /// Where the log goes (default: a new directory under the current one).
        dir: Option<PathBuf>,
        /// Writer threads.
        #[arg(long, default_value_t = 4)]
        threads: u32,
        /// Seconds the writers run before the kill.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// One line per record: LSN, position, tag, transaction, length, payload preview.
    Dump {
        /// The log's directory.
        dir: PathBuf,
        /// First LSN shown (default: the log's start).
        #[arg(long)]
        from: Option<u64>,
        /// Last LSN shown.
        #[arg(long)]
        to: Option<u64>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check every segment, index and snapshot; report the file and offset of any damage.
    Verify {
        /// The log's directory.
        dir: PathBuf,
    },
    /// Segments, sizes, records, transactions by outcome, index coverage, snapshots.
    Stats {
        /// The log's directory.
        dir: PathBuf,
    },
    /// Run recovery in a chosen mode and report what it did (on a copy unless --apply).
    Recover {
        /// The log's directory.
        dir: PathBuf,
        /// What recovery may give up.
        #[arg(long, value_enum, default_value_t = Mode::TolerateTornTail)]
        mode: Mode,
        /// Recover the log itself, not a copy.
        #[arg(long)]
        apply: bool,
    },
    /// The demo's writer process (started by `wal demo`).
    #[command(hide = true)]
    DemoWriter {
        dir: PathBuf,
        #[arg(long)]
        threads: u32,
    },
}

/// `wal_core::RecoveryMode`, for the command line.
#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Cut a torn tail; refuse any other damage.
    TolerateTornTail,
    /// Refuse any damage, a torn tail included.
    AbsoluteConsistency,
    /// Keep everything before the first damage; drop the rest.
    PointInTime,
}

/// Why a command failed, and its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The log could not be read or recovered.
    Log(String),
    /// Writing the output failed (a closed pipe, say).
    Output(std::io::Error),
    /// The demo lost acknowledged transactions.
    Lost(u64),
}

impl From<wal_core::Error> for Failure {
    fn from(error: wal_core::Error) -> Self {
        Failure::Log(error.to_string())
    }
}

impl From<wal_snapshot::Error> for Failure {
    fn from(error: wal_snapshot::Error) -> Self {
        Failure::Log(error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = &mut std::io::stdout().lock();
    let result = match cli.command {
        Command::Demo { dir, threads, seconds } => demo::run(dir, threads, seconds, stdout),
        Command::DemoWriter { dir, threads } => demo::writer(&dir, threads),
        Command::Dump { dir, from, to, json } => {
            dump::dump(&dir, from.map(Lsn), to.map(Lsn), json, stdout).map(|()| ExitCode::SUCCESS)
        }
        Command::Verify { dir } => verify::verify(&dir, stdout),
        Command::Stats { dir } => stats::stats(&dir, stdout).map(|()| ExitCode::SUCCESS),
        Command::Recover { dir, mode, apply } => recover::recover(&dir, mode.into(), apply, stdout),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Log(message)) => {
            eprintln!("wal: {message}");
            ExitCode::from(4)
        }
        Err(Failure::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(Failure::Output(error)) => {
            eprintln!("wal: writing the output: {error}");
            ExitCode::from(4)
        }
        Err(Failure::Lost(lost)) => {
            eprintln!("wal: {lost} acknowledged transactions were lost");
            ExitCode::from(5)
        }
    }
}

impl From<Mode> for wal_core::RecoveryMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::TolerateTornTail => wal_core::RecoveryMode::TolerateTornTail,
            Mode::AbsoluteConsistency => wal_core::RecoveryMode::AbsoluteConsistency,
            Mode::PointInTime => wal_core::RecoveryMode::PointInTime,
        }
    }
}
