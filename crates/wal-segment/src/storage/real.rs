//! The real storage: files, `fallocate`, shared writable memory maps, and a directory lock.
//!
//! Space is reserved with `fallocate` (mode 0), which allocates blocks and extends the file, so
//! a mapped page always has a block behind it: a full disk is `ENOSPC` from `allocate`, never a
//! SIGBUS at a store. Mapped files are only ever changed through this crate while the directory
//! lock is held, so nobody truncates a file under a live mapping.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::{Advice, MmapOptions, MmapRaw};
use rustix::fs::{FallocateFlags, FlockOperation, fallocate, fcntl_lock};
use rustix::io::Errno;

use super::{MappedRegion, SegmentFile, SpaceFill, Storage};
use crate::FileId;
use crate::claim::MapHold;

/// Name of the lock file inside a log directory.
const LOCK_FILE_NAME: &str = "LOCK";
/// The piece `SpaceFill::Zeroed` writes at a time, and so the page-cache folio it leaves.
const ZERO_FILL_PIECE: usize = 64 << 10;

/// Files on the local file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealStorage;

/// The directory lock: an entry in this process's table of held directories, and an exclusive
/// POSIX record lock (`fcntl(F_SETLK)`) on `LOCK` against other processes; released when
/// dropped or when the process dies.
///
/// Why not `flock`: an `flock` belongs to the open file description, which a child forked by
/// any thread of the process shares until it execs; a log closed and reopened meanwhile finds
/// its own lock still held (`Locked`). A POSIX lock belongs to the process and is never
/// inherited by a child. Its known trap, that closing *any* descriptor of the file in the
/// process drops it, is kept away by the table: this process opens `LOCK` once per held
/// directory, and no other code here opens it.
#[derive(Debug)]
pub struct RealLock {
    file: Option<File>,
    key: (u64, u64),
}

/// The directories this process holds, by the device and inode of their `LOCK` file.
static HELD: std::sync::Mutex<std::collections::BTreeSet<(u64, u64)>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn held() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<(u64, u64)>> {
    // The set is changed by single inserts and removes: a panic cannot leave it half-written.
    HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for RealLock {
    fn drop(&mut self) {
        // Close (releasing the POSIX lock) before the table lets another handle of this process
        // lock the directory: closing after its lock was taken would release that one too.
        let mut held = held();
        drop(self.file.take());
        held.remove(&self.key);
    }
}

impl Storage for RealStorage {
    type File = RealFile;
    type Lock = RealLock;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn try_lock_dir(&self, dir: &Path) -> io::Result<RealLock> {
        use std::os::unix::fs::MetadataExt;
        let mut held = held();
        let path = dir.join(LOCK_FILE_NAME);
        // Held by this process? Decided by the table before the file is opened: opening and
        // closing `LOCK` here while a handle holds it would release that handle's lock.
        if let Ok(metadata) = std::fs::metadata(&path)
            && held.contains(&(metadata.dev(), metadata.ino()))
        {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        let metadata = file.metadata()?;
        let key = (metadata.dev(), metadata.ino());
        if held.contains(&key) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                held.insert(key);
                Ok(RealLock { file: Some(file), key })
            }
            Err(error) if error == Errno::AGAIN || error == Errno::ACCESS => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    fn create(&self, path: &Path) -> io::Result<RealFile> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        RealFile::new(file)
    }

    fn open(&self, path: &Path) -> io::Result<RealFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        RealFile::new(file)
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
    id: FileId,
}

impl RealFile {
    fn new(file: File) -> io::Result<RealFile> {
        use std::os::unix::fs::MetadataExt;
        let metadata = file.metadata()?;
        Ok(RealFile { file, id: FileId(metadata.dev(), metadata.ino()) })
    }

    /// Refuses to change a file this process has mapped (see `claim`).
    fn check_unmapped(&self) -> io::Result<()> {
        if crate::claim::is_mapped(self.id) {
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "the file is mapped by this process: changing it could fault or change mapped bytes",
            ));
        }
        Ok(())
    }
}

impl SegmentFile for RealFile {
    type Map = RealMap;

    fn id(&self) -> FileId {
        self.id
    }

    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn allocate(&self, offset: u64, len: u64, fill: SpaceFill) -> io::Result<()> {
        // The file's end before the reservation, read only when zeros are to be written.
        let old_len = match fill {
            SpaceFill::Zeroed => Some(self.file.metadata()?.len()),
            SpaceFill::Reserved => None,
        };
        fallocate(&self.file, FallocateFlags::empty(), offset, len).map_err(io::Error::from)?;
        if let Some(old_len) = old_len {
            // Only bytes past the old end: no mapping reaches past a file's end, so no view of
            // the file can see these writes (which is why `write_at`'s refusal of a mapped
            // file does not apply).
            let from = offset.max(old_len);
            let end = offset + len;
            let zeros = vec![0u8; ZERO_FILL_PIECE.min(usize::try_from(len).unwrap_or(usize::MAX))];
            let mut at = from;
            while at < end {
                let piece =
                    usize::try_from(end - at).map_or(zeros.len(), |rest| rest.min(zeros.len()));
                self.file.write_all_at(&zeros[..piece], at)?;
                at += piece as u64;
            }
        }
        Ok(())
    }

    fn map(&self, offset: u64, len: usize) -> io::Result<RealMap> {
        // The region was reserved by `allocate`, so no store can fault for lack of space; the
        // file is only resized by this crate while the directory lock is held, and never below a
        // live mapping. A raw mapping: its pointer comes from mmap itself, not from a reference
        // to the whole mapping, so writing through it never conflicts with a borrow.
        let map = MmapOptions::new().offset(offset).len(len).map_raw(&self.file)?;
        Ok(RealMap { map, _hold: crate::claim::hold_mapping(self.id) })
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
        self.check_unmapped()?;
        self.file.write_all_at(bytes, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_unmapped()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn start_writeback(&self, offset: u64, len: u64) {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len))
        else {
            return;
        };
        // SAFETY: a plain system call on a descriptor this value owns; it reads no memory of
        // ours. `SYNC_FILE_RANGE_WRITE` only starts write-back, so it neither waits nor
        // promises durability; a failure is ignored (the sync that follows reports errors).
        let _ = unsafe {
            libc::sync_file_range(self.file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
    }

    fn rewrite(&self, offset: u64, len: u64) -> io::Result<()> {
        if crate::claim::has_writer(self.id) {
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "a writer of the file is live",
            ));
        }
        // Through the file, not the mapping: `pwrite` of the bytes the shared page cache holds
        // dirties those pages without a store through memory others may be viewing (the bytes
        // do not change).
        const PIECE: u64 = 1 << 20;
        let mut buffer = vec![0u8; usize::try_from(len.min(PIECE)).unwrap_or(0)];
        let mut at = offset;
        let end = offset.checked_add(len).ok_or(io::ErrorKind::InvalidInput)?;
        while at < end {
            let piece = usize::try_from((end - at).min(PIECE)).unwrap_or(0);
            let read = SegmentFile::read_at(self, at, &mut buffer[..piece])?;
            if read == 0 {
                break;
            }
            self.file.write_all_at(&buffer[..read], at)?;
            at += read as u64;
        }
        Ok(())
    }
}

/// A shared writable mapping of part of a segment file.
#[derive(Debug)]
pub struct RealMap {
    map: MmapRaw,
    /// Counts this mapping against resizing or writing the file (see `claim`).
    _hold: MapHold,
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
