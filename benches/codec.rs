//! The frame codec beside its physical limits, measured in one run.
//!
//! For 128 B and 64 KiB payloads, each group times, per frame:
//! - `crc`: CRC-32 of exactly the bytes the frame checksum covers (salt + frame after the checksum
//!   field), the floor for a codec that must checksum every byte;
//! - `memcpy`: copying the payloads into the chunk, the floor for any encoder;
//! - `encode`: a batch encode into a chunk (header, copy, padding, checksum);
//! - `decode_borrowed`: a scan returning borrowed payloads;
//! - `decode_bytes`: a scan returning zero-copy `Bytes` payloads.
//!
//! `cargo xtask bench` prints ns/frame, GB/s and the codec's overhead over `crc` from these.
#![expect(missing_docs, reason = "criterion's macros generate undocumented functions")]
#![expect(clippy::cast_possible_truncation, reason = "test data is a byte pattern that wraps")]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wal_format::{FrameDecoder, FrameEncoder, Frames, Lsn, Record, SALT_SIZE_BYTES, Salt, Tag};

const SALT: Salt = Salt(0x0123_4567_89AB_CDEF);
/// About 1 MiB of frames per iteration for each size, so per-iteration overhead is negligible.
const SHAPES: [(&str, usize, usize); 2] = [("128B", 128, 8192), ("64KiB", 64 << 10, 16)];

fn codec(c: &mut Criterion) {
    for (label, payload_len, frames) in SHAPES {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 31 % 251) as u8).collect();
        let records: Vec<Record<'_>> =
            (0..frames).map(|_| Record { tag: Tag::ENTRY, payload: &payload }).collect();
        let frame_len = wal_format::frame_len(payload_len).unwrap();
        let mut chunk = vec![0u8; frame_len * frames];
        let encoder = FrameEncoder::new(SALT);
        encoder.encode_batch(&mut chunk, Lsn(1), &records).unwrap();
        let covered: Vec<u8> = (0..SALT_SIZE_BYTES + frame_len - 4).map(|i| i as u8).collect();

        let mut group = c.benchmark_group(format!("codec_{label}"));
        group.throughput(Throughput::Elements(frames as u64));
        group.bench_function(BenchmarkId::new("crc", frames), |b| {
            b.iter(|| {
                for _ in 0..frames {
                    black_box(crc32fast::hash(black_box(&covered)));
                }
            });
        });
        let mut dst = vec![0u8; chunk.len()];
        group.bench_function(BenchmarkId::new("memcpy", frames), |b| {
            b.iter(|| {
                for slot in dst.chunks_exact_mut(frame_len) {
                    slot[..payload_len].copy_from_slice(black_box(&payload));
                }
                black_box(&mut dst);
            });
        });
        group.bench_function(BenchmarkId::new("encode", frames), |b| {
            b.iter(|| encoder.encode_batch(black_box(&mut dst), Lsn(1), &records).unwrap());
        });
        group.bench_function(BenchmarkId::new("decode_borrowed", frames), |b| {
            b.iter(|| {
                let mut frames = Frames::new(black_box(&chunk), SALT, Lsn(1));
                for frame in frames.by_ref() {
                    black_box(frame.unwrap().payload);
                }
                assert_eq!(frames.next_lsn(), Lsn(1 + frames_u64(&chunk, frame_len)));
            });
        });
        let shared = Bytes::from(chunk.clone());
        group.bench_function(BenchmarkId::new("decode_bytes", frames), |b| {
            b.iter(|| {
                for frame in FrameDecoder::new(black_box(shared.clone()), SALT, Lsn(1)) {
                    black_box(frame.unwrap().payload);
                }
            });
        });
        group.finish();
    }
}

fn frames_u64(chunk: &[u8], frame_len: usize) -> u64 {
    (chunk.len() / frame_len) as u64
}

criterion_group!(benches, codec);
criterion_main!(benches);
