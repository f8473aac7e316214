//! Opening a log: find the segments, chain them, recover each, and decide what damage means.
//!
//! Steps: (1) read the anchor (the logical start); (2) list the segment files and read each
//! one's first LSN from its first chunk header; (3) chain them by id with the rule *a later
//! segment wins*: a segment whose first LSN is at or below an earlier segment's records cuts
//! them there (that is how `truncate_after` is made durable without rewriting old files);
//! (4) recover each segment (scan, index check, seal check; the last may end in a torn tail);
//! (5) check that the chain is dense: each segment's records reach the next segment's first
//! LSN, and the first segment starts at or before the logical start; (6) count the records and
//! transactions; (7) delete what the chain or the start made obsolete. Two last steps write to
//! the log, so they wait until the caller accepts it (`Opening::finish` runs
//! [`Deferred::perform`]): (8) make a cut durable, by starting the next segment right after
//! what was kept; (9) close the transactions a crash left open, with an abort each. The engine
//! always writes into a new segment, so bytes after a torn tail are never followed by new
//! writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wal_format::{Lsn, Record, Tag};
use wal_segment::SegmentId;
use wal_segment::{
    ChunkRef, RecordPositions, RecoveredSegment, SegmentEnd, SegmentLayout, SegmentOptions,
    Storage, delete_segment, index_file_name, index_id_of, open_segment, read_segment_layout,
    salvage_segment, segment_file_name, segment_id_of,
};

use wal_telemetry::{Ledger, LogMetrics, SegmentLife};

use crate::anchor::Anchor;
use crate::damage::{Damage, DataEnd, TornTail};
use crate::entry::{EntryKind, TxnId, interpret, is_record_tag};
use crate::error::Error;
use crate::events;
use crate::options::{Options, RecoveryMode};
use crate::plan::{PlanProblem, PlannedSegment};
use crate::report::{Dropped, RecoveryReport};
use crate::segments::{ClosedSegment, State};
use crate::shared::{Shared, lock_state};

/// The LSN of a new log's first record.
pub const FIRST_LSN: Lsn = Lsn(1);

/// The recovered log, ready for the engine.
pub(crate) struct Recovered<S: Storage> {
    pub(crate) state: State<S>,
    pub(crate) report: RecoveryReport,
    pub(crate) next_txn: TxnId,
    /// Recovery's last steps, which write to the log.
    pub(crate) deferred: Deferred,
    /// The chunk size of the newest segment with a readable first chunk header: the log's
    /// layout, which new segments keep. `None` if no segment has one (the options decide).
    pub(crate) chunk_bytes: Option<usize>,
}

/// Recovery's steps that write to the log (8 and 9 in the module's list), deferred until the
/// caller has read the report and accepted the log, so a log the caller refuses is left as
/// it was. On a full disk each is left undone for the next open, which finds the same facts.
pub(crate) struct Deferred {
    /// Recovery cut something (a torn tail, or what point-in-time recovery dropped).
    cut: bool,
    /// The transactions a crash left open.
    unfinished: Vec<TxnId>,
}

impl Deferred {
    /// Performs the steps on the started log, in order.
    ///
    /// # Errors
    /// The I/O errors of their writes and syncs; never a full disk (the log then opens for
    /// reading and pruning, and the next open does them again).
    pub(crate) fn perform<S: Storage>(self, shared: &Shared<S>) -> Result<(), Error> {
        // The first segment of this run is created by the first append, so a log on a full
        // disk still opens for reading and pruning; unless recovery cut something: then the
        // next segment, starting right after what was kept, makes the cut durable (the chain
        // rule), so a later open, in any mode, finds the same log.
        if self.cut {
            let mut state = lock_state(shared);
            let made = state.writer(&shared.files).and_then(|writer| Ok(writer.sync()?));
            tolerate_full_disk(made, "could not make recovery's cut durable; the next open will")?;
        }
        // Transactions a crash left open can never finish: close them, so replay and the next
        // recovery need not carry them. On a full disk they stay open on disk (never visible:
        // replay yields only committed ones) and the next open closes them.
        if !self.unfinished.is_empty() {
            let ids: Vec<[u8; 8]> = self.unfinished.iter().map(|id| id.to_le_bytes()).collect();
            let aborts: Vec<Record<'_>> =
                ids.iter().map(|id| Record { tag: Tag::TXN_ABORT, payload: id }).collect();
            let closed =
                shared.write(&aborts).and_then(|_| shared.wait_durable(shared.published_lsn()));
            tolerate_full_disk(
                closed,
                "could not close the transactions a crash left open; the next open will",
            )?;
        }
        Ok(())
    }
}

