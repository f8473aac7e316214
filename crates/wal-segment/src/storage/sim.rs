//! A simulated storage in memory that models the page cache, for crash tests no real process
//! can run.
//!
//! Each reserved region of a file has two images: the *volatile* one that mappings write into
//! (what the page cache holds) and the *durable* one as of the last sync (what the disk holds).
//! `sync` copies the synced pages from volatile to durable. [`SimStorage::crash`] builds the
//! storage a reboot would find: every 4 KiB page whose volatile bytes differ from its durable
//! bytes (exactly the pages dirtied since their last sync) is independently lost, kept, or torn
//! (each of its 512-byte sectors old or new), chosen by a seeded generator. Directory entries
//! and reserved regions not yet made durable by a sync may vanish the same way. It can also fail
//! the Nth operation with EIO or ENOSPC, and refuse allocations and file growth beyond a
//! capacity.
//!
//! A failed sync behaves as Linux's write-back does (ext4, xfs): the pages it was to write are
//! marked clean although the disk never got them, so a later sync writes nothing for them and
//! succeeds. They become dirty again only when written again ([`SegmentFile::rewrite`], a
//! `write_at` over them, or a store that changes their bytes). A reopen in the same "boot"
//! (the same `SimStorage`) sees them, like the page cache; a crash afterwards may lose them.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{MappedRegion, SegmentFile, SpaceFill, Storage};

/// Page size the simulation tracks dirtiness at.
pub const SIM_PAGE_BYTES: usize = 4096;
/// Sector size a torn page is torn at.
pub const SIM_SECTOR_BYTES: usize = 512;

/// An injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The operation fails with an I/O error (EIO).
    Io,
    /// The operation fails as if the disk were full (ENOSPC).
    NoSpace,
}

/// The simulated storage: cheap to clone, all clones share one state.
#[derive(Clone, Debug, Default)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<SimFileState>>,
    /// Names whose creation has been made durable by a `sync_dir`.
    durable_names: BTreeSet<PathBuf>,
    /// Names removed since the last `sync_dir` of their directory: they reappear after a crash.
    removed: BTreeMap<PathBuf, Arc<SimFileState>>,
    /// Renames since the last `sync_dir` of their directory, by new name: a crash keeps each
    /// one whole or undoes it whole.
    renamed: BTreeMap<PathBuf, Renamed>,
    dirs: BTreeSet<PathBuf>,
    locked: BTreeSet<PathBuf>,
    capacity_bytes: Option<u64>,
    allocated_bytes: u64,
    /// Operations counted so far, and the failure planned at a given count.
    ops: u64,
    planned: Option<(u64, Fault)>,
    /// The longest a mapping's sync waits before it writes back (see
    /// [`SimStorage::set_sync_jitter`]).
    sync_jitter: std::time::Duration,
}

/// What a rename replaced, to undo it in a crash.
#[derive(Debug)]
struct Renamed {
    from: PathBuf,
    /// Whether the old name was durable.
    from_durable: bool,
    /// The file the new name held before, and whether that name was durable.
    replaced: Option<(Arc<SimFileState>, bool)>,
}

#[derive(Debug, Default)]
struct SimFileState {
    regions: Mutex<Vec<Arc<Region>>>,
    /// The content of a file written with `write_at` (sidecar files): volatile and durable.
    plain: Mutex<(Vec<u8>, Vec<u8>)>,
    /// Sectors of `plain` a failed sync marked clean without writing them.
    plain_stale: Mutex<Stale>,
}

impl SimFileState {
    /// Bytes of space the file takes.
    fn bytes(&self) -> u64 {
        let regions: u64 = lock(&self.regions).iter().map(|region| region.len as u64).sum();
        regions + lock(&self.plain).0.len() as u64
    }
}

