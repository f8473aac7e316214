//! The directory an open is given, before and after recovery reads it: created when missing
//! ([`crate::Wal::open`]) or required to hold a log ([`crate::Wal::open_existing`]), and the
//! layout an existing log keeps whatever the options say. It reads names only: what the files
//! hold is recovery's business (`recovery.rs`).

use std::io;
use std::path::Path;

use wal_segment::{Storage, segment_id_of};

use crate::anchor::ANCHOR_FILE_NAME;
use crate::error::Error;
use crate::events;
use crate::options::Options;

/// What opening does with a directory that holds no log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IfMissing {
    /// Create the directory (and parents) if needed, and a new log in it.
    Create,
    /// Refuse (`NotFound`, `NotADirectory`, `NotALog`), creating nothing.
    Refuse,
}

/// Makes sure `dir` can be opened as `if_missing` says: created if missing, or found holding
/// a log.
///
/// # Errors
/// `NotADirectory` if a file is in the way; for [`IfMissing::Refuse`], `NotFound` or
/// `NotALog`; I/O errors.
pub(crate) fn prepare<S: Storage>(
    storage: &S,
    dir: &Path,
    if_missing: IfMissing,
) -> Result<(), Error> {
    match if_missing {
        IfMissing::Create => storage
            .create_dir_all(dir)
            .map_err(|error| directory_error(dir, "create directory", error)),
        IfMissing::Refuse => {
            let names = storage.list(dir).map_err(|error| directory_error(dir, "list", error))?;
            let is_log = names
                .iter()
                .filter_map(|path| path.file_name()?.to_str())
                .any(|name| name == ANCHOR_FILE_NAME || segment_id_of(name).is_some());
            if is_log { Ok(()) } else { Err(Error::NotALog { path: dir.to_owned() }) }
        }
    }
}

/// The error of a failed `op` on the directory `dir`: a file in the way (`create_dir_all`
/// finds one at `dir`, or any listing or creation one above it) and a missing directory get
/// their own variants.
fn directory_error(dir: &Path, op: &'static str, error: io::Error) -> Error {
    match error.kind() {
        io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => {
            Error::NotADirectory { path: dir.to_owned() }
        }
        io::ErrorKind::NotFound if op == "list" => Error::NotFound { path: dir.to_owned() },
        _ => wal_segment::Error::io(op, dir, error).into(),
    }
}

/// `options` with the chunk size the log's segments were written with (`on_disk`, from the
/// newest segment whose first chunk header is readable), so new segments continue the log's
/// layout: the options' chunk size applies only to a log that has no segment yet.
pub(crate) fn adopt_layout(dir: &Path, mut options: Options, on_disk: Option<usize>) -> Options {
    if let Some(on_disk) = on_disk.filter(|&on_disk| on_disk != options.chunk_bytes) {
        events::layout_adopted(dir, options.chunk_bytes, on_disk);
        options.chunk_bytes = on_disk;
    }
    options
}
