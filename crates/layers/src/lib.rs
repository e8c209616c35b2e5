//! The architecture's dependency rules, checked.
//!
//! `docs/ARCHITECTURE.md` states which crate may depend on which, where the simulator may appear,
//! and which crates build without an async runtime. This crate has no code of its own: its test
//! (`tests/it`) reads `cargo metadata` and `cargo tree` for the workspace and fails, naming the
//! crate and the rule, when one of those invariants breaks. Run it with `cargo test -p layers`.
#![forbid(unsafe_code)]
