//! What a durable commit costs for each way of preparing a chunk's space, and what an append into
//! a mapped chunk costs against a memcpy of the same bytes. Measured in one run, on the bench
//! directory's file system (`WAL_BENCH_DIR`, default: the system temp directory).
//!
//! Durable commit cells (2,000 commits of one 256 B record each, each durable before the next):
//! - `msync, fallocated`: store into a mapping of `fallocate`d (unwritten-extent) space, msync;
//! - `msync, fallocated, mapping pre-faulted for write`: the same, after `MADV_POPULATE_WRITE`
//!   (what `SegmentWriter` does when it prepares a chunk);
//! - `msync, zero-filled 1 MiB writes`: the same into space zero-filled by 1 MiB `pwrite`s;
//! - `msync, zero-filled 4 KiB writes`: the same into space zero-filled by 4 KiB `pwrite`s;
//! - `pwrite+fdatasync, zero-filled`: `pwrite` into written space, `fdatasync` (the floor);
//! - `pwrite+fdatasync, growing file`: appending writes that extend the file.
//!
//! Append cells: 128 B records through `SegmentWriter::append` on real files (no sync), against
//! `memcpy` of the same payload bytes into a buffer of the same size.
#![expect(clippy::cast_precision_loss, reason = "nanosecond counts far below 2^52")]

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};
use wal_segment::SegmentId;

use memmap2::{Advice, MmapMut, MmapOptions};
use rustix::fs::{FallocateFlags, fallocate};
use wal_format::{Lsn, Record, Tag};
use wal_segment::{ChunkPreparation, RealStorage, SegmentOptions, SegmentWriter};

const FILE_BYTES: u64 = 64 << 20;
const COMMITS: usize = 2000;
const RECORD_BYTES: usize = 256;

fn main() {
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(&base).expect("bench directory");
    // `WAL_BENCH_ONLY=prepare` runs only the chunk preparation cells.
    if std::env::var("WAL_BENCH_ONLY").as_deref() == Ok("prepare") {
        chunk_preparation(dir.path());
        return;
    }
    durable_commits(dir.path());
    append_against_memcpy(dir.path());
    chunk_preparation(dir.path());
    println!("\n(measured in {})", base.display());
}

/// Prepares one file per cell, then runs the cells interleaved, `COMMITS / ROUNDS` commits at a
/// time in rotating order, so drift of the machine lands on every cell alike.
fn durable_commits(dir: &Path) {
    const ROUNDS: usize = 20;
    let cells = commit_cells();
    let mut prepared = prepare_cells(dir, &cells);
    let mut latencies = vec![Vec::with_capacity(COMMITS); cells.len()];
    for round in 0..ROUNDS {
        for step in 0..cells.len() {
            let cell = (round + step) % cells.len();
            let (file, map, _) = &mut prepared[cell];
            for commit in 0..COMMITS / ROUNDS {
                let offset = (round * COMMITS / ROUNDS + commit) * RECORD_BYTES;
                latencies[cell].push(match (&cells[cell].2, map.as_mut()) {
                    (Sync::PwriteMsync, Some(map)) => pwrite_msync_commit(file, map, offset),
                    (Sync::PwriteDsync, _) => pwrite_dsync_commit(file, offset),
                    (Sync::OpenDsync, _) => pwrite_only_commit(file, offset),
                    (_, Some(map)) => msync_commit(map, offset),
                    (_, None) => pwrite_commit(file, offset),
                });
            }
        }
    }
    println!("durable 256 B commits: {COMMITS} per cell, interleaved in {ROUNDS} rounds");
    println!(
        "| method | prepare and map 64 MiB, ms | commits/s | p50 us | p99 us |\n|---|---|---|---|---|"
    );
    for ((name, _, _), (times, (_, _, prep))) in
        cells.iter().zip(latencies.into_iter().zip(&prepared))
    {
        report(name, *prep, times);
    }
}

