//! The planner: what every call of one client shares (configuration, clock, randomness,
//! [`RetryBudget`], [`HealthTracker`]); it demotes failing targets when a call is planned.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::plan::CallPlan;
use crate::{
    Clock, Error, HealthTracker, PlanTarget, RandomSource, RetryBudget, RetryConfig, SeededRandom,
    Target,
};

/// Shared retry machinery for one client; creates a [`CallPlan`] per call.
pub struct RetryPlanner {
    pub(crate) config: RetryConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) budget: Option<Arc<RetryBudget>>,
    pub(crate) health: Option<Arc<HealthTracker>>,
    pub(crate) probe_hold: Duration,
}

impl fmt::Debug for RetryPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPlanner")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("random", &self.random)
            .field("budget", &self.budget)
            .field("health", &self.health)
            .finish()
    }
}

impl RetryPlanner {
    /// Creates a planner with a standard [`RetryBudget`], no [`HealthTracker`], and randomness
    /// seeded from the process's hash keys. The configuration is used as given; call
    /// [`RetryConfig::build`] first to reject bad values.
    pub fn new(config: RetryConfig, clock: Arc<dyn Clock>) -> Self {
        RetryPlanner {
            config,
            clock,
            random: Arc::new(SeededRandom::from_entropy()),
            budget: Some(Arc::new(RetryBudget::standard())),
            health: None,
            probe_hold: Duration::ZERO,
        }
    }

    /// Replaces the randomness used for jitter.
    #[must_use]
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Replaces the retry budget (`None`: retries are limited only by attempts and deadline).
    #[must_use]
    pub fn with_budget(mut self, budget: Option<Arc<RetryBudget>>) -> Self {
        self.budget = budget;
        self
    }

    /// Attaches a health tracker (`None`: no memory of failing targets across calls).
    #[must_use]
    pub fn with_health(mut self, health: Option<Arc<HealthTracker>>) -> Self {
        self.health = health;
        self
    }

    /// Sets how long a half-open target's probe stays reserved for the call that took it: pass
    /// the longest an attempt may run, so no second probe starts while the first is in flight.
    /// The reservation lasts at least the health configuration's base cool-down.
    #[must_use]
    pub fn with_probe_hold(mut self, hold: Duration) -> Self {
        self.probe_hold = hold;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The shared budget, if any.
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.budget.as_ref()
    }

    /// The shared health tracker, if any.
    pub fn health(&self) -> Option<&Arc<HealthTracker>> {
        self.health.as_ref()
    }

    /// Starts a call over `targets`, tried in the given order except that targets the
    /// [`HealthTracker`] knows to be failing move to the end (healthy, then half-open, then
    /// cooling; cooling targets are never dropped).
    pub fn plan<T: PlanTarget>(&self, mut targets: Vec<T>) -> Result<CallPlan<T>, Error> {
        if targets.is_empty() {
            return Err(Error::NoTargets {
                models: 0,
                regions: 0,
            });
        }
        if let Some(health) = &self.health {
            targets.sort_by_cached_key(|t| health.rank(t.model(), t.region()));
        }
        Ok(CallPlan::new(self, targets))
    }

    /// Plans a call over every model in every region, the first model's regions first, as
    /// plain [`Target`]s.
    pub fn plan_call<M, R>(&self, models: &[M], regions: &[R]) -> Result<CallPlan, Error>
    where
        M: AsRef<str>,
        R: AsRef<str>,
    {
        let targets: Vec<Target> = models
            .iter()
            .flat_map(|m| {
                regions
                    .iter()
                    .map(move |r| Target::new(m.as_ref(), r.as_ref()))
            })
            .collect();
        if targets.is_empty() {
            return Err(Error::NoTargets {
                models: models.len(),
                regions: regions.len(),
            });
        }
        self.plan(targets)
    }
}
