//! Turning an SDK failure into an [`ErrorClass`] the retry loop understands.
//!
//! The Bedrock error code (the `x-amzn-errortype` header the SDK parses) decides first, then the
//! HTTP status, then the message. The table is the contract:
//!
//! | Failure | Class | Why |
//! |---|---|---|
//! | `ThrottlingException`, `ModelNotReadyException`, `ServiceQuotaExceededException` | throttled | the target is busy: back off, prefer another |
//! | `InternalServerException`, `ServiceUnavailableException`, `ModelTimeoutException`, `ModelErrorException`, `ModelStreamErrorException` | transient | the target failed this time: try elsewhere |
//! | timeouts, connection failures, truncated or unparsable responses | transient | nothing reached the model or nothing came back |
//! | `AccessDeniedException`, `ResourceNotFoundException` | target unavailable | not enabled for this account or absent in this region |
//! | `ValidationException` naming on-demand throughput | target unavailable, asked again through an inference profile | the model is invoked only through a profile: the same region is tried through its profile at once, and the model's later calls use profiles |
//! | `ValidationException` naming an invalid model id or region availability | target unavailable | the request is fine; this target cannot serve it |
//! | `ValidationException` naming blocked content | content blocked | another target would block it too |
//! | other `ValidationException`, request construction failures | bad request | fail fast, unless a feature fallback applies |
//! | `UnrecognizedClientException`, `ExpiredTokenException`, `InvalidSignatureException`, `IncompleteSignatureException`, `MissingAuthenticationTokenException`, missing credentials | credentials | credentials are the same for every target: stop after one attempt |
//! | an answer that arrived but could not be read | bad request | it was paid for: never bought again, and not the target's fault |
//!
//! In-stream exceptions carry no error code on the wire (only `{"message": ...}`), so they are
//! classified by their event type: `validationException` as `ValidationException`,
//! `throttlingException` as `ThrottlingException`, and so on.
//!
//! Converse has no side effects beyond cost, so a timed-out attempt is retried on another target.
//! An attempt cut short by the call's own deadline is not held against its target.

use std::time::Duration;

use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use bedrock_messages::Feature;
use bedrock_retry::{Classification, Classify, ErrorClass};

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttemptError {
    /// Bedrock answered with an error.
    #[error("{code} (HTTP {}): {message}", status.map_or_else(|| "?".to_owned(), |s| s.to_string()))]
    Service {
        /// The Bedrock error code, e.g. `ThrottlingException`.
        code: String,
        /// The error message from the service.
        message: String,
        /// The HTTP status, when a response arrived.
        status: Option<u16>,
        /// The request id, when the service sent one.
        request_id: Option<String>,
    },
    /// The attempt ran out of time.
    #[error("{} after {after:?}", if *deadline { "the call's deadline was reached" } else { "attempt timed out" })]
    Timeout {
        /// The time allowed.
        after: Duration,
        /// Whether the time allowed was what was left of the call's deadline (then the target is
        /// not held responsible).
        deadline: bool,
    },
    /// No usable credentials: none were found, or Bedrock rejected them.
    #[error(
        "{message}; set credentials with a profile (--profile / AWS_PROFILE), the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables, or `aws configure`; or try the embedded simulator with --simulate"
    )]
    Credentials {
        /// What went wrong.
        message: String,
    },
    /// An answer arrived (and was paid for) but could not be read.
    #[error("the answer could not be read: {message}")]
    Unreadable {
        /// What failed.
        message: String,
    },
    /// The request could not be sent or the connection failed.
    #[error("dispatch failure: {message}")]
    Dispatch {
        /// What failed.
        message: String,
    },
    /// The response could not be read or parsed.
    #[error("unreadable response: {message}")]
    Response {
        /// What failed.
        message: String,
    },
    /// The SDK could not build the request.
    #[error("request construction failed: {message}")]
    Construction {
        /// What failed.
        message: String,
    },
    /// Pacing found no capacity on the target within the time the attempt had left; nothing
    /// was sent.
    #[error("no capacity on {target} within {time_left:?} (next in {wait:?}); nothing was sent")]
    NoCapacity {
        /// The target, as `model in region`.
        target: String,
        /// The wait pacing asked for.
        wait: Duration,
        /// The time the attempt had left.
        time_left: Duration,
    },
    /// The answer failed response validation every time it was asked for.
    #[error("response validation failed {attempts} time(s): {message}")]
    ValidationFailed {
        /// How many answers were validated.
        attempts: u32,
        /// The last validation message.
        message: String,
    },
}

