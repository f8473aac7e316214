//! The writer's end of the sidecar index: how many records are durable and indexed, where the
//! index file ends, and whether it is still being written.
//!
//! Entries are appended only after the sync that made their records durable (`SyncPlan::run`
//! writes them; [`IndexTail::record`] counts them), so every entry in the file vouches for a
//! durable frame. A failed append marks the index broken instead of failing the sync: the data
//! is durable, only the hint is lost, and the next open rebuilds it. A cut or a seal rewrites a
//! broken index whole.

use std::path::Path;
use std::sync::Arc;

use crate::error::Error;
use crate::index::{INDEX_WORD_BYTES, WordEncoder, write_index_file};
use crate::positions::RecordPositions;
use crate::segment_id::SegmentId;
use crate::storage::SegmentFile;

/// The writer's state of a segment's index file.
pub(crate) struct IndexTail<F> {
    file: Arc<F>,
    segment_id: SegmentId,
    /// Bytes of the index file written so far.
    len: u64,
    /// How many of the segment's records are durable (and appended to the index file).
    durable_records: usize,
    /// A buffer for entries, reused by every sync.
    buffer: Vec<u8>,
    /// An index write failed: stop writing it; the next open (or a seal) rebuilds it.
    broken: bool,
    /// Where the file's words leave off (the chunk and LSN the next entry continues from).
    words: WordEncoder,
}

/// The index part of one sync: the entries of the records it makes durable, appended once the
/// data is durable.
pub(crate) struct IndexAppend<F> {
    /// The records below this number are durable once the sync has run.
    upto: usize,
    bytes: Vec<u8>,
    /// The file and the offset to append at; `None` when there is nothing to append or the
    /// index is broken.
    target: Option<(Arc<F>, u64)>,
    written: bool,
    /// Where the file's words leave off once `bytes` are appended.
    words: WordEncoder,
}

impl<F: SegmentFile> IndexTail<F> {
    /// The tail of an index file `len` bytes long that lists no record yet.
    pub(crate) fn new(file: Arc<F>, segment_id: SegmentId, len: u64) -> Self {
        IndexTail {
            file,
            segment_id,
            len,
            durable_records: 0,
            buffer: Vec::new(),
            broken: false,
            words: WordEncoder::default(),
        }
    }

    /// How many of the segment's records are durable.
    pub(crate) fn durable_records(&self) -> usize {
        self.durable_records
    }

    /// Plans the entries of the records from the durable count up to `upto`.
    pub(crate) fn plan(&mut self, positions: &RecordPositions, upto: usize) -> IndexAppend<F> {
        let mut bytes = std::mem::take(&mut self.buffer);
        bytes.clear();
        let range = self.durable_records..upto.max(self.durable_records);
        bytes.reserve(range.len() * INDEX_WORD_BYTES);
        let mut words = self.words;
        for entry in positions.entries(range) {
            words.push(&entry, &mut bytes);
        }
        let target = (!self.broken && upto > self.durable_records)
            .then(|| (Arc::clone(&self.file), self.len));
        IndexAppend { upto, bytes, target, written: false, words }
    }

    /// Records a plan whose sync succeeded: its records are durable, and its entries are in the
    /// file, or the index is broken from now on.
    pub(crate) fn record(&mut self, append: IndexAppend<F>) {
        if append.written {
            self.len += append.bytes.len() as u64;
            self.words = append.words;
        } else if append.target.is_some() {
            // The data is durable; only the hint is lost. The next open rebuilds it.
            self.broken = true;
        }
        self.durable_records = self.durable_records.max(append.upto);
        self.buffer = append.bytes;
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

    /// Makes the whole index durable at a seal: a sync of the file, or a rewrite of a broken
    /// one.
    pub(crate) fn make_durable(
        &mut self,
        positions: &RecordPositions,
        path: &Path,
    ) -> Result<(), Error> {
        if self.broken {
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
        self.broken = false;
        Ok(())
    }
}

impl<F: SegmentFile> IndexAppend<F> {
    /// Appends the entries (after the data they describe is durable). A failure is kept, not
    /// returned: the sync stands, and [`IndexTail::record`] marks the index broken.
    pub(crate) fn write(&mut self) {
        if let Some((file, at)) = &self.target {
            self.written = file.write_at(*at, &self.bytes).is_ok();
        }
    }
}