/// Writes back the units (of `unit` bytes) of `volatile` in `range` into `durable`, except those
/// a failed write-back left clean and unchanged since; or, for a failed sync (`failed`), writes
/// nothing and marks every dirty unit in `range` clean.
fn write_back(
    durable: &mut [u8],
    volatile: &[u8],
    stale: &mut Stale,
    unit: usize,
    range: std::ops::Range<usize>,
    failed: bool,
) {
    let first = range.start / unit;
    let last = range.end.div_ceil(unit);
    for index in first..last {
        let start = index * unit;
        let end = (start + unit).min(volatile.len()).min(durable.len());
        if start >= end {
            break;
        }
        let (new, old) = (&volatile[start..end], &mut durable[start..end]);
        if failed {
            if new != old {
                stale.insert(index, new.to_vec());
            }
            continue;
        }
        if stale.get(&index).is_some_and(|then| then.as_slice() == new) {
            continue; // clean in the page cache's eyes: nothing is written
        }
        stale.remove(&index);
        old.copy_from_slice(new);
    }
}

/// Makes the units of `stale` overlapping `range` dirty again (they were written again).
fn redirty(stale: &mut Stale, unit: usize, range: std::ops::Range<u64>) {
    let first = usize::try_from(range.start / unit as u64).unwrap_or(usize::MAX);
    let last = usize::try_from(range.end.div_ceil(unit as u64)).unwrap_or(usize::MAX);
    stale.retain(|&index, _| index < first || index >= last);
}

/// A reserved region: a stable heap buffer (the volatile image) and its durable image.
#[derive(Debug)]
struct Region {
    offset: u64,
    volatile: *mut u8,
    len: usize,
    durable: Mutex<Vec<u8>>,
    /// Whether the reservation itself survives a crash (set by the first sync of the region).
    reservation_durable: Mutex<bool>,
    /// Pages a failed sync marked clean without writing them, with their bytes then: a sync
    /// skips them while they hold those bytes.
    stale: Mutex<Stale>,
}

/// Units (pages or sectors) a failed write-back left clean but not durable, by index, with the
/// bytes they held then.
type Stale = BTreeMap<usize, Vec<u8>>;

// SAFETY: `volatile` points into a heap buffer owned by the region (freed in `Drop`); the bytes
// are only written through mappings by the single writer that owns the unwritten part of a chunk,
// and read by `sync` and `crash` while that writer is not writing the same bytes.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    fn new(offset: u64, len: usize) -> Region {
        let buffer: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        let volatile = Box::into_raw(buffer).cast::<u8>();
        Region {
            offset,
            volatile,
            len,
            durable: Mutex::new(vec![0u8; len]),
            reservation_durable: Mutex::new(false),
            stale: Mutex::new(Stale::new()),
        }
    }

    fn volatile(&self) -> &[u8] {
        // SAFETY: `volatile` is valid for `len` bytes for the region's life (see the Send impl).
        unsafe { std::slice::from_raw_parts(self.volatile, self.len) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.volatile, self.len);
        // SAFETY: the pointer came from `Box::into_raw` of a boxed slice of exactly `len` bytes.
        drop(unsafe { Box::from_raw(slice) });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a simulation lock is a test failure already; keep going.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn fault_error(fault: Fault) -> io::Error {
    match fault {
        Fault::Io => io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()),
        Fault::NoSpace => io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error()),
    }
}

impl SimStorage {
    /// An empty storage with unlimited capacity.
    #[must_use]
    pub fn new() -> SimStorage {
        SimStorage::default()
    }

    /// Refuses allocations that would take the total reserved bytes past `capacity_bytes`.
    pub fn set_capacity(&self, capacity_bytes: Option<u64>) {
        lock(&self.state).capacity_bytes = capacity_bytes;
    }

    /// Bytes the files take now (reserved regions and written sidecar files).
    #[must_use]
    pub fn used_bytes(&self) -> u64 {
        lock(&self.state).allocated_bytes
    }

    /// Makes the `n`th operation from now (0 = the next one) fail with `fault`. Operations are
    /// every call of the storage, file and mapping traits.
    pub fn fail_after(&self, n: u64, fault: Fault) {
        let mut state = lock(&self.state);
        state.planned = Some((state.ops + n, fault));
    }

    /// Makes every sync of a mapping wait a pseudo-random time up to `max` before it writes
    /// back, as a real disk's syncs take varying times: concurrent syncs then finish in any
    /// order, and a power loss can fall between a later sync's end and an earlier one's.
    pub fn set_sync_jitter(&self, max: std::time::Duration) {
        lock(&self.state).sync_jitter = max;
    }

