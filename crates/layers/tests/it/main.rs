//! The invariants of `docs/ARCHITECTURE.md` that the build graph can show, checked against
//! `cargo metadata` and `cargo tree`: dependencies point down, the simulator is a test dependency
//! of the libraries, the data crates need no runtime, and what a crate compiles in lives inside it.
//!
//! Each check collects every violation and fails once, naming the crate, the dependency and the
//! rule, so a broken invariant reads as a sentence rather than a stack trace.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod layers;
mod packaging;
mod runtime;
mod simulator;
mod support;
