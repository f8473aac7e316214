//! The store's state beside the log: the vote, the committed log id and the purge point, in two
//! alternating slots.
//!
//! They live outside the log because a `truncate_after` cuts the log's tail, and a vote written
//! there after the entries it cuts would be cut with them. Each write goes to the slot that does
//! not hold the latest durable state, so a torn write only ever damages a slot whose loss is
//! harmless; opening takes the valid slot with the higher sequence, and saves that state again
//! into the other slot, synced, so what it read is durable whatever the page cache said. A
//! durable write (the vote, the purge point) is `fdatasync`ed and becomes the durable slot; a
//! committed-only write is not synced (losing it to a power loss is allowed: openraft
//! re-applies less on restart).
//!
//! Slot layout (little-endian), at offsets 0 and 4096: magic `WALRAFTS` (8), sequence (u64),
//! payload length (u32), CRC-32 of everything before it and of the payload (u32), payload.

use std::io;
use std::path::{Path, PathBuf};

use wal_core::Storage;
use wal_core::storage::SegmentFile;

use crate::Error;

/// The state file's name in the log directory.
pub const STATE_FILE_NAME: &str = "raft.state";
const MAGIC: &[u8; 8] = b"WALRAFTS";
const HEADER_BYTES: usize = 24;
const SLOT_STRIDE: usize = 4096;
/// The largest payload a slot holds.
pub(crate) const MAX_PAYLOAD: usize = SLOT_STRIDE - HEADER_BYTES;

pub(crate) struct StateFile<S: Storage> {
    file: S::File,
    path: PathBuf,
    sequence: u64,
    /// The slot holding the latest durable state: never overwritten by an unsynced write.
    durable_slot: u64,
}