/// The durable-commit cells: name, how the file is prepared, how a commit is made durable.
fn commit_cells() -> [(&'static str, Prep, Sync); 13] {
    [
        ("msync, fallocated", Prep::Fallocate, Sync::Msync),
        (
            "msync, fallocated, mapping pre-faulted for write",
            Prep::Fallocate,
            Sync::MsyncPrefaulted,
        ),
        (
            "msync, fallocated then zero-filled 4 KiB writes",
            Prep::FallocateZeroFill(4096),
            Sync::Msync,
        ),
        ("msync, zero-filled 1 MiB writes", Prep::ZeroFill(1 << 20), Sync::Msync),
        ("msync, zero-filled 4 KiB writes", Prep::ZeroFill(4096), Sync::Msync),
        ("pwrite+fdatasync, zero-filled 1 MiB writes", Prep::ZeroFill(1 << 20), Sync::Pwrite),
        ("pwrite+fdatasync, growing file", Prep::Empty, Sync::Pwrite),
        // The write paths of issue "Durable commits at the disk's floor": the record written
        // through the file (no store into the mapping, so no write fault on a page the last
        // sync cleaned), with the sync by msync of the mapping, fdatasync, or the write itself.
        ("pwrite+fdatasync, fallocated", Prep::Fallocate, Sync::Pwrite),
        ("pwrite, then msync of the mapped range, fallocated", Prep::Fallocate, Sync::PwriteMsync),
        ("pwritev2(RWF_DSYNC), fallocated", Prep::Fallocate, Sync::PwriteDsync),
        ("pwritev2(RWF_DSYNC), zero-filled 4 KiB writes", Prep::ZeroFill(4096), Sync::PwriteDsync),
        ("pwrite to an O_DSYNC descriptor, fallocated", Prep::Fallocate, Sync::OpenDsync),
        (
            "pwrite to an O_DSYNC descriptor, zero-filled 4 KiB",
            Prep::ZeroFill(4096),
            Sync::OpenDsync,
        ),
    ]
}

/// Prepares (and maps, where the cell stores through a mapping) one file per cell.
fn prepare_cells(
    dir: &Path,
    cells: &[(&str, Prep, Sync)],
) -> Vec<(File, Option<MmapMut>, Duration)> {
    cells
        .iter()
        .enumerate()
        .map(|(index, (_, prep, sync))| {
            let started = Instant::now();
            let path = dir.join(format!("cell{index}"));
            let file = prepare(&path, prep);
            let map = match sync {
                Sync::Msync => Some(map_whole(&file)),
                Sync::MsyncPrefaulted | Sync::PwriteMsync => {
                    let map = map_whole(&file);
                    map.advise(Advice::PopulateWrite).unwrap();
                    Some(map)
                }
                Sync::Pwrite | Sync::PwriteDsync | Sync::OpenDsync => None,
            };
            let file = match sync {
                Sync::OpenDsync => {
                    OpenOptions::new().write(true).custom_flags(libc_o_dsync()).open(&path).unwrap()
                }
                _ => file,
            };
            (file, map, started.elapsed())
        })
        .collect()
}

enum Sync {
    Msync,
    /// As `SegmentWriter` maps chunks: `MADV_POPULATE_WRITE` right after mapping.
    MsyncPrefaulted,
    Pwrite,
    /// `pwrite` into a mapped (pre-faulted) file, then `msync` of the written range.
    PwriteMsync,
    /// `pwritev2` with `RWF_DSYNC`: the write returns once its data is durable.
    PwriteDsync,
    /// `pwrite` to a descriptor opened `O_DSYNC`.
    OpenDsync,
}

/// `O_DSYNC` for `OpenOptions::custom_flags` (Linux value; the bench runs on Linux).
fn libc_o_dsync() -> i32 {
    i32::try_from(rustix::fs::OFlags::DSYNC.bits()).unwrap()
}

enum Prep {
    Fallocate,
    FallocateZeroFill(usize),
    ZeroFill(usize),
    Empty,
}

fn prepare(path: &Path, prep: &Prep) -> File {
    let file = OpenOptions::new().read(true).write(true).create_new(true).open(path).unwrap();
    match prep {
        Prep::Fallocate => fallocate(&file, FallocateFlags::empty(), 0, FILE_BYTES).unwrap(),
        Prep::FallocateZeroFill(write_bytes) => {
            fallocate(&file, FallocateFlags::empty(), 0, FILE_BYTES).unwrap();
            zero_fill(&file, *write_bytes);
        }
        Prep::ZeroFill(write_bytes) => zero_fill(&file, *write_bytes),
        Prep::Empty => {}
    }
    file.sync_all().unwrap();
    file
}

fn zero_fill(file: &File, write_bytes: usize) {
    let zeros = vec![0u8; write_bytes];
    for offset in (0..FILE_BYTES).step_by(write_bytes) {
        file.write_all_at(&zeros, offset).unwrap();
    }
}

fn map_whole(file: &File) -> MmapMut {
    let len = usize::try_from(FILE_BYTES).unwrap();
    // SAFETY: the file was fully prepared and is private to this bench.
    unsafe { MmapOptions::new().len(len).map_mut(file).unwrap() }
}

fn msync_commit(map: &mut MmapMut, offset: usize) -> Duration {
    let started = Instant::now();
    map[offset..offset + RECORD_BYTES].copy_from_slice(&[0xA5u8; RECORD_BYTES]);
    map.flush_range(offset, RECORD_BYTES).unwrap();
    started.elapsed()
}

fn pwrite_commit(file: &File, offset: usize) -> Duration {
    let started = Instant::now();
    file.write_all_at(&[0xA5u8; RECORD_BYTES], offset as u64).unwrap();
    file.sync_data().unwrap();
    started.elapsed()
}

fn pwrite_msync_commit(file: &File, map: &MmapMut, offset: usize) -> Duration {
    let started = Instant::now();
    file.write_all_at(&[0xA5u8; RECORD_BYTES], offset as u64).unwrap();
    map.flush_range(offset, RECORD_BYTES).unwrap();
    started.elapsed()
}

fn pwrite_dsync_commit(file: &File, offset: usize) -> Duration {
    let started = Instant::now();
    let written = rustix::io::pwritev2(
        file,
        &[std::io::IoSlice::new(&[0xA5u8; RECORD_BYTES])],
        offset as u64,
        rustix::io::ReadWriteFlags::DSYNC,
    )
    .unwrap();
    assert_eq!(written, RECORD_BYTES);
    started.elapsed()
}

fn pwrite_only_commit(file: &File, offset: usize) -> Duration {
    let started = Instant::now();
    file.write_all_at(&[0xA5u8; RECORD_BYTES], offset as u64).unwrap();
    started.elapsed()
}

fn report(name: &str, prepare: Duration, mut latencies: Vec<Duration>) {
    let total: Duration = latencies.iter().sum();
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
        prepare.as_secs_f64() * 1e3,
        latencies.len() as f64 / total.as_secs_f64(),
        percentile(50).as_secs_f64() * 1e6,
        percentile(99).as_secs_f64() * 1e6
    );
}

