//! `wal dump`: one line per record, from the files as they are (nothing is recovered or
//! changed): LSN, position, kind, transaction, length and the payload. Only what recovery would
//! keep is shown (the segments of its plan, each up to its cap), in LSN order, filtered by
//! range, kind or tag, and transaction. Where the records stop early (damage, a torn tail, a
//! gap), `dump` says where and why, and exits as `verify` would for it: it never passes a
//! log's end off as the whole log. `--follow` goes on printing records as they are written.

mod follow;
mod line;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wal_core::inspect::{AnchorState, Inspector, SegmentOutcome};
use wal_core::plan::PlannedSegment;
use wal_core::{Lsn, SegmentId};

pub(crate) use line::TagFilter;

use crate::check::describe;
use crate::verdict::Verdict;

/// What to show.
pub(crate) struct Request {
    pub(crate) from: Option<Lsn>,
    pub(crate) to: Option<Lsn>,
    /// At most this many records.
    pub(crate) limit: Option<u64>,
    pub(crate) json: bool,
    pub(crate) follow: bool,
    /// Any of these kinds or tags (none: every record).
    pub(crate) tags: Vec<TagFilter>,
    pub(crate) txn: Option<u64>,
}

/// Where the walk over the records is, and what it printed.
pub(crate) struct Printer<'a> {
    request: &'a Request,
    /// The next LSN to look at.
    next: Lsn,
    printed: u64,
    header_written: bool,
    out: &'a mut dyn Write,
}

impl Printer<'_> {
    /// Whether nothing more is wanted: the limit or `--to` is reached.
    fn done(&self) -> bool {
        self.request.limit.is_some_and(|limit| self.printed >= limit)
            || self.request.to.is_some_and(|to| self.next > to)
    }

    /// Prints the records of `segment` from `next` to below `cap` that pass the filters.
    fn records(
        &mut self,
        segment: &wal_core::inspect::InspectedSegment,
        cap: Option<Lsn>,
    ) -> std::io::Result<()> {
        for (position, tag, lsn, entry) in segment.records() {
            if lsn < self.next || cap.is_some_and(|cap| lsn >= cap) {
                continue;
            }
            if self.done() {
                return Ok(());
            }
            self.next = Lsn(lsn.0 + 1);
            if self.request.to.is_some_and(|to| lsn > to) {
                return Ok(());
            }
            let row = line::Row::new(position, tag, lsn, entry.as_ref());
            if !line::keeps(&row, &self.request.tags, self.request.txn) {
                continue;
            }
            if !self.header_written && !self.request.json {
                line::write_header(self.out)?;
            }
            self.header_written = true;
            line::write_row(self.out, &row, self.request.json)?;
            self.printed += 1;
        }
        Ok(())
    }
}

/// Why the records stopped before the end of the log, with the file and what is wrong there.
pub(crate) struct Stop {
    pub(crate) verdict: Verdict,
    pub(crate) file: PathBuf,
    pub(crate) what: String,
}

pub(crate) fn dump(
    dir: &Path,
    request: &Request,
    out: &mut dyn Write,
) -> Result<ExitCode, crate::Failure> {
    if let (Some(from), Some(to)) = (request.from, request.to)
        && from > to
    {
        return Err(crate::Failure::Usage(format!(
            "--from {from} is after --to {to}: no record lies in that range; give --from at or \
             before --to"
        )));
    }
    let inspector = crate::check::open_log(dir)?;
    let (start, mut worst) = start_of(&inspector);
    if let Some(to) = request.to.filter(|&to| to < start) {
        return Err(crate::Failure::Usage(format!(
            "--to {to} is before the log's start, LSN {start}: records before it were truncated \
             or pruned"
        )));
    }
    if request.from.is_some_and(|from| from < start) {
        eprintln!("wal: the log starts at LSN {start}: records before it were truncated or pruned");
    }
    // Records missing before the first segment: the ones there are can still be shown.
    if let Some(missing) = crate::check::missing_history(&inspector, &inspector.plan()?) {
        eprintln!("wal: {}: {}", missing.file.display(), missing.what);
        worst = Verdict::Corrupt;
    }
    let next = request.from.unwrap_or(start).max(start);
    let mut printer = Printer { request, next, printed: 0, header_written: false, out };
    let walked = walk(&inspector, &mut printer, request.follow)?;
    if let Some(stop) = &walked.stop {
        worst = worst.max(stop.verdict);
        report(dir, stop, walked.end);
    }
    if worst == Verdict::Corrupt {
        return Ok(ExitCode::from(worst.exit_code()));
    }
    if request.follow {
        return follow::follow(dir, &mut printer);
    }
    if let Some(from) = request.from.filter(|&from| from >= walked.end && from >= start) {
        let last = match walked.end.0.checked_sub(1).filter(|_| walked.end > start) {
            Some(last) => format!("its last record is LSN {last}"),
            None => "it holds no record".to_owned(),
        };
        return Err(crate::Failure::Usage(format!(
            "--from {from} is past the end of the log: {last} (--follow waits for new records)"
        )));
    }
    if printer.printed == 0 && walked.end <= start {
        eprintln!("wal: the log holds no record");
    } else if printer.printed == 0 {
        let last = walked.end.0 - 1;
        eprintln!("wal: no record matches (the log holds LSNs {start} to {last})");
    }
    Ok(ExitCode::from(worst.exit_code()))
}

