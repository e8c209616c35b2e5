//! Scenarios: everything a test can script about the simulator's behaviour.
//!
//! A [`Scenario`] is plain data (serde JSON, documented in `docs/simulator.md`) so the same
//! description drives in-process tests and the `bedrock-sim --scenario FILE` binary.
//! `Scenario::default()` is a well-behaved Bedrock: zero latency, no faults, seed 0.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A complete description of how the simulator behaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case")]
pub struct Scenario {
    /// Seed for every pseudo-random choice (generated text, jitter, probabilistic faults, ids).
    pub seed: u64,
    /// Response pacing.
    pub latency: LatencyModel,
    /// Latency per region and/or model, checked in order; the first matching rule replaces
    /// `latency` for that call.
    pub latency_rules: Vec<LatencyRule>,
    /// Injected faults, checked in order; the first rule that fires wins.
    pub faults: Vec<FaultRule>,
    /// Windows during which a whole region answers with an error.
    pub region_down: Vec<RegionDown>,
    /// Token-per-minute (and optional request-per-minute) quotas.
    pub quotas: Vec<TokenQuota>,
    /// Scripted replies, checked in order; the first matching rule answers.
    pub replies: Vec<ScriptedReply>,
    /// Answer with a `toolUse` block whenever tools are offered and the last user turn is not a tool result.
    pub tool_use_when_offered: bool,
    /// Generated-text length bounds in output tokens (default 20..=60).
    pub output_tokens: Option<TokenRange>,
    /// Region used when a request carries no SigV4 credential scope (bearer tokens); default `us-east-1`.
    pub default_region: Option<String>,
    /// Capacity of the recent-request ring (default 1000).
    pub request_log_capacity: Option<usize>,
    /// Per-model capability facts layered over the catalog's overrides
    /// (`crates/bedrock-catalog/data/overrides.json`), keyed by base model id.
    pub model_overrides: BTreeMap<String, ModelCaps>,
    /// Base URL of an S3-compatible server (path-style, unsigned) where batch inference jobs
    /// read their input and write their output, for example a local moto server.
    pub s3_endpoint: Option<String>,
    /// Batch inference jobs, by 1-based creation number, that end `Failed` without output.
    pub failed_jobs: Vec<u64>,
    /// Batch inference jobs, by 1-based creation number, that reach their timeout half-way:
    /// they end `Expired` with the output of the records they finished.
    pub expired_jobs: Vec<u64>,
    /// Share (0.0–1.0) of structured-output answers that are malformed: half of them invalid
    /// JSON, half valid JSON that violates the schema. Drawn from the seed and the request.
    pub malformed_structured_share: f64,
    /// Length of a quota window in milliseconds (default: 60 000, Bedrock's minute). A shorter
    /// window runs quota scenarios in compressed time: `requests_per_minute` and
    /// `tokens_per_minute` then count per window.
    pub quota_window_ms: Option<u64>,
}

impl Scenario {
    /// Parses a scenario from JSON text.
    pub fn from_json_str(s: &str) -> Result<Scenario, Error> {
        serde_json::from_str(s).map_err(|source| Error::Scenario {
            origin: "<string>".to_owned(),
            source,
        })
    }

    /// Reads and parses a scenario JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("reading scenario {}", path.display()),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| Error::Scenario {
            origin: path.display().to_string(),
            source,
        })
    }

    /// Sets the seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the latency model.
    #[must_use]
    pub fn with_latency(mut self, latency: LatencyModel) -> Self {
        self.latency = latency;
        self
    }

    /// Appends a latency rule (per region and/or model).
    #[must_use]
    pub fn with_latency_rule(mut self, rule: LatencyRule) -> Self {
        self.latency_rules.push(rule);
        self
    }

    /// Appends a fault rule.
    #[must_use]
    pub fn with_fault(mut self, fault: FaultRule) -> Self {
        self.faults.push(fault);
        self
    }

    /// Appends a region-down window.
    #[must_use]
    pub fn with_region_down(mut self, window: RegionDown) -> Self {
        self.region_down.push(window);
        self
    }

    /// Appends a token quota.
    #[must_use]
    pub fn with_quota(mut self, quota: TokenQuota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// Sets the length of a quota window (default: one minute); quotas count per window.
    #[must_use]
    pub fn with_quota_window(mut self, window: std::time::Duration) -> Self {
        self.quota_window_ms = Some(u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1));
        self
    }

    /// Appends a scripted reply.
    #[must_use]
    pub fn with_reply(mut self, reply: ScriptedReply) -> Self {
        self.replies.push(reply);
        self
    }

    /// Answers with a tool call whenever tools are offered.
    #[must_use]
    pub fn with_tool_use_when_offered(mut self, on: bool) -> Self {
        self.tool_use_when_offered = on;
        self
    }

    /// Overrides the capability facts of one base model id.
    #[must_use]
    pub fn with_model_caps(mut self, model_id: impl Into<String>, caps: ModelCaps) -> Self {
        self.model_overrides.insert(model_id.into(), caps);
        self
    }
}

