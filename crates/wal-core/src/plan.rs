//! Recovery's plan of a log directory, from each segment's first LSN and the anchor alone:
//! which segments make up the log, where each one's records end, and which files recovery
//! deletes. Pure, so that recovery and read-only inspection (`wal verify`) follow the same
//! rules.

use wal_format::Lsn;
use wal_segment::SegmentId;

/// A segment the log is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedSegment {
    /// Its id.
    pub id: SegmentId,
    /// Its first LSN (from its first chunk header).
    pub first: Lsn,
    /// Where its records end at the latest: the next segment's first LSN, or a tail cut. `None`
    /// for the newest segment (it ends where its data does).
    pub cap: Option<Lsn>,
}

/// What the plan found wrong: damage, not something a crash leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanProblem {
    /// A segment without a readable first chunk header is older than one with records: only
    /// the newest segment can be empty (created, then a crash before its first sync).
    EmptyBeforeNewer {
        /// The empty segment.
        id: SegmentId,
    },
    /// The first segment kept starts after the log's start: records in between are missing.
    MissingHistory {
        /// The log's start.
        start: Lsn,
        /// The first segment kept.
        id: SegmentId,
        /// Its first LSN.
        first: Lsn,
    },
}

/// Recovery's plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The segments of the log, in order.
    pub kept: Vec<PlannedSegment>,
    /// Segments recovery deletes: superseded by a later segment starting at or before them,
    /// cut away by the latest tail cut, wholly before the start, or empty and newest.
    pub obsolete: Vec<SegmentId>,
    /// Damage the plan shows (recovery fails on the first).
    pub problems: Vec<PlanProblem>,
}

/// Plans the log from `segments` (each id, in increasing order, with its first LSN, `None` for
/// a segment without a readable first chunk header), the anchor's `start` and its latest tail
/// cut (`below_segment`, `at`), if any.
#[must_use]
pub fn plan(
    segments: &[(SegmentId, Option<Lsn>)],
    start: Lsn,
    cut: Option<(SegmentId, Lsn)>,
) -> Plan {
    let mut plan = Plan::default();
    let mut empty = Vec::new();
    for &(id, first) in segments {
        let Some(first) = first else {
            // Created, but its first chunk never became durable: it holds nothing.
            empty.push(id);
            continue;
        };
        // A later segment wins: it cuts every earlier one at its first LSN.
        while plan.kept.last().is_some_and(|earlier| earlier.first >= first) {
            plan.obsolete.push(plan.kept.pop().expect("checked").id);
        }
        if let Some(earlier) = plan.kept.last_mut() {
            earlier.cap = Some(first);
        }
        plan.kept.push(PlannedSegment { id, first, cap: None });
    }
    // The latest tail cut, as if a segment with its id began at its LSN: it cuts the segments
    // before it even if the segment that began there lost its first chunk header.
    if let Some((below, at)) = cut.filter(|(below, _)| below.0 > 0) {
        for earlier in plan.kept.iter_mut().filter(|segment| segment.id < below) {
            earlier.cap = Some(earlier.cap.map_or(at, |cap| cap.min(at)));
        }
        let (cut_away, kept): (Vec<_>, Vec<_>) =
            plan.kept.into_iter().partition(|segment| segment.id < below && segment.first >= at);
        plan.obsolete.extend(cut_away.iter().map(|segment| segment.id));
        plan.kept = kept;
    }
    let newest = plan.kept.iter().map(|segment| segment.id).max();
    if let Some(&id) = empty.iter().find(|&&id| newest.is_some_and(|newest| id < newest)) {
        plan.problems.push(PlanProblem::EmptyBeforeNewer { id });
    }
    plan.obsolete.extend(empty);
    // Segments wholly before the logical start: an interrupted truncation or prune.
    while plan.kept.first().is_some_and(|first| first.cap.is_some_and(|cap| cap <= start)) {
        plan.obsolete.push(plan.kept.remove(0).id);
    }
    if let Some(first) = plan.kept.first().filter(|first| first.first > start) {
        plan.problems.push(PlanProblem::MissingHistory { start, id: first.id, first: first.first });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(plan: &Plan) -> Vec<u64> {
        plan.kept.iter().map(|segment| segment.id.0).collect()
    }

    fn obsolete(plan: &Plan) -> Vec<u64> {
        plan.obsolete.iter().map(|id| id.0).collect()
    }

    #[test]
    fn a_chain_caps_each_segment_at_the_next() {
        let plan = plan(
            &[
                (SegmentId(1), Some(Lsn(1))),
                (SegmentId(2), Some(Lsn(50))),
                (SegmentId(3), Some(Lsn(90))),
            ],
            Lsn(1),
            None,
        );
        assert_eq!(ids(&plan), [1, 2, 3]);
        assert_eq!(plan.kept[0].cap, Some(Lsn(50)));
        assert_eq!(plan.kept[2].cap, None);
        assert!(plan.obsolete.is_empty() && plan.problems.is_empty());
    }

    #[test]
    fn earlier_cuts_are_learned_from_where_later_segments_start() {
        // Cut at 40 (segment 3 starts there, superseding segment 2 which starts at 50), then
        // cut again at 60 in segment 4: only the latest cut is in the anchor.
        let segments =
            [(1, Some(Lsn(1))), (2, Some(Lsn(50))), (3, Some(Lsn(40))), (4, Some(Lsn(60)))]
                .map(|(id, first)| (SegmentId(id), first));
        let plan = plan(&segments, Lsn(1), Some((SegmentId(4), Lsn(60))));
        assert_eq!(ids(&plan), [1, 3, 4]);
        assert_eq!(obsolete(&plan), [2]);
        assert_eq!(plan.kept[0].cap, Some(Lsn(40)));
        assert_eq!(plan.kept[1].cap, Some(Lsn(60)));
    }

    #[test]
    fn the_anchor_cut_removes_what_it_left_nothing_of() {
        let plan = plan(
            &[(SegmentId(1), Some(Lsn(1))), (SegmentId(2), Some(Lsn(50))), (SegmentId(3), None)],
            Lsn(1),
            Some((SegmentId(3), Lsn(20))),
        );
        assert_eq!(ids(&plan), [1]);
        assert_eq!(plan.kept[0].cap, Some(Lsn(20)));
        assert_eq!(obsolete(&plan), [2, 3]);
        assert!(plan.problems.is_empty());
    }

    #[test]
    fn damage_is_reported() {
        let plan_a = plan(&[(SegmentId(1), None), (SegmentId(2), Some(Lsn(10)))], Lsn(1), None);
        assert!(plan_a.problems.contains(&PlanProblem::EmptyBeforeNewer { id: SegmentId(1) }));
        assert!(plan_a.problems.contains(&PlanProblem::MissingHistory {
            start: Lsn(1),
            id: SegmentId(2),
            first: Lsn(10)
        }));
        let plan_b =
            plan(&[(SegmentId(1), Some(Lsn(1))), (SegmentId(2), Some(Lsn(10)))], Lsn(12), None);
        assert_eq!(ids(&plan_b), [2], "segment 1 lies wholly before the start");
        assert_eq!(obsolete(&plan_b), [1]);
    }
}
