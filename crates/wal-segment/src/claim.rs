//! Which files this process is writing or has mapped, so that safe code can never reach the
//! undefined behaviour a second writer or a resize under a mapping would be.
//!
//! Two tables, one per process, keyed by a file's identity (device and inode, or the simulated
//! file's address):
//! - *writer claims*: a segment file a `SegmentWriter` (or a reservation of it) may still write
//!   through its mapping. Scanning, recovering or rewriting such a file would hand out `&[u8]`
//!   views of bytes another thread is writing: refused with
//!   `LiveWriter`.
//! - *mappings*: a real file with live mappings. Resizing it (`set_len`) could leave a mapped
//!   page without a block (SIGBUS), and `write_at` would change bytes under readers' views:
//!   both refused with `ResourceBusy`. The library never does either to a mapped file; this
//!   only stops other code from doing it through the public `Storage` API.
//!
//! Across processes the directory lock does the same job.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A file's identity within this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u64, pub u64);

static CLAIMED: Mutex<BTreeMap<FileId, usize>> = Mutex::new(BTreeMap::new());
static MAPPED: Mutex<BTreeMap<FileId, usize>> = Mutex::new(BTreeMap::new());

fn table(
    table: &'static Mutex<BTreeMap<FileId, usize>>,
) -> MutexGuard<'static, BTreeMap<FileId, usize>> {
    // Single inserts and removes: a panic cannot leave a table half-changed.
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

fn enter(which: &'static Mutex<BTreeMap<FileId, usize>>, id: FileId) {
    *table(which).entry(id).or_default() += 1;
}

fn leave(which: &'static Mutex<BTreeMap<FileId, usize>>, id: FileId) {
    let mut table = table(which);
    if let Some(count) = table.get_mut(&id) {
        *count -= 1;
        if *count == 0 {
            table.remove(&id);
        }
    }
}

/// An entry in one of the tables, removed when dropped.
#[derive(Debug)]
pub(crate) struct Hold {
    table: &'static Mutex<BTreeMap<FileId, usize>>,
    id: FileId,
}

impl Hold {
    fn take(table: &'static Mutex<BTreeMap<FileId, usize>>, id: FileId) -> Hold {
        enter(table, id);
        Hold { table, id }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        leave(self.table, self.id);
    }
}

/// Held while a writer of the file may still write into its mappings.
pub(crate) type WriterClaim = Hold;
/// Held by every live mapping of a real file.
pub(crate) type MapHold = Hold;

/// Claims the file for its writer.
pub(crate) fn claim_writer(id: FileId) -> WriterClaim {
    Hold::take(&CLAIMED, id)
}

/// Counts a mapping of the file.
pub(crate) fn hold_mapping(id: FileId) -> MapHold {
    Hold::take(&MAPPED, id)
}

/// Whether a writer of this file is live in this process.
pub(crate) fn has_writer(id: FileId) -> bool {
    table(&CLAIMED).contains_key(&id)
}

/// Whether the file has live mappings in this process.
pub(crate) fn is_mapped(id: FileId) -> bool {
    table(&MAPPED).contains_key(&id)
}