/// `result`, except that a full disk is only warned about.
fn tolerate_full_disk<T>(result: Result<T, Error>, what: &'static str) -> Result<(), Error> {
    match result {
        Err(error) if error.is_out_of_space() => {
            tracing::warn!(target: "wal::recovery", %error, "{what}");
            Ok(())
        }
        other => other.map(drop),
    }
}

/// Recovers the log in `dir` (the module's steps 1 to 7), in the span `wal.recover`: its
/// events say what each step found and changed, the last one (`info`) gives the report.
pub(crate) fn recover<S: Storage>(
    storage: &S,
    dir: &Path,
    options: &Options,
    ledger: &Arc<Ledger>,
) -> Result<Recovered<S>, Error> {
    let span = events::recovery_span(dir, options.recovery);
    let _entered = span.enter();
    let recovered = recover_in_span(storage, dir, options, ledger);
    match &recovered {
        Ok(recovered) => events::recovered(&span, dir, options.recovery, &recovered.report),
        Err(error) => events::recovery_failed(dir, options.recovery, error),
    }
    recovered
}

fn recover_in_span<S: Storage>(
    storage: &S,
    dir: &Path,
    options: &Options,
    ledger: &Arc<Ledger>,
) -> Result<Recovered<S>, Error> {
    let started = Instant::now();
    let Listing { ids, orphans, anchor, kept, obsolete, layouts } = list_and_plan(storage, dir)?;
    let start = anchor.start();
    let mut recovery = Recovery {
        storage,
        dir,
        options,
        ledger,
        report: RecoveryReport { start, ..RecoveryReport::default() },
        counts: Counts::default(),
        closed: Vec::new(),
        obsolete: obsolete.into_iter().map(|id| (id, Obsolete::Plan)).collect(),
        end: start,
        layouts,
    };
    let found = kept.len() as u64;
    let mut planned = kept.into_iter();
    let metrics = LogMetrics::new(&options.metrics_label_for(dir));
    while let Some(segment) = planned.next() {
        metrics.recovery_progress(found - planned.len() as u64 - 1, found);
        recovery.recover_segment(segment, &mut planned)?;
    }
    metrics.recovery_progress(found, found);
    recovery.finish(&ids, &orphans, anchor, started)
}

/// The log directory listed and planned, before any segment is opened.
struct Listing<S: Storage> {
    /// The segment files' ids, in order.
    ids: Vec<SegmentId>,
    /// The ids of index files without a segment file.
    orphans: Vec<SegmentId>,
    anchor: Anchor<S>,
    /// The segments that make up the log, in order.
    kept: Vec<PlannedSegment>,
    /// The segments the plan leaves out, to be deleted.
    obsolete: Vec<SegmentId>,
    /// How each segment with a readable first chunk header is laid out.
    layouts: BTreeMap<SegmentId, SegmentLayout>,
}

/// Why recovery deletes a segment file.
#[derive(Clone, Copy)]
enum Obsolete {
    /// The plan left it out: superseded by a later segment, cut away, or empty and newest.
    Plan,
    /// All its records lie before the log's start.
    BeforeStart,
    /// It follows the damage point-in-time recovery stopped at.
    AfterDamage,
}

impl Obsolete {
    fn reason(self) -> &'static str {
        match self {
            Obsolete::Plan => "superseded by a later segment, cut away, or empty",
            Obsolete::BeforeStart => "all its records lie before the log's start",
            Obsolete::AfterDamage => "it follows damage (point-in-time recovery)",
        }
    }
}

/// Steps (1) to (3): lists the files, reads the anchor and each segment's first LSN, and chains
/// the segments; fails on the first problem the plan shows, before any segment is opened.
fn list_and_plan<S: Storage>(storage: &S, dir: &Path) -> Result<Listing<S>, Error> {
    let (ids, orphans) = segment_ids(storage, dir)?;
    let anchor = match Anchor::open(storage, dir, FIRST_LSN) {
        // The anchor is made durable before the first segment is created: with no segment,
        // a damaged anchor is one whose creation a crash interrupted. Start the log afresh.
        Err(Error::AnchorDamaged { .. }) if ids.is_empty() => {
            Anchor::recreate(storage, dir, FIRST_LSN)?
        }
        opened => opened?,
    };
    // Each segment is read with the layout its own first chunk header states, as `wal verify`
    // reads it, whatever the options say: a log opened with other options is not damaged.
    let mut found = Vec::with_capacity(ids.len());
    let mut layouts = BTreeMap::new();
    for &id in &ids {
        let layout = read_segment_layout(storage, dir, id)?;
        found.push((id, layout.map(|layout| layout.first_lsn)));
        layouts.extend(layout.map(|layout| (id, layout)));
    }
    let cut = anchor.cut();
    let crate::plan::Plan { kept, obsolete, problems } =
        crate::plan::plan(&found, anchor.start(), Some((cut.below_segment, cut.at)));
    match problems.into_iter().next() {
        Some(problem) => Err(plan_error(dir, problem)),
        None => Ok(Listing { ids, orphans, anchor, kept, obsolete, layouts }),
    }
}

