//! Hedged attempts: when an attempt has not answered after a delay, the same request starts on the
//! next target and the first answer wins.
//!
//! [`CallPlan::run_hedged`] is [`CallPlan::run`] with one addition: while an attempt is in flight,
//! a [`HedgePolicy`] may start one copy of it on the next target the call has not tried, if that
//! target is healthy. The two race:
//!
//! - the first success is the call's answer; the other attempt is dropped at once (its future is
//!   dropped, which closes its connection) and recorded as lost ([`HedgeLoss::Cancelled`]), or, if
//!   it had answered in the same instant, as [`HedgeLoss::Discarded`];
//! - a failure of one never ends the race: it is recorded and the other goes on alone, since the
//!   other may well take the request (a hedge sent to a model with a smaller output limit fails
//!   with a bad request its original does not get). A target that failed with a class that
//!   would have ended the call, or that is unavailable, is left out for the rest of the call; a
//!   target that rejected a feature (feature fallback) has the feature dropped for its model and
//!   stays untried, so the call comes back to it without the feature only if the other attempt
//!   fails too. When both fail, the loop continues after the later one as usual;
//! - an attempt that committed (below) and failed in the same poll ends the race: the other is
//!   dropped and recorded as cancelled (it could never deliver), and the loop goes on after the
//!   committed attempt;
//! - an attempt that commits ([`HedgePolicy::committed`]: a stream that delivered its first event)
//!   wins at once: the other is dropped and recorded as cancelled, and the call waits for the
//!   winner alone. An attempt that committed before the delay is not hedged.
//!
//! The attempter whose attempt the call took (the hedge's, when the hedge won or went on alone)
//! makes the call's later attempts, so what it collected (a stream's partial answer) stays with
//! them.
//!
//! A call hedges at most once. A hedge never goes to a target that cools down or waits for its
//! half-open probe, takes no retry-budget tokens, counts towards the attempt limit, and is bounded
//! by the call's deadline like any attempt. An attempt that probed a half-open target and lost
//! the race gives the probe back ([`HealthTracker::release_probe`](crate::HealthTracker::release_probe)):
//! the target stays half-open and the next call may probe it.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tracing::{debug, info};

use super::{
    Attempt, Attempter, CallPlan, Decision, Exhausted, HedgeLoss, InFlight, Route, State, Succeeded,
};
use crate::{Classify, ErrorClass, PlanTarget, Sleep, Target, TargetHealth};

/// When an attempt of [`CallPlan::run_hedged`] gets a hedge.
///
/// A [`Duration`] is the simplest policy: every attempt not answered after it is hedged.
///
/// ```
/// use std::time::Duration;
/// use bedrock_retry::{Attempt, HedgePolicy, Route, Target};
///
/// struct OnlyFirst(Duration);
///
/// impl HedgePolicy for OnlyFirst {
///     fn delay(&self, attempt: &Attempt) -> Option<Duration> {
///         (attempt.attempt_number == 1).then_some(self.0)
///     }
/// }
///
/// let policy = OnlyFirst(Duration::from_millis(300));
/// let first = Attempt {
///     target: Target::new("m", "us-east-1"),
///     attempt_number: 1,
///     delay: Duration::ZERO,
///     disabled_features: vec![],
///     time_left: None,
///     probe: false,
///     route: Route::Order,
/// };
/// assert_eq!(policy.delay(&first), Some(Duration::from_millis(300)));
/// ```
pub trait HedgePolicy<T = Target>: Sync {
    /// How long `attempt` may go without an answer before a hedge starts; `None`: not hedged.
    fn delay(&self, attempt: &Attempt<T>) -> Option<Duration>;

    /// Asked when the delay has passed, with the hedge about to start: `false` keeps this attempt
    /// unhedged (a cap on the share of hedged calls, a cost limit). Called at most once per
    /// attempt; a call that was refused may be asked again for a later attempt, and a call sends
    /// at most one hedge.
    fn admit(&self, attempt: &Attempt<T>, hedge: &Attempt<T>) -> bool {
        let _ = (attempt, hedge);
        true
    }

    /// The attempt (by number) whose answer has begun to reach the caller, if any: a stream that
    /// delivered its first event. It can no longer lose: a race ends in its favour at once (the
    /// other attempt is dropped and recorded as cancelled), the call waits for it alone, and no
    /// hedge starts once it is set. `None` (the default): attempts race until one ends.
    fn committed(&self) -> Option<u32> {
        None
    }
}

impl<T> HedgePolicy<T> for Duration {
    fn delay(&self, _attempt: &Attempt<T>) -> Option<Duration> {
        Some(*self)
    }
}

/// Which of two futures finished first.
enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `a`, then `b`, until one is ready (`a` wins a tie).
async fn race<A: Future, B: Future>(
    mut a: Pin<&mut A>,
    mut b: Pin<&mut B>,
) -> Either<A::Output, B::Output> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// How a race of two attempts ended: one finished, or one committed (see
/// [`HedgePolicy::committed`]) while still running.
enum Raced<A, B> {
    Left(A),
    Right(B),
    LeftCommitted,
    RightCommitted,
}

