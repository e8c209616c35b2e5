//! Integration tests of the parallel engine against an in-test fake service.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly; allow-unwrap-in-tests covers only #[test] functions"
)]

mod admission;
mod batch;
mod faults;
mod json;
mod stream;
mod support;