/// The error recovery fails with for a problem the plan shows.
fn plan_error(dir: &Path, problem: PlanProblem) -> Error {
    match problem {
        PlanProblem::EmptyBeforeNewer { id } => Error::Damaged {
            path: dir.join(segment_file_name(id)),
            damage: Damage::EmptyBeforeNewer,
        },
        PlanProblem::MissingHistory { start, id, first } => {
            Error::MissingHistory { start, path: dir.join(segment_file_name(id)), first }
        }
    }
}

/// One recovery under way: where it reads, and what the segments opened so far added up to.
struct Recovery<'a, S: Storage> {
    storage: &'a S,
    dir: &'a Path,
    options: &'a Options,
    ledger: &'a Arc<Ledger>,
    report: RecoveryReport,
    counts: Counts,
    /// The segments kept so far, in order.
    closed: Vec<ClosedSegment<S>>,
    /// The segments to delete: left out by the plan, all before the start, or dropped.
    obsolete: Vec<(SegmentId, Obsolete)>,
    /// The LSN after the last record kept so far.
    end: Lsn,
    /// How each segment with a readable first chunk header is laid out.
    layouts: BTreeMap<SegmentId, SegmentLayout>,
}

impl<S: Storage> Recovery<'_, S> {
    /// Steps (4) and (5) for one planned segment: opens it and settles what becomes of it (kept,
    /// obsolete, or damage: an error, or in point-in-time recovery the end of the log, the
    /// `later` segments dropped with what follows the damage).
    fn recover_segment(
        &mut self,
        segment: PlannedSegment,
        later: &mut std::vec::IntoIter<PlannedSegment>,
    ) -> Result<(), Error> {
        let path = self.dir.join(segment_file_name(segment.id));
        let is_last = later.len() == 0;
        let layout = *self.layouts.get(&segment.id).expect("a planned segment's header was read");
        let segment_options = layout.options(self.options.segment());
        let (recovered, chunks, damage) =
            open_one(self.storage, self.dir, &segment, segment_options, self.options.recovery)?;
        events::segment_scanned(segment.id, segment.first, &recovered);
        let scan_end = recovered.scan.next_lsn;
        let mut segment_end = segment.cap.map_or(scan_end, |cap| cap.min(scan_end));
        let data_end = DataEnd {
            chunk: recovered.scan.end_chunk,
            offset: recovered.scan.end_offset,
            end: recovered.scan.end.clone(),
        };
        let mut problem = damage.map(|error| Damage::Segment(Arc::new(error)));
        if problem.is_none()
            && let Some(cap) = segment.cap.filter(|&cap| scan_end < cap)
        {
            problem =
                Some(Damage::EndsBeforeNext { end: scan_end, at: data_end.clone(), next: cap });
        }
        if is_last && problem.is_none() && is_torn(&recovered.scan.end) {
            let torn = TornTail { path: path.clone(), at: data_end };
            if self.options.recovery == RecoveryMode::AbsoluteConsistency {
                return Err(Error::Damaged { path, damage: Damage::TornTail(torn) });
            }
            self.report.bytes_cut += recovered.cut_bytes;
            events::torn_tail_cut(segment.id, &torn, recovered.cut_bytes, layout.chunk_bytes);
            self.report.torn_tail = Some(torn);
        }
        if let Some(damage) = problem {
            if self.options.recovery != RecoveryMode::PointInTime {
                return Err(Error::Damaged { path, damage });
            }
            // Keep what precedes the damage; everything after it goes.
            segment_end = segment_end.min(scan_end);
            let later: Vec<SegmentId> = later.map(|later| later.id).collect();
            let dropped = Dropped { path, damage, from: segment_end, later_segments: later.len() };
            events::records_dropped(segment.id, &dropped);
            self.report.dropped = Some(dropped);
            self.obsolete.extend(later.into_iter().map(|id| (id, Obsolete::AfterDamage)));
        }
        // Records all before the start (the newest segment, after a crash lost what followed
        // a `truncate_before`): nothing of it is part of the log any more.
        if segment_end <= self.report.start && self.report.dropped.is_none() {
            self.obsolete.push((segment.id, Obsolete::BeforeStart));
            return Ok(());
        }
        self.keep(&segment, segment_end, &recovered, chunks)
    }

    /// Step (6) for a segment that is part of the log: counts its records below `end` and
    /// holds its chunks for the telemetry of its life.
    fn keep(
        &mut self,
        segment: &PlannedSegment,
        end: Lsn,
        recovered: &RecoveredSegment,
        chunks: Vec<ChunkRef<S>>,
    ) -> Result<(), Error> {
        if recovered.index_status != wal_segment::IndexStatus::Confirmed {
            self.report.indexes_rebuilt += 1;
            let records = recovered.index.entries().len();
            events::index_rebuilt(segment.id, recovered.index_status, records);
        }
        self.counts.add(recovered, self.report.start, end)?;
        self.end = self.end.max(end);
        let life = SegmentLife::new(self.ledger, segment.id.0);
        for chunk in &chunks {
            chunk.hold(&life);
        }
        self.closed.push(closed_segment(segment, end, chunks, recovered, life));
        Ok(())
    }

    /// Step (7) and the hand-over: deletes the obsolete segments and orphan indexes, completes
    /// the report, and picks the ids the engine goes on from.
    fn finish(
        self,
        ids: &[SegmentId],
        orphans: &[SegmentId],
        anchor: Anchor<S>,
        started: Instant,
    ) -> Result<Recovered<S>, Error> {
        let Recovery { storage, dir, mut report, counts, closed, obsolete, end, layouts, .. } =
            self;
        let chunk_bytes = layouts.values().next_back().map(|layout| layout.chunk_bytes);
        for &(id, why) in &obsolete {
            delete_segment(storage, dir, id)?;
            events::file_deleted(&dir.join(segment_file_name(id)), why.reason());
        }
        report.segments = closed.len();
        report.segments_deleted = obsolete.len();
        report.records = counts.records;
        report.self_contained = counts.self_contained;
        report.committed = counts.committed;
        report.aborted = counts.aborted;
        report.unfinished = counts.open.len() as u64;
        report.end = end;
        report.elapsed = started.elapsed();
        // An index whose segment file never became durable (a crash inside segment creation).
        for &id in orphans {
            let path = dir.join(index_file_name(id));
            storage
                .remove(&path)
                .map_err(|source| wal_segment::Error::io("remove", &path, source))?;
            events::file_deleted(&path, "an index without its segment file");
        }
        let next_segment_id = next_segment_id(dir, ids, orphans, anchor.cut().below_segment)?;
        let state = State::recovered(closed, anchor, next_segment_id, end);
        let next_txn = match counts.max_txn {
            None => 0,
            Some(id) => id.checked_add(1).ok_or(Error::Malformed {
                lsn: report.end,
                reason: "transaction ids are exhausted (an id of u64::MAX is in the log)",
            })?,
        };
        let cut = report.torn_tail.is_some() || report.dropped.is_some();
        let deferred = Deferred { cut, unfinished: counts.open.into_iter().collect() };
        Ok(Recovered { state, report, next_txn, deferred, chunk_bytes })
    }
}

