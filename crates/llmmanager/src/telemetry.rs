//! OpenTelemetry's GenAI semantic conventions on the library's `tracing` spans, and (feature
//! `otel`) call metrics through the `opentelemetry` API.
//!
//! Every call has one span (`converse` or `converse_stream`) and each of its attempts one child
//! span (`attempt`). Besides the library's own fields, both carry the attributes of the GenAI
//! client conventions, so a `tracing-opentelemetry` layer exports them as GenAI spans without
//! this crate depending on OpenTelemetry:
//!
//! | attribute | call span | attempt span |
//! |---|---|---|
//! | `otel.name` | `chat {the call's first model}` | `chat {target model}` |
//! | `otel.kind` | `client` | `client` |
//! | `gen_ai.operation.name` | `chat` | `chat` |
//! | `gen_ai.system`, `gen_ai.provider.name` | `aws.bedrock` | `aws.bedrock` |
//! | `gen_ai.request.model` | the call's first model | the target's model |
//! | `gen_ai.response.model` | the model that answered | the target's model, on success |
//! | `gen_ai.usage.input_tokens` | input tokens, cache reads and writes included | |
//! | `gen_ai.usage.output_tokens` | output tokens | |
//! | `server.address`, `server.port` | the first target's endpoint | the target's endpoint |
//! | `cloud.region` | the region that answered | the target's region |
//! | `error.type` | the last attempt's error, when the call failed | the attempt's error |
//! | `otel.status_code` | `ERROR` when the call failed | `ERROR` when the attempt failed |
//!
//! The attempt span's own fields are `n` (the attempt's number), `model`, `region`, `access` and
//! `route`: why the attempt went to its target (`order`, `affinity` or `hedge`, as in its
//! [`AttemptRecord`](crate::AttemptRecord); a rerun is marked in the records only).
//!
//! `error.type` is the Bedrock error code when the service sent one (`ThrottlingException`),
//! otherwise the kind of failure (`timeout`, `dispatch`, `credentials`, ...).
//! Both `gen_ai.system` (conventions up to 1.36) and its successor `gen_ai.provider.name` are set.
//!
//! With the `otel` feature, each call also records three histograms on the global meter provider
//! (`opentelemetry::global`), so they go wherever the application installed its SDK:
//! `gen_ai.client.operation.duration` (seconds, from the manager's clock),
//! `gen_ai.client.token.usage` (tokens, `gen_ai.token.type` = `input` or `output`) and
//! `llmmanager.client.attempts` (attempts per call). Their attributes are the call span's
//! low-cardinality ones: operation, system, provider, request and response model, server address
//! and port, and `error.type` for failed calls.

use std::borrow::Cow;
use std::time::Duration;

use bedrock_messages::TokenUsage;
use tracing::Span;
use tracing::field::Empty;

use crate::call::{Attempt, Engine};
use crate::classify::AttemptError;
use crate::error::Error;
use crate::routing::Target;

/// `gen_ai.system` and `gen_ai.provider.name` of every span and metric.
pub(crate) const SYSTEM: &str = "aws.bedrock";
/// `gen_ai.operation.name`: Converse is a chat completion.
pub(crate) const OPERATION: &str = "chat";

/// The span of one call whose first model is `request_model`, with the GenAI fields to be filled
/// in by [`Call`].
///
/// The name is set here: an OpenTelemetry span takes its name when it is first entered.
pub(crate) fn call_span(stream: bool, auth: &'static str, request_model: &str) -> Span {
    macro_rules! span {
        ($name:literal) => {
            tracing::info_span!(
                $name,
                auth,
                attempts = Empty,
                otel.name = %format_args!("{OPERATION} {request_model}"),
                otel.kind = "client",
                otel.status_code = Empty,
                gen_ai.operation.name = OPERATION,
                gen_ai.system = SYSTEM,
                gen_ai.provider.name = SYSTEM,
                gen_ai.request.model = request_model,
                gen_ai.response.model = Empty,
                gen_ai.usage.input_tokens = Empty,
                gen_ai.usage.output_tokens = Empty,
                server.address = Empty,
                server.port = Empty,
                cloud.region = Empty,
                error.type = Empty,
            )
        };
    }
    if stream {
        span!("converse_stream")
    } else {
        span!("converse")
    }
}

