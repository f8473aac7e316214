//! The machine's physical limits, measured in the same run as the systems, each in a process of
//! its own: memcpy and CRC bandwidth, sequential write and cold read bandwidth of the bench
//! directory, and the latency of a durable write for each way a log might sync.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use memmap2::{MmapMut, MmapOptions};
use rustix::fs::{FallocateFlags, fallocate};

use crate::measure::{drop_cache, percentiles, run_in_process};

/// Bytes of a bandwidth measurement (1 GiB at full scale).
fn volume() -> usize {
    ((1 << 30) / crate::scale()).max(16 << 20)
}

/// The size of the file a durable-write cell writes into.
const DURABLE_FILE: u64 = 64 << 20;

/// The cells: id, what it measures, unit.
pub(crate) const CELLS: [(&str, &str, &str); 9] = [
    ("memcpy", "memcpy, 16 MiB chunks", "GB/s"),
    ("crc", "CRC-32 (crc32fast), 16 MiB chunks", "GB/s"),
    ("seq-write", "sequential 1 MiB writes, then fdatasync", "MB/s"),
    ("cold-read", "sequential 1 MiB reads, cold cache", "MB/s"),
    ("floor", "durable 256 B: pwrite + fdatasync into zero-filled space", "writes/s"),
    ("pwrite", "durable 4 KiB: pwrite + fdatasync into zero-filled space", "writes/s"),
    ("msync-zeroed", "durable 4 KiB: store + msync, zero-filled space", "writes/s"),
    ("msync-fallocated", "durable 4 KiB: store + msync, fallocated space", "writes/s"),
    ("append", "durable 4 KiB: appending write + fdatasync, growing file", "writes/s"),
];

/// Which limit a workload's rate is compared with, and how many bytes make one unit of it.
#[derive(Clone, Copy)]
pub(crate) enum Bound {
    /// Sequential write bandwidth, in units of this many bytes.
    Write(usize),
    /// A 256 B durable write (pwrite + fdatasync into written space): the commit floor.
    DurableCommit,
    /// Cold sequential read bandwidth, in units of this many bytes.
    ColdRead(usize),
    /// memcpy bandwidth, in units of this many bytes (an append phase that syncs nothing).
    Memcpy(usize),
}

/// Every cell's numbers, in the order of `CELLS`.
pub(crate) struct Limits(pub(crate) Vec<Vec<f64>>);

impl Limits {
    fn rate(&self, id: &str) -> f64 {
        let index = CELLS.iter().position(|(cell, _, _)| *cell == id).expect("a limit cell");
        self.0[index][0]
    }

    /// The limit of a workload, in the workload's unit.
    pub(crate) fn of(&self, bound: Bound) -> f64 {
        match bound {
            Bound::Write(unit) => self.rate("seq-write") * 1e6 / unit as f64,
            Bound::DurableCommit => self.rate("floor"),
            Bound::ColdRead(unit) => self.rate("cold-read") * 1e6 / unit as f64,
            Bound::Memcpy(unit) => self.rate("memcpy") * 1e9 / unit as f64,
        }
    }
}

/// Runs every limit cell, each in its own process.
pub(crate) fn measure_all(base: &Path) -> Limits {
    Limits(CELLS.iter().map(|(id, _, _)| run_in_process(&format!("limit/{id}"), base).0).collect())
}

/// Runs one limit cell in this process; its numbers.
pub(crate) fn run(cell: &str) -> Vec<f64> {
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(&base).expect("bench directory");
    let path = dir.path().join("limit");
    let writes = 2000 / crate::scale().min(10);
    match cell {
        "memcpy" => vec![bandwidth(|chunk, out| out.copy_from_slice(black_box(chunk))) / 1e9],
        "crc" => {
            let crc = |chunk: &[u8], out: &mut [u8]| {
                out[..4].copy_from_slice(&crc32fast::hash(black_box(chunk)).to_le_bytes());
            };
            vec![bandwidth(crc) / 1e9]
        }
        "seq-write" => vec![sequential_write(&path) / 1e6],
        "cold-read" => {
            sequential_write(&path);
            drop_cache(&path);
            vec![cold_read(&path) / 1e6]
        }
        "floor" => durable(&zero_filled(&path), writes, 256, Sync::Pwrite),
        "pwrite" => durable(&zero_filled(&path), writes, 4096, Sync::Pwrite),
        "msync-zeroed" => durable(&zero_filled(&path), writes, 4096, Sync::Msync),
        "msync-fallocated" => {
            let file = create(&path);
            fallocate(&file, FallocateFlags::empty(), 0, DURABLE_FILE).expect("fallocate");
            file.sync_all().expect("sync");
            durable(&file, writes, 4096, Sync::Msync)
        }
        "append" => durable(&create(&path), writes, 4096, Sync::Pwrite),
        other => panic!("unknown limit {other}"),
    }
}

