//! What the engine's records mean: self-contained records and the four transaction records.
//!
//! Payload layouts (little-endian), defined by this crate and documented in `docs/format.md`:
//! - a user tag or `ENTRY`: the application's bytes, a record that commits on its own;
//! - `TXN_BEGIN`, `TXN_COMMIT`, `TXN_ABORT`: the transaction id (u64);
//! - `DELTA`: the transaction id (u64), the application's tag byte, the application's bytes.

use bytes::Bytes;
use wal_format::{Lsn, RecordBytes, Tag};

use crate::error::Error;

/// A transaction's id: unique in the log, never reused after a reopen.
pub type TxnId = u64;

/// Bytes before a delta's application payload: the id and the tag.
pub(crate) const DELTA_PREFIX_BYTES: usize = 9;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A self-contained record with the application's tag (a user tag or `Tag::ENTRY`).
    Record {
        /// Its tag.
        tag: Tag,
    },
    /// A transaction began.
    Begin {
        /// Its id.
        txn: TxnId,
    },
    /// One change of an open transaction.
    Delta {
        /// The transaction.
        txn: TxnId,
        /// The application's tag for the change.
        tag: Tag,
    },
    /// A transaction committed.
    Commit {
        /// Its id.
        txn: TxnId,
    },
    /// A transaction aborted.
    Abort {
        /// Its id.
        txn: TxnId,
    },
    /// A system record of a layer above the engine (a reserved tag such as `Tag::CHECKPOINT`,
    /// which nothing writes today).
    System {
        /// Its tag.
        tag: Tag,
    },
}

/// One record read from the log. The payload is a zero-copy view into the mapped chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its LSN.
    pub lsn: Lsn,
    /// What it is.
    pub kind: EntryKind,
    /// The application's bytes (for a delta, without the id and tag; empty for markers).
    pub payload: Bytes,
}

/// Reads a record's meaning; `None` for records readers do not see (the segment seal).
pub(crate) fn interpret(record: RecordBytes) -> Option<Result<Entry, Error>> {
    let RecordBytes { lsn, tag, payload, .. } = record;
    let txn_id = |payload: &Bytes| -> Result<TxnId, Error> {
        let id = payload.get(..8).ok_or(Error::Malformed { lsn, reason: "no transaction id" })?;
        Ok(u64::from_le_bytes(id.try_into().expect("8 bytes")))
    };
    let entry = |kind, payload| Some(Ok(Entry { lsn, kind, payload }));
    if tag.is_user() || tag == Tag::ENTRY {
        return entry(EntryKind::Record { tag }, payload);
    }
    let kind = match tag {
        Tag::TXN_BEGIN => txn_id(&payload).map(|txn| EntryKind::Begin { txn }),
        Tag::TXN_COMMIT => txn_id(&payload).map(|txn| EntryKind::Commit { txn }),
        Tag::TXN_ABORT => txn_id(&payload).map(|txn| EntryKind::Abort { txn }),
        Tag::DELTA => {
            return Some(match (txn_id(&payload), payload.get(8)) {
                (Ok(txn), Some(&tag)) => {
                    let kind = EntryKind::Delta { txn, tag: Tag::from_byte(tag) };
                    Ok(Entry { lsn, kind, payload: payload.slice(DELTA_PREFIX_BYTES..) })
                }
                (Err(error), _) => Err(error),
                (Ok(_), None) => Err(Error::Malformed { lsn, reason: "delta without its tag" }),
            });
        }
        Tag::SEAL => return None,
        other => Ok(EntryKind::System { tag: other }),
    };
    match kind {
        Ok(kind) => entry(kind, Bytes::new()),
        Err(error) => Some(Err(error)),
    }
}

/// Whether `append` takes this tag.
pub(crate) fn is_record_tag(tag: Tag) -> bool {
    tag.is_user() || tag == Tag::ENTRY
}
