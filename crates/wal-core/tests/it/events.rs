//! Recovery you can watch: the `tracing` events of opening, cutting a torn tail, rebuilding an
//! index, dropping records and poisoning the log, caught by a capturing subscriber with their
//! levels, targets and fields; and the `Display` of the recovery report, pinned.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use wal_core::{
    Damage, DataEnd, Dropped, Durability, Error, Lsn, RecoveryMode, RecoveryReport, SegmentEnd,
    SegmentId, SimStorage, Storage, TornTail, Wal,
};
use wal_segment::storage::Fault;

use crate::support::{TAG, dir, open_sim, segment_files, small};

/// One event as the subscriber saw it.
#[derive(Clone, Debug)]
struct Caught {
    level: Level,
    target: String,
    message: String,
    fields: BTreeMap<String, String>,
    /// The name of the span it was emitted in.
    span: Option<String>,
}

impl Caught {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or_else(|| panic!("no field {name} in {self:?}"), String::as_str)
    }
}

/// Everything caught while a closure ran: events, and spans (name, fields) as they closed.
#[derive(Default)]
struct Trace {
    events: Vec<Caught>,
    spans: Vec<(String, BTreeMap<String, String>)>,
}

/// Field values as text (`%` fields print their `Display`, the message its text).
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// A layer that keeps every event and span.
#[derive(Clone, Default)]
struct Catcher(Arc<Mutex<Trace>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Catcher {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).expect("a new span").extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a live span");
        let mut extensions = span.extensions_mut();
        values.record(extensions.get_mut::<Fields>().expect("recorded at creation"));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let metadata = event.metadata();
        self.0.lock().unwrap().events.push(Caught {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            message,
            fields: fields.0,
            span: ctx.event_span(event).map(|span| span.name().to_owned()),
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).expect("a closing span");
        let fields = span.extensions().get::<Fields>().map(|f| f.0.clone()).unwrap_or_default();
        self.0.lock().unwrap().spans.push((span.name().to_owned(), fields));
    }
}

/// Runs `run` on this thread with every event and span caught.
fn caught<T>(run: impl FnOnce() -> T) -> (T, Trace) {
    let catcher = Catcher::default();
    let subscriber = tracing_subscriber::registry().with(catcher.clone());
    let result = tracing::subscriber::with_default(subscriber, || {
        every_callsite_interesting();
        run()
    });
    let caught = std::mem::take(&mut *catcher.0.lock().unwrap());
    (result, caught)
}

/// Makes every callsite interesting to some dispatcher for the rest of this test binary: a
/// global subscriber that keeps nothing. Without it, a callsite first hit by another test's
/// thread while no capture is live caches "never", and a capture running at the same moment
/// misses its events (a race in `tracing`'s interest cache between threads; seen as a flaky
/// missing event).
fn every_callsite_interesting() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
    tracing::callsite::rebuild_interest_cache();
}

/// The events at `level` or more severe.
fn at_least(caught: &Trace, level: Level) -> Vec<&Caught> {
    caught.events.iter().filter(|event| event.level <= level).collect()
}

/// A log of several segments written under `Buffered`, synced and closed.
fn written() -> SimStorage {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    for n in 0..2000u32 {
        wal.append(TAG, &[n.to_le_bytes()[0]; 200]).unwrap();
    }
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"one").unwrap();
    txn.commit().unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert!(segment_files(&storage).len() >= 3);
    storage
}

fn id_of(path: &std::path::Path) -> SegmentId {
    SegmentId(path.file_stem().unwrap().to_str().unwrap().parse().unwrap())
}

/// The chunk and offset in it of the last record of the segment at `path`.
fn last_record(storage: &SimStorage, path: &std::path::Path) -> (u32, usize) {
    let options = small(Durability::Buffered);
    let segment = wal_segment::SegmentOptions {
        chunk_bytes: options.chunk_bytes,
        chunks_per_segment: options.chunks_per_segment,
        preparation: options.preparation,
        ..Default::default()
    };
    let id = id_of(path);
    let first = wal_segment::segment_first_lsn(storage, dir(), id, segment).unwrap().unwrap();
    let scan = wal_segment::scan_segment(storage, dir(), id, first, segment).unwrap();
    let last = scan.records.last().unwrap();
    (last.chunk, last.record.offset)
}

