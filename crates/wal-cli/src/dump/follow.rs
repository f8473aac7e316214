//! `wal dump --follow`: after the records there are, the ones written next, as they appear,
//! until interrupted (or `--limit`, `--to`), like `tail -f`.
//!
//! The engine's tailing reader (`Wal::tail_from`) needs the log open, which takes its lock and
//! runs recovery: a tool must not do that to a log another process writes. So this polls the
//! files read-only through `wal_core::inspect`, as the rest of `dump` reads them: every
//! [`POLL`], the plan again (a new segment may have started) and the segments from the next
//! LSN on (the newest one re-read whole). A record shows once its bytes are in the file, which
//! for a writer in another process means once it is published, synced or not.

use std::process::ExitCode;
use std::time::Duration;

use wal_core::inspect::Inspector;

use super::{Printer, report, walk};
use crate::verdict::Verdict;

/// How often the files are read again.
const POLL: Duration = Duration::from_millis(250);

pub(crate) fn follow(
    dir: &std::path::Path,
    printer: &mut Printer<'_>,
) -> Result<ExitCode, crate::Failure> {
    loop {
        printer.out.flush()?;
        if printer.done() {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(POLL);
        let inspector = Inspector::open(dir)?;
        let walked = walk(&inspector, printer, true)?;
        // A write under way is no finding here (`walk` is told the log is live); damage is,
        // and no later record can be read past it.
        if let Some(stop) = walked.stop.filter(|stop| stop.verdict == Verdict::Corrupt) {
            report(dir, &stop, walked.end);
            return Ok(ExitCode::from(stop.verdict.exit_code()));
        }
    }
}
