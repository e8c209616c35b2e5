//! Target health: a small circuit breaker per (model, region), shared across calls.
//!
//! Without it, every call would start with a region that has been failing for an hour. A target
//! that fails `failure_threshold` times in a row (throttled, transient or unavailable) becomes
//! [`TargetHealth::Cooling`] for a cool-down period; when that ends it is
//! [`TargetHealth::HalfOpen`] and one probe attempt may go through. A success makes it healthy
//! again; a failed probe sends it back to cooling for longer (exponentially, up to a cap).
//!
//! The planner orders healthy targets first, then half-open ones, then cooling ones. Cooling
//! targets are demoted, never dropped: when they are all that is left, a call still tries them
//! rather than failing without an attempt. Time comes from the injected [`Clock`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::debug;

use crate::{Backoff, Clock, Error, JitterMode};

/// Settings of the [`HealthTracker`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct HealthConfig {
    failure_threshold: u32,
    cool_down: Duration,
    cool_down_multiplier: f64,
    max_cool_down: Duration,
}

impl HealthConfig {
    /// 3 consecutive failures open the breaker for 30 s, doubling per failed probe up to 10 min.
    pub fn standard() -> Self {
        HealthConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(30),
            cool_down_multiplier: 2.0,
            max_cool_down: Duration::from_secs(600),
        }
    }

    /// Sets how many consecutive failures start a cool-down (at least 1).
    pub fn with_failure_threshold(mut self, threshold: u32) -> Self {
        self.failure_threshold = threshold;
        self
    }

    /// Sets the first cool-down period.
    pub fn with_cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }

    /// Sets the factor applied to the cool-down after each failed probe (finite, at least 1).
    pub fn with_cool_down_multiplier(mut self, multiplier: f64) -> Self {
        self.cool_down_multiplier = multiplier;
        self
    }

    /// Sets the cap on the cool-down period.
    pub fn with_max_cool_down(mut self, max: Duration) -> Self {
        self.max_cool_down = max;
        self
    }

    /// Consecutive failures that start a cool-down.
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// The first cool-down period.
    pub fn cool_down(&self) -> Duration {
        self.cool_down
    }

    /// The cool-down multiplier.
    pub fn cool_down_multiplier(&self) -> f64 {
        self.cool_down_multiplier
    }

    /// The cap on the cool-down period.
    pub fn max_cool_down(&self) -> Duration {
        self.max_cool_down
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field, value: String, reason| Error::InvalidConfig {
            field,
            value,
            reason,
        };
        if self.failure_threshold == 0 {
            return Err(invalid(
                "failure_threshold",
                "0".into(),
                "must be at least 1",
            ));
        }
        if !self.cool_down_multiplier.is_finite() || self.cool_down_multiplier < 1.0 {
            return Err(invalid(
                "cool_down_multiplier",
                self.cool_down_multiplier.to_string(),
                "must be finite and at least 1.0",
            ));
        }
        if self.cool_down > self.max_cool_down {
            return Err(invalid(
                "cool_down",
                format!("{:?}", self.cool_down),
                "must not exceed max_cool_down",
            ));
        }
        Ok(())
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<Self, Error> {
        self.validate()?;
        Ok(self)
    }

    fn cool_down_for(&self, trips: u32) -> Duration {
        Backoff::new(
            self.cool_down,
            self.cool_down_multiplier,
            self.max_cool_down,
            JitterMode::None,
        )
        .base_delay(trips)
    }
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig::standard()
    }
}

/// The health of one (model, region) target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetHealth {
    /// No recent run of failures.
    Healthy,
    /// Cool-down is over: one probe attempt may test the target.
    HalfOpen,
    /// Failing; tried only after every other target.
    Cooling {
        /// Time left until the target becomes half-open.
        remaining: Duration,
    },
}