#[test]
fn a_clean_open_emits_exactly_one_info_event_with_the_report_and_a_span_with_totals() {
    for storage in [SimStorage::new(), written()] {
        let ((_wal, report), caught) = caught(|| open_sim(&storage, small(Durability::Buffered)));
        let loud = at_least(&caught, Level::INFO);
        assert_eq!(loud.len(), 1, "{loud:#?}");
        let opened = loud[0];
        assert_eq!((opened.level, opened.target.as_str()), (Level::INFO, "wal::recovery"));
        assert_eq!(opened.message, "log recovered");
        assert_eq!(opened.field("dir"), "/log");
        assert_eq!(opened.field("mode"), "TolerateTornTail");
        assert_eq!(opened.field("segments"), report.segments.to_string());
        assert_eq!(opened.field("records"), report.records.to_string());
        assert_eq!(opened.field("start"), report.start.to_string());
        assert_eq!(opened.field("end"), report.end.to_string());
        assert!(opened.fields.contains_key("elapsed_ms"));
        assert_eq!(opened.field("report"), report.to_string());
        assert!(report.to_string().ends_with("; changed nothing"), "{report}");
        assert_eq!(opened.span.as_deref(), Some("wal.recover"));
        // One debug event per segment, inside the span; the span's totals recorded at its end.
        let scanned: Vec<_> =
            caught.events.iter().filter(|event| event.message == "segment scanned").collect();
        assert_eq!(scanned.len(), report.segments);
        assert!(scanned.iter().all(
            |event| event.level == Level::DEBUG && event.span.as_deref() == Some("wal.recover")
        ));
        let (_, span) = caught.spans.iter().find(|(name, _)| name == "wal.recover").unwrap();
        assert_eq!(span["segments"], report.segments.to_string());
        assert_eq!(span["records"], report.records.to_string());
        assert_eq!(span["dir"], "/log");
    }
}