impl AttemptError {
    /// Converts an SDK error, keeping the code, message, status and request id.
    pub(crate) fn from_sdk<E>(err: &SdkError<E, HttpResponse>, attempt_timeout: Duration) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let status = Some(ctx.raw().status().as_u16());
                let code = e.code().unwrap_or("Unknown");
                if CREDENTIAL_CODES.contains(&code) {
                    return Self::Credentials {
                        message: format!(
                            "Bedrock rejected the credentials ({code}: {})",
                            e.message().unwrap_or("no message")
                        ),
                    };
                }
                Self::Service {
                    code: code.to_owned(),
                    message: e.message().unwrap_or_default().to_owned(),
                    status,
                    request_id: ctx
                        .raw()
                        .headers()
                        .get("x-amzn-requestid")
                        .map(str::to_owned),
                }
            }
            SdkError::TimeoutError(_) => Self::Timeout {
                after: attempt_timeout,
                deadline: false,
            },
            _ if missing_credentials(err) => Self::Credentials {
                message: "no AWS credentials were found".to_owned(),
            },
            SdkError::DispatchFailure(d) => {
                if d.is_timeout() {
                    Self::Timeout {
                        after: attempt_timeout,
                        deadline: false,
                    }
                } else {
                    Self::Dispatch {
                        message: DisplayErrorContext(err).to_string(),
                    }
                }
            }
            SdkError::ResponseError(_) => Self::Response {
                message: DisplayErrorContext(err).to_string(),
            },
            SdkError::ConstructionFailure(_) => Self::Construction {
                message: DisplayErrorContext(err).to_string(),
            },
            _ => Self::Response {
                message: DisplayErrorContext(err).to_string(),
            },
        }
    }

    /// Converts an error read from an event stream. In-stream exceptions carry no error code, so
    /// the code comes from the exception's event type.
    pub(crate) fn from_stream(
        err: &SdkError<
            aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError,
            aws_smithy_types::event_stream::RawMessage,
        >,
    ) -> Self {
        use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError as E;
        match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let code = match e {
                    E::ValidationException(_) => "ValidationException",
                    E::ThrottlingException(_) => "ThrottlingException",
                    E::ModelStreamErrorException(_) => "ModelStreamErrorException",
                    E::ServiceUnavailableException(_) => "ServiceUnavailableException",
                    E::InternalServerException(_) => "InternalServerException",
                    _ => e.code().unwrap_or("Unknown"),
                };
                Self::Service {
                    code: code.to_owned(),
                    message: e.message().unwrap_or_default().to_owned(),
                    status: None,
                    request_id: None,
                }
            }
            _ => Self::Response {
                message: DisplayErrorContext(err).to_string(),
            },
        }
    }

    /// The Bedrock error code, for service errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Error codes that mean the caller's credentials were refused.
const CREDENTIAL_CODES: [&str; 6] = [
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
];

/// Whether the SDK failed before sending because no credentials could be loaded.
fn missing_credentials<E, R>(err: &SdkError<E, R>) -> bool
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("no credentials") || text.contains("credentials provider") {
            return true;
        }
        source = e.source();
    }
    false
}

