//! The umbrella error type.
//!
//! Variants follow the phase of the call: building the manager, checking the request, planning
//! targets, then the attempts themselves. A failed call always carries every attempt it made.
//!
//! A variant's `Display` gives the context only; the underlying error (the catalog's, the
//! request's, the last attempt's) is its [`std::error::Error::source`]. Print the whole chain,
//! joined with `": "`, to show both exactly once (`anyhow`'s `{:#}` does this).

use bedrock_retry::{ErrorClass, GiveUpReason};

use crate::call::AttemptRecord;

use crate::classify::AttemptError;

/// A coarse, stable category of [`Error`], for callers that branch on kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The manager's configuration is wrong. Not retried: fix the configuration.
    Configuration,
    /// The request is invalid. Not retried: nothing was sent.
    InvalidRequest,
    /// Every attempt failed or the call ran out of time or budget. The attempts say why; calling
    /// again later may succeed.
    Exhausted,
}

/// Errors from [`crate::LlmManager`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manager could not be built as configured.
    #[error("invalid configuration: {message}")]
    Configuration {
        /// What is wrong.
        message: String,
    },
    /// The residency constraint leaves no way to serve a model (or no configured region): the
    /// message names the model and the constraint, and what each region offered. Not retried:
    /// widen the constraint, add a region inside it, or choose another model.
    #[error("{} cannot be served inside residency {residency}: {message}", model.as_deref().map_or_else(|| "the configuration".to_owned(), |m| format!("model {m:?}")))]
    Residency {
        /// The model as configured, or `None` when no configured region lies inside.
        model: Option<String>,
        /// The constraint.
        residency: crate::residency::Residency,
        /// What was offered and refused.
        message: String,
    },
    /// A model name could not be resolved, or a model is not offered in any configured region.
    #[error(transparent)]
    Catalog {
        /// The catalog's error (it lists the closest names for unknown ones).
        #[from]
        source: bedrock_catalog::Error,
    },
    /// The request breaks a Bedrock rule; nothing was sent.
    #[error(transparent)]
    InvalidRequest {
        /// The validation error, naming the block and the rule.
        #[from]
        source: bedrock_messages::Error,
    },
    /// The retry configuration is invalid.
    #[error(transparent)]
    Retry {
        /// The retry crate's error.
        #[from]
        source: bedrock_retry::Error,
    },
    /// No attempt succeeded.
    #[error("all attempts failed ({reason}); {} attempt(s)", attempts.len())]
    Exhausted {
        /// Why the loop stopped.
        reason: GiveUpReason,
        /// Every attempt, in order.
        attempts: Vec<AttemptRecord>,
        /// The error of the last attempt.
        #[source]
        last_error: Option<Box<AttemptError>>,
    },
    /// A stream failed and could not be recovered.
    #[error("stream failed ({reason}) after {} attempt(s) and {} character(s) of text", attempts.len(), partial_text.chars().count())]
    StreamFailed {
        /// Why the loop stopped.
        reason: GiveUpReason,
        /// Every attempt, in order.
        attempts: Vec<AttemptRecord>,
        /// The error of the last attempt.
        #[source]
        last_error: Option<Box<AttemptError>>,
        /// The text received before the failure.
        partial_text: String,
    },
    /// A parallel batch could not start (invalid configuration, duplicate request ids).
    #[error(transparent)]
    Parallel {
        /// The parallel engine's error.
        #[from]
        source: bedrock_parallel::Error,
    },
    /// Writing a streamed answer to its destination failed.
    #[error("writing the stream failed")]
    Io {
        /// The I/O error.
        #[from]
        source: std::io::Error,
    },
}

impl ErrorKind {
    /// The kind's name in JSON: `configuration`, `invalid_request` or `exhausted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Configuration => "configuration",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Exhausted => "exhausted",
        }
    }
}

/// `{"kind": ..., "message": ..., "last_class": ..., "attempts": [...]}`: the message is the
/// whole chain of causes joined with `": "`, so a failed request in a batch's JSON says what
/// happened and keeps every attempt.
impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        let mut st = serializer.serialize_struct("Error", 4)?;
        st.serialize_field("kind", self.kind().as_str())?;
        st.serialize_field("message", &message)?;
        st.serialize_field("last_class", &self.last_class())?;
        st.serialize_field("attempts", self.attempts())?;
        st.end()
    }
}

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Configuration { .. }
            | Self::Residency { .. }
            | Self::Catalog { .. }
            | Self::Retry { .. }
            | Self::Io { .. } => ErrorKind::Configuration,
            Self::InvalidRequest { .. } | Self::Parallel { .. } => ErrorKind::InvalidRequest,
            Self::Exhausted { .. } | Self::StreamFailed { .. } => ErrorKind::Exhausted,
        }
    }

    /// The attempts made before the call failed (empty for errors raised before any attempt).
    pub fn attempts(&self) -> &[AttemptRecord] {
        match self {
            Self::Exhausted { attempts, .. } | Self::StreamFailed { attempts, .. } => attempts,
            _ => &[],
        }
    }

    /// The attempts, to amend (a rerun puts the earlier ones in front).
    pub(crate) fn attempts_mut(&mut self) -> Option<&mut Vec<AttemptRecord>> {
        match self {
            Self::Exhausted { attempts, .. } | Self::StreamFailed { attempts, .. } => {
                Some(attempts)
            }
            _ => None,
        }
    }

    /// The class of the last failed attempt, if any attempt ran.
    pub fn last_class(&self) -> Option<ErrorClass> {
        self.attempts().iter().rev().find_map(|a| a.class)
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Configuration {
            message: message.into(),
        }
    }
}