/// Inclusive bounds on generated output length, in tokens.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRange {
    /// Lower bound.
    pub min: u32,
    /// Upper bound (inclusive).
    pub max: u32,
}

/// Response pacing. All zero (the default) means answer as fast as possible.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case")]
pub struct LatencyModel {
    /// Delay before the first token (non-streaming: added to the total).
    pub time_to_first_token_ms: u64,
    /// Output speed; `0` means unlimited.
    pub tokens_per_second: f64,
    /// Seeded uniform jitter in `[0, jitter_ms]` added to the time to first token.
    pub jitter_ms: u64,
    /// Output tokens per streamed text delta (default 3).
    pub tokens_per_delta: Option<u32>,
    /// Median time to first token of a long-tailed (log-normal) distribution. When set, it
    /// replaces `time_to_first_token_ms` and `jitter_ms`: every call draws its own time to first
    /// token from the seed and its request number, so hedged copies of one request differ.
    pub ttft_p50_ms: Option<u64>,
    /// 99th percentile of that distribution (default: 3 × the median). Draws are capped at
    /// 10 × this value.
    pub ttft_p99_ms: Option<u64>,
}

impl LatencyModel {
    /// A latency model with the given time to first token and output speed.
    pub fn new(time_to_first_token_ms: u64, tokens_per_second: f64) -> Self {
        Self {
            time_to_first_token_ms,
            tokens_per_second,
            ..Self::default()
        }
    }

    /// A latency model whose time to first token has a long tail: log-normal with the given
    /// median and 99th percentile (for example 200 ms and 5,000 ms).
    pub fn tail(p50_ms: u64, p99_ms: u64, tokens_per_second: f64) -> Self {
        Self {
            tokens_per_second,
            ttft_p50_ms: Some(p50_ms),
            ttft_p99_ms: Some(p99_ms),
            ..Self::default()
        }
    }
}

/// A latency model for the calls of one region, one model, or both.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct LatencyRule {
    /// Only calls resolved to this region.
    #[serde(default)]
    pub region: Option<String>,
    /// Only calls whose decoded model id, or resolved base model id, equals this.
    #[serde(default)]
    pub model: Option<String>,
    /// The latency model of matching calls (replaces the scenario's `latency` as a whole).
    pub latency: LatencyModel,
}

impl LatencyRule {
    /// A rule for every call; narrow it with [`LatencyRule::region`] and [`LatencyRule::model`].
    pub fn new(latency: LatencyModel) -> Self {
        Self {
            region: None,
            model: None,
            latency,
        }
    }

    /// Limits the rule to a region.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Limits the rule to a model id.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
}

/// Runtime operation a rule can be limited to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// `POST /model/{id}/converse`.
    Converse,
    /// `POST /model/{id}/converse-stream`.
    ConverseStream,
    /// `GET /foundation-models`.
    ListFoundationModels,
    /// `GET /foundation-models/{id}`.
    GetFoundationModel,
    /// `GET /inference-profiles`.
    ListInferenceProfiles,
    /// `GET /inference-profiles/{id}`.
    GetInferenceProfile,
    /// `POST /model-invocation-job`.
    CreateModelInvocationJob,
    /// `GET /model-invocation-job/{id}`.
    GetModelInvocationJob,
    /// `GET /model-invocation-jobs`.
    ListModelInvocationJobs,
    /// `POST /model-invocation-job/{id}/stop`.
    StopModelInvocationJob,
}

impl Operation {
    /// The snake_case name used in stats and scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Converse => "converse",
            Operation::ConverseStream => "converse_stream",
            Operation::ListFoundationModels => "list_foundation_models",
            Operation::GetFoundationModel => "get_foundation_model",
            Operation::ListInferenceProfiles => "list_inference_profiles",
            Operation::GetInferenceProfile => "get_inference_profile",
            Operation::CreateModelInvocationJob => "create_model_invocation_job",
            Operation::GetModelInvocationJob => "get_model_invocation_job",
            Operation::ListModelInvocationJobs => "list_model_invocation_jobs",
            Operation::StopModelInvocationJob => "stop_model_invocation_job",
        }
    }

    /// Whether this is a runtime (model-invoking) operation.
    pub fn is_runtime(self) -> bool {
        matches!(self, Operation::Converse | Operation::ConverseStream)
    }
}