impl TargetHealth {
    /// The ordering rank used by the planner: 0 healthy, 1 half-open, 2 cooling.
    pub fn rank(self) -> u8 {
        match self {
            TargetHealth::Healthy => 0,
            TargetHealth::HalfOpen => 1,
            TargetHealth::Cooling { .. } => 2,
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Entry {
    consecutive_failures: u32,
    /// How many times in a row the breaker opened (1 after the first cool-down).
    trips: u32,
    cooling_until: Option<Duration>,
    probe_started: Option<Duration>,
    /// How long the probe's reservation lasts (at least one base cool-down).
    probe_hold: Duration,
}

/// Whether an attempt may go to a target now; see [`HealthTracker::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// The target is healthy: go.
    Open,
    /// The target is half-open and this attempt is its one probe (now reserved for it).
    Probe,
    /// The target is cooling down, or its probe is already in flight: prefer another target.
    Busy,
}

/// Remembers failing targets across calls. Share one per client through `Arc`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use bedrock_retry::{HealthConfig, HealthTracker, ManualClock, TargetHealth};
///
/// let clock = ManualClock::new();
/// let health = HealthTracker::new(HealthConfig::standard(), Arc::new(clock.clone()));
/// for _ in 0..3 {
///     health.record_failure("claude", "us-east-1");
/// }
/// assert_eq!(health.state("claude", "us-east-1"), TargetHealth::Cooling { remaining: Duration::from_secs(30) });
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(health.state("claude", "us-east-1"), TargetHealth::HalfOpen);
/// health.record_success("claude", "us-east-1");
/// assert_eq!(health.state("claude", "us-east-1"), TargetHealth::Healthy);
/// ```
pub struct HealthTracker {
    config: HealthConfig,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

impl fmt::Debug for HealthTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthTracker")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("tracked", &self.lock().len())
            .finish()
    }
}

impl HealthTracker {
    /// Creates a tracker. The configuration is used as given; call
    /// [`HealthConfig::build`] first to reject bad values.
    pub fn new(config: HealthConfig, clock: Arc<dyn Clock>) -> Self {
        HealthTracker {
            config,
            clock,
            entries: Mutex::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn health_of(entry: Option<&Entry>, now: Duration) -> TargetHealth {
        match entry.and_then(|e| e.cooling_until) {
            None => TargetHealth::Healthy,
            Some(until) if until > now => TargetHealth::Cooling {
                remaining: until - now,
            },
            Some(_) => TargetHealth::HalfOpen,
        }
    }

    /// The current health of a target.
    pub fn state(&self, model: &str, region: &str) -> TargetHealth {
        let now = self.clock.now();
        let entries = self.lock();
        Self::health_of(entries.get(&(model.to_owned(), region.to_owned())), now)
    }

    /// The planner's ordering rank of a target: 0 healthy, 1 half-open with its probe free,
    /// 2 cooling or half-open with a probe already in flight.
    pub fn rank(&self, model: &str, region: &str) -> u8 {
        let now = self.clock.now();
        let entries = self.lock();
        let entry = entries.get(&(model.to_owned(), region.to_owned()));
        match Self::health_of(entry, now) {
            TargetHealth::HalfOpen if self.probe_taken(entry, now) => 2,
            other => other.rank(),
        }
    }

    /// A probe counts as in flight for its hold (at least one base cool-down period), so a call
    /// that never reports its outcome (a cancelled future) cannot block probing forever.
    fn probe_taken(&self, entry: Option<&Entry>, now: Duration) -> bool {
        entry.is_some_and(|e| {
            let hold = e.probe_hold.max(self.config.cool_down);
            e.probe_started
                .is_some_and(|started| now.saturating_sub(started) < hold)
        })
    }

    /// Asks whether an attempt may go to a target now, reserving the probe of a half-open target
    /// for `hold` (at least one base cool-down; pass the attempt's timeout so the reservation
    /// outlives the attempt). The check and the reservation happen under one lock, so of many
    /// calls asking at the same moment exactly one gets the probe.
    pub fn admit(&self, model: &str, region: &str, hold: Duration) -> Admission {
        let now = self.clock.now();
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(&(model.to_owned(), region.to_owned())) else {
            return Admission::Open;
        };
        match Self::health_of(Some(entry), now) {
            TargetHealth::Healthy => Admission::Open,
            TargetHealth::Cooling { .. } => Admission::Busy,
            TargetHealth::HalfOpen if self.probe_taken(Some(entry), now) => Admission::Busy,
            TargetHealth::HalfOpen => {
                entry.probe_started = Some(now);
                entry.probe_hold = hold;
                Admission::Probe
            }
        }
    }

    /// Gives back the probe reservation of a half-open target whose probe attempt ended without
    /// an outcome (it was cancelled, for instance as the loser of a hedged race): the target
    /// stays half-open and the next attempt may probe it at once, rather than after the hold.
    /// A target in any other state is left as it is.
    pub fn release_probe(&self, model: &str, region: &str) {
        let now = self.clock.now();
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(&(model.to_owned(), region.to_owned())) else {
            return;
        };
        if Self::health_of(Some(entry), now) == TargetHealth::HalfOpen
            && entry.probe_started.take().is_some()
        {
            debug!(
                model,
                region, "probe cancelled; the target may be probed again"
            );
        }
    }

    /// Notes that an attempt is about to be sent to a target. Returns `true` when the attempt is
    /// the probe of a half-open target (which is then reserved for it).
    pub fn begin_attempt(&self, model: &str, region: &str) -> bool {
        self.admit(model, region, self.config.cool_down) == Admission::Probe
    }

    /// Records a success: the target becomes healthy.
    pub fn record_success(&self, model: &str, region: &str) {
        if self
            .lock()
            .remove(&(model.to_owned(), region.to_owned()))
            .is_some()
        {
            debug!(model, region, "target healthy again");
        }
    }

    /// Records a failure that counts against the target (throttled, transient, unavailable).
    pub fn record_failure(&self, model: &str, region: &str) {
        let now = self.clock.now();
        let mut entries = self.lock();
        let entry = entries
            .entry((model.to_owned(), region.to_owned()))
            .or_default();
        entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
        let trips = match Self::health_of(Some(entry), now) {
            // A failure reported while cooling (a call that started earlier) changes nothing.
            TargetHealth::Cooling { .. } => return,
            TargetHealth::HalfOpen => entry.trips.saturating_add(1),
            TargetHealth::Healthy
                if entry.consecutive_failures >= self.config.failure_threshold =>
            {
                1
            }
            TargetHealth::Healthy => return,
        };
        let cool_down = self.config.cool_down_for(trips);
        entry.trips = trips;
        entry.probe_started = None;
        entry.cooling_until = Some(now.saturating_add(cool_down));
        debug!(
            model,
            region,
            failures = entry.consecutive_failures,
            trips,
            cool_down_ms = u64::try_from(cool_down.as_millis()).unwrap_or(u64::MAX),
            "target cooling down"
        );
    }

    /// Opens a healthy target's breaker now, as a first trip (one base cool-down), whatever its
    /// failure count: another source saw it fail (for instance, another process of a fleet). A
    /// target already cooling or half-open is left as it is.
    pub fn trip(&self, model: &str, region: &str) {
        let now = self.clock.now();
        let mut entries = self.lock();
        let entry = entries
            .entry((model.to_owned(), region.to_owned()))
            .or_default();
        if Self::health_of(Some(entry), now) != TargetHealth::Healthy {
            return;
        }
        let cool_down = self.config.cool_down_for(1);
        entry.trips = 1;
        entry.probe_started = None;
        entry.cooling_until = Some(now.saturating_add(cool_down));
        debug!(
            model,
            region,
            cool_down_ms = u64::try_from(cool_down.as_millis()).unwrap_or(u64::MAX),
            "target cooling down (tripped)"
        );
    }

    /// Every tracked target that is not healthy, with its state, sorted by model then region.
    pub fn unhealthy(&self) -> Vec<(String, String, TargetHealth)> {
        let now = self.clock.now();
        let entries = self.lock();
        let mut out: Vec<_> = entries
            .iter()
            .filter_map(|((m, r), e)| match Self::health_of(Some(e), now) {
                TargetHealth::Healthy => None,
                h => Some((m.clone(), r.clone(), h)),
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn tracker(clock: &ManualClock) -> HealthTracker {
        HealthTracker::new(
            HealthConfig::standard()
                .with_failure_threshold(3)
                .with_cool_down(Duration::from_secs(10))
                .with_max_cool_down(Duration::from_secs(35))
                .build()
                .unwrap(),
            Arc::new(clock.clone()),
        )
    }

    fn cooling(secs: u64) -> TargetHealth {
        TargetHealth::Cooling {
            remaining: Duration::from_secs(secs),
        }
    }

    #[test]
    fn threshold_opens_the_breaker() {
        let clock = ManualClock::new();
        let h = tracker(&clock);
        h.record_failure("m", "r");
        h.record_failure("m", "r");
        assert_eq!(h.state("m", "r"), TargetHealth::Healthy);
        h.record_failure("m", "r");
        assert_eq!(h.state("m", "r"), cooling(10));
        assert_eq!(h.rank("m", "r"), 2);
        assert_eq!(h.state("m", "other"), TargetHealth::Healthy);
    }

    #[test]
    fn a_trip_opens_the_breaker_at_once_whatever_the_threshold() {
        let clock = ManualClock::new();
        let h = HealthTracker::new(
            HealthConfig::standard()
                .with_failure_threshold(u32::MAX)
                .with_cool_down(Duration::from_secs(10))
                .build()
                .unwrap(),
            Arc::new(clock.clone()),
        );
        h.trip("m", "r");
        assert_eq!(h.state("m", "r"), cooling(10));
        clock.advance(Duration::from_secs(4));
        h.trip("m", "r");
        assert_eq!(
            h.state("m", "r"),
            cooling(6),
            "a cooling target is left as it is"
        );
        clock.advance(Duration::from_secs(6));
        assert_eq!(h.state("m", "r"), TargetHealth::HalfOpen);
        h.trip("m", "r");
        assert_eq!(
            h.state("m", "r"),
            TargetHealth::HalfOpen,
            "so is a half-open one"
        );
        h.record_success("m", "r");
        assert_eq!(h.state("m", "r"), TargetHealth::Healthy);
    }

    #[test]
    fn success_resets_the_count() {
        let clock = ManualClock::new();
        let h = tracker(&clock);
        h.record_failure("m", "r");
        h.record_failure("m", "r");
        h.record_success("m", "r");
        h.record_failure("m", "r");
        h.record_failure("m", "r");
        assert_eq!(h.state("m", "r"), TargetHealth::Healthy);
    }

    #[test]
    fn cool_down_then_half_open_then_healthy() {
        let clock = ManualClock::new();
        let h = tracker(&clock);
        for _ in 0..3 {
            h.record_failure("m", "r");
        }
        clock.advance(Duration::from_secs(4));
        assert_eq!(h.state("m", "r"), cooling(6));
        clock.advance(Duration::from_secs(6));
        assert_eq!(h.state("m", "r"), TargetHealth::HalfOpen);
        assert_eq!(h.rank("m", "r"), 1);
        assert!(h.begin_attempt("m", "r"), "first attempt is the probe");
        assert_eq!(h.rank("m", "r"), 2, "probe in flight");
        assert!(!h.begin_attempt("m", "r"), "only one probe");
        h.record_success("m", "r");
        assert_eq!(h.state("m", "r"), TargetHealth::Healthy);
        assert!(h.unhealthy().is_empty());
    }

    #[test]
    fn failed_probes_cool_longer_up_to_the_cap() {
        let clock = ManualClock::new();
        let h = tracker(&clock);
        for _ in 0..3 {
            h.record_failure("m", "r");
        }
        let mut seen = vec![];
        for _ in 0..4 {
            let TargetHealth::Cooling { remaining } = h.state("m", "r") else {
                panic!("expected cooling");
            };
            seen.push(remaining.as_secs());
            clock.advance(remaining);
            assert_eq!(h.state("m", "r"), TargetHealth::HalfOpen);
            assert!(h.begin_attempt("m", "r"));
            h.record_failure("m", "r");
        }
        assert_eq!(seen, vec![10, 20, 35, 35]);
        assert_eq!(h.unhealthy(), vec![("m".into(), "r".into(), cooling(35))]);
    }

    #[test]
    fn failures_while_cooling_do_not_extend_it() {
        let clock = ManualClock::new();
        let h = tracker(&clock);
        for _ in 0..3 {
            h.record_failure("m", "r");
        }
        clock.advance(Duration::from_secs(5));
        h.record_failure("m", "r");
        assert_eq!(h.state("m", "r"), cooling(5));
    }

    #[test]
    fn abandoned_probe_expires() {
        let clock = ManualClock::new();
        let h = tracker(&clock);
        for _ in 0..3 {
            h.record_failure("m", "r");
        }
        clock.advance(Duration::from_secs(10));
        assert!(h.begin_attempt("m", "r"));
        clock.advance(Duration::from_secs(10));
        assert_eq!(h.rank("m", "r"), 1);
        assert!(h.begin_attempt("m", "r"));
    }

    #[test]
    fn a_released_probe_may_be_taken_again_at_once() {
        let clock = ManualClock::new();
        let h = tracker(&clock);
        h.release_probe("m", "r");
        assert_eq!(
            h.state("m", "r"),
            TargetHealth::Healthy,
            "untracked: no entry"
        );
        for _ in 0..3 {
            h.record_failure("m", "r");
        }
        h.release_probe("m", "r");
        assert_eq!(h.state("m", "r"), cooling(10), "cooling: left as it is");
        clock.advance(Duration::from_secs(10));
        let hold = Duration::from_secs(120);
        assert_eq!(h.admit("m", "r", hold), Admission::Probe);
        assert_eq!(h.admit("m", "r", hold), Admission::Busy, "probe held");
        h.release_probe("m", "r");
        assert_eq!(h.state("m", "r"), TargetHealth::HalfOpen);
        assert_eq!(h.rank("m", "r"), 1, "probe free");
        assert_eq!(h.admit("m", "r", hold), Admission::Probe);
    }

    #[test]
    fn admission_gives_one_probe_and_holds_it_past_the_cool_down() {
        let clock = ManualClock::new();
        let h = tracker(&clock);
        assert_eq!(h.admit("m", "r", Duration::ZERO), Admission::Open);
        for _ in 0..3 {
            h.record_failure("m", "r");
        }
        assert_eq!(
            h.admit("m", "r", Duration::ZERO),
            Admission::Busy,
            "cooling"
        );
        clock.advance(Duration::from_secs(10));
        let hold = Duration::from_secs(120);
        let admitted: Vec<Admission> = (0..5).map(|_| h.admit("m", "r", hold)).collect();
        assert_eq!(
            admitted,
            [
                Admission::Probe,
                Admission::Busy,
                Admission::Busy,
                Admission::Busy,
                Admission::Busy
            ]
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            h.admit("m", "r", hold),
            Admission::Busy,
            "the probe is still within its attempt timeout"
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(h.admit("m", "r", hold), Admission::Probe, "abandoned probe");
    }

    #[test]
    fn rejects_bad_config() {
        assert!(
            HealthConfig::standard()
                .with_failure_threshold(0)
                .build()
                .is_err()
        );
        assert!(
            HealthConfig::standard()
                .with_cool_down_multiplier(0.1)
                .build()
                .is_err()
        );
        assert!(
            HealthConfig::standard()
                .with_cool_down(Duration::from_secs(700))
                .build()
                .is_err()
        );
    }
}
