//! Shared workloads of the benchmarks, so the criterion bench and the paired bench time exactly
//! the same code.
//!
//! A [`CodecWorkload`] holds one chunk's worth of frames of one payload size and offers every
//! operation the codec benches compare: the codec's own encode and decodes, and the physical
//! floors (CRC of the same bytes, memcpy of the same payloads, `Bytes` reference counting).

use std::hint::black_box;

/// The README's examples (the codec alone, the engine, snapshots, telemetry) are compiled and
/// run as doctests of this crate, the one that depends on every crate they use, so they cannot
/// rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

use bytes::Bytes;
use wal_format::{CHECKSUMMED_FROM, FrameEncoder, Frames, Lsn, Record, Salt, Tag};

const SALT: Salt = Salt(0x89AB_CDEF);

/// Payload sizes the codec benches use, with how many frames make about 1 MiB.
pub const CODEC_SHAPES: [(&str, usize, usize); 2] = [("128B", 128, 8192), ("64KiB", 64 << 10, 16)];

/// The operations a codec bench times, each over every frame of the workload.
pub const CODEC_OPERATIONS: [&str; 6] =
    ["crc", "memcpy", "encode", "decode_borrowed", "decode_bytes", "bytes_slice"];

/// `frames` frames of `payload_len` bytes, encoded once, plus scratch space to encode into.
pub struct CodecWorkload {
    payload: Vec<u8>,
    frames: usize,
    frame_len: usize,
    encoder: FrameEncoder,
    chunk: Bytes,
    scratch: Vec<u8>,
}

impl CodecWorkload {
    /// Builds and encodes the workload.
    ///
    /// # Panics
    /// If `payload_len` exceeds the codec's maximum.
    #[must_use]
    pub fn new(payload_len: usize, frames: usize) -> CodecWorkload {
        let payload: Vec<u8> = (0..=250u8).cycle().take(payload_len).collect();
        let frame_len = wal_format::frame_len(payload_len).expect("payload within limits");
        let encoder = FrameEncoder::new(SALT);
        let mut chunk = vec![0u8; frame_len * frames];
        let records = vec![Record { tag: Tag::ENTRY, payload: &payload }; frames];
        encoder.encode_batch(&mut chunk, Lsn(1), &records).expect("chunk sized for the batch");
        CodecWorkload {
            payload,
            frames,
            frame_len,
            encoder,
            chunk: chunk.into(),
            scratch: vec![0u8; frame_len * frames],
        }
    }

    /// Number of frames each operation processes.
    #[must_use]
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Payload bytes each operation processes.
    #[must_use]
    pub fn payload_bytes(&self) -> usize {
        self.payload.len() * self.frames
    }

    /// Runs the operation named in [`CODEC_OPERATIONS`] once over every frame.
    ///
    /// # Panics
    /// On an unknown name, or if the codec fails on its own output.
    pub fn run(&mut self, operation: &str) {
        match operation {
            "crc" => self.crc(),
            "memcpy" => self.memcpy(),
            "encode" => self.encode(),
            "decode_borrowed" => self.decode_borrowed(),
            "decode_bytes" => self.decode_bytes(),
            "bytes_slice" => self.bytes_slice(),
            other => panic!("unknown codec operation {other}"),
        }
    }

    /// CRC-32 of exactly the bytes hashed per frame (after the checksum field; the salt is
    /// absorbed once per chunk).
    #[inline(never)] // a symbol of its own, so callgrind can count its instructions
    fn crc(&self) {
        for frame in self.chunk.chunks_exact(self.frame_len) {
            black_box(crc32fast::hash(black_box(&frame[CHECKSUMMED_FROM..])));
        }
    }

    #[inline(never)]
    fn memcpy(&mut self) {
        let len = self.payload.len();
        for slot in self.scratch.chunks_exact_mut(self.frame_len) {
            slot[..len].copy_from_slice(black_box(&self.payload));
        }
        black_box(&mut self.scratch);
    }

    #[inline(never)]
    fn encode(&mut self) {
        let records = [Record { tag: Tag::ENTRY, payload: &self.payload }];
        for (lsn, slot) in (1..).zip(self.scratch.chunks_exact_mut(self.frame_len)) {
            self.encoder.encode_batch(black_box(slot), Lsn(lsn), &records).expect("fits");
        }
    }

    #[inline(never)]
    fn decode_borrowed(&self) {
        let mut frames = Frames::new(black_box(&self.chunk[..]), SALT, Lsn(1));
        for frame in frames.by_ref() {
            black_box(frame.expect("valid").payload);
        }
        assert_eq!(frames.offset(), self.chunk.len());
    }

    #[inline(never)]
    fn decode_bytes(&self) {
        let mut frames = Frames::new(black_box(self.chunk.clone()), SALT, Lsn(1));
        for frame in frames.by_ref() {
            black_box(frame.expect("valid").payload);
        }
        assert_eq!(frames.offset(), self.chunk.len());
    }

    /// Only the `Bytes::slice` + drop per frame that `decode_bytes` adds to `decode_borrowed`.
    #[inline(never)]
    fn bytes_slice(&self) {
        let len = self.payload.len();
        for start in (0..self.chunk.len()).step_by(self.frame_len) {
            let payload = start + wal_format::HEADER_SIZE_BYTES;
            black_box(black_box(&self.chunk).slice(payload..payload + len));
        }
    }
}
