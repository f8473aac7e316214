//! The verdict on a whole log, from what recovery would find in each segment (read through
//! `wal_core::inspect`, which changes nothing), the chain of segments, the anchor, and the
//! snapshot files. Shared by `verify` and `stats`.

use std::path::{Path, PathBuf};

use wal_core::Lsn;
use wal_core::inspect::{
    AnchorState, IndexStatus, InspectedPlan, InspectedSegment, Inspector, SegmentCheck, SegmentEnd,
    SegmentOutcome, SegmentScan,
};
use wal_core::plan::{PlanProblem, PlannedSegment};

/// How bad the worst finding is; also the exit code's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// Recovery would change nothing.
    Clean,
    /// A torn tail to cut, or an index behind the data to rewrite: what a crash leaves;
    /// recovery repairs it and loses nothing that was synced.
    TornTail,
    /// Damage inside durable data, a gap in the chain, a damaged anchor or snapshot: recovery
    /// would refuse the log (or the snapshot), or needs a mode that gives the damage up.
    Corrupt,
}

/// One thing found, with where.
#[derive(Debug)]
pub(crate) struct Finding {
    pub(crate) verdict: Verdict,
    pub(crate) file: PathBuf,
    pub(crate) what: String,
}

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
}

/// A snapshot file and what its check found.
#[derive(Debug)]
pub(crate) struct SnapshotSummary {
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) header: Result<wal_snapshot::SnapshotHeader, String>,
}

/// The whole log.
#[derive(Debug)]
pub(crate) struct LogCheck {
    pub(crate) anchor: AnchorState,
    /// The log's first LSN (the anchor's start, else the first one there is).
    pub(crate) start: Lsn,
    pub(crate) segments: Vec<SegmentSummary>,
    pub(crate) snapshots: Vec<SnapshotSummary>,
    pub(crate) findings: Vec<Finding>,
}

impl LogCheck {
    pub(crate) fn verdict(&self) -> Verdict {
        self.findings.iter().map(|finding| finding.verdict).max().unwrap_or(Verdict::Clean)
    }
}

/// Checks the log in `dir`; `each` sees every segment as it is read (for progress and for
/// per-record statistics), one at a time, with the LSNs of it the log holds (`None`: none).
pub(crate) fn check_log(
    dir: &Path,
    mut each: impl FnMut(&InspectedSegment, Option<(Lsn, Lsn)>),
) -> Result<LogCheck, crate::Failure> {
    let inspector = Inspector::open(dir)?;
    if inspector.anchor() == AnchorState::Missing && inspector.segment_ids().is_empty() {
        return Err(crate::Failure::Log(format!(
            "{}: no log here (no anchor file, no segment files)",
            dir.display()
        )));
    }
    let mut check = LogCheck {
        anchor: inspector.anchor(),
        start: wal_core::FIRST_LSN,
        segments: Vec::new(),
        snapshots: Vec::new(),
        findings: Vec::new(),
    };
    let start = log_start(check.anchor, dir, &mut check.findings);
    check.start = start;
    // Recovery's plan, from the anchor and the first chunk headers: which segments make up the
    // log and where each one's records must reach (the next segment's first LSN, or a cut).
    let inspected = inspector.plan()?;
    plan_findings(&inspector, &inspected, &mut check.findings);
    let plan = inspected.plan;
    let last_kept = plan.kept.last().map(|segment| segment.id);
    // A torn end counts only in the log's last segment: an older one with bytes after its
    // records was cut by a recovery that went on in a new segment.
    let mut torn: Option<Finding> = None;
    for &id in inspector.segment_ids() {
        let segment = inspector.segment(id)?;
        let planned = plan.kept.iter().find(|planned| planned.id == id);
        let (summary, end_torn) = summarize(&segment, start, planned, &mut check.findings);
        each(&segment, summary.lsns.map(|(first, end)| (first.max(start), end)));
        if last_kept == Some(id) {
            torn = end_torn;
        }
        check.segments.push(summary);
    }
    check.findings.extend(torn);
    check.snapshots = snapshots(dir, &mut check.findings)?;
    Ok(check)
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
                what: "neither anchor slot is valid: the log's start is unknown".into(),
            });
            wal_core::FIRST_LSN
        }
        _ => wal_core::FIRST_LSN,
    }
}