/// The span of one attempt.
pub(crate) fn attempt_span(engine: &Engine, attempt: &Attempt) -> Span {
    let target = &attempt.target;
    let server = Server::of(engine, &target.region);
    tracing::info_span!(
        "attempt",
        n = attempt.attempt_number,
        model = %target.model,
        region = %target.region,
        access = %target.access_method,
        route = %attempt.route,
        otel.name = %format_args!("{OPERATION} {}", target.model),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = OPERATION,
        gen_ai.system = SYSTEM,
        gen_ai.provider.name = SYSTEM,
        gen_ai.request.model = %target.model,
        gen_ai.response.model = Empty,
        server.address = %server.address,
        server.port = server.port,
        cloud.region = %target.region,
        error.type = Empty,
    )
}

/// Records the outcome of one attempt on its span.
pub(crate) fn attempt_outcome<T>(span: &Span, target: &Target, result: &Result<T, AttemptError>) {
    match result {
        Ok(_) => {
            span.record("gen_ai.response.model", target.model.as_str());
        }
        Err(error) => {
            span.record("error.type", error_type(error).as_ref());
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// `error.type` of a failed attempt: the Bedrock error code, or the kind of failure.
pub(crate) fn error_type(error: &AttemptError) -> std::borrow::Cow<'_, str> {
    let kind = match error {
        AttemptError::Service { code, .. } => return code.as_str().into(),
        AttemptError::Timeout { .. } => "timeout",
        AttemptError::Credentials { .. } => "credentials",
        AttemptError::Unreadable { .. } => "unreadable",
        AttemptError::Dispatch { .. } => "dispatch",
        AttemptError::Response { .. } => "response",
        AttemptError::Construction { .. } => "construction",
        AttemptError::ValidationFailed { .. } => "validation_failed",
        AttemptError::NoCapacity { .. } => "no_capacity",
    };
    kind.into()
}

/// `error.type` of a failed call: its last attempt's error, or the kind of the error.
fn call_error_type(error: &Error) -> String {
    let last = match error {
        Error::Exhausted { last_error, .. } | Error::StreamFailed { last_error, .. } => {
            last_error.as_deref()
        }
        _ => None,
    };
    match last {
        Some(last) => error_type(last).into_owned(),
        None => match error.kind() {
            crate::error::ErrorKind::Configuration => "configuration".to_owned(),
            crate::error::ErrorKind::InvalidRequest => "invalid_request".to_owned(),
            _ => "exhausted".to_owned(),
        },
    }
}

/// Where a region's requests go: the host and port of `server.address` and `server.port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    pub(crate) address: String,
    pub(crate) port: u16,
}

impl Server {
    /// The server of `region`'s requests, as the manager's clients worked it out when they were
    /// built.
    fn of<'e>(engine: &'e Engine, region: &str) -> Cow<'e, Self> {
        match engine.clients.server(region) {
            Some(server) => Cow::Borrowed(server),
            None => Cow::Owned(Self::for_region(None, region)),
        }
    }

    /// The server of `region`'s requests: the explicit `endpoint`, or Bedrock's regional one.
    pub(crate) fn for_region(endpoint: Option<&str>, region: &str) -> Self {
        match endpoint {
            Some(url) => Self::from_url(url),
            None => Self {
                address: format!("bedrock-runtime.{region}.amazonaws.com"),
                port: 443,
            },
        }
    }

    /// The host and port of an endpoint URL (`http://127.0.0.1:8080`, `https://host/path`).
    pub(crate) fn from_url(url: &str) -> Self {
        let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let default_port = if scheme.eq_ignore_ascii_case("http") {
            80
        } else {
            443
        };
        // A port follows the last colon, unless that colon is inside an IPv6 literal.
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                (host, port.parse().unwrap_or(default_port))
            }
            _ => (host_port, default_port),
        };
        Self {
            address: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        }
    }
}

