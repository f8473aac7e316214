//! `wal dump`: one line per record, from the files as they are (nothing is recovered or
//! changed): LSN, position, tag, transaction, length and a preview of the payload.

use std::io::{self, Write};
use std::path::Path;

use wal_core::inspect::{AnchorState, Inspector};
use wal_core::{EntryKind, Lsn, Tag};

/// Bytes of payload a line shows.
const PREVIEW_BYTES: usize = 24;

pub(crate) fn dump(
    dir: &Path,
    from: Option<Lsn>,
    to: Option<Lsn>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), crate::Failure> {
    let inspector = Inspector::open(dir)?;
    let start = match inspector.anchor() {
        AnchorState::Found { start, .. } => start,
        _ => wal_core::FIRST_LSN,
    };
    if from.is_some_and(|from| from < start) {
        eprintln!("wal: the log starts at LSN {start}: records before it were truncated or pruned");
    }
    let from = from.unwrap_or(start).max(start);
    if !json {
        writeln!(
            out,
            "{:>10}  {:<22}  {:<12}  {:>6}  {:>7}  payload",
            "lsn", "position", "tag", "txn", "bytes"
        )?;
    }
    // Only what recovery would keep: the segments of its plan, each up to its cap (segments
    // superseded or cut away, and records beyond a cut, are not part of the log).
    for planned in inspector.plan()?.plan.kept {
        let segment = inspector.segment(planned.id)?;
        for (position, tag, lsn, entry) in segment.records() {
            let cut_away = planned.cap.is_some_and(|cap| lsn >= cap);
            if lsn < from || to.is_some_and(|to| lsn > to) || cut_away {
                continue;
            }
            let (txn, payload) = match &entry {
                Some(Ok(entry)) => (transaction(entry.kind), entry.payload.as_ref()),
                Some(Err(_)) | None => (None, &[][..]),
            };
            let name = tag_name(tag, entry.as_ref().map(|e| e.as_ref().map(|e| e.kind)));
            let place = format!("{}:{}:{}", position.segment, position.chunk, position.offset);
            if json {
                writeln!(
                    out,
                    "{{\"lsn\":{},\"segment\":{},\"chunk\":{},\"offset\":{},\"tag\":\"{}\",\"txn\":{},\"bytes\":{},\"payload_hex\":\"{}\"}}",
                    lsn.0,
                    position.segment,
                    position.chunk,
                    position.offset,
                    name,
                    txn.map_or_else(|| "null".to_owned(), |t| t.to_string()),
                    payload.len(),
                    hex(&payload[..payload.len().min(PREVIEW_BYTES)])
                )?;
            } else {
                let line = format!(
                    "{:>10}  {:<22}  {:<12}  {:>6}  {:>7}  {}",
                    lsn.0,
                    place,
                    name,
                    txn.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                    payload.len(),
                    preview(payload)
                );
                writeln!(out, "{}", line.trim_end())?;
            }
        }
    }
    Ok(())
}

fn transaction(kind: EntryKind) -> Option<u64> {
    match kind {
        EntryKind::Begin { txn }
        | EntryKind::Delta { txn, .. }
        | EntryKind::Commit { txn }
        | EntryKind::Abort { txn } => Some(txn),
        _ => None,
    }
}

/// The record's kind, as a word: `record`, `begin`, `delta`, `commit`, `abort`, `seal`, or
/// the tag's own name or number.
fn tag_name(tag: Tag, kind: Option<Result<EntryKind, &wal_core::Error>>) -> String {
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

/// Printable ASCII as text in quotes, anything else as hex; at most [`PREVIEW_BYTES`].
fn preview(payload: &[u8]) -> String {
    let shown = &payload[..payload.len().min(PREVIEW_BYTES)];
    let more = if payload.len() > PREVIEW_BYTES { "..." } else { "" };
    if !shown.is_empty() && shown.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"{more}", String::from_utf8_lossy(shown))
    } else {
        format!("{}{more}", hex(shown))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl From<io::Error> for crate::Failure {
    fn from(error: io::Error) -> Self {
        crate::Failure::Output(error)
    }
}
