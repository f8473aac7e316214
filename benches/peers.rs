//! This log beside its peers on the workloads of `shared/BENCHMARKS.md`, each cell in a fresh
//! directory and a process of its own, in one run; a markdown table with the ratio to the best
//! peer, and an SVG plot (`WAL_BENCH_PLOT=path`).
//!
//! Systems, each made as durable as the cell demands:
//! - `wal`: this log. W1, W1b and W5 under `Durability::Buffered` with one `sync` at the end;
//!   W3 and W4 under `Durability::Commit` (each commit durable before it returns).
//! - `naive`: length + CRC-32 + payload per record through a 64 KiB `BufWriter`, one
//!   `fdatasync` at the end; for durable cells, an unbuffered `write` and `fdatasync` per record
//!   under a mutex.
//! - `sqlite` (rusqlite, bundled SQLite): a table of (integer key, blob) in WAL journal mode;
//!   one autocommit `INSERT` per record (W1b: 1,000 per transaction) with `synchronous=NORMAL`
//!   and a `wal_checkpoint(FULL)` at the end (which syncs), or with `synchronous=FULL` for
//!   durable cells (the WAL synced at every commit); W4 uses a connection per thread.
//! - `sled` (0.34): `insert` under an increasing 8-byte key (W1b: `apply_batch` of 1,000), one
//!   `flush` at the end, or a `flush` after every insert for durable cells. sled's `flush` ends
//!   in `sync_file_range`, which is not durable across a power loss: each flush (the final one
//!   too) is followed by an `fdatasync` of its data file.
//!
//! - `okaywal` (0.3): every commit of an entry is durable (it fsyncs, batching concurrent
//!   committers), so the non-durable cells write all their records as chunks of one entry,
//!   committed at the end (W1b: the same entry, 1,000 chunks per batch call); durable cells
//!   commit one entry of one chunk per record. W5 is left empty: okaywal hands entries to the
//!   application's checkpoint and recycles their segment, on close too, so a reopened log holds
//!   nothing to read back.
//!
//! Not yet here: raft-engine, commitlog, raft-log, walrus-rust, W2 and W6 for the
//! peers, and the physical limits in the same run (the `engine` and `segment_sync` benches
//! measure those). `WAL_BENCH_SCALE` divides the record counts (`cargo xtask ci` runs 1/100 as a
//! smoke test of the harness).
#![expect(clippy::cast_precision_loss, reason = "counts and nanoseconds far below 2^52")]

#[path = "measure.rs"]
mod measure;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use measure::{Cell, drop_cache, run_in_process, timed_threads};

const SYSTEMS: [&str; 5] = ["wal", "naive", "sqlite", "sled", "okaywal"];
const WORKLOADS: [(&str, &str, &str); 5] = [
    ("w1", "W1: 1M x 128 B, one per call, one sync at the end", "records/s"),
    ("w1b", "W1b: the same, 1,000 per batch", "records/s"),
    ("w3", "W3: 2,000 durable commits of 256 B, one writer", "commits/s"),
    ("w4", "W4: 8 threads x 500 durable commits of 256 B", "commits/s"),
    ("w5", "W5: reopen W1's data with a cold cache and read it all", "records/s"),
];

/// A log under test: opened on a directory, written through writers (one per thread).
trait System: Sync + Sized {
    type Writer<'a>: Writer
    where
        Self: 'a;
    /// Opens a new log in `dir`; `durable`: every append is durable before it returns.
    fn open(dir: &Path, durable: bool) -> Self;
    fn writer(&self) -> Self::Writer<'_>;
    /// Makes everything appended durable (the end of W1).
    fn finish(&self);
    /// Reopens the log in `dir` and reads every record; returns how many, or `None` if the
    /// system does not keep records to read back (the cell is then left empty).
    fn read_all(dir: &Path) -> Option<u64>;
}

trait Writer {
    fn append(&mut self, payload: &[u8]);
    fn append_batch(&mut self, payloads: &[&[u8]]);
}