/// One modeled Bedrock error shape, with its real HTTP status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BedrockErrorKind {
    /// 429, retried by the SDK as throttling.
    ThrottlingException,
    /// 503.
    ServiceUnavailableException,
    /// 500.
    InternalServerException,
    /// 408.
    ModelTimeoutException,
    /// 429, modeled retryable.
    ModelNotReadyException,
    /// 424.
    ModelErrorException,
    /// 403.
    AccessDeniedException,
    /// 404.
    ResourceNotFoundException,
    /// 400.
    ValidationException,
    /// 400 (not modeled for Converse: the SDK surfaces it as an unhandled error).
    ServiceQuotaExceededException,
    /// 403, from the authentication layer: the access key or security token is not valid
    /// (not modeled by Bedrock: the SDK surfaces it as an unhandled error with this code).
    UnrecognizedClientException,
    /// 403, from the authentication layer: the session token has expired
    /// (not modeled by Bedrock: the SDK surfaces it as an unhandled error with this code).
    ExpiredTokenException,
}

impl BedrockErrorKind {
    /// All kinds, for exhaustive tests.
    pub const ALL: [BedrockErrorKind; 12] = [
        BedrockErrorKind::ThrottlingException,
        BedrockErrorKind::ServiceUnavailableException,
        BedrockErrorKind::InternalServerException,
        BedrockErrorKind::ModelTimeoutException,
        BedrockErrorKind::ModelNotReadyException,
        BedrockErrorKind::ModelErrorException,
        BedrockErrorKind::AccessDeniedException,
        BedrockErrorKind::ResourceNotFoundException,
        BedrockErrorKind::ValidationException,
        BedrockErrorKind::ServiceQuotaExceededException,
        BedrockErrorKind::UnrecognizedClientException,
        BedrockErrorKind::ExpiredTokenException,
    ];

    /// The shape name, as sent in `x-amzn-errortype`.
    pub fn name(self) -> &'static str {
        match self {
            BedrockErrorKind::ThrottlingException => "ThrottlingException",
            BedrockErrorKind::ServiceUnavailableException => "ServiceUnavailableException",
            BedrockErrorKind::InternalServerException => "InternalServerException",
            BedrockErrorKind::ModelTimeoutException => "ModelTimeoutException",
            BedrockErrorKind::ModelNotReadyException => "ModelNotReadyException",
            BedrockErrorKind::ModelErrorException => "ModelErrorException",
            BedrockErrorKind::AccessDeniedException => "AccessDeniedException",
            BedrockErrorKind::ResourceNotFoundException => "ResourceNotFoundException",
            BedrockErrorKind::ValidationException => "ValidationException",
            BedrockErrorKind::ServiceQuotaExceededException => "ServiceQuotaExceededException",
            BedrockErrorKind::UnrecognizedClientException => "UnrecognizedClientException",
            BedrockErrorKind::ExpiredTokenException => "ExpiredTokenException",
        }
    }

    /// Whether the error comes from AWS's authentication layer rather than from Bedrock itself
    /// (its `x-amzn-errortype` names the coral service namespace, not Bedrock's).
    pub fn is_credential_error(self) -> bool {
        matches!(
            self,
            BedrockErrorKind::UnrecognizedClientException | BedrockErrorKind::ExpiredTokenException
        )
    }

    /// The HTTP status Bedrock uses for this shape.
    pub fn status(self) -> u16 {
        match self {
            BedrockErrorKind::ThrottlingException | BedrockErrorKind::ModelNotReadyException => 429,
            BedrockErrorKind::ServiceUnavailableException => 503,
            BedrockErrorKind::InternalServerException => 500,
            BedrockErrorKind::ModelTimeoutException => 408,
            BedrockErrorKind::ModelErrorException => 424,
            BedrockErrorKind::AccessDeniedException
            | BedrockErrorKind::UnrecognizedClientException
            | BedrockErrorKind::ExpiredTokenException => 403,
            BedrockErrorKind::ResourceNotFoundException => 404,
            BedrockErrorKind::ValidationException
            | BedrockErrorKind::ServiceQuotaExceededException => 400,
        }
    }

    /// A Bedrock-like default message.
    pub fn default_message(self) -> &'static str {
        match self {
            BedrockErrorKind::ThrottlingException => {
                "Too many requests, please wait before trying again."
            }
            BedrockErrorKind::ServiceUnavailableException => {
                "Bedrock is unable to process your request."
            }
            BedrockErrorKind::InternalServerException => {
                "The system encountered an unexpected error during processing. Try your request again."
            }
            BedrockErrorKind::ModelTimeoutException => {
                "Model has timed out in processing the request. Try your request again."
            }
            BedrockErrorKind::ModelNotReadyException => {
                "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation. If you call the API outside the SDK, retry the request."
            }
            BedrockErrorKind::ModelErrorException => "The model returned an error.",
            BedrockErrorKind::AccessDeniedException => {
                "You don't have access to the model with the specified model ID."
            }
            BedrockErrorKind::ResourceNotFoundException => {
                "The requested resource could not be found."
            }
            BedrockErrorKind::ValidationException => {
                "Malformed input request, please reformat your input and try again."
            }
            BedrockErrorKind::ServiceQuotaExceededException => {
                "Your request exceeds the service quota for your account. You can view your quotas at https://console.aws.amazon.com/servicequotas. You can resubmit your request later."
            }
            BedrockErrorKind::UnrecognizedClientException => {
                "The security token included in the request is invalid."
            }
            BedrockErrorKind::ExpiredTokenException => {
                "The security token included in the request is expired"
            }
        }
    }
}

