//! Integration tests for `bedrock-messages` (one binary; see each module).

mod fixtures;
mod media;
mod props;
mod requests;
mod roundtrip;
