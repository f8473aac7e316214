//! `wal verify`: every segment, index and snapshot checked, without changing anything; the
//! exit code says clean (0), torn tail or stale index only (1), or corruption (3).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::check::{Verdict, check_log};

pub(crate) fn verify(dir: &Path, out: &mut dyn Write) -> Result<ExitCode, crate::Failure> {
    let segments = wal_core::inspect::Inspector::open(dir)?.segment_ids().len();
    let progress = crate::stats::progress_bar(segments as u64, "verifying");
    let check = check_log(dir, |_, _| progress.inc(1))?;
    progress.finish_and_clear();
    let records: usize = check.segments.iter().map(|s| s.records).sum();
    let bytes: u64 = check.segments.iter().map(|s| s.file_bytes).sum();
    writeln!(
        out,
        "{}: {} segments ({bytes} bytes, {records} records), {} snapshots",
        dir.display(),
        check.segments.len(),
        check.snapshots.len()
    )?;
    for finding in &check.findings {
        let level = match finding.verdict {
            Verdict::Clean => "ok",
            Verdict::TornTail => "repairable",
            Verdict::Corrupt => "CORRUPT",
        };
        writeln!(out, "{level}: {}: {}", finding.file.display(), finding.what)?;
    }
    let (verdict, code) = match check.verdict() {
        Verdict::Clean => ("clean: recovery would change nothing", 0),
        Verdict::TornTail => ("torn tail only: recovery repairs it and loses nothing synced", 1),
        Verdict::Corrupt => {
            ("corruption: recovery would refuse this log (see --mode point-in-time)", 3)
        }
    };
    writeln!(out, "{verdict}")?;
    Ok(ExitCode::from(code))
}