/// Exception shapes that can arrive inside a ConverseStream event stream.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum StreamExceptionKind {
    /// `internalServerException`.
    #[serde(alias = "InternalServerException")]
    InternalServerException,
    /// `modelStreamErrorException`.
    #[serde(alias = "ModelStreamErrorException")]
    ModelStreamErrorException,
    /// `validationException`.
    #[serde(alias = "ValidationException")]
    ValidationException,
    /// `throttlingException`.
    #[serde(alias = "ThrottlingException")]
    ThrottlingException,
    /// `serviceUnavailableException`.
    #[serde(alias = "ServiceUnavailableException")]
    ServiceUnavailableException,
}

impl StreamExceptionKind {
    /// The `:exception-type` header value.
    pub fn header_value(self) -> &'static str {
        match self {
            StreamExceptionKind::InternalServerException => "internalServerException",
            StreamExceptionKind::ModelStreamErrorException => "modelStreamErrorException",
            StreamExceptionKind::ValidationException => "validationException",
            StreamExceptionKind::ThrottlingException => "throttlingException",
            StreamExceptionKind::ServiceUnavailableException => "serviceUnavailableException",
        }
    }

    /// A Bedrock-like default message.
    pub fn default_message(self) -> &'static str {
        match self {
            StreamExceptionKind::InternalServerException => {
                "The system encountered an unexpected error during processing. Try your request again."
            }
            StreamExceptionKind::ModelStreamErrorException => {
                "The model encountered an error while streaming the response."
            }
            StreamExceptionKind::ValidationException => "The stream was rejected by validation.",
            StreamExceptionKind::ThrottlingException => {
                "Too many requests, please wait before trying again."
            }
            StreamExceptionKind::ServiceUnavailableException => {
                "Bedrock is unable to process your request."
            }
        }
    }
}

/// What happens when a fault fires.
///
/// Stream faults come in two flavours: counted from the start (`after_events` events are sent,
/// then the fault) and counted from the end (all events but the last `held_back` are sent, then
/// the fault). In scenario JSON both use `after_events`; `"from_end": true` selects the second,
/// so `{"kind": "stream_cut", "after_events": 1, "from_end": true}` sends everything up to and
/// including `messageStop` and cuts before `metadata`. From Rust, prefer the constructors
/// ([`Fault::stream_cut`], [`Fault::stream_cut_from_end`], ...): the from-end variants are
/// `#[non_exhaustive]` and can only be built through them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "FaultRepr", into = "FaultRepr")]
#[non_exhaustive]
pub enum Fault {
    /// A modeled HTTP error response.
    Error {
        /// The error shape.
        error: BedrockErrorKind,
        /// Message; defaults to [`BedrockErrorKind::default_message`].
        message: Option<String>,
    },
    /// Close the connection without any response bytes (HTTP/2: reset the request's stream).
    ConnectionReset,
    /// Wait before sending response headers, then answer normally.
    SlowHeaders {
        /// Delay in milliseconds.
        delay_ms: u64,
    },
    /// Never answer (no headers, no close) — for client timeout tests.
    Hang,
    /// ConverseStream only: end the body after `after_events` events.
    StreamCut {
        /// Events sent before the cut.
        after_events: usize,
        /// `false`: finish the body cleanly; `true`: abort the connection (HTTP/2: the stream) mid-body.
        abrupt: bool,
    },
    /// ConverseStream only: stop sending bytes after `after_events` events, keeping the connection open.
    Stall {
        /// Events sent before the stall.
        after_events: usize,
    },
    /// ConverseStream only: send an exception frame after `after_events` events, then end the stream.
    StreamException {
        /// Events sent before the exception frame.
        after_events: usize,
        /// The exception shape.
        exception: StreamExceptionKind,
        /// Message; defaults to [`StreamExceptionKind::default_message`].
        message: Option<String>,
        /// `originalStatusCode` for `modelStreamErrorException`.
        original_status_code: Option<u16>,
    },
    /// ConverseStream only: like [`Fault::StreamCut`], but `held_back` events before the end
    /// are never sent. Built with [`Fault::stream_cut_from_end`].
    #[non_exhaustive]
    StreamCutFromEnd {
        /// Events held back at the end (1 = everything but `metadata`).
        held_back: usize,
        /// `false`: finish the body cleanly; `true`: abort mid-body.
        abrupt: bool,
    },
    /// ConverseStream only: like [`Fault::Stall`], counted from the end. Built with
    /// [`Fault::stall_from_end`].
    #[non_exhaustive]
    StallFromEnd {
        /// Events held back at the end.
        held_back: usize,
    },
    /// ConverseStream only: like [`Fault::StreamException`], counted from the end: the exception
    /// frame replaces the last `held_back` events. Built with [`Fault::stream_exception_from_end`].
    #[non_exhaustive]
    StreamExceptionFromEnd {
        /// Events held back at the end.
        held_back: usize,
        /// The exception shape.
        exception: StreamExceptionKind,
        /// Message; defaults to [`StreamExceptionKind::default_message`].
        message: Option<String>,
        /// `originalStatusCode` for `modelStreamErrorException`.
        original_status_code: Option<u16>,
    },
}

