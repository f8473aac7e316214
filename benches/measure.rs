//! What the harness benches (`engine`, `peers`) share: a cell's result, latency percentiles,
//! and dropping a file's pages from the cache. Included by path by each bench.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs `cell` in a new process of this bench (which sees `WAL_BENCH_CELL` and runs only that
/// cell) in `base`; returns the numbers of its `RESULT` line and its whole standard output.
pub(crate) fn run_in_process(cell: &str, base: &Path) -> (Vec<f64>, String) {
    let output = std::process::Command::new(std::env::current_exe().expect("own path"))
        .env("WAL_BENCH_CELL", cell)
        .env("WAL_BENCH_DIR", base)
        .output()
        .expect("run a cell");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = text.lines().find_map(|line| line.strip_prefix("RESULT ")).unwrap_or_else(|| {
        panic!("cell {cell} failed: {}", String::from_utf8_lossy(&output.stderr))
    });
    let fields = line.split(' ').map(|f| f.parse().expect("a number")).collect();
    (fields, text)
}

/// One measurement: a rate, and latency percentiles where they apply.
pub(crate) struct Cell {
    pub(crate) rate: f64,
    pub(crate) latency: Option<(Duration, Duration)>,
}

impl Cell {
    /// The numbers a cell reports: the rate, then p50 and p99 in microseconds if measured.
    pub(crate) fn fields(&self) -> Vec<f64> {
        let mut fields = vec![self.rate];
        if let Some((p50, p99)) = self.latency {
            fields.extend([p50.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6]);
        }
        fields
    }

    /// Prints the line a cell's process gives its parent.
    #[allow(dead_code, reason = "used by the engine bench, not by the peers bench")]
    pub(crate) fn report(&self) {
        report_fields(&self.fields());
    }
}

/// Prints the line a cell's process gives its parent: `RESULT` and the numbers.
pub(crate) fn report_fields(fields: &[f64]) {
    let fields: Vec<String> = fields.iter().map(f64::to_string).collect();
    println!("RESULT {}", fields.join(" "));
}

/// This process's peak resident set in MiB (`VmHWM`; file pages it mapped count too).
#[allow(dead_code, reason = "used by the peers bench, not by the engine bench")]
pub(crate) fn peak_rss_mib() -> f64 {
    status_kib("VmHWM:") as f64 / 1024.0
}

/// A field of `/proc/self/status` in KiB (0 if absent).
pub(crate) fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples the process's anonymous and file-mapped resident memory every 2 ms and keeps the
/// peak of each (the kernel keeps only the peak of their sum, `VmHWM`).
pub(crate) struct MemoryPeaks {
    peaks: std::sync::Arc<[std::sync::atomic::AtomicU64; 2]>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

impl MemoryPeaks {
    pub(crate) fn start() -> MemoryPeaks {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let peaks = std::sync::Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peaks, stop) = (std::sync::Arc::clone(&peaks), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peaks[0].fetch_max(status_kib("RssAnon:"), Ordering::Relaxed);
                    peaks[1].fetch_max(status_kib("RssFile:"), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        MemoryPeaks { peaks, stop, sampler: Some(sampler) }
    }

    /// Stops sampling; the peaks of anonymous and file-mapped memory, in MiB.
    pub(crate) fn finish(mut self) -> (f64, f64) {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            sampler.join().expect("sampler");
        }
        let mib = |at: usize| self.peaks[at].load(Ordering::Relaxed) as f64 / 1024.0;
        (mib(0), mib(1))
    }
}

/// The 50th and 99th percentiles.
pub(crate) fn percentiles(mut latencies: Vec<Duration>) -> (Duration, Duration) {
    latencies.sort_unstable();
    let at = |percent: usize| latencies[(latencies.len() - 1) * percent / 100];
    (at(50), at(99))
}

/// Drops the cached pages of every file under `path` (a file, or a directory searched
/// recursively), after syncing them.
pub(crate) fn drop_cache(path: &Path) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("list") {
            drop_cache(&entry.expect("entry").path());
        }
        return;
    }
    let file = File::open(path).expect("open");
    file.sync_all().expect("sync");
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
}

/// `threads` threads at once, each making a writer with `make` and running `op` on it
/// `per_thread` times: the rate of all the operations, and their latency percentiles. The
/// clock starts once every thread has made its writer.
pub(crate) fn timed_threads<W>(
    threads: usize,
    per_thread: usize,
    make: impl Fn() -> W + Sync,
    op: impl Fn(&mut W) + Sync,
) -> Cell {
    let ready = std::sync::Barrier::new(threads + 1);
    let (latencies, elapsed): (Vec<Duration>, Duration) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (make, op, ready) = (&make, &op, &ready);
                scope.spawn(move || {
                    let mut writer = make();
                    ready.wait();
                    (0..per_thread)
                        .map(|_| {
                            let at = Instant::now();
                            op(&mut writer);
                            at.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        ready.wait();
        let started = Instant::now();
        let latencies =
            workers.into_iter().flat_map(|worker| worker.join().expect("worker")).collect();
        (latencies, started.elapsed())
    });
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let rate = (threads * per_thread) as f64 / elapsed.as_secs_f64();
    Cell { rate, latency: Some(percentiles(latencies)) }
}

/// Reads a naive log (length u32, CRC-32 of the payload, payload; per record) from the start,
/// checking each CRC; returns how many records it holds.
pub(crate) fn read_naive_log(path: &Path) -> u64 {
    use std::io::{BufReader, Read};
    let mut input = BufReader::with_capacity(1 << 20, File::open(path).expect("open"));
    let (mut header, mut payload, mut read) = ([0u8; 8], Vec::new(), 0);
    while input.read_exact(&mut header).is_ok() {
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        payload.resize(len, 0);
        input.read_exact(&mut payload).expect("payload");
        assert_eq!(crc32fast::hash(&payload).to_le_bytes(), header[4..]);
        read += 1;
    }
    read
}

/// Makes `dir`'s entries durable (a file created in it, found after a power loss).
#[allow(dead_code, reason = "used by the peers bench, not by the engine bench")]
pub(crate) fn sync_dir(dir: &Path) {
    File::open(dir).expect("open the directory").sync_all().expect("sync the directory");
}

/// `fdatasync`s every file under `path` and syncs every directory, `path` included.
#[allow(dead_code, reason = "used by the peers bench, not by the engine bench")]
pub(crate) fn sync_tree(path: &Path) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("list") {
            sync_tree(&entry.expect("entry").path());
        }
        sync_dir(path);
    } else {
        File::open(path).expect("open").sync_data().expect("fdatasync");
    }
}
