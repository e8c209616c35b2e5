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
//! | `ValidationException` naming an invalid model id, on-demand throughput, or region availability | target unavailable | the request is fine; this target cannot serve it |
//! | `ValidationException` naming blocked content | content blocked | another target would block it too |
//! | other `ValidationException`, request construction failures | bad request | fail fast, unless a feature fallback applies |
//!
//! Converse has no side effects beyond cost, so a timed-out attempt is retried on another target.

use std::time::Duration;

use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use bedrock_retry::{Classification, Classify, ErrorClass, Feature};

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
    #[error("attempt timed out after {after:?}")]
    Timeout {
        /// The time allowed.
        after: Duration,
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
                Self::Service {
                    code: e.code().unwrap_or("Unknown").to_owned(),
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
            },
            SdkError::DispatchFailure(d) => {
                if d.is_timeout() {
                    Self::Timeout {
                        after: attempt_timeout,
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

    /// The Bedrock error code, for service errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Classifies [`AttemptError`]s as the module table says.
#[derive(Debug, Clone, Copy, Default)]
pub struct BedrockClassifier;

impl Classify<AttemptError> for BedrockClassifier {
    fn classify(&self, error: &AttemptError) -> Classification {
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
        AttemptError::Timeout { .. }
        | AttemptError::Dispatch { .. }
        | AttemptError::Response { .. } => ErrorClass::Transient.into(),
        AttemptError::Construction { .. } => ErrorClass::BadRequest.into(),
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
        "AccessDeniedException" | "ResourceNotFoundException" | "UnrecognizedClientException" => {
            ErrorClass::TargetUnavailable.into()
        }
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

fn classify_validation(lower: &str) -> Classification {
    const UNAVAILABLE: [&str; 6] = [
        "model identifier is invalid",
        "on-demand throughput",
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
            Classification::new(ErrorClass::BadRequest).with_unsupported_feature(feature)
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
