//! Deterministic replay as a feature: rebuild the state from the log more than one way and
//! compare digests of the results.

use std::hash::Hasher;
use std::io::{self, Write};
use std::path::PathBuf;

use wal_core::{Lsn, Storage};

use crate::durable::Durable;
use crate::error::Error;
use crate::machine::StateMachine;
use crate::rebuild::{From, rebuild};

/// A digest of a state: a 64-bit hash of its snapshot body, and the body's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digest {
    /// The hash (SipHash-1-3 with fixed keys, the same in every run of one build).
    pub hash: u64,
    /// Bytes of the body.
    pub bytes: u64,
}

/// The digest of `image` (what `write_image` writes).
///
/// # Errors
/// The state machine's write errors.
pub fn digest<M: StateMachine>(image: &M::Image) -> io::Result<Digest> {
    struct Hashing {
        hasher: std::hash::DefaultHasher,
        bytes: u64,
    }
    impl Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.hasher.write(bytes);
            self.bytes += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut out = Hashing { hasher: std::hash::DefaultHasher::new(), bytes: 0 };
    M::write_image(image, &mut out)?;
    Ok(Digest { hash: out.hasher.finish(), bytes: out.bytes })
}

/// What [`check_determinism`] compared.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeterminismReport {
    /// Every unit committed before this LSN was compared.
    pub until: Lsn,
    /// Units in the live state at that point.
    pub units: u64,
    /// The live state's digest.
    pub live: Digest,
    /// Two replays from the beginning, if the log still starts there.
    pub from_beginning: Option<(Digest, Digest)>,
    /// The newest valid snapshot and the replay after it, if there is a snapshot.
    pub from_snapshot: Option<(PathBuf, Digest)>,
}

impl DeterminismReport {
    /// Whether every digest equals the live state's.
    #[must_use]
    pub fn is_deterministic(&self) -> bool {
        let beginning = self.from_beginning.is_none_or(|(a, b)| a == self.live && b == self.live);
        let snapshot = self.from_snapshot.as_ref().is_none_or(|(_, d)| *d == self.live);
        beginning && snapshot
    }
}

/// Rebuilds `durable`'s state from its log into fresh states, twice from the beginning (when
/// the log still starts there) and from the newest valid snapshot, up to the point the live
/// state has reached, and compares the digests with the live state's.
///
/// # Errors
/// The log's and the snapshots' errors, and the state machine's write errors (as `Io`).
pub fn check_determinism<M: StateMachine, S: Storage>(
    durable: &Durable<M, S>,
) -> Result<DeterminismReport, Error> {
    let (until, units, image) = durable.point()?;
    let hash = |image: &M::Image| {
        digest::<M>(image).map_err(|source| Error::Io {
            op: "digest",
            path: durable.dir().to_owned(),
            source,
        })
    };
    let live = hash(&image)?;
    drop(image);
    let (wal, storage, dir) = (durable.wal(), durable.storage(), durable.dir());
    let from_beginning = if wal.start_lsn() == wal_core::FIRST_LSN {
        let first = rebuild::<M, S>(wal, storage, dir, From::Beginning, Some(until))?;
        let second = rebuild::<M, S>(wal, storage, dir, From::Beginning, Some(until))?;
        Some((hash(&first.machine.image())?, hash(&second.machine.image())?))
    } else {
        None
    };
    let rebuilt = rebuild::<M, S>(wal, storage, dir, From::NewestSnapshot, Some(until))?;
    let from_snapshot = match rebuilt.snapshot {
        Some((path, _)) => Some((path, hash(&rebuilt.machine.image())?)),
        None => None,
    };
    Ok(DeterminismReport { until, units, live, from_beginning, from_snapshot })
}
