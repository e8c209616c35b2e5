//! End-to-end tests of `llmmanager` against the loopback Bedrock simulator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

mod access;
mod affinity;
mod blocking;
mod budget;
mod conformance;
mod converse;
mod cost;
#[cfg(feature = "fleet")]
mod fleet;
mod hedging;
mod pacing;
mod parallel;
mod parity_caching;
mod parity_messages;
mod residency;
mod secrets;
mod stream;
mod structured;
