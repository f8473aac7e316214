//! The verdict on a whole log, from what recovery would find in each segment (read through
//! `wal_core::inspect`, which changes nothing), the chain of segments, the anchor, and the
//! snapshot files. Shared by `verify`, `stats` and `dump`. What recovery would change besides
//! the segments it keeps (files it deletes, an anchor it creates, aborts it appends) is in
//! [`crate::repair`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use wal_core::inspect::{
    AnchorState, IndexStatus, InspectedPlan, InspectedSegment, Inspector, SegmentCheck, SegmentEnd,
    SegmentOutcome, SegmentScan,
};
use wal_core::plan::{PlanProblem, PlannedSegment};
use wal_core::{EntryKind, Lsn, SegmentId};

use crate::verdict::{Finding, Repair, Verdict};

/// A segment, summed up.
#[derive(Debug)]
pub(crate) struct SegmentSummary {
    pub(crate) file_bytes: u64,
    pub(crate) chunk_bytes: Option<usize>,
    pub(crate) index_confirmed: bool,
    pub(crate) sealed: bool,
    /// First LSN and the LSN after its last record; `None` for an empty segment.
    pub(crate) lsns: Option<(Lsn, Lsn)>,
    /// Records the log holds (from its start, before any cut).
    pub(crate) records: usize,
    /// Records still in the file but before the log's start.
    pub(crate) pruned: usize,
    /// Recovery would delete it: cut away, or wholly before the start.
    pub(crate) discarded: bool,
    /// Damage ends its records before this LSN (where point-in-time recovery would cut).
    pub(crate) damaged_at: Option<Lsn>,
}

/// A snapshot file and what its check found.
#[derive(Debug)]
pub(crate) struct SnapshotSummary {
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) header: Result<wal_snapshot::SnapshotHeader, String>,
}

/// How the log's transactions ended, over the records it holds.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    pub(crate) records: u64,
    pub(crate) committed: u64,
    pub(crate) aborted: u64,
    /// Begun, not ended (yet, or ever: recovery closes them with an abort).
    pub(crate) open: HashSet<u64>,
}

/// The whole log.
#[derive(Debug)]
pub(crate) struct LogCheck {
    pub(crate) anchor: AnchorState,
    /// The log's first LSN (the anchor's start, else the first one there is).
    pub(crate) start: Lsn,
    pub(crate) segments: Vec<SegmentSummary>,
    pub(crate) snapshots: Vec<SnapshotSummary>,
    pub(crate) outcomes: Outcomes,
    pub(crate) findings: Vec<Finding>,
    /// What recovery would change.
    pub(crate) repair: Repair,
}

impl LogCheck {
    pub(crate) fn verdict(&self) -> Verdict {
        self.findings.iter().map(|finding| finding.verdict).max().unwrap_or(Verdict::Clean)
    }
}

