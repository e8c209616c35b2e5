//! Classification: the first of the four retry parts (classifier → strategy → budget → backoff).
//!
//! The retry loop never looks at an error itself. A [`Classify`] implementation, written by the
//! caller that knows the concrete error type, turns each error into a [`Classification`]: an
//! [`ErrorClass`], an optional explicit retry-after delay, and the name of a request feature the target
//! rejected. Keeping this step separate lets the strategy stay generic and testable.

use std::fmt;
use std::time::Duration;

/// A coarse class of failure; it decides what the retry loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The target is throttling (HTTP 429, quota exceeded).
    ///
    /// **Retried**: the loop prefers another target, and backs off before it comes back to one it
    /// already tried. Costs retry tokens from the budget and counts towards the target's health.
    Throttled,
    /// A transient failure: 5xx, timeouts, dropped connections.
    ///
    /// **Retried** on another target (with backoff when it comes back to a target already tried).
    /// Costs the higher timeout cost from the budget and counts towards the target's health.
    /// Retrying after a timeout is safe for inference calls, which have no side effects beyond
    /// their cost; a caller with non-idempotent operations should classify their timeouts as
    /// [`ErrorClass::BadRequest`] instead.
    Transient,
    /// The target cannot serve this call at all: model missing or not enabled in that region,
    /// access denied.
    ///
    /// **Retried elsewhere only**: the target is skipped for the rest of the call, the loop moves on
    /// without delay and without spending budget.
    TargetUnavailable,
    /// The request itself is invalid.
    ///
    /// **Not retried**, unless the classification names an unsupported feature and feature
    /// fallback is enabled: then the same target is retried once without that feature.
    BadRequest,
    /// The content was blocked (guardrail intervention, content filter).
    ///
    /// **Never retried**.
    ContentBlocked,
    /// The caller's credentials are missing, expired or rejected.
    ///
    /// **Not retried**: credentials are the same for every target, so no other target would
    /// accept them. Does not count towards the target's health.
    Credentials,
}

impl ErrorClass {
    /// Whether the loop may send another attempt after this class (ignoring caps and fallback).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Throttled | ErrorClass::Transient | ErrorClass::TargetUnavailable
        )
    }

    /// Whether this class counts as a failure of the target in the [`HealthTracker`](crate::HealthTracker).
    pub fn counts_against_target(self) -> bool {
        self.is_retryable()
    }

    /// Every class, in declaration order.
    pub const ALL: [ErrorClass; 6] = [
        ErrorClass::Throttled,
        ErrorClass::Transient,
        ErrorClass::TargetUnavailable,
        ErrorClass::BadRequest,
        ErrorClass::ContentBlocked,
        ErrorClass::Credentials,
    ];

    /// A short lower-case name, used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Throttled => "throttled",
            ErrorClass::Transient => "transient",
            ErrorClass::TargetUnavailable => "target_unavailable",
            ErrorClass::BadRequest => "bad_request",
            ErrorClass::ContentBlocked => "content_blocked",
            ErrorClass::Credentials => "credentials",
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ErrorClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of classifying one error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Classification {
    class: ErrorClass,
    retry_after: Option<Duration>,
    unsupported_feature: Option<&'static str>,
    spares_target: bool,
}

impl Classification {
    /// A classification with no explicit delay and no unsupported feature.
    pub fn new(class: ErrorClass) -> Self {
        Classification {
            class,
            retry_after: None,
            unsupported_feature: None,
            spares_target: false,
        }
    }

    /// Sets an explicit delay requested by the server (e.g. `x-amz-retry-after`); it wins over the
    /// computed backoff, capped at the configured maximum delay.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// Records which request feature the target rejected, by a stable name (for example
    /// `"documents"`); the plan then retries the same target once without it, and keeps it
    /// disabled for that target's model.
    pub fn with_unsupported_feature(mut self, feature: &'static str) -> Self {
        self.unsupported_feature = Some(feature);
        self
    }

    /// Says the failure is not the target's fault (for example an attempt cut short by the call's
    /// own deadline), so it does not count towards the target's health whatever its class.
    pub fn sparing_target(mut self) -> Self {
        self.spares_target = true;
        self
    }

    /// Whether this failure counts towards the target's health.
    pub fn counts_against_target(&self) -> bool {
        !self.spares_target && self.class.counts_against_target()
    }

    /// The error class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The explicit delay requested by the server, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The feature the target rejected, if any.
    pub fn unsupported_feature(&self) -> Option<&'static str> {
        self.unsupported_feature
    }
}

impl From<ErrorClass> for Classification {
    fn from(class: ErrorClass) -> Self {
        Classification::new(class)
    }
}

/// Maps a caller's error type to a [`Classification`].
///
/// This is the boundary between the generic loop and the code that knows the concrete errors
/// (the umbrella crate classifies AWS SDK errors). It has one required method.
///
/// # Example
///
/// ```
/// use bedrock_retry::{Classification, Classify, ErrorClass};
///
/// #[derive(Debug)]
/// struct HttpClassifier;
///
/// impl Classify<(u16, String)> for HttpClassifier {
///     fn classify(&self, (status, message): &(u16, String)) -> Classification {
///         match status {
///             429 => ErrorClass::Throttled.into(),
///             403 | 404 => ErrorClass::TargetUnavailable.into(),
///             400 if message.contains("tool use") => {
///                 Classification::new(ErrorClass::BadRequest).with_unsupported_feature("tools")
///             }
///             400 => ErrorClass::BadRequest.into(),
///             _ => ErrorClass::Transient.into(),
///         }
///     }
/// }
///
/// let c = HttpClassifier.classify(&(400, "This model doesn't support tool use.".into()));
/// assert_eq!(c.class(), ErrorClass::BadRequest);
/// assert_eq!(c.unsupported_feature(), Some("tools"));
/// ```
pub trait Classify<E: ?Sized>: Send + Sync + fmt::Debug + 'static {
    /// Classifies one error.
    fn classify(&self, error: &E) -> Classification;
}

/// Adapts a closure into a [`Classify`] implementation (closures are not `Debug`).
pub struct ClassifyFn<F>(pub F);

impl<F> fmt::Debug for ClassifyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClassifyFn")
    }
}

impl<E: ?Sized, F> Classify<E> for ClassifyFn<F>
where
    F: Fn(&E) -> Classification + Send + Sync + 'static,
{
    fn classify(&self, error: &E) -> Classification {
        (self.0)(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code, reason = "compile-only object safety check")]
    fn assert_object_safe(_: &dyn Classify<str>, _: &dyn Classify<std::io::Error>) {}

    #[test]
    fn retryable_classes() {
        assert!(ErrorClass::Throttled.is_retryable());
        assert!(ErrorClass::Transient.is_retryable());
        assert!(ErrorClass::TargetUnavailable.is_retryable());
        assert!(!ErrorClass::BadRequest.is_retryable());
        assert!(!ErrorClass::ContentBlocked.is_retryable());
    }

    #[test]
    fn closure_classifier() {
        let c = ClassifyFn(|e: &str| {
            if e.contains("429") {
                Classification::new(ErrorClass::Throttled)
                    .with_retry_after(Duration::from_millis(250))
            } else {
                ErrorClass::Transient.into()
            }
        });
        let dynamic: &dyn Classify<str> = &c;
        let got = dynamic.classify("HTTP 429");
        assert_eq!(got.class(), ErrorClass::Throttled);
        assert_eq!(got.retry_after(), Some(Duration::from_millis(250)));
        assert_eq!(dynamic.classify("boom").class(), ErrorClass::Transient);
    }
}
