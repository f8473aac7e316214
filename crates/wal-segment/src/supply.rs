//! The supply of prepared chunks: the next chunk of a segment, its space reserved
//! (`fallocate`) and mapped and pre-faulted for write, prepared on a thread of its own while the
//! current chunk fills, so that crossing a chunk boundary costs the appender no system call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::Error;
use crate::live::MapOf;
use crate::mapping::ChunkMap;
use crate::options::{ChunkPreparation, SegmentOptions};
use crate::storage::{SegmentFile, Storage};

/// A chunk's mapping.
pub(crate) type Map<S> = ChunkMap<MapOf<S>>;

/// The next chunk, being prepared or ready.
enum Prepared<S: Storage> {
    Ready(Map<S>),
    Pending(JoinHandle<Result<Map<S>, Error>>),
}

/// The chunks of one segment file, prepared one ahead of need.
pub(crate) struct ChunkSupply<S: Storage> {
    file: Arc<S::File>,
    path: PathBuf,
    options: SegmentOptions,
    /// The next chunk, reserved and mapped ahead of need.
    prepared: Option<Prepared<S>>,
}

impl<S: Storage> ChunkSupply<S> {
    pub(crate) fn new(file: Arc<S::File>, path: PathBuf, options: SegmentOptions) -> Self {
        ChunkSupply { file, path, options, prepared: None }
    }

    /// Starts preparing chunk `index` ahead of need (best effort: if it fails, [`Self::take`]
    /// tries again and reports). Never detaches a preparation still running: waits for it.
    pub(crate) fn prepare(&mut self, index: u32) {
        if let Some(Prepared::Pending(preparing)) = self.prepared.take() {
            let _ = preparing.join();
        }
        self.prepared = self.start(index);
    }

    /// Starts preparing chunk `index`: on a thread of its own, or here. The same thread then
    /// starts the write-back of chunk `index - 2`, the one just closed: a firehose's data then
    /// streams to disk while later chunks fill, and the seal's sync waits only for the rest.
    fn start(&self, index: u32) -> Option<Prepared<S>> {
        let (file, path, options) = (Arc::clone(&self.file), self.path.clone(), self.options);
        let closed = index.checked_sub(2);
        match self.options.preparation {
            ChunkPreparation::Background => {
                let preparing =
                    std::thread::Builder::new().name("wal-chunk-prepare".into()).spawn(move || {
                        // The chunk first: the write-back may wait to queue its pages.
                        let map = reserve_chunk::<S>(&file, &path, options, index);
                        if let Some(closed) = closed {
                            start_writeback::<S>(&file, options, closed);
                        }
                        map
                    });
                // If no thread can be started, `next_map` prepares the chunk itself.
                preparing.ok().map(Prepared::Pending)
            }
            ChunkPreparation::Inline => {
                let map = reserve_chunk::<S>(&file, &path, options, index);
                if let Some(closed) = closed {
                    start_writeback::<S>(&file, options, closed);
                }
                map.ok().map(Prepared::Ready)
            }
        }
    }

    /// The map for chunk `index`: the one prepared ahead if it is ready, else reserved now.
    pub(crate) fn take(&mut self, index: u32) -> Result<Map<S>, Error> {
        let ready = match self.prepared.take() {
            Some(Prepared::Ready(map)) => Some(map),
            Some(Prepared::Pending(preparing)) => preparing.join().ok().and_then(Result::ok),
            None => None,
        };
        // If preparing ahead failed, try once more here, where the error can be reported.
        match ready {
            Some(map) => Ok(map),
            None => reserve_chunk::<S>(&self.file, &self.path, self.options, index),
        }
    }
}

impl<S: Storage> Drop for ChunkSupply<S> {
    /// Waits for a chunk still being prepared, so no thread keeps working on the file after its
    /// writer is gone (sealed, truncated or dropped).
    fn drop(&mut self) {
        if let Some(Prepared::Pending(preparing)) = self.prepared.take() {
            let _ = preparing.join();
        }
    }
}

/// Starts writing chunk `index`'s dirty pages back (see `SegmentFile::start_writeback`).
fn start_writeback<S: Storage>(file: &S::File, options: SegmentOptions, index: u32) {
    let bytes = options.chunk_bytes as u64;
    file.start_writeback(u64::from(index) * bytes, bytes);
}

/// Reserves chunk `index`'s space in the file and maps it (pre-faulted for write).
pub(crate) fn reserve_chunk<S: Storage>(
    file: &S::File,
    path: &Path,
    options: SegmentOptions,
    index: u32,
) -> Result<Map<S>, Error> {
    let bytes = options.chunk_bytes as u64;
    let offset = u64::from(index) * bytes;
    file.allocate(offset, bytes, options.space_fill)
        .map_err(|error| Error::io_sized("allocate", path, bytes, error))?;
    let map =
        file.map(offset, options.chunk_bytes).map_err(|error| Error::io("map", path, error))?;
    let map = ChunkMap::new(map);
    map.prefault_for_write();
    Ok(map)
}