/// Checks the log in `dir`; `each` sees every segment as it is read (for progress), one at a
/// time.
pub(crate) fn check_log(
    dir: &Path,
    mut each: impl FnMut(&InspectedSegment),
) -> Result<LogCheck, crate::Failure> {
    let inspector = open_log(dir)?;
    let mut check = LogCheck {
        anchor: inspector.anchor(),
        start: wal_core::FIRST_LSN,
        segments: Vec::new(),
        snapshots: Vec::new(),
        outcomes: Outcomes::default(),
        findings: Vec::new(),
        repair: Repair::default(),
    };
    check.start = log_start(check.anchor, dir, &mut check.findings);
    // Recovery's plan, from the anchor and the first chunk headers: which segments make up the
    // log and where each one's records must reach (the next segment's first LSN, or a cut).
    let inspected = inspector.plan()?;
    check.findings.extend(unplaced(&inspector, &inspected).into_iter().map(|(_, f)| f));
    check.findings.extend(missing_history(&inspector, &inspected));
    crate::repair::anchor(&inspector, &inspected, &mut check.findings, &mut check.repair);
    let plan = &inspected.plan;
    let last_kept = plan.kept.last().map(|segment| segment.id);
    // A torn end counts only in the log's last segment: an older one with bytes after its
    // records was cut by a recovery that went on in a new segment.
    let mut torn: Option<Finding> = None;
    // Point-in-time recovery keeps what precedes the first damage in a segment, unless the plan
    // or the anchor is damage (it refuses those in every mode).
    let salvageable = inspected.unreadable.is_empty()
        && plan.problems.is_empty()
        && check.anchor != AnchorState::Damaged;
    for &id in inspector.segment_ids() {
        let segment = inspector.segment(id)?;
        let planned = plan.kept.iter().find(|planned| planned.id == id);
        let (summary, end_torn) = summarize(&segment, check.start, planned, &mut check.findings);
        each(&segment);
        if let Some((first, end)) = summary.lsns {
            count_outcomes(&mut check.outcomes, &segment, first.max(check.start), end);
        }
        if last_kept == Some(id) && end_torn.is_some() {
            torn = end_torn;
            check.repair.torn_bytes = torn_bytes(&segment);
        }
        let kept = summary.lsns.is_some();
        let parts = (&mut check.findings, &mut check.repair);
        crate::repair::segment(&inspected, &segment, kept, summary.discarded, parts);
        if planned.is_some() && salvageable {
            crate::repair::salvage(&mut check.repair.salvage, &segment, summary.damaged_at);
        }
        check.segments.push(summary);
    }
    check.findings.extend(torn);
    crate::repair::orphan_indexes(
        dir,
        inspector.segment_ids(),
        &mut check.findings,
        &mut check.repair,
    )?;
    let open = &check.outcomes.open;
    crate::repair::unfinished(dir, open, &mut check.findings, &mut check.repair);
    check.snapshots = snapshots(dir, &mut check.findings)?;
    Ok(check)
}

/// The inspector of `dir`, refusing a directory that holds no log at all.
pub(crate) fn open_log(dir: &Path) -> Result<Inspector, crate::Failure> {
    let inspector = Inspector::open(dir)?;
    if inspector.anchor() == AnchorState::Missing && inspector.segment_ids().is_empty() {
        return Err(crate::Failure::Log(format!(
            "{}: no log here (no anchor file, no segment files); give the directory a log \
             was opened in",
            dir.display()
        )));
    }
    Ok(inspector)
}

/// The log's start as the anchor states it; a damaged anchor is a finding, and the log is then
/// read from the first LSN there is.
fn log_start(anchor: AnchorState, dir: &Path, findings: &mut Vec<Finding>) -> Lsn {
    match anchor {
        AnchorState::Found { start, .. } => start,
        AnchorState::Damaged => {
            findings.push(Finding {
                verdict: Verdict::Corrupt,
                file: dir.join(wal_core::ANCHOR_FILE_NAME),
                what: "neither anchor slot is valid: the log's start is unknown, and recovery \
                       refuses the log"
                    .into(),
            });
            wal_core::FIRST_LSN
        }
        _ => wal_core::FIRST_LSN,
    }
}

/// The segments recovery's plan cannot place, each with its finding: a first chunk header
/// that is damage, or an empty segment before newer ones. (A missing history is
/// [`missing_history`].)
pub(crate) fn unplaced(
    inspector: &Inspector,
    inspected: &InspectedPlan,
) -> Vec<(SegmentId, Finding)> {
    let corrupt = |id, what| {
        (id, Finding { verdict: Verdict::Corrupt, file: inspector.segment_path(id), what })
    };
    let mut found: Vec<_> =
        inspected.unreadable.iter().map(|(id, error)| corrupt(*id, describe(error))).collect();
    for problem in &inspected.plan.problems {
        if let PlanProblem::EmptyBeforeNewer { id } = problem {
            let what = "its first chunk header is unreadable, yet later segments hold records";
            found.push(corrupt(*id, what.to_owned()));
        }
    }
    found
}

/// The finding of records missing between the log's start and its first segment, if they are.
pub(crate) fn missing_history(inspector: &Inspector, inspected: &InspectedPlan) -> Option<Finding> {
    inspected.plan.problems.iter().find_map(|problem| match problem {
        PlanProblem::MissingHistory { start, id, first } => Some(Finding {
            verdict: Verdict::Corrupt,
            file: inspector.segment_path(*id),
            what: format!(
                "history is missing: the log starts at LSN {start}, its first segment at LSN {first}"
            ),
        }),
        PlanProblem::EmptyBeforeNewer { .. } => None,
    })
}

