//! The planner: what every call of one client shares (configuration, clock, randomness,
//! [`RetryBudget`], [`HealthTracker`]), and the order in which a call's targets are tried.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::plan::CallPlan;
use crate::{
    AccessMethod, Clock, Error, HealthTracker, RandomSource, RegionOrder, RetryBudget, RetryConfig,
    RetryStrategy, SeededRandom, Target,
};

/// Shared retry machinery for one client; creates a [`CallPlan`] per call.
pub struct RetryPlanner {
    pub(crate) config: RetryConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) budget: Option<Arc<RetryBudget>>,
    pub(crate) health: Option<Arc<HealthTracker>>,
    pub(crate) probe_hold: Duration,
    calls: AtomicUsize,
}

impl fmt::Debug for RetryPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPlanner")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("random", &self.random)
            .field("budget", &self.budget)
            .field("health", &self.health)
            .field("calls", &self.calls.load(Ordering::Relaxed))
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
            calls: AtomicUsize::new(0),
        }
    }

    /// Replaces the randomness used for jitter and region shuffling.
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

    /// Orders (model, region) pairs into targets, following the configured strategy and region
    /// order, and picks each pair's access method.
    ///
    /// `models` are in preference order. `access(model, region)` returns the access methods
    /// available for the pair; an empty answer drops the pair (the original's "no access info").
    /// The configured preference is used when available, otherwise the first of direct, regional
    /// profile, global profile. Health is not applied here but in [`RetryPlanner::plan`].
    pub fn order_targets<M, R, F, I>(
        &self,
        models: &[M],
        regions: &[R],
        mut access: F,
    ) -> Vec<Target>
    where
        M: AsRef<str>,
        R: AsRef<str>,
        F: FnMut(&str, &str) -> I,
        I: IntoIterator<Item = AccessMethod>,
    {
        let mut regions: Vec<&str> = regions.iter().map(AsRef::as_ref).collect();
        match self.config.region_order() {
            RegionOrder::Fixed => {}
            RegionOrder::Rotate => {
                let call = self.calls.fetch_add(1, Ordering::Relaxed);
                if !regions.is_empty() {
                    let by = call % regions.len();
                    regions.rotate_left(by);
                }
            }
            RegionOrder::Shuffle => shuffle(&mut regions, self.random.as_ref()),
        }
        let pairs: Vec<(&str, &str)> = match self.config.strategy() {
            RetryStrategy::RegionFirst => models
                .iter()
                .flat_map(|m| regions.iter().map(move |r| (m.as_ref(), *r)))
                .collect(),
            RetryStrategy::ModelFirst => regions
                .iter()
                .flat_map(|r| models.iter().map(move |m| (m.as_ref(), *r)))
                .collect(),
        };
        let preference = self.config.access_method_preference();
        pairs
            .into_iter()
            .filter_map(|(model, region)| {
                let available: Vec<AccessMethod> = access(model, region).into_iter().collect();
                let chosen = preference
                    .filter(|p| available.contains(p))
                    .or_else(|| {
                        AccessMethod::DEFAULT_ORDER
                            .into_iter()
                            .find(|m| available.contains(m))
                    })
                    .or_else(|| available.first().copied())?;
                Some(Target::new(model, region, chosen))
            })
            .collect()
    }

    /// Starts a call over `targets`, tried in the given order except that targets the
    /// [`HealthTracker`] knows to be failing move to the end (healthy, then half-open, then
    /// cooling; cooling targets are never dropped).
    pub fn plan(&self, mut targets: Vec<Target>) -> Result<CallPlan, Error> {
        if targets.is_empty() {
            return Err(Error::NoTargets {
                models: 0,
                regions: 0,
            });
        }
        if let Some(health) = &self.health {
            targets.sort_by_cached_key(|t| health.rank(&t.model, &t.region));
        }
        Ok(CallPlan::new(self, targets))
    }

    /// [`RetryPlanner::order_targets`] then [`RetryPlanner::plan`].
    pub fn plan_call<M, R, F, I>(
        &self,
        models: &[M],
        regions: &[R],
        access: F,
    ) -> Result<CallPlan, Error>
    where
        M: AsRef<str>,
        R: AsRef<str>,
        F: FnMut(&str, &str) -> I,
        I: IntoIterator<Item = AccessMethod>,
    {
        let targets = self.order_targets(models, regions, access);
        if targets.is_empty() {
            return Err(Error::NoTargets {
                models: models.len(),
                regions: regions.len(),
            });
        }
        self.plan(targets)
    }
}

fn shuffle<T>(items: &mut [T], random: &dyn RandomSource) {
    for i in (1..items.len()).rev() {
        let x = random.next_f64();
        let x = if x.is_finite() {
            x.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Truncation is the intent: a uniform index in 0..=i.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "x is in [0, 1]"
        )]
        let j = ((x * (i + 1) as f64) as usize).min(i);
        items.swap(i, j);
    }
}
