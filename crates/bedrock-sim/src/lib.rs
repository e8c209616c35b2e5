//! A loopback Amazon Bedrock simulator that speaks the real wire protocol.
//!
//! `bedrock-sim` runs an HTTP server on `127.0.0.1` that answers the Bedrock runtime
//! (`Converse`, `ConverseStream`) and control-plane (`ListFoundationModels`,
//! `ListInferenceProfiles`, and their `Get*` siblings) operations exactly as an unmodified
//! `aws-sdk-bedrockruntime` / `aws-sdk-bedrock` client or boto3 expects: same paths, JSON
//! shapes, `x-amzn-errortype` headers, status codes and event-stream frames.
//!
//! What it models:
//! - which models and inference profiles exist in which region (from the catalog fixture),
//!   with Bedrock's own errors for unknown, out-of-region and profile-only model ids;
//! - validation (role order, unsupported content, `maxTokens` limits, cache-point count);
//! - deterministic replies (seeded text, scripted text, tool calls), stop sequences,
//!   `max_tokens`, consistent usage and prompt-cache counters;
//! - faults from a [`Scenario`]: every modeled error, connection resets, slow headers, hangs,
//!   stream cuts, stalls and in-stream exceptions, region outages and token quotas.
//!
//! Main types: [`Simulator`] starts a server and returns a [`SimHandle`] (endpoint URL,
//! [`SimStats`], [`RecordedRequest`] log, reset, shutdown). [`Scenario`] is plain serde data,
//! documented in `docs/simulator.md`.
//!
//! # Example
//!
//! ```
//! use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Scenario, Simulator};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bedrock_sim::Error> {
//! let scenario = Scenario::default()
//!     .with_fault(FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).calls([1]));
//! let sim = Simulator::start(scenario).await?;
//! assert!(sim.endpoint_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(sim.stats().requests, 0);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `sdk` (off by default): adds `SimHandle::sdk_config`, an `aws_config::SdkConfig` with fake
//!   static credentials, the simulator's endpoint and SDK retries disabled.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod catalog;
mod engine;
mod scenario;
mod schema;
mod server;
mod tokens;
mod wire;

pub use scenario::{
    BedrockErrorKind, Fault, FaultRule, LatencyModel, LatencyRule, ModelCaps, Operation,
    PromptCaching, RegionDown, Scenario, ScriptedReply, StreamExceptionKind, TokenQuota,
    TokenRange, ToolUseReply,
};
pub use server::{RecordedRequest, SimHandle, SimStats, Simulator};
pub use tokens::text_tokens;

/// Errors from starting or configuring the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A scenario could not be parsed.
    #[error("invalid scenario {origin}: {source}")]
    Scenario {
        /// File path or `<string>`.
        origin: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The compiled-in catalog fixture could not be parsed.
    #[error("invalid catalog fixture: {source}")]
    Catalog {
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}
