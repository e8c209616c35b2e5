//! The crate's single error type.
//!
//! Every rejection happens before any network call, so none of these errors is retryable:
//! the caller has to change the input. Each variant names the offending part (a file path or a
//! block location such as `messages[1].content[0]`) and, for validation failures, the [`Rule`].

use std::path::PathBuf;

use crate::format::MediaKind;
use crate::limits::Rule;

/// Coarse classification of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input breaks a rule; not retried (fix the input).
    Validation,
    /// A local file could not be read; not retried by this crate.
    Io,
    /// A value could not be converted to or from the SDK types; not retried.
    Conversion,
}

/// Everything that can go wrong while building, validating or converting a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A numeric limit was exceeded. Not retryable.
    #[error("{part}: {rule} limit exceeded ({actual} > {limit})")]
    Limit {
        /// The file or block that broke the limit.
        part: String,
        /// The rule.
        rule: Rule,
        /// The maximum allowed.
        limit: u64,
        /// The value found.
        actual: u64,
    },
    /// A shape or content rule was broken. Not retryable.
    #[error("{part}: {rule}: {detail}")]
    Invalid {
        /// The file or block that broke the rule.
        part: String,
        /// The rule.
        rule: Rule,
        /// What exactly was wrong.
        detail: String,
    },
    /// The bytes are not a known format of the claimed kind. Not retryable.
    #[error("{part}: not a supported {kind} format: {detail}")]
    UnknownFormat {
        /// The file or block.
        part: String,
        /// Image, document or video.
        kind: MediaKind,
        /// What was found instead.
        detail: String,
    },
    /// Reading a local file failed. Not retried by this crate.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An SDK builder rejected a value (a required field was missing). Not retryable.
    #[cfg(feature = "sdk")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sdk")))]
    #[error("building SDK {what}: {source}")]
    SdkBuild {
        /// The SDK type being built.
        what: &'static str,
        /// The SDK's error.
        #[source]
        source: aws_smithy_types::error::operation::BuildError,
    },
    /// A value has no equivalent on the other side of a conversion. Not retryable.
    #[error("converting {what}: {detail}")]
    Conversion {
        /// The value being converted.
        what: String,
        /// Why it has no equivalent.
        detail: String,
    },
}

impl Error {
    /// The coarse kind of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Limit { .. } | Self::Invalid { .. } | Self::UnknownFormat { .. } => {
                ErrorKind::Validation
            }
            Self::Io { .. } => ErrorKind::Io,
            #[cfg(feature = "sdk")]
            Self::SdkBuild { .. } => ErrorKind::Conversion,
            Self::Conversion { .. } => ErrorKind::Conversion,
        }
    }

    /// The rule that was broken, for validation errors.
    #[must_use]
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Self::Limit { rule, .. } | Self::Invalid { rule, .. } => Some(*rule),
            Self::UnknownFormat { .. } => Some(Rule::Format),
            _ => None,
        }
    }

    /// The file or block the error is about, when there is one.
    #[must_use]
    pub fn part(&self) -> Option<&str> {
        match self {
            Self::Limit { part, .. }
            | Self::Invalid { part, .. }
            | Self::UnknownFormat { part, .. } => Some(part),
            _ => None,
        }
    }

    pub(crate) fn invalid(part: impl Into<String>, rule: Rule, detail: impl Into<String>) -> Self {
        Self::Invalid {
            part: part.into(),
            rule,
            detail: detail.into(),
        }
    }

    pub(crate) fn limit(part: impl Into<String>, rule: Rule, limit: u64, actual: u64) -> Self {
        Self::Limit {
            part: part.into(),
            rule,
            limit,
            actual,
        }
    }

    pub(crate) fn conversion(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Conversion {
            what: what.into(),
            detail: detail.into(),
        }
    }

    #[cfg(feature = "sdk")]
    pub(crate) fn sdk(
        what: &'static str,
    ) -> impl FnOnce(aws_smithy_types::error::operation::BuildError) -> Self {
        move |source| Self::SdkBuild { what, source }
    }
}
