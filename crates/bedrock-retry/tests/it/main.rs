//! Integration tests: the retry core driven the way the umbrella crate drives it, across calls.

mod across_calls;
mod support;
