//! Requests going in and outcomes coming out.
//!
//! Every request that enters the engine leaves it exactly once as a [`RequestOutcome`]: a
//! success, or a [`RequestError`] saying whether the service failed, the request timed out, its
//! future panicked, or it never ran because the batch stopped.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The caller-chosen identity of a request in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(Arc<str>);

/// The id as a JSON string.
#[cfg(feature = "serde")]
impl serde::Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl RequestId {
    /// Wraps an id.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RequestId {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for RequestId {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl std::borrow::Borrow<str> for RequestId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// One request of a batch, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest<Req> {
    /// Unique within the batch.
    pub id: RequestId,
    /// What the service receives.
    pub request: Req,
}

impl<Req> BatchRequest<Req> {
    /// Pairs an id with a request.
    pub fn new(id: impl Into<RequestId>, request: Req) -> Self {
        Self {
            id: id.into(),
            request,
        }
    }
}

/// Why a request failed.
///
/// Only [`RequestError::Service`], [`RequestError::Timeout`] and [`RequestError::Panicked`]
/// count as failures for a [`FailurePolicy`](crate::FailurePolicy); the other variants describe
/// requests that never reached the service.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum RequestError<E> {
    /// The service answered with an error.
    #[error("service error: {source}")]
    Service {
        /// The service's error.
        #[source]
        source: E,
    },
    /// The request did not finish within the configured timeout; its future was dropped.
    #[error("request timed out after {after:?}")]
    Timeout {
        /// The timeout that elapsed.
        #[cfg_attr(
            feature = "serde",
            serde(
                rename = "after_ms",
                serialize_with = "bedrock_retry::millis::serialize"
            )
        )]
        after: Duration,
    },
    /// The request never reached the service because the batch stopped.
    #[error("request cancelled before it started: {reason}")]
    Cancelled {
        /// Why the batch stopped.
        reason: String,
    },
    /// The service's `call` or its future panicked.
    #[error("request panicked: {message}")]
    Panicked {
        /// The panic message, when it was a string.
        message: String,
    },
    /// The streaming form saw this id earlier in the same stream; the request was not run.
    #[error("duplicate request id {id} (first seen at index {first_index})")]
    DuplicateId {
        /// The repeated id.
        id: RequestId,
        /// Input index of the first request with this id.
        first_index: usize,
    },
    /// The batch's [`Admission`](crate::Admission) hook refused the request (for example a
    /// budget it would pass) with no other request in flight; it was not run.
    #[error("request not admitted: {reason}")]
    NotAdmitted {
        /// The hook's reason.
        reason: String,
    },
}

impl<E> RequestError<E> {
    /// True when the request reached the service (or timed out or panicked there).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Service { .. } | Self::Timeout { .. } | Self::Panicked { .. }
        )
    }

    /// True for [`RequestError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled { .. })
    }

    /// True for [`RequestError::NotAdmitted`].
    pub fn is_not_admitted(&self) -> bool {
        matches!(self, Self::NotAdmitted { .. })
    }

    /// True for [`RequestError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// The service error, if that is what happened.
    pub fn service_error(&self) -> Option<&E> {
        match self {
            Self::Service { source } => Some(source),
            _ => None,
        }
    }
}

/// What happened to one request.
#[derive(Debug)]
#[non_exhaustive]
pub struct RequestOutcome<R, E> {
    /// The request's id.
    pub id: RequestId,
    /// Position of the request in the input (0-based).
    pub index: usize,
    /// The answer or the error.
    pub result: Result<R, RequestError<E>>,
    /// Time from the service call to its end; zero when the request never started.
    pub duration: Duration,
    /// Regions passed to the service as preferred, best first.
    pub assigned_regions: Vec<String>,
}

/// One JSON object per outcome: `id`, `index`, `duration_ms`, `assigned_regions`, then
/// `response` or `error` (an object whose `kind` is `service`, `timeout`, `cancelled`,
/// `panicked`, `duplicate_id` or `not_admitted`).
#[cfg(feature = "serde")]
impl<R: serde::Serialize, E: serde::Serialize> serde::Serialize for RequestOutcome<R, E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("index", &self.index)?;
        map.serialize_entry("duration_ms", &(self.duration.as_secs_f64() * 1000.0))?;
        map.serialize_entry("assigned_regions", &self.assigned_regions)?;
        match &self.result {
            Ok(response) => map.serialize_entry("response", response)?,
            Err(error) => map.serialize_entry("error", error)?,
        }
        map.end()
    }
}

impl<R, E> RequestOutcome<R, E> {
    /// An outcome, for callers that merge or replay batches (the engine builds its own).
    pub fn new(
        id: RequestId,
        index: usize,
        result: Result<R, RequestError<E>>,
        duration: Duration,
        assigned_regions: Vec<String>,
    ) -> Self {
        Self {
            id,
            index,
            result,
            duration,
            assigned_regions,
        }
    }

    /// True when the request succeeded.
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }

    /// True when the request reached the service (whatever the result).
    pub fn started(&self) -> bool {
        match &self.result {
            Ok(_) => true,
            Err(e) => e.is_failure(),
        }
    }

    /// The response, if any.
    pub fn response(&self) -> Option<&R> {
        self.result.as_ref().ok()
    }

    /// The error, if any.
    pub fn error(&self) -> Option<&RequestError<E>> {
        self.result.as_ref().err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_started_errors_count_as_failures() {
        let service: RequestError<std::io::Error> = RequestError::Service {
            source: std::io::Error::other("x"),
        };
        assert!(service.is_failure());
        assert!(
            RequestError::<std::io::Error>::Timeout {
                after: Duration::from_secs(1)
            }
            .is_failure()
        );
        let cancelled = RequestError::<std::io::Error>::Cancelled {
            reason: "stop".into(),
        };
        assert!(!cancelled.is_failure());
        assert!(cancelled.is_cancelled());
        assert_eq!(
            cancelled.to_string(),
            "request cancelled before it started: stop"
        );
    }

    #[test]
    fn request_id_borrows_as_str() {
        let mut map = std::collections::HashMap::new();
        map.insert(RequestId::from("a"), 1);
        assert_eq!(map.get("a"), Some(&1));
        assert_eq!(RequestId::from("a").to_string(), "a");
    }
}