/// What a stream fault does once its events are sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamAction {
    Cut {
        abrupt: bool,
    },
    Stall,
    Exception {
        exception: StreamExceptionKind,
        message: Option<String>,
        original_status_code: Option<u16>,
    },
}

impl Fault {
    /// A modeled HTTP error with its default message.
    pub fn error(error: BedrockErrorKind) -> Self {
        Fault::Error {
            error,
            message: None,
        }
    }

    /// A modeled HTTP error with the given message.
    pub fn error_with_message(error: BedrockErrorKind, message: impl Into<String>) -> Self {
        Fault::Error {
            error,
            message: Some(message.into()),
        }
    }

    /// Waits `delay_ms` before sending the response headers, then answers normally.
    pub fn slow_headers(delay_ms: u64) -> Self {
        Fault::SlowHeaders { delay_ms }
    }

    /// ConverseStream: sends `after_events` events, then ends the body cleanly (`abrupt: false`)
    /// or aborts it (`abrupt: true`).
    pub fn stream_cut(after_events: usize, abrupt: bool) -> Self {
        Fault::StreamCut {
            after_events,
            abrupt,
        }
    }

    /// ConverseStream: sends every event but the last `held_back`, then cuts as
    /// [`Fault::stream_cut`] does. `held_back: 1` cuts right before `metadata`.
    pub fn stream_cut_from_end(held_back: usize, abrupt: bool) -> Self {
        Fault::StreamCutFromEnd { held_back, abrupt }
    }

    /// ConverseStream: sends `after_events` events, then nothing while keeping the connection open.
    pub fn stall(after_events: usize) -> Self {
        Fault::Stall { after_events }
    }

    /// ConverseStream: sends every event but the last `held_back`, then stalls.
    pub fn stall_from_end(held_back: usize) -> Self {
        Fault::StallFromEnd { held_back }
    }

    /// ConverseStream: sends `after_events` events, then an exception frame with the default
    /// message, then ends the stream.
    pub fn stream_exception(after_events: usize, exception: StreamExceptionKind) -> Self {
        Fault::StreamException {
            after_events,
            exception,
            message: None,
            original_status_code: None,
        }
    }

    /// ConverseStream: sends every event but the last `held_back`, then an exception frame.
    pub fn stream_exception_from_end(held_back: usize, exception: StreamExceptionKind) -> Self {
        Fault::StreamExceptionFromEnd {
            held_back,
            exception,
            message: None,
            original_status_code: None,
        }
    }

