//! Integration tests of the engine, in one binary.

mod basics;
mod faults;
mod lifecycle;
mod model;
mod recovery_modes;
mod stress;
mod support;
mod telemetry;
mod truncation;