/// Bytes per second of `op` over `volume()` bytes, 16 MiB at a time, from one 16 MiB buffer
/// into another.
fn bandwidth(op: impl Fn(&[u8], &mut [u8])) -> f64 {
    let source: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut out = vec![0u8; source.len()];
    op(&source, &mut out); // fault the pages in
    let rounds = volume() / source.len();
    let started = Instant::now();
    for _ in 0..rounds {
        op(&source, &mut out);
    }
    black_box(&out);
    (rounds * source.len()) as f64 / started.elapsed().as_secs_f64()
}

/// Writes `volume()` bytes to a new file in 1 MiB writes and syncs it; bytes per second.
fn sequential_write(path: &Path) -> f64 {
    let mut file = create(path);
    let block = vec![0x5Au8; 1 << 20];
    let started = Instant::now();
    for _ in 0..volume() / block.len() {
        file.write_all(&block).expect("write");
    }
    file.sync_data().expect("sync");
    volume() as f64 / started.elapsed().as_secs_f64()
}

/// Reads the file at `path` in 1 MiB reads; bytes per second.
fn cold_read(path: &Path) -> f64 {
    let mut file = File::open(path).expect("open");
    let mut block = vec![0u8; 1 << 20];
    let (started, mut total) = (Instant::now(), 0usize);
    loop {
        let read = file.read(&mut block).expect("read");
        if read == 0 {
            break;
        }
        total += read;
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn create(path: &Path) -> File {
    OpenOptions::new().read(true).write(true).create_new(true).open(path).expect("create")
}

/// A file of `DURABLE_FILE` zero bytes written in 4 KiB writes (so the page cache holds it in
/// small pages, as a log's own writes would leave it), synced.
fn zero_filled(path: &Path) -> File {
    let file = create(path);
    let zeros = [0u8; 4096];
    for offset in (0..DURABLE_FILE).step_by(zeros.len()) {
        file.write_all_at(&zeros, offset).expect("zero-fill");
    }
    file.sync_all().expect("sync");
    file
}

enum Sync {
    Pwrite,
    Msync,
}

/// `writes` durable writes of `size` bytes, one after another from the start of `file`: the
/// rate, p50 and p99 in microseconds.
fn durable(file: &File, writes: usize, size: usize, sync: Sync) -> Vec<f64> {
    let record = vec![0xA5u8; size];
    let mut map: Option<MmapMut> = match sync {
        // SAFETY: the file is private to this cell and `DURABLE_FILE` long.
        Sync::Msync => Some(unsafe {
            MmapOptions::new()
                .len(usize::try_from(DURABLE_FILE).expect("64 MiB"))
                .map_mut(file)
                .expect("map")
        }),
        Sync::Pwrite => None,
    };
    let mut latencies: Vec<Duration> = Vec::with_capacity(writes);
    let started = Instant::now();
    for n in 0..writes {
        let (at, offset) = (Instant::now(), n * size);
        match map.as_mut() {
            Some(map) => {
                map[offset..offset + size].copy_from_slice(&record);
                map.flush_range(offset, size).expect("msync");
            }
            None => {
                file.write_all_at(&record, offset as u64).expect("write");
                file.sync_data().expect("fdatasync");
            }
        }
        latencies.push(at.elapsed());
    }
    let rate = writes as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(latencies);
    vec![rate, p50.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6]
}
