//! Integration tests of bedrock-catalog (one binary; see the modules).

mod build;
mod resolve;
mod sim;
mod snapshot;
mod support;
