//! Creating a segment ahead of need: its files, its first chunk reserved, mapped and
//! pre-faulted, and the directory entries durable, so that starting it
//! ([`crate::SegmentWriter::start`]) costs no system call. A failed creation removes what it made.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::files::{index_file_name, segment_file_name};
use crate::index::SegmentIndex;
use crate::options::SegmentOptions;
use crate::segment_id::SegmentId;
use crate::storage::{SegmentFile, Storage};
use crate::supply::{Map, reserve_chunk};

/// A segment created and its first chunk prepared, waiting for [`crate::SegmentWriter::start`].
pub struct PreparedSegment<S: Storage> {
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<S::File>,
    /// From creation on: nothing scans or rewrites the file while it may be written.
    pub(crate) claim: crate::claim::WriterClaim,
    pub(crate) index_file: Arc<S::File>,
    pub(crate) index_len: u64,
    pub(crate) options: SegmentOptions,
    pub(crate) segment_id: SegmentId,
    pub(crate) first_map: Map<S>,
}

impl<S: Storage> PreparedSegment<S> {
    /// Creates segment `segment_id` in `dir` (whose lock the caller holds), ahead of need (on
    /// another thread): creates the files, reserves, maps and pre-faults the first chunk, and makes the
    /// directory entries durable. Until [`crate::SegmentWriter::start`], the segment's first chunk
    /// header is all zero: recovery sees a segment that holds nothing.
    ///
    /// # Errors
    /// As [`crate::SegmentWriter::create`].
    pub fn create(
        storage: &S,
        dir: &Path,
        segment_id: SegmentId,
        options: SegmentOptions,
    ) -> Result<PreparedSegment<S>, Error> {
        options.validate()?;
        // On failure, remove what this call created (never a file that already existed).
        let mut created = Created { storage, paths: Vec::new() };
        let path = dir.join(segment_file_name(segment_id));
        let file = storage.create(&path).map_err(|e| Error::io("create", &path, e))?;
        created.paths.push(path.clone());
        let index_path = dir.join(index_file_name(segment_id));
        let index_file =
            storage.create(&index_path).map_err(|e| Error::io("create", &index_path, e))?;
        created.paths.push(index_path.clone());
        let header = SegmentIndex::default().encode(segment_id);
        index_file.write_at(0, &header).map_err(|e| Error::io("write", &index_path, e))?;
        let claim = crate::claim::claim_writer(file.id());
        let file = Arc::new(file);
        let first_map = reserve_chunk::<S>(&file, &path, options, 0)?;
        storage.sync_dir(dir).map_err(|e| Error::io("sync directory", dir, e))?;
        created.paths.clear();
        Ok(PreparedSegment {
            path,
            file,
            claim,
            index_file: Arc::new(index_file),
            index_len: header.len() as u64,
            options,
            segment_id,
            first_map,
        })
    }

    /// The segment's id.
    #[must_use]
    pub fn segment_id(&self) -> SegmentId {
        self.segment_id
    }
}

/// Files a failed `create` made, removed when it returns (newest first). One that cannot be
/// removed now is an orphan that recovery removes.
struct Created<'s, S: Storage> {
    storage: &'s S,
    paths: Vec<PathBuf>,
}

impl<S: Storage> Drop for Created<'_, S> {
    fn drop(&mut self) {
        for path in self.paths.iter().rev() {
            let _ = self.storage.remove(path);
        }
    }
}
