//! Fidelity tests: unmodified AWS SDK clients against the simulator over loopback.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly; allow-unwrap-in-tests covers only #[test] functions"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "clients of a server on real sockets: they bound their waits and measure pacing in real time"
)]

mod batch_jobs;
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