/// A segment error as a sentence about the file it names, without repeating the file's name
/// (the finding names it).
pub(crate) fn describe(error: &wal_core::SegmentError) -> String {
    match error {
        wal_core::SegmentError::Corrupt { chunk, reason, .. } => format!("chunk {chunk}: {reason}"),
        wal_core::SegmentError::Io { op, chunk, source, .. } => {
            let chunk = chunk.map(|chunk| format!(" (chunk {chunk})")).unwrap_or_default();
            format!("{op}{chunk} failed: {source}")
        }
        wal_core::SegmentError::LsnGap { expected, found, .. } => {
            format!("its first chunk names LSN {found}, where LSN {expected} was expected")
        }
        other => other.to_string(),
    }
}

/// A segment summed up, and the finding of a torn end if it has one (reported only if it
/// turns out to be the log's last segment).
fn summarize(
    segment: &InspectedSegment,
    start: Lsn,
    planned: Option<&PlannedSegment>,
    findings: &mut Vec<Finding>,
) -> (SegmentSummary, Option<Finding>) {
    let mut summary = SegmentSummary {
        file_bytes: segment.file_bytes,
        chunk_bytes: segment.chunk_bytes,
        index_confirmed: false,
        sealed: false,
        lsns: None,
        records: 0,
        pruned: 0,
        discarded: false,
        damaged_at: None,
    };
    let finding = |verdict, what: String| Finding { verdict, file: segment.path.clone(), what };
    // Recovery deletes the segments its plan leaves out (superseded by a later segment, cut
    // away, before the start, empty and newest) without reading them: `repair` reports them.
    let Some(planned) = planned else {
        summary.discarded = true;
        return (summary, None);
    };
    let checked = match &segment.outcome {
        SegmentOutcome::Checked(checked) => checked,
        SegmentOutcome::Unreadable(error) => {
            findings.push(finding(Verdict::Corrupt, describe(error)));
            summary.damaged_at = Some(planned.first);
            return (summary, None);
        }
        _ => return (summary, None),
    };
    let scan = &checked.scan;
    let first = scan.records.first().map_or(scan.next_lsn, |r| r.record.lsn);
    if let Some(damage) = &checked.damage {
        // Its end and its index follow from the damage: one finding says it all, and where
        // the segment really ends is unknown.
        findings.push(finding(Verdict::Corrupt, describe(damage)));
        summary.damaged_at = Some(scan.next_lsn);
        return (summary, None);
    }
    // Recovery ends each kept segment at its cap (the next segment's first LSN, or a cut); one
    // whose records end before it leaves a gap: damage, even if it all lies before the start.
    if let Some(what) = gap_in_chain(scan, planned) {
        findings.push(finding(Verdict::Corrupt, what));
        summary.damaged_at = Some(scan.next_lsn);
    }
    let end = planned.cap.map_or(scan.next_lsn, |cap| cap.min(scan.next_lsn));
    // A segment all of whose records lie before the start: recovery deletes it.
    if end <= start {
        summary.discarded = true;
        return (summary, None);
    }
    summary.lsns = Some((first, end));
    count_records(&mut summary, scan, start, end);
    summary.sealed = checked.sealed.is_some();
    summary.index_confirmed = checked.index_status == IndexStatus::Confirmed;
    let rebuilt = index_rebuilt(checked, segment.index_present);
    findings.extend(rebuilt.map(|what| finding(Verdict::Repairable, what)));
    (summary, torn_tail(checked).map(|what| finding(Verdict::Repairable, what)))
}

/// What a gap between a segment's records and its cap (the next segment's first LSN, or a
/// cut) says, if there is one.
pub(crate) fn gap_in_chain(scan: &SegmentScan, planned: &PlannedSegment) -> Option<String> {
    let cap = planned.cap.filter(|&cap| scan.next_lsn < cap)?;
    Some(format!(
        "gap in the chain: its records end at LSN {} (chunk {}, offset {}: {}), but the log \
         goes on from LSN {cap}",
        scan.next_lsn, scan.end_chunk, scan.end_offset, scan.end
    ))
}

