//! Integration tests of bedrock-catalog (one binary; see the modules).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers abort on failure"
)]

mod batch;
mod build;
mod resolve;
mod sim;
mod snapshot;
mod support;
