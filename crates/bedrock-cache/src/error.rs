//! The crate's one error type.
//!
//! Placement itself never fails: a request the strategy cannot improve comes back unchanged with
//! warnings. Errors come only from building a configuration (custom rules that cannot be
//! satisfied on any request) and from loading a price table.

use std::path::PathBuf;

/// Errors of configuration and price-table loading. None of them is worth retrying: the same
/// input gives the same answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A custom strategy was given no rules.
    #[error("a custom cache strategy needs at least one rule")]
    EmptyCustomRules,
    /// A custom rule can never name a valid position.
    #[error("invalid cache rule {rule}: {reason}")]
    InvalidRule {
        /// The rule, as written with `Debug`.
        rule: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The same rule was given twice.
    #[error("cache rule {rule} is given more than once")]
    DuplicateRule {
        /// The rule, as written with `Debug`.
        rule: String,
    },
    /// More fixed positions than Bedrock accepts cache points in one request.
    #[error("{count} fixed cache positions requested; Bedrock accepts at most {max} cache points")]
    TooManyPositions {
        /// Fixed-position rules given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A price table is not valid JSON of the expected shape.
    #[error("invalid price table {origin}: {source}")]
    PriceTable {
        /// File path or `<bundled>` / `<string>`.
        origin: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A price entry has a negative or non-finite price.
    #[error("invalid price for {model_id} in {origin}: {reason}")]
    InvalidPrice {
        /// File path or `<bundled>` / `<string>`.
        origin: String,
        /// The model the entry is for.
        model_id: String,
        /// What is wrong.
        reason: String,
    },
    /// A price table file could not be read.
    #[error("cannot read price table {path}: {source}", path = path.display())]
    PriceFile {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}