/// A caller's own rule for a service error: a Bedrock error code, or a phrase in the message,
/// that gets a class of the caller's choosing (the original's `retryable_errors`, generalised).
/// Rules are checked in order before the built-in table.
///
/// ```
/// use llmmanager::{ErrorClass, classify::ErrorRule};
///
/// // A gateway in front of Bedrock answers "UpstreamBusy": try the next target.
/// let rule = ErrorRule::code("UpstreamBusy", ErrorClass::Throttled);
/// # let _ = rule;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRule {
    matcher: Matcher,
    class: ErrorClass,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    Code(String),
    MessageContains(String),
}

impl ErrorRule {
    /// Service errors with exactly this error code get `class`.
    pub fn code(code: impl Into<String>, class: ErrorClass) -> Self {
        Self {
            matcher: Matcher::Code(code.into()),
            class,
        }
    }

    /// Service errors whose message contains `phrase` (ignoring case) get `class`.
    pub fn message_contains(phrase: impl Into<String>, class: ErrorClass) -> Self {
        Self {
            matcher: Matcher::MessageContains(phrase.into().to_lowercase()),
            class,
        }
    }

    fn matches(&self, code: &str, message: &str) -> bool {
        match &self.matcher {
            Matcher::Code(c) => c == code,
            Matcher::MessageContains(p) => message.to_lowercase().contains(p.as_str()),
        }
    }
}

/// Classifies [`AttemptError`]s: the caller's [`ErrorRule`]s first, then the module table.
#[derive(Debug, Clone, Default)]
pub struct BedrockClassifier {
    rules: Vec<ErrorRule>,
}

impl BedrockClassifier {
    /// A classifier with the caller's rules checked before the built-in table.
    pub fn with_rules(rules: Vec<ErrorRule>) -> Self {
        Self { rules }
    }
}

impl Classify<AttemptError> for BedrockClassifier {
    fn classify(&self, error: &AttemptError) -> Classification {
        if let AttemptError::Service { code, message, .. } = error
            && let Some(rule) = self.rules.iter().find(|r| r.matches(code, message))
        {
            return rule.class.into();
        }
        classify(error)
    }
}

/// The classification of one attempt error (see the module table).
pub fn classify(error: &AttemptError) -> Classification {
    match error {
        AttemptError::Service {
            code,
            message,
            status,
            ..
        } => classify_service(code, message, *status),
        AttemptError::Timeout { deadline: true, .. } => {
            Classification::new(ErrorClass::Transient).sparing_target()
        }
        AttemptError::Timeout { .. }
        | AttemptError::Dispatch { .. }
        | AttemptError::Response { .. } => ErrorClass::Transient.into(),
        AttemptError::Construction { .. } => ErrorClass::BadRequest.into(),
        AttemptError::NoCapacity { .. } => {
            Classification::new(ErrorClass::Throttled).sparing_target()
        }
        AttemptError::Unreadable { .. } => {
            Classification::new(ErrorClass::BadRequest).sparing_target()
        }
        AttemptError::Credentials { .. } => ErrorClass::Credentials.into(),
        AttemptError::ValidationFailed { .. } => ErrorClass::Transient.into(),
    }
}

fn classify_service(code: &str, message: &str, status: Option<u16>) -> Classification {
    let lower = message.to_ascii_lowercase();
    match code {
        "ThrottlingException"
        | "ModelNotReadyException"
        | "ServiceQuotaExceededException"
        | "TooManyRequestsException" => ErrorClass::Throttled.into(),
        "InternalServerException"
        | "ServiceUnavailableException"
        | "ModelTimeoutException"
        | "ModelErrorException"
        | "ModelStreamErrorException" => ErrorClass::Transient.into(),
        "AccessDeniedException" | "ResourceNotFoundException" => {
            ErrorClass::TargetUnavailable.into()
        }
        c if CREDENTIAL_CODES.contains(&c) => ErrorClass::Credentials.into(),
        "ValidationException" => classify_validation(&lower),
        _ => match status {
            Some(429) => ErrorClass::Throttled.into(),
            Some(s) if s >= 500 => ErrorClass::Transient.into(),
            Some(403 | 404) => ErrorClass::TargetUnavailable.into(),
            Some(_) => classify_validation(&lower),
            None => ErrorClass::Transient.into(),
        },
    }
}