    /// Sets the message of an error or stream-exception fault; other faults are returned unchanged.
    #[must_use]
    pub fn with_message(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            Fault::Error { message, .. }
            | Fault::StreamException { message, .. }
            | Fault::StreamExceptionFromEnd { message, .. } => *message = Some(text.into()),
            _ => {}
        }
        self
    }

    /// Sets `originalStatusCode` of a stream-exception fault (sent for
    /// `modelStreamErrorException`); other faults are returned unchanged.
    #[must_use]
    pub fn with_original_status_code(mut self, code: u16) -> Self {
        if let Fault::StreamException {
            original_status_code,
            ..
        }
        | Fault::StreamExceptionFromEnd {
            original_status_code,
            ..
        } = &mut self
        {
            *original_status_code = Some(code);
        }
        self
    }

    /// Whether the fault only makes sense for ConverseStream.
    pub fn stream_only(&self) -> bool {
        matches!(
            self,
            Fault::StreamCut { .. }
                | Fault::Stall { .. }
                | Fault::StreamException { .. }
                | Fault::StreamCutFromEnd { .. }
                | Fault::StallFromEnd { .. }
                | Fault::StreamExceptionFromEnd { .. }
        )
    }

    /// For a stream fault: how many of `total` events are sent before it acts, and what it does.
    pub(crate) fn stream_plan(&self, total: usize) -> Option<(usize, StreamAction)> {
        let exception =
            |exception: &StreamExceptionKind,
             message: &Option<String>,
             original_status_code: &Option<u16>| StreamAction::Exception {
                exception: *exception,
                message: message.clone(),
                original_status_code: *original_status_code,
            };
        let from_end = |n: usize| total.saturating_sub(n);
        Some(match self {
            Fault::StreamCut {
                after_events,
                abrupt,
            } => (*after_events, StreamAction::Cut { abrupt: *abrupt }),
            Fault::StreamCutFromEnd { held_back, abrupt } => {
                (from_end(*held_back), StreamAction::Cut { abrupt: *abrupt })
            }
            Fault::Stall { after_events } => (*after_events, StreamAction::Stall),
            Fault::StallFromEnd { held_back } => (from_end(*held_back), StreamAction::Stall),
            Fault::StreamException {
                after_events,
                exception: e,
                message,
                original_status_code,
            } => (*after_events, exception(e, message, original_status_code)),
            Fault::StreamExceptionFromEnd {
                held_back,
                exception: e,
                message,
                original_status_code,
            } => (
                from_end(*held_back),
                exception(e, message, original_status_code),
            ),
            _ => return None,
        })
    }
}

/// The scenario-file form of [`Fault`]: one tagged object per kind, with `from_end` on stream faults.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FaultRepr {
    Error {
        error: BedrockErrorKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    ConnectionReset,
    SlowHeaders {
        delay_ms: u64,
    },
    Hang,
    StreamCut {
        after_events: usize,
        #[serde(default)]
        abrupt: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        from_end: bool,
    },
    Stall {
        after_events: usize,
        #[serde(default, skip_serializing_if = "is_false")]
        from_end: bool,
    },
    StreamException {
        after_events: usize,
        exception: StreamExceptionKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        original_status_code: Option<u16>,
        #[serde(default, skip_serializing_if = "is_false")]
        from_end: bool,
    },
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(b: &bool) -> bool {
    !*b
}

impl From<FaultRepr> for Fault {
    fn from(r: FaultRepr) -> Self {
        match r {
            FaultRepr::Error { error, message } => Fault::Error { error, message },
            FaultRepr::ConnectionReset => Fault::ConnectionReset,
            FaultRepr::SlowHeaders { delay_ms } => Fault::SlowHeaders { delay_ms },
            FaultRepr::Hang => Fault::Hang,
            FaultRepr::StreamCut {
                after_events,
                abrupt,
                from_end: false,
            } => Fault::StreamCut {
                after_events,
                abrupt,
            },
            FaultRepr::StreamCut {
                after_events,
                abrupt,
                from_end: true,
            } => Fault::StreamCutFromEnd {
                held_back: after_events,
                abrupt,
            },
            FaultRepr::Stall {
                after_events,
                from_end: false,
            } => Fault::Stall { after_events },
            FaultRepr::Stall {
                after_events,
                from_end: true,
            } => Fault::StallFromEnd {
                held_back: after_events,
            },
            FaultRepr::StreamException {
                after_events,
                exception,
                message,
                original_status_code,
                from_end: false,
            } => Fault::StreamException {
                after_events,
                exception,
                message,
                original_status_code,
            },
            FaultRepr::StreamException {
                after_events,
                exception,
                message,
                original_status_code,
                from_end: true,
            } => Fault::StreamExceptionFromEnd {
                held_back: after_events,
                exception,
                message,
                original_status_code,
            },
        }
    }
}

impl From<Fault> for FaultRepr {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Error { error, message } => FaultRepr::Error { error, message },
            Fault::ConnectionReset => FaultRepr::ConnectionReset,
            Fault::SlowHeaders { delay_ms } => FaultRepr::SlowHeaders { delay_ms },
            Fault::Hang => FaultRepr::Hang,
            Fault::StreamCut {
                after_events,
                abrupt,
            } => FaultRepr::StreamCut {
                after_events,
                abrupt,
                from_end: false,
            },
            Fault::StreamCutFromEnd { held_back, abrupt } => FaultRepr::StreamCut {
                after_events: held_back,
                abrupt,
                from_end: true,
            },
            Fault::Stall { after_events } => FaultRepr::Stall {
                after_events,
                from_end: false,
            },
            Fault::StallFromEnd { held_back } => FaultRepr::Stall {
                after_events: held_back,
                from_end: true,
            },
            Fault::StreamException {
                after_events,
                exception,
                message,
                original_status_code,
            } => FaultRepr::StreamException {
                after_events,
                exception,
                message,
                original_status_code,
                from_end: false,
            },
            Fault::StreamExceptionFromEnd {
                held_back,
                exception,
                message,
                original_status_code,
            } => FaultRepr::StreamException {
                after_events: held_back,
                exception,
                message,
                original_status_code,
                from_end: true,
            },
        }
    }
}

