//! What tracking handles costs (issue: at most 5% on W1, at most 20 ns per read handle).
//!
//! Tracked and untracked logs are measured in the same process, alternating in rounds, so that
//! drift of the machine (frequency, page cache, other tenants) hits both alike; each figure is
//! the median of the rounds. Cells:
//! - W1: 128 B appends, one per call, `Durability::Buffered`: a log with handle tracking and
//!   the housekeeping thread (the defaults) beside one with both off; and, to show the
//!   harness's noise, two identical untracked logs beside each other.
//! - read handle: `Wal::read_from` and drop, on a log of one record, tracked beside untracked.
//! - the registry alone: register and drop one handle; and a precise clock read for scale.
//!
//! `WAL_BENCH_SCALE` divides the counts, for a quick run.
#![expect(clippy::cast_precision_loss, reason = "counts and nanoseconds far below 2^52")]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use wal_core::{Durability, Kind, Options, Tag, Wal};
use wal_telemetry::Registry;

const TAG: Tag = match Tag::user(0x40) {
    Some(tag) => tag,
    None => panic!("0x40 is a user tag"),
};

const ROUNDS: usize = 31;

/// The record W1 appends, and the one record of the read-handle logs.
const PAYLOAD: [u8; 128] = [0xA5; 128];

fn main() {
    let scale: usize =
        std::env::var("WAL_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).expect("bench directory");
    let tracked = Options::default().with_durability(Durability::Buffered);
    let untracked = tracked.with_track_handles(false).with_housekeeping(None);

    w1_cells(dir.path(), tracked, untracked, 50_000 / scale);

    // Read handles.
    let handles = 300_000 / scale;
    let (a, _) = Wal::open(dir.path().join("reads-tracked"), tracked).expect("open");
    let (b, _) = Wal::open(dir.path().join("reads-untracked"), untracked).expect("open");
    read_handle_cell(&a, &b, handles);

    registry_cells(handles);
    println!("\n({ROUNDS} alternating rounds, medians; scale 1/{scale})");
}

/// W1, alternating rounds of `per_round` appends into two logs: tracked beside untracked, then
/// untracked beside untracked; prints the table's head and the two rows.
fn w1_cells(dir: &Path, tracked: Options, untracked: Options, per_round: usize) {
    let (a, _) = Wal::open(dir.join("tracked"), tracked).expect("open");
    let (b, _) = Wal::open(dir.join("untracked"), untracked).expect("open");
    let (c, _) = Wal::open(dir.join("untracked-again"), untracked).expect("open");
    let append = |wal: &Wal| {
        let started = Instant::now();
        for _ in 0..per_round {
            wal.append(TAG, &PAYLOAD).expect("append");
        }
        started.elapsed().as_nanos() as f64 / per_round as f64
    };
    let (with, without) = rounds(|| append(&a), || append(&b));
    // The same comparison between two identical logs: the harness's own noise.
    let (same, again) = rounds(|| append(&c), || append(&b));
    drop((a, b, c));
    println!("| cell | tracked | untracked | cost |\n|---|---|---|---|");
    println!(
        "| W1 append 128 B, ns per record | {with:.1} | {without:.1} | {:+.1}% |",
        (with / without - 1.0) * 100.0
    );
    println!(
        "| W1 noise: untracked beside untracked | {same:.1} | {again:.1} | {:+.1}% |",
        (same / again - 1.0) * 100.0
    );
}

/// `handles` read handles created and dropped, on a tracked log `a` beside an untracked log
/// `b` (both new: each gets one record to read).
fn read_handle_cell(a: &Wal, b: &Wal, handles: usize) {
    let first = a.append(TAG, &PAYLOAD).expect("append");
    b.append(TAG, &PAYLOAD).expect("append");
    let open_drop = |wal: &Wal| {
        let started = Instant::now();
        for _ in 0..handles {
            drop(black_box(wal.read_from(first).expect("reader")));
        }
        started.elapsed().as_nanos() as f64 / handles as f64
    };
    let (with, without) = rounds(|| open_drop(a), || open_drop(b));
    assert_eq!(a.telemetry().kind(Kind::Reader).created, (handles * (ROUNDS + 1)) as u64);
    println!(
        "| read handle created and dropped, ns | {with:.1} | {without:.1} | {:+.1} ns |",
        with - without
    );
}

/// The registry alone, and a precise clock for scale.
fn registry_cells(handles: usize) {
    let registry = Registry::new();
    let register = || {
        let started = Instant::now();
        for _ in 0..handles {
            registry.deregister(black_box(registry.register(Kind::Reader)));
        }
        started.elapsed().as_nanos() as f64 / handles as f64
    };
    let clock = || {
        let started = Instant::now();
        for _ in 0..handles {
            black_box(Instant::now());
        }
        started.elapsed().as_nanos() as f64 / handles as f64
    };
    let (registry_ns, clock_ns) = rounds(register, clock);
    println!("| registry: register + drop, ns | {registry_ns:.1} | | |");
    println!("| for scale: one `Instant::now`, ns | {clock_ns:.1} | | |");
}

/// Runs `a` and `b` alternately for `ROUNDS` rounds (after one warm-up each) and returns the
/// median of each.
fn rounds(mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (f64, f64) {
    a();
    b();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        xs.push(a());
        ys.push(b());
    }
    (median(xs), median(ys))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