/// Input tokens as the conventions count them: cache reads and writes included.
fn input_tokens(usage: &TokenUsage) -> u64 {
    u64::from(usage.input_tokens)
        + u64::from(usage.cache_read_input_tokens.unwrap_or(0))
        + u64::from(usage.cache_write_input_tokens.unwrap_or(0))
}

/// The telemetry of one call: fills in its span's GenAI fields and records its metrics.
#[derive(Debug)]
pub(crate) struct Call {
    span: Span,
    /// Metric attributes, kept with `otel` only.
    #[cfg(feature = "otel")]
    request_model: String,
    #[cfg(feature = "otel")]
    server: Option<Server>,
    started: Duration,
}

/// How a call ended, for [`Call::finish`].
pub(crate) enum Outcome<'a> {
    /// A target answered.
    Answered {
        model: &'a str,
        region: &'a str,
        usage: Option<&'a TokenUsage>,
        attempts: usize,
    },
    /// The call failed.
    Failed(&'a Error),
}

impl Call {
    /// Starts the telemetry of a call on `span` (from [`call_span`]) over `targets`, in the order
    /// they are planned.
    pub(crate) fn begin(engine: &Engine, span: Span, targets: &[Target]) -> Self {
        let first = targets.first();
        let server = first.map(|t| Server::of(engine, &t.region));
        if let Some(server) = &server {
            span.record("server.address", server.address.as_str());
            span.record("server.port", server.port);
        }
        Self {
            span,
            #[cfg(feature = "otel")]
            request_model: first.map(|t| t.model.clone()).unwrap_or_default(),
            #[cfg(feature = "otel")]
            server: server.map(Cow::into_owned),
            started: engine.now(),
        }
    }

    /// Records how the call ended on its span and, with the `otel` feature, in the metrics.
    pub(crate) fn finish(&self, engine: &Engine, outcome: Outcome<'_>) {
        let span = &self.span;
        let duration = engine.now().saturating_sub(self.started);
        match &outcome {
            Outcome::Answered {
                model,
                region,
                usage,
                attempts,
            } => {
                span.record("gen_ai.response.model", *model);
                span.record("cloud.region", *region);
                span.record("attempts", *attempts);
                if let Some(usage) = usage {
                    span.record("gen_ai.usage.input_tokens", input_tokens(usage));
                    span.record("gen_ai.usage.output_tokens", usage.output_tokens);
                }
            }
            Outcome::Failed(error) => {
                span.record("error.type", call_error_type(error).as_str());
                span.record("otel.status_code", "ERROR");
                span.record("attempts", error.attempts().len());
            }
        }
        #[cfg(feature = "otel")]
        metrics::record(self, &outcome, duration);
        #[cfg(not(feature = "otel"))]
        let _ = duration;
    }
}

#[cfg(feature = "otel")]
mod metrics {
    //! The call metrics, through the global meter provider.

    use std::time::Duration;

    use opentelemetry::KeyValue;

    use super::{Call, OPERATION, Outcome, SYSTEM, call_error_type, input_tokens};

