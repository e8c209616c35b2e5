//! The crate's one error type, with a coarse [`ErrorKind`] so callers can decide whether retrying
//! can help without matching every variant.

use std::path::PathBuf;
use std::time::Duration;

/// Coarse classification of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller asked for something the catalog does not contain (unknown or ambiguous name,
    /// model not in that region). Not retried: the same question gives the same answer.
    NotFound,
    /// Bad configuration or arguments. Not retried.
    Client,
    /// The data source failed in a way that may pass (network, timeout, throttling). Retrying
    /// later, or falling back to the bundled snapshot, can help.
    Transient,
    /// Catalog data is malformed or of an unsupported schema. Not retried.
    Data,
    /// A local file operation failed. Not retried.
    Io,
}

/// Errors of the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No model matches the name. Kind: [`ErrorKind::NotFound`].
    #[error("unknown model {name:?}{}", fmt_list(". Did you mean", suggestions))]
    UnknownModel {
        /// The name as given.
        name: String,
        /// Closest known names, best first (may be empty).
        suggestions: Vec<String>,
    },
    /// The name matches several models equally well. Kind: [`ErrorKind::NotFound`].
    #[error(
        "ambiguous model name {name:?}{}",
        fmt_list(". It matches", candidates)
    )]
    AmbiguousModel {
        /// The name as given.
        name: String,
        /// Canonical names of the matching models.
        candidates: Vec<String>,
    },
    /// The model exists but cannot be called from that region. Kind: [`ErrorKind::NotFound`].
    #[error(
        "model {model_id} is not available in {region}{}",
        fmt_list(". It is available in", available_regions)
    )]
    NotAvailableInRegion {
        /// Base model id.
        model_id: String,
        /// The region asked about.
        region: String,
        /// Regions where it can be called.
        available_regions: Vec<String>,
    },
    /// The model cannot run batch inference jobs in that region (or the catalog has no batch
    /// data for it). Kind: [`ErrorKind::NotFound`].
    #[error(
        "model {model_id} cannot run batch inference jobs in {region}{}",
        fmt_list(". It can in", batch_regions)
    )]
    NoBatchInference {
        /// Base model id.
        model_id: String,
        /// The region asked about.
        region: String,
        /// Regions where it can run batch inference jobs (empty when the catalog does not know).
        batch_regions: Vec<String>,
    },
    /// Catalog JSON could not be parsed. Kind: [`ErrorKind::Data`].
    #[error("malformed catalog data in {what}: {source}")]
    Parse {
        /// Which data (bundled snapshot, cache file, overrides, reference).
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Catalog data has a schema version this build does not read. Kind: [`ErrorKind::Data`].
    #[error("{what} has schema version {found}, expected {expected}")]
    SchemaVersion {
        /// Which data.
        what: String,
        /// Version found.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// Catalog data is well-formed JSON but inconsistent. Kind: [`ErrorKind::Data`].
    #[error("invalid catalog data in {what}: {message}")]
    InvalidData {
        /// Which data.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// Fetching from the data source failed in every region. Kind: [`ErrorKind::Transient`].
    #[error("catalog source failed: {message}")]
    Source {
        /// Summary of the failures, per region.
        message: String,
    },
    /// The data source did not answer in time. Kind: [`ErrorKind::Transient`].
    #[error("catalog source timed out after {after:?}")]
    Timeout {
        /// The limit that was hit.
        after: Duration,
    },
    /// No source produced a catalog and the bundled fallback is disabled. Kind: [`ErrorKind::Transient`].
    #[error("no catalog available: {}", reasons.join("; "))]
    Unavailable {
        /// Why each source failed, in the order they were tried.
        reasons: Vec<String>,
    },
    /// A cache file operation failed. Kind: [`ErrorKind::Io`].
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was attempted.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Invalid builder settings. Kind: [`ErrorKind::Client`].
    #[error("invalid catalog configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The coarse kind of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownModel { .. }
            | Self::AmbiguousModel { .. }
            | Self::NotAvailableInRegion { .. }
            | Self::NoBatchInference { .. } => ErrorKind::NotFound,
            Self::Parse { .. } | Self::SchemaVersion { .. } | Self::InvalidData { .. } => {
                ErrorKind::Data
            }
            Self::Source { .. } | Self::Timeout { .. } | Self::Unavailable { .. } => {
                ErrorKind::Transient
            }
            Self::Io { .. } => ErrorKind::Io,
            Self::Config { .. } => ErrorKind::Client,
        }
    }
}

fn fmt_list(lead: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        let end = if lead.starts_with(". Did") { "?" } else { "" };
        format!("{lead}: {}{end}", items.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_list_suggestions() {
        let e = Error::UnknownModel {
            name: "Llama 9".into(),
            suggestions: vec!["Llama3 8b Instruct".into()],
        };
        assert_eq!(
            e.to_string(),
            r#"unknown model "Llama 9". Did you mean: Llama3 8b Instruct?"#
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = Error::AmbiguousModel {
            name: "Claude".into(),
            candidates: vec!["A".into(), "B".into()],
        };
        assert_eq!(
            e.to_string(),
            r#"ambiguous model name "Claude". It matches: A, B"#
        );
        let e = Error::UnknownModel {
            name: "x".into(),
            suggestions: vec![],
        };
        assert_eq!(e.to_string(), r#"unknown model "x""#);
    }
}
