//! `okaywal` (0.3): every commit of an entry is durable (it fsyncs, batching concurrent
//! committers), so the non-durable cells write all their records as chunks of one entry,
//! committed at the end (batches: the same entry, a chunk per record); durable cells commit one
//! entry of one chunk per record. W5 and W6 are left empty: okaywal hands entries to the
//! application's checkpoint and recycles their segment, on close too, so a reopened log holds
//! nothing to read back.

use std::io;
use std::path::Path;
use std::sync::Mutex;

use okaywal::{Entry, EntryId, LogManager, ReadChunkResult, SegmentReader, WriteAheadLog};

/// Checkpointing keeps nothing (the bench never needs the data again); recovery reads
/// every chunk.
#[derive(Debug, Default)]
struct Discard;

impl LogManager for Discard {
    fn recover(&mut self, entry: &mut Entry<'_>) -> io::Result<()> {
        while let ReadChunkResult::Chunk(mut chunk) = entry.read_chunk()? {
            chunk.read_all()?;
        }
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: EntryId,
        _checkpointed_entries: &mut SegmentReader,
        _wal: &WriteAheadLog,
    ) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) struct Okay {
    log: WriteAheadLog,
    durable: bool,
}

/// For non-durable cells, the one entry every record goes into, committed on drop.
pub(crate) struct OkayWriter<'a> {
    system: &'a Okay,
    open: Mutex<Option<okaywal::EntryWriter<'a>>>,
}

impl super::System for Okay {
    type Writer<'a> = OkayWriter<'a>;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        let log = WriteAheadLog::recover(dir, Discard).expect("open");
        Okay { log, durable }
    }

    fn writer(&self) -> OkayWriter<'_> {
        OkayWriter { system: self, open: Mutex::new(None) }
    }

    fn finish(&self) {}

    /// okaywal hands a segment's entries to the application's checkpoint and recycles the
    /// segment, closing included; a reopened log recovers only what was not checkpointed
    /// (here, nothing), so there is nothing comparable to read back.
    fn read_all(_dir: &Path) -> Option<u64> {
        None
    }
}

impl super::Writer for OkayWriter<'_> {
    fn append(&mut self, payload: &[u8]) {
        if self.system.durable {
            let mut entry = self.system.log.begin_entry().expect("begin");
            entry.write_chunk(payload).expect("write");
            entry.commit().expect("commit");
            return;
        }
        let mut open = self.open.lock().expect("lock");
        let entry = match open.as_mut() {
            Some(entry) => entry,
            None => open.insert(self.system.log.begin_entry().expect("begin")),
        };
        entry.write_chunk(payload).expect("write");
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        for payload in payloads {
            self.append(payload);
        }
    }
}

impl Drop for OkayWriter<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.open.get_mut().expect("lock").take() {
            entry.commit().expect("commit");
        }
    }
}
