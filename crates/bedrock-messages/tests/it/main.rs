//! Integration tests for `bedrock-messages` (one binary; see each module).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers may fail loudly"
)]

mod fixtures;
mod media;
mod props;
mod requests;
mod roundtrip;
