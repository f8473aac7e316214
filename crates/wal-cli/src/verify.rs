//! `wal verify`: every segment, index and snapshot checked, without changing anything, and
//! every change recovery would make listed and counted. The exit code says clean (0), what a
//! crash leaves only (1), changes no crash explains (6), or corruption (3).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::check::check_log;
use crate::verdict::{Verdict, count};

pub(crate) fn verify(dir: &Path, out: &mut dyn Write) -> Result<ExitCode, crate::Failure> {
    let segments = crate::check::open_log(dir)?.segment_ids().len();
    let progress = crate::stats::progress_bar(segments as u64, "verifying");
    let check = check_log(dir, |_| progress.inc(1))?;
    progress.finish_and_clear();
    let records: usize = check.segments.iter().map(|s| s.records).sum();
    let bytes: u64 = check.segments.iter().map(|s| s.file_bytes).sum();
    writeln!(
        out,
        "{}: {} ({bytes} bytes, {}), {}",
        dir.display(),
        count(check.segments.len() as u64, "segment"),
        count(records as u64, "record"),
        count(check.snapshots.len() as u64, "snapshot"),
    )?;
    for finding in &check.findings {
        writeln!(out, "{}: {}: {}", finding.verdict.level(), finding.file.display(), finding.what)?;
    }
    let verdict = check.verdict();
    let changes = check.repair.lines();
    if !changes.is_empty() && verdict != Verdict::Corrupt {
        writeln!(out, "recovery would:")?;
        for change in changes {
            writeln!(out, "  {change}")?;
        }
    }
    if let Some(salvage) = &check.repair.salvage {
        writeln!(out, "{}", salvage.line())?;
    }
    let shown = dir.display();
    let summary = match verdict {
        Verdict::Clean => "clean: recovery would change nothing".to_owned(),
        Verdict::Repairable => format!(
            "repairable: only what a crash leaves; recovery makes the changes above and loses \
             nothing that was synced (`wal recover {shown}` shows it on a copy)"
        ),
        Verdict::Unexplained => format!(
            "unexplained: recovery would accept this log but make changes no crash explains \
             (above); copy the directory before `wal recover {shown} --apply`"
        ),
        Verdict::Corrupt => format!(
            "corruption: recovery refuses this log; `wal recover {shown} --mode point-in-time` \
             shows, on a copy, what keeping only the records before the damage would drop"
        ),
    };
    writeln!(out, "{summary}")?;
    Ok(ExitCode::from(verdict.exit_code()))
}
