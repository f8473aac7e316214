//! Reference-counted lifecycle of every long-lived handle onto the log.
//!
//! Not implemented yet. This leaf crate will track readers, pins and mapped chunks and export their
//! counts and ages through the `metrics` crate, so a leaked reader shows up before it fills memory
//! or disk. Until then it exports nothing.
