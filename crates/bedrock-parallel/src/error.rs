//! Errors that reject a batch before anything runs.
//!
//! Once a batch starts, problems with single requests are reported per request as
//! [`RequestError`](crate::RequestError); this enum covers only the up-front checks, so a
//! caller never gets a half-run batch together with an error.

use crate::RequestId;

/// Why a batch was rejected before any request ran.
///
/// None of these are retryable: they describe the caller's input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two requests in the batch share an id. Not retryable.
    #[error("duplicate request id {id}: at index {first_index} and index {duplicate_index}")]
    DuplicateRequestId {
        /// The repeated id.
        id: RequestId,
        /// Index of the first request with that id.
        first_index: usize,
        /// Index of the second one.
        duplicate_index: usize,
    },
    /// A configuration value is out of range. Not retryable.
    #[error("invalid parallel configuration `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field of [`ParallelConfig`](crate::ParallelConfig).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
