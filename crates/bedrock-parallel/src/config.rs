//! How a batch runs: concurrency limits, regions, timeouts and when to stop.
//!
//! The fields are public and documented, with honest defaults (no region is invented: the
//! default region list is empty, which lets the service choose).
//! [`ParallelConfig::validate`] is the one place that rejects impossible combinations, and
//! every entry point calls it before running anything.

use std::time::Duration;

use crate::Error;

/// How regions are assigned to requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RegionStrategy {
    /// Each request starts one region further along the list, so every region is primary for
    /// the same share of requests.
    #[default]
    RoundRobin,
    /// Regions with the fewest requests in flight come first (ties: fewest assigned so far,
    /// then list order).
    LeastLoaded,
    /// A seeded shuffle per request, reproducible for a given seed and input order.
    Random {
        /// Seed of the generator.
        seed: u64,
    },
}

/// When a batch stops early.
///
/// Stopping never loses requests: those not yet started end as
/// [`RequestError::Cancelled`](crate::RequestError::Cancelled); those already calling the
/// service run to completion.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Run every request whatever happens.
    #[default]
    Continue,
    /// Stop at the first failed request.
    StopOnFirst,
    /// Stop once at least `min_requests` requests have finished and the share of failures among
    /// them is above `rate`.
    StopAboveRate {
        /// Failure share in `[0, 1]`; stop when strictly above it.
        rate: f64,
        /// Finished requests needed before the rate is judged (at least 1).
        min_requests: usize,
    },
}

/// Whether the streaming form rejects repeated ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StreamDuplicateIds {
    /// Remember every id seen (a `HashSet` of ids, which are small) and end repeats as
    /// [`RequestError::DuplicateId`](crate::RequestError::DuplicateId) without running them.
    #[default]
    Reject,
    /// Trust the caller and keep no memory of ids, so memory stays flat for endless streams.
    Allow,
}

/// Configuration of a parallel batch.
///
/// ```
/// use std::time::Duration;
/// use bedrock_parallel::{FailurePolicy, ParallelConfig, RegionStrategy};
///
/// let config = ParallelConfig::default()
///     .with_regions(["us-east-1", "us-west-2", "eu-west-1"])
///     .with_max_concurrency(64)
///     .with_per_region_concurrency(Some(16))
///     .with_target_regions_per_request(Some(2))
///     .with_distribution(RegionStrategy::LeastLoaded)
///     .with_request_timeout(Some(Duration::from_secs(60)))
///     .with_failure(FailurePolicy::StopAboveRate { rate: 0.5, min_requests: 10 });
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParallelConfig {
    /// Requests in flight at once across the batch (default 32).
    pub max_concurrency: usize,
    /// Requests in flight at once whose primary (first assigned) region is the same region;
    /// `None` (default) means no per-region limit.
    pub per_region_concurrency: Option<usize>,
    /// Regions to spread requests over; empty (default) leaves the choice to the service.
    pub regions: Vec<String>,
    /// Regions assigned to each request; `None` (default) means
    /// `max(1, min(max_concurrency, regions.len()))`, as in the original.
    pub target_regions_per_request: Option<usize>,
    /// How regions are assigned (default round-robin).
    pub distribution: RegionStrategy,
    /// Timeout of one request, including its retries inside the service (default 300 s);
    /// `None` disables it. It counts from the service call, so time spent waiting for a
    /// concurrency slot is not included. The service gets it as [`Placement::deadline`](crate::Placement::deadline)
    /// and should end the request by then itself; the engine's own timer fires a little later
    /// (a tenth of the timeout, at most one second) as a backstop.
    pub request_timeout: Option<Duration>,
    /// When to stop early (default: never).
    pub failure: FailurePolicy,
    /// Whether the service may try regions outside the assignment once those fail (default true).
    pub allow_other_regions: bool,
    /// Duplicate-id handling of the streaming form (default: reject).
    pub stream_duplicate_ids: StreamDuplicateIds,
}

impl Default for ParallelConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 32,
            per_region_concurrency: None,
            regions: Vec::new(),
            target_regions_per_request: None,
            distribution: RegionStrategy::RoundRobin,
            request_timeout: Some(Duration::from_secs(300)),
            failure: FailurePolicy::Continue,
            allow_other_regions: true,
            stream_duplicate_ids: StreamDuplicateIds::Reject,
        }
    }
}

impl ParallelConfig {
    /// Sets [`ParallelConfig::max_concurrency`].
    #[must_use]
    pub fn with_max_concurrency(mut self, value: usize) -> Self {
        self.max_concurrency = value;
        self
    }

    /// Sets [`ParallelConfig::per_region_concurrency`].
    #[must_use]
    pub fn with_per_region_concurrency(mut self, value: Option<usize>) -> Self {
        self.per_region_concurrency = value;
        self
    }

