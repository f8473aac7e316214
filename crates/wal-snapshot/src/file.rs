//! The snapshot file: a 64-byte header, then the state machine's body. Specified in
//! `docs/format.md` ("Snapshot files").
//!
//! Written as `snapshot-<next_lsn>.snap.tmp`, synced, renamed to `snapshot-<next_lsn>.snap`,
//! and the directory synced: a crash leaves either no snapshot of that point or a whole one.
//! Read in two passes: the first checks the header and the body's checksum while streaming it
//! (nothing is allocated by a length read from the file), the second gives the checked bytes to
//! the state machine.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use wal_core::storage::SegmentFile;
use wal_core::{Lsn, Storage};

use crate::error::{Error, io_error};

/// The first eight bytes of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"WALSNAP\0";
/// The version this code writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Bytes of the header.
pub const SNAPSHOT_HEADER_BYTES: usize = HEADER_BYTES_U32 as usize;
const HEADER_BYTES_U32: u32 = 64;

const SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".snap.tmp";
/// Bytes read or written per storage call.
const BLOCK: usize = 64 << 10;

/// What a snapshot covers, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// Every unit whose commit record lies before this LSN is in the snapshot; none at or
    /// after it is.
    pub next_lsn: Lsn,
    /// Replay after this snapshot must read the log from here: the begin record of the oldest
    /// transaction still open when it was taken (its deltas are before `next_lsn`), or
    /// `next_lsn` if none was.
    pub replay_from: Lsn,
    /// The commit LSN of the last unit in the snapshot (0 if none).
    pub last_commit_lsn: Lsn,
    /// Units applied to the state since it was empty.
    pub units: u64,
    /// Bytes of the body.
    pub body_len: u64,
    /// CRC-32 (IEEE) of the body.
    pub body_crc: u32,
}

impl SnapshotHeader {
    /// The header's 64 bytes, its own CRC-32 last.
    #[must_use]
    pub fn encode(&self) -> [u8; SNAPSHOT_HEADER_BYTES] {
        let mut bytes = [0u8; SNAPSHOT_HEADER_BYTES];
        bytes[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        bytes[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&HEADER_BYTES_U32.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.next_lsn.0.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.replay_from.0.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.last_commit_lsn.0.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.units.to_le_bytes());
        bytes[48..56].copy_from_slice(&self.body_len.to_le_bytes());
        bytes[56..60].copy_from_slice(&self.body_crc.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Reads a header; `Err` says what is wrong with it.
    ///
    /// # Errors
    /// A description of the first problem found.
    pub fn decode(bytes: &[u8]) -> Result<SnapshotHeader, String> {
        let Some(bytes) = bytes.get(..SNAPSHOT_HEADER_BYTES) else {
            return Err(format!("{} bytes, shorter than a header", bytes.len()));
        };
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        if bytes[0..8] != SNAPSHOT_MAGIC {
            return Err("not a snapshot file (bad magic)".into());
        }
        let crc = crc32fast::hash(&bytes[..60]);
        if u32_at(60) != crc {
            return Err(format!("header checksum {:#010x}, computed {crc:#010x}", u32_at(60)));
        }
        if u32_at(8) != SNAPSHOT_VERSION {
            return Err(format!("version {} (this code reads {SNAPSHOT_VERSION})", u32_at(8)));
        }
        if u32_at(12) as usize != SNAPSHOT_HEADER_BYTES {
            return Err(format!("a header of {} bytes", u32_at(12)));
        }
        let header = SnapshotHeader {
            next_lsn: Lsn(u64_at(16)),
            replay_from: Lsn(u64_at(24)),
            last_commit_lsn: Lsn(u64_at(32)),
            units: u64_at(40),
            body_len: u64_at(48),
            body_crc: u32_at(56),
        };
        if header.replay_from > header.next_lsn || header.last_commit_lsn >= header.next_lsn {
            return Err(format!("inconsistent points: {header:?}"));
        }
        Ok(header)
    }
}

/// The file name of the snapshot taken at `next_lsn`.
#[must_use]
pub fn snapshot_file_name(next_lsn: Lsn) -> String {
    format!("snapshot-{:020}{SUFFIX}", next_lsn.0)
}

/// A snapshot file found in the directory, by the point its name states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) next_lsn: Lsn,
}

/// The snapshot files in `dir`, newest first, and the temporary files of checkpoints that did
/// not finish.
pub(crate) fn list<S: Storage>(
    storage: &S,
    dir: &Path,
) -> Result<(Vec<Found>, Vec<PathBuf>), Error> {
    let files = storage.list(dir).map_err(|e| io_error("list", dir, e))?;
    let (mut found, mut temporary) = (Vec::new(), Vec::new());
    for path in files {
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
        if name.starts_with("snapshot-") && name.ends_with(TEMP_SUFFIX) {
            temporary.push(path);
            continue;
        }
        let digits = name.strip_prefix("snapshot-").and_then(|rest| rest.strip_suffix(SUFFIX));
        if let Some(next_lsn) = digits.and_then(|digits| digits.parse().ok()) {
            // Only exact names: `snapshot-7.snap` is not ours.
            if snapshot_file_name(Lsn(next_lsn)) == name {
                found.push(Found { path, next_lsn: Lsn(next_lsn) });
            }
        }
    }
    found.sort_by_key(|found| std::cmp::Reverse(found.next_lsn));
    Ok((found, temporary))
}

/// Writes a snapshot with `header`'s points and the body `write_body` produces: temporary
/// file, sync, rename, directory sync. `renamed` is called with the path once the rename has
/// put the new file there (whatever the directory sync then does): from then on that name is
/// the new snapshot's, whatever file held it before. Returns the path and the header as
/// written.
pub(crate) fn write<S: Storage>(
    storage: &S,
    dir: &Path,
    mut header: SnapshotHeader,
    write_body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    renamed: impl FnOnce(&Path),
) -> Result<(PathBuf, SnapshotHeader), Error> {
    let path = dir.join(snapshot_file_name(header.next_lsn));
    let temporary = dir.join(format!("{}{TEMP_SUFFIX}", snapshot_file_name(header.next_lsn)));
    // A leftover of an interrupted checkpoint at the same point.
    match storage.remove(&temporary) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            return Err(io_error("remove", &temporary, error));
        }
        _ => {}
    }
    let file = storage.create(&temporary).map_err(|e| io_error("create", &temporary, e))?;
    let mut out = BodyWriter::new(&file);
    write_body(&mut out).map_err(|e| io_error("write", &temporary, e))?;
    out.flush().map_err(|e| io_error("write", &temporary, e))?;
    header.body_len = out.written;
    header.body_crc = out.crc.clone().finalize();
    file.write_at(0, &header.encode()).map_err(|e| io_error("write", &temporary, e))?;
    file.sync_data().map_err(|e| io_error("sync", &temporary, e))?;
    drop(file);
    storage.rename(&temporary, &path).map_err(|e| io_error("rename", &temporary, e))?;
    renamed(&path);
    storage.sync_dir(dir).map_err(|e| io_error("sync directory", dir, e))?;
    Ok((path, header))
}

