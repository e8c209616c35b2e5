//! End-to-end tests: the engine against `bedrock-sim` (batch job API) and a real
//! S3-compatible server (moto, found through `MOTO_ENDPOINT` or started with `.ci/moto.sh`).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly; allow-unwrap-in-tests covers only #[test] functions"
)]

mod jobs;
mod support;