    /// How long the sync counted as operation `op` waits (see `set_sync_jitter`).
    fn sync_wait(&self, op: u64) -> std::time::Duration {
        let max = lock(&self.state).sync_jitter;
        let micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
        if micros == 0 {
            return std::time::Duration::ZERO;
        }
        // A multiplicative hash of the operation count: varied, and the same in every run.
        let mixed = op.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        std::time::Duration::from_micros(mixed % (micros + 1))
    }

    /// Cancels a fault planned by [`SimStorage::fail_after`] that has not happened yet.
    pub fn cancel_fault(&self) {
        lock(&self.state).planned = None;
    }

    /// How many operations have run so far.
    #[must_use]
    pub fn operations(&self) -> u64 {
        lock(&self.state).ops
    }

    /// Counts an operation and fails it if a fault was planned for it.
    fn operation(&self) -> io::Result<()> {
        self.planned_fault().map_or(Ok(()), |fault| Err(fault_error(fault)))
    }

    /// Counts an operation and returns the fault planned for it, if any (for a sync, which
    /// fails in its own way).
    fn planned_fault(&self) -> Option<Fault> {
        let mut state = lock(&self.state);
        let op = state.ops;
        state.ops += 1;
        match state.planned {
            Some((at, fault)) if at == op => {
                state.planned = None;
                Some(fault)
            }
            _ => None,
        }
    }

    /// Refuses `grow` more bytes beyond the capacity; else counts them. Takes the state the
    /// caller locked (lock order everywhere: the storage state, then a file's contents).
    fn take_space(state: &mut State, grow: u64) -> io::Result<()> {
        if state.capacity_bytes.is_some_and(|cap| state.allocated_bytes + grow > cap) {
            return Err(fault_error(Fault::NoSpace));
        }
        state.allocated_bytes += grow;
        Ok(())
    }

