//! Strategy: the second of the four retry parts. Which target to try next, after what delay, and
//! when to stop.
//!
//! [`RetryPlanner`] (in `planner.rs`) lives as long as a client and holds what calls share; for
//! each call it returns a [`CallPlan`], an explicit state machine: ask it for the next [`Decision`], make the attempt,
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
use std::time::Duration;

use tracing::debug;

use crate::planner::RetryPlanner;

mod hedge;
use crate::{
    Admission, Backoff, Classification, Classify, Clock, ErrorClass, HealthTracker, PlanTarget,
    RandomSource, RetryBudget, RetryConfig, Sleep, Target,
};
pub use hedge::HedgePolicy;

/// One attempt to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt<T = Target> {
    /// Where to send it.
    pub target: T,
    /// 1-based number of this attempt within the call.
    pub attempt_number: u32,
    /// How long to wait before sending it.
    pub delay: Duration,
    /// Features to strip from the request for this target's model (feature fallback), by the
    /// names the classifier gave them, in the order they were disabled. Another model of the same
    /// call keeps them.
    pub disabled_features: Vec<&'static str>,
    /// Time left before the call's total deadline once the delay is over (`None`: no deadline).
    /// The attempt should not run longer than this.
    pub time_left: Option<Duration>,
    /// Whether this attempt is the one probe of a half-open target.
    pub probe: bool,
    /// Why the attempt goes to its target (also in its [`AttemptRecord`]).
    pub route: Route,
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
    /// The attempt limit was reached.
    AttemptsExhausted {
        /// The limit: the explicit `max_attempts`, or every target once plus `max_retries`.
        max_attempts: u32,
    },
    /// The next attempt would start at or after the total deadline.
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
                "deadline of {deadline:?} reached ({elapsed:?} elapsed, next delay {next_delay:?})"
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
pub enum Decision<T = Target> {
    /// Sleep for `attempt.delay`, then make this attempt and report its outcome with
    /// [`CallPlan::record_success`] (which ends the call) or [`CallPlan::record_failure`].
    Attempt(Attempt<T>),
    /// The call is over without success.
    GiveUp(GiveUpReason),
}

/// What happened in one attempt; the plan keeps one per attempt, in order.
///
/// With the `serde` feature it serialises with its durations in milliseconds
/// (`delay_before_ms`, `duration_ms`) and its class by name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AttemptRecord<T = Target> {
    /// Where it was sent.
    pub target: T,
    /// 1-based attempt number.
    pub attempt_number: u32,
    /// The delay the caller was asked to wait before it.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "delay_before_ms",
            serialize_with = "crate::millis::serialize"
        )
    )]
    pub delay_before: Duration,
    /// Features stripped from the request, by name.
    pub disabled_features: Vec<&'static str>,
    /// The failure class, `None` on success.
    pub class: Option<ErrorClass>,
    /// The error message, `None` on success.
    pub message: Option<String>,
    /// Time from the end of the delay to the reported outcome, measured on the planner's clock.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "duration_ms", serialize_with = "crate::millis::serialize")
    )]
    pub duration: Duration,
    /// Why the attempt went to its target: the call's order, cache affinity, a hedge (a copy of
    /// the request sent to another target while an earlier attempt was still in flight,
    /// [`CallPlan::run_hedged`]), or a rerun.
    pub route: Route,
    /// Set when this attempt lost a hedged race: it is neither the call's answer nor a failure
    /// (`class` is `None`, `message` says which attempt won).
    pub lost: Option<HedgeLoss>,
}

/// Why an attempt went to its target: the one routing decision each attempt record carries.
///
/// With the `serde` feature it serialises as `order`, `affinity`, `hedge` or `rerun`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Route {
    /// The call's order: the next target by strategy, preferred regions, observed latency and
    /// health, or the same target again (backoff, a feature fallback).
    #[default]
    Order,
    /// Put first by the caller because it likely holds the request's cached prefix (cache
    /// affinity; [`CallPlan::with_first_route`]).
    Affinity,
    /// A copy of an attempt that had not answered (a stream: delivered no event), racing it
    /// ([`CallPlan::run_hedged`]).
    Hedge,
    /// The first attempt of a request run again after its call failed, placed away from the
    /// targets that failed it.
    Rerun,
}

