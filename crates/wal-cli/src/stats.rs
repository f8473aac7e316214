//! `wal stats`: what the log holds, read without changing it.

use std::io::{self, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wal_core::inspect::AnchorState;

use crate::check::{LogCheck, SnapshotSummary, check_log};

/// A progress bar on standard error for `total` segments; hidden when standard error is not
/// a terminal, and for small logs.
pub(crate) fn progress_bar(total: u64, what: &str) -> ProgressBar {
    if total < 8 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} segments ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

pub(crate) fn stats(dir: &Path, out: &mut dyn Write) -> Result<(), crate::Failure> {
    let segments = crate::check::open_log(dir)?.segment_ids().len();
    let progress = progress_bar(segments as u64, "reading");
    let check = check_log(dir, |_| progress.inc(1))?;
    let outcomes = &check.outcomes;
    progress.finish_and_clear();
    writeln!(out, "log:          {}", dir.display())?;
    write_anchor(out, check.anchor)?;
    write_extent(out, &check)?;
    writeln!(
        out,
        "entries:      {} plain records; transactions: {} committed, {} aborted, {} unfinished",
        outcomes.records,
        outcomes.committed,
        outcomes.aborted,
        outcomes.open.len()
    )?;
    let indexed = check.segments.iter().filter(|s| s.index_confirmed).count();
    let sealed = check.segments.iter().filter(|s| s.sealed).count();
    writeln!(
        out,
        "index:        {indexed} of {} segments match their sidecar index exactly; {sealed} sealed",
        check.segments.len()
    )?;
    write_snapshots(out, &check.snapshots)?;
    writeln!(out, "findings:     {}", check.findings.len())?;
    Ok(())
}

/// The `anchor:` line: the log's start and latest tail cut, as the anchor file states them.
fn write_anchor(out: &mut dyn Write, anchor: AnchorState) -> io::Result<()> {
    match anchor {
        AnchorState::Found { start, cut_at, .. } if cut_at.0 > 0 => {
            writeln!(out, "anchor:       start LSN {start}, latest tail cut at LSN {cut_at}")
        }
        AnchorState::Found { start, .. } => writeln!(out, "anchor:       start LSN {start}"),
        AnchorState::Damaged => writeln!(out, "anchor:       DAMAGED (neither slot valid)"),
        _ => writeln!(out, "anchor:       missing"),
    }
}

/// The `segments:`, `chunk size:` and `LSNs:` lines: the files and the records they hold.
fn write_extent(out: &mut dyn Write, check: &LogCheck) -> io::Result<()> {
    let bytes: u64 = check.segments.iter().map(|s| s.file_bytes).sum();
    let records: usize = check.segments.iter().map(|s| s.records).sum();
    let first = check.segments.iter().find_map(|s| s.lsns.map(|(first, _)| first.max(check.start)));
    let pruned: usize = check.segments.iter().map(|s| s.pruned).sum();
    let end = check.segments.iter().rev().find_map(|s| s.lsns.map(|(_, end)| end));
    writeln!(out, "segments:     {} ({bytes} bytes)", check.segments.len())?;
    if let Some(chunk) = check.segments.iter().find_map(|s| s.chunk_bytes) {
        writeln!(out, "chunk size:   {chunk} bytes")?;
    }
    match (first, end) {
        (Some(first), Some(end)) if pruned > 0 => writeln!(
            out,
            "LSNs:         {first} to {} ({records} records; {pruned} earlier ones pruned, still in a file the log keeps)",
            end.0 - 1
        ),
        (Some(first), Some(end)) => {
            writeln!(out, "LSNs:         {first} to {} ({records} records)", end.0 - 1)
        }
        _ => writeln!(out, "LSNs:         none"),
    }
}

/// The `snapshot:` lines, one per snapshot file, or `snapshots: none`.
fn write_snapshots(out: &mut dyn Write, snapshots: &[SnapshotSummary]) -> io::Result<()> {
    if snapshots.is_empty() {
        writeln!(out, "snapshots:    none")?;
    }
    for snapshot in snapshots {
        let name = snapshot.path.file_name().unwrap_or_default().to_string_lossy();
        match &snapshot.header {
            Ok(header) => writeln!(
                out,
                "snapshot:     {name}: covers LSNs below {}, {} units, replay from LSN {} ({} bytes)",
                header.next_lsn, header.units, header.replay_from, snapshot.bytes
            )?,
            Err(reason) => writeln!(out, "snapshot:     {name}: DAMAGED: {reason}")?,
        }
    }
    Ok(())
}