    /// The storage a machine would find after losing power now, with the unsynced state
    /// resolved by `seed`. Mappings and files of `self` stay valid but are unrelated to it.
    #[must_use]
    pub fn crash(&self, seed: u64) -> SimStorage {
        let mut rng = SplitMix64(seed);
        let state = lock(&self.state);
        let crashed = SimStorage::new();
        let mut next = lock(&crashed.state);
        next.dirs = state.dirs.clone();
        next.capacity_bytes = state.capacity_bytes;
        // Each pending rename reaches the disk whole, or not at all.
        let mut names: Vec<(PathBuf, &Arc<SimFileState>, bool, bool)> = Vec::new();
        for (path, file) in &state.files {
            let durable = state.durable_names.contains(path);
            match state.renamed.get(path) {
                Some(renamed) if !rng.chance(2) => {
                    names.push((renamed.from.clone(), file, false, renamed.from_durable));
                    if let Some((old, old_durable)) = &renamed.replaced {
                        names.push((path.clone(), old, false, *old_durable));
                    }
                }
                Some(_) => names.push((path.clone(), file, false, true)),
                None => names.push((path.clone(), file, false, durable)),
            }
        }
        for (path, file) in &state.removed {
            names.push((path.clone(), file, true, state.durable_names.contains(path)));
        }
        for (path, file, was_removed, name_durable) in names {
            let path = &path;
            // A removal not yet synced may or may not reach the disk; so may a creation.
            let survives = if was_removed || !name_durable { rng.chance(2) } else { true };
            if !survives || (was_removed && !name_durable) {
                continue;
            }
            let image = SimFileState::default();
            for region in lock(&file.regions).iter() {
                if !*lock(&region.reservation_durable) && rng.chance(2) {
                    break; // an unsynced reservation was lost, and everything after it
                }
                let crashed_region = Region::new(region.offset, region.len);
                let mut bytes = lock(&region.durable).clone();
                let pending =
                    unwritten(region.volatile(), &bytes, &lock(&region.stale), SIM_PAGE_BYTES);
                crash_pages(&mut bytes, &pending, &mut rng);
                // SAFETY: a fresh region of the same length, not yet shared.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        crashed_region.volatile,
                        bytes.len(),
                    )
                };
                *lock(&crashed_region.durable) = bytes;
                *lock(&crashed_region.reservation_durable) = true;
                next.allocated_bytes += region.len as u64;
                lock(&image.regions).push(Arc::new(crashed_region));
            }
            let (volatile, durable) = &*lock(&file.plain);
            let pending = unwritten(volatile, durable, &lock(&file.plain_stale), SIM_SECTOR_BYTES);
            let plain = crash_plain(durable, &pending, &mut rng);
            next.allocated_bytes += plain.0.len() as u64;
            *lock(&image.plain) = plain;
            next.files.insert(path.clone(), Arc::new(image));
            next.durable_names.insert(path.clone());
        }
        drop(next);
        crashed
    }

    /// Applies `edit` to the durable and volatile bytes of the file at `path` as one flat
    /// buffer (regions concatenated): a test's way to damage what is on "disk".
    ///
    /// # Panics
    /// If the file does not exist.
    pub fn edit_file(&self, path: &Path, edit: impl FnOnce(&mut [u8])) {
        let file = lock(&self.state).files.get(path).cloned().expect("file exists");
        let regions = lock(&file.regions);
        if regions.is_empty() {
            let plain = &mut *lock(&file.plain);
            edit(&mut plain.0);
            plain.1.clone_from(&plain.0);
            return;
        }
        let mut flat: Vec<u8> = regions.iter().flat_map(|r| r.volatile().to_vec()).collect();
        edit(&mut flat);
        let mut at = 0;
        for region in regions.iter() {
            let part = &flat[at..at + region.len];
            // SAFETY: the region's buffer has `len` bytes; no mapping writes during a test edit.
            unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), region.volatile, region.len) };
            lock(&region.durable).copy_from_slice(part);
            at += region.len;
        }
    }

    /// The file's current bytes as the page cache holds them (regions concatenated).
    ///
    /// # Panics
    /// If the file does not exist.
    #[must_use]
    pub fn read_file(&self, path: &Path) -> Vec<u8> {
        self.content(&self.file(path).expect("file exists"))
    }

    fn content(&self, file: &SimFileState) -> Vec<u8> {
        let regions = lock(&file.regions);
        if regions.is_empty() {
            return lock(&file.plain).0.clone();
        }
        regions.iter().flat_map(|region| region.volatile().to_vec()).collect()
    }

    fn file(&self, path: &Path) -> io::Result<Arc<SimFileState>> {
        lock(&self.state).files.get(path).cloned().ok_or_else(|| io::ErrorKind::NotFound.into())
    }
}

/// What the page cache still has to write: `volatile`, but with the units a failed write-back
/// left clean (and unchanged since) as the disk has them, since nothing writes them again. A
/// crash never brings them to the disk.
fn unwritten(volatile: &[u8], durable: &[u8], stale: &Stale, unit: usize) -> Vec<u8> {
    let mut pending = volatile.to_vec();
    for (&index, then) in stale {
        let start = index * unit;
        let end = (start + then.len()).min(pending.len());
        if start >= end || pending[start..end] != then[..end - start] {
            continue; // written again since: dirty
        }
        for (at, byte) in pending[start..end].iter_mut().enumerate() {
            *byte = durable.get(start + at).copied().unwrap_or(0);
        }
    }
    pending
}

/// Resolves an unsynced sidecar file: its length is the old or the new one, and every sector
/// that differs is independently old or new. Returns (volatile, durable), equal after a crash.
fn crash_plain(durable: &[u8], volatile: &[u8], rng: &mut SplitMix64) -> (Vec<u8>, Vec<u8>) {
    let len = if rng.chance(2) { durable.len() } else { volatile.len() };
    let mut image = vec![0u8; len];
    for (index, sector) in image.chunks_mut(SIM_SECTOR_BYTES).enumerate() {
        let start = index * SIM_SECTOR_BYTES;
        let old = durable.get(start..start + sector.len());
        let new = volatile.get(start..start + sector.len());
        let pick = match (old, new) {
            (Some(old), Some(new)) => {
                if rng.chance(2) {
                    old
                } else {
                    new
                }
            }
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => continue,
        };
        sector.copy_from_slice(pick);
    }
    (image.clone(), image)
}

