//! Batch statistics computed from outcomes.
//!
//! The engine cannot see inside responses, so two small traits let the caller's types report
//! the region that served them, token usage and attempt counts: [`ResponseStats`] for
//! responses and [`ErrorStats`] for service errors. Both have defaults, so implementing them
//! takes one empty `impl` block when there is nothing to report.

use std::collections::BTreeMap;
use std::ops::AddAssign;
use std::time::Duration;

use crate::{RequestError, RequestOutcome};

/// Token usage of one response or of a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Usage {
    /// Input tokens not read from or written to the prompt cache.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: u64,
}

impl Usage {
    /// A usage record.
    pub fn new(
        input_tokens: u64,
        output_tokens: u64,
        cache_read_tokens: u64,
        cache_write_tokens: u64,
    ) -> Self {
        Self {
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
        }
    }

    /// All input tokens, cached or not.
    pub fn total_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_write_tokens)
    }

    /// Share of input tokens read from the cache, in `[0, 1]`; `None` without input.
    pub fn cache_hit_ratio(&self) -> Option<f64> {
        let total = self.total_input_tokens();
        (total > 0).then(|| self.cache_read_tokens as f64 / total as f64)
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Self) {
        self.input_tokens = self.input_tokens.saturating_add(rhs.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(rhs.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(rhs.cache_read_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(rhs.cache_write_tokens);
    }
}

/// What a response can tell the statistics. Every method has a default.
///
/// ```
/// use bedrock_parallel::{ResponseStats, Usage};
///
/// struct Answer { region: String, input: u64, output: u64 }
///
/// impl ResponseStats for Answer {
///     fn region(&self) -> Option<&str> { Some(&self.region) }
///     fn usage(&self) -> Option<Usage> { Some(Usage::new(self.input, self.output, 0, 0)) }
/// }
///
/// let answer = Answer { region: "us-east-1".into(), input: 12, output: 3 };
/// assert_eq!(answer.usage().map(|u| u.total_input_tokens()), Some(12));
/// assert_eq!(answer.attempts(), None);
/// ```
pub trait ResponseStats {
    /// The region that served the response.
    fn region(&self) -> Option<&str> {
        None
    }
    /// Token usage of the response.
    fn usage(&self) -> Option<Usage> {
        None
    }
    /// Attempts the service made, counting the successful one.
    fn attempts(&self) -> Option<u32> {
        None
    }
}

/// What a service error can tell the statistics. Every method has a default.
pub trait ErrorStats {
    /// The region of the last attempt.
    fn region(&self) -> Option<&str> {
        None
    }
    /// Attempts the service made before giving up.
    fn attempts(&self) -> Option<u32> {
        None
    }
}

impl ErrorStats for std::io::Error {}

/// Per-request duration summary over the requests that reached the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DurationStats {
    /// Number of durations summarised.
    pub count: usize,
    /// Arithmetic mean.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "average_ms",
            serialize_with = "bedrock_retry::millis::serialize"
        )
    )]
    pub average: Duration,
    /// Shortest.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "min_ms", serialize_with = "bedrock_retry::millis::serialize")
    )]
    pub min: Duration,
    /// Median (nearest rank).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "p50_ms", serialize_with = "bedrock_retry::millis::serialize")
    )]
    pub p50: Duration,
    /// 95th percentile (nearest rank).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "p95_ms", serialize_with = "bedrock_retry::millis::serialize")
    )]
    pub p95: Duration,
    /// Longest.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "max_ms", serialize_with = "bedrock_retry::millis::serialize")
    )]
    pub max: Duration,
}

impl DurationStats {
    /// Summarises durations; percentiles use the nearest-rank method (the smallest value with at
    /// least p% of the values at or below it).
    pub fn from_durations(mut durations: Vec<Duration>) -> Self {
        durations.sort_unstable();
        let count = durations.len();
        if count == 0 {
            return Self::default();
        }
        let total: Duration = durations.iter().sum();
        let rank = |p: usize| {
            let r = (p * count).div_ceil(100).clamp(1, count);
            durations.get(r - 1).copied().unwrap_or_default()
        };
        Self {
            count,
            average: total / u32::try_from(count).unwrap_or(u32::MAX),
            min: durations.first().copied().unwrap_or_default(),
            p50: rank(50),
            p95: rank(95),
            max: durations.last().copied().unwrap_or_default(),
        }
    }
}

/// Counts for one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RegionCounts {
    /// Requests with this region anywhere in their assignment.
    pub assigned: usize,
    /// Requests with this region first in their assignment.
    pub primary: usize,
    /// Successful responses served by this region (as told by [`ResponseStats::region`]).
    pub succeeded: usize,
    /// Service errors whose last attempt was in this region (as told by [`ErrorStats::region`]).
    pub failed: usize,
}

