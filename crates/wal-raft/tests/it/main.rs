//! The store's tests: openraft's suite, crash reopening, and a 3-node cluster.

mod cluster;
mod crash;
mod kv;
mod suite;
