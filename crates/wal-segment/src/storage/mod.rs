//! The storage a segment lives on, as a trait with two implementations chosen at compile time:
//! [`RealStorage`] (files, `fallocate`, `memmap2`, POSIX record locks) and [`SimStorage`] (memory that models
//! the page cache and can be crashed).
//!
//! The trait is as narrow as the segment layer needs: files are made of regions reserved with
//! [`SegmentFile::allocate`] before they are mapped, so no mapped page is ever sparse and a full
//! disk is an error at allocation, never a SIGBUS at a page fault. Everything here returns
//! `io::Error`; turning it into the crate's typed errors is the caller's job.

mod real;
mod sim;

use std::io;
use std::path::{Path, PathBuf};

pub use real::{RealLock, RealStorage};
pub use sim::{Fault, SIM_PAGE_BYTES, SIM_SECTOR_BYTES, SimStorage};

/// Files, directories and the directory lock.
pub trait Storage: Clone + Send + Sync + 'static {
    /// A file of this storage.
    type File: SegmentFile;
    /// Held while a directory is locked; dropping it releases the lock.
    type Lock: Send + Sync + 'static;

    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock of `dir`, or fails with `ErrorKind::WouldBlock` if another holder,
    /// in this process or another, has it. The lock dies with its holder.
    fn try_lock_dir(&self, dir: &Path) -> io::Result<Self::Lock>;
    /// Creates a new, empty file; fails if it exists.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens an existing file for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Self::File>;
    /// Deletes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to` in one atomic step, replacing `to` if it exists. Durable once the
    /// directory is synced; a crash before that leaves either the old names or the new ones.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// The files directly in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// At most the first `limit` bytes of an existing file, opened for reading only, and the
    /// file's whole length (for tools that look at a log without changing it; the engine itself
    /// maps or opens files for writing). Never allocates more than `limit` bytes, whatever the
    /// file's length.
    fn read(&self, path: &Path, limit: u64) -> io::Result<(Vec<u8>, u64)>;
    /// Makes the directory's entries (creations, deletions, renames) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// How a chunk's space is made ready before it is mapped and pre-faulted for stores
/// (measured in `docs/PERFORMANCE.md`, "Preparing a 16 MiB chunk, by method").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SpaceFill {
    /// Reserved with `fallocate` only: pre-faulting has the kernel zero each 4 KiB page, which
    /// keeps small page-cache folios, so a small `msync` writes only the pages it covers. For
    /// logs that sync every commit.
    #[default]
    Reserved,
    /// Reserved, then zeros written in 64 KiB pieces into space the file never held: the page
    /// cache keeps 64 KiB folios, so preparing a 16 MiB chunk costs about two thirds of
    /// `Reserved` and its write-back about 20% less, but a small `msync` writes a whole folio.
    /// For logs that sync rarely (`Buffered`, `Periodic`). (1 MiB pieces prepare as fast but
    /// made W2 slower and erratic: the kernel must find 1 MiB of contiguous memory per folio.)
    Zeroed,
}

/// One file, grown by reserved regions that are then mapped.
pub trait SegmentFile: Send + Sync + 'static {
    /// A writable mapping of a region of this file.
    type Map: MappedRegion;

    /// The file's identity in this process (device and inode for a real file): how the
    /// crate tells that a file has a live writer or mappings, whatever path opened it.
    fn id(&self) -> crate::FileId;
    /// The file's length in bytes.
    fn len_bytes(&self) -> io::Result<u64>;
    /// Reserves real storage for `[offset, offset + len)` (extending the file), so that mapping
    /// and writing it can never fail for lack of space. Fails with the OS's out-of-space error.
    /// With [`SpaceFill::Zeroed`] it then writes zeros into the part of the range that lay past
    /// the file's end (bytes no mapping can cover, so nothing any reader views changes).
    fn allocate(&self, offset: u64, len: u64, fill: SpaceFill) -> io::Result<()>;
    /// Maps `[offset, offset + len)`, a region earlier passed to `allocate`, for reading and
    /// writing.
    fn map(&self, offset: u64, len: usize) -> io::Result<Self::Map>;

    /// The whole content of a file written with `write_at` (a sidecar file, never mapped).
    fn read_to_end(&self) -> io::Result<Vec<u8>>;
    /// Reads up to `buf.len()` bytes at `offset` of a file written with `write_at`; fewer only
    /// at the end of the file (0 at or past it).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes `bytes` at `offset` of a file that is never mapped, extending it if needed.
    /// Fails with `ResourceBusy` on a file this process has mapped.
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Cuts or extends a file that is never mapped to `len` bytes. Fails with `ResourceBusy`
    /// on a file this process has mapped.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data, and the metadata needed to read it, durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Starts writing `[offset, offset + len)`'s dirty pages back, without waiting for the
    /// writes to finish (queuing them may block briefly, under write-back throttling) and
    /// without promising anything: a later sync of the range then waits only for what is
    /// left. (A crash may keep or lose any of those pages, as it may any unsynced page; an
    /// I/O error of that write-back is reported by the next sync of the file.)
    fn start_writeback(&self, offset: u64, len: u64);
    /// Writes `[offset, offset + len)` of a mapped file again with the bytes it holds, so that
    /// the page cache holds them dirty and the next sync writes them. Why: after a failed
    /// write-back Linux marks the pages clean though the disk never got them, and a later sync
    /// writes nothing and succeeds; bytes a reopen finds in the page cache are only trusted
    /// once written again and synced. The range must lie in reserved space, and no store into
    /// it may run meanwhile (recovery, before any writer of the file exists): fails with
    /// `ResourceBusy` while a writer of the file is live in this process.
    fn rewrite(&self, offset: u64, len: u64) -> io::Result<()>;
}

/// A writable mapping. Its bytes are reached through [`MappedRegion::as_ptr`] only by the
/// crate's `mapping` module, which upholds the aliasing rules.
///
/// # Safety
/// `as_ptr()` must point to `len_bytes()` bytes that stay valid, readable and writable, at the
/// same address, for as long as the value lives; `len_bytes()` must never change. The crate's
/// unsafe code reads and writes through the pointer on the strength of this promise.
pub unsafe trait MappedRegion: Send + Sync + 'static {
    /// The first byte of the mapping. Valid for `len()` bytes while `self` lives.
    fn as_ptr(&self) -> *mut u8;
    /// Length of the mapping in bytes.
    fn len_bytes(&self) -> usize;
    /// Makes `[offset, offset + len)` of the mapping durable (`msync(MS_SYNC)`), or fails.
    fn sync(&self, offset: usize, len: usize) -> io::Result<()>;
    /// Takes the write page faults of the whole mapping now (best effort), so that the appends
    /// into it take none. Only for space about to be written: it dirties every page.
    fn prefault_for_write(&self);
}
