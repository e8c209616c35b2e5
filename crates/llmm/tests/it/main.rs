//! End-to-end tests of the `llmm` binary: every subcommand against the simulator, bad input,
//! exit codes, and snapshots of the JSON output shapes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly; allow-unwrap-in-tests covers only #[test] functions"
)]

mod affinity;
mod batch;
mod batch_jobs;
mod budget;
mod catalog;
mod chat;
mod cost;
mod doctor;
mod failures;
#[cfg(feature = "fleet")]
mod fleet;
mod hedging;
mod residency;
mod sim;
mod structured;
mod support;
#[cfg(feature = "otel")]
mod telemetry;
mod usage;
