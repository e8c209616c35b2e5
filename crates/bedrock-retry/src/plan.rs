//! Strategy: the second of the four retry parts. Which target to try next, after what delay, and
//! when to stop.
//!
//! [`RetryPlanner`] lives as long as a client and holds what calls share (configuration, clock,
//! randomness, [`RetryBudget`], [`HealthTracker`]). For each call it orders the targets and returns
//! a [`CallPlan`], an explicit state machine: ask it for the next [`Decision`], make the attempt,
//! report the outcome, repeat. The plan does no IO and never sleeps, so the same loop serves
//! blocking and async callers and tests can drive it step by step.
//!
//! After a failure the plan checks its stop conditions in a fixed order, logging each stop at
//! `debug!` with the attempt number and the reason:
//!
//! 1. not retryable ([`ErrorClass::BadRequest`] without an applicable feature fallback,
//!    [`ErrorClass::ContentBlocked`]), or no target left;
//! 2. attempts used up (`max_attempts`);
//! 3. the total deadline would be exceeded by the time the next attempt starts (this needs the
//!    delay, so the delay is computed first, without side effects);
//! 4. no budget tokens (only after throttled or transient failures);
//! 5. otherwise the next attempt is scheduled with its delay.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tracing::debug;

use crate::{
    AccessMethod, Backoff, Classification, Classify, Clock, Error, ErrorClass, Feature,
    HealthTracker, RandomSource, RegionOrder, RetryBudget, RetryConfig, RetryStrategy,
    SeededRandom, Sleep, Target,
};

/// Shared retry machinery for one client; creates a [`CallPlan`] per call.
pub struct RetryPlanner {
    config: RetryConfig,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    budget: Option<Arc<RetryBudget>>,
    health: Option<Arc<HealthTracker>>,
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
    pub fn order_targets<M, R, F, I>(&self, models: &[M], regions: &[R], mut access: F) -> Vec<Target>
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
    pub fn plan_call<M, R, F, I>(&self, models: &[M], regions: &[R], access: F) -> Result<CallPlan, Error>
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
        let x = if x.is_finite() { x.clamp(0.0, 1.0) } else { 0.0 };
        // Truncation is the intent: a uniform index in 0..=i.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "x is in [0, 1]")]
        let j = ((x * (i + 1) as f64) as usize).min(i);
        items.swap(i, j);
    }
}

/// One attempt to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Where to send it.
    pub target: Target,
    /// 1-based number of this attempt within the call.
    pub attempt_number: u32,
    /// How long to wait before sending it.
    pub delay: Duration,
    /// Features to strip from the request (feature fallback), in the order they were disabled.
    pub disabled_features: Vec<Feature>,
}

/// Why a call stopped without success.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The last failure is not retried (see [`ErrorClass`]).
    NotRetryable {
        /// The class of the last failure.
        class: ErrorClass,
    },
    /// Every target was skipped as unavailable.
    TargetsExhausted {
        /// How many targets the call had.
        targets: usize,
    },
    /// `max_attempts` attempts were made.
    AttemptsExhausted {
        /// The configured cap.
        max_attempts: u32,
    },
    /// The next attempt would start after the total deadline.
    DeadlineExceeded {
        /// The configured deadline.
        deadline: Duration,
        /// Time already spent on the call.
        elapsed: Duration,
        /// The delay the next attempt would have needed.
        next_delay: Duration,
    },
    /// The shared retry budget holds too few tokens.
    BudgetExhausted {
        /// Tokens the retry needed.
        needed: u32,
        /// Tokens available.
        available: u32,
    },
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::NotRetryable { class } => write!(f, "{class} errors are not retried"),
            GiveUpReason::TargetsExhausted { targets } => {
                write!(f, "all {targets} target(s) are unavailable")
            }
            GiveUpReason::AttemptsExhausted { max_attempts } => {
                write!(f, "{max_attempts} attempt(s) used")
            }
            GiveUpReason::DeadlineExceeded {
                deadline,
                elapsed,
                next_delay,
            } => write!(
                f,
                "deadline of {deadline:?} would be exceeded ({elapsed:?} elapsed, next delay {next_delay:?})"
            ),
            GiveUpReason::BudgetExhausted { needed, available } => write!(
                f,
                "retry budget exhausted ({needed} token(s) needed, {available} available)"
            ),
        }
    }
}