/// Resolves every dirty page of one region: lost, kept, or torn at a sector boundary.
fn crash_pages(durable: &mut [u8], volatile: &[u8], rng: &mut SplitMix64) {
    for (old, new) in durable.chunks_mut(SIM_PAGE_BYTES).zip(volatile.chunks(SIM_PAGE_BYTES)) {
        if old == new {
            continue;
        }
        match rng.below(3) {
            0 => {} // lost: the disk keeps the old page
            1 => old.copy_from_slice(new),
            _ => {
                // Torn: each 512-byte sector independently old or new, in any order.
                for (old, new) in old.chunks_mut(SIM_SECTOR_BYTES).zip(new.chunks(SIM_SECTOR_BYTES))
                {
                    if rng.chance(2) {
                        old.copy_from_slice(new);
                    }
                }
            }
        }
    }
}

impl Storage for SimStorage {
    type File = SimFile;
    type Lock = SimLock;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.operation()?;
        let mut state = lock(&self.state);
        // As a file system does: a file is in the way of a directory of its name.
        if state.files.contains_key(dir) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        state.dirs.insert(dir.to_owned());
        Ok(())
    }

    fn try_lock_dir(&self, dir: &Path) -> io::Result<SimLock> {
        self.operation()?;
        if lock(&self.state).locked.insert(dir.to_owned()) {
            Ok(SimLock { storage: self.clone(), dir: dir.to_owned() })
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    fn create(&self, path: &Path) -> io::Result<SimFile> {
        self.operation()?;
        let mut state = lock(&self.state);
        if state.files.contains_key(path) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        let file = Arc::new(SimFileState::default());
        state.files.insert(path.to_owned(), Arc::clone(&file));
        Ok(SimFile { storage: self.clone(), file })
    }

    fn open(&self, path: &Path) -> io::Result<SimFile> {
        self.operation()?;
        Ok(SimFile { storage: self.clone(), file: self.file(path)? })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.operation()?;
        let mut state = lock(&self.state);
        let file = state.files.remove(path).ok_or(io::ErrorKind::NotFound)?;
        state.allocated_bytes -= file.bytes();
        state.removed.insert(path.to_owned(), file);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.operation()?;
        let mut state = lock(&self.state);
        // Chains of renames between directory syncs that a crash would have to undo in part
        // are not modelled: refuse them loudly rather than crash them wrongly.
        let chained = state.renamed.get(from).is_some_and(|earlier| earlier.replaced.is_some());
        if chained || state.renamed.contains_key(to) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "simulated storage: this chain of renames before a directory sync is not modelled",
            ));
        }
        let file = state.files.remove(from).ok_or(io::ErrorKind::NotFound)?;
        let from_durable = state.durable_names.remove(from);
        let to_durable = state.durable_names.remove(to);
        let replaced = state.files.insert(to.to_owned(), file).map(|old| (old, to_durable));
        if let Some((old, _)) = &replaced {
            state.allocated_bytes -= old.bytes();
        }
        // A rename of a file renamed before the last sync undoes to the first name.
        let renamed = match state.renamed.remove(from) {
            Some(earlier) => {
                Renamed { from: earlier.from, from_durable: earlier.from_durable, replaced }
            }
            None => Renamed { from: from.to_owned(), from_durable, replaced },
        };
        state.renamed.insert(to.to_owned(), renamed);
        Ok(())
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<(Vec<u8>, u64)> {
        self.operation()?;
        let file = self.file(path)?;
        let mut bytes = self.content(&file);
        let len = bytes.len() as u64;
        bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok((bytes, len))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.operation()?;
        let state = lock(&self.state);
        let listed: Vec<PathBuf> =
            state.files.keys().filter(|path| path.parent() == Some(dir)).cloned().collect();
        // As a file system does: a file is not a directory, and a directory never created
        // (nor holding any file) is not there.
        if state.files.contains_key(dir) {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        if listed.is_empty() && !state.dirs.contains(dir) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(listed)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.operation()?;
        let mut state = lock(&self.state);
        let names: Vec<PathBuf> =
            state.files.keys().filter(|path| path.parent() == Some(dir)).cloned().collect();
        state.durable_names.extend(names);
        state.removed.retain(|path, _| path.parent() != Some(dir));
        state.renamed.retain(|path, _| path.parent() != Some(dir));
        let State { durable_names, files, .. } = &mut *state;
        durable_names.retain(|path| path.parent() != Some(dir) || files.contains_key(path));
        Ok(())
    }
}

