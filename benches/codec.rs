//! Criterion bench of the frame codec beside its physical limits, for 128 B and 64 KiB payloads.
//!
//! Operations (see `CodecWorkload`): `crc` (CRC-32 of the bytes each frame checksum hashes: the
//! floor for a codec that checksums every byte), `memcpy` (copying the payloads: the other half of
//! an encoder's floor), `encode`, `decode_borrowed`, `decode_bytes` (zero-copy `Bytes` payloads),
//! and `bytes_slice` (the reference counting `decode_bytes` adds). Criterion runs them one after
//! another, so drift of a shared machine lands between them; `codec_paired` measures the
//! differences with interleaved rounds instead. `cargo xtask bench` prints both tables.
#![expect(missing_docs, reason = "criterion's macros generate undocumented functions")]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wal_benches::{CODEC_OPERATIONS, CODEC_SHAPES, CodecWorkload};

fn codec(c: &mut Criterion) {
    for (label, payload_len, frames) in CODEC_SHAPES {
        let mut workload = CodecWorkload::new(payload_len, frames);
        let mut group = c.benchmark_group(format!("codec_{label}"));
        group.throughput(Throughput::Bytes(workload.payload_bytes() as u64));
        for operation in CODEC_OPERATIONS {
            group.bench_function(BenchmarkId::new(operation, workload.frames()), |b| {
                b.iter(|| workload.run(operation));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
