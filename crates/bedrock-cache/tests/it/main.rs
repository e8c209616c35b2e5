//! Integration tests: placement snapshots on the fixture requests, property tests, and calls
//! through the AWS SDK to `bedrock-sim`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly; allow-unwrap-in-tests covers only #[test] functions"
)]

mod estimate;
mod props;
mod sim;
mod snapshots;
mod support;