/// The id of the next segment the engine creates: above every segment or index file's id and
/// at least the anchor's cut's `below_segment`.
fn next_segment_id(
    dir: &Path,
    ids: &[SegmentId],
    orphans: &[SegmentId],
    below_segment: SegmentId,
) -> Result<SegmentId, Error> {
    // Ids only grow, even after every segment file was deleted: a new segment must never have
    // an id the anchor's cut applies to.
    // Ids and the cut's segment are read from disk: at the end of the id space the log is
    // refused, never wrapped (a wrapped id would sort first and be superseded: data lost).
    let highest = ids.iter().chain(orphans).max().copied();
    highest
        .map_or(Some(SegmentId(0)), SegmentId::next)
        .map(|next| next.max(below_segment))
        .filter(|&next| next < SegmentId(u64::MAX))
        .ok_or_else(|| Error::Damaged {
            path: highest.map_or_else(
                || dir.join(crate::ANCHOR_FILE_NAME),
                |id| dir.join(segment_file_name(id)),
            ),
            damage: Damage::IdsExhausted { highest, below_segment },
        })
}

type Opened<S> = (RecoveredSegment, Vec<ChunkRef<S>>, Option<wal_segment::Error>);

/// Opens one segment with its own layout; point-in-time recovery keeps the prefix before
/// damage.
fn open_one<S: Storage>(
    storage: &S,
    dir: &Path,
    segment: &PlannedSegment,
    segment_options: SegmentOptions,
    mode: RecoveryMode,
) -> Result<Opened<S>, Error> {
    if mode == RecoveryMode::PointInTime {
        return Ok(salvage_segment(storage, dir, segment.id, segment.first, segment_options)?);
    }
    match open_segment(storage, dir, segment.id, segment.first, segment_options) {
        Ok((recovered, chunks)) => Ok((recovered, chunks, None)),
        Err(error @ wal_segment::Error::Corrupt { .. }) => {
            let path = dir.join(segment_file_name(segment.id));
            Err(Error::Damaged { path, damage: Damage::Segment(Arc::new(error)) })
        }
        Err(error) => Err(error.into()),
    }
}

