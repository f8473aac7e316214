//! Appending to one segment through its mapped chunks.
//!
//! Data flow: `append` encodes records straight into the current chunk's mapping (one memcpy per
//! payload, no syscall). When the next record does not fit, the writer closes the chunk with a
//! padding frame and starts the next one, which was reserved and mapped when the previous chunk
//! started, and whose header (magic, segment id, index, a fresh salt, first LSN) it writes first.
//! `sync` makes everything from the durable point to the write position durable with `msync` of
//! exactly those ranges, and then appends the positions of the records it made durable to the
//! sidecar index (not synced itself: it is a hint, checked on open). A failed sync poisons the
//! writer: the data it covered is in an unknown state, and a later sync could report success
//! without it. (A failed reservation or map is not poisonous: nothing written is in doubt.)

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use wal_format::{FrameEncoder, HEADER_SIZE_BYTES, Lsn, Record, Tag, batch_len, frame_len};

use crate::chunk_header::{CHUNK_HEADER_BYTES, ChunkIdentity};
use crate::error::{Error, is_out_of_space};
use crate::index::{IndexEntry, SegmentIndex, encode_entry, index_file_name, write_index_file};
use crate::mapping::ChunkMap;
use crate::options::{ChunkPreparation, SegmentOptions};
use crate::seal::{SEAL_PAYLOAD_BYTES, SealInfo};
use crate::storage::{SegmentFile, Storage};

/// The file name of segment `id`: 20 decimal digits, so names sort in segment order.
#[must_use]
pub fn segment_file_name(id: u64) -> String {
    format!("{id:020}.wal")
}

/// One chunk being written: its mapping, encoder, and how far it is written and synced.
struct OpenChunk<M> {
    map: ChunkMap<M>,
    encoder: FrameEncoder,
    salt: wal_format::Salt,
    written: usize,
    synced: usize,
}

/// Bytes a seal record's frame takes; always kept free in a segment's last chunk.
const SEAL_FRAME_BYTES: usize = match frame_len(SEAL_PAYLOAD_BYTES) {
    Some(len) => len,
    None => panic!("the seal payload is small"),
};

/// Whether an append may use the room kept for the seal record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Room {
    KeepForSeal,
    All,
}

type Map<S> = ChunkMap<<<S as Storage>::File as SegmentFile>::Map>;

/// The next chunk, being prepared or ready.
enum Prepared<S: Storage> {
    Ready(Map<S>),
    Pending(JoinHandle<Result<Map<S>, Error>>),
}

/// Appends records to one segment file.
pub struct SegmentWriter<S: Storage> {
    path: PathBuf,
    file: Arc<S::File>,
    options: SegmentOptions,
    segment_id: u64,
    /// Chunks started so far that still have unsynced bytes, oldest first, then the current one.
    chunks: Vec<(u32, OpenChunk<<S::File as SegmentFile>::Map>)>,
    /// The next chunk, reserved and mapped ahead of need.
    prepared: Option<Prepared<S>>,
    next_lsn: Lsn,
    durable_lsn: Lsn,
    poisoned: bool,
    index_file: S::File,
    /// Bytes of the index file written so far.
    index_len: u64,
    /// Positions of records appended since the last sync.
    pending_index: Vec<IndexEntry>,
    /// The bytes of `pending_index`, encoded for the index file.
    index_buffer: Vec<u8>,
    /// Positions of every durable record of the segment (what the index file should hold).
    durable_index: Vec<IndexEntry>,
    first_lsn: Lsn,
    /// An index write failed: stop writing it; the next open rebuilds it from the data.
    index_broken: bool,
}

impl<S: Storage> SegmentWriter<S> {
    /// Creates segment `segment_id` in `dir` (whose lock the caller holds), whose first record
    /// will have LSN `first_lsn`, and makes its directory entry durable.
    ///
    /// # Errors
    /// `OutOfSpace` if the first chunk cannot be reserved, `Io` for other failures.
    pub fn create(
        storage: &S,
        dir: &Path,
        segment_id: u64,
        first_lsn: Lsn,
        options: SegmentOptions,
    ) -> Result<SegmentWriter<S>, Error> {
        options.validate()?;
        let path = dir.join(segment_file_name(segment_id));
        let file = storage.create(&path).map_err(|e| Error::io("create", &path, e))?;
        let index_path = dir.join(index_file_name(segment_id));
        let index_file =
            storage.create(&index_path).map_err(|e| Error::io("create", &index_path, e))?;
        let header = SegmentIndex::default().encode(segment_id);
        index_file.write_at(0, &header).map_err(|e| Error::io("write", &index_path, e))?;
        let mut writer = SegmentWriter {
            path,
            file: Arc::new(file),
            options,
            segment_id,
            chunks: Vec::new(),
            prepared: None,
            next_lsn: first_lsn,
            durable_lsn: first_lsn,
            poisoned: false,
            index_file,
            index_len: header.len() as u64,
            pending_index: Vec::new(),
            index_buffer: Vec::new(),
            durable_index: Vec::new(),
            first_lsn,
            index_broken: false,
        };
        let first = reserve_chunk::<S>(&writer.file, &writer.path, options, 0)?;
        writer.start_chunk(0, first);
        storage.sync_dir(dir).map_err(|e| Error::io("sync directory", dir, e))?;
        Ok(writer)
    }