impl Route {
    /// The name it serialises as.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Order => "order",
            Route::Affinity => "affinity",
            Route::Hedge => "hedge",
            Route::Rerun => "rerun",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an attempt that lost a hedged race ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum HedgeLoss {
    /// It was still in flight when the other attempt answered or committed (a stream that
    /// delivered its first event): its future was dropped, which closes its connection, and none
    /// of its answer was used.
    Cancelled,
    /// It answered in the same instant as the winner; its answer was read and discarded (paid
    /// for but not used).
    Discarded,
}

/// The next attempt, once scheduled.
#[derive(Debug, Clone, Copy)]
struct Next {
    index: usize,
    delay: Duration,
    tokens: u32,
}

/// The attempt in flight: what was handed out and what its report needs.
#[derive(Debug, Clone)]
struct InFlight<T> {
    attempt: Attempt<T>,
    index: usize,
    started: Duration,
    tokens: u32,
}

impl<T: Clone> InFlight<T> {
    /// The record of this attempt, ended at `now`.
    fn record(
        &self,
        now: Duration,
        class: Option<ErrorClass>,
        message: Option<String>,
        lost: Option<HedgeLoss>,
    ) -> AttemptRecord<T> {
        AttemptRecord {
            target: self.attempt.target.clone(),
            attempt_number: self.attempt.attempt_number,
            delay_before: self.attempt.delay,
            disabled_features: self.attempt.disabled_features.clone(),
            class,
            message,
            duration: now.saturating_sub(self.started),
            route: self.attempt.route,
            lost,
        }
    }
}

#[derive(Debug, Clone)]
enum State<T> {
    Ready(Next),
    InFlight(InFlight<T>),
    GaveUp(GiveUpReason),
}

/// The retry state machine of one call. Created by [`RetryPlanner::plan`].
///
/// [`CallPlan::run`] drives the whole call. To drive it by hand, call [`CallPlan::next_decision`];
/// on [`Decision::Attempt`], wait for its delay, make the attempt and report it with
/// [`CallPlan::record_success`] (which consumes the plan and returns the records) or
/// [`CallPlan::record_failure`]. Asking again before reporting returns the same attempt; a failure
/// reported with no attempt in flight is ignored.
///
/// After a failure, the stop conditions are checked in this fixed order, and each stop is logged
/// at `debug!` with the attempt number and the reason:
///
/// 1. not retryable ([`ErrorClass::BadRequest`] without an applicable feature fallback,
///    [`ErrorClass::ContentBlocked`], [`ErrorClass::Credentials`]), or every target skipped as
///    unavailable;
/// 2. attempts used up ([`RetryConfig::attempt_limit`]: by default every target once, then
///    [`RetryConfig::max_retries`] more);
/// 3. the next attempt would start at or after the total deadline (this needs the delay, which is
///    therefore computed first, without side effects);
/// 4. the shared [`RetryBudget`] has too few tokens (only after throttled or transient failures);
/// 5. otherwise the next attempt is scheduled with its delay.
///
/// Delays: moving to a target not yet tried in this call needs no delay; coming back to a target
/// already tried (the only target, or a full cycle) waits for the next backoff step, or for the
/// server's retry-after when it is the same target that asked for it. A feature fallback retries
/// at once, and the feature stays disabled for that model only.
///
/// Health: before an attempt goes to a target, the [`HealthTracker`] is asked to admit it. A
/// target that cools down, or whose half-open probe another call holds, yields its turn to the
/// next target this call has not tried yet that is admitted; when none is, it is tried anyway
/// (cooling targets are demoted, never dropped).
pub struct CallPlan<T = Target> {
    config: RetryConfig,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    budget: Option<Arc<RetryBudget>>,
    health: Option<Arc<HealthTracker>>,
    probe_hold: Duration,
    targets: Vec<T>,
    skipped: Vec<bool>,
    tried: Vec<bool>,
    started_at: Duration,
    attempts: u32,
    fallbacks: u32,
    backoff_retries: u32,
    disabled: Vec<(String, &'static str)>,
    state: State<T>,
    records: Vec<AttemptRecord<T>>,
    /// Why the caller put a target first: the route of the call's first attempt, if it goes there.
    first_route: Option<(T, Route)>,
}

impl<T: PlanTarget> fmt::Debug for CallPlan<T> {
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

impl<T: PlanTarget> CallPlan<T> {
    pub(crate) fn new(planner: &RetryPlanner, targets: Vec<T>) -> Self {
        let n = targets.len();
        CallPlan {
            backoff: planner.config.backoff(),
            config: planner.config.clone(),
            clock: Arc::clone(&planner.clock),
            random: Arc::clone(&planner.random),
            budget: planner.budget.clone(),
            health: planner.health.clone(),
            probe_hold: planner.probe_hold,
            targets,
            skipped: vec![false; n],
            tried: vec![false; n],
            started_at: planner.clock.now(),
            attempts: 0,
            fallbacks: 0,
            backoff_retries: 0,
            disabled: Vec::new(),
            state: State::Ready(Next {
                index: 0,
                delay: Duration::ZERO,
                tokens: 0,
            }),
            records: Vec::new(),
            first_route: None,
        }
    }

    /// Records why the caller put `target` first: the call's first attempt, when it goes to
    /// `target` (the health check may have demoted it), carries `route` in its record instead of
    /// [`Route::Order`].
    #[must_use]
    pub fn with_first_route(mut self, target: T, route: Route) -> Self {
        self.first_route = Some((target, route));
        self
    }

    /// The route of a new attempt (not a hedge).
    fn route_of(&self, attempt: &Attempt<T>) -> Route {
        match &self.first_route {
            Some((target, route)) if attempt.attempt_number == 1 && *target == attempt.target => {
                *route
            }
            _ => Route::Order,
        }
    }

    /// Bounds this call by `deadline` from its start, or by the configured total deadline when
    /// that is shorter.
    #[must_use]
    pub fn with_total_deadline(mut self, deadline: Duration) -> Self {
        let bounded = self
            .config
            .total_deadline()
            .map_or(deadline, |d| d.min(deadline));
        self.config = self.config.with_total_deadline(Some(bounded));
        self
    }

    /// The targets of this call, in the order they are tried.
    pub fn targets(&self) -> &[T] {
        &self.targets
    }

    /// Features disabled so far by feature fallback for `model`, in order.
    pub fn disabled_features(&self, model: &str) -> Vec<&'static str> {
        self.disabled
            .iter()
            .filter(|(m, _)| m == model)
            .map(|(_, f)| *f)
            .collect()
    }

    /// Every attempt reported so far.
    pub fn records(&self) -> &[AttemptRecord<T>] {
        &self.records
    }