/// Whether a segment's data ended in a torn write rather than cleanly.
fn is_torn(end: &SegmentEnd) -> bool {
    matches!(
        end,
        SegmentEnd::TornFrame(_) | SegmentEnd::TornChunkHeader | SegmentEnd::StaleChunk { .. }
    )
}

fn closed_segment<S: Storage>(
    segment: &PlannedSegment,
    end: Lsn,
    chunks: Vec<ChunkRef<S>>,
    recovered: &RecoveredSegment,
    life: Arc<SegmentLife>,
) -> ClosedSegment<S> {
    let sealed = recovered.sealed.is_some() && end == recovered.scan.next_lsn;
    let index = RecordPositions::from_index(segment.first, &recovered.index);
    ClosedSegment::new(segment.id, segment.first, end, chunks, index, sealed, life)
}

/// The ids of the segment files in `dir`, in order, and of index files without a segment file.
/// Files whose names are not exactly a segment's or an index's are ignored.
fn segment_ids<S: Storage>(
    storage: &S,
    dir: &Path,
) -> Result<(Vec<SegmentId>, Vec<SegmentId>), Error> {
    let files = storage.list(dir).map_err(|source| wal_segment::Error::io("list", dir, source))?;
    let names: BTreeSet<String> =
        files.iter().filter_map(|path| Some(path.file_name()?.to_str()?.to_owned())).collect();
    let ids: Vec<SegmentId> = names.iter().filter_map(|name| segment_id_of(name)).collect();
    let orphans = names
        .iter()
        .filter_map(|name| index_id_of(name))
        .filter(|id| !names.contains(&segment_file_name(*id)))
        .collect();
    Ok((ids, orphans))
}

/// Records and transactions seen from the log's start.
#[derive(Default)]
struct Counts {
    records: u64,
    self_contained: u64,
    committed: u64,
    aborted: u64,
    open: BTreeSet<TxnId>,
    max_txn: Option<TxnId>,
}

impl Counts {
    fn add(&mut self, segment: &RecoveredSegment, start: Lsn, end: Lsn) -> Result<(), Error> {
        for record in &segment.scan.records {
            let lsn = record.record.lsn;
            if lsn >= end {
                break;
            }
            // A self-contained record (most of a log) needs only counting: no payload view.
            if is_record_tag(record.record.tag) {
                if lsn >= start {
                    self.records += 1;
                    self.self_contained += 1;
                }
                continue;
            }
            let Some(entry) = interpret(record.record.clone()) else { continue };
            let entry = entry?;
            let txn = match entry.kind {
                EntryKind::Begin { txn }
                | EntryKind::Delta { txn, .. }
                | EntryKind::Commit { txn }
                | EntryKind::Abort { txn } => Some(txn),
                EntryKind::Record { .. } | EntryKind::System { .. } => None,
            };
            // Ids are never reused, even those of records before the start.
            self.max_txn = self.max_txn.max(txn);
            if lsn < start {
                continue;
            }
            self.records += 1;
            match entry.kind {
                EntryKind::Record { .. } => self.self_contained += 1,
                EntryKind::Begin { txn } => {
                    self.open.insert(txn);
                }
                EntryKind::Commit { txn } if self.open.remove(&txn) => self.committed += 1,
                EntryKind::Abort { txn } if self.open.remove(&txn) => self.aborted += 1,
                _ => {}
            }
        }
        Ok(())
    }
}