/// The simulated directory lock.
#[derive(Debug)]
pub struct SimLock {
    storage: SimStorage,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        lock(&self.storage.state).locked.remove(&self.dir);
    }
}

/// A simulated file.
#[derive(Debug, Clone)]
pub struct SimFile {
    storage: SimStorage,
    file: Arc<SimFileState>,
}

impl SimFile {
    /// Reserves a region at the file's end (a no-op for one already reserved).
    fn reserve(&self, offset: u64, len: u64) -> io::Result<()> {
        self.storage.operation()?;
        // Lock order everywhere: the storage state, then a file's regions.
        let mut state = lock(&self.storage.state);
        let mut regions = lock(&self.file.regions);
        let end = regions.last().map_or(0, |r| r.offset + r.len as u64);
        if regions.iter().any(|r| r.offset == offset && r.len as u64 == len) {
            return Ok(()); // already reserved: like fallocate, reserving again is a no-op
        }
        if offset != end {
            // The segment layer only ever grows a file at its end.
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "allocation not at the end"));
        }
        let len_usize = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        if state.capacity_bytes.is_some_and(|cap| state.allocated_bytes + len > cap) {
            return Err(fault_error(Fault::NoSpace));
        }
        state.allocated_bytes += len;
        drop(state);
        regions.push(Arc::new(Region::new(offset, len_usize)));
        Ok(())
    }
}

impl SegmentFile for SimFile {
    type Map = SimMap;

    fn id(&self) -> crate::FileId {
        // The simulated file's address: stable while any handle on it lives. (A simulated
        // file's `write_at` and `set_len` never touch its mapped regions, so only writer
        // claims matter here.)
        crate::FileId(u64::MAX, Arc::as_ptr(&self.file) as usize as u64)
    }

    fn len_bytes(&self) -> io::Result<u64> {
        self.storage.operation()?;
        // A file is either mapped (regions) or written (plain); its length is whichever it has.
        let mapped = lock(&self.file.regions).last().map_or(0, |r| r.offset + r.len as u64);
        let written = lock(&self.file.plain).0.len() as u64;
        Ok(mapped.max(written))
    }

    /// Both fills reserve the same: a simulated region reads as zeros, and unsynced zeros a
    /// crash may drop leave zeros too. `Zeroed` costs one storage operation more (the writes
    /// that can fail after the reservation succeeded), so fault injection reaches that step.
    fn allocate(&self, offset: u64, len: u64, fill: SpaceFill) -> io::Result<()> {
        self.reserve(offset, len)?;
        if fill == SpaceFill::Zeroed {
            self.storage.operation()?;
        }
        Ok(())
    }

    fn map(&self, offset: u64, len: usize) -> io::Result<SimMap> {
        self.storage.operation()?;
        let end = offset.checked_add(len as u64).ok_or(io::ErrorKind::InvalidInput)?;
        let regions = lock(&self.file.regions);
        let region = regions
            .iter()
            .find(|r| r.offset <= offset && end <= r.offset + r.len as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "map outside a region"))?;
        let start =
            usize::try_from(offset - region.offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        Ok(SimMap { storage: self.storage.clone(), region: Arc::clone(region), start, len })
    }