impl<S: Storage> StateFile<S> {
    /// Opens the state file in `dir`, creating it (durably, with an empty payload) if missing;
    /// returns it, the latest payload, and whether it was just created (or found empty: a crash
    /// while creating it).
    pub(crate) fn open(storage: &S, dir: &Path) -> Result<(Self, Vec<u8>, bool), Error> {
        let path = dir.join(STATE_FILE_NAME);
        match storage.open(&path) {
            Ok(file) => Self::open_existing(file, path),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Self::create(storage, dir, path)
            }
            Err(error) => Err(io("open", &path, error)),
        }
    }

    /// Opens a state file that exists: takes its latest state and saves it again; one found
    /// empty or zeroed counts as just created.
    fn open_existing(file: S::File, path: PathBuf) -> Result<(Self, Vec<u8>, bool), Error> {
        let Some((slot, sequence, payload)) = Self::read_latest(&file, &path)? else {
            return Ok((StateFile { file, path, sequence: 0, durable_slot: 1 }, Vec::new(), true));
        };
        let mut state: StateFile<S> = StateFile { file, path, sequence, durable_slot: slot };
        state.save_again(&payload)?;
        Ok((state, payload, false))
    }

    /// The valid slot with the higher sequence, as (slot, sequence, payload); `None` if the file
    /// is empty or all zeros (created, never written).
    fn read_latest(file: &S::File, path: &Path) -> Result<Option<(u64, u64, Vec<u8>)>, Error> {
        let len = file.len_bytes().map_err(|e| io("stat", path, e))?;
        if len == 0 {
            return Ok(None);
        }
        // Two slots at most; never read more of an untrusted file.
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).min(2 * SLOT_STRIDE)];
        let read = file.read_at(0, &mut bytes).map_err(|e| io("read", path, e))?;
        bytes.truncate(read);
        if bytes.iter().all(|&byte| byte == 0) {
            // Created (both slots zeroed) but never written: a crash while creating it,
            // or damage. Nothing is written here: the store decides from the log which
            // (a log that was written to had a state file, whose vote must not be lost).
            return Ok(None);
        }
        let slots = [decode(&bytes), decode(bytes.get(SLOT_STRIDE..).unwrap_or(&[]))];
        let (slot, (sequence, payload)) = match slots {
            [Some(a), Some(b)] if b.0 > a.0 => (1, b),
            [Some(a), _] => (0, a),
            [None, Some(b)] => (1, b),
            [None, None] => return Err(Error::StateDamaged { path: path.to_owned() }),
        };
        Ok(Some((slot, sequence, payload.to_vec())))
    }

    /// Saves the state just read again, durably, as a new write: what was read may never have
    /// reached the disk.
    fn save_again(&mut self, payload: &[u8]) -> Result<(), Error> {
        // What was read comes from the page cache, and may not be on the disk: an
        // unsynced write a process crash left, or a write whose sync failed, which
        // ext4 and xfs leave in the cache marked clean (a later fsync writes nothing
        // and succeeds). Syncing would only take the cache's word for it, and a power
        // loss could then revert a vote openraft acted on after this open. So the
        // state read is saved again, durably, as a new write: into the other slot,
        // never over the one it was read from (which may be the only durable copy),
        // and with the next sequence, so that the valid slot with the higher sequence
        // is still the one written last and no tie between two slots ever has to be
        // broken. Once synced it is durable by a write made after this open, and the
        // next write goes to the slot it was read from. If this write fails, open
        // fails, and the slot it was read from is untouched; the other one holds its
        // old bytes or the same state, each sector being old or new. (A slot spanning
        // sectors could be torn; if the state read had also never reached the disk, a
        // power loss would leave only an older state. A vote and two log ids, with
        // the 24-byte header, fit in one 512-byte sector.)
        match self.write(payload, true) {
            // A file made before both slots were written at creation, on a full disk:
            // the other slot's block cannot be allocated. A sync is the best there is,
            // and the store still opens (for reading and purging).
            Err(Error::Io { op: "write", source, .. }) if is_out_of_space(&source) => {
                SegmentFile::sync_data(&self.file).map_err(|e| io("sync", &self.path, e))?;
            }
            other => other?,
        }
        Ok(())
    }

    /// Creates the state file, both slots zeroed and synced, with its directory entry.
    fn create(storage: &S, dir: &Path, path: PathBuf) -> Result<(Self, Vec<u8>, bool), Error> {
        let file = storage.create(&path).map_err(|e| io("create", &path, e))?;
        // Both slots' blocks are written now, so that no later write needs space.
        file.write_at(0, &[0; 2 * SLOT_STRIDE]).map_err(|e| io("write", &path, e))?;
        file.sync_data().map_err(|e| io("sync", &path, e))?;
        storage.sync_dir(dir).map_err(|e| io("sync directory", dir, e))?;
        // Slot 1 is "durable" so that the first write goes to slot 0. The empty state
        // is written by the store once it has checked the log is empty too.
        Ok((StateFile { file, path, sequence: 0, durable_slot: 1 }, Vec::new(), true))
    }

    /// Writes `payload` as the latest state; `durable`: synced before this returns.
    pub(crate) fn write(&mut self, payload: &[u8], durable: bool) -> Result<(), Error> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::StateTooLarge { bytes: payload.len() });
        }
        // Read from disk: at its end the file is damaged, never wrapped (a wrapped sequence
        // would lose to the older slot).
        let sequence = self
            .sequence
            .checked_add(1)
            .ok_or_else(|| Error::StateDamaged { path: self.path.clone() })?;
        let slot = 1 - self.durable_slot;
        let bytes = encode(sequence, payload);
        let offset = slot * SLOT_STRIDE as u64;
        self.file.write_at(offset, &bytes).map_err(|e| io("write", &self.path, e))?;
        if durable {
            self.file.sync_data().map_err(|e| io("sync", &self.path, e))?;
            self.durable_slot = slot;
        }
        self.sequence = sequence;
        Ok(())
    }
}

fn encode(sequence: u64, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&sequence.to_le_bytes());
    let len = u32::try_from(payload.len()).expect("a slot's payload fits in u32");
    bytes.extend_from_slice(&len.to_le_bytes());
    let crc = checksum(&bytes, payload);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A slot's sequence and payload, if it is whole.
fn decode(slot: &[u8]) -> Option<(u64, &[u8])> {
    let header = slot.get(..HEADER_BYTES)?;
    if &header[..8] != MAGIC {
        return None;
    }
    let sequence = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let len = usize::try_from(u32::from_le_bytes(header[16..20].try_into().ok()?)).ok()?;
    if len > MAX_PAYLOAD {
        return None;
    }
    let crc = u32::from_le_bytes(header[20..24].try_into().ok()?);
    let payload = slot.get(HEADER_BYTES..HEADER_BYTES + len)?;
    (checksum(&header[..20], payload) == crc).then_some((sequence, payload))
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(payload);
    hasher.finalize()
}

fn io(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io { op, path: path.to_owned(), source }
}

fn is_out_of_space(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::StorageFull || error.kind() == io::ErrorKind::QuotaExceeded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_round_trips_and_any_flipped_bit_is_refused() {
        let bytes = encode(7, b"vote and purge point");
        assert_eq!(decode(&bytes), Some((7, &b"vote and purge point"[..])));
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(decode(&damaged), None, "bit {bit}");
        }
    }
}