    /// Consumes the plan and returns its attempt records.
    pub fn into_records(self) -> Vec<AttemptRecord<T>> {
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

    /// Time left before the total deadline (`None` without a deadline).
    pub fn time_left(&self) -> Option<Duration> {
        self.config
            .total_deadline()
            .map(|d| d.saturating_sub(self.elapsed()))
    }

    /// The next thing to do.
    pub fn next_decision(&mut self) -> Decision<T> {
        let next = match &self.state {
            State::Ready(next) => *next,
            State::InFlight(f) => return Decision::Attempt(f.attempt.clone()),
            State::GaveUp(reason) => return Decision::GiveUp(reason.clone()),
        };
        if next.index >= self.targets.len() {
            return self.stop(GiveUpReason::TargetsExhausted {
                targets: self.targets.len(),
            });
        }
        // An attempt with no time left is not made (and so never blamed on its target).
        let time_left = match self.config.total_deadline() {
            Some(deadline) => {
                let elapsed = self.elapsed();
                let left = deadline.saturating_sub(elapsed.saturating_add(next.delay));
                if left.is_zero() {
                    return self.stop(GiveUpReason::DeadlineExceeded {
                        deadline,
                        elapsed,
                        next_delay: next.delay,
                    });
                }
                Some(left)
            }
            None => None,
        };
        let (index, probe) = self.admit(next.index);
        let Some(target) = self.targets.get(index).cloned() else {
            return self.stop(GiveUpReason::TargetsExhausted {
                targets: self.targets.len(),
            });
        };
        self.attempts = self.attempts.saturating_add(1);
        if let Some(t) = self.tried.get_mut(index) {
            *t = true;
        }
        if probe {
            debug!(attempt = self.attempts, target = %target, "half-open probe");
        }
        let mut attempt = Attempt {
            disabled_features: self.disabled_features(target.model()),
            target,
            attempt_number: self.attempts,
            delay: next.delay,
            time_left,
            probe,
            route: Route::Order,
        };
        attempt.route = self.route_of(&attempt);
        if attempt.route != Route::Order {
            debug!(attempt = attempt.attempt_number, target = %attempt.target, route = %attempt.route, "routed");
        }
        self.state = State::InFlight(InFlight {
            attempt: attempt.clone(),
            index,
            started: self.clock.now().saturating_add(next.delay),
            tokens: next.tokens,
        });
        Decision::Attempt(attempt)
    }

    /// Asks the health tracker to admit the target at `index`. A busy target (cooling, or its
    /// probe held by another call) gives way to the first untried, admitted target after it,
    /// which moves into its place; if there is none, the busy target goes anyway.
    /// Returns the index to use and whether the attempt is a probe.
    fn admit(&mut self, index: usize) -> (usize, bool) {
        let Some(health) = self.health.clone() else {
            return (index, false);
        };
        let hold = self.probe_hold;
        let ask = |t: &T| health.admit(t.model(), t.region(), hold);
        let Some(first) = self.targets.get(index) else {
            return (index, false);
        };
        match ask(first) {
            Admission::Open => return (index, false),
            Admission::Probe => return (index, true),
            _ => {}
        }
        for j in index + 1..self.targets.len() {
            let available = !self.tried.get(j).copied().unwrap_or(true)
                && !self.skipped.get(j).copied().unwrap_or(true);
            if !available {
                continue;
            }
            let Some(candidate) = self.targets.get(j) else {
                continue;
            };
            let admission = ask(candidate);
            if admission != Admission::Busy {
                // Move the admitted target into this turn; the busy one keeps its place behind it.
                let target = self.targets.remove(j);
                self.targets.insert(index, target);
                let skipped = self.skipped.remove(j);
                self.skipped.insert(index, skipped);
                let tried = self.tried.remove(j);
                self.tried.insert(index, tried);
                return (index, admission == Admission::Probe);
            }
        }
        (index, false)
    }

    fn take_in_flight(
        &mut self,
        class: Option<ErrorClass>,
        message: Option<String>,
    ) -> Option<InFlight<T>> {
        let State::InFlight(f) = &self.state else {
            debug!(
                attempts = self.attempts,
                "outcome reported with no attempt in flight; ignored"
            );
            return None;
        };
        let f = f.clone();
        self.records
            .push(f.record(self.clock.now(), class, message, None));
        Some(f)
    }

    /// Reports that the attempt in flight succeeded: the call is over. Returns every attempt
    /// record, the successful one last.
    pub fn record_success(mut self) -> Vec<AttemptRecord<T>> {
        let Some(f) = self.take_in_flight(None, None) else {
            return self.records;
        };
        if let Some(health) = &self.health {
            health.record_success(f.attempt.target.model(), f.attempt.target.region());
        }
        if let Some(budget) = &self.budget {
            if f.tokens > 0 {
                budget.refund(f.tokens);
            } else {
                budget.reward_success();
            }
        }
        self.records
    }

    /// Reports that the attempt in flight failed, and decides what comes next.
    pub fn record_failure(&mut self, classification: Classification, message: impl Into<String>) {
        let class = classification.class();
        let Some(f) = self.take_in_flight(Some(class), Some(message.into())) else {
            return;
        };
        let target = &f.attempt.target;
        if let Some(health) = &self.health
            && classification.counts_against_target()
        {
            health.record_failure(target.model(), target.region());
        }

        // 1. A feature the target rejected (once per model), not retryable, or nothing left to
        // try. A target that cannot serve the request as sent but could without a feature (a
        // request the model rejects, or an access path it does not offer) is asked again
        // without it.
        let mut fallback = false;
        let dropped = self.fallback_feature(&classification, target.model());
        let index = match (class, dropped) {
            (_, Some(feature)) => {
                debug!(
                    attempt = f.attempt.attempt_number,
                    feature,
                    model = target.model(),
                    "feature fallback: retrying without it"
                );
                self.disabled.push((target.model().to_owned(), feature));
                self.fallbacks = self.fallbacks.saturating_add(1);
                fallback = true;
                f.index
            }
            (ErrorClass::BadRequest, None) => {
                return self.set_stop(GiveUpReason::NotRetryable { class });
            }
            (ErrorClass::TargetUnavailable, None) => {
                if let Some(s) = self.skipped.get_mut(f.index) {
                    *s = true;
                }
                match self.next_index(f.index) {
                    Some(i) => i,
                    None => {
                        return self.set_stop(GiveUpReason::TargetsExhausted {
                            targets: self.targets.len(),
                        });
                    }
                }
            }
            (ErrorClass::Throttled | ErrorClass::Transient, None) => match self.next_index(f.index)
            {
                Some(i) => i,
                None => {
                    return self.set_stop(GiveUpReason::TargetsExhausted {
                        targets: self.targets.len(),
                    });
                }
            },
            _ => return self.set_stop(GiveUpReason::NotRetryable { class }),
        };

        // 2. Attempts used up.
        let max_attempts = self
            .config
            .attempt_limit(self.targets.len(), self.fallbacks);
        if self.attempts >= max_attempts {
            return self.set_stop(GiveUpReason::AttemptsExhausted { max_attempts });
        }

        // 3. Deadline (needs the delay, computed here without side effects).
        let backs_off = !fallback && self.tried.get(index).copied().unwrap_or(false);
        let delay = if backs_off {
            let hint = classification.retry_after().filter(|_| index == f.index);
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

    /// The feature to drop for `model` after a failure classified as `classification`, if feature
    /// fallback applies: the failure names a feature (a request the model rejects, an access path
    /// it does not offer), fallback is on, and the feature is still sent to that model.
    fn fallback_feature(
        &self,
        classification: &Classification,
        model: &str,
    ) -> Option<&'static str> {
        classification.unsupported_feature().filter(|feature| {
            self.config.feature_fallback_enabled()
                && matches!(
                    classification.class(),
                    ErrorClass::BadRequest | ErrorClass::TargetUnavailable
                )
                && !self
                    .disabled
                    .iter()
                    .any(|(m, d)| m == model && d == feature)
        })
    }

    /// The next target not skipped after `current`, preferring targets this call has not tried
    /// yet (in order), then wrapping around; `current` itself comes last.
    fn next_index(&self, current: usize) -> Option<usize> {
        let n = self.targets.len();
        let available = |i: &usize| !self.skipped.get(*i).copied().unwrap_or(true);
        let untried = |i: &usize| !self.tried.get(*i).copied().unwrap_or(true);
        (1..=n)
            .map(|step| (current + step) % n)
            .filter(available)
            .find(untried)
            .or_else(|| (1..=n).map(|step| (current + step) % n).find(available))
    }

    fn set_stop(&mut self, reason: GiveUpReason) {
        debug!(attempt = self.attempts, %reason, "retry stopped");
        self.state = State::GaveUp(reason);
    }

    fn stop(&mut self, reason: GiveUpReason) -> Decision<T> {
        self.set_stop(reason.clone());
        Decision::GiveUp(reason)
    }

    /// Drives the whole call: sleeps through `sleep`, calls `call` for each attempt, classifies its
    /// errors with `classifier`, and returns the value or the reason for giving up, with the
    /// attempt records either way. This is the one attempt loop: callers put what an attempt does
    /// (build the request for its target, send it, read and check the answer) in `call`, and
    /// bound it by [`Attempt::time_left`].
    ///
    /// The error's `Display` text becomes the record's message.
    pub async fn run<V, E, A>(
        self,
        sleep: &dyn Sleep,
        classifier: &dyn Classify<E>,
        call: A,
    ) -> Result<Succeeded<V, T>, Exhausted<E, T>>
    where
        E: fmt::Display + 'static,
        A: Attempter<V, E, T>,
    {
        self.drive(sleep, classifier, call, None).await
    }
}

/// What [`CallPlan::run`] does for each attempt: send it to its target and return the answer or
/// the error. Async closures (`async |attempt: Attempt| { ... }`) implement it; a type that keeps
/// state across attempts (a stream's partial answer) implements it directly.
pub trait Attempter<V, E, T = Target> {
    /// Makes one attempt.
    fn attempt(&mut self, attempt: Attempt<T>) -> impl Future<Output = Result<V, E>>;
}

impl<V, E, T, F> Attempter<V, E, T> for F
where
    F: AsyncFnMut(Attempt<T>) -> Result<V, E>,
{
    fn attempt(&mut self, attempt: Attempt<T>) -> impl Future<Output = Result<V, E>> {
        self(attempt)
    }
}

/// A successful [`CallPlan::run`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Succeeded<V, T = Target> {
    /// The value returned by the successful attempt.
    pub value: V,
    /// The successful attempt (target, number, disabled features).
    pub attempt: Attempt<T>,
    /// Every attempt, the successful one last.
    pub records: Vec<AttemptRecord<T>>,
}

/// A [`CallPlan::run`] that gave up.
#[derive(Debug)]
#[non_exhaustive]
pub struct Exhausted<E, T = Target> {
    /// Why the call stopped.
    pub reason: GiveUpReason,
    /// The last error returned by an attempt, if any attempt ran.
    pub last_error: Option<E>,
    /// Every attempt, in order.
    pub records: Vec<AttemptRecord<T>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, HealthConfig, InstantSleep, JitterMode, ManualClock, SeededRandom};