/// A fault plus the conditions under which it fires.
///
/// Each rule counts the calls it matches (by region, model and operation), starting at 1.
/// It fires on the call numbers in `calls` (or on every matching call when `calls` is empty),
/// and then only with `probability` (default 1.0), drawn from the scenario seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct FaultRule {
    /// Only calls resolved to this region.
    #[serde(default)]
    pub region: Option<String>,
    /// Only calls whose decoded model id, or resolved base model id, equals this.
    #[serde(default)]
    pub model: Option<String>,
    /// Only these operations; empty means the runtime operations (stream-only faults: ConverseStream).
    #[serde(default)]
    pub operations: Vec<Operation>,
    /// 1-based numbers of matching calls that fault; empty means all.
    #[serde(default)]
    pub calls: Vec<u64>,
    /// Probability that an eligible call faults.
    #[serde(default)]
    pub probability: Option<f64>,
    /// The fault.
    pub fault: Fault,
}

impl FaultRule {
    /// A rule that fires on every runtime call.
    pub fn new(fault: Fault) -> Self {
        Self {
            region: None,
            model: None,
            operations: Vec::new(),
            calls: Vec::new(),
            probability: None,
            fault,
        }
    }

    /// Limits the rule to a region.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Limits the rule to a model id.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Limits the rule to operations.
    #[must_use]
    pub fn operations(mut self, ops: impl IntoIterator<Item = Operation>) -> Self {
        self.operations = ops.into_iter().collect();
        self
    }

    /// Fires only on these 1-based matching call numbers.
    #[must_use]
    pub fn calls(mut self, calls: impl IntoIterator<Item = u64>) -> Self {
        self.calls = calls.into_iter().collect();
        self
    }

    /// Fires with this probability.
    #[must_use]
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }
}

/// A window during which every runtime call to `region` fails.
///
/// The window is open while all given bounds hold: elapsed time since start in
/// `[from_ms, until_ms)` and the region's runtime call number (1-based) in `[from_call, until_call)`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct RegionDown {
    /// The region.
    pub region: String,
    /// Start, in milliseconds since the simulator started.
    #[serde(default)]
    pub from_ms: Option<u64>,
    /// End (exclusive), in milliseconds since start.
    #[serde(default)]
    pub until_ms: Option<u64>,
    /// First failing call number.
    #[serde(default)]
    pub from_call: Option<u64>,
    /// First call number that succeeds again.
    #[serde(default)]
    pub until_call: Option<u64>,
    /// Error returned; default `ServiceUnavailableException`.
    #[serde(default)]
    pub error: Option<BedrockErrorKind>,
}

impl RegionDown {
    /// A region that is down for the whole run.
    pub fn always(region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            from_ms: None,
            until_ms: None,
            from_call: None,
            until_call: None,
            error: None,
        }
    }
}

/// A per-minute token (and optional request) quota.
///
/// Minutes are fixed windows counted from simulator start (see `Scenario::quota_window_ms`). A call is throttled with
/// "Too many tokens, please wait before trying again." when the tokens already used in the
/// window plus this call's reservation (input tokens + `maxTokens`, or the model maximum)
/// exceed `tokens_per_minute`. Successful calls then charge their actual input + output tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct TokenQuota {
    /// Only this region (else: each region separately).
    #[serde(default)]
    pub region: Option<String>,
    /// Only this base model id (else: each model separately).
    #[serde(default)]
    pub model: Option<String>,
    /// Tokens per minute.
    pub tokens_per_minute: u64,
    /// Requests per minute.
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
}

/// A tool call the simulator should make.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case")]
pub struct ToolUseReply {
    /// Tool name; default: the forced tool, else the first offered tool.
    pub name: Option<String>,
    /// Input JSON; default: generated from the tool's schema.
    pub input: Option<serde_json::Value>,
}