/// Checks the header of the snapshot at `path`, and that the file is as long as it says.
/// `Ok(Err(reason))` for a damaged snapshot; `Err` for an I/O error reading it.
pub(crate) fn check_header<S: Storage>(
    storage: &S,
    path: &Path,
) -> Result<Result<SnapshotHeader, String>, Error> {
    let file = storage.open(path).map_err(|e| io_error("open", path, e))?;
    let len = file.len_bytes().map_err(|e| io_error("stat", path, e))?;
    let mut bytes = [0u8; SNAPSHOT_HEADER_BYTES];
    let read = file.read_at(0, &mut bytes).map_err(|e| io_error("read", path, e))?;
    let header = match SnapshotHeader::decode(&bytes[..read]) {
        Ok(header) => header,
        Err(reason) => return Ok(Err(reason)),
    };
    let expected = (SNAPSHOT_HEADER_BYTES as u64).checked_add(header.body_len);
    if expected != Some(len) {
        return Ok(Err(format!(
            "the file holds {len} bytes; its header says {} + {}",
            SNAPSHOT_HEADER_BYTES, header.body_len
        )));
    }
    Ok(Ok(header))
}

/// Checks the snapshot at `path`: its header, its length, and its body's checksum (streamed).
/// `Ok(Err(reason))` for a damaged snapshot; `Err` for an I/O error reading it.
pub(crate) fn check<S: Storage>(
    storage: &S,
    path: &Path,
) -> Result<Result<SnapshotHeader, String>, Error> {
    let header = match check_header(storage, path)? {
        Ok(header) => header,
        Err(reason) => return Ok(Err(reason)),
    };
    let file = storage.open(path).map_err(|e| io_error("open", path, e))?;
    let mut body = BodyReader::new(&file, header.body_len);
    let mut block = vec![0u8; BLOCK];
    loop {
        let n = body.read(&mut block).map_err(|e| io_error("read", path, e))?;
        if n == 0 {
            break;
        }
    }
    let crc = body.crc.finalize();
    if crc != header.body_crc {
        return Ok(Err(format!("body checksum {:#010x}, computed {crc:#010x}", header.body_crc)));
    }
    Ok(Ok(header))
}