/// What the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// Sleep for `attempt.delay`, then make this attempt and report its outcome.
    Attempt(Attempt),
    /// The last attempt succeeded; the call is over.
    Succeeded,
    /// The call is over without success.
    GiveUp(GiveUpReason),
}

/// The outcome of one attempt, as reported to [`CallPlan::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The attempt succeeded.
    Success,
    /// The attempt failed.
    Failure {
        /// The classified error.
        classification: Classification,
        /// A human-readable description of the error, kept in the [`AttemptRecord`].
        message: String,
    },
}

/// What happened in one attempt; the plan keeps one per attempt, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// Where it was sent.
    pub target: Target,
    /// 1-based attempt number.
    pub attempt_number: u32,
    /// The delay the caller was asked to wait before it.
    pub delay_before: Duration,
    /// Features stripped from the request.
    pub disabled_features: Vec<Feature>,
    /// The failure class, `None` on success.
    pub class: Option<ErrorClass>,
    /// The error message, `None` on success.
    pub message: Option<String>,
    /// Time from the end of the delay to the reported outcome, measured on the planner's clock.
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Next {
    index: usize,
    delay: Duration,
    tokens: u32,
}

#[derive(Debug)]
struct Pending {
    attempt: Attempt,
    index: usize,
    started: Duration,
    tokens: u32,
}

#[derive(Debug, Clone)]
enum State {
    Ready(Next),
    InFlight,
    Succeeded,
    GaveUp(GiveUpReason),
}

/// The retry state machine of one call. Created by [`RetryPlanner::plan`].
///
/// Call [`CallPlan::next_decision`]; on [`Decision::Attempt`], wait for its delay, make the attempt
/// and report it with [`CallPlan::record_success`] or [`CallPlan::record_failure`]. Asking again
/// before reporting returns the same attempt. Reports without an attempt in flight are ignored.
pub struct CallPlan {
    config: RetryConfig,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    budget: Option<Arc<RetryBudget>>,
    health: Option<Arc<HealthTracker>>,
    targets: Vec<Target>,
    skipped: Vec<bool>,
    tried: Vec<bool>,
    started_at: Duration,
    attempts: u32,
    backoff_retries: u32,
    disabled: Vec<Feature>,
    state: State,
    pending: Option<Pending>,
    records: Vec<AttemptRecord>,
}