    fn config() -> RetryConfig {
        RetryConfig::standard()
            .with_jitter(JitterMode::None)
            .with_max_attempts(10)
    }

    fn planner(config: RetryConfig, clock: &ManualClock) -> RetryPlanner {
        RetryPlanner::new(config.build().unwrap(), Arc::new(clock.clone()))
            .with_random(Arc::new(SeededRandom::new(7)))
    }

    fn names(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| format!("{}@{}", t.model, t.region))
            .collect()
    }

    fn targets(specs: &[&str]) -> Vec<Target> {
        specs
            .iter()
            .map(|s| {
                let (m, r) = s.split_once('@').unwrap();
                Target::new(m, r)
            })
            .collect()
    }

    /// A scripted outcome of one attempt.
    #[derive(Debug, Clone)]
    enum Outcome {
        Success,
        Failure {
            classification: Classification,
            message: String,
        },
    }

    /// How a driven call ended.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum End {
        Succeeded,
        GaveUp(GiveUpReason),
    }

    fn fail(class: ErrorClass) -> Outcome {
        Outcome::Failure {
            classification: class.into(),
            message: format!("{class} error"),
        }
    }

    /// Drives `plan` with the scripted outcomes, advancing the clock through `InstantSleep`.
    /// Returns each attempt as `target delay_ms` and the final decision.
    fn drive(
        mut plan: CallPlan,
        clock: &ManualClock,
        outcomes: Vec<Outcome>,
    ) -> (Vec<String>, End) {
        let sleep = InstantSleep::with_clock(clock.clone());
        let mut seen = vec![];
        let mut outcomes = outcomes.into_iter();
        loop {
            match plan.next_decision() {
                Decision::Attempt(a) => {
                    drop(sleep.sleep(a.delay));
                    seen.push(format!(
                        "{}@{} {}",
                        a.target.model,
                        a.target.region,
                        a.delay.as_millis()
                    ));
                    match outcomes.next() {
                        Some(Outcome::Success) => {
                            let _ = plan.record_success();
                            return (seen, End::Succeeded);
                        }
                        Some(Outcome::Failure {
                            classification,
                            message,
                        }) => plan.record_failure(classification, message),
                        None => panic!("no outcome scripted for attempt {}", a.attempt_number),
                    }
                }
                Decision::GiveUp(reason) => return (seen, End::GaveUp(reason)),
            }
        }
    }

