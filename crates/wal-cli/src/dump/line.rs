//! One record of `wal dump` as a line: text columns with a preview of the payload (text when it
//! is printable UTF-8, hex otherwise), or a JSON object with the whole payload; and the
//! filters by kind, tag and transaction. Nothing here reads the log.

use std::io::{self, Write};

use wal_core::inspect::Position;
use wal_core::{Entry, EntryKind, Lsn, Tag};

/// Bytes of payload a text line shows (`--json` shows them all).
const PREVIEW_BYTES: usize = 24;

/// A record, as `dump` shows it.
pub(crate) struct Row<'a> {
    pub(crate) lsn: Lsn,
    pub(crate) position: Position,
    /// The frame's tag.
    pub(crate) frame_tag: Tag,
    /// The kind, as a word: `record`, `begin`, `delta`, `commit`, `abort`, `seal`, ...
    pub(crate) kind: String,
    /// The application's tag of a record or a delta.
    pub(crate) user_tag: Option<Tag>,
    pub(crate) txn: Option<u64>,
    pub(crate) payload: &'a [u8],
}

impl<'a> Row<'a> {
    /// The row of a record; `entry` is its meaning (`None`: a seal, `Err`: malformed).
    pub(crate) fn new(
        position: Position,
        frame_tag: Tag,
        lsn: Lsn,
        entry: Option<&'a Result<Entry, wal_core::Error>>,
    ) -> Row<'a> {
        let kind = entry.map(|entry| entry.as_ref().map(|entry| entry.kind));
        let (txn, user_tag) = match kind {
            Some(Ok(kind)) => transaction_and_tag(kind),
            _ => (None, None),
        };
        let payload = match entry {
            Some(Ok(entry)) => entry.payload.as_ref(),
            _ => &[][..],
        };
        Row { lsn, position, frame_tag, kind: kind_name(frame_tag, kind), user_tag, txn, payload }
    }
}

fn transaction_and_tag(kind: EntryKind) -> (Option<u64>, Option<Tag>) {
    match kind {
        EntryKind::Record { tag } => (None, Some(tag)),
        EntryKind::Delta { txn, tag } => (Some(txn), Some(tag)),
        EntryKind::Begin { txn } | EntryKind::Commit { txn } | EntryKind::Abort { txn } => {
            (Some(txn), None)
        }
        _ => (None, None),
    }
}

/// The record's kind, as a word: `record`, `begin`, `delta`, `commit`, `abort`, `seal`, or
/// the tag's own name or number.
fn kind_name(tag: Tag, kind: Option<Result<EntryKind, &wal_core::Error>>) -> String {
    match kind {
        Some(Ok(EntryKind::Record { .. })) => "record".into(),
        Some(Ok(EntryKind::Begin { .. })) => "begin".into(),
        Some(Ok(EntryKind::Delta { .. })) => "delta".into(),
        Some(Ok(EntryKind::Commit { .. })) => "commit".into(),
        Some(Ok(EntryKind::Abort { .. })) => "abort".into(),
        Some(Err(_)) => format!("malformed {tag}"),
        None if tag == Tag::SEAL => "seal".into(),
        _ => tag.name().map_or_else(|| tag.to_string(), str::to_owned),
    }
}

/// Which records `--tag` keeps: a kind word, or a tag (a number, or a system tag's name),
/// matched against the frame's tag and the application's tag of a record or delta.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TagFilter {
    Kind(String),
    Tag(u8),
}

/// The kind words `--tag` takes.
const KINDS: [&str; 6] = ["record", "begin", "delta", "commit", "abort", "seal"];

impl TagFilter {
    /// Parses `--tag`'s value: a kind word, a number (`65`, `0x41`), or a system tag's name.
    pub(crate) fn parse(text: &str) -> Result<TagFilter, String> {
        let lower = text.to_ascii_lowercase();
        if KINDS.contains(&lower.as_str()) {
            return Ok(TagFilter::Kind(lower));
        }
        let number = match lower.strip_prefix("0x") {
            Some(hex) => u8::from_str_radix(hex, 16).ok(),
            None => lower.parse().ok(),
        };
        let named = || {
            Tag::SYSTEM.iter().find(|(_, name)| name.eq_ignore_ascii_case(text)).map(|(t, _)| *t)
        };
        number.or_else(|| named().map(Tag::byte)).map(TagFilter::Tag).ok_or_else(|| {
            format!(
                "{text:?} is not a kind ({}), a tag number (0 to 255, or 0x00 to 0xff) or a \
                 system tag's name (TXN_BEGIN, SEAL, ...)",
                KINDS.join(", ")
            )
        })
    }

