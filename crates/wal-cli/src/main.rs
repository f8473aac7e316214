//! `wal`: a crash-and-recover demo, and tools to look inside a log.
//!
//! - `wal demo [DIR]`: writers commit key-value transactions, a writer process is killed with
//!   SIGKILL mid-flight, the log is recovered and every acknowledged transaction checked.
//! - `wal dump DIR`, `wal verify DIR`, `wal stats DIR`: read the files as they are, through
//!   `wal_core::inspect`, and never change them (no lock, no recovery, no write).
//! - `wal recover DIR --mode MODE`: recovery in a chosen mode, on a copy unless `--apply`.
//!
//! Exit codes ([`EXIT_CODES`], shown by `--help`): 0 clean (or done), 1 only what a crash
//! leaves (recovery repairs it), 2 usage, 3 corruption, 4 the log could not be read (bad path,
//! I/O error), 5 the demo lost an acknowledged transaction, 6 recovery would make changes no
//! crash explains (a stray segment file, a missing anchor).

mod check;
mod demo;
mod dump;
mod recover;
mod repair;
mod stats;
mod verdict;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use wal_core::Lsn;

/// The exit codes, as `--help` lists them (the README lists the same).
const EXIT_CODES: &str = "\
Exit codes:
  0  clean: nothing to report (verify: recovery would change nothing), or done
  1  only what a crash leaves: a torn tail, a stale index, files of an interrupted prune or
     cut, open transactions; recovery repairs it and loses nothing that was synced
  2  usage: a bad argument, or a range (--from, --to) outside the log
  3  corruption: damage recovery refuses (the file, offset and what to do are printed)
  4  the log could not be read: no log there, a bad path, an I/O error, a locked directory
  5  the demo lost an acknowledged transaction
  6  recovery would accept the log but make changes no crash explains: a stray segment
     file it would delete, a missing anchor it would recreate (the start is then unknown)";

#[derive(Parser)]
#[command(
    name = "wal",
    version,
    about = "A write-ahead log: a crash-and-recover demo, and tools to look inside a log",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Commit transactions from several threads in a child process, kill it with SIGKILL,
    /// recover, and check that every acknowledged transaction survived.
    #[command(after_help = EXIT_CODES)]
    Demo {
        /// Where the log goes (default: a new directory under the system's temporary
        /// directory, printed at the start).
        dir: Option<PathBuf>,
        /// Writer threads.
        #[arg(long, default_value_t = 4)]
        threads: u32,
        /// Seconds the writers run before the kill.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// One line per record: LSN, position, kind, transaction, length, payload (a preview in
    /// text, whole in JSON). Stops at damage, saying where, with a non-zero exit.
    #[command(after_help = EXIT_CODES)]
    Dump {
        /// The log's directory.
        dir: PathBuf,
        /// First LSN shown (default: the log's start).
        #[arg(long)]
        from: Option<u64>,
        /// Last LSN shown.
        #[arg(long)]
        to: Option<u64>,
        /// At most this many records.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Only records of this kind (record, begin, delta, commit, abort, seal) or tag (a
        /// number such as 65 or 0x41, matching a record's or delta's own tag, or a system tag's
        /// name such as TXN_BEGIN); repeat for any of several.
        #[arg(long, value_name = "KIND|TAG", value_parser = dump::TagFilter::parse)]
        tag: Vec<dump::TagFilter>,
        /// Only the records of this transaction (begin, deltas, commit or abort).
        #[arg(long, value_name = "ID")]
        txn: Option<u64>,
        /// One JSON object per line, with the whole payload in hex (and as text when it is
        /// printable UTF-8).
        #[arg(long)]
        json: bool,
        /// After the last record, keep printing records as they are written, until
        /// interrupted (reads the files every 250 ms; takes no lock).
        #[arg(long)]
        follow: bool,
    },
    /// Check every segment, index and snapshot; report the file and offset of any damage,
    /// and every change recovery would make, counted.
    #[command(after_help = EXIT_CODES)]
    Verify {
        /// The log's directory.
        dir: PathBuf,
    },
    /// Segments, sizes, records, transactions by outcome, index coverage, snapshots.
    #[command(after_help = EXIT_CODES)]
    Stats {
        /// The log's directory.
        dir: PathBuf,
    },
    /// Run recovery in a chosen mode and report what it did (on a copy unless --apply).
    #[command(after_help = EXIT_CODES)]
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
    /// Keep everything before the first damage; drop the rest. With snapshots in the
    /// directory, damage below the newest one's point is cut from the front instead, and a
    /// recovery that would end the log before that point is refused.
    PointInTime,
}

/// Why a command failed, and its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The log could not be read or recovered.
    Log(String),
    /// The arguments ask for something the log cannot give (a range outside it).
    Usage(String),
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

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Output(error)
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
        Command::Dump { dir, from, to, limit, tag, txn, json, follow } => {
            let request = dump::Request {
                from: from.map(Lsn),
                to: to.map(Lsn),
                limit,
                json,
                follow,
                tags: tag,
                txn,
            };
            dump::dump(&dir, &request, stdout)
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
        Err(Failure::Usage(message)) => {
            eprintln!("wal: {message}");
            ExitCode::from(2)
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
