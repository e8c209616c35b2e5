//! Bounded, region-aware parallel execution of Converse-like requests, with no lost results.
//!
//! This crate is the engine behind `ParallelLlmManager`. It knows nothing about Bedrock: it
//! drives any [`ConverseService`] (one `call(request, placement)` method) and guarantees that
//! every request ends exactly once, as a success or a [`RequestError`], whatever the service
//! does — fail, hang past the timeout, or panic.
//!
//! # Main types
//!
//! - [`ConverseService`]: the boundary trait; [`Placement`] carries the regions assigned to a
//!   request, which the service must try first.
//! - [`ParallelConfig`]: global and per-region concurrency, regions and regions per request,
//!   [`RegionStrategy`], per-request timeout, [`FailurePolicy`].
//! - [`ParallelExecutor`]: runs a `Vec` of [`BatchRequest`]s into a [`ParallelResponse`]
//!   (outcomes in input order, by id, [`BatchStats`]), or a lazy `Stream` of requests into an
//!   [`OutcomeStream`] that yields [`RequestOutcome`]s as they finish, in bounded memory.
//! - [`converse_parallel`] and [`converse_parallel_stream`]: one-shot shorthands.
//! - [`ResponseStats`] and [`ErrorStats`]: let statistics see regions, token [`Usage`] and
//!   attempts inside the caller's types.
//! - [`RegionHealth`]: optional; unhealthy regions are assigned last.
//!
//! # Guarantees
//!
//! - Duplicate ids reject the whole `Vec` batch with [`Error::DuplicateRequestId`] before
//!   anything runs; the streaming form ends repeats as [`RequestError::DuplicateId`] (or trusts
//!   the caller, see [`StreamDuplicateIds`]).
//! - When a [`FailurePolicy`] stops the batch, requests not yet started end as
//!   [`RequestError::Cancelled`]; those already calling the service finish normally.
//! - Durations use `tokio::time::Instant`, so tests under paused time measure virtual time.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use bedrock_parallel::{
//!     BatchRequest, ConverseService, ParallelConfig, Placement, ResponseStats,
//!     converse_parallel,
//! };
//! use futures::future::{BoxFuture, FutureExt};
//!
//! /// Answers with the region it was asked to use first.
//! #[derive(Debug)]
//! struct RegionEcho;
//!
//! struct Answer(String);
//! impl ResponseStats for Answer {
//!     fn region(&self) -> Option<&str> { Some(&self.0) }
//! }
//!
//! impl ConverseService for RegionEcho {
//!     type Request = ();
//!     type Response = Answer;
//!     type Error = std::io::Error;
//!     fn call(&self, _: (), placement: Placement) -> BoxFuture<'static, Result<Answer, std::io::Error>> {
//!         let region = placement.primary().unwrap_or_default().to_owned();
//!         async move { Ok(Answer(region)) }.boxed()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bedrock_parallel::Error> {
//! let config = ParallelConfig::default()
//!     .with_regions(["us-east-1", "us-west-2"])
//!     .with_target_regions_per_request(Some(1));
//! let requests = (0..4).map(|i| BatchRequest::new(format!("req-{i}"), ())).collect();
//! let response = converse_parallel(&Arc::new(RegionEcho), requests, &config, None).await?;
//! assert!(response.all_succeeded());
//! assert_eq!(response.stats().per_region["us-east-1"].succeeded, 2);
//! assert_eq!(response.stats().per_region["us-west-2"].succeeded, 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! None. A Tokio runtime is required: each request runs on its own task.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod admission;
mod assign;
mod config;
mod engine;
mod error;
mod outcome;
mod response;
mod service;
mod stats;

pub use admission::{Admission, Refusal, Reservation};
pub use assign::RegionHealth;
pub use config::{FailurePolicy, ParallelConfig, RegionStrategy, StreamDuplicateIds};
pub use engine::{
    OutcomeStream, ParallelExecutor, Progress, ProgressCallback, converse_parallel,
    converse_parallel_stream,
};
pub use error::Error;
pub use outcome::{BatchRequest, RequestError, RequestId, RequestOutcome};
pub use response::ParallelResponse;
pub use service::{ConverseService, Placement};
pub use stats::{BatchStats, DurationStats, ErrorStats, RegionCounts, ResponseStats, Usage};
