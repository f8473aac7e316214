//! `wal recover`: recovery in a chosen mode, reported. A dry run by default: recovery runs on
//! a copy of the log's files in a temporary directory, and the log itself is left as it was;
//! `--apply` recovers the log itself (taking its lock like any opener).
//!
//! In a directory with snapshots it recovers as `wal_snapshot::Durable::open` does, and never
//! leaves a log the snapshot layer refuses: damage below the newest valid snapshot's point is
//! cut from the front of the log; point-in-time recovery that would end the log before that
//! point is refused (exit 3).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wal_core::inspect::AnchorState;
use wal_core::{Lsn, Options, RealStorage, RecoveryMode, RecoveryReport, Wal};
use wal_snapshot::{LogOpening, SnapshotHeader, recover_log, snapshot_file_name};

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
    let run = Run { dir, target, apply };
    let newest =
        crate::check::snapshots(target, &mut Vec::new())?.into_iter().rev().find_map(|snapshot| {
            let header = snapshot.header.ok()?;
            let named = snapshot.path.ends_with(snapshot_file_name(header.next_lsn));
            named.then_some((snapshot.path, header))
        });
    match newest {
        Some(newest) => with_snapshots(&run, options, &newest, out),
        // Only a log is recovered: a directory without one is refused, and nothing is created.
        None => match Wal::open_existing(target, options) {
            Ok((wal, report)) => {
                run.report(&report, out)?;
                drop(wal);
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => run.refused(&error.into(), out),
        },
    }
}

/// One `wal recover`: the log's directory, the one recovered (a copy unless `apply`).
struct Run<'a> {
    dir: &'a Path,
    target: &'a Path,
    apply: bool,
}

impl Run<'_> {
    /// `text` with the copy's path replaced by the log's: the copy means nothing to the reader.
    fn show(&self, text: &str) -> String {
        text.replace(&self.target.display().to_string(), &self.dir.display().to_string())
    }

    /// What recovery found and did.
    fn report(&self, report: &RecoveryReport, out: &mut dyn Write) -> std::io::Result<()> {
        let what =
            if self.apply { "recovered" } else { "dry run (on a copy; the log is unchanged)" };
        writeln!(out, "{what}: {}", self.dir.display())?;
        writeln!(out, "segments:          {}", report.segments)?;
        let last = report.end.0.saturating_sub(1);
        writeln!(out, "records:           {} (LSNs {} to {last})", report.records, report.start)?;
        writeln!(
            out,
            "transactions:      {} committed, {} aborted, {} left open by a crash (closed with an abort)",
            report.committed, report.aborted, report.unfinished
        )?;
        let why = report.torn_tail.as_ref();
        let why = why.map_or_else(String::new, |why| format!(" ({})", self.show(&why.to_string())));
        writeln!(out, "torn tail cut:     {} bytes{why}", report.bytes_cut)?;
        writeln!(out, "indexes rebuilt:   {}", report.indexes_rebuilt)?;
        writeln!(out, "segments deleted:  {}", report.segments_deleted)?;
        if let Some(dropped) = &report.dropped {
            writeln!(
                out,
                "dropped:           records from LSN {} on ({}: {}), {} later files",
                dropped.from,
                self.show(&dropped.path.display().to_string()),
                self.show(&dropped.damage.to_string()),
                dropped.later_segments
            )?;
        }
        Ok(())
    }

    /// A refused recovery: exit 3, or 4 when the log could not be read or locked (not a verdict
    /// on its contents).
    fn refused(
        &self,
        error: &wal_snapshot::Error,
        out: &mut dyn Write,
    ) -> Result<ExitCode, crate::Failure> {
        use wal_core::SegmentError::{Io, Locked};
        // The log could not be read or locked, or there is none: not a verdict on its contents.
        match error {
            wal_snapshot::Error::Wal(
                wal_core::Error::Segment(Io { .. } | Locked { .. })
                | wal_core::Error::NotALog { .. }
                | wal_core::Error::NotFound { .. }
                | wal_core::Error::NotADirectory { .. },
            )
            | wal_snapshot::Error::Io { .. } => {
                Err(crate::Failure::Log(self.show(&error.to_string())))
            }
            _ => {
                writeln!(out, "{}", refusal(self.dir, self.apply, &self.show(&error.to_string())))?;
                Ok(ExitCode::from(3))
            }
        }
    }
}