fn main() {
    if let Ok(cell) = std::env::var("WAL_BENCH_CELL") {
        let (system, workload) = cell.split_once('/').expect("system/workload");
        match system {
            "wal" => run::<ours::Ours>(workload),
            "naive" => run::<naive::Naive>(workload),
            "sqlite" => run::<sqlite::Sqlite>(workload),
            "sled" => run::<sled_log::Sled>(workload),
            "okaywal" => run::<okay::Okay>(workload),
            other => panic!("unknown system {other}"),
        }
        .report();
        return;
    }
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let mut table = Vec::new();
    for (workload, name, unit) in WORKLOADS {
        let mut row = Vec::new();
        for system in SYSTEMS {
            let (fields, _) = run_in_process(&format!("{system}/{workload}"), base.as_ref());
            row.push(fields);
        }
        table.push((workload, name, unit, row));
    }
    print_table(&table);
    if let Some(path) = std::env::var_os("WAL_BENCH_PLOT") {
        std::fs::write(&path, plot(&table)).expect("write the plot");
        println!("\n(plot written to {})", Path::new(&path).display());
    }
    let scale = scale();
    println!("\n(measured in {}, scale 1/{scale}, each cell in its own process)", base.display());
}

type Row = Vec<Vec<f64>>;

fn print_table(table: &[(&str, &str, &str, Row)]) {
    println!(
        "| workload | unit | {} | wal / best library peer | wal / naive |",
        SYSTEMS.join(" | ")
    );
    println!("|---|---|{}---|---|", "---|".repeat(SYSTEMS.len()));
    for (_, name, unit, row) in table {
        let cells: Vec<String> = row
            .iter()
            .map(|fields| match fields[..] {
                [rate, ..] if rate.is_nan() => "n/a".to_owned(),
                [rate, p50, p99] => format!("{rate:.0} (p50 {p50:.0} us, p99 {p99:.0} us)"),
                [rate, ..] => format!("{rate:.0}"),
                [] => String::new(),
            })
            .collect();
        // Columns: wal, naive, then the libraries.
        // `f64::max` passes over a NaN (a cell left empty).
        let best_library = row[2..].iter().map(|fields| fields[0]).fold(f64::NAN, f64::max);
        println!(
            "| {name} | {unit} | {} | {:.2} | {:.2} |",
            cells.join(" | "),
            row[0][0] / best_library,
            row[0][0] / row[1][0]
        );
    }
}