/// Statistics of a finished batch.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BatchStats {
    /// Requests in the batch.
    pub total: usize,
    /// Successful requests.
    pub succeeded: usize,
    /// Requests that reached the service and failed (service error, timeout or panic).
    pub failed: usize,
    /// Of `failed`, those that timed out.
    pub timed_out: usize,
    /// Of `failed`, those that panicked.
    pub panicked: usize,
    /// Requests that never ran (batch stopped, or duplicate id in the streaming form).
    pub not_run: usize,
    /// Wall time of the whole batch.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "total_duration_ms",
            serialize_with = "bedrock_retry::millis::serialize"
        )
    )]
    pub total_duration: Duration,
    /// Durations of the requests that reached the service.
    pub durations: DurationStats,
    /// Per-region counts, by region name.
    pub per_region: BTreeMap<String, RegionCounts>,
    /// Summed usage of the successful responses.
    pub usage: Usage,
    /// Attempts summed over requests that reached the service; one per request whose type does
    /// not report attempts.
    pub attempts: u64,
    /// The most requests in flight at once: the concurrency the batch reached (at most
    /// `max_concurrency`; 0 when the statistics were computed from outcomes alone).
    pub peak_concurrency: usize,
}

impl BatchStats {
    /// Share of successful requests in the batch, in `[0, 1]` (1 for an empty batch).
    pub fn success_rate(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.succeeded as f64 / self.total as f64
        }
    }

    /// Computes the statistics of a set of outcomes.
    pub fn from_outcomes<'a, R, E, I>(outcomes: I, total_duration: Duration) -> Self
    where
        R: ResponseStats + 'a,
        E: ErrorStats + 'a,
        I: IntoIterator<Item = &'a RequestOutcome<R, E>>,
    {
        let mut stats = Self {
            total_duration,
            ..Self::default()
        };
        let mut durations = Vec::new();
        for outcome in outcomes {
            stats.total += 1;
            for (i, region) in outcome.assigned_regions.iter().enumerate() {
                let counts = stats.per_region.entry(region.clone()).or_default();
                counts.assigned += 1;
                if i == 0 {
                    counts.primary += 1;
                }
            }
            if outcome.started() {
                durations.push(outcome.duration);
            }
            match &outcome.result {
                Ok(response) => {
                    stats.succeeded += 1;
                    if let Some(region) = response.region() {
                        stats
                            .per_region
                            .entry(region.to_owned())
                            .or_default()
                            .succeeded += 1;
                    }
                    if let Some(usage) = response.usage() {
                        stats.usage += usage;
                    }
                    stats.attempts += u64::from(response.attempts().unwrap_or(1));
                }
                Err(error) => match error {
                    RequestError::Service { source } => {
                        stats.failed += 1;
                        if let Some(region) = source.region() {
                            stats
                                .per_region
                                .entry(region.to_owned())
                                .or_default()
                                .failed += 1;
                        }
                        stats.attempts += u64::from(source.attempts().unwrap_or(1));
                    }
                    RequestError::Timeout { .. } => {
                        stats.failed += 1;
                        stats.timed_out += 1;
                        stats.attempts += 1;
                    }
                    RequestError::Panicked { .. } => {
                        stats.failed += 1;
                        stats.panicked += 1;
                        stats.attempts += 1;
                    }
                    RequestError::Cancelled { .. }
                    | RequestError::DuplicateId { .. }
                    | RequestError::NotAdmitted { .. } => {
                        stats.not_run += 1;
                    }
                },
            }
        }
        stats.durations = DurationStats::from_durations(durations);
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let d = DurationStats::from_durations((1..=100).rev().map(ms).collect());
        assert_eq!(d.count, 100);
        assert_eq!(d.p50, ms(50));
        assert_eq!(d.p95, ms(95));
        assert_eq!(d.max, ms(100));
        assert_eq!(d.min, ms(1));
        assert_eq!(d.average, Duration::from_micros(50_500));

        let d = DurationStats::from_durations(vec![ms(10), ms(30), ms(20)]);
        assert_eq!((d.p50, d.p95, d.max), (ms(20), ms(30), ms(30)));

        let d = DurationStats::from_durations(vec![ms(7)]);
        assert_eq!((d.p50, d.p95, d.average), (ms(7), ms(7), ms(7)));
        assert_eq!(
            DurationStats::from_durations(vec![]),
            DurationStats::default()
        );
    }

    #[test]
    fn usage_sums_and_cache_ratio() {
        let mut u = Usage::new(10, 5, 30, 0);
        u += Usage::new(10, 5, 0, 50);
        assert_eq!(u, Usage::new(20, 10, 30, 50));
        assert_eq!(u.total_input_tokens(), 100);
        assert_eq!(u.cache_hit_ratio(), Some(0.3));
        assert_eq!(Usage::default().cache_hit_ratio(), None);
    }
}
