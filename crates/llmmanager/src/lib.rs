//! Dependable Amazon Bedrock for production LLM work.
//!
//! `llmmanager` sends Converse requests through the official AWS SDK and makes them dependable:
//!
//! - **Friendly model names** ("Claude 3 Haiku", model ids, inference-profile ids, ARNs) resolved
//!   through [`bedrock_catalog`], which knows per region whether to call the model directly or
//!   through a cross-region inference profile.
//! - **Multi-region failover and multi-model fallback**: [`LlmManager::converse`] tries the
//!   configured models and regions in order (region-first or model-first) until one answers.
//! - **Data residency**: a [`Residency`] (a geography such as the EU, or a list of regions)
//!   keeps every request inside it, regions and inference-profile destinations alike.
//! - **Retries that know errors**: throttling backs off and moves on, transient failures try
//!   elsewhere, unavailable targets are skipped for the rest of the call, bad requests fail fast
//!   (see [`classify`]). Targets that keep failing cool down, so later calls try healthy ones first.
//! - **Feature fallback**: when a model rejects documents, images, cache points, tools or a
//!   guardrail, the call can retry without them, and the response says what was dropped.
//! - **Response validation** with fresh answers: [`ValidationConfig`].
//! - **Typed answers**: [`LlmManager::converse_structured`] returns a value of a Rust type (or of
//!   a raw JSON Schema), through each model's best mechanism, validated before it is returned
//!   ([`structured`]).
//! - **What it cost**: [`Response::cost`] prices the answer's tokens at the model's price in the
//!   region and access method that answered (a profile call at the profile's price), naming the
//!   price entry's source and date ([`cost_of`], [`bundled_prices`]).
//! - **Every attempt reported**: a [`Response`] or an [`Error`] carries each attempt's target,
//!   route (why it went there), error class, message and duration.
//! - **Off unless asked for**: hedged calls and streams ([`LlmManagerBuilder::hedging`]), pacing
//!   to the account's quotas ([`LlmManagerBuilder::pacing`]; shared between processes through
//!   Redis with the `fleet` feature), cache affinity ([`LlmManagerBuilder::cache_affinity`]) and
//!   latency-aware region order ([`LlmManagerBuilder::latency_aware`]).
//!
//! One SDK client per region is built once and reused; the SDK's own retries are off, so one
//! attempt here is exactly one HTTP request.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), llmmanager::Error> {
//! use llmmanager::{ConverseRequest, LlmManager, Message};
//!
//! let manager = LlmManager::builder()
//!     .models(["Claude 3 Haiku", "Nova Lite"])
//!     .regions(["us-east-1", "us-west-2", "eu-west-1"])
//!     .build()
//!     .await?;
//! let request = ConverseRequest::builder()
//!     .system("Answer in one sentence.")
//!     .message(Message::user().text("Why is the sky blue?").build()?)
//!     .max_tokens(200)
//!     .build()?;
//! let response = manager.converse(&request).await?;
//! println!("{}", response.text());
//! for attempt in &response.attempts {
//!     println!("{} {:?} {:?}", attempt.target, attempt.class, attempt.duration);
//! }
//! # Ok(()) }
//! # let _ = demo;
//! ```
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod affinity;
pub mod auth;
pub mod blocking;
pub mod budget;
mod call;
pub mod classify;
mod clients;
mod cost;
mod error;
#[cfg(feature = "fleet")]
pub mod fleet;
mod hedge;
mod manager;
pub mod pacing;
mod parallel_manager;
mod raw;
mod rerun;
mod residency;
mod response;
mod routing;
mod stats;
mod stream;
pub mod structured;
mod telemetry;
mod validation;

pub use auth::{Auth, Secret};
pub use bedrock_cache as cache;
pub use bedrock_cache::CacheConfig;
pub use bedrock_cache::Cost;
pub use bedrock_catalog as catalog;
pub use bedrock_catalog::AccessMethod;
pub use bedrock_messages as messages;
pub use bedrock_messages::Feature;
pub use bedrock_messages::{ContentBlock, ConverseRequest, Message, Role};
pub use bedrock_parallel as parallel;
pub use bedrock_retry as retry;
pub use bedrock_retry::{ErrorClass, RetryConfig};
pub use call::{AttemptRecord, CallOptions, StreamRecovery};
pub use classify::AttemptError;
pub use clients::Timeouts;
pub use cost::{bundled_prices, cost_of};
pub use error::{Error, ErrorKind};
pub use hedge::{HedgeDelay, Hedging};
pub use manager::{CatalogOptions, LlmManager, LlmManagerBuilder, PlannedTarget};
pub use parallel_manager::ParallelLlmManager;
pub use residency::Residency;
pub use response::Response;
pub use routing::{RegionOrder, RetryStrategy, Target};
pub use schemars;
pub use schemars::JsonSchema;
pub use stats::{ManagerStats, TargetStats};
pub use stream::{ConverseStream, Recovery, RecoveryKind, StreamEvent, StreamResponse};
pub use structured::{Mechanism, Schema, Structured, StructuredError};
pub use validation::{ValidationAttempt, ValidationConfig, ValidationContext, ValidationResult};

/// The README's examples, compiled as doctests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
