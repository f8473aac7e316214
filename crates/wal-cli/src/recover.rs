//! `wal recover`: recovery in a chosen mode, reported. A dry run by default: recovery runs on
//! a copy of the log's files in a temporary directory, and the log itself is left as it was;
//! `--apply` recovers the log itself (taking its lock like any opener).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use wal_core::{Options, RecoveryMode, Wal};

pub(crate) fn recover(
    dir: &Path,
    mode: RecoveryMode,
    apply: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, crate::Failure> {
    if !dir.is_dir() {
        return Err(crate::Failure::Log(format!("{}: not a directory", dir.display())));
    }
    let copy = if apply { None } else { Some(copy_log(dir)?) };
    let target = copy.as_ref().map_or(dir, tempfile::TempDir::path);
    // The engine reads each segment with the layout its files state; no background threads
    // for a one-shot recovery.
    let options = Options::default().with_recovery(mode).with_housekeeping(None);
    let what = if apply { "recovered" } else { "dry run (on a copy; the log is unchanged)" };
    // The copy's path means nothing to the reader: name the log's own files instead.
    let show = |text: &str| text.replace(&target.display().to_string(), &dir.display().to_string());
    // Only a log is recovered: a directory without one is refused, and nothing is created.
    match Wal::open_existing(target, options) {
        Ok((wal, report)) => {
            print_report(out, what, dir, &report, &show)?;
            drop(wal);
            Ok(ExitCode::SUCCESS)
        }
        // The log could not be read or locked, or there is none: not a verdict on its contents.
        Err(
            error @ (wal_core::Error::Segment(
                wal_core::SegmentError::Io { .. } | wal_core::SegmentError::Locked { .. },
            )
            | wal_core::Error::NotALog { .. }
            | wal_core::Error::NotFound { .. }
            | wal_core::Error::NotADirectory { .. }),
        ) => Err(crate::Failure::Log(show(&error.to_string()))),
        Err(error) => {
            writeln!(out, "{}", refusal(dir, apply, &show(&error.to_string())))?;
            Ok(ExitCode::from(3))
        }
    }
}

/// What recovery found and did, in the command's words (`show` names the log's own files).
fn print_report(
    out: &mut dyn Write,
    what: &str,
    dir: &Path,
    report: &wal_core::RecoveryReport,
    show: &dyn Fn(&str) -> String,
) -> std::io::Result<()> {
    writeln!(out, "{what}: {}", dir.display())?;
    writeln!(out, "segments:          {}", report.segments)?;
    writeln!(
        out,
        "records:           {} (LSNs {} to {})",
        report.records,
        report.start,
        report.end.0.saturating_sub(1)
    )?;
    writeln!(
        out,
        "transactions:      {} committed, {} aborted, {} left open by a crash (closed with an abort)",
        report.committed, report.aborted, report.unfinished
    )?;
    writeln!(
        out,
        "torn tail cut:     {} bytes{}",
        report.bytes_cut,
        report
            .torn_tail
            .as_ref()
            .map_or_else(String::new, |why| format!(" ({})", show(&why.to_string())))
    )?;
    writeln!(out, "indexes rebuilt:   {}", report.indexes_rebuilt)?;
    writeln!(out, "segments deleted:  {}", report.segments_deleted)?;
    if let Some(dropped) = &report.dropped {
        writeln!(
            out,
            "dropped:           records from LSN {} on ({}: {}), {} later files",
            dropped.from,
            show(&dropped.path.display().to_string()),
            show(&dropped.damage.to_string()),
            dropped.later_segments
        )?;
    }
    Ok(())
}

/// What a refused recovery did and did not do, why it refused, and what to do next.
fn refusal(dir: &Path, apply: bool, why: &str) -> String {
    let shown = dir.display();
    let next = format!(
        "next: `wal verify {shown}` lists every finding; `wal recover {shown} --mode \
         point-in-time` shows, on a copy, what keeping only the records before the damage would \
         drop"
    );
    if !apply {
        return format!(
            "dry run (on a copy; the log is unchanged): recovery would refuse the log: {why}\n{next}"
        );
    }
    // Recovery fails before its deletions, cuts and aborts; by then opening has made the anchor
    // durable again (creating a missing one), and may have rewritten the index of a segment
    // before the damage from that segment's own data.
    format!(
        "recovery refused the log: {why}\nnothing was cut, deleted or appended (opening made the \
         anchor durable again, creating it if it was missing, and may have rewritten an index \
         from its own segment's data)\n{next}"
    )
}

/// Copies the log's files (not its lock) into a new temporary directory.
fn copy_log(dir: &Path) -> Result<tempfile::TempDir, crate::Failure> {
    let failed =
        |what: &str, error: std::io::Error| crate::Failure::Log(format!("{what}: {error}"));
    let copy = tempfile::tempdir().map_err(|e| failed("a temporary directory", e))?;
    for entry in std::fs::read_dir(dir).map_err(|e| failed(&dir.display().to_string(), e))? {
        let path = entry.map_err(|e| failed(&dir.display().to_string(), e))?.path();
        if path.is_file() && path.file_name().is_some_and(|name| name != "LOCK") {
            let to = copy.path().join(path.file_name().unwrap_or_default());
            std::fs::copy(&path, to).map_err(|e| failed(&path.display().to_string(), e))?;
        }
    }
    Ok(copy)
}