/// A bar chart, one group per workload, each bar a system's rate as a fraction of the best in
/// that workload (labelled with the rate). Written by hand: a few rectangles and labels, no
/// font machinery needed.
fn plot(table: &[(&str, &str, &str, Row)]) -> String {
    let colors = ["#1f77b4", "#7f7f7f", "#2ca02c", "#d62728", "#9467bd"];
    let (bar, gap, left, width) = (16.0, 14.0, 250.0, 420.0);
    let group = bar * SYSTEMS.len() as f64 + gap;
    let height = 40.0 + group * table.len() as f64 + 30.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n",
        left + width + 140.0
    );
    svg += "<text x=\"10\" y=\"20\" font-size=\"14\">Rate as a fraction of the best system in each workload (higher is better)</text>\n";
    for (g, (_, name, unit, row)) in table.iter().enumerate() {
        let top = 40.0 + group * g as f64;
        svg += &format!(
            "<text x=\"10\" y=\"{}\">{}</text>\n",
            top + bar * 2.0,
            escape(name.split(':').next().unwrap_or(name))
        );
        svg += &format!("<text x=\"10\" y=\"{}\" fill=\"#555\">{unit}</text>\n", top + bar * 3.0);
        let best = row.iter().map(|fields| fields[0]).fold(0.0, f64::max);
        for (s, fields) in row.iter().enumerate().filter(|(_, fields)| !fields[0].is_nan()) {
            let y = top + bar * s as f64;
            let w = width * fields[0] / best;
            svg += &format!(
                "<rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/>\n",
                bar - 2.0,
                colors[s]
            );
            svg += &format!(
                "<text x=\"{:.1}\" y=\"{}\">{} {:.0}</text>\n",
                left + w + 4.0,
                y + bar - 5.0,
                SYSTEMS[s],
                fields[0]
            );
        }
    }
    svg += "</svg>\n";
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn scale() -> usize {
    std::env::var("WAL_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

/// Runs one workload on system `S` in a fresh directory.
fn run<S: System>(workload: &str) -> Cell {
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(&base).expect("bench directory");
    let dir = dir.path().join("log");
    let scale = scale();
    // Whole batches of 1,000, so W1, W1b and W5 write the same records.
    let records = (1_000_000 / scale).max(1000) / 1000 * 1000;
    let (commits, per_thread) = (2000 / scale.min(10), 500 / scale.min(10));
    match workload {
        "w1" => Cell { rate: records as f64 / fill::<S>(&dir, records, 1), latency: None },
        "w1b" => Cell { rate: records as f64 / fill::<S>(&dir, records, 1000), latency: None },
        "w3" => durable::<S>(&dir, 1, commits),
        "w4" => durable::<S>(&dir, 8, per_thread),
        "w5" => {
            fill::<S>(&dir, records, 1000);
            drop_cache(&dir);
            let started = Instant::now();
            let Some(read) = S::read_all(&dir) else {
                return Cell { rate: f64::NAN, latency: None };
            };
            assert_eq!(read, records as u64, "every record read back");
            Cell { rate: read as f64 / started.elapsed().as_secs_f64(), latency: None }
        }
        other => panic!("unknown workload {other}"),
    }
}

/// Seconds to append `records` of 128 B in batches of `batch` and make them durable.
fn fill<S: System>(dir: &Path, records: usize, batch: usize) -> f64 {
    let payload = [0xA5u8; 128];
    let batch_of: Vec<&[u8]> = vec![&payload[..]; batch];
    let system = S::open(dir, false);
    let mut writer = system.writer();
    let started = Instant::now();
    for _ in 0..records / batch {
        if batch == 1 {
            writer.append(&payload);
        } else {
            writer.append_batch(&batch_of);
        }
    }
    drop(writer);
    system.finish();
    started.elapsed().as_secs_f64()
}

/// `threads` writers each making `per_thread` durable commits of 256 B at once.
fn durable<S: System>(dir: &Path, threads: usize, per_thread: usize) -> Cell {
    let system = S::open(dir, true);
    let record = [7u8; 256];
    system.writer().append(&record); // first-write costs out of the measurement
    timed_threads(threads, per_thread, || system.writer(), |writer| writer.append(&record))
}

mod ours {
    use std::path::Path;

    use wal_core::{Durability, Options, Record, Tag, Wal};

    const TAG: Tag = match Tag::user(0x40) {
        Some(tag) => tag,
        None => panic!("0x40 is a user tag"),
    };

    pub(crate) struct Ours(Wal);

    impl super::System for Ours {
        type Writer<'a> = &'a Wal;

        fn open(dir: &Path, durable: bool) -> Self {
            let durability = if durable { Durability::Commit } else { Durability::Buffered };
            Ours(Wal::open(dir, Options::default().with_durability(durability)).expect("open").0)
        }

        fn writer(&self) -> &Wal {
            &self.0
        }

        fn finish(&self) {
            self.0.sync().expect("sync");
        }

        fn read_all(dir: &Path) -> Option<u64> {
            let options = Options::default().with_durability(Durability::Buffered);
            let (wal, _) = Wal::open(dir, options).expect("open");
            let reader = wal.read_from(wal.start_lsn()).expect("read");
            Some(reader.map(|entry| u64::from(entry.expect("record").payload[0] > 0)).sum())
        }
    }

    impl super::Writer for &Wal {
        fn append(&mut self, payload: &[u8]) {
            Wal::append(self, TAG, payload).expect("append");
        }

        fn append_batch(&mut self, payloads: &[&[u8]]) {
            let records: Vec<Record<'_>> =
                payloads.iter().map(|payload| Record { tag: TAG, payload }).collect();
            Wal::append_batch(self, &records).expect("append");
        }
    }
}

mod naive {
    use super::{BufReader, BufWriter, File, Mutex, Path, Read, Write};

    /// Length, CRC-32 and payload per record; buffered, or synced per record when durable.
    pub(crate) struct Naive {
        out: Mutex<BufWriter<File>>,
        durable: bool,
    }

    impl super::System for Naive {
        type Writer<'a> = &'a Naive;

        fn open(dir: &Path, durable: bool) -> Self {
            std::fs::create_dir_all(dir).expect("dir");
            let file = File::create(dir.join("naive.log")).expect("create");
            let capacity = if durable { 0 } else { 64 << 10 };
            Naive { out: Mutex::new(BufWriter::with_capacity(capacity, file)), durable }
        }

        fn writer(&self) -> &Naive {
            self
        }

        fn finish(&self) {
            let mut out = self.out.lock().expect("lock");
            out.flush().expect("flush");
            out.get_ref().sync_data().expect("sync");
        }

        fn read_all(dir: &Path) -> Option<u64> {
            let file = File::open(dir.join("naive.log")).expect("open");
            let mut input = BufReader::with_capacity(1 << 20, file);
            let (mut header, mut payload, mut read) = ([0u8; 8], Vec::new(), 0);
            while input.read_exact(&mut header).is_ok() {
                let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
                payload.resize(len, 0);
                input.read_exact(&mut payload).expect("payload");
                assert_eq!(crc32fast::hash(&payload).to_le_bytes(), header[4..]);
                read += 1;
            }
            Some(read)
        }
    }

    impl super::Writer for &Naive {
        fn append(&mut self, payload: &[u8]) {
            let mut out = self.out.lock().expect("lock");
            let len = u32::try_from(payload.len()).expect("small");
            out.write_all(&len.to_le_bytes()).expect("write");
            out.write_all(&crc32fast::hash(payload).to_le_bytes()).expect("write");
            out.write_all(payload).expect("write");
            if self.durable {
                out.flush().expect("flush");
                out.get_ref().sync_data().expect("sync");
            }
        }

        fn append_batch(&mut self, payloads: &[&[u8]]) {
            for payload in payloads {
                self.append(payload);
            }
        }
    }
}

mod sqlite {
    use std::path::{Path, PathBuf};

    use rusqlite::{Connection, params};

    pub(crate) struct Sqlite {
        path: PathBuf,
        durable: bool,
        /// The connection that sets the database up and checkpoints it (a `Connection` is
        /// `Send`, not `Sync`).
        first: std::sync::Mutex<Connection>,
    }

    fn connect(path: &Path, durable: bool) -> Connection {
        let connection = Connection::open(path).expect("open");
        connection.busy_timeout(std::time::Duration::from_secs(60)).expect("busy timeout");
        let synchronous = if durable { "FULL" } else { "NORMAL" };
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous};
                 CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);"
            ))
            .expect("set up");
        connection
    }

    impl super::System for Sqlite {
        type Writer<'a> = Connection;

        fn open(dir: &Path, durable: bool) -> Self {
            std::fs::create_dir_all(dir).expect("dir");
            let path = dir.join("log.sqlite");
            let first = std::sync::Mutex::new(connect(&path, durable));
            Sqlite { path, durable, first }
        }

        fn writer(&self) -> Connection {
            connect(&self.path, self.durable)
        }

        fn finish(&self) {
            // Moves the WAL into the database and syncs both.
            let first = self.first.lock().expect("lock");
            // (busy, frames in the WAL, frames checkpointed): a busy checkpoint synced nothing.
            let busy: i64 = first
                .query_row("PRAGMA wal_checkpoint(FULL)", [], |row| row.get(0))
                .expect("checkpoint");
            assert_eq!(busy, 0, "the final checkpoint completed");
        }

        fn read_all(dir: &Path) -> Option<u64> {
            let connection = Connection::open(dir.join("log.sqlite")).expect("open");
            let mut statement = connection.prepare("SELECT payload FROM log").expect("prepare");
            let rows = statement.query_map([], |row| row.get::<_, Vec<u8>>(0)).expect("query");
            Some(rows.map(|row| u64::from(!row.expect("row").is_empty())).sum())
        }
    }

    impl super::Writer for Connection {
        fn append(&mut self, payload: &[u8]) {
            self.execute("INSERT INTO log (payload) VALUES (?1)", params![payload])
                .expect("insert");
        }

        fn append_batch(&mut self, payloads: &[&[u8]]) {
            let transaction = self.transaction().expect("begin");
            {
                let mut insert = transaction
                    .prepare_cached("INSERT INTO log (payload) VALUES (?1)")
                    .expect("prepare");
                for payload in payloads {
                    insert.execute(params![payload]).expect("insert");
                }
            }
            transaction.commit().expect("commit");
        }
    }
}

