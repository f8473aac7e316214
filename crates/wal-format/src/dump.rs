//! Annotated hex dumps of frames, for humans: snapshot tests, debugging, and the `wal` tool.
//!
//! The dump shows what the bytes say without judging them (run the decoder for that), so it works
//! on damaged frames too and never reads past the buffer. Field names and offsets come from
//! `HEADER_FIELDS`, the same table the spec test checks against `docs/format.md`.

use core::fmt::Write as _;

use zerocopy::FromBytes;

use crate::header::{FrameHeader, HEADER_FIELDS};
use crate::limits::{HEADER_SIZE_BYTES, frame_len};
use crate::tag::Tag;

/// Payload bytes shown before the dump elides the rest.
const PAYLOAD_SHOWN_BYTES: usize = 64;
const BYTES_PER_LINE: usize = 16;

/// An annotated hex dump of the frame starting at `offset` in `buf`: one line per header field,
/// then the payload and the alignment padding as far as the buffer holds them.
#[must_use]
pub fn annotate_frame(buf: &[u8], offset: usize) -> String {
    let rest = buf.get(offset..).unwrap_or_default();
    let mut out = String::new();
    for field in HEADER_FIELDS {
        let Some(bytes) = rest.get(field.offset..field.offset + field.size) else {
            line(&mut out, field.offset, field.name, rest.get(field.offset..).unwrap_or_default());
            out.push_str("  (truncated)\n");
            return trim_lines(&out);
        };
        line(&mut out, field.offset, field.name, bytes);
        out.push_str(&meaning(field.name, bytes));
        out.push('\n');
    }
    let Ok((header, body)) = FrameHeader::ref_from_prefix(rest) else {
        unreachable!("every header field was present");
    };
    let payload_len = usize::try_from(header.payload_len.get()).unwrap_or(usize::MAX);
    let payload = &body[..payload_len.min(body.len())];
    payload_lines(&mut out, payload, payload_len);
    if let Some(frame_len) = frame_len(payload_len) {
        let alignment = body.get(payload_len..).unwrap_or_default();
        let alignment =
            &alignment[..alignment.len().min(frame_len - HEADER_SIZE_BYTES - payload_len)];
        if !alignment.is_empty() {
            line(&mut out, HEADER_SIZE_BYTES + payload_len, "alignment", alignment);
            out.push('\n');
        }
    }
    trim_lines(&out)
}

/// Columns are padded for alignment; trailing blanks would only make snapshots fragile.
fn trim_lines(text: &str) -> String {
    text.lines().map(|line| format!("{}\n", line.trim_end())).collect()
}

fn line(out: &mut String, offset: usize, name: &str, bytes: &[u8]) {
    let _ = write!(out, "+{offset:04x}  {name:<11} {:<24}", hex(bytes));
}

fn payload_lines(out: &mut String, payload: &[u8], declared_len: usize) {
    let shown = &payload[..payload.len().min(PAYLOAD_SHOWN_BYTES)];
    for (index, chunk) in shown.chunks(BYTES_PER_LINE).enumerate() {
        let name = if index == 0 { "payload" } else { "" };
        line(out, HEADER_SIZE_BYTES + index * BYTES_PER_LINE, name, chunk);
        let _ = writeln!(out, "  |{}|", printable(chunk));
    }
    if payload.len() > shown.len() {
        let _ = writeln!(out, "       ... {} more payload bytes", payload.len() - shown.len());
    }
    if payload.len() < declared_len {
        let _ = writeln!(
            out,
            "       (truncated: {} of {declared_len} payload bytes present)",
            payload.len()
        );
    }
}

fn meaning(name: &str, bytes: &[u8]) -> String {
    match name {
        "checksum" => format!("  = {:#010x}", le_u64(bytes)),
        "payload_len" | "lsn" => format!("  = {}", le_u64(bytes)),
        "tag" => format!("  = {}", Tag::from_byte(bytes[0])),
        _ => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect::<Vec<_>>().join(" ")
}

fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '.' })
        .collect()
}

/// A little-endian integer of up to 8 bytes, for display only.
fn le_u64(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |value, &byte| (value << 8) | u64::from(byte))
}