/// The findings of recovery's plan: segments it could not place, and the problems it shows
/// in the chain.
fn plan_findings(inspector: &Inspector, inspected: &InspectedPlan, findings: &mut Vec<Finding>) {
    for (id, error) in &inspected.unreadable {
        findings.push(Finding {
            verdict: Verdict::Corrupt,
            file: inspector.segment_path(*id),
            what: error.to_string(),
        });
    }
    for problem in &inspected.plan.problems {
        let (id, what) = match problem {
            PlanProblem::EmptyBeforeNewer { id } => (
                *id,
                "its first chunk header is unreadable, yet later segments hold records".to_owned(),
            ),
            PlanProblem::MissingHistory { start, id, first } => (
                *id,
                format!(
                    "history is missing: the log starts at LSN {start}, its first segment at LSN {first}"
                ),
            ),
        };
        findings.push(Finding {
            verdict: Verdict::Corrupt,
            file: inspector.segment_path(id),
            what,
        });
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
    };
    let finding = |verdict, what: String| Finding { verdict, file: segment.path.clone(), what };
    // Recovery deletes the segments its plan leaves out (superseded by a later segment, cut
    // away, before the start, empty and newest) without reading them. (One left out because
    // its first chunk header is damage was reported with the plan.)
    let Some(planned) = planned else {
        summary.discarded = true;
        return (summary, None);
    };
    let checked = match &segment.outcome {
        SegmentOutcome::Checked(checked) => checked,
        SegmentOutcome::Unreadable(error) => {
            findings.push(finding(Verdict::Corrupt, error.to_string()));
            return (summary, None);
        }
        _ => return (summary, None),
    };
    let scan = &checked.scan;
    let first = scan.records.first().map_or(scan.next_lsn, |r| r.record.lsn);
    if let Some(damage) = &checked.damage {
        // Its end and its index follow from the damage: one finding says it all, and where
        // the segment really ends is unknown.
        findings.push(finding(Verdict::Corrupt, damage.to_string()));
        return (summary, None);
    }
    // Recovery ends each kept segment at its cap (the next segment's first LSN, or a cut); one
    // whose records end before it leaves a gap: damage, even if it all lies before the start.
    findings.extend(gap_in_chain(scan, planned).map(|what| finding(Verdict::Corrupt, what)));
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
    findings.extend(rebuilt.map(|what| finding(Verdict::TornTail, what)));
    (summary, torn_tail(checked).map(|what| finding(Verdict::TornTail, what)))
}

/// What a gap between a segment's records and its cap (the next segment's first LSN, or a
/// cut) says, if there is one.
fn gap_in_chain(scan: &SegmentScan, planned: &PlannedSegment) -> Option<String> {
    let cap = planned.cap.filter(|&cap| scan.next_lsn < cap)?;
    Some(format!(
        "gap in the chain: its records end at LSN {} (chunk {}, offset {}), but the log goes on \
         from LSN {cap}",
        scan.next_lsn, scan.end_chunk, scan.end_offset
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
fn torn_tail(checked: &SegmentCheck) -> Option<String> {
    let scan = &checked.scan;
    let torn_end = matches!(scan.end, SegmentEnd::TornFrame(_) | SegmentEnd::TornChunkHeader);
    (checked.cut_bytes > 0 || torn_end).then(|| {
        format!(
            "torn tail at chunk {} offset {} ({} bytes after the last whole record; {:?})",
            scan.end_chunk, scan.end_offset, checked.cut_bytes, scan.end
        )
    })
}

/// The snapshot files of `dir`, each checked whole (streamed, read-only).
fn snapshots(
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
