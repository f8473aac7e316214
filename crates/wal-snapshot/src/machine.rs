//! What the application's state must do to be made durable by the log.

use std::io::{self, Read, Write};

use wal_core::{Lsn, Tag, TxnId};

/// One change of a committed unit: the application's tag and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change<'a> {
    /// The application's tag (a user tag).
    pub tag: Tag,
    /// The change's bytes.
    pub payload: &'a [u8],
}

/// A committed unit, applied as a whole: a transaction's changes in the order they were made,
/// or one self-contained record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit<'a> {
    /// The LSN of its commit record (of the record itself, for a self-contained one).
    pub commit_lsn: Lsn,
    /// The transaction, or `None` for a self-contained record.
    pub txn: Option<TxnId>,
    /// Its changes, in order.
    pub changes: &'a [Change<'a>],
}

/// An application's in-memory state, kept durable by a [`crate::Durable`].
///
/// **Determinism.** `apply` must depend only on the state and the unit: no clock, no randomness,
/// no iteration over a hash map with a random seed. Recovery rebuilds the state by applying the
/// same units again, and [`crate::check_determinism`] checks that it comes out the same. A
/// change `apply` cannot use (a malformed payload) must be skipped the same way every time,
/// since it is committed in the log and will be seen again by every recovery.
pub trait StateMachine: Sized + Send + 'static {
    /// An immutable copy of the state at one moment, cheap to take (it is taken while commits
    /// wait), written to the snapshot file afterwards while commits go on: a clone of a
    /// persistent (structurally shared) map, for instance.
    type Image: Send + 'static;

    /// The state before anything was applied.
    fn empty() -> Self;

    /// Applies one committed unit.
    fn apply(&mut self, unit: &Unit<'_>);

    /// The state now, as an image to write.
    fn image(&self) -> Self::Image;

    /// Writes `image` (the snapshot's body). The same state must always give the same bytes:
    /// the determinism check compares digests of them.
    ///
    /// # Errors
    /// The writer's.
    fn write_image(image: &Self::Image, out: &mut dyn Write) -> io::Result<()>;

    /// Rebuilds a state from a snapshot body written by `write_image`. `body` says how many
    /// bytes remain: a length read from the body must be checked against it before anything is
    /// allocated by it (the body passed its checksum, but may come from another version).
    ///
    /// # Errors
    /// `InvalidData` for a body this state cannot read; the reader's errors.
    fn restore(body: &mut Body<'_>) -> io::Result<Self>;
}

/// A snapshot body being read: a reader that knows how many bytes are left.
pub struct Body<'a> {
    input: &'a mut dyn Read,
    remaining: u64,
}

impl<'a> Body<'a> {
    /// A body of `len` bytes read from `input`.
    pub fn new(input: &'a mut dyn Read, len: u64) -> Body<'a> {
        Body { input, remaining: len }
    }

    /// Bytes not yet read.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Reads exactly `N` bytes.
    ///
    /// # Errors
    /// `UnexpectedEof` past the end of the body.
    pub fn read_array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut bytes = [0u8; N];
        self.read_exact(&mut bytes)?;
        Ok(bytes)
    }

    /// Reads `len` bytes into a new vector, after checking that the body holds them.
    ///
    /// # Errors
    /// `InvalidData` if `len` exceeds what remains.
    pub fn read_vec(&mut self, len: u64) -> io::Result<Vec<u8>> {
        if len > self.remaining {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a length of {len} bytes, but only {} remain", self.remaining),
            ));
        }
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|_| io::ErrorKind::InvalidData)?];
        self.read_exact(&mut bytes)?;
        Ok(bytes)
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(buf.len());
        let n = self.input.read(&mut buf[..room])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}
