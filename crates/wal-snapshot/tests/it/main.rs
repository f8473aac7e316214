//! Integration tests of snapshots and checkpoints, in one binary.

mod checkpoint_crashes;
mod events;
mod failed_open;
mod front_cut;
mod recovery;
mod spec;
mod support;