    /// The segment file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The LSN the next appended record gets.
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// Every record below this LSN is durable.
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        self.durable_lsn
    }

    /// Appends `records`, in order, and returns the LSN of the first. They are visible in the
    /// mapping at once and durable after the next successful [`SegmentWriter::sync`].
    ///
    /// # Errors
    /// Nothing is appended on `RecordTooLarge`, or `Format` (a reserved tag, `SEAL` included:
    /// only [`SegmentWriter::seal`] writes one; or no LSN left). On `SegmentFull` (no chunk left)
    /// and `OutOfSpace` or `Io` (a chunk could not be prepared), the records before the one that
    /// did not fit are appended, and `next_lsn` tells how many.
    pub fn append(&mut self, records: &[Record<'_>]) -> Result<Lsn, Error> {
        if let Some(seal) = records.iter().find(|record| record.tag == Tag::SEAL) {
            return Err(wal_format::Error::ReservedTag { tag: seal.tag }.into());
        }
        self.append_records(records, Room::KeepForSeal)
    }

    fn append_records(&mut self, records: &[Record<'_>], room: Room) -> Result<Lsn, Error> {
        self.check_usable()?;
        let max = self.options.max_payload_bytes();
        if let Some(record) = records.iter().find(|record| record.payload.len() > max) {
            return Err(Error::RecordTooLarge { len: record.payload.len(), max });
        }
        batch_len(records)?;
        // LSN u64::MAX is never assigned: check the whole batch before writing any of it.
        self.next_lsn
            .checked_add(records.len() as u64)
            .ok_or(Error::Format(wal_format::Error::LsnExhausted))?;
        let first = self.next_lsn;
        let mut rest = records;
        while !rest.is_empty() {
            let fitting = self.fitting_prefix(rest, room);
            if fitting == 0 {
                self.next_chunk()?;
                continue;
            }
            let (now, later) = rest.split_at(fitting);
            let lsn = self.next_lsn;
            let chunk_index = self.chunks.last().map_or(0, |(index, _)| *index);
            let chunk = self.current();
            let start = chunk.written;
            // SAFETY: this writer is the chunk's only writer and hands out no `Bytes` of its
            // unwritten part.
            let dst = unsafe { chunk.map.unwritten(start) };
            chunk.written += chunk.encoder.encode_batch(dst, lsn, now)?;
            let salt = chunk.salt;
            let mut offset = start;
            for (lsn, record) in (lsn.0..).zip(now) {
                let at = u32::try_from(offset).expect("chunks are at most 1 GiB");
                let entry = IndexEntry { lsn: Lsn(lsn), chunk: chunk_index, offset: at, salt };
                self.pending_index.push(entry);
                offset += frame_len(record.payload.len()).expect("checked against the chunk size");
            }
            self.next_lsn = Lsn(self.next_lsn.0 + fitting as u64);
            rest = later;
        }
        Ok(first)
    }

    /// Makes every appended record durable.
    ///
    /// # Errors
    /// `Io` if a sync fails; the writer is then poisoned.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.check_usable()?;
        for (index, chunk) in &mut self.chunks {
            if chunk.synced < chunk.written {
                if let Err(error) = chunk.map.sync(chunk.synced, chunk.written) {
                    self.poisoned = true;
                    return Err(Error::io("msync", &self.path, error).in_chunk(*index));
                }
                chunk.synced = chunk.written;
            }
        }
        // Only the current chunk can still receive bytes.
        let current = self.chunks.len() - 1;
        self.chunks.drain(..current);
        self.durable_lsn = self.next_lsn;
        self.write_index();
        Ok(())
    }

    /// Appends the positions of the records just made durable to the index.
    fn write_index(&mut self) {
        if !self.index_broken && !self.pending_index.is_empty() {
            // One reused buffer: no allocation per commit once it has grown.
            let bytes = &mut self.index_buffer;
            bytes.clear();
            bytes.extend(self.pending_index.iter().flat_map(encode_entry));
            match self.index_file.write_at(self.index_len, bytes) {
                Ok(()) => self.index_len += bytes.len() as u64,
                // The data is durable; only the hint is lost. The next open rebuilds it.
                Err(_) => self.index_broken = true,
            }
        }
        self.durable_index.append(&mut self.pending_index);
    }

    /// Finishes the segment: makes everything durable, appends a `SEAL` record stating the
    /// record count and the index checksum, and makes the seal and the whole index durable.
    ///
    /// # Errors
    /// As [`SegmentWriter::append`] and [`SegmentWriter::sync`].
    pub fn seal(mut self) -> Result<SealInfo, Error> {
        self.sync()?;
        let index = SegmentIndex::new(self.durable_index.clone());
        let info = SealInfo::for_index(self.next_lsn, &index, self.segment_id);
        self.append_records(&[Record { tag: Tag::SEAL, payload: &info.encode() }], Room::All)?;
        self.sync()?;
        // A sealed segment's index is durable and complete, so its durable point is its end.
        self.rewrite_index()?;
        Ok(info)
    }

    /// Ends the segment before LSN `keep_below`: records from it on are cut and can never
    /// reappear. The log continues in a new segment starting at `keep_below`.
    ///
    /// Order, so a crash at any step leaves either the old or the cut segment, never damage:
    /// first the index is rewritten without the cut records and made durable (it must never
    /// vouch for them again), then the header of the first cut frame is zeroed and made durable,
    /// so every scan ends there. Only frame headers are written, which no reader holds.
    ///
    /// # Errors
    /// `TruncateOutOfRange` if `keep_below` is not between the first and the next LSN; I/O
    /// errors as [`SegmentWriter::sync`].
    pub fn truncate(mut self, keep_below: Lsn) -> Result<(), Error> {
        self.sync()?;
        if keep_below < self.first_lsn || keep_below > self.next_lsn {
            return Err(Error::TruncateOutOfRange {
                requested: keep_below,
                first: self.first_lsn,
                next: self.next_lsn,
            });
        }
        let kept = usize::try_from(keep_below.0 - self.first_lsn.0).expect("records fit in memory");
        let Some(&cut) = self.durable_index.get(kept) else {
            return Ok(()); // nothing after keep_below
        };
        self.durable_index.truncate(kept);
        self.rewrite_index()?;
        let chunk_bytes = self.options.chunk_bytes;
        let map = self
            .file
            .map(u64::from(cut.chunk) * chunk_bytes as u64, chunk_bytes)
            .map_err(|error| Error::io("map", &self.path, error))?;
        let map = ChunkMap::new(map);
        let offset = cut.offset as usize;
        // SAFETY: a frame header is never part of a `Bytes` handed out while the writer lives.
        unsafe { map.overwrite(offset, &[0; HEADER_SIZE_BYTES]) };
        map.sync(offset, offset + HEADER_SIZE_BYTES)
            .map_err(|error| Error::io("msync", &self.path, error).in_chunk(cut.chunk))
    }

    /// Replaces the index file with the durable entries and makes it durable.
    fn rewrite_index(&mut self) -> Result<(), Error> {
        let index = SegmentIndex::new(self.durable_index.clone());
        self.index_len = write_index_file(&self.index_file, &index, self.segment_id)
            .map_err(|error| Error::io("rewrite index of", &self.path, error))?;
        self.index_broken = false;
        Ok(())
    }

    fn check_usable(&self) -> Result<(), Error> {
        if self.poisoned { Err(Error::Poisoned { path: self.path.clone() }) } else { Ok(()) }
    }

    fn current(&mut self) -> &mut OpenChunk<<S::File as SegmentFile>::Map> {
        &mut self.chunks.last_mut().expect("a writer always has a current chunk").1
    }

    /// How many of `records` fit, as frames, in the rest of the current chunk. In the last
    /// chunk, room for the seal record is kept unless `room` says the seal is what is written.
    fn fitting_prefix(&mut self, records: &[Record<'_>], room: Room) -> usize {
        let chunks = self.options.chunks_per_segment;
        let last_chunk = self.chunks.last().is_some_and(|(index, _)| index + 1 == chunks);
        let reserve = if room == Room::KeepForSeal && last_chunk { SEAL_FRAME_BYTES } else { 0 };
        let chunk = self.current();
        let mut room = (chunk.map.len_bytes() - chunk.written).saturating_sub(reserve);
        records
            .iter()
            .take_while(|record| {
                let len = frame_len(record.payload.len()).expect("checked against the chunk size");
                let fits = len <= room;
                room = room.saturating_sub(len);
                fits
            })
            .count()
    }

    /// Closes the current chunk with padding and starts the next one.
    fn next_chunk(&mut self) -> Result<(), Error> {
        let next_lsn = self.next_lsn;
        let index = self.chunks.last().map_or(0, |(index, _)| *index) + 1;
        if index >= self.options.chunks_per_segment {
            return Err(Error::SegmentFull { path: self.path.clone() });
        }
        // Get the next chunk first: if that fails (a full disk), the current one stays open.
        let ready = match self.prepared.take() {
            Some(Prepared::Ready(map)) => Some(map),
            Some(Prepared::Pending(preparing)) => preparing.join().ok().and_then(Result::ok),
            None => None,
        };
        // If preparing ahead failed, try once more here, where the error can be reported.
        let map = match ready {
            Some(map) => map,
            None => reserve_chunk::<S>(&self.file, &self.path, self.options, index)?,
        };
        let chunk = self.current();
        // SAFETY: as in `append`.
        let dst = unsafe { chunk.map.unwritten(chunk.written) };
        chunk.written += chunk.encoder.encode_padding(dst, next_lsn);
        self.start_chunk(index, map);
        Ok(())
    }

    /// Writes chunk `index`'s header into `map`, makes it current, and prepares the chunk after.
    fn start_chunk(&mut self, index: u32, mut map: Map<S>) {
        let identity = ChunkIdentity {
            chunk_size_log2: self.options.chunk_size_log2(),
            segment_id: self.segment_id,
            chunk_index: index,
            salt: fresh_salt(self.segment_id, index),
            first_lsn: self.next_lsn,
        };
        // SAFETY: the chunk was just mapped and nothing of it was handed out.
        let header = unsafe { map.unwritten(0) };
        header[..CHUNK_HEADER_BYTES].copy_from_slice(&identity.encode());
        let (encoder, salt) = (FrameEncoder::new(identity.salt), identity.salt);
        let open = OpenChunk { map, encoder, salt, written: CHUNK_HEADER_BYTES, synced: 0 };
        self.chunks.push((index, open));
        // Preparing ahead is best effort: if it fails, `next_chunk` tries again and reports.
        if index + 1 < self.options.chunks_per_segment {
            self.prepared = self.prepare(index + 1);
        }
    }

    /// Starts preparing chunk `index`: on a thread of its own, or here.
    fn prepare(&self, index: u32) -> Option<Prepared<S>> {
        let (file, path, options) = (Arc::clone(&self.file), self.path.clone(), self.options);
        match self.options.preparation {
            ChunkPreparation::Background => {
                let preparing = std::thread::Builder::new()
                    .name("wal-chunk-prepare".into())
                    .spawn(move || reserve_chunk::<S>(&file, &path, options, index));
                // If no thread can be started, `next_chunk` prepares the chunk itself.
                preparing.ok().map(Prepared::Pending)
            }
            ChunkPreparation::Inline => {
                reserve_chunk::<S>(&file, &path, options, index).ok().map(Prepared::Ready)
            }
        }
    }
}

/// Reserves chunk `index`'s space in the file and maps it (pre-faulted for write).
fn reserve_chunk<S: Storage>(
    file: &S::File,
    path: &Path,
    options: SegmentOptions,
    index: u32,
) -> Result<Map<S>, Error> {
    let bytes = options.chunk_bytes as u64;
    let offset = u64::from(index) * bytes;
    file.allocate(offset, bytes).map_err(|error| {
        if is_out_of_space(&error) {
            Error::OutOfSpace { path: path.to_owned(), bytes }
        } else {
            Error::io("allocate", path, error)
        }
    })?;
    let map =
        file.map(offset, options.chunk_bytes).map_err(|error| Error::io("map", path, error))?;
    let map = ChunkMap::new(map);
    map.prefault_for_write();
    Ok(map)
}

impl<S: Storage> Drop for SegmentWriter<S> {
    /// Waits for a chunk still being prepared, so no thread keeps working on the file after the
    /// writer is gone (sealed, truncated or dropped).
    fn drop(&mut self) {
        if let Some(Prepared::Pending(preparing)) = self.prepared.take() {
            let _ = preparing.join();
        }
    }
}

/// A salt for a new use of a chunk's space: random per process and call, so a stale frame of
/// an earlier use (or of another chunk) fails its checksum with certainty unless the salts
/// collide, a 2^-32 chance.
fn fresh_salt(segment_id: u64, chunk_index: u32) -> wal_format::Salt {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(segment_id);
    hasher.write_u32(chunk_index);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.write_u128(nanos);
    let [a, b, c, d, e, f, g, h] = hasher.finish().to_le_bytes();
    wal_format::Salt(u32::from_le_bytes([a, b, c, d]) ^ u32::from_le_bytes([e, f, g, h]))
}