/// Checks a snapshot read from `input`, a file of `len` bytes: its header, its length and its
/// body's checksum, streamed in blocks (memory stays one block whatever the size). For tools
/// that open the file themselves, for reading only. `Ok(Err(reason))` for a damaged snapshot.
///
/// # Errors
/// The I/O error of reading `input`.
pub fn check_snapshot(
    input: &mut dyn Read,
    len: u64,
) -> std::io::Result<Result<SnapshotHeader, String>> {
    let mut bytes = [0u8; SNAPSHOT_HEADER_BYTES];
    let mut read = 0;
    while read < bytes.len() {
        match input.read(&mut bytes[read..])? {
            0 => break,
            n => read += n,
        }
    }
    let header = match SnapshotHeader::decode(&bytes[..read]) {
        Ok(header) => header,
        Err(reason) => return Ok(Err(reason)),
    };
    if (SNAPSHOT_HEADER_BYTES as u64).checked_add(header.body_len) != Some(len) {
        return Ok(Err(format!(
            "the file holds {len} bytes; its header says {} + {}",
            SNAPSHOT_HEADER_BYTES, header.body_len
        )));
    }
    let mut crc = crc32fast::Hasher::new();
    let mut block = vec![0u8; BLOCK];
    let mut left = header.body_len;
    while left > 0 {
        let want = usize::try_from(left.min(BLOCK as u64)).expect("at most a block");
        let n = input.read(&mut block[..want])?;
        if n == 0 {
            return Ok(Err(format!("the body ends {left} bytes early")));
        }
        crc.update(&block[..n]);
        left -= n as u64;
    }
    let crc = crc.finalize();
    if crc != header.body_crc {
        return Ok(Err(format!("body checksum {:#010x}, computed {crc:#010x}", header.body_crc)));
    }
    Ok(Ok(header))
}

/// Reads the body of the checked snapshot at `path` through `read`.
pub(crate) fn read_body<S: Storage, T>(
    storage: &S,
    path: &Path,
    header: &SnapshotHeader,
    read: impl FnOnce(&mut dyn Read) -> T,
) -> Result<T, Error> {
    let file = storage.open(path).map_err(|e| io_error("open", path, e))?;
    let mut body = BodyReader::new(&file, header.body_len);
    Ok(read(&mut body))
}

/// Buffers the body into blocks written at increasing offsets after the header, and sums it.
struct BodyWriter<'f, F> {
    file: &'f F,
    buffer: Vec<u8>,
    written: u64,
    crc: crc32fast::Hasher,
}

impl<'f, F: SegmentFile> BodyWriter<'f, F> {
    fn new(file: &'f F) -> Self {
        BodyWriter {
            file,
            buffer: Vec::with_capacity(BLOCK),
            written: 0,
            crc: crc32fast::Hasher::new(),
        }
    }
}

impl<F: SegmentFile> Write for BodyWriter<'_, F> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buffer.len() + bytes.len() > BLOCK {
            self.flush()?;
        }
        if bytes.len() >= BLOCK {
            self.file.write_at(SNAPSHOT_HEADER_BYTES as u64 + self.written, bytes)?;
            self.crc.update(bytes);
            self.written += bytes.len() as u64;
        } else {
            self.buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            self.file.write_at(SNAPSHOT_HEADER_BYTES as u64 + self.written, &self.buffer)?;
            self.crc.update(&self.buffer);
            self.written += self.buffer.len() as u64;
            self.buffer.clear();
        }
        Ok(())
    }
}

/// Reads a body of known length from after the header, and sums what it reads.
struct BodyReader<'f, F> {
    file: &'f F,
    offset: u64,
    end: u64,
    crc: crc32fast::Hasher,
}

impl<'f, F: SegmentFile> BodyReader<'f, F> {
    fn new(file: &'f F, body_len: u64) -> Self {
        let offset = SNAPSHOT_HEADER_BYTES as u64;
        BodyReader {
            file,
            offset,
            end: offset.saturating_add(body_len),
            crc: crc32fast::Hasher::new(),
        }
    }
}

impl<F: SegmentFile> Read for BodyReader<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.offset).unwrap_or(usize::MAX);
        let want = buf.len().min(left).min(BLOCK);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(self.offset, &mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.crc.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }
}
