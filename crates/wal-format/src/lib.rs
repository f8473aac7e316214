//! The record codec of the write-ahead log: pure bytes, no I/O.
//!
//! A *frame* is a 24-byte header (checksum, payload length, LSN, tag) followed by the payload and
//! zero padding to the next multiple of 8 bytes. The checksum is a CRC-32 over a caller-supplied
//! per-chunk salt and every byte of the frame after the checksum field, so a torn frame, a frame
//! moved to another chunk, or a stale frame of an earlier epoch never validates. `docs/format.md`
//! is the normative description of these bytes.
//!
//! Encoding writes straight into the caller's buffer; decoding reads headers in place and returns
//! payloads as borrowed slices or zero-copy [`bytes::Bytes`]. Neither allocates, and decoding never
//! panics, whatever the input. This crate does not know about files, chunk sizes or recovery
//! policy: the segment layer decides what a decoding error means at a given place in the log.
//!
//! ```
//! use bytes::Bytes;
//! use wal_format::{FrameEncoder, Frames, Lsn, Record, Salt, Tag};
//!
//! let salt = Salt(0x5eed);
//! let mut chunk = vec![0u8; 4096];
//! let records = [
//!     Record { tag: Tag::TXN_BEGIN, payload: b"" },
//!     Record { tag: Tag::DELTA, payload: b"set x = 1" },
//!     Record { tag: Tag::TXN_COMMIT, payload: b"" },
//! ];
//! let written = FrameEncoder::new(salt).encode_batch(&mut chunk, Lsn(1), &records)?;
//!
//! let mut frames = Frames::new(Bytes::from(chunk), salt, Lsn(1));
//! let delta = frames.nth(1).unwrap()?;
//! assert_eq!((delta.lsn, delta.tag, &delta.payload[..]), (Lsn(2), Tag::DELTA, &b"set x = 1"[..]));
//! assert_eq!(frames.next().unwrap()?.tag, Tag::TXN_COMMIT);
//! // The rest of the chunk was never written: the scan stops there with a typed error.
//! assert_eq!(frames.next(), Some(Err(wal_format::Error::Zeroed { offset: written })));
//! # Ok::<(), wal_format::Error>(())
//! ```

mod checksum;
mod decode;
mod dump;
mod encode;
mod error;
mod header;
mod limits;
mod lsn;
mod tag;

pub use checksum::{FrameHasher, Salt};
pub use decode::{Decoded, Frames, RecordBytes, RecordRef, Stop, decode_frame};
pub use dump::annotate_frame;
pub use encode::{FrameEncoder, Record, batch_len};
pub use error::Error;
pub use header::{CHECKSUMMED_FROM, FieldLayout, FrameHeader, HEADER_FIELDS};
pub use limits::{
    ALIGNMENT_BYTES, FORMAT_VERSION, HEADER_SIZE_BYTES, MAX_FRAME_BYTES, MAX_PAYLOAD_BYTES,
    SALT_SIZE_BYTES, frame_len,
};
pub use lsn::Lsn;
pub use tag::{Tag, TagClass};
