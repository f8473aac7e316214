//! Paired, interleaved timing of the codec against its floors: the robust way to measure a
//! difference of a few nanoseconds on a shared, noisy machine.
//!
//! Each round runs every operation once over the same ~1 MiB of frames, in a rotating order, and
//! records each one's ns/frame. The figure for an operation is the median over rounds of its
//! difference to `crc` *in the same round*, so drift slower than a round (about 2 ms) cancels.
//! Prints a markdown table; `cargo xtask bench` runs it after criterion.
#![expect(clippy::cast_precision_loss, reason = "nanosecond counts far below 2^52")]

use std::time::Instant;

use wal_benches::{CODEC_OPERATIONS, CODEC_SHAPES, CodecWorkload};

const DEFAULT_ROUNDS: usize = 1500;
const WARM_UP_ROUNDS: usize = 100;

fn main() {
    // `WAL_BENCH_ROUNDS=2 WAL_BENCH_SHAPE=128B` keeps a run under valgrind short and to one shape
    // (see docs/PERFORMANCE.md, "Instruction counts").
    let rounds = std::env::var("WAL_BENCH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let warm_up = WARM_UP_ROUNDS.min(rounds);
    println!("paired codec timing: {rounds} interleaved rounds, medians");
    let only = std::env::var("WAL_BENCH_SHAPE").ok();
    for (label, payload_len, frames) in CODEC_SHAPES {
        if only.as_deref().is_some_and(|only| only != label) {
            continue;
        }
        let mut workload = CodecWorkload::new(payload_len, frames);
        let count = CODEC_OPERATIONS.len();
        let mut samples = vec![Vec::with_capacity(rounds); count];
        for round in 0..warm_up + rounds {
            for step in 0..count {
                let index = (round + step) % count;
                let started = Instant::now();
                workload.run(CODEC_OPERATIONS[index]);
                let ns_per_frame = started.elapsed().as_nanos() as f64 / frames as f64;
                if round >= warm_up {
                    samples[index].push(ns_per_frame);
                }
            }
        }
        let crc = &samples[0];
        println!("\ncodec_{label} (paired)");
        println!(
            "| operation | median ns/frame | payload GB/s | median ns/frame over crc, same round |"
        );
        println!("|---|---|---|---|");
        for (operation, times) in CODEC_OPERATIONS.iter().zip(&samples) {
            let over: Vec<f64> = times.iter().zip(crc).map(|(t, c)| t - c).collect();
            let ns = median(times.clone());
            let gb_per_s = payload_len as f64 / ns;
            println!("| {operation} | {ns:.1} | {gb_per_s:.2} | {:+.1} |", median(over));
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
