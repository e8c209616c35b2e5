//! The crate's single error type.
//!
//! Only configuration and planning can fail here: the retry loop itself never returns an
//! error, it returns a [`GiveUpReason`](crate::GiveUpReason) that the caller turns into its own error.

/// Errors reported by `bedrock-retry`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range (for example a backoff multiplier below 1 or NaN).
    #[error("invalid retry configuration: {field} = {value}: {reason}")]
    InvalidConfig {
        /// The name of the offending setting, as spelled by its `with_*` setter.
        field: &'static str,
        /// The rejected value, rendered for humans.
        value: String,
        /// Why the value was rejected.
        reason: &'static str,
    },
    /// A string did not name a known variant of a configuration enum.
    #[error("unknown {kind} {value:?}; expected one of: {expected}")]
    UnknownVariant {
        /// The enum being parsed, e.g. "retry strategy".
        kind: &'static str,
        /// The rejected input.
        value: String,
        /// The accepted spellings, comma separated.
        expected: &'static str,
    },
    /// A call was planned with no target to try.
    #[error("no retry targets: {models} model(s) x {regions} region(s) produced no usable target")]
    NoTargets {
        /// How many models the caller asked for.
        models: usize,
        /// How many regions the caller asked for.
        regions: usize,
    },
}
