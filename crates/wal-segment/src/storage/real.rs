//! The real storage: files, `fallocate`, shared writable memory maps, and `flock`.
//!
//! Space is reserved with `fallocate` (mode 0), which allocates blocks and extends the file, so
//! a mapped page always has a block behind it: a full disk is `ENOSPC` from `allocate`, never a
//! SIGBUS at a store. Mapped files are only ever changed through this crate while the directory
//! lock is held, so nobody truncates a file under a live mapping.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::{Advice, MmapOptions, MmapRaw};
use rustix::fs::{FallocateFlags, fallocate};

use super::{MappedRegion, SegmentFile, Storage};

/// Name of the lock file inside a log directory.
const LOCK_FILE_NAME: &str = "LOCK";

/// Files on the local file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealStorage;

/// The directory lock: an exclusive `flock` on `LOCK`, released when dropped or when the
/// process dies.
#[derive(Debug)]
pub struct RealLock {
    _file: File,
}

impl Storage for RealStorage {
    type File = RealFile;
    type Lock = RealLock;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn try_lock_dir(&self, dir: &Path) -> io::Result<RealLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE_NAME))?;
        match file.try_lock() {
            Ok(()) => Ok(RealLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(TryLockError::Error(error)) => Err(error),
        }
    }

    fn create(&self, path: &Path) -> io::Result<RealFile> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        Ok(RealFile { file })
    }

    fn open(&self, path: &Path) -> io::Result<RealFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(RealFile { file })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<(Vec<u8>, u64)> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(&file, limit), &mut bytes)?;
        Ok((bytes, len))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?.map(|entry| entry.map(|entry| entry.path())).collect()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// A segment file on disk.
#[derive(Debug)]
pub struct RealFile {
    file: File,
}

impl SegmentFile for RealFile {
    type Map = RealMap;

    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        fallocate(&self.file, FallocateFlags::empty(), offset, len).map_err(io::Error::from)
    }

    fn map(&self, offset: u64, len: usize) -> io::Result<RealMap> {
        // The region was reserved by `allocate`, so no store can fault for lack of space; the
        // file is only resized by this crate while the directory lock is held, and never below a
        // live mapping. A raw mapping: its pointer comes from mmap itself, not from a reference
        // to the whole mapping, so writing through it never conflicts with a borrow.
        let map = MmapOptions::new().offset(offset).len(len).map_raw(&self.file)?;
        Ok(RealMap { map })
    }

    fn read_to_end(&self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        (&self.file).seek(io::SeekFrom::Start(0))?;
        (&self.file).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut read = 0;
        while read < buf.len() {
            match std::os::unix::fs::FileExt::read_at(
                &self.file,
                &mut buf[read..],
                offset + read as u64,
            ) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(read)
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// A shared writable mapping of part of a segment file.
#[derive(Debug)]
pub struct RealMap {
    map: MmapRaw,
}

// SAFETY: the pointer and length are those of the `mmap` call, fixed for the mapping's life,
// and the mapping is only unmapped when `MmapRaw` is dropped with `self`.
unsafe impl MappedRegion for RealMap {
    fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    fn len_bytes(&self) -> usize {
        self.map.len()
    }

    fn sync(&self, offset: usize, len: usize) -> io::Result<()> {
        self.map.flush_range(offset, len)
    }

    fn prefault_for_write(&self) {
        // A shared file mapping faults on the first store to each page; take those faults now,
        // while the chunk is prepared. Kernels before 5.14 refuse the advice: then the appends
        // fault as usual.
        let _ = self.map.advise(Advice::PopulateWrite);
    }
}
