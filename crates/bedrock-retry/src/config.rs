//! Retry configuration: the original's knobs plus jitter, a total deadline and a real attempt cap.
//!
//! [`RetryConfig`] is `#[non_exhaustive]` with private fields: start from
//! [`RetryConfig::standard`] or [`RetryConfig::disabled`], adjust with `with_*` setters, and call
//! [`RetryConfig::build`] to validate.

use std::fmt;
use std::time::Duration;

use crate::{Backoff, Error, JitterMode};

/// Retry settings for one client.
///
/// | Setting | [`standard()`](RetryConfig::standard) | [`disabled()`](RetryConfig::disabled) |
/// |---|---|---|
/// | `max_attempts` (first attempt included) | none: every target once, then `max_retries` more | 1 |
/// | `max_retries` (after every target was tried once) | 3 (the original's `max_retries`) | 0 |
/// | `retry_delay` | 1 s | 1 s |
/// | `backoff_multiplier` | 2.0 | 2.0 |
/// | `max_retry_delay` | 60 s | 60 s |
/// | `jitter` | [`JitterMode::Full`] | [`JitterMode::Full`] |
/// | `total_deadline` | none | none |
/// | `enable_feature_fallback` | true | false |
///
/// By default a call tries every target at least once (as the original does), then up to
/// `max_retries` more attempts cycling through the targets with backoff; feature-fallback retries
/// do not use up that allowance. An explicit `max_attempts` caps every attempt of a call instead,
/// moves to other targets and feature fallbacks included. The total deadline, the retry budget
/// and non-retryable errors end a call earlier either way.
///
/// ```
/// use std::time::Duration;
/// use bedrock_retry::{JitterMode, RetryConfig};
///
/// let config = RetryConfig::standard()
///     .with_max_attempts(6)
///     .with_max_retries(5)
///     .with_jitter(JitterMode::None)
///     .with_total_deadline(Some(Duration::from_secs(120)))
///     .build()?;
/// assert_eq!(config.max_retries(), 5);
///
/// let bad = RetryConfig::standard().with_backoff_multiplier(0.5).build();
/// assert!(bad.is_err());
/// # Ok::<(), bedrock_retry::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct RetryConfig {
    max_attempts: Option<u32>,
    max_retries: u32,
    retry_delay: Duration,
    backoff_multiplier: f64,
    max_retry_delay: Duration,
    jitter: JitterMode,
    total_deadline: Option<Duration>,
    enable_feature_fallback: bool,
}

impl RetryConfig {
    /// The standard settings (see the table above).
    pub fn standard() -> Self {
        RetryConfig {
            max_attempts: None,
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
            backoff_multiplier: 2.0,
            max_retry_delay: Duration::from_secs(60),
            jitter: JitterMode::Full,
            total_deadline: None,
            enable_feature_fallback: true,
        }
    }

    /// A single attempt, no feature fallback.
    pub fn disabled() -> Self {
        RetryConfig::standard()
            .with_max_attempts(1)
            .with_max_retries(0)
            .with_feature_fallback(false)
    }

    /// Caps the number of attempts per call, the first one included (at least 1), whatever the
    /// number of targets.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// Sets how many attempts may follow once every target was tried (the original's
    /// `max_retries`); they cycle through the targets with backoff.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the delay before the first backed-off retry (the original's `retry_delay`).
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Sets the factor applied to the delay after each backed-off retry (finite, at least 1).
    pub fn with_backoff_multiplier(mut self, multiplier: f64) -> Self {
        self.backoff_multiplier = multiplier;
        self
    }

    /// Sets the cap on any single delay, server-requested delays included.
    pub fn with_max_retry_delay(mut self, delay: Duration) -> Self {
        self.max_retry_delay = delay;
        self
    }