/// Recovery of a log that snapshots depend on, which never leaves a log the snapshot layer
/// refuses. First as `wal_snapshot::recover_log` opens it (`Durable::open`'s recovery): damage
/// below the newest valid snapshot's point moves the log's start past it (a front cut) instead
/// of failing. Point-in-time recovery is the fallback for damage after that point, run only if
/// it keeps the log up to the newest snapshot's point; otherwise it is refused (exit 3), since
/// `Durable::open` would refuse the log it left for good.
fn with_snapshots(
    run: &Run<'_>,
    options: Options,
    newest: &(PathBuf, SnapshotHeader),
    out: &mut dyn Write,
) -> Result<ExitCode, crate::Failure> {
    let start = anchor_start(run.target)?;
    let mode = options.recovery;
    let first =
        if mode == RecoveryMode::PointInTime { RecoveryMode::TolerateTornTail } else { mode };
    let error = match recover_log(RealStorage, run.target, options.with_recovery(first)) {
        Ok(opening) => return finish(run, opening, out),
        Err(error) if mode != RecoveryMode::PointInTime => {
            let code = run.refused(&error, out)?;
            front_cut_kept(run.target, start, out)?;
            return Ok(code);
        }
        Err(error) => error,
    };
    // Where point-in-time recovery would end the log, judged read-only, before it drops anything.
    let check = crate::check::check_log(run.target, |_| {})?;
    let (path, header) = newest;
    if let Some(salvage) = check.repair.salvage.filter(|salvage| salvage.from < header.next_lsn) {
        let why = format!(
            "point-in-time recovery would end the log at LSN {} (damage in {}), before LSN {}, \
             the point of the newest valid snapshot {}: the snapshot layer would refuse that log \
             for good (a snapshot ahead of its log)",
            salvage.from,
            run.show(&salvage.file.display().to_string()),
            header.next_lsn,
            run.show(&path.display().to_string()),
        );
        let reason = run.show(&error.to_string());
        writeln!(out, "{}", snapshot_refusal(run.dir, run.apply, &why, &reason))?;
        front_cut_kept(run.target, start, out)?;
        return Ok(ExitCode::from(3));
    }
    match recover_log(RealStorage, run.target, options) {
        Ok(opening) => finish(run, opening, out),
        Err(error) => {
            let code = run.refused(&error, out)?;
            front_cut_kept(run.target, start, out)?;
            Ok(code)
        }
    }
}

/// The anchor's start of the log in `dir` (`None`: missing or damaged).
fn anchor_start(dir: &Path) -> Result<Option<Lsn>, crate::Failure> {
    Ok(match wal_core::inspect::Inspector::open(dir)?.anchor() {
        AnchorState::Found { start, .. } => Some(start),
        _ => None,
    })
}

/// Says so when a refused recovery had moved the log's start past damage the newest snapshot
/// covers (a front cut stays: it removed only history that snapshot holds).
fn front_cut_kept(
    dir: &Path,
    before: Option<Lsn>,
    out: &mut dyn Write,
) -> Result<(), crate::Failure> {
    if let (Some(from), Some(to)) = (before, anchor_start(dir)?)
        && from != to
    {
        writeln!(
            out,
            "except: the log's start moved from LSN {from} to LSN {to}, past damage in history \
             only older snapshots needed (the newest valid snapshot holds it); that stays"
        )?;
    }
    Ok(())
}

/// Starts a log the snapshot layer accepted, and reports it with the front cut and the snapshot.
fn finish(
    run: &Run<'_>,
    opening: LogOpening<RealStorage>,
    out: &mut dyn Write,
) -> Result<ExitCode, crate::Failure> {
    let front_cut = opening.front_cut().map(ToString::to_string);
    let snapshot = opening.snapshot().map(|(path, header)| {
        let path = run.show(&path.display().to_string());
        format!("{path} (commits below LSN {}); the log holds what it needs", header.next_lsn)
    });
    let (wal, report) = opening.finish()?;
    run.report(&report, out)?;
    if let Some(cut) = front_cut {
        writeln!(out, "front cut:         {}", run.show(&cut))?;
    }
    if let Some(snapshot) = snapshot {
        writeln!(out, "snapshot:          {snapshot}")?;
    }
    drop(wal);
    Ok(ExitCode::SUCCESS)
}

/// A point-in-time recovery refused because it would end the log before the newest snapshot.
fn snapshot_refusal(dir: &Path, apply: bool, why: &str, reason: &str) -> String {
    let shown = dir.display();
    let next = format!(
        "next: `wal verify {shown}` lists every finding; the damage lies in history the newest \
         snapshot needs, or after it: restore the log and its snapshots from a copy"
    );
    let refuses = format!("{why}\nthe log's own recovery refuses it: {reason}");
    if !apply {
        return format!(
            "dry run (on a copy; the log is unchanged): recovery would refuse the log: {refuses}\n\
             {next}"
        );
    }
    format!(
        "recovery refused the log: {refuses}\nnothing was cut, deleted or appended (opening made \
         the anchor durable again and may have rewritten an index from its own segment's data)\n\
         {next}"
    )
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
