//! Locking a mutex whose holder may have panicked: every mutation under the engine's locks is
//! a single assignment or a push after the fallible work, so the state stays consistent.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the guard of a poisoned one as it is (see the module comment).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