    #[test]
    fn no_targets_is_an_error() {
        let p = planner(config(), &ManualClock::new());
        let none: [&str; 0] = [];
        let err = p.plan_call(&["a"], &none).unwrap_err();
        assert!(matches!(
            err,
            Error::NoTargets {
                models: 1,
                regions: 0
            }
        ));
        assert!(p.plan(Vec::<Target>::new()).is_err());
        let plan = p.plan_call(&["a", "b"], &["r1", "r2"]).unwrap();
        assert_eq!(names(plan.targets()), ["a@r1", "a@r2", "b@r1", "b@r2"]);
    }

    #[test]
    fn exact_backoff_sequence_on_one_target() {
        let clock = ManualClock::new();
        let p = planner(config().with_max_attempts(6), &clock);
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let (seen, end) = drive(plan, &clock, vec![fail(ErrorClass::Transient); 6]);
        assert_eq!(
            seen,
            [
                "a@r1 0",
                "a@r1 1000",
                "a@r1 2000",
                "a@r1 4000",
                "a@r1 8000",
                "a@r1 16000"
            ]
        );
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::AttemptsExhausted { max_attempts: 6 })
        );
        assert_eq!(clock.now(), Duration::from_secs(31));
    }

    #[test]
    fn exact_backoff_sequence_with_seeded_jitter() {
        let clock = ManualClock::new();
        let p = planner(
            config().with_max_attempts(5).with_jitter(JitterMode::Full),
            &clock,
        )
        .with_random(Arc::new(SeededRandom::new(42)));
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let (seen, _) = drive(plan, &clock, vec![fail(ErrorClass::Throttled); 5]);
        assert_eq!(
            seen,
            ["a@r1 0", "a@r1 526", "a@r1 1085", "a@r1 2545", "a@r1 3247"]
        );
    }

    #[test]
    fn failures_move_to_untried_targets_without_delay_then_cycle_with_backoff() {
        let clock = ManualClock::new();
        let p = planner(config().with_max_attempts(5), &clock);
        let plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let (seen, end) = drive(
            plan,
            &clock,
            vec![
                fail(ErrorClass::Throttled),
                fail(ErrorClass::Transient),
                fail(ErrorClass::Throttled),
                fail(ErrorClass::Transient),
                Outcome::Success,
            ],
        );
        assert_eq!(
            seen,
            ["a@r1 0", "a@r2 0", "a@r1 1000", "a@r2 2000", "a@r1 4000"]
        );
        assert_eq!(end, End::Succeeded);
    }

    #[test]
    fn disabled_config_makes_one_attempt() {
        let clock = ManualClock::new();
        let p = planner(
            RetryConfig::disabled().with_jitter(JitterMode::None),
            &clock,
        );
        let plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let (seen, end) = drive(plan, &clock, vec![fail(ErrorClass::Throttled)]);
        assert_eq!(seen, ["a@r1 0"]);
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::AttemptsExhausted { max_attempts: 1 })
        );
    }

    #[test]
    fn unavailable_targets_are_skipped_for_the_rest_of_the_call() {
        let clock = ManualClock::new();
        let p = planner(config(), &clock);
        let plan = p.plan(targets(&["a@r1", "a@r2", "b@r1"])).unwrap();
        let (seen, end) = drive(
            plan,
            &clock,
            vec![
                fail(ErrorClass::TargetUnavailable),
                fail(ErrorClass::Transient),
                fail(ErrorClass::TargetUnavailable),
                fail(ErrorClass::Transient),
                Outcome::Success,
            ],
        );
        assert_eq!(
            seen,
            ["a@r1 0", "a@r2 0", "b@r1 0", "a@r2 1000", "a@r2 2000"]
        );
        assert_eq!(end, End::Succeeded);
    }

    #[test]
    fn all_targets_unavailable_gives_up() {
        let clock = ManualClock::new();
        let p = planner(config(), &clock);
        let plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let (seen, end) = drive(plan, &clock, vec![fail(ErrorClass::TargetUnavailable); 2]);
        assert_eq!(seen, ["a@r1 0", "a@r2 0"]);
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::TargetsExhausted { targets: 2 })
        );
    }

    #[test]
    fn deadline_stops_before_an_attempt_that_would_start_too_late() {
        let clock = ManualClock::new();
        let p = planner(
            config().with_total_deadline(Some(Duration::from_millis(2500))),
            &clock,
        );
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let (seen, end) = drive(plan, &clock, vec![fail(ErrorClass::Transient); 3]);
        assert_eq!(seen, ["a@r1 0", "a@r1 1000"]);
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::DeadlineExceeded {
                deadline: Duration::from_millis(2500),
                elapsed: Duration::from_secs(1),
                next_delay: Duration::from_secs(2),
            })
        );
    }

    #[test]
    fn empty_budget_stops_retries() {
        let clock = ManualClock::new();
        let budget = Arc::new(RetryBudget::new(15));
        let p = planner(config(), &clock).with_budget(Some(Arc::clone(&budget)));
        let plan = p.plan(targets(&["a@r1", "a@r2", "a@r3"])).unwrap();
        let (seen, end) = drive(plan, &clock, vec![fail(ErrorClass::Transient); 3]);
        assert_eq!(seen, ["a@r1 0", "a@r2 0"]);
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::BudgetExhausted {
                needed: 10,
                available: 5
            })
        );
        assert_eq!(budget.available(), 5);
    }

    #[test]
    fn stop_conditions_are_checked_in_order() {
        // Attempts and budget both exhausted: attempts win because they are checked first.
        let clock = ManualClock::new();
        let p = planner(config().with_max_attempts(2), &clock)
            .with_budget(Some(Arc::new(RetryBudget::new(10))));
        let plan = p.plan(targets(&["a@r1", "a@r2", "a@r3"])).unwrap();
        let (_, end) = drive(plan, &clock, vec![fail(ErrorClass::Transient); 2]);
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::AttemptsExhausted { max_attempts: 2 })
        );

        // Not retryable wins over everything.
        let plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let (seen, end) = drive(plan, &clock, vec![fail(ErrorClass::ContentBlocked)]);
        assert_eq!(seen.len(), 1);
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::NotRetryable {
                class: ErrorClass::ContentBlocked
            })
        );
    }

    #[test]
    fn successful_retry_refunds_its_tokens() {
        let clock = ManualClock::new();
        let budget = Arc::new(RetryBudget::new(100));
        let p = planner(config(), &clock).with_budget(Some(Arc::clone(&budget)));
        let plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let _ = drive(
            plan,
            &clock,
            vec![fail(ErrorClass::Throttled), Outcome::Success],
        );
        assert_eq!(budget.available(), 100);
        budget.try_acquire(ErrorClass::Transient);
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let _ = drive(plan, &clock, vec![Outcome::Success]);
        assert_eq!(budget.available(), 91, "a first-attempt success adds 1");
    }

    #[test]
    fn explicit_retry_after_wins_on_the_same_target() {
        let clock = ManualClock::new();
        let p = planner(config(), &clock);
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let throttled = Outcome::Failure {
            classification: Classification::new(ErrorClass::Throttled)
                .with_retry_after(Duration::from_millis(350)),
            message: "slow down".into(),
        };
        let (seen, _) = drive(plan, &clock, vec![throttled, Outcome::Success]);
        assert_eq!(seen, ["a@r1 0", "a@r1 350"]);
    }

    #[test]
    fn feature_fallback_retries_the_same_target_once_per_feature() {
        let clock = ManualClock::new();
        let p = planner(config(), &clock);
        let mut plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let no_tools = || Outcome::Failure {
            classification: Classification::new(ErrorClass::BadRequest)
                .with_unsupported_feature("tools"),
            message: "This model doesn't support tool use.".into(),
        };
        let _ = plan.next_decision();
        {
            let Outcome::Failure {
                classification,
                message,
            } = no_tools()
            else {
                unreachable!()
            };
            plan.record_failure(classification, message);
        }
        let Decision::Attempt(a) = plan.next_decision() else {
            panic!("expected a fallback attempt");
        };
        assert_eq!(a.target.region, "r1");
        assert_eq!(a.delay, Duration::ZERO);
        assert_eq!(a.disabled_features, ["tools"]);
        {
            let Outcome::Failure {
                classification,
                message,
            } = no_tools()
            else {
                unreachable!()
            };
            plan.record_failure(classification, message);
        }
        assert_eq!(
            plan.next_decision(),
            Decision::GiveUp(GiveUpReason::NotRetryable {
                class: ErrorClass::BadRequest
            })
        );
        assert_eq!(plan.disabled_features("a"), ["tools"]);
        assert!(
            plan.disabled_features("b").is_empty(),
            "other models keep the feature"
        );
    }

    #[test]
    fn feature_fallback_can_be_disabled() {
        let clock = ManualClock::new();
        let p = planner(config().with_feature_fallback(false), &clock);
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let outcome = Outcome::Failure {
            classification: Classification::new(ErrorClass::BadRequest)
                .with_unsupported_feature("documents"),
            message: "no documents".into(),
        };
        let (_, end) = drive(plan, &clock, vec![outcome]);
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::NotRetryable {
                class: ErrorClass::BadRequest
            })
        );
    }

    #[test]
    fn the_first_route_marks_only_the_first_attempt_on_its_target() {
        let clock = ManualClock::new();
        let health = Arc::new(HealthTracker::new(
            HealthConfig::standard().with_failure_threshold(1),
            Arc::new(clock.clone()),
        ));
        let p = planner(config(), &clock).with_health(Some(health));
        let plan = |p: &RetryPlanner| {
            p.plan(targets(&["a@r2", "a@r1"]))
                .unwrap()
                .with_first_route(Target::new("a", "r2"), Route::Affinity)
        };
        let mut call = plan(&p);
        let _ = call.next_decision();
        call.record_failure(ErrorClass::Transient.into(), "503");
        let _ = call.next_decision();
        call.record_failure(ErrorClass::Transient.into(), "503");
        let _ = call.next_decision();
        let routes: Vec<(String, Route)> = call
            .record_success()
            .iter()
            .map(|r| (r.target.region.clone(), r.route))
            .collect();
        assert_eq!(
            routes,
            [
                ("r2".to_owned(), Route::Affinity),
                ("r1".to_owned(), Route::Order),
                ("r2".to_owned(), Route::Order)
            ]
        );
        // The health check demoted the target: the first attempt went elsewhere, by the order.
        let health = Arc::new(HealthTracker::new(
            HealthConfig::standard().with_failure_threshold(1),
            Arc::new(clock.clone()),
        ));
        health.record_failure("a", "r2");
        let p = planner(config(), &clock).with_health(Some(health));
        let mut call = plan(&p);
        let Decision::Attempt(first) = call.next_decision() else {
            panic!("expected an attempt");
        };
        assert_eq!(first.target.region, "r1");
        assert_eq!(call.record_success()[0].route, Route::Order);
    }

    #[test]
    fn records_keep_every_attempt() {
        let clock = ManualClock::new();
        let p = planner(config(), &clock);
        let mut plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let _ = plan.next_decision();
        clock.advance(Duration::from_millis(120));
        plan.record_failure(ErrorClass::Throttled.into(), "429");
        let _ = plan.next_decision();
        clock.advance(Duration::from_millis(80));
        let records = plan.record_success();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].attempt_number, 1);
        assert_eq!(records[0].class, Some(ErrorClass::Throttled));
        assert_eq!(records[0].message.as_deref(), Some("429"));
        assert_eq!(records[0].duration, Duration::from_millis(120));
        assert_eq!(records[1].target.region, "r2");
        assert_eq!(records[1].class, None);
        assert_eq!(records[1].duration, Duration::from_millis(80));
    }

    #[test]
    fn asking_twice_returns_the_same_attempt_and_stray_reports_are_ignored() {
        let clock = ManualClock::new();
        let p = planner(config(), &clock);
        let mut plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        plan.record_failure(ErrorClass::Transient.into(), "stray");
        assert!(plan.records().is_empty());
        let first = plan.next_decision();
        assert_eq!(plan.next_decision(), first);
        assert_eq!(plan.attempts(), 1);
        assert_eq!(plan.record_success().len(), 1);
    }

    #[test]
    fn one_probe_per_half_open_target_across_calls_planned_together() {
        let clock = ManualClock::new();
        let health = Arc::new(HealthTracker::new(
            HealthConfig::standard()
                .with_failure_threshold(1)
                .with_cool_down(Duration::from_secs(10)),
            Arc::new(clock.clone()),
        ));
        let p = planner(config(), &clock)
            .with_health(Some(Arc::clone(&health)))
            .with_probe_hold(Duration::from_secs(120));
        health.record_failure("a", "r1");
        health.record_failure("a", "r2");
        clock.advance(Duration::from_secs(10));
        // Three calls planned at the same moment, while both probes are free.
        let mut calls: Vec<CallPlan> = (0..3)
            .map(|_| p.plan(targets(&["a@r1", "a@r2"])).unwrap())
            .collect();
        let mut first_attempts = Vec::new();
        for plan in &mut calls {
            let Decision::Attempt(a) = plan.next_decision() else {
                panic!("expected an attempt");
            };
            first_attempts.push(format!("{} probe={}", a.target.region, a.probe));
        }
        assert_eq!(
            first_attempts,
            ["r1 probe=true", "r2 probe=true", "r1 probe=false"],
            "one probe per target; when every target is cooling or probing the call still goes"
        );
        // The reservation outlives the base cool-down: it lasts the attempt timeout.
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            health.admit("a", "r1", Duration::ZERO),
            crate::Admission::Busy
        );
    }

    #[test]
    fn a_feature_dropped_for_one_model_stays_for_the_others() {
        let clock = ManualClock::new();
        let p = planner(
            RetryConfig::standard().with_jitter(JitterMode::None),
            &clock,
        );
        let mut plan = p.plan(targets(&["a@r1", "b@r1"])).unwrap();
        let _ = plan.next_decision();
        plan.record_failure(
            Classification::new(ErrorClass::BadRequest).with_unsupported_feature("documents"),
            "no documents",
        );
        let Decision::Attempt(retry) = plan.next_decision() else {
            panic!("expected the fallback");
        };
        assert_eq!(retry.target.model, "a");
        assert_eq!(retry.disabled_features, ["documents"]);
        plan.record_failure(ErrorClass::Transient.into(), "503");
        let Decision::Attempt(next) = plan.next_decision() else {
            panic!("expected model b");
        };
        assert_eq!(next.target.model, "b");
        assert!(next.disabled_features.is_empty(), "{next:?}");
    }

    #[test]
    fn an_unavailable_target_is_asked_again_without_the_feature_it_named_once() {
        let clock = ManualClock::new();
        let p = planner(
            RetryConfig::standard().with_jitter(JitterMode::None),
            &clock,
        );
        let mut plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let _ = plan.next_decision();
        let unavailable = || {
            Classification::new(ErrorClass::TargetUnavailable)
                .with_unsupported_feature("direct access")
        };
        plan.record_failure(unavailable(), "needs a profile");
        let Decision::Attempt(again) = plan.next_decision() else {
            panic!("expected the same target without the feature");
        };
        assert_eq!(
            (again.target.model.as_str(), again.target.region.as_str()),
            ("a", "r1")
        );
        assert_eq!(again.disabled_features, ["direct access"]);
        assert_eq!(again.delay, Duration::ZERO);
        // The feature is already gone: the target is skipped as unavailable, the next one keeps
        // the model's fallback.
        plan.record_failure(unavailable(), "still unavailable");
        let Decision::Attempt(next) = plan.next_decision() else {
            panic!("expected the next target");
        };
        assert_eq!(next.target.region, "r2");
        assert_eq!(next.disabled_features, ["direct access"]);
        // Without feature fallback an unavailable target is skipped at once.
        let p = planner(RetryConfig::standard().with_feature_fallback(false), &clock);
        let mut plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let _ = plan.next_decision();
        plan.record_failure(unavailable(), "needs a profile");
        let Decision::Attempt(next) = plan.next_decision() else {
            panic!("expected the next target");
        };
        assert_eq!(next.target.region, "r2");
        assert!(next.disabled_features.is_empty());
    }

    #[test]
    fn by_default_every_target_is_tried_then_three_retries() {
        let clock = ManualClock::new();
        let p = planner(
            RetryConfig::standard().with_jitter(JitterMode::None),
            &clock,
        );
        let plan = p
            .plan(targets(&["a@r1", "a@r2", "a@r3", "b@r1", "b@r2", "b@r3"]))
            .unwrap();
        let (seen, end) = drive(plan, &clock, vec![fail(ErrorClass::Transient); 9]);
        assert_eq!(
            seen,
            [
                "a@r1 0",
                "a@r2 0",
                "a@r3 0",
                "b@r1 0",
                "b@r2 0",
                "b@r3 0",
                "a@r1 1000",
                "a@r2 2000",
                "a@r3 4000"
            ]
        );
        assert_eq!(
            end,
            End::GaveUp(GiveUpReason::AttemptsExhausted { max_attempts: 9 })
        );
    }

    #[test]
    fn no_attempt_is_made_without_time_left_and_a_spared_target_stays_healthy() {
        let clock = ManualClock::new();
        let health = Arc::new(HealthTracker::new(
            HealthConfig::standard().with_failure_threshold(1),
            Arc::new(clock.clone()),
        ));
        let p = planner(
            config().with_total_deadline(Some(Duration::from_secs(5))),
            &clock,
        )
        .with_health(Some(Arc::clone(&health)));
        let mut plan = p.plan(targets(&["a@r1", "a@r2"])).unwrap();
        let Decision::Attempt(a) = plan.next_decision() else {
            panic!("expected an attempt");
        };
        assert_eq!(a.time_left, Some(Duration::from_secs(5)));
        clock.advance(Duration::from_secs(5));
        plan.record_failure(
            Classification::new(ErrorClass::Transient).sparing_target(),
            "cut by the deadline",
        );
        assert!(matches!(
            plan.next_decision(),
            Decision::GiveUp(GiveUpReason::DeadlineExceeded { .. })
        ));
        assert_eq!(plan.records().len(), 1, "no attempt without time left");
        assert_eq!(health.state("a", "r1"), crate::TargetHealth::Healthy);
    }

    #[test]
    fn cooling_targets_go_last_but_are_not_dropped() {
        let clock = ManualClock::new();
        let health = Arc::new(HealthTracker::new(
            HealthConfig::standard().with_failure_threshold(1),
            Arc::new(clock.clone()),
        ));
        let p = planner(config(), &clock).with_health(Some(Arc::clone(&health)));
        health.record_failure("a", "r1");
        let plan = p.plan(targets(&["a@r1", "a@r2", "a@r3"])).unwrap();
        assert_eq!(names(plan.targets()), ["a@r2", "a@r3", "a@r1"]);

        // Only cooling targets left: the call still tries them.
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let (seen, end) = drive(plan, &clock, vec![Outcome::Success]);
        assert_eq!(seen, ["a@r1 0"]);
        assert_eq!(end, End::Succeeded);
        assert_eq!(health.state("a", "r1"), crate::TargetHealth::Healthy);
    }

    #[test]
    fn plan_feeds_the_health_tracker() {
        let clock = ManualClock::new();
        let health = Arc::new(HealthTracker::new(
            HealthConfig::standard()
                .with_failure_threshold(2)
                .with_cool_down(Duration::from_secs(5)),
            Arc::new(clock.clone()),
        ));
        let p =
            planner(config().with_max_attempts(2), &clock).with_health(Some(Arc::clone(&health)));
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let _ = drive(plan, &clock, vec![fail(ErrorClass::Transient); 2]);
        // Two failures (the second after a 1 s backoff) open the breaker for 5 s.
        assert_eq!(
            health.state("a", "r1"),
            crate::TargetHealth::Cooling {
                remaining: Duration::from_secs(5)
            }
        );
        // BadRequest does not count against the target.
        let p2 = planner(config(), &clock).with_health(Some(Arc::clone(&health)));
        let plan = p2.plan(targets(&["b@r1"])).unwrap();
        let _ = drive(plan, &clock, vec![fail(ErrorClass::BadRequest)]);
        let _ = drive(
            p2.plan(targets(&["b@r1"])).unwrap(),
            &clock,
            vec![fail(ErrorClass::BadRequest)],
        );
        assert_eq!(health.state("b", "r1"), crate::TargetHealth::Healthy);
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn run_drives_the_loop_with_tokio_sleep() {
        let clock = ManualClock::new();
        let p = planner(config(), &clock);
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let classifier = crate::ClassifyFn(|_: &String| ErrorClass::Transient.into());
        let tokio_clock = crate::TokioClock::new();
        let mut calls = 0;
        let done = plan
            .run(&crate::TokioSleep::new(), &classifier, |_| {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err(format!("boom {n}"))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(done.value, 3);
        assert_eq!(done.records.len(), 3);
        assert_eq!(done.records[1].message.as_deref(), Some("boom 2"));
        assert_eq!(tokio_clock.now(), Duration::from_secs(3));
    }

    #[tokio::test]
    async fn run_reports_the_last_error_when_giving_up() {
        let clock = ManualClock::new();
        let p = planner(config(), &clock);
        let plan = p.plan(targets(&["a@r1"])).unwrap();
        let classifier = crate::ClassifyFn(|_: &String| ErrorClass::ContentBlocked.into());
        let sleep = InstantSleep::new();
        let err = plan
            .run(&sleep, &classifier, |_| async {
                Err::<(), _>("blocked".to_owned())
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.reason,
            GiveUpReason::NotRetryable {
                class: ErrorClass::ContentBlocked
            }
        );
        assert_eq!(err.last_error.as_deref(), Some("blocked"));
        assert_eq!(err.records.len(), 1);
    }
}