/// The name under which the plan drops on-demand invocation for a model that Bedrock invokes
/// only through an inference profile: the same target is then asked again through its profile.
pub(crate) const ON_DEMAND: &str = "on-demand invocation";

fn classify_validation(lower: &str) -> Classification {
    if lower.contains("on-demand throughput") {
        return Classification::new(ErrorClass::TargetUnavailable)
            .with_unsupported_feature(ON_DEMAND);
    }
    const UNAVAILABLE: [&str; 5] = [
        "model identifier is invalid",
        "not available in this region",
        "not supported in this region",
        "don't have access to the model",
        "do not have access to the model",
    ];
    const BLOCKED: [&str; 3] = ["content filter", "blocked by", "violates"];
    if UNAVAILABLE.iter().any(|p| lower.contains(p)) {
        return ErrorClass::TargetUnavailable.into();
    }
    if BLOCKED.iter().any(|p| lower.contains(p)) {
        return ErrorClass::ContentBlocked.into();
    }
    match Feature::detect_from_message(lower) {
        Some(feature) => {
            Classification::new(ErrorClass::BadRequest).with_unsupported_feature(feature.as_str())
        }
        None => ErrorClass::BadRequest.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(code: &str, message: &str, status: u16, expected: ErrorClass) {
        let e = AttemptError::Service {
            code: code.into(),
            message: message.into(),
            status: Some(status),
            request_id: None,
        };
        assert_eq!(classify(&e).class(), expected, "{code}: {message}");
    }

    #[test]
    fn service_errors_follow_the_table() {
        check(
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
            429,
            ErrorClass::Throttled,
        );
        check(
            "ModelNotReadyException",
            "Model is not ready",
            429,
            ErrorClass::Throttled,
        );
        check(
            "ServiceUnavailableException",
            "unavailable",
            503,
            ErrorClass::Transient,
        );
        check(
            "InternalServerException",
            "oops",
            500,
            ErrorClass::Transient,
        );
        check(
            "ModelTimeoutException",
            "took too long",
            408,
            ErrorClass::Transient,
        );
        check(
            "ModelErrorException",
            "model failed",
            424,
            ErrorClass::Transient,
        );
        check(
            "AccessDeniedException",
            "You don't have access to the model",
            403,
            ErrorClass::TargetUnavailable,
        );
        check(
            "ResourceNotFoundException",
            "not found",
            404,
            ErrorClass::TargetUnavailable,
        );
        check(
            "ValidationException",
            "The provided model identifier is invalid.",
            400,
            ErrorClass::TargetUnavailable,
        );
        check(
            "ValidationException",
            "Invocation of model ID x with on-demand throughput isn\u{2019}t supported.",
            400,
            ErrorClass::TargetUnavailable,
        );
        let needs_profile = classify_service(
            "ValidationException",
            "Invocation of model ID x with on-demand throughput isn\u{2019}t supported. Retry \
             your request with the ID or ARN of an inference profile that contains this model.",
            Some(400),
        );
        assert_eq!(needs_profile.unsupported_feature(), Some(ON_DEMAND));
        check(
            "ValidationException",
            "maxTokens exceeds the limit",
            400,
            ErrorClass::BadRequest,
        );
        check("SomethingNew", "?", 502, ErrorClass::Transient);
        check("SomethingNew", "?", 429, ErrorClass::Throttled);
    }

    #[test]
    fn transport_failures_are_transient() {
        for e in [
            AttemptError::Timeout {
                after: Duration::from_secs(1),
                deadline: false,
            },
            AttemptError::Dispatch {
                message: "connection reset".into(),
            },
            AttemptError::Response {
                message: "eof".into(),
            },
        ] {
            assert_eq!(classify(&e).class(), ErrorClass::Transient, "{e}");
        }
        let e = AttemptError::Construction {
            message: "bad".into(),
        };
        assert_eq!(classify(&e).class(), ErrorClass::BadRequest);
    }
}