mod sled_log {
    use super::{AtomicU64, Ordering, Path};

    pub(crate) struct Sled {
        db: sled::Db,
        /// For durable cells, sled's data file: its `flush` ends in `sync_file_range`, which
        /// writes the pages but neither the metadata nor the disk's cache (not durable across
        /// a power loss, as `strace -f -c` shows), so each flush is followed by `fdatasync`.
        data: std::fs::File,
        durable: bool,
        next: AtomicU64,
    }

    impl Sled {
        fn flush(&self) {
            self.db.flush().expect("flush");
            self.data.sync_data().expect("fdatasync");
        }
    }

    pub(crate) struct SledWriter<'a>(&'a Sled);

    impl super::System for Sled {
        type Writer<'a> = SledWriter<'a>;

        fn open(dir: &Path, durable: bool) -> Self {
            let db = sled::Config::new().path(dir).open().expect("open");
            let data = std::fs::File::open(dir.join("db")).expect("sled's file");
            Sled { db, data, durable, next: AtomicU64::new(0) }
        }

        fn writer(&self) -> SledWriter<'_> {
            SledWriter(self)
        }

        fn finish(&self) {
            self.flush();
        }

        fn read_all(dir: &Path) -> Option<u64> {
            let db = sled::Config::new().path(dir).open().expect("open");
            Some(db.iter().map(|item| u64::from(!item.expect("item").1.is_empty())).sum())
        }
    }

    impl super::Writer for SledWriter<'_> {
        fn append(&mut self, payload: &[u8]) {
            let key = self.0.next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
            self.0.db.insert(key, payload).expect("insert");
            if self.0.durable {
                self.0.flush();
            }
        }

        fn append_batch(&mut self, payloads: &[&[u8]]) {
            let mut batch = sled::Batch::default();
            for payload in payloads {
                let key = self.0.next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
                batch.insert(&key, *payload);
            }
            self.0.db.apply_batch(batch).expect("batch");
        }
    }
}

