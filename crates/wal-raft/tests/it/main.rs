//! The store's tests: openraft's suite, crash reopening, failures part-way through a split
//! append, the state file after a failed sync, and a 3-node cluster.

mod cluster;
mod crash;
mod kv;
mod split_append;
mod state_file;
mod suite;