fn append_against_memcpy(dir: &Path) {
    const RECORDS: usize = 100_000;
    const PAYLOAD: usize = 128;
    let options = SegmentOptions {
        chunk_bytes: 16 << 20,
        chunks_per_segment: 4,
        ..SegmentOptions::default()
    };
    let payload = [0x5Au8; PAYLOAD];
    let record = [Record { tag: Tag::ENTRY, payload: &payload }];
    // A buffer touched once beforehand: memcpy without page faults.
    let mut warm = vec![1u8; RECORDS * (PAYLOAD + 24)];
    let mut rounds = Vec::new();
    for round in 0..7u64 {
        let mut writer =
            SegmentWriter::create(&RealStorage, dir, SegmentId(100 + round), Lsn(0), options)
                .unwrap();
        let started = Instant::now();
        for _ in 0..RECORDS {
            writer.append(black_box(&record)).unwrap();
        }
        let append = started.elapsed();
        let started = Instant::now();
        for slot in warm.chunks_exact_mut(PAYLOAD + 24) {
            slot[..PAYLOAD].copy_from_slice(black_box(&payload));
        }
        black_box(&mut warm);
        rounds.push((append, started.elapsed()));
    }
    rounds.sort_by_key(|(append, _)| *append);
    let (append, memcpy) = rounds[rounds.len() / 2];
    let per = |d: Duration| d.as_nanos() as f64 / RECORDS as f64;
    println!(
        "\nappend of 128 B records into mapped 16 MiB chunks (median of 7 rounds of {RECORDS})"
    );
    println!("| cell | ns/record |\n|---|---|");
    println!("| SegmentWriter::append, one record per call, fresh chunks | {:.1} |", per(append));
    println!("| memcpy of the payload into a warm buffer | {:.1} |", per(memcpy));
    println!("| ratio append / memcpy | {:.1} |", per(append) / per(memcpy));
    chunk_boundary_latency(dir, &record, options);
}

