//! A reservation: space and LSNs a writer handed out for a batch of records, written and
//! published by the caller without the writer (one memcpy per payload, no system call). Its
//! pieces lie in one chunk each; publication waits for every earlier reservation (`publish.rs`).

use std::sync::Arc;

use wal_format::{Lsn, Record};

use crate::error::Error;
use crate::live::Live;
use crate::publish::Publication;
use crate::storage::Storage;

/// Space and LSNs reserved for a batch of records, to be written and published without the
/// writer. Dropping it unwritten poisons the segment (the records after it could never be
/// published).
#[must_use = "a reservation must be completed, or the segment is poisoned"]
pub struct Reservation<'r, S: Storage> {
    pub(crate) records: &'r [Record<'r>],
    pub(crate) first_lsn: Lsn,
    pub(crate) end_lsn: Lsn,
    pub(crate) first: Piece<S>,
    pub(crate) more: Vec<Piece<S>>,
    pub(crate) publication: Arc<Publication>,
    pub(crate) completed: bool,
}

/// The part of a reservation in one chunk.
pub(crate) struct Piece<S: Storage> {
    pub(crate) chunk: Live<S>,
    pub(crate) offset: usize,
    pub(crate) len: usize,
    /// Which of the reservation's records go here, and the first one's LSN.
    pub(crate) records: std::ops::Range<usize>,
    pub(crate) first_lsn: Lsn,
    /// The chunk this piece's reservation closed (padded), published and closed with it.
    pub(crate) closes: Option<Live<S>>,
}

impl<'r, S: Storage> Reservation<'r, S> {
    /// The LSN of the first reserved record.
    #[must_use]
    pub fn first_lsn(&self) -> Lsn {
        self.first_lsn
    }

    /// The LSN after the last reserved record.
    #[must_use]
    pub fn end_lsn(&self) -> Lsn {
        self.end_lsn
    }

    /// Writes the records into their ranges, waits for every earlier reservation of the segment
    /// to be published, and publishes these. Returns the first record's LSN.
    ///
    /// # Errors
    /// `Poisoned` if an earlier reservation was abandoned, so these can never be published.
    pub fn complete(mut self) -> Result<Lsn, Error> {
        if self.records.is_empty() {
            // Nothing reserved, nothing to publish (it would share its LSN with the next one).
            self.completed = true;
            return Ok(self.first_lsn);
        }
        self.first.write(self.records);
        for piece in &self.more {
            piece.write(self.records);
        }
        self.completed = true;
        if self.publication.wait_turn(self.first_lsn.0).is_err() {
            return Err(Error::Abandoned);
        }
        self.first.publish();
        for piece in &self.more {
            piece.publish();
        }
        self.publication.advance(self.first_lsn.0, self.end_lsn.0).map_err(|_| Error::Abandoned)?;
        Ok(self.first_lsn)
    }
}

impl<S: Storage> Piece<S> {
    /// Encodes this piece's records (of the reservation's `records`) into its range.
    fn write(&self, records: &[Record<'_>]) {
        // SAFETY: the writer handed this range to this reservation alone, nothing below the
        // published offset overlaps it, and it is published only below.
        let dst = unsafe { self.chunk.map.region(self.offset, self.len) };
        // The writer checked every record and the LSN range when it reserved this.
        let records = &records[self.records.clone()];
        let written = self.chunk.encoder.encode_prechecked(dst, self.first_lsn, records);
        debug_assert_eq!(written, self.len);
    }

    /// Makes the piece visible (and the chunk it closed, whole); the caller holds the turn.
    fn publish(&self) {
        if let Some(closed) = &self.closes {
            closed.publish_to(closed.len_bytes());
            closed.close();
        }
        self.chunk.publish_to(self.offset + self.len);
    }
}

impl<S: Storage> Drop for Reservation<'_, S> {
    fn drop(&mut self) {
        if !self.completed {
            self.publication.poison();
        }
    }
}