#[test]
fn a_torn_tail_warns_naming_the_segment_and_the_offset() {
    let storage = written();
    let last = segment_files(&storage).pop().unwrap();
    let (chunk, offset) = last_record(&storage, &last);
    let at = chunk as usize * small(Durability::Buffered).chunk_bytes + offset;
    // The last frame's payload length made impossible: a torn write, by the rules.
    storage.edit_file(&last, |bytes| bytes[at + 4..at + 8].copy_from_slice(&[0xFF; 4]));
    let ((_wal, report), caught) = caught(|| open_sim(&storage, small(Durability::Buffered)));
    // The cut, and the index rebuilt because it listed the torn record.
    let warns = at_least(&caught, Level::WARN);
    let cuts: Vec<_> =
        warns.iter().filter(|event| event.message.starts_with("torn tail")).collect();
    assert_eq!(cuts.len(), 1, "{warns:#?}");
    assert_eq!(warns.len(), 1 + report.indexes_rebuilt, "{warns:#?}");
    let cut = cuts[0];
    assert_eq!(
        (cut.target.as_str(), cut.message.as_str()),
        ("wal::recovery", "torn tail cut after the last whole record")
    );
    assert_eq!(cut.field("segment"), id_of(&last).to_string());
    assert_eq!(cut.field("path"), last.display().to_string());
    assert_eq!(cut.field("chunk"), chunk.to_string());
    assert_eq!(cut.field("offset"), offset.to_string());
    assert_eq!(cut.field("file_offset"), at.to_string());
    assert_eq!(cut.field("bytes_cut"), report.bytes_cut.to_string());
    assert!(cut.field("reason").starts_with("a frame torn by a crash"), "{cut:?}");
    let mut report = report;
    report.elapsed = Duration::from_micros(1500);
    insta::assert_snapshot!(report, @r"
    found 2002 records in 4 segments (LSNs 1 to 2005), transactions: 0 committed, 0 aborted, 1 left open by a crash, in 1.5 ms
    cut a torn tail of 17 bytes at /log/00000000000000000003.wal, chunk 0, offset 55688: a frame torn by a crash (frame at offset 55688: payload length 4294967295 is larger than any valid frame)
    rebuilt 1 index (missing, stale or damaged) from the data
    closed 1 transaction a crash left open, with an abort each
    ");
}

#[test]
fn a_rebuilt_index_warns_naming_the_segment() {
    let storage = written();
    let first = segment_files(&storage)[0].clone();
    storage.remove(&first.with_extension("idx")).unwrap();
    let ((_wal, report), caught) = caught(|| open_sim(&storage, small(Durability::Buffered)));
    assert_eq!(report.indexes_rebuilt, 1);
    let warns = at_least(&caught, Level::WARN);
    assert_eq!(warns.len(), 1, "{warns:#?}");
    assert_eq!(
        (warns[0].target.as_str(), warns[0].message.as_str()),
        ("wal::recovery", "index rebuilt from the data")
    );
    assert_eq!(warns[0].field("segment"), id_of(&first).to_string());
    assert_eq!(warns[0].field("kept"), "0");
    assert!(report.to_string().contains("\nrebuilt 1 index"), "{report}");
}

#[test]
fn point_in_time_recovery_warns_of_the_records_dropped_and_each_file_deleted() {
    let storage = written();
    let files = segment_files(&storage);
    let (chunk, offset) = last_record(&storage, &files[0]);
    let at = chunk as usize * small(Durability::Buffered).chunk_bytes + offset;
    // A payload byte of the first segment's last record: damage (its seal follows it).
    storage.edit_file(&files[0], |bytes| bytes[at + 30] ^= 0x40);
    let options = small(Durability::Buffered).with_recovery(RecoveryMode::PointInTime);
    let ((_wal, report), caught) =
        caught(|| Wal::open_in(storage.clone(), dir(), options).unwrap());
    let dropped = report.dropped.clone().expect("dropped");
    let warns = at_least(&caught, Level::WARN);
    let first = warns.iter().find(|event| event.message.starts_with("records dropped")).unwrap();
    assert_eq!(first.field("segment"), "0");
    assert_eq!(first.field("from"), dropped.from.to_string());
    assert_eq!(first.field("later_segments"), dropped.later_segments.to_string());
    let deleted: Vec<_> = warns.iter().filter(|event| event.message == "file deleted").collect();
    assert_eq!(deleted.len(), report.segments_deleted);
    assert!(deleted.len() >= 2, "{deleted:#?}");
    assert!(deleted.iter().all(|event| event.field("reason").contains("follows damage")));
}

#[test]
fn a_refused_open_warns_with_the_error() {
    let storage = written();
    let last = segment_files(&storage).pop().unwrap();
    let (chunk, offset) = last_record(&storage, &last);
    let at = chunk as usize * small(Durability::Buffered).chunk_bytes + offset;
    storage.edit_file(&last, |bytes| bytes[at + 4..at + 8].copy_from_slice(&[0xFF; 4]));
    let options = small(Durability::Buffered).with_recovery(RecoveryMode::AbsoluteConsistency);
    let (opened, caught) = caught(|| Wal::open_in(storage.clone(), dir(), options));
    let error = opened.err().expect("refused");
    let warns = at_least(&caught, Level::WARN);
    assert_eq!(warns.len(), 1, "{warns:#?}");
    assert_eq!(warns[0].message, "recovery failed");
    assert_eq!(warns[0].field("error"), error.to_string());
    assert_eq!(warns[0].field("mode"), "AbsoluteConsistency");
}

#[test]
fn poisoning_warns_once_with_the_cause() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    wal.append(TAG, b"durable").unwrap();
    // The next storage operation is the commit's msync.
    storage.fail_after(0, Fault::Io);
    let (failures, caught) = caught(|| {
        let first = wal.append(TAG, b"in doubt").unwrap_err();
        let later = wal.append(TAG, b"later").unwrap_err();
        (first, later)
    });
    assert!(matches!(failures.1, Error::Poisoned { .. }), "{:?}", failures.1);
    let warns = at_least(&caught, Level::WARN);
    assert_eq!(warns.len(), 1, "{warns:#?}");
    assert_eq!(warns[0].target, "wal::poison");
    assert_eq!(warns[0].field("cause"), failures.0.to_string());
    assert_eq!(warns[0].field("dir"), "/log");
}