/// The slowest appends across chunk boundaries, with the next chunk prepared in the background
/// and inline: 1,000,000 records of 128 B fill about 9 chunks of 16 MiB in 3 segments. The
/// appends that start a new segment are not timed (segment creation is the engine's step).
fn chunk_boundary_latency(dir: &Path, record: &[Record<'_>], options: SegmentOptions) {
    const RECORDS: usize = 1_000_000;
    println!(
        "\nslowest appends over {RECORDS} appends of 128 B (chunk boundaries inside segments)"
    );
    println!("| next chunk prepared | p99.99 us | max us |\n|---|---|---|");
    for (name, preparation, first_id) in [
        ("in the background", ChunkPreparation::Background, 200),
        ("inline", ChunkPreparation::Inline, 300),
    ] {
        let options = SegmentOptions { preparation, ..options };
        let mut latencies = Vec::with_capacity(RECORDS);
        let mut segment = first_id;
        let mut writer =
            SegmentWriter::create(&RealStorage, dir, SegmentId(segment), Lsn(0), options).unwrap();
        for _ in 0..RECORDS {
            let started = Instant::now();
            match writer.append(black_box(record)) {
                Ok(_) => latencies.push(started.elapsed()),
                // Starting a new segment is the engine's step, not an append: not timed.
                Err(wal_segment::Error::SegmentFull { .. }) => {
                    segment += 1;
                    let next = writer.next_lsn();
                    writer =
                        SegmentWriter::create(&RealStorage, dir, SegmentId(segment), next, options)
                            .unwrap();
                    writer.append(record).unwrap();
                }
                Err(error) => panic!("{error}"),
            }
        }
        latencies.sort();
        let p9999 = latencies[latencies.len() * 9999 / 10_000];
        let max = latencies[latencies.len() - 1];
        println!("| {name} | {:.1} | {:.0} |", p9999.as_secs_f64() * 1e6, max.as_secs_f64() * 1e6);
    }
}

/// How to make a 16 MiB chunk's space ready for stores through a shared mapping.
#[derive(Clone, Copy, Debug)]
enum ChunkPrep {
    /// `fallocate`, map, `MADV_POPULATE_WRITE` (what `SegmentWriter` does today).
    FallocatePopulateWrite,
    /// `fallocate`, map with `MAP_POPULATE` (read faults only; the first store still faults).
    FallocateMapPopulate,
    /// `fallocate`, map, nothing more: every first store to a page faults (with fault-around).
    FallocateOnly,
    /// `fallocate(FALLOC_FL_ZERO_RANGE)`, map, `MADV_POPULATE_WRITE`.
    ZeroRangePopulateWrite,
    /// Zeros written with `pwrite` in pieces of this many bytes, map, `MADV_POPULATE_WRITE`.
    PwriteZerosPopulateWrite(usize),
    /// `fallocate`, then zeros written with `pwrite` in pieces of this many bytes, map,
    /// `MADV_POPULATE_WRITE`.
    FallocatePwriteZerosPopulateWrite(usize),
}

/// Each way of preparing a 16 MiB chunk, 8 chunks per cell in a fresh file: the time to prepare
/// one (the preparing thread's cost), to fill it with stores (the appender's cost), and the
/// `fdatasync` of the whole file at the end (the write-back, with any extent conversion).
fn chunk_preparation(dir: &Path) {
    const CHUNK: usize = 16 << 20;
    const CHUNKS: usize = 8;
    let cells = [
        ChunkPrep::FallocatePopulateWrite,
        ChunkPrep::FallocateMapPopulate,
        ChunkPrep::FallocateOnly,
        ChunkPrep::ZeroRangePopulateWrite,
        ChunkPrep::PwriteZerosPopulateWrite(4 << 10),
        ChunkPrep::PwriteZerosPopulateWrite(64 << 10),
        ChunkPrep::PwriteZerosPopulateWrite(1 << 20),
        ChunkPrep::FallocatePwriteZerosPopulateWrite(64 << 10),
        ChunkPrep::FallocatePwriteZerosPopulateWrite(1 << 20),
    ];
    println!("\n### Preparing a 16 MiB chunk, by method (8 chunks per cell, medians)\n");
    println!("| method | prepare ms | fill ms | fdatasync of 128 MiB, ms | total per chunk ms |");
    println!("|---|---|---|---|---|");
    let data = vec![0x5Au8; CHUNK];
    for (number, cell) in cells.into_iter().enumerate() {
        let path = dir.join(format!("prepare-{number}"));
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
        let (mut prepared, mut filled) = (Vec::new(), Vec::new());
        for chunk in 0..CHUNKS {
            let offset = (chunk * CHUNK) as u64;
            let started = Instant::now();
            let mut map = prepare_chunk(&file, offset, CHUNK, cell);
            prepared.push(started.elapsed());
            let started = Instant::now();
            // Stores of 128 B records' worth at a time, as appends make them.
            for piece in map.chunks_mut(4096) {
                piece.copy_from_slice(&data[..piece.len()]);
            }
            filled.push(started.elapsed());
            black_box(&map);
        }
        let started = Instant::now();
        file.sync_data().unwrap();
        let synced = started.elapsed();
        drop(file);
        std::fs::remove_file(&path).unwrap();
        let median = |mut times: Vec<Duration>| {
            times.sort();
            times[times.len() / 2]
        };
        let (prepare, fill) = (median(prepared), median(filled));
        let ms = |time: Duration| time.as_secs_f64() * 1e3;
        println!(
            "| {cell:?} | {:.1} | {:.1} | {:.0} | {:.1} |",
            ms(prepare),
            ms(fill),
            ms(synced),
            ms(prepare) + ms(fill) + ms(synced) / CHUNKS as f64
        );
    }
}

fn prepare_chunk(file: &File, offset: u64, len: usize, how: ChunkPrep) -> MmapMut {
    let bytes = len as u64;
    let write_zeros = |piece: usize| {
        let zeros = vec![0u8; piece];
        for at in (0..bytes).step_by(piece) {
            file.write_all_at(&zeros, offset + at).unwrap();
        }
    };
    match how {
        ChunkPrep::FallocatePopulateWrite
        | ChunkPrep::FallocateMapPopulate
        | ChunkPrep::FallocateOnly => {
            fallocate(file, FallocateFlags::empty(), offset, bytes).unwrap();
        }
        ChunkPrep::ZeroRangePopulateWrite => {
            fallocate(file, FallocateFlags::ZERO_RANGE, offset, bytes).unwrap();
        }
        ChunkPrep::PwriteZerosPopulateWrite(piece) => write_zeros(piece),
        ChunkPrep::FallocatePwriteZerosPopulateWrite(piece) => {
            fallocate(file, FallocateFlags::empty(), offset, bytes).unwrap();
            write_zeros(piece);
        }
    }
    let mut options = MmapOptions::new();
    options.offset(offset).len(len);
    if matches!(how, ChunkPrep::FallocateMapPopulate) {
        options.populate();
    }
    // SAFETY: the file is private to this bench and its space was prepared above.
    let map = unsafe { options.map_mut(file).unwrap() };
    if !matches!(how, ChunkPrep::FallocateMapPopulate | ChunkPrep::FallocateOnly) {
        let _ = map.advise(Advice::PopulateWrite);
    }
    map
}