    /// Sets how delays are randomised.
    pub fn with_jitter(mut self, jitter: JitterMode) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the total time a call may take across all attempts and delays (`None`: unbounded).
    /// No attempt starts if its delay would end past the deadline.
    pub fn with_total_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.total_deadline = deadline;
        self
    }

    /// Enables or disables retrying the same target without a feature it rejected (see
    /// [`Classification::with_unsupported_feature`](crate::Classification::with_unsupported_feature)).
    pub fn with_feature_fallback(mut self, enabled: bool) -> Self {
        self.enable_feature_fallback = enabled;
        self
    }

    /// The explicit cap on attempts per call, the first one included; `None` means every target
    /// once plus [`max_retries`](RetryConfig::max_retries).
    pub fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// How many attempts may follow once every target was tried.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The number of attempts a call over `targets` targets may make, not counting
    /// `fallbacks` feature-fallback retries (which the default allowance does not charge).
    pub fn attempt_limit(&self, targets: usize, fallbacks: u32) -> u32 {
        match self.max_attempts {
            Some(cap) => cap,
            None => u32::try_from(targets)
                .unwrap_or(u32::MAX)
                .saturating_add(self.max_retries)
                .saturating_add(fallbacks),
        }
    }

    /// The delay before the first backed-off retry.
    pub fn retry_delay(&self) -> Duration {
        self.retry_delay
    }

    /// The backoff multiplier.
    pub fn backoff_multiplier(&self) -> f64 {
        self.backoff_multiplier
    }

    /// The cap on any single delay.
    pub fn max_retry_delay(&self) -> Duration {
        self.max_retry_delay
    }

    /// The jitter mode.
    pub fn jitter(&self) -> JitterMode {
        self.jitter
    }

    /// The total deadline across all attempts, if any.
    pub fn total_deadline(&self) -> Option<Duration> {
        self.total_deadline
    }

    /// Whether feature fallback is enabled.
    pub fn feature_fallback_enabled(&self) -> bool {
        self.enable_feature_fallback
    }

    /// The backoff these settings describe.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(
            self.retry_delay,
            self.backoff_multiplier,
            self.max_retry_delay,
            self.jitter,
        )
    }

    /// Checks every value: `max_attempts` ≥ 1, multiplier finite and ≥ 1,
    /// `retry_delay` ≤ `max_retry_delay`, and a non-zero deadline.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_attempts == Some(0) {
            return Err(invalid(
                "max_attempts",
                0,
                "at least one attempt is required",
            ));
        }
        if !self.backoff_multiplier.is_finite() {
            return Err(invalid(
                "backoff_multiplier",
                self.backoff_multiplier,
                "must be finite",
            ));
        }
        if self.backoff_multiplier < 1.0 {
            return Err(invalid(
                "backoff_multiplier",
                self.backoff_multiplier,
                "must be at least 1.0 so delays never shrink",
            ));
        }
        if self.retry_delay > self.max_retry_delay {
            return Err(invalid(
                "retry_delay",
                format_args!(
                    "{:?} > max_retry_delay {:?}",
                    self.retry_delay, self.max_retry_delay
                ),
                "must not exceed max_retry_delay",
            ));
        }
        if self.total_deadline == Some(Duration::ZERO) {
            return Err(invalid(
                "total_deadline",
                "0s",
                "must be positive (use None for no deadline)",
            ));
        }
        Ok(())
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<Self, Error> {
        self.validate()?;
        Ok(self)
    }
}

fn invalid(field: &'static str, value: impl fmt::Display, reason: &'static str) -> Error {
    Error::InvalidConfig {
        field,
        value: value.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_invalid(config: RetryConfig, field: &str) {
        match config.build() {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected InvalidConfig for {field}, got {other:?}"),
        }
    }

    #[test]
    fn standard_matches_the_original() {
        let c = RetryConfig::standard().build().unwrap();
        assert_eq!(c.max_retries(), 3);
        assert_eq!(c.max_attempts(), None);
        assert_eq!(
            c.attempt_limit(1, 0),
            4,
            "one target: the original's 3 retries + 1"
        );
        assert_eq!(
            c.attempt_limit(6, 0),
            9,
            "every target once, then 3 retries"
        );
        assert_eq!(
            c.attempt_limit(6, 2),
            11,
            "feature fallbacks are not charged"
        );
        assert_eq!(c.retry_delay(), Duration::from_secs(1));
        assert_eq!(c.backoff_multiplier(), 2.0);
        assert_eq!(c.max_retry_delay(), Duration::from_secs(60));
        assert!(c.feature_fallback_enabled());
    }

    #[test]
    fn disabled_is_one_attempt() {
        let c = RetryConfig::disabled().build().unwrap();
        assert_eq!(c.max_attempts(), Some(1));
        assert_eq!(c.attempt_limit(6, 0), 1);
        assert!(!c.feature_fallback_enabled());
    }

    #[test]
    fn rejects_bad_values() {
        check_invalid(RetryConfig::standard().with_max_attempts(0), "max_attempts");
        check_invalid(
            RetryConfig::standard().with_backoff_multiplier(0.99),
            "backoff_multiplier",
        );
        check_invalid(
            RetryConfig::standard().with_backoff_multiplier(f64::NAN),
            "backoff_multiplier",
        );
        check_invalid(
            RetryConfig::standard().with_backoff_multiplier(f64::INFINITY),
            "backoff_multiplier",
        );
        check_invalid(
            RetryConfig::standard().with_retry_delay(Duration::from_secs(61)),
            "retry_delay",
        );
        check_invalid(
            RetryConfig::standard().with_total_deadline(Some(Duration::ZERO)),
            "total_deadline",
        );
    }

    #[test]
    fn max_retries_saturates() {
        assert_eq!(
            RetryConfig::standard()
                .with_max_retries(u32::MAX)
                .attempt_limit(usize::MAX, u32::MAX),
            u32::MAX
        );
    }
}
