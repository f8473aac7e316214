//! The store's tests: openraft's suite, crash reopening, and a 3-node cluster.

mod kv;
mod suite;
