//! The atomics the counting protocols use: loom's under `--cfg loom`, so the model checker
//! explores every interleaving of them, and std's otherwise.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
