//! A small key-value state machine: the example, the test workload, and the demo's and the
//! benchmarks' state.
//!
//! Changes: [`KvStore::put`] (tag `0x50`: a 4-byte little-endian key length, the key, the
//! value) and [`KvStore::delete`] (tag `0x51`: the key). A malformed change is skipped, the same
//! way on every replay. The map is persistent (structurally shared), so the image a checkpoint
//! takes is a constant-time clone. Snapshot body: the number of pairs (8 bytes), then each pair
//! in key order as key length (4), key, value length (4), value; all little-endian.

use std::io::{self, Write};

use imbl::OrdMap;
use wal_core::Tag;

use crate::machine::{Body, Change, StateMachine, Unit};

/// The tag of a put.
pub const PUT: Tag = match Tag::user(0x50) {
    Some(tag) => tag,
    None => panic!("0x50 is a user tag"),
};
/// The tag of a delete.
pub const DELETE: Tag = match Tag::user(0x51) {
    Some(tag) => tag,
    None => panic!("0x51 is a user tag"),
};

/// A map from byte strings to byte strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    map: OrdMap<Vec<u8>, Vec<u8>>,
}

/// An encoded change, owning its payload: `as_change` borrows it for [`crate::Durable::execute`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvChange {
    tag: Tag,
    payload: Vec<u8>,
}

impl KvChange {
    /// The change to pass to [`crate::Durable::execute`].
    #[must_use]
    pub fn as_change(&self) -> Change<'_> {
        Change { tag: self.tag, payload: &self.payload }
    }
}

impl KvStore {
    /// A change setting `key` to `value`.
    ///
    /// # Panics
    /// If the key is 4 GiB or longer.
    #[must_use]
    pub fn put(key: &[u8], value: &[u8]) -> KvChange {
        let len = u32::try_from(key.len()).expect("a key shorter than 4 GiB");
        let mut payload = Vec::with_capacity(4 + key.len() + value.len());
        payload.extend_from_slice(&len.to_le_bytes());
        payload.extend_from_slice(key);
        payload.extend_from_slice(value);
        KvChange { tag: PUT, payload }
    }

    /// A change removing `key`.
    #[must_use]
    pub fn delete(key: &[u8]) -> KvChange {
        KvChange { tag: DELETE, payload: key.to_vec() }
    }

    /// The value of `key`.
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// Pairs held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no pair is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every pair, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.map.iter().map(|(key, value)| (key.as_slice(), value.as_slice()))
    }

    fn apply_change(&mut self, change: &Change<'_>) {
        if change.tag == PUT {
            let Some((len, rest)) = change.payload.split_first_chunk::<4>() else { return };
            let len = u32::from_le_bytes(*len) as usize;
            if let Some((key, value)) = rest.split_at_checked(len) {
                self.map.insert(key.to_vec(), value.to_vec());
            }
        } else if change.tag == DELETE {
            self.map.remove(change.payload);
        }
    }
}

impl StateMachine for KvStore {
    type Image = OrdMap<Vec<u8>, Vec<u8>>;

    fn empty() -> Self {
        KvStore::default()
    }

    fn apply(&mut self, unit: &Unit<'_>) {
        for change in unit.changes {
            self.apply_change(change);
        }
    }

    fn image(&self) -> Self::Image {
        self.map.clone()
    }

    fn write_image(image: &Self::Image, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&(image.len() as u64).to_le_bytes())?;
        for (key, value) in image {
            for bytes in [key, value] {
                let len = u32::try_from(bytes.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
                out.write_all(&len.to_le_bytes())?;
                out.write_all(bytes)?;
            }
        }
        Ok(())
    }

    fn restore(body: &mut Body<'_>) -> io::Result<Self> {
        let count = u64::from_le_bytes(body.read_array()?);
        let mut map = OrdMap::new();
        for _ in 0..count {
            let key_len = u32::from_le_bytes(body.read_array()?);
            let key = body.read_vec(u64::from(key_len))?;
            let value_len = u32::from_le_bytes(body.read_array()?);
            let value = body.read_vec(u64::from(value_len))?;
            map.insert(key, value);
        }
        if body.remaining() != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} bytes after the last pair", body.remaining()),
            ));
        }
        Ok(KvStore { map })
    }
}