/// Polls `a`, then `b`, until one is ready or `committed` names one of them (`left` and `right`
/// are their attempt numbers); after each poll the commitment is checked, so an attempt that
/// commits is never followed by a poll of the other.
async fn race_to_commit<A: Future, B: Future>(
    mut a: Pin<&mut A>,
    mut b: Pin<&mut B>,
    committed: impl Fn() -> Option<u32>,
    (left, right): (u32, u32),
) -> Raced<A::Output, B::Output> {
    let decided = |committed: Option<u32>| match committed {
        Some(n) if n == left => Some(Raced::LeftCommitted),
        Some(n) if n == right => Some(Raced::RightCommitted),
        _ => None,
    };
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Raced::Left(v));
        }
        if let Some(raced) = decided(committed()) {
            return Poll::Ready(raced);
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Raced::Right(v));
        }
        if let Some(raced) = decided(committed()) {
            return Poll::Ready(raced);
        }
        Poll::Pending
    })
    .await
}

/// Polls `f` once, without waiting: its output if it is already done.
fn ready_now<F: Future>(f: Pin<&mut F>) -> Option<F::Output> {
    match f.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

impl<T: PlanTarget> CallPlan<T> {
    /// Drives the whole call like [`CallPlan::run`], and hedges an attempt that has not answered
    /// after `policy`'s delay: the same request starts on the next untried healthy target, made
    /// by `spare`, and the first success, or the first attempt to commit
    /// ([`HedgePolicy::committed`]), wins (see the module documentation of `hedge` for the
    /// rules). `call` makes every other attempt.
    ///
    /// Both attempts appear in the records: the hedge with [`AttemptRecord::route`](crate::AttemptRecord::route) [`Route::Hedge`], the
    /// loser with [`AttemptRecord::lost`](crate::AttemptRecord::lost) set. The successful attempt is last.
    pub async fn run_hedged<V, E, A>(
        self,
        sleep: &dyn Sleep,
        classifier: &dyn Classify<E>,
        policy: &dyn HedgePolicy<T>,
        call: A,
        spare: A,
    ) -> Result<Succeeded<V, T>, Exhausted<E, T>>
    where
        E: std::fmt::Display + 'static,
        A: Attempter<V, E, T>,
    {
        self.drive(sleep, classifier, call, Some((policy, spare)))
            .await
    }

    /// The one attempt loop, behind [`CallPlan::run`] and [`CallPlan::run_hedged`]: asks the plan
    /// for each attempt, waits its backoff, sends it with `call` (racing a hedge made by the
    /// spare attempter when `hedging` is given and its policy says so), and reports the outcome
    /// back to the plan, until an answer or the plan gives up.
    pub(super) async fn drive<V, E, A>(
        mut self,
        sleep: &dyn Sleep,
        classifier: &dyn Classify<E>,
        mut call: A,
        mut hedging: Option<(&dyn HedgePolicy<T>, A)>,
    ) -> Result<Succeeded<V, T>, Exhausted<E, T>>
    where
        E: std::fmt::Display + 'static,
        A: Attempter<V, E, T>,
    {
        let mut last_error = None;
        let mut hedged = false;
        loop {
            let attempt = match self.next_decision() {
                Decision::Attempt(attempt) => attempt,
                Decision::GiveUp(reason) => {
                    return Err(Exhausted {
                        reason,
                        last_error,
                        records: self.records,
                    });
                }
            };
            if !attempt.delay.is_zero() {
                sleep.sleep(attempt.delay).await;
            }
            let after = match &hedging {
                Some((policy, _)) if !hedged => policy.delay(&attempt),
                _ => None,
            };
            let (attempt, result) = match (after, hedging.as_mut()) {
                (Some(after), Some((policy, spare))) => {
                    let policy = *policy;
                    // Boxed: an attempt's future can be large (an SDK call), and this loop's own
                    // future would otherwise hold room for two of them.
                    let mut first = Box::pin(call.attempt(attempt.clone()));
                    let mut timer = pin!(sleep.sleep(after));
                    match race(first.as_mut(), timer.as_mut()).await {
                        Either::Left(result) => (attempt, result),
                        // An attempt whose answer already reaches the caller is not hedged.
                        Either::Right(()) if policy.committed().is_some() => (attempt, first.await),
                        Either::Right(()) => match self.start_hedge(policy, &attempt, after) {
                            None => (attempt, first.await),
                            Some(hedge) => {
                                hedged = true;
                                let hedge_number = hedge.attempt.attempt_number;
                                let second = Box::pin(spare.attempt(hedge.attempt.clone()));
                                let (taken, result) = self
                                    .race_hedge(classifier, policy, attempt, first, hedge, second)
                                    .await;
                                if taken.attempt_number == hedge_number {
                                    // The attempter whose attempt the call took makes the later
                                    // attempts: it holds what that attempt collected (a stream's
                                    // partial answer).
                                    std::mem::swap(&mut call, spare);
                                }
                                (taken, result)
                            }
                        },
                    }
                }
                _ => {
                    let result = call.attempt(attempt.clone()).await;
                    (attempt, result)
                }
            };
            match result {
                Ok(value) => {
                    return Ok(Succeeded {
                        value,
                        attempt,
                        records: self.record_success(),
                    });
                }
                Err(error) => {
                    self.record_failure(classifier.classify(&error), error.to_string());
                    last_error = Some(error);
                }
            }
        }
    }

    /// Starts the hedge of the attempt in flight on the next untried, healthy target, if the
    /// attempt limit, the deadline and `policy` allow it.
    fn start_hedge(
        &mut self,
        policy: &dyn HedgePolicy<T>,
        primary: &Attempt<T>,
        after: Duration,
    ) -> Option<InFlight<T>> {
        let State::InFlight(f) = &self.state else {
            return None;
        };
        let current = f.index;
        if self.attempts
            >= self
                .config
                .attempt_limit(self.targets.len(), self.fallbacks)
        {
            debug!(attempt = self.attempts, "no hedge: attempts used up");
            return None;
        }
        let time_left = match self.config.total_deadline() {
            Some(deadline) => {
                let left = deadline.saturating_sub(self.elapsed());
                if left.is_zero() {
                    return None;
                }
                Some(left)
            }
            None => None,
        };
        let n = self.targets.len();
        let healthy = |t: &T| {
            self.health
                .as_ref()
                .is_none_or(|h| h.state(t.model(), t.region()) == TargetHealth::Healthy)
        };
        let index = (1..n).map(|step| (current + step) % n).find(|&i| {
            !self.tried.get(i).copied().unwrap_or(true)
                && !self.skipped.get(i).copied().unwrap_or(true)
                && self.targets.get(i).is_some_and(healthy)
        });
        let Some(index) = index else {
            debug!(
                attempt = self.attempts,
                "no hedge: no untried healthy target"
            );
            return None;
        };
        let target = self.targets.get(index)?.clone();
        let attempt = Attempt {
            disabled_features: self.disabled_features(target.model()),
            target,
            attempt_number: self.attempts.saturating_add(1),
            delay: after,
            time_left,
            probe: false,
            route: Route::Hedge,
        };
        if !policy.admit(primary, &attempt) {
            debug!(
                attempt = primary.attempt_number,
                "no hedge: the policy declined"
            );
            return None;
        }
        self.attempts = attempt.attempt_number;
        if let Some(t) = self.tried.get_mut(index) {
            *t = true;
        }
        info!(
            attempt = primary.attempt_number,
            target = %primary.target,
            hedge = %attempt.target,
            after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            "hedging: the attempt has not answered; the same request starts on the next target"
        );
        Some(InFlight {
            attempt,
            index,
            started: self.clock.now(),
            tokens: 0,
        })
    }

    /// Races the attempt in flight (`first`) against its hedge (`second`). Returns the attempt
    /// whose outcome the call takes and that outcome; when it returns, that attempt is the one in
    /// flight and every other attempt is recorded. The loser is dropped as soon as the race is
    /// decided, before the winner is awaited further.
    async fn race_hedge<V, E, F1, F2>(
        &mut self,
        classifier: &dyn Classify<E>,
        policy: &dyn HedgePolicy<T>,
        primary: Attempt<T>,
        mut first: Pin<Box<F1>>,
        hedge: InFlight<T>,
        mut second: Pin<Box<F2>>,
    ) -> (Attempt<T>, Result<V, E>)
    where
        E: std::fmt::Display + 'static,
        F1: Future<Output = Result<V, E>>,
        F2: Future<Output = Result<V, E>>,
    {
        let hedge_attempt = hedge.attempt.clone();
        let numbers = (primary.attempt_number, hedge_attempt.attempt_number);
        let raced = race_to_commit(
            first.as_mut(),
            second.as_mut(),
            || policy.committed(),
            numbers,
        )
        .await;
        let committed = policy.committed();
        match raced {
            Raced::LeftCommitted => {
                drop(second);
                info!(
                    attempt = primary.attempt_number,
                    "hedging: the attempt delivered first; its hedge is cancelled"
                );
                self.push_lost(&hedge, HedgeLoss::Cancelled, primary.attempt_number);
                (primary, first.await)
            }
            Raced::RightCommitted => {
                drop(first);
                info!(
                    attempt = hedge_attempt.attempt_number,
                    "hedging: the hedge delivered first; the attempt it copied is cancelled"
                );
                let State::InFlight(f) = std::mem::replace(&mut self.state, State::InFlight(hedge))
                else {
                    return (hedge_attempt, second.await);
                };
                self.push_lost(&f, HedgeLoss::Cancelled, hedge_attempt.attempt_number);
                (hedge_attempt, second.await)
            }
            Raced::Left(Ok(value)) => {
                let loss = loss_of(ready_now(second.as_mut()));
                self.push_lost(&hedge, loss, primary.attempt_number);
                (primary, Ok(value))
            }
            Raced::Right(Ok(value)) => {
                let loss = loss_of(ready_now(first.as_mut()));
                let State::InFlight(f) = std::mem::replace(&mut self.state, State::InFlight(hedge))
                else {
                    return (hedge_attempt, Ok(value));
                };
                self.push_lost(&f, loss, hedge_attempt.attempt_number);
                (hedge_attempt, Ok(value))
            }
            Raced::Left(Err(error)) => {
                // An attempt that committed and failed in the same poll owns the call: the other
                // could never deliver, so it does not go on.
                if committed != Some(primary.attempt_number) {
                    // The hedge goes on alone.
                    self.note_failure(classifier.classify(&error), error.to_string());
                    self.state = State::InFlight(hedge);
                    (hedge_attempt, second.await)
                } else {
                    self.push_lost(&hedge, HedgeLoss::Cancelled, primary.attempt_number);
                    (primary, Err(error))
                }
            }
            Raced::Right(Err(error)) => {
                if committed != Some(hedge_attempt.attempt_number) {
                    // The first attempt goes on alone.
                    let State::InFlight(f) =
                        std::mem::replace(&mut self.state, State::InFlight(hedge))
                    else {
                        return (primary, first.await);
                    };
                    self.note_failure(classifier.classify(&error), error.to_string());
                    self.state = State::InFlight(f);
                    (primary, first.await)
                } else {
                    let State::InFlight(f) =
                        std::mem::replace(&mut self.state, State::InFlight(hedge))
                    else {
                        return (hedge_attempt, Err(error));
                    };
                    self.push_lost(&f, HedgeLoss::Cancelled, hedge_attempt.attempt_number);
                    (hedge_attempt, Err(error))
                }
            }
        }
    }

    /// Records the failure of the attempt in flight and its effect on the target (health, skipped
    /// for the rest of the call, a feature dropped for its model), without deciding what comes
    /// next: another attempt of the call is still running. A target that rejected a feature is
    /// left untried, so the call may come back to it without the feature, at once; one that
    /// failed otherwise than throttled or transient cannot serve this call and is skipped.
    fn note_failure(&mut self, classification: crate::Classification, message: String) {
        let class = classification.class();
        let Some(f) = self.take_in_flight(Some(class), Some(message)) else {
            return;
        };
        let target = &f.attempt.target;
        if let Some(health) = &self.health
            && classification.counts_against_target()
        {
            health.record_failure(target.model(), target.region());
        }
        if let Some(feature) = self.fallback_feature(&classification, target.model()) {
            debug!(
                attempt = f.attempt.attempt_number,
                feature,
                model = target.model(),
                "feature fallback: the target is asked again without it if the call needs it"
            );
            self.disabled.push((target.model().to_owned(), feature));
            self.fallbacks = self.fallbacks.saturating_add(1);
            if let Some(t) = self.tried.get_mut(f.index) {
                *t = false;
            }
        } else if !matches!(class, ErrorClass::Throttled | ErrorClass::Transient)
            && let Some(s) = self.skipped.get_mut(f.index)
        {
            *s = true;
        }
        debug!(
            attempt = f.attempt.attempt_number,
            %class,
            "hedged attempt failed; the other goes on"
        );
    }

    /// Records `f` as the loser of a race that attempt `winner` won.
    fn push_lost(&mut self, f: &InFlight<T>, loss: HedgeLoss, winner: u32) {
        let message = match loss {
            HedgeLoss::Cancelled => format!("cancelled: attempt {winner} answered first"),
            HedgeLoss::Discarded => {
                format!("discarded: answered with attempt {winner}, whose answer was used")
            }
        };
        info!(
            attempt = f.attempt.attempt_number,
            target = %f.attempt.target,
            winner,
            ?loss,
            "hedging: attempt lost the race"
        );
        self.records
            .push(f.record(self.clock.now(), None, Some(message), Some(loss)));
        // A probe that lost reported nothing about its half-open target: its reservation is
        // given back, so the next call may probe the target without waiting out the hold.
        if f.attempt.probe
            && let Some(health) = &self.health
        {
            health.release_probe(f.attempt.target.model(), f.attempt.target.region());
        }
    }
}

/// How the loser ended, from one poll after the winner answered.
fn loss_of<V, E>(outcome: Option<Result<V, E>>) -> HedgeLoss {
    match outcome {
        Some(Ok(_)) => HedgeLoss::Discarded,
        _ => HedgeLoss::Cancelled,
    }
}

#[cfg(test)]
#[cfg(feature = "tokio")]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        AttemptRecord, ClassifyFn, Clock, HealthConfig, HealthTracker, JitterMode, RetryConfig,
        RetryPlanner, TokioClock, TokioSleep,
    };

    /// An attempter whose attempts take a fixed time per region, then answer with the region's
    /// name or fail with `"<region> failed"` for the regions listed in `failing`.
    #[derive(Clone)]
    struct Regions {
        latency: Vec<(&'static str, u64)>,
        failing: Vec<&'static str>,
    }

    impl Attempter<String, String> for Regions {
        async fn attempt(&mut self, attempt: Attempt) -> Result<String, String> {
            let ms = self
                .latency
                .iter()
                .find(|(r, _)| *r == attempt.target.region)
                .map_or(0, |(_, ms)| *ms);
            TokioSleep::new().sleep(Duration::from_millis(ms)).await;
            if self.failing.contains(&attempt.target.region.as_str()) {
                Err(format!("{} failed", attempt.target.region))
            } else {
                Ok(attempt.target.region.clone())
            }
        }
    }

    struct Declines;

    impl HedgePolicy for Declines {
        fn delay(&self, _: &Attempt) -> Option<Duration> {
            Some(Duration::from_millis(100))
        }
        fn admit(&self, _: &Attempt, _: &Attempt) -> bool {
            false
        }
    }

    fn planner(health: Option<Arc<HealthTracker>>) -> RetryPlanner {
        let config = RetryConfig::standard()
            .with_jitter(JitterMode::None)
            .build()
            .unwrap();
        RetryPlanner::new(config, Arc::new(TokioClock::new())).with_health(health)
    }

    async fn run(
        planner: &RetryPlanner,
        policy: &dyn HedgePolicy,
        regions: Regions,
    ) -> (Result<String, String>, Vec<AttemptRecord>, Duration) {
        let clock = TokioClock::new();
        let start = clock.now();
        let plan = planner
            .plan(vec![
                Target::new("m", "r1"),
                Target::new("m", "r2"),
                Target::new("m", "r3"),
            ])
            .unwrap();
        let classifier = ClassifyFn(|_: &String| ErrorClass::Transient.into());
        let outcome = plan
            .run_hedged(
                &TokioSleep::new(),
                &classifier,
                policy,
                regions.clone(),
                regions,
            )
            .await;
        let took = clock.now() - start;
        match outcome {
            Ok(done) => (Ok(done.value), done.records, took),
            Err(failed) => (
                Err(failed.last_error.unwrap_or_default()),
                failed.records,
                took,
            ),
        }
    }

    fn summary(records: &[AttemptRecord]) -> Vec<String> {
        records
            .iter()
            .map(|r| {
                format!(
                    "{} #{} {}{}",
                    r.target.region,
                    r.attempt_number,
                    match (r.class, r.lost) {
                        (_, Some(HedgeLoss::Cancelled)) => "cancelled".to_owned(),
                        (_, Some(HedgeLoss::Discarded)) => "discarded".to_owned(),
                        (Some(class), None) => class.to_string(),
                        (None, None) => "ok".to_owned(),
                    },
                    if r.route == Route::Hedge {
                        " hedge"
                    } else {
                        ""
                    }
                )
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_is_hedged_and_the_faster_answer_wins() {
        let regions = Regions {
            latency: vec![("r1", 5_000), ("r2", 20)],
            failing: vec![],
        };
        let (value, records, took) =
            run(&planner(None), &Duration::from_millis(100), regions).await;
        assert_eq!(value.unwrap(), "r2");
        assert_eq!(summary(&records), ["r1 #1 cancelled", "r2 #2 ok hedge"]);
        assert_eq!(took, Duration::from_millis(120));
        assert_eq!(records[0].duration, Duration::from_millis(120));
        assert_eq!(records[1].duration, Duration::from_millis(20));
        assert_eq!(records[1].delay_before, Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_before_the_delay_is_not_hedged() {
        let regions = Regions {
            latency: vec![("r1", 50)],
            failing: vec![],
        };
        let (value, records, _) = run(&planner(None), &Duration::from_millis(100), regions).await;
        assert_eq!(value.unwrap(), "r1");
        assert_eq!(summary(&records), ["r1 #1 ok"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_declined_hedge_leaves_the_first_attempt_alone() {
        let regions = Regions {
            latency: vec![("r1", 5_000), ("r2", 20)],
            failing: vec![],
        };
        let (value, records, took) = run(&planner(None), &Declines, regions).await;
        assert_eq!(value.unwrap(), "r1");
        assert_eq!(summary(&records), ["r1 #1 ok"]);
        assert_eq!(took, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_attempt_wins_when_it_answers_before_the_hedge() {
        let regions = Regions {
            latency: vec![("r1", 300), ("r2", 1_000)],
            failing: vec![],
        };
        let (value, records, took) =
            run(&planner(None), &Duration::from_millis(100), regions).await;
        assert_eq!(value.unwrap(), "r1");
        assert_eq!(summary(&records), ["r2 #2 cancelled hedge", "r1 #1 ok"]);
        assert_eq!(took, Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn answers_in_the_same_instant_use_one_and_mark_the_other_discarded() {
        let regions = Regions {
            latency: vec![("r1", 200), ("r2", 100)],
            failing: vec![],
        };
        let (value, records, _) = run(&planner(None), &Duration::from_millis(100), regions).await;
        assert_eq!(value.unwrap(), "r1");
        assert_eq!(summary(&records), ["r2 #2 discarded hedge", "r1 #1 ok"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retryable_failure_of_one_lets_the_other_go_on() {
        let regions = Regions {
            latency: vec![("r1", 150), ("r2", 400)],
            failing: vec!["r1"],
        };
        let (value, records, took) =
            run(&planner(None), &Duration::from_millis(100), regions).await;
        assert_eq!(value.unwrap(), "r2");
        assert_eq!(summary(&records), ["r1 #1 transient", "r2 #2 ok hedge"]);
        assert_eq!(took, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn when_both_fail_the_loop_goes_on_after_the_hedge_and_hedges_no_more() {
        let regions = Regions {
            latency: vec![("r1", 150), ("r2", 200), ("r3", 1_000)],
            failing: vec!["r1", "r2"],
        };
        let (value, records, _) = run(&planner(None), &Duration::from_millis(100), regions).await;
        assert_eq!(value.unwrap(), "r3");
        assert_eq!(
            summary(&records),
            ["r1 #1 transient", "r2 #2 transient hedge", "r3 #3 ok"]
        );
    }

    /// An attempter whose attempts commit (deliver a first event) after a time per region, then
    /// finish after another; an attempt that finds the other committed never goes on.
    #[derive(Clone)]
    struct Committing {
        gate: Arc<std::sync::atomic::AtomicU32>,
        /// Region, time to commit, time from commit to the end.
        regions: Vec<(&'static str, u64, u64)>,
    }

    impl Attempter<String, String> for Committing {
        async fn attempt(&mut self, attempt: Attempt) -> Result<String, String> {
            use std::sync::atomic::Ordering;
            let (commit, rest) = self
                .regions
                .iter()
                .find(|(r, _, _)| *r == attempt.target.region)
                .map_or((0, 0), |(_, c, r)| (*c, *r));
            TokioSleep::new().sleep(Duration::from_millis(commit)).await;
            let n = attempt.attempt_number;
            if self
                .gate
                .compare_exchange(0, n, Ordering::SeqCst, Ordering::SeqCst)
                .is_err_and(|now| now != n)
            {
                std::future::pending::<()>().await;
            }
            TokioSleep::new().sleep(Duration::from_millis(rest)).await;
            Ok(attempt.target.region.clone())
        }
    }

    struct CommitPolicy(Arc<std::sync::atomic::AtomicU32>);

    impl HedgePolicy for CommitPolicy {
        fn delay(&self, _: &Attempt) -> Option<Duration> {
            Some(Duration::from_millis(100))
        }
        fn committed(&self) -> Option<u32> {
            match self.0.load(std::sync::atomic::Ordering::SeqCst) {
                0 => None,
                n => Some(n),
            }
        }
    }

    async fn run_committing(
        regions: Vec<(&'static str, u64, u64)>,
    ) -> (String, Vec<AttemptRecord>, Duration) {
        let gate = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let attempter = Committing {
            gate: Arc::clone(&gate),
            regions,
        };
        let clock = TokioClock::new();
        let start = clock.now();
        let plan = planner(None)
            .plan(vec![Target::new("m", "r1"), Target::new("m", "r2")])
            .unwrap();
        let classifier = ClassifyFn(|_: &String| ErrorClass::Transient.into());
        let done = plan
            .run_hedged(
                &TokioSleep::new(),
                &classifier,
                &CommitPolicy(gate),
                attempter.clone(),
                attempter,
            )
            .await
            .unwrap();
        (done.value, done.records, clock.now() - start)
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_attempt_to_commit_wins_and_the_other_is_dropped_at_once() {
        // r1 would commit after 5 s; the hedge on r2 commits 30 ms after it starts, then takes
        // 2 s more to finish: r1 is cancelled when r2 commits, not when it finishes.
        let (value, records, took) =
            run_committing(vec![("r1", 5_000, 0), ("r2", 30, 2_000)]).await;
        assert_eq!(value, "r2");
        assert_eq!(summary(&records), ["r1 #1 cancelled", "r2 #2 ok hedge"]);
        assert_eq!(records[0].duration, Duration::from_millis(130));
        assert_eq!(took, Duration::from_millis(2_130));
    }

    #[tokio::test(start_paused = true)]
    async fn a_committed_attempt_is_never_hedged_however_long_it_takes() {
        let (value, records, took) = run_committing(vec![("r1", 50, 3_000), ("r2", 0, 0)]).await;
        assert_eq!(value, "r1");
        assert_eq!(summary(&records), ["r1 #1 ok"]);
        assert_eq!(took, Duration::from_millis(3_050));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_attempt_committing_during_the_race_cancels_the_hedge() {
        let (value, records, _) = run_committing(vec![("r1", 150, 1_000), ("r2", 500, 0)]).await;
        assert_eq!(value, "r1");
        assert_eq!(summary(&records), ["r2 #2 cancelled hedge", "r1 #1 ok"]);
        assert_eq!(records[0].duration, Duration::from_millis(50));
    }

    /// An attempter (named `name`) whose attempt number `breaks` delivers its first event after
    /// `after` ms and fails in the same poll (a stream whose first text and an exception frame
    /// arrive together); the other attempt of the race would commit after 500 ms, and any later
    /// attempt answers at once with the attempter's name.
    #[derive(Clone)]
    struct CommitThenFail {
        name: &'static str,
        gate: Arc<std::sync::atomic::AtomicU32>,
        breaks: u32,
        after: u64,
    }

    impl Attempter<String, String> for CommitThenFail {
        async fn attempt(&mut self, attempt: Attempt) -> Result<String, String> {
            use std::sync::atomic::Ordering;
            let n = attempt.attempt_number;
            if n > 2 {
                return Ok(format!("{} #{n}", self.name));
            }
            let wait = if n == self.breaks { self.after } else { 500 };
            TokioSleep::new().sleep(Duration::from_millis(wait)).await;
            if self
                .gate
                .compare_exchange(0, n, Ordering::SeqCst, Ordering::SeqCst)
                .is_err_and(|now| now != n)
            {
                // Another attempt delivered: this one can never deliver.
                std::future::pending::<()>().await;
            }
            if n == self.breaks {
                return Err(format!("attempt {n} broke after its first event"));
            }
            Ok(format!("{} #{n}", self.name))
        }
    }

    async fn run_commit_then_fail(breaks: u32, after: u64) -> (String, Vec<AttemptRecord>) {
        let gate = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let attempter = |name| CommitThenFail {
            name,
            gate: Arc::clone(&gate),
            breaks,
            after,
        };
        let plan = planner(None)
            .plan(vec![Target::new("m", "r1"), Target::new("m", "r2")])
            .unwrap();
        let classifier = ClassifyFn(|_: &String| ErrorClass::Transient.into());
        let policy = CommitPolicy(Arc::clone(&gate));
        let sleep = TokioSleep::new();
        let run = plan.run_hedged(
            &sleep,
            &classifier,
            &policy,
            attempter("call"),
            attempter("spare"),
        );
        let done = crate::timeout(&sleep, Duration::from_secs(60), run)
            .await
            .expect("the call ends: the attempt that delivered is not left waiting")
            .unwrap();
        (done.value, done.records)
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_commits_and_fails_at_once_ends_the_race_in_its_favour() {
        // r1 delivers at 150 ms and breaks in the same poll, while its hedge waits: the hedge is
        // cancelled (it could never deliver), and r1's attempter, which holds what r1 delivered,
        // makes the next attempt.
        let (value, records) = run_commit_then_fail(1, 150).await;
        assert_eq!(
            summary(&records),
            ["r2 #2 cancelled hedge", "r1 #1 transient", "r2 #3 ok"]
        );
        assert_eq!(value, "call #3");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hedge_that_commits_and_fails_at_once_ends_the_race_in_its_favour() {
        // The hedge delivers 30 ms after it starts and breaks in the same poll: the first attempt
        // is cancelled, and the hedge's attempter makes the next attempt.
        let (value, records) = run_commit_then_fail(2, 30).await;
        assert_eq!(
            summary(&records),
            ["r1 #1 cancelled", "r2 #2 transient hedge", "r1 #3 ok"]
        );
        assert_eq!(value, "spare #3");
    }

    #[tokio::test(start_paused = true)]
    async fn a_feature_rejected_by_one_racer_lets_the_other_go_on() {
        // r1 rejects a feature after 150 ms (its hedge started at 100 ms); the hedge on r2 takes
        // the request as it is and answers at 400 ms.
        let run = |failing: Vec<&'static str>| async move {
            let regions = Regions {
                latency: vec![("r1", 150), ("r2", 300), ("r3", 10)],
                failing,
            };
            let plan = planner(None)
                .plan(vec![
                    Target::new("m", "r1"),
                    Target::new("m", "r2"),
                    Target::new("m", "r3"),
                ])
                .unwrap();
            let classifier = ClassifyFn(|e: &String| {
                if e.starts_with("r1") {
                    crate::Classification::new(ErrorClass::BadRequest)
                        .with_unsupported_feature("documents")
                } else {
                    ErrorClass::Transient.into()
                }
            });
            let outcome = plan
                .run_hedged(
                    &TokioSleep::new(),
                    &classifier,
                    &Duration::from_millis(100),
                    regions.clone(),
                    regions,
                )
                .await;
            match outcome {
                Ok(done) => (Ok(done.value), done.records),
                Err(failed) => (Err(failed.last_error.unwrap_or_default()), failed.records),
            }
        };
        let (value, records) = run(vec!["r1"]).await;
        assert_eq!(value.unwrap(), "r2");
        assert_eq!(summary(&records), ["r1 #1 bad_request", "r2 #2 ok hedge"]);
        assert!(records[1].disabled_features.is_empty());

        // Every other attempt fails too: r1 is left untried, so the call comes back to it at
        // once, without the feature.
        let (_, records) = run(vec!["r1", "r2", "r3"]).await;
        assert_eq!(
            summary(&records),
            [
                "r1 #1 bad_request",
                "r2 #2 transient hedge",
                "r3 #3 transient",
                "r1 #4 bad_request"
            ]
        );
        assert_eq!(records[3].disabled_features, ["documents"]);
        assert_eq!(records[3].delay_before, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_that_would_end_the_call_leaves_the_other_racer_to_answer() {
        // r1 refuses the request at 150 ms (a bad request for its model), while its hedge on r2,
        // started at 100 ms, takes it.
        let classifier = ClassifyFn(|e: &String| {
            if e.starts_with("r1") {
                ErrorClass::BadRequest.into()
            } else {
                ErrorClass::Transient.into()
            }
        });
        let run = |failing: Vec<&'static str>| {
            let classifier = &classifier;
            async move {
                let regions = Regions {
                    latency: vec![("r1", 150), ("r2", 300)],
                    failing,
                };
                let plan = planner(None)
                    .plan(vec![Target::new("m", "r1"), Target::new("m", "r2")])
                    .unwrap();
                match plan
                    .run_hedged(
                        &TokioSleep::new(),
                        classifier,
                        &Duration::from_millis(100),
                        regions.clone(),
                        regions,
                    )
                    .await
                {
                    Ok(done) => (Ok(done.value), done.records),
                    Err(failed) => (Err(failed.last_error.unwrap_or_default()), failed.records),
                }
            }
        };
        let (value, records) = run(vec!["r1"]).await;
        assert_eq!(value.unwrap(), "r2");
        assert_eq!(summary(&records), ["r1 #1 bad_request", "r2 #2 ok hedge"]);

        // When the other fails too, the call goes on without the target that refused it.
        let (value, records) = run(vec!["r1", "r2"]).await;
        assert_eq!(value.unwrap_err(), "r2 failed");
        assert_eq!(
            summary(&records),
            [
                "r1 #1 bad_request",
                "r2 #2 transient hedge",
                "r2 #3 transient",
                "r2 #4 transient",
                "r2 #5 transient"
            ]
        );
    }

    /// Admits only the hedge of attempt 2.
    struct SecondOnly;

    impl HedgePolicy for SecondOnly {
        fn delay(&self, _: &Attempt) -> Option<Duration> {
            Some(Duration::from_millis(100))
        }
        fn admit(&self, attempt: &Attempt, _: &Attempt) -> bool {
            attempt.attempt_number == 2
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_hedge_was_declined_may_hedge_a_later_attempt() {
        let regions = Regions {
            latency: vec![("r1", 200), ("r2", 5_000), ("r3", 20)],
            failing: vec!["r1"],
        };
        let (value, records, _) = run(&planner(None), &SecondOnly, regions).await;
        assert_eq!(value.unwrap(), "r3");
        assert_eq!(
            summary(&records),
            ["r1 #1 transient", "r2 #2 cancelled", "r3 #3 ok hedge"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hedge_skips_a_target_that_cools_down() {
        let health = Arc::new(HealthTracker::new(
            HealthConfig::standard().with_failure_threshold(1),
            Arc::new(TokioClock::new()),
        ));
        health.record_failure("m", "r2");
        let regions = Regions {
            latency: vec![("r1", 5_000), ("r2", 10), ("r3", 20)],
            failing: vec![],
        };
        let (value, records, _) =
            run(&planner(Some(health)), &Duration::from_millis(100), regions).await;
        assert_eq!(value.unwrap(), "r3");
        assert_eq!(summary(&records), ["r1 #1 cancelled", "r3 #2 ok hedge"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_cancelled_by_its_hedge_gives_its_reservation_back() {
        let health = Arc::new(HealthTracker::new(
            HealthConfig::standard().with_failure_threshold(1),
            Arc::new(TokioClock::new()),
        ));
        for region in ["r1", "r2", "r3"] {
            health.record_failure("m", region);
        }
        tokio::time::advance(health.config().cool_down()).await;
        assert_eq!(health.state("m", "r1"), crate::TargetHealth::HalfOpen);
        // Every target is half-open, so the call's first attempt is r1's probe; while it runs,
        // another call's probe makes r2 healthy, and the hedge goes there.
        let other_call = Arc::clone(&health);
        tokio::spawn(async move {
            TokioSleep::new().sleep(Duration::from_millis(50)).await;
            other_call.record_success("m", "r2");
        });
        let regions = Regions {
            latency: vec![("r1", 5_000), ("r2", 20)],
            failing: vec![],
        };
        let (value, records, _) = run(
            &planner(Some(Arc::clone(&health))),
            &Duration::from_millis(100),
            regions,
        )
        .await;
        assert_eq!(value.unwrap(), "r2");
        assert_eq!(summary(&records), ["r1 #1 cancelled", "r2 #2 ok hedge"]);
        assert_eq!(health.state("m", "r1"), crate::TargetHealth::HalfOpen);
        assert_eq!(
            health.admit("m", "r1", Duration::ZERO),
            crate::Admission::Probe,
            "the cancelled probe no longer holds the target"
        );
    }
}
