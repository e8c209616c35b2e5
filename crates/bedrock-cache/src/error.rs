//! The crate's one error type.
//!
//! Placement itself never fails: a request the strategy cannot improve comes back unchanged with
//! warnings. Errors come only from building a configuration (custom rules that cannot be
//! satisfied on any request) and from parsing a price table. The crate reads no files: a caller with
//! its own table reads it and passes the text to `PriceTable::from_json_str`.

/// Coarse classification of an [`Error`]. No kind is retried: the same input gives the same
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration that can never work. Not retried.
    Config,
    /// A malformed price table. Not retried.
    Data,
}

/// Errors of configuration and price-table loading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A custom strategy was given no rules. Kind: [`ErrorKind::Config`].
    #[error("a custom cache strategy needs at least one rule")]
    EmptyCustomRules,
    /// A custom rule can never name a valid position. Kind: [`ErrorKind::Config`].
    #[error("invalid cache rule {rule}: {reason}")]
    InvalidRule {
        /// The rule, as written with `Debug`.
        rule: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The same rule was given twice. Kind: [`ErrorKind::Config`].
    #[error("cache rule {rule} is given more than once")]
    DuplicateRule {
        /// The rule, as written with `Debug`.
        rule: String,
    },
    /// More fixed positions than Bedrock accepts cache points in one request. Kind:
    /// [`ErrorKind::Config`].
    #[error("{count} fixed cache positions requested; Bedrock accepts at most {max} cache points")]
    TooManyPositions {
        /// Fixed-position rules given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A price table is not valid JSON of the expected shape. Kind: [`ErrorKind::Data`].
    #[error("invalid price table {origin}: {source}")]
    PriceTable {
        /// `<bundled>` or `<string>`.
        origin: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A price entry has a negative or non-finite price. Kind: [`ErrorKind::Data`].
    #[error("invalid price for {model_id} in {origin}: {reason}")]
    InvalidPrice {
        /// `<bundled>` or `<string>`.
        origin: String,
        /// The model the entry is for.
        model_id: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The coarse kind of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::EmptyCustomRules
            | Self::InvalidRule { .. }
            | Self::DuplicateRule { .. }
            | Self::TooManyPositions { .. } => ErrorKind::Config,
            Self::PriceTable { .. } | Self::InvalidPrice { .. } => ErrorKind::Data,
        }
    }
}
