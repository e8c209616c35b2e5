//! Fidelity tests: unmodified AWS SDK clients against the simulator over loopback.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly; allow-unwrap-in-tests covers only #[test] functions"
)]

mod boto3;
mod content;
mod control;
mod converse;
mod faults;
mod http2;
mod introspection;
mod stream;
mod structured;
mod support;
mod tokens;