mod okay {
    use std::io;
    use std::path::Path;
    use std::sync::Mutex;

    use okaywal::{Entry, EntryId, LogManager, ReadChunkResult, SegmentReader, WriteAheadLog};

    /// Checkpointing keeps nothing (the bench never needs the data again); recovery reads
    /// every chunk.
    #[derive(Debug, Default)]
    struct Discard;

    impl LogManager for Discard {
        fn recover(&mut self, entry: &mut Entry<'_>) -> io::Result<()> {
            while let ReadChunkResult::Chunk(mut chunk) = entry.read_chunk()? {
                chunk.read_all()?;
            }
            Ok(())
        }

        fn checkpoint_to(
            &mut self,
            _last_checkpointed_id: EntryId,
            _checkpointed_entries: &mut SegmentReader,
            _wal: &WriteAheadLog,
        ) -> io::Result<()> {
            Ok(())
        }
    }

    pub(crate) struct Okay {
        log: WriteAheadLog,
        durable: bool,
    }

    /// For non-durable cells, the one entry every record goes into, committed on drop.
    pub(crate) struct OkayWriter<'a> {
        system: &'a Okay,
        open: Mutex<Option<okaywal::EntryWriter<'a>>>,
    }

    impl super::System for Okay {
        type Writer<'a> = OkayWriter<'a>;

        fn open(dir: &Path, durable: bool) -> Self {
            let log = WriteAheadLog::recover(dir, Discard).expect("open");
            Okay { log, durable }
        }

        fn writer(&self) -> OkayWriter<'_> {
            OkayWriter { system: self, open: Mutex::new(None) }
        }

        fn finish(&self) {}

        /// okaywal hands a segment's entries to the application's checkpoint and recycles the
        /// segment, closing included; a reopened log recovers only what was not checkpointed
        /// (here, nothing), so there is nothing comparable to read back.
        fn read_all(_dir: &Path) -> Option<u64> {
            None
        }
    }

    impl super::Writer for OkayWriter<'_> {
        fn append(&mut self, payload: &[u8]) {
            if self.system.durable {
                let mut entry = self.system.log.begin_entry().expect("begin");
                entry.write_chunk(payload).expect("write");
                entry.commit().expect("commit");
                return;
            }
            let mut open = self.open.lock().expect("lock");
            let entry = match open.as_mut() {
                Some(entry) => entry,
                None => open.insert(self.system.log.begin_entry().expect("begin")),
            };
            entry.write_chunk(payload).expect("write");
        }

        fn append_batch(&mut self, payloads: &[&[u8]]) {
            for payload in payloads {
                self.append(payload);
            }
        }
    }

    impl Drop for OkayWriter<'_> {
        fn drop(&mut self) {
            if let Some(entry) = self.open.get_mut().expect("lock").take() {
                entry.commit().expect("commit");
            }
        }
    }
}