    /// Sets [`ParallelConfig::regions`].
    #[must_use]
    pub fn with_regions<I, R>(mut self, regions: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`ParallelConfig::target_regions_per_request`].
    #[must_use]
    pub fn with_target_regions_per_request(mut self, value: Option<usize>) -> Self {
        self.target_regions_per_request = value;
        self
    }

    /// Sets [`ParallelConfig::distribution`].
    #[must_use]
    pub fn with_distribution(mut self, value: RegionStrategy) -> Self {
        self.distribution = value;
        self
    }

    /// Sets [`ParallelConfig::request_timeout`].
    #[must_use]
    pub fn with_request_timeout(mut self, value: Option<Duration>) -> Self {
        self.request_timeout = value;
        self
    }

    /// Sets [`ParallelConfig::failure`].
    #[must_use]
    pub fn with_failure(mut self, value: FailurePolicy) -> Self {
        self.failure = value;
        self
    }

    /// Sets [`ParallelConfig::allow_other_regions`].
    #[must_use]
    pub fn with_allow_other_regions(mut self, value: bool) -> Self {
        self.allow_other_regions = value;
        self
    }

    /// Sets [`ParallelConfig::stream_duplicate_ids`].
    #[must_use]
    pub fn with_stream_duplicate_ids(mut self, value: StreamDuplicateIds) -> Self {
        self.stream_duplicate_ids = value;
        self
    }

    /// The number of regions each request gets, after applying the default.
    pub fn effective_target_regions(&self) -> usize {
        match self.target_regions_per_request {
            Some(n) => n,
            None if self.regions.is_empty() => 0,
            None => self.max_concurrency.min(self.regions.len()).max(1),
        }
    }

    /// Checks that the configuration can run.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first offending field.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid =
            |field: &'static str, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.max_concurrency == 0 {
            return invalid("max_concurrency", "must be at least 1".into());
        }
        if self.per_region_concurrency == Some(0) {
            return invalid(
                "per_region_concurrency",
                "must be at least 1 when set".into(),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for region in &self.regions {
            if region.trim().is_empty() {
                return invalid("regions", "a region name is empty".into());
            }
            if !seen.insert(region.as_str()) {
                return invalid("regions", format!("region {region} is listed twice"));
            }
        }
        if let Some(n) = self.target_regions_per_request {
            if n > self.regions.len() {
                return invalid(
                    "target_regions_per_request",
                    format!(
                        "{n} regions per request but only {} regions configured",
                        self.regions.len()
                    ),
                );
            }
            if n == 0 && !self.regions.is_empty() {
                return invalid(
                    "target_regions_per_request",
                    "must be at least 1 when regions are configured".into(),
                );
            }
        }
        if let FailurePolicy::StopAboveRate { rate, min_requests } = self.failure {
            if !(0.0..=1.0).contains(&rate) {
                return invalid("failure", format!("rate {rate} is not within [0, 1]"));
            }
            if min_requests == 0 {
                return invalid("failure", "min_requests must be at least 1".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_invalid(config: ParallelConfig, expected_field: &str) {
        match config.validate() {
            Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, expected_field),
            other => panic!("expected invalid {expected_field}, got {other:?}"),
        }
    }

    #[test]
    fn default_is_valid_and_leaves_regions_to_the_service() {
        let c = ParallelConfig::default();
        c.validate().unwrap();
        assert_eq!(c.max_concurrency, 32);
        assert_eq!(c.effective_target_regions(), 0);
    }

    #[test]
    fn default_target_matches_the_original() {
        let c = ParallelConfig::default().with_regions(["a", "b", "c"]);
        assert_eq!(c.effective_target_regions(), 3);
        let c = c.with_max_concurrency(2);
        assert_eq!(c.effective_target_regions(), 2);
    }

    #[test]
    fn rejects_impossible_values() {
        check_invalid(
            ParallelConfig::default().with_max_concurrency(0),
            "max_concurrency",
        );
        check_invalid(
            ParallelConfig::default().with_per_region_concurrency(Some(0)),
            "per_region_concurrency",
        );
        check_invalid(
            ParallelConfig::default().with_regions(["a", "a"]),
            "regions",
        );
        check_invalid(ParallelConfig::default().with_regions([" "]), "regions");
        check_invalid(
            ParallelConfig::default()
                .with_regions(["a"])
                .with_target_regions_per_request(Some(2)),
            "target_regions_per_request",
        );
        check_invalid(
            ParallelConfig::default()
                .with_regions(["a"])
                .with_target_regions_per_request(Some(0)),
            "target_regions_per_request",
        );
        check_invalid(
            ParallelConfig::default().with_failure(FailurePolicy::StopAboveRate {
                rate: 1.5,
                min_requests: 1,
            }),
            "failure",
        );
        check_invalid(
            ParallelConfig::default().with_failure(FailurePolicy::StopAboveRate {
                rate: f64::NAN,
                min_requests: 1,
            }),
            "failure",
        );
        check_invalid(
            ParallelConfig::default().with_failure(FailurePolicy::StopAboveRate {
                rate: 0.5,
                min_requests: 0,
            }),
            "failure",
        );
    }
}