/// Counts a segment's records the log holds (from `start`, below `end`; seals not counted)
/// and those still in the file but before the start.
fn count_records(summary: &mut SegmentSummary, scan: &SegmentScan, start: Lsn, end: Lsn) {
    let held = |lsn: Lsn| lsn >= start && lsn < end;
    let seal = wal_core::Tag::SEAL;
    summary.records =
        scan.records.iter().filter(|r| held(r.record.lsn) && r.record.tag != seal).count();
    summary.pruned = scan.records.iter().filter(|r| r.record.lsn < start).count();
}

/// Counts the entries of a segment's records the log holds (`first` to below `end`).
fn count_outcomes(outcomes: &mut Outcomes, segment: &InspectedSegment, first: Lsn, end: Lsn) {
    let held = |lsn: Lsn| lsn >= first && lsn < end;
    for (_, _, _, entry) in segment.records().filter(|(_, _, lsn, _)| held(*lsn)) {
        match entry.and_then(Result::ok).map(|entry| entry.kind) {
            Some(EntryKind::Record { .. }) => outcomes.records += 1,
            Some(EntryKind::Begin { txn }) => {
                outcomes.open.insert(txn);
            }
            Some(EntryKind::Commit { txn }) => {
                outcomes.open.remove(&txn);
                outcomes.committed += 1;
            }
            Some(EntryKind::Abort { txn }) => {
                outcomes.open.remove(&txn);
                outcomes.aborted += 1;
            }
            _ => {}
        }
    }
}

/// What a sidecar index recovery would rewrite says, if it would rewrite it.
fn index_rebuilt(checked: &SegmentCheck, index_present: bool) -> Option<String> {
    let IndexStatus::Rebuilt { kept } = checked.index_status else { return None };
    Some(format!(
        "index {} ({kept} of its entries agree with the {} records): recovery rewrites it",
        if index_present { "behind or unlike the data" } else { "missing" },
        checked.scan.records.len()
    ))
}

/// What a torn end of a segment's data says, if it has one.
pub(crate) fn torn_tail(checked: &SegmentCheck) -> Option<String> {
    let scan = &checked.scan;
    let torn_end = matches!(scan.end, SegmentEnd::TornFrame(_) | SegmentEnd::TornChunkHeader);
    (checked.cut_bytes > 0 || torn_end).then(|| {
        format!(
            "torn tail at chunk {}, offset {} ({}): recovery cuts the {} bytes after the last \
             whole record",
            scan.end_chunk, scan.end_offset, scan.end, checked.cut_bytes
        )
    })
}

/// The bytes recovery cuts off a segment's torn end.
fn torn_bytes(segment: &InspectedSegment) -> u64 {
    match &segment.outcome {
        SegmentOutcome::Checked(checked) => checked.cut_bytes,
        _ => 0,
    }
}

/// The snapshot files of `dir`, oldest first, each checked whole (streamed, read-only).
pub(crate) fn snapshots(
    dir: &Path,
    findings: &mut Vec<Finding>,
) -> Result<Vec<SnapshotSummary>, crate::Failure> {
    let io = |op: &str, path: &Path, source: std::io::Error| {
        crate::Failure::Log(format!("{op} {}: {source}", path.display()))
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io("list", dir, e))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("snapshot-") && name.ends_with(".snap"))
        })
        .collect();
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        let mut file = std::fs::File::open(&path).map_err(|e| io("open", &path, e))?;
        let bytes = file.metadata().map_err(|e| io("stat", &path, e))?.len();
        let header =
            wal_snapshot::check_snapshot(&mut file, bytes).map_err(|e| io("read", &path, e))?;
        if let Err(reason) = &header {
            findings.push(Finding {
                verdict: Verdict::Corrupt,
                file: path.clone(),
                what: format!("snapshot damaged: {reason}"),
            });
        }
        found.push(SnapshotSummary { path, bytes, header });
    }
    Ok(found)
}
