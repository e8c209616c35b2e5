//! Integration tests: placement snapshots on the fixture requests, property tests, and calls
//! through the AWS SDK to `bedrock-sim`.

mod props;
mod snapshots;
mod support;
