//! Integration tests of the engine, in one binary.

mod async_commit;
mod bad_input;
mod basics;
mod corruption;
mod disk_full;
mod events;
mod extremes;
mod faults;
mod kill;
mod layout;
mod lifecycle;
mod model;
mod open_existing;
mod open_txns;
mod prometheus;
mod recovery_crashes;
mod recovery_modes;
mod stress;
mod support;
mod telemetry;
mod truncation;
