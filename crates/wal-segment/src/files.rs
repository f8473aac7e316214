//! A segment's files by name, and their removal: the one place that knows what a log directory's
//! segment and index files are called (`docs/format.md`, "Segment files").

use std::io;
use std::path::Path;

use crate::error::Error;
pub use crate::segment_id::SegmentId;
use crate::storage::Storage;

/// The file name of segment `id`: 20 decimal digits, so names sort in segment order.
#[must_use]
pub fn segment_file_name(id: SegmentId) -> String {
    format!("{:020}.wal", id.0)
}

/// The file name of segment `id`'s index.
#[must_use]
pub fn index_file_name(id: SegmentId) -> String {
    format!("{:020}.idx", id.0)
}

/// The segment id a file name `name` is exactly the segment name of (`None` for any other
/// name, a near miss such as `1.wal` included).
#[must_use]
pub fn segment_id_of(name: &str) -> Option<SegmentId> {
    id_named(name, segment_file_name)
}

/// The segment id a file name `name` is exactly the index name of.
#[must_use]
pub fn index_id_of(name: &str) -> Option<SegmentId> {
    id_named(name, index_file_name)
}

fn id_named(name: &str, name_for: fn(SegmentId) -> String) -> Option<SegmentId> {
    let id = SegmentId(name.split('.').next()?.parse().ok()?);
    (name_for(id) == name).then_some(id)
}

/// Deletes segment `segment_id` and its index from `dir`, and makes the deletion durable. The
/// index goes first, so a crash in between never leaves an index without its data.
///
/// # Errors
/// `Io` if a removal or the directory sync fails. A missing file is not an error: a deletion
/// retried after a failed directory sync finds its files already gone, and must still succeed.
pub fn delete_segment<S: Storage>(
    storage: &S,
    dir: &Path,
    segment_id: SegmentId,
) -> Result<(), Error> {
    for path in [dir.join(index_file_name(segment_id)), dir.join(segment_file_name(segment_id))] {
        match storage.remove(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(Error::io("remove", &path, error)),
        }
    }
    storage.sync_dir(dir).map_err(|e| Error::io("sync directory", dir, e))
}