#[test]
fn appends_and_commits_that_succeed_emit_nothing() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    let ((), caught) = caught(|| {
        for n in 0..700u32 {
            wal.append(TAG, &n.to_le_bytes()).unwrap();
        }
        let mut txn = wal.begin().unwrap();
        txn.delta(TAG, b"x").unwrap();
        txn.commit().unwrap();
    });
    assert!(caught.events.is_empty(), "{:#?}", caught.events);
}

/// The `Display` of a report built by hand, with `edit` applied to a clean one.
fn check(edit: impl FnOnce(&mut RecoveryReport)) -> String {
    let mut report = RecoveryReport::default();
    report.segments = 3;
    report.records = 1200;
    report.self_contained = 1200;
    report.start = Lsn(1);
    report.end = Lsn(1204);
    report.elapsed = Duration::from_micros(2350);
    edit(&mut report);
    report.to_string()
}

#[test]
fn the_report_says_what_was_found_and_what_was_changed() {
    insta::assert_snapshot!(check(|_| {}), @"found 1200 records in 3 segments (LSNs 1 to 1203), in 2.4 ms; changed nothing");
    insta::assert_snapshot!(check(|r| {
        (r.segments, r.records, r.start, r.end) = (0, 0, Lsn(1), Lsn(1));
    }), @"found an empty log (the next LSN is 1), in 2.4 ms; changed nothing");
    insta::assert_snapshot!(check(|r| {
        (r.committed, r.aborted, r.unfinished) = (40, 2, 1);
        r.torn_tail = Some(TornTail {
            path: PathBuf::from("/log/00000000000000000002.wal"),
            at: DataEnd { chunk: 1, offset: 4096, end: SegmentEnd::TornChunkHeader },
        });
        r.bytes_cut = 312;
        r.indexes_rebuilt = 2;
    }), @r"
    found 1200 records in 3 segments (LSNs 1 to 1203), transactions: 40 committed, 2 aborted, 1 left open by a crash, in 2.4 ms
    cut a torn tail of 312 bytes at /log/00000000000000000002.wal, chunk 1, offset 4096: a chunk header torn by a crash
    rebuilt 2 indexes (missing, stale or damaged) from the data
    closed 1 transaction a crash left open, with an abort each
    ");
    insta::assert_snapshot!(check(|r| {
        r.dropped = Some(Dropped {
            path: PathBuf::from("/log/00000000000000000001.wal"),
            damage: Damage::EmptyBeforeNewer,
            from: Lsn(800),
            later_segments: 2,
        });
        (r.records, r.end, r.segments, r.segments_deleted) = (799, Lsn(800), 2, 2);
    }), @r"
    found 799 records in 2 segments (LSNs 1 to 799), in 2.4 ms
    dropped the records from LSN 800 on, at damage in /log/00000000000000000001.wal: its first chunk header is unreadable, yet later segments hold records (and the 2 segment files after it)
    deleted 2 segment files the log no longer includes
    ");
    insta::assert_snapshot!(check(|r| {
        (r.start, r.records, r.segments_deleted, r.indexes_rebuilt) = (Lsn(501), 1, 1, 1);
        r.end = Lsn(502);
    }), @r"
    found 1 record in 3 segments (LSN 501), in 2.4 ms
    rebuilt 1 index (missing, stale or damaged) from the data
    deleted 1 segment file the log no longer includes
    ");
}
