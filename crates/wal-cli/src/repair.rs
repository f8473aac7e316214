//! What recovery would change, beyond judging the segments it keeps: the segment files its plan
//! leaves out (it deletes them), index files without a segment (deleted), a missing anchor (a
//! new one, starting the log at LSN 1), transactions left open (an abort appended to each),
//! with a tally of what a repair removes. Each is a finding, so `verify` never calls a log
//! clean that recovery would change. It mirrors `wal_core`'s recovery; it changes nothing.

use std::collections::HashSet;
use std::path::Path;

use wal_core::SegmentId;
use wal_core::inspect::{
    AnchorState, IndexStatus, InspectedPlan, InspectedSegment, Inspector, SegmentOutcome,
};
use wal_core::plan::PlanProblem;

use crate::verdict::{Finding, Repair, Salvage, Verdict, count};

/// A missing anchor beside segment files: never left by a crash, since the anchor is made
/// durable before the first segment is created. Recovery would create a new one at LSN 1.
pub(crate) fn anchor(
    inspector: &Inspector,
    plan: &InspectedPlan,
    findings: &mut Vec<Finding>,
    repair: &mut Repair,
) {
    if inspector.anchor() != AnchorState::Missing || inspector.segment_ids().is_empty() {
        return;
    }
    repair.anchor_created = true;
    let oldest = plan.plan.kept.first().map_or_else(
        || "no segment holds a record".to_owned(),
        |segment| format!("the oldest segment starts at LSN {}", segment.first),
    );
    findings.push(Finding {
        verdict: Verdict::Unexplained,
        file: inspector.dir().join(wal_core::ANCHOR_FILE_NAME),
        what: format!(
            "missing, yet {} exist: a crash never leaves this (the anchor is made \
             durable before the first segment is created), so it was deleted; the log's start is \
             now unknown. Recovery would create a new anchor starting the log at LSN 1 ({oldest}): \
             records truncated or pruned before the old start would be part of the log again",
            count(inspector.segment_ids().len() as u64, "segment file")
        ),
    });
}

/// Counts a segment's index rewrite, and reports a segment the plan leaves out: recovery
/// deletes it (segments that are damage were reported as such).
pub(crate) fn segment(
    inspected: &InspectedPlan,
    segment: &InspectedSegment,
    kept: bool,
    discarded: bool,
    (findings, repair): (&mut Vec<Finding>, &mut Repair),
) {
    if let SegmentOutcome::Checked(checked) = &segment.outcome
        && kept
        && checked.damage.is_none()
        && checked.index_status != IndexStatus::Confirmed
    {
        repair.indexes_rewritten += 1;
    }
    let is_damage = inspected.unreadable.iter().any(|(id, _)| *id == segment.id)
        || inspected.plan.problems.iter().any(|problem| match problem {
            PlanProblem::EmptyBeforeNewer { id } => *id == segment.id,
            PlanProblem::MissingHistory { .. } => false,
        });
    if !discarded || is_damage {
        return;
    }
    let records = segment.records().filter(|(_, _, _, entry)| entry.is_some()).count();
    let bytes = segment.file_bytes;
    let (verdict, what) = match &segment.outcome {
        SegmentOutcome::Checked(_) => (
            Verdict::Repairable,
            format!(
                "holds no record of the log ({}, all cut away by a truncation, \
                 superseded by a later segment, or before the start): an interrupted truncation \
                 or prune left it; recovery deletes it ({bytes} bytes)",
                count(records as u64, "record")
            ),
        ),
        _ if all_zero(&segment.path) => (
            Verdict::Repairable,
            format!(
                "never started (all {bytes} bytes are zero): a segment a running writer prepared \
                 ahead, or one a crash left before its first sync; recovery deletes it"
            ),
        ),
        _ => (
            Verdict::Unexplained,
            format!(
                "not a segment the log wrote: its first chunk header is invalid, yet the file is \
                 not zero-filled as a crash leaves it; recovery deletes it ({bytes} bytes) \
                 without reading it. Move it away if it holds anything of value"
            ),
        ),
    };
    repair.segments_deleted += 1;
    repair.deleted_bytes += bytes;
    repair.deleted_records += records;
    findings.push(Finding { verdict, file: segment.path.clone(), what });
}

/// Whether the file at `path` is all zero (an unreadable file counts as not).
fn all_zero(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.iter().all(|&byte| byte == 0))
}

/// Index files whose segment file is missing: a crash inside segment creation leaves them, and
/// recovery deletes them.
pub(crate) fn orphan_indexes(
    dir: &Path,
    segments: &[SegmentId],
    findings: &mut Vec<Finding>,
    repair: &mut Repair,
) -> Result<(), crate::Failure> {
    let listed = std::fs::read_dir(dir)
        .map_err(|error| crate::Failure::Log(format!("list {}: {error}", dir.display())))?;
    let mut orphans: Vec<_> = listed
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| index_id(path).is_some_and(|id| !segments.contains(&id)))
        .collect();
    orphans.sort();
    for path in orphans {
        repair.orphan_indexes += 1;
        findings.push(Finding {
            verdict: Verdict::Repairable,
            file: path,
            what: "an index file without its segment file (a crash while the segment was being \
                   created leaves this): recovery deletes it"
                .into(),
        });
    }
    Ok(())
}

/// The segment id an index file's name states (`format.md`, "Segment files": 20 digits).
fn index_id(path: &Path) -> Option<SegmentId> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(".idx").filter(|d| d.len() == 20)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(SegmentId)
}

/// Transactions begun and never ended: recovery appends an abort for each.
pub(crate) fn unfinished(
    dir: &Path,
    open: &HashSet<u64>,
    findings: &mut Vec<Finding>,
    repair: &mut Repair,
) {
    let open_count = open.len() as u64;
    if open_count == 0 {
        return;
    }
    let mut ids: Vec<_> = open.iter().copied().collect();
    ids.sort_unstable();
    let shown: Vec<String> = ids.iter().take(8).map(u64::to_string).collect();
    let more = if ids.len() > 8 { ", ..." } else { "" };
    repair.aborts = open_count;
    findings.push(Finding {
        verdict: Verdict::Repairable,
        file: dir.to_owned(),
        what: format!(
            "{} begun and never ended ({} {}{more}): a crash leaves this, or a writer is still \
             running; recovery appends an abort record for each",
            count(open_count, "transaction"),
            if open_count == 1 { "id" } else { "ids" },
            shown.join(", ")
        ),
    });
}

/// Notes a segment of the log for point-in-time recovery: the first one damaged (`damaged_at`,
/// where its records stop) starts what it drops; each one after it is dropped whole.
pub(crate) fn salvage(
    salvage: &mut Option<Salvage>,
    segment: &InspectedSegment,
    damaged_at: Option<wal_core::Lsn>,
) {
    match salvage {
        Some(salvage) => {
            let records = segment.records().filter(|(_, _, _, entry)| entry.is_some()).count();
            salvage.later_segments += 1;
            salvage.later_bytes += segment.file_bytes;
            salvage.later_records += records;
        }
        None => {
            *salvage = damaged_at.map(|from| Salvage {
                from,
                file: segment.path.clone(),
                later_segments: 0,
                later_bytes: 0,
                later_records: 0,
            });
        }
    }
}