    fn keeps(&self, row: &Row<'_>) -> bool {
        match self {
            TagFilter::Kind(kind) => row.kind == *kind,
            TagFilter::Tag(byte) => {
                row.frame_tag.byte() == *byte || row.user_tag.is_some_and(|t| t.byte() == *byte)
            }
        }
    }
}

/// Whether `row` passes the filters: any of `tags` (none: all), and transaction `txn`.
pub(crate) fn keeps(row: &Row<'_>, tags: &[TagFilter], txn: Option<u64>) -> bool {
    (tags.is_empty() || tags.iter().any(|filter| filter.keeps(row)))
        && txn.is_none_or(|txn| row.txn == Some(txn))
}

/// The text header line.
pub(crate) fn write_header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:>10}  {:<22}  {:<12}  {:>6}  {:>7}  payload",
        "lsn", "position", "tag", "txn", "bytes"
    )
}

/// The row as a text line (a preview of the payload) or a JSON object (all of it).
pub(crate) fn write_row(out: &mut dyn Write, row: &Row<'_>, json: bool) -> io::Result<()> {
    let Position { segment, chunk, offset } = row.position;
    if json {
        let number =
            |value: Option<u64>| value.map_or_else(|| "null".to_owned(), |v| v.to_string());
        let text = printable(row.payload)
            .map_or_else(String::new, |text| format!(",\"payload_text\":{}", json_string(text)));
        return writeln!(
            out,
            "{{\"lsn\":{},\"segment\":{segment},\"chunk\":{chunk},\"offset\":{offset},\"tag\":{},\
             \"user_tag\":{},\"txn\":{},\"bytes\":{},\"payload_hex\":\"{}\"{text}}}",
            row.lsn.0,
            json_string(&row.kind),
            number(row.user_tag.map(|tag| u64::from(tag.byte()))),
            number(row.txn),
            row.payload.len(),
            hex(row.payload),
        );
    }
    let line = format!(
        "{:>10}  {:<22}  {:<12}  {:>6}  {:>7}  {}",
        row.lsn.0,
        format!("{segment}:{chunk}:{offset}"),
        row.kind,
        row.txn.map_or_else(|| "-".to_owned(), |t| t.to_string()),
        row.payload.len(),
        preview(row.payload)
    );
    writeln!(out, "{}", line.trim_end())
}

/// The payload as text, if it is UTF-8 without control characters.
fn printable(payload: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(payload).ok()?;
    (!text.is_empty() && !text.chars().any(char::is_control)).then_some(text)
}

/// Printable UTF-8 as text in quotes, anything else as hex; at most [`PREVIEW_BYTES`] (whole
/// characters), then `...`.
fn preview(payload: &[u8]) -> String {
    if let Some(text) = printable(payload) {
        let mut end = text.len().min(PREVIEW_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let more = if end < text.len() { "..." } else { "" };
        return format!("\"{}\"{more}", &text[..end]);
    }
    let more = if payload.len() > PREVIEW_BYTES { "..." } else { "" };
    format!("{}{more}", hex(&payload[..payload.len().min(PREVIEW_BYTES)]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_show_as_text_only_when_printable_utf8() {
        assert_eq!(preview(b"put a=1"), "\"put a=1\"");
        assert_eq!(preview("é".repeat(20).as_bytes()), format!("\"{}\"...", "é".repeat(12)));
        assert_eq!(preview(b"a\nb"), "610a62");
        assert_eq!(preview(&[0xff, 0x00]), "ff00");
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn tag_filters_parse_kinds_numbers_and_names() {
        assert_eq!(TagFilter::parse("Delta"), Ok(TagFilter::Kind("delta".into())));
        assert_eq!(TagFilter::parse("0x41"), Ok(TagFilter::Tag(0x41)));
        assert_eq!(TagFilter::parse("65"), Ok(TagFilter::Tag(65)));
        assert_eq!(TagFilter::parse("txn_begin"), Ok(TagFilter::Tag(Tag::TXN_BEGIN.byte())));
        assert!(TagFilter::parse("256").is_err());
        assert!(TagFilter::parse("nonsense").is_err());
    }
}