impl fmt::Debug for CallPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallPlan")
            .field("targets", &self.targets)
            .field("skipped", &self.skipped)
            .field("attempts", &self.attempts)
            .field("disabled", &self.disabled)
            .field("state", &self.state)
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl CallPlan {
    fn new(planner: &RetryPlanner, targets: Vec<Target>) -> Self {
        let n = targets.len();
        CallPlan {
            backoff: planner.config.backoff(),
            config: planner.config.clone(),
            clock: Arc::clone(&planner.clock),
            random: Arc::clone(&planner.random),
            budget: planner.budget.clone(),
            health: planner.health.clone(),
            targets,
            skipped: vec![false; n],
            tried: vec![false; n],
            started_at: planner.clock.now(),
            attempts: 0,
            backoff_retries: 0,
            disabled: Vec::new(),
            state: State::Ready(Next {
                index: 0,
                delay: Duration::ZERO,
                tokens: 0,
            }),
            pending: None,
            records: Vec::new(),
        }
    }

    /// The targets of this call, in the order they are tried.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Features disabled so far by feature fallback.
    pub fn disabled_features(&self) -> &[Feature] {
        &self.disabled
    }

    /// Every attempt made so far.
    pub fn records(&self) -> &[AttemptRecord] {
        &self.records
    }

    /// Consumes the plan and returns its attempt records.
    pub fn into_records(self) -> Vec<AttemptRecord> {
        self.records
    }

    /// How many attempts were started.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time elapsed since the plan was created, on the planner's clock.
    pub fn elapsed(&self) -> Duration {
        self.clock.now().saturating_sub(self.started_at)
    }

    /// The next thing to do.
    pub fn next_decision(&mut self) -> Decision {
        if let Some(p) = &self.pending {
            return Decision::Attempt(p.attempt.clone());
        }
        let next = match &self.state {
            State::Ready(next) => *next,
            State::Succeeded => return Decision::Succeeded,
            State::GaveUp(reason) => return Decision::GiveUp(reason.clone()),
            // In flight without a pending attempt cannot happen; treat it as nothing to do.
            State::InFlight => return Decision::Succeeded,
        };
        let Some(target) = self.targets.get(next.index).cloned() else {
            return self.stop(GiveUpReason::TargetsExhausted {
                targets: self.targets.len(),
            });
        };
        self.attempts = self.attempts.saturating_add(1);
        if let Some(t) = self.tried.get_mut(next.index) {
            *t = true;
        }
        if let Some(health) = &self.health
            && health.begin_attempt(&target.model, &target.region)
        {
            debug!(attempt = self.attempts, target = %target, "half-open probe");
        }
        let attempt = Attempt {
            target,
            attempt_number: self.attempts,
            delay: next.delay,
            disabled_features: self.disabled.clone(),
        };
        self.pending = Some(Pending {
            attempt: attempt.clone(),
            index: next.index,
            started: self.clock.now().saturating_add(next.delay),
            tokens: next.tokens,
        });
        self.state = State::InFlight;
        Decision::Attempt(attempt)
    }

    /// Reports an outcome of the attempt in flight.
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.record_success(),
            Outcome::Failure {
                classification,
                message,
            } => self.record_failure(classification, message),
        }
    }

    fn take_pending(&mut self, class: Option<ErrorClass>, message: Option<String>) -> Option<Pending> {
        let Some(p) = self.pending.take() else {
            debug!(attempts = self.attempts, "outcome reported with no attempt in flight; ignored");
            return None;
        };
        self.records.push(AttemptRecord {
            target: p.attempt.target.clone(),
            attempt_number: p.attempt.attempt_number,
            delay_before: p.attempt.delay,
            disabled_features: p.attempt.disabled_features.clone(),
            class,
            message,
            duration: self.clock.now().saturating_sub(p.started),
        });
        Some(p)
    }

    /// Reports that the attempt in flight succeeded.
    pub fn record_success(&mut self) {
        let Some(p) = self.take_pending(None, None) else {
            return;
        };
        if let Some(health) = &self.health {
            health.record_success(&p.attempt.target.model, &p.attempt.target.region);
        }
        if let Some(budget) = &self.budget {
            if p.tokens > 0 {
                budget.refund(p.tokens);
            } else {
                budget.reward_success();
            }
        }
        self.state = State::Succeeded;
    }

    /// Reports that the attempt in flight failed, and decides what comes next.
    pub fn record_failure(&mut self, classification: Classification, message: impl Into<String>) {
        let class = classification.class();
        let Some(p) = self.take_pending(Some(class), Some(message.into())) else {
            return;
        };
        let target = &p.attempt.target;
        if let Some(health) = &self.health
            && class.counts_against_target()
        {
            health.record_failure(&target.model, &target.region);
        }

        // 1. Not retryable, or nothing left to try.
        let index = match class {
            ErrorClass::BadRequest => {
                match classification.unsupported_feature() {
                    Some(feature)
                        if self.config.feature_fallback_enabled()
                            && !self.disabled.contains(&feature) =>
                    {
                        debug!(attempt = p.attempt.attempt_number, %feature, "feature fallback: retrying without it");
                        self.disabled.push(feature);
                        p.index
                    }
                    _ => return self.set_stop(GiveUpReason::NotRetryable { class }),
                }
            }
            ErrorClass::ContentBlocked => {
                return self.set_stop(GiveUpReason::NotRetryable { class });
            }
            ErrorClass::TargetUnavailable => {
                if let Some(s) = self.skipped.get_mut(p.index) {
                    *s = true;
                }
                match self.next_index(p.index) {
                    Some(i) => i,
                    None => {
                        return self.set_stop(GiveUpReason::TargetsExhausted {
                            targets: self.targets.len(),
                        });
                    }
                }
            }
            ErrorClass::Throttled | ErrorClass::Transient => match self.next_index(p.index) {
                Some(i) => i,
                None => {
                    return self.set_stop(GiveUpReason::TargetsExhausted {
                        targets: self.targets.len(),
                    });
                }
            },
        };

        // 2. Attempts used up.
        let max_attempts = self.config.max_attempts();
        if self.attempts >= max_attempts {
            return self.set_stop(GiveUpReason::AttemptsExhausted { max_attempts });
        }

        // 3. Deadline (needs the delay, computed here without side effects).
        let fallback = class == ErrorClass::BadRequest;
        let backs_off = !fallback && self.tried.get(index).copied().unwrap_or(false);
        let delay = if backs_off {
            let hint = classification.retry_after().filter(|_| index == p.index);
            self.backoff.delay_with_hint(
                self.backoff_retries.saturating_add(1),
                hint,
                self.random.as_ref(),
            )
        } else {
            Duration::ZERO
        };
        if let Some(deadline) = self.config.total_deadline() {
            let elapsed = self.elapsed();
            if elapsed.saturating_add(delay) >= deadline {
                return self.set_stop(GiveUpReason::DeadlineExceeded {
                    deadline,
                    elapsed,
                    next_delay: delay,
                });
            }
        }

        // 4. Budget.
        let mut tokens = 0;
        if let Some(budget) = &self.budget
            && !fallback
        {
            match budget.try_acquire(class) {
                Some(t) => tokens = t,
                None => {
                    let reason = GiveUpReason::BudgetExhausted {
                        needed: budget.cost_for(class),
                        available: budget.available(),
                    };
                    return self.set_stop(reason);
                }
            }
        }

        // 5. Schedule.
        if backs_off {
            self.backoff_retries = self.backoff_retries.saturating_add(1);
        }
        self.state = State::Ready(Next {
            index,
            delay,
            tokens,
        });
    }

    /// The next target not skipped after `current`, wrapping around; `current` itself comes last.
    fn next_index(&self, current: usize) -> Option<usize> {
        let n = self.targets.len();
        (1..=n)
            .map(|step| (current + step) % n)
            .find(|&i| !self.skipped.get(i).copied().unwrap_or(true))
    }

    fn set_stop(&mut self, reason: GiveUpReason) {
        debug!(attempt = self.attempts, %reason, "retry stopped");
        self.state = State::GaveUp(reason);
    }

    fn stop(&mut self, reason: GiveUpReason) -> Decision {
        self.set_stop(reason.clone());
        Decision::GiveUp(reason)
    }

    /// Drives the whole call: sleeps through `sleep`, calls `call` for each attempt, classifies its
    /// errors with `classifier`, and returns the value or the reason for giving up, with the
    /// attempt records either way.
    ///
    /// The error's `Display` text becomes the record's message.
    pub async fn run<T, E, F, Fut>(
        mut self,
        sleep: &dyn Sleep,
        classifier: &dyn Classify<E>,
        mut call: F,
    ) -> Result<Succeeded<T>, Exhausted<E>>
    where
        E: fmt::Display + 'static,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut last_error = None;
        loop {
            match self.next_decision() {
                Decision::Attempt(attempt) => {
                    if !attempt.delay.is_zero() {
                        sleep.sleep(attempt.delay).await;
                    }
                    match call(attempt.clone()).await {
                        Ok(value) => {
                            self.record_success();
                            return Ok(Succeeded {
                                value,
                                attempt,
                                records: self.records,
                            });
                        }
                        Err(error) => {
                            self.record_failure(classifier.classify(&error), error.to_string());
                            last_error = Some(error);
                        }
                    }
                }
                Decision::Succeeded => {
                    // Unreachable in this loop: success returns above.
                    return Err(Exhausted {
                        reason: GiveUpReason::AttemptsExhausted {
                            max_attempts: self.attempts,
                        },
                        last_error,
                        records: self.records,
                    });
                }
                Decision::GiveUp(reason) => {
                    return Err(Exhausted {
                        reason,
                        last_error,
                        records: self.records,
                    });
                }
            }
        }
    }
}

/// A successful [`CallPlan::run`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Succeeded<T> {
    /// The value returned by the successful attempt.
    pub value: T,
    /// The successful attempt (target, number, disabled features).
    pub attempt: Attempt,
    /// Every attempt, the successful one last.
    pub records: Vec<AttemptRecord>,
}

/// A [`CallPlan::run`] that gave up.
#[derive(Debug)]
#[non_exhaustive]
pub struct Exhausted<E> {
    /// Why the call stopped.
    pub reason: GiveUpReason,
    /// The last error returned by an attempt, if any attempt ran.
    pub last_error: Option<E>,
    /// Every attempt, in order.
    pub records: Vec<AttemptRecord>,
}
