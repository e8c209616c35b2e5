//! Hands large request sets to Amazon Bedrock batch inference.
//!
//! A batch of millions of Converse requests outgrows one machine's quota-bound loop; Bedrock
//! runs such batches itself, as batch inference jobs (`CreateModelInvocationJob` over JSONL in
//! S3, `modelInvocationType` `Converse`), at a lower price than on-demand calls but with hours
//! rather than seconds of latency. This crate:
//!
//! 1. places each request on its pinned model and region, or spreads it over the configured
//!    [`Target`]s, and splits them into jobs per (model, region) within the service quotas
//!    ([`plan`], [`Limits`]: at least 100 and at most 50,000 records and 1 GB of input per job
//!    by default);
//! 2. streams each job's JSONL records (`recordId` + `modelInput`) to S3 as they are produced
//!    (multipart uploads), reading the requests a second time rather than keeping them;
//! 3. creates the jobs with an idempotency token, and polls them with exponential backoff;
//! 4. resubmits jobs that fail or expire (up to [`BatchConfig::max_resubmits`]), then reports
//!    their records as failed: no record is ever dropped silently;
//! 5. reads the outputs line by line and hands one [`RecordResult`] per request to the caller
//!    as soon as it is known ([`BatchEngine::run_with`]; [`BatchEngine::run`] collects them in
//!    input order): the Converse response body, or a typed [`RecordError`].
//!
//! A small state file ([`RunState`]) records every step, so a restarted run picks up the jobs
//! it already created; earlier jobs are matched by the requests they hold (id and content
//! hash), not by the exact request set, so a rerun over any subset (for example the requests
//! still missing from a half-written output) reuses them. Each job's input has an index object
//! in S3 naming its requests, so even without the state file a rerun finds its jobs again
//! (`ListModelInvocationJobs`), and job creation carries an idempotency token
//! (`clientRequestToken`), so a crash between creating a job and recording it creates nothing
//! twice. Results are appended to a local ledger ([`BatchConfig::ledger_path`]) as soon as a
//! job's output is read, before the caller writes anything, so results once collected are
//! never lost or paid for again.
//!
//! Main types: [`BatchEngine`] (with [`BatchConfig`]), [`BatchRequest`], [`RecordResult`].
//!
//! # Example
//!
//! Planning is pure and needs no AWS account:
//!
//! ```
//! use bedrock_batch::{BatchRequest, Limits, Target, plan};
//!
//! let body = serde_json::json!({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]});
//! let requests = (0..150)
//!     .map(|i| BatchRequest::new(format!("q{i}"), body.clone()))
//!     .collect();
//! let targets = [Target::new("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1")];
//! let limits = Limits { max_records_per_job: 100, min_records_per_job: 40, ..Limits::default() };
//! let plan = plan(requests, &targets, &limits)?;
//! let sizes: Vec<usize> = plan.jobs.iter().map(|j| j.records.len()).collect();
//! assert_eq!(sizes, [100, 50]);
//! # Ok::<(), bedrock_batch::Error>(())
//! ```
//!
//! Running jobs takes an `aws_config::SdkConfig`, an S3 client ([`s3_client`]) and a
//! [`BatchConfig`] naming the bucket, the service role and the state file; then
//! `BatchEngine::new(&sdk, s3, config)?.run(requests).await?`.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod engine;
mod ledger;
mod plan;
mod state;

use std::path::PathBuf;

pub use engine::{
    BatchConfig, BatchEngine, PollConfig, RecordError, RecordErrorKind, RecordResult, output_text,
    s3_client,
};
pub use plan::{
    BatchRequest, JobPlan, Limits, Plan, PlannedRecord, Target, Undersized, plan, record_id,
};
pub use state::{JobState, RunState};

/// Coarse class of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The requests or the configuration are wrong; not retried, fix the input.
    Input,
    /// The state file cannot be read or written; not retried.
    State,
    /// S3 or Bedrock failed (after the SDK's own retries); running again resumes.
    Service,
}

/// Errors of a batch run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two requests share an id.
    #[error("duplicate request id {id:?}")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// One record alone is larger than a job's input may be.
    #[error("request {id:?} is {bytes} bytes as a batch record; the limit is {limit}")]
    RecordTooLarge {
        /// The request id.
        id: String,
        /// Its record size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A request fits none of the configured targets.
    #[error(
        "request {id:?} (model {model_id:?}, region {region:?}) fits none of the configured batch targets"
    )]
    NoTarget {
        /// The request id.
        id: String,
        /// Its pinned model, if any.
        model_id: Option<String>,
        /// Its pinned region, if any.
        region: Option<String>,
    },
    /// The limits contradict each other.
    #[error("invalid limits: {message}")]
    InvalidLimits {
        /// Why.
        message: String,
    },
    /// The engine's configuration is incomplete.
    #[error("invalid batch configuration: {message}")]
    Config {
        /// Why.
        message: String,
    },
    /// The ledger of collected results cannot be read or written.
    #[error("result ledger {}: {message}", path.display())]
    Ledger {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The state file cannot be read or written.
    #[error("state file {}: {message}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An S3 call failed.
    #[error("S3 {operation} on {key}: {message}")]
    S3 {
        /// The S3 operation.
        operation: &'static str,
        /// The object key or prefix.
        key: String,
        /// The SDK error, with its sources.
        message: String,
    },
    /// A Bedrock control-plane call failed.
    #[error("Bedrock {operation} in {region}: {message}")]
    Bedrock {
        /// The operation.
        operation: &'static str,
        /// The region.
        region: String,
        /// The SDK error, with its sources.
        message: String,
    },
    /// A job's output cannot be read.
    #[error("batch output {key}: {message}")]
    Output {
        /// The object key or job.
        key: String,
        /// Why.
        message: String,
    },
}

impl Error {
    /// The coarse class of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::DuplicateId { .. }
            | Self::RecordTooLarge { .. }
            | Self::InvalidLimits { .. }
            | Self::NoTarget { .. }
            | Self::Config { .. } => ErrorKind::Input,
            Self::State { .. } | Self::Ledger { .. } => ErrorKind::State,
            Self::S3 { .. } | Self::Bedrock { .. } | Self::Output { .. } => ErrorKind::Service,
        }
    }
}