    /// Bucket boundaries the conventions advise for `gen_ai.client.operation.duration`.
    const DURATION_BUCKETS: [f64; 14] = [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    ];
    /// Bucket boundaries the conventions advise for `gen_ai.client.token.usage`.
    const TOKEN_BUCKETS: [f64; 14] = [
        1.0,
        4.0,
        16.0,
        64.0,
        256.0,
        1024.0,
        4096.0,
        16384.0,
        65536.0,
        262_144.0,
        1_048_576.0,
        4_194_304.0,
        16_777_216.0,
        67_108_864.0,
    ];
    /// Bucket boundaries for attempts per call.
    const ATTEMPT_BUCKETS: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 8.0, 12.0, 20.0];

    /// Records one call. The instruments are looked up on the global provider each time, so a
    /// provider installed after the manager was built is still used.
    pub(super) fn record(call: &Call, outcome: &Outcome<'_>, duration: Duration) {
        let meter = opentelemetry::global::meter("llmmanager");
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", OPERATION),
            KeyValue::new("gen_ai.system", SYSTEM),
            KeyValue::new("gen_ai.provider.name", SYSTEM),
            KeyValue::new("gen_ai.request.model", call.request_model.clone()),
        ];
        if let Some(server) = &call.server {
            attributes.push(KeyValue::new("server.address", server.address.clone()));
            attributes.push(KeyValue::new("server.port", i64::from(server.port)));
        }
        let attempts = match outcome {
            Outcome::Answered {
                model, attempts, ..
            } => {
                attributes.push(KeyValue::new("gen_ai.response.model", (*model).to_owned()));
                *attempts
            }
            Outcome::Failed(error) => {
                attributes.push(KeyValue::new("error.type", call_error_type(error)));
                error.attempts().len()
            }
        };
        meter
            .f64_histogram("gen_ai.client.operation.duration")
            .with_unit("s")
            .with_description("GenAI operation duration.")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build()
            .record(duration.as_secs_f64(), &attributes);
        meter
            .u64_histogram("llmmanager.client.attempts")
            .with_unit("{attempt}")
            .with_description("Attempts per call, the successful one included.")
            .with_boundaries(ATTEMPT_BUCKETS.to_vec())
            .build()
            .record(u64::try_from(attempts).unwrap_or(u64::MAX), &attributes);
        if let Outcome::Answered {
            usage: Some(usage), ..
        } = outcome
        {
            let tokens = meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_unit("{token}")
                .with_description("Number of input and output tokens used.")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build();
            for (kind, count) in [
                ("input", input_tokens(usage)),
                ("output", u64::from(usage.output_tokens)),
            ] {
                let mut with_type = attributes.clone();
                with_type.push(KeyValue::new("gen_ai.token.type", kind));
                tokens.record(count, &with_type);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(url: &str, address: &str, port: u16) {
        assert_eq!(
            Server::from_url(url),
            Server {
                address: address.to_owned(),
                port
            },
            "{url}"
        );
    }

    #[test]
    fn server_address_and_port_come_from_the_endpoint_url() {
        check("http://127.0.0.1:8080", "127.0.0.1", 8080);
        check("http://localhost/path?x=1", "localhost", 80);
        check("https://bedrock.example.com", "bedrock.example.com", 443);
        check("https://user:pw@host:9443/p", "host", 9443);
        check("http://[::1]:4318/", "::1", 4318);
        check("http://[::1]/", "::1", 80);
        check("host.only", "host.only", 443);
    }

    #[test]
    fn a_region_without_an_endpoint_is_served_by_bedrock_s_regional_host() {
        assert_eq!(
            Server::for_region(None, "eu-west-1"),
            Server {
                address: "bedrock-runtime.eu-west-1.amazonaws.com".to_owned(),
                port: 443
            }
        );
        assert_eq!(
            Server::for_region(Some("http://127.0.0.1:8080"), "eu-west-1"),
            Server {
                address: "127.0.0.1".to_owned(),
                port: 8080
            }
        );
    }

    #[test]
    fn error_type_is_the_service_code_or_the_kind_of_failure() {
        let service = AttemptError::Service {
            code: "ThrottlingException".to_owned(),
            message: String::new(),
            status: Some(429),
            request_id: None,
        };
        assert_eq!(error_type(&service), "ThrottlingException");
        let timeout = AttemptError::Timeout {
            after: Duration::from_secs(1),
            deadline: false,
        };
        assert_eq!(error_type(&timeout), "timeout");
    }

    #[test]
    fn input_tokens_include_the_cache() {
        let usage = TokenUsage {
            input_tokens: 10,
            output_tokens: 5,
            total_tokens: 15,
            cache_read_input_tokens: Some(100),
            cache_write_input_tokens: Some(1000),
            ..TokenUsage::default()
        };
        assert_eq!(input_tokens(&usage), 1110);
    }
}