    fn read_to_end(&self) -> io::Result<Vec<u8>> {
        self.storage.operation()?;
        Ok(lock(&self.file.plain).0.clone())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.storage.operation()?;
        let volatile = &lock(&self.file.plain).0;
        let start = usize::try_from(offset).map_or(volatile.len(), |at| at.min(volatile.len()));
        let n = buf.len().min(volatile.len() - start);
        buf[..n].copy_from_slice(&volatile[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.storage.operation()?;
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start.checked_add(bytes.len()).ok_or(io::ErrorKind::InvalidInput)?;
        let mut state = lock(&self.storage.state);
        let volatile = &mut lock(&self.file.plain).0;
        if volatile.len() < end {
            // Growing the file takes space: on a full disk nothing is written.
            SimStorage::take_space(&mut state, (end - volatile.len()) as u64)?;
            volatile.resize(end, 0);
        }
        drop(state);
        volatile[start..end].copy_from_slice(bytes);
        redirty(&mut lock(&self.file.plain_stale), SIM_SECTOR_BYTES, offset..end as u64);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.storage.operation()?;
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut state = lock(&self.storage.state);
        let volatile = &mut lock(&self.file.plain).0;
        if len > volatile.len() {
            SimStorage::take_space(&mut state, (len - volatile.len()) as u64)?;
        } else {
            state.allocated_bytes -= (volatile.len() - len) as u64;
        }
        volatile.resize(len, 0);
        Ok(())
    }

    /// Nothing to model: a crash already keeps or loses any unsynced page.
    fn start_writeback(&self, _offset: u64, _len: u64) {}

    fn sync_data(&self) -> io::Result<()> {
        let fault = self.storage.planned_fault();
        let plain = &mut *lock(&self.file.plain);
        let (volatile, durable) = (&plain.0, &mut plain.1);
        let stale = &mut *lock(&self.file.plain_stale);
        let len = if fault.is_some() { durable.len() } else { volatile.len() };
        // The length is metadata: written by a successful sync, kept by a failed one.
        let mut image = durable.clone();
        image.resize(volatile.len().max(durable.len()), 0);
        write_back(
            &mut image,
            volatile,
            stale,
            SIM_SECTOR_BYTES,
            0..volatile.len(),
            fault.is_some(),
        );
        image.truncate(len);
        *durable = image;
        fault.map_or(Ok(()), |fault| Err(fault_error(fault)))
    }

    fn rewrite(&self, offset: u64, len: u64) -> io::Result<()> {
        self.storage.operation()?;
        if crate::claim::has_writer(self.id()) {
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "a writer of the file is live",
            ));
        }
        let end = offset.checked_add(len).ok_or(io::ErrorKind::InvalidInput)?;
        for region in lock(&self.file.regions).iter() {
            let region_end = region.offset + region.len as u64;
            if region.offset < end && offset < region_end {
                let from = offset.max(region.offset) - region.offset;
                let to = end.min(region_end) - region.offset;
                redirty(&mut lock(&region.stale), SIM_PAGE_BYTES, from..to);
            }
        }
        redirty(&mut lock(&self.file.plain_stale), SIM_SECTOR_BYTES, offset..end);
        Ok(())
    }
}

/// A simulated mapping: a window onto a region's volatile image.
#[derive(Debug)]
pub struct SimMap {
    storage: SimStorage,
    region: Arc<Region>,
    start: usize,
    len: usize,
}

// SAFETY: the window lies inside the region's buffer (checked in `map`), which lives at a fixed
// address for as long as the `Arc<Region>` this map holds.
unsafe impl MappedRegion for SimMap {
    fn as_ptr(&self) -> *mut u8 {
        // SAFETY: `start + len <= region.len` was checked when the map was made.
        unsafe { self.region.volatile.add(self.start) }
    }

    fn len_bytes(&self) -> usize {
        self.len
    }

    fn sync(&self, offset: usize, len: usize) -> io::Result<()> {
        let wait = self.storage.sync_wait(self.storage.operations());
        let fault = self.storage.planned_fault();
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= self.len)
            .ok_or(io::ErrorKind::InvalidInput)?;
        // Like msync, whole pages are written; a failed one leaves them clean, unwritten.
        let range = self.start + offset..self.start + end;
        let durable = &mut *lock(&self.region.durable);
        let stale = &mut *lock(&self.region.stale);
        write_back(durable, self.region.volatile(), stale, SIM_PAGE_BYTES, range, fault.is_some());
        if let Some(fault) = fault {
            return Err(fault_error(fault));
        }
        *lock(&self.region.reservation_durable) = true;
        Ok(())
    }

    fn prefault_for_write(&self) {
        // Memory here never faults; nothing to do.
    }
}

/// A small seeded generator (SplitMix64): reproducible crash states without a dependency.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound > 0`).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// True with probability `1 / n`.
    pub(crate) fn chance(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
