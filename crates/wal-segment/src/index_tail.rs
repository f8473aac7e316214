//! The writer's end of the sidecar index: how many records are durable and indexed, where the
//! index file ends, and whether it is still being written.
//!
//! Entries are appended only for records already durable: when a sync finishes and the durable
//! prefix grows ([`crate::SegmentWriter::finish_sync`]), the entries of the records it made
//! durable are planned under the writer's lock and written by an [`IndexAppend`] once the
//! caller lets go of it (it writes when dropped), so the write holds no lock. Every entry in the
//! file thus vouches for a durable frame, whatever order concurrent syncs finish in. A failed
//! append marks the index broken instead of failing the sync: the data is durable, only the hint
//! is lost, and the next open rebuilds it. A cut or a seal rewrites a broken index whole.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;
use crate::index::{INDEX_WORD_BYTES, WordEncoder, write_index_file};
use crate::positions::RecordPositions;
use crate::segment_id::SegmentId;
use crate::storage::SegmentFile;

/// The writer's state of a segment's index file.
pub(crate) struct IndexTail<F> {
    file: Arc<F>,
    segment_id: SegmentId,
    /// Bytes of the index file written, or to be written by appends handed out.
    len: u64,
    /// How many of the segment's records are durable.
    durable_records: usize,
    /// How many records have entries in the file, or in appends handed out.
    planned_records: usize,
    /// An index write failed: stop writing it; the next open (or a seal) rebuilds it. Shared
    /// with the appends handed out, which set it.
    broken: Arc<AtomicBool>,
    /// Where the file's words leave off (the chunk and LSN the next entry continues from).
    words: WordEncoder,
}

/// Index entries of records just made durable, to append without the writer's lock: written
/// when dropped (or by [`IndexAppend::write`]). A failure marks the index broken.
#[must_use = "dropping it writes the entries: drop it once no lock is held"]
pub struct IndexAppend<F: SegmentFile> {
    bytes: Vec<u8>,
    /// The file and the offset to append at; `None` when there is nothing to append or the
    /// index is broken.
    target: Option<(Arc<F>, u64)>,
    broken: Arc<AtomicBool>,
}

impl<F: SegmentFile> IndexTail<F> {
    /// The tail of an index file `len` bytes long that lists no record yet.
    pub(crate) fn new(file: Arc<F>, segment_id: SegmentId, len: u64) -> Self {
        IndexTail {
            file,
            segment_id,
            len,
            durable_records: 0,
            planned_records: 0,
            broken: Arc::new(AtomicBool::new(false)),
            words: WordEncoder::default(),
        }
    }

    /// How many of the segment's records are durable.
    pub(crate) fn durable_records(&self) -> usize {
        self.durable_records
    }

    /// Notes that the records below number `durable` are durable (a sync prefix finished) and
    /// hands back the entries of those no earlier append listed.
    pub(crate) fn durable_up_to(
        &mut self,
        positions: &RecordPositions,
        durable: usize,
    ) -> IndexAppend<F> {
        self.durable_records = self.durable_records.max(durable);
        let broken = Arc::clone(&self.broken);
        let range = self.planned_records..self.durable_records.max(self.planned_records);
        if range.is_empty() || self.is_broken() {
            return IndexAppend { bytes: Vec::new(), target: None, broken };
        }
        let mut bytes = Vec::with_capacity(range.len() * INDEX_WORD_BYTES);
        for entry in positions.entries(range.clone()) {
            self.words.push(&entry, &mut bytes);
        }
        let target = Some((Arc::clone(&self.file), self.len));
        self.len += bytes.len() as u64;
        self.planned_records = range.end;
        IndexAppend { bytes, target, broken }
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Forgets every durable record from number `kept` on (they are being cut), and rewrites
    /// the index without them, durably: it must never vouch for them again.
    pub(crate) fn cut(
        &mut self,
        positions: &RecordPositions,
        kept: usize,
        path: &Path,
    ) -> Result<(), Error> {
        self.durable_records = self.durable_records.min(kept);
        self.rewrite(positions, path)
    }

    /// Makes the whole index durable at a seal (every record durable, every append written):
    /// the file synced, or a broken one rewritten.
    pub(crate) fn make_durable(
        &mut self,
        positions: &RecordPositions,
        path: &Path,
    ) -> Result<(), Error> {
        if self.is_broken() {
            self.rewrite(positions, path)
        } else {
            self.file.sync_data().map_err(|error| Error::io("sync index of", path, error))
        }
    }

    /// Replaces the index file with the durable entries and makes it durable.
    fn rewrite(&mut self, positions: &RecordPositions, path: &Path) -> Result<(), Error> {
        let index = positions.to_index(self.durable_records);
        self.len = write_index_file(&*self.file, &index, self.segment_id)
            .map_err(|error| Error::io("rewrite index of", path, error))?;
        self.words = WordEncoder::after(index.entries().last());
        self.planned_records = self.durable_records;
        self.broken = Arc::new(AtomicBool::new(false));
        Ok(())
    }
}

impl<F: SegmentFile> IndexAppend<F> {
    /// Appends the entries now (their records are durable). A failure is kept, not returned:
    /// the sync stands, and the index is broken from now on.
    pub fn write(mut self) {
        self.append();
    }

    fn append(&mut self) {
        if let Some((file, at)) = self.target.take()
            && file.write_at(at, &self.bytes).is_err()
        {
            self.broken.store(true, Ordering::Release);
        }
    }
}

impl<F: SegmentFile> Drop for IndexAppend<F> {
    fn drop(&mut self) {
        self.append();
    }
}