/// A scripted answer for matching calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case")]
pub struct ScriptedReply {
    /// Only calls resolved to this region.
    pub region: Option<String>,
    /// Only this model (decoded id or base id).
    pub model: Option<String>,
    /// 1-based numbers of matching calls answered; empty means all.
    pub calls: Vec<u64>,
    /// Reply text.
    pub text: Option<String>,
    /// Reply with a tool call (only when tools are offered).
    pub tool_use: Option<ToolUseReply>,
    /// Raw Converse output content blocks, sent verbatim (for example `{"searchResult": {...}}`,
    /// `{"reasoningContent": {...}}` or a block type the SDK does not know yet). When set, it
    /// replaces `text` and `tool_use`; streams render each block as documented in `docs/simulator.md`.
    pub content: Option<Vec<serde_json::Value>>,
}

impl ScriptedReply {
    /// A reply with fixed text for every call.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// A reply made of raw Converse output content blocks, sent verbatim.
    pub fn content(blocks: Vec<serde_json::Value>) -> Self {
        Self {
            content: Some(blocks),
            ..Self::default()
        }
    }

    /// A reply that calls a tool.
    pub fn tool_use(name: Option<String>, input: Option<serde_json::Value>) -> Self {
        Self {
            tool_use: Some(ToolUseReply { name, input }),
            ..Self::default()
        }
    }
}

/// Per-model capability facts (schema of the `models` entries of
/// `crates/bedrock-catalog/data/overrides.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case")]
pub struct ModelCaps {
    /// Maximum `maxTokens`.
    pub max_output_tokens: Option<u32>,
    /// Tool use supported.
    pub tools: Option<bool>,
    /// System prompt supported.
    pub system_prompt: Option<bool>,
    /// Document blocks accepted.
    pub documents: Option<bool>,
    /// Image blocks accepted.
    pub images: Option<bool>,
    /// Video blocks accepted.
    pub video: Option<bool>,
    /// Prompt caching facts; absent means no caching.
    pub prompt_caching: Option<PromptCaching>,
    /// Structured output (`outputConfig.textFormat`) supported. Without an entry, the
    /// simulator's own list (newer Claude models, the same the catalog's overrides mark), see
    /// `docs/simulator.md`.
    pub structured_output: Option<bool>,
    /// Regions where `CreateModelInvocationJob` accepts the model (`direct`: its base id,
    /// `profile`: its inference profile). Without an entry the simulator accepts batch jobs
    /// wherever the model can be called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_inference: Option<bedrock_catalog::BatchInference>,
}

/// Prompt caching facts of a model.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "snake_case")]
pub struct PromptCaching {
    /// Minimum tokens in a cached prefix.
    pub min_tokens: u32,
    /// Whether `ttl: "1h"` is honoured.
    pub ttl_1h: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_scenario() {
        let s = Scenario::from_json_str(
            r#"{"seed":7,"latency":{"time_to_first_token_ms":5,"tokens_per_second":100},
               "faults":[{"region":"us-east-1","calls":[1,3],"fault":{"kind":"error","error":"ThrottlingException"}},
                         {"fault":{"kind":"stream_exception","after_events":2,"exception":"modelStreamErrorException"}}],
               "region_down":[{"region":"eu-west-1","until_call":3}],
               "quotas":[{"tokens_per_minute":1000}],
               "replies":[{"text":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(s.seed, 7);
        assert_eq!(s.faults.len(), 2);
        assert_eq!(s.faults[0].calls, vec![1, 3]);
        assert!(s.faults[1].fault.stream_only());
        assert_eq!(s.region_down[0].until_call, Some(3));
    }

    #[test]
    fn rejects_bad_json() {
        assert!(matches!(
            Scenario::from_json_str("{\"seed\":\"x\"}"),
            Err(Error::Scenario { .. })
        ));
    }

    #[test]
    fn statuses_match_the_model() {
        assert_eq!(BedrockErrorKind::ModelTimeoutException.status(), 408);
        assert_eq!(BedrockErrorKind::ModelErrorException.status(), 424);
        assert_eq!(
            BedrockErrorKind::ServiceQuotaExceededException.status(),
            400
        );
    }

    #[test]
    fn builders_round_trip_through_json() {
        let s = Scenario::default()
            .with_seed(9)
            .with_latency(LatencyModel::new(10, 50.0))
            .with_fault(
                FaultRule::new(Fault::Hang)
                    .region("us-east-1")
                    .calls([2])
                    .probability(0.5),
            )
            .with_region_down(RegionDown::always("eu-west-1"))
            .with_reply(ScriptedReply::text("hi"))
            .with_model_caps(
                "m",
                ModelCaps {
                    max_output_tokens: Some(5),
                    ..ModelCaps::default()
                },
            );
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(Scenario::from_json_str(&text).unwrap(), s);
    }
}