/// The log's start, and how a missing anchor counts (the start is then unknown).
fn start_of(inspector: &Inspector) -> (Lsn, Verdict) {
    match inspector.anchor() {
        AnchorState::Found { start, .. } => (start, Verdict::Clean),
        AnchorState::Damaged => {
            eprintln!(
                "wal: {}: neither anchor slot is valid: the log's start is unknown; showing \
                 every record from LSN 1 (recovery refuses this log)",
                inspector.dir().join(wal_core::ANCHOR_FILE_NAME).display()
            );
            (wal_core::FIRST_LSN, Verdict::Corrupt)
        }
        _ => {
            eprintln!(
                "wal: {}: missing, yet segment files exist (a crash never leaves this): the \
                 log's start is unknown; showing every record from LSN 1",
                inspector.dir().join(wal_core::ANCHOR_FILE_NAME).display()
            );
            (wal_core::FIRST_LSN, Verdict::Unexplained)
        }
    }
}

/// What a walk over the log found: the LSN after the last record read, and why it stopped
/// early, if it did.
pub(crate) struct Walked {
    pub(crate) end: Lsn,
    pub(crate) stop: Option<Stop>,
}

/// Prints the records of the segments recovery's plan keeps, from the printer's next LSN on,
/// until the end, the limit or `--to`, or the first damage. `live`: the log is being written
/// (`--follow`), so a torn end of the last segment is a write under way, not a finding.
pub(crate) fn walk(
    inspector: &Inspector,
    printer: &mut Printer<'_>,
    live: bool,
) -> Result<Walked, crate::Failure> {
    let inspected = inspector.plan()?;
    let barrier = if live { None } else { barrier(inspector, &inspected) };
    let kept = &inspected.plan.kept;
    let mut end = kept.first().map_or(wal_core::FIRST_LSN, |segment| segment.first);
    for (at, planned) in kept.iter().enumerate() {
        if let Some((id, stop)) = &barrier
            && planned.id >= *id
        {
            return Ok(Walked { end, stop: Some(clone_stop(stop)) });
        }
        if planned.cap.is_some_and(|cap| cap <= printer.next) {
            continue;
        }
        if printer.done() {
            return Ok(Walked { end, stop: None });
        }
        let segment = inspector.segment(planned.id)?;
        printer.records(&segment, planned.cap)?;
        let judged = judge(&segment, planned, at + 1 == kept.len(), live);
        end = judged.0;
        if judged.1.is_some() {
            return Ok(Walked { end, stop: judged.1 });
        }
    }
    Ok(Walked { end, stop: barrier.map(|(_, stop)| stop) })
}

fn clone_stop(stop: &Stop) -> Stop {
    Stop { verdict: stop.verdict, file: stop.file.clone(), what: stop.what.clone() }
}

/// The first segment recovery's plan shows to be damage (one it cannot place, or an empty one
/// before newer ones), with what is wrong: the walk stops before it.
fn barrier(
    inspector: &Inspector,
    inspected: &wal_core::inspect::InspectedPlan,
) -> Option<(SegmentId, Stop)> {
    crate::check::unplaced(inspector, inspected).into_iter().min_by_key(|(id, _)| *id).map(
        |(id, finding)| {
            let stop = Stop { verdict: finding.verdict, file: finding.file, what: finding.what };
            (id, stop)
        },
    )
}

/// Where a segment's records end, and why the walk must stop there, if it must: damage, a
/// gap before the next segment, or (in the last segment, unless `live`) a torn tail.
fn judge(
    segment: &wal_core::inspect::InspectedSegment,
    planned: &PlannedSegment,
    is_last: bool,
    live: bool,
) -> (Lsn, Option<Stop>) {
    let stop = |verdict, what| Some(Stop { verdict, file: segment.path.clone(), what });
    let checked = match &segment.outcome {
        SegmentOutcome::Checked(checked) => checked,
        SegmentOutcome::Unreadable(error) => {
            return (planned.first, stop(Verdict::Corrupt, describe(error)));
        }
        _ => return (planned.first, None),
    };
    let scan = &checked.scan;
    let end = planned.cap.map_or(scan.next_lsn, |cap| cap.min(scan.next_lsn));
    if let Some(damage) = &checked.damage {
        return (end, stop(Verdict::Corrupt, describe(damage)));
    }
    if let Some(what) = crate::check::gap_in_chain(scan, planned) {
        return (end, stop(Verdict::Corrupt, what));
    }
    if is_last && !live {
        return (
            end,
            crate::check::torn_tail(checked).and_then(|what| stop(Verdict::Repairable, what)),
        );
    }
    (end, None)
}

/// Says on standard error where the records stopped (`end`: the first LSN not read), why,
/// and what to do.
pub(crate) fn report(dir: &Path, stop: &Stop, end: Lsn) {
    let dir = dir.display();
    eprintln!("wal: {}: {}", stop.file.display(), stop.what);
    match stop.verdict {
        Verdict::Repairable => eprintln!(
            "wal: the log ends before LSN {end}, in a torn write; recovery (`wal recover {dir}` \
             shows it on a copy) cuts the torn bytes and loses nothing that was synced"
        ),
        _ => eprintln!(
            "wal: stopped: LSN {end} and what follows cannot be read past the damage. `wal \
             verify {dir}` lists every finding; `wal recover {dir} --mode point-in-time` shows, \
             on a copy, what keeping only the records before the damage would drop"
        ),
    }
}
