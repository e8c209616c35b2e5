//! Adaptive pacing: a request-rate and token-rate limiter per target (model, region), so a batch
//! stays under the account's quotas instead of being sent into throttles.
//!
//! Each (model, region) has a lane with two rates, requests and tokens per second, both kept as a
//! generic cell rate (GCRA): a request may go when the lane's theoretical arrival time is at most
//! one burst ahead of now, and each request moves it on by its cost at the lane's rate. A request
//! costs its estimated input tokens plus its `maxTokens` (what Bedrock reserves when a request
//! starts); the difference to the tokens actually used is given back with the answer.
//!
//! Rates come from configured quotas ([`Quota`]) and are learned from throttling (additive
//! increase, multiplicative decrease): a `ThrottlingException` cuts the lane's rate (a lane
//! without one starts at what it served in the last quota window, counting the answers to the
//! requests in flight when it was throttled, times the headroom) and holds it for a moment; a
//! success grows it slowly again, never above the configured quota.
//!
//! The process's own lanes live behind a small crate-private store trait (`PaceStore`,
//! `LocalPace`). With the `fleet` feature, the `Pacer` asks the fleet's shared lanes in Redis
//! first (`crate::fleet`: the same steps as one Lua script, checked against `LocalPace` by a
//! test) and the local lanes while Redis cannot be reached.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bedrock_retry::Clock;

/// A configured quota for one model, in one region or in every region.
///
/// # Example
///
/// ```
/// use llmmanager::pacing::Quota;
///
/// let quota = Quota::new("anthropic.claude-3-haiku-20240307-v1:0")
///     .region("us-east-1")
///     .requests_per_minute(600)
///     .tokens_per_minute(200_000);
/// assert_eq!(quota.model_id(), "anthropic.claude-3-haiku-20240307-v1:0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    model: String,
    region: Option<String>,
    requests_per_minute: Option<u64>,
    tokens_per_minute: Option<u64>,
}

impl Quota {
    /// A quota for `model` (a base model id) in every region, with no limit set yet.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            region: None,
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }

    /// Applies the quota in `region` only.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Requests per minute.
    #[must_use]
    pub fn requests_per_minute(mut self, rpm: u64) -> Self {
        self.requests_per_minute = Some(rpm);
        self
    }

    /// Tokens (input plus output) per minute.
    #[must_use]
    pub fn tokens_per_minute(mut self, tpm: u64) -> Self {
        self.tokens_per_minute = Some(tpm);
        self
    }

    /// The model the quota applies to.
    pub fn model_id(&self) -> &str {
        &self.model
    }

    /// The region the quota applies to (`None`: every region).
    pub fn region_name(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The requests and tokens per window, when set.
    #[cfg(feature = "fleet")]
    pub(crate) fn limits(&self) -> (Option<u64>, Option<u64>) {
        (self.requests_per_minute, self.tokens_per_minute)
    }

    pub(crate) fn applies(&self, model: &str, region: &str) -> bool {
        self.model == model && self.region.as_deref().is_none_or(|r| r == region)
    }
}

/// Adaptive pacing per target, off unless set with
/// [`LlmManagerBuilder::pacing`](crate::LlmManagerBuilder::pacing).
///
/// A paced call waits for capacity on its target for as long as its attempt has time left (the
/// call's deadline), and prefers a target with capacity now over one it would wait for. A call
/// that cannot get capacity in time fails that attempt as "no capacity" (throttled, not held
/// against the target's health) and the plan moves on.
///
/// # Example
///
/// ```
/// use llmmanager::pacing::{Pacing, Quota};
///
/// let pacing = Pacing::adaptive()
///     .quota(Quota::new("anthropic.claude-3-haiku-20240307-v1:0").requests_per_minute(600))
///     .headroom(0.95);
/// assert_eq!(pacing.quotas().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pacing {
    quotas: Vec<Quota>,
    headroom: f64,
    learn: bool,
    decrease: f64,
    increase: f64,
    window: Duration,
}

impl Pacing {
    /// Pacing seeded from the quotas added with [`Pacing::quota`] and learned from throttling.
    pub fn adaptive() -> Self {
        Self {
            quotas: Vec::new(),
            headroom: 0.95,
            learn: true,
            decrease: 0.7,
            increase: 0.05,
            window: Duration::from_secs(60),
        }
    }

    /// Pacing to the configured quotas only: throttling does not change the rates.
    pub fn fixed() -> Self {
        Self {
            learn: false,
            ..Self::adaptive()
        }
    }

    /// Adds a configured quota (the first one that applies to a target wins).
    #[must_use]
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// The share of a configured or learned quota to use (default 0.95, clamped to 0.05–1.0):
    /// the rest is room for the quota windows' edges and for requests this process does not see.
    #[must_use]
    pub fn headroom(mut self, share: f64) -> Self {
        self.headroom = clamped(share, 0.05, 1.0, 0.95);
        self
    }

    /// The factor a throttle cuts a learned rate by (default 0.7, clamped to 0.1–0.95).
    #[must_use]
    pub fn decrease(mut self, factor: f64) -> Self {
        self.decrease = clamped(factor, 0.1, 0.95, 0.7);
        self
    }

    /// How much a rate grows per quota window without throttling, as a share of itself
    /// (default 0.05, clamped to 0–1).
    #[must_use]
    pub fn increase(mut self, share: f64) -> Self {
        self.increase = clamped(share, 0.0, 1.0, 0.05);
        self
    }

    /// The service's quota window (default one minute, Bedrock's): quotas count per window (a
    /// [`Quota`]'s "per minute" is per window), a lane may run a sixtieth of a window ahead of
    /// its rate, and what a lane served in the last window is where a learned rate starts.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(1));
        self
    }

    /// The quotas with model names and aliases replaced by the ids of `models`.
    pub(crate) fn resolved(mut self, models: &[bedrock_catalog::ModelInfo]) -> Self {
        for quota in &mut self.quotas {
            let named = models.iter().find(|m| {
                m.name.eq_ignore_ascii_case(&quota.model)
                    || m.aliases
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(&quota.model))
            });
            if let Some(model) = named
                && !models.iter().any(|m| m.id == quota.model)
            {
                quota.model.clone_from(&model.id);
            }
        }
        self
    }

    /// The configured quotas.
    pub fn quotas(&self) -> &[Quota] {
        &self.quotas
    }

    /// Whether throttling changes the rates.
    pub fn learns(&self) -> bool {
        self.learn
    }

    /// The quota window.
    #[cfg(feature = "fleet")]
    pub(crate) fn window_len(&self) -> Duration {
        self.window
    }

    /// The share of a quota used.
    #[cfg(feature = "fleet")]
    pub(crate) fn headroom_share(&self) -> f64 {
        self.headroom
    }

    /// The factor a throttle cuts a learned rate by.
    #[cfg(feature = "fleet")]
    pub(crate) fn decrease_factor(&self) -> f64 {
        self.decrease
    }

    /// The growth per window without throttling.
    #[cfg(feature = "fleet")]
    pub(crate) fn increase_share(&self) -> f64 {
        self.increase
    }
}

impl Default for Pacing {
    fn default() -> Self {
        Self::adaptive()
    }
}

/// Which limit a throttle named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Requests,
    Tokens,
}

/// Where the lanes live: this process ([`LocalPace`]), or a store several processes share.
/// Times are on the caller's clock.
pub(crate) trait PaceStore: Send + Sync + fmt::Debug {
    /// How long a request of `tokens` on `model` in `region` would wait at `now` (nothing
    /// reserved).
    fn wait(&self, model: &str, region: &str, tokens: u64, now: Duration) -> Duration;

    /// Reserves a place for a request of `tokens` when it is at most `max_wait` away: `Ok` to
    /// send after its wait, `Err(wait)` without reserving anything when it is further.
    fn reserve(
        &self,
        model: &str,
        region: &str,
        tokens: u64,
        now: Duration,
        max_wait: Duration,
    ) -> Result<Reservation, Duration>;

    /// How many throttles the lane has seen: a reservation made before the latest throttle is
    /// void (the throttle cleared the queue), and its request reserves again.
    fn epoch(&self, model: &str, region: &str) -> u64;

    /// A request reserved with `reserved` tokens was answered and used `used` (when known).
    fn succeeded(&self, model: &str, region: &str, reserved: u64, used: Option<u64>, now: Duration);

    /// A request was throttled on `limit`.
    fn throttled(&self, model: &str, region: &str, limit: Limit, now: Duration);

    /// A request reserved with `reserved` tokens at `epoch` ended with nothing to report: it was
    /// dropped (the loser of a hedged race) or failed before it was sent. Unsent, its place is
    /// given back (unless a throttle since `epoch` cleared the queue); sent, it keeps what it
    /// reserved and counts as served, since Bedrock counted the request and may still finish it,
    /// but it neither grows nor cuts a rate: it says nothing about the quota.
    fn abandoned(
        &self,
        model: &str,
        region: &str,
        reserved: u64,
        sent: bool,
        epoch: u64,
        now: Duration,
    );
}

/// A place in a lane's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reservation {
    /// How long to wait before sending.
    pub(crate) wait: Duration,
    /// The lane's throttle count when the place was given.
    pub(crate) epoch: u64,
    /// Whether the place is on a lane shared by a fleet (its epoch is the fleet's).
    pub(crate) shared: bool,
}

/// One rate, as a generic cell rate: `per_sec` (`None`: unlimited) and the theoretical arrival
/// time `tat`.
#[derive(Debug, Clone, Default)]
struct Rate {
    per_sec: Option<f64>,
    /// The most the rate grows to, per second: the configured quota times the headroom, else
    /// what the lane served in a window when it was throttled (which itself creeps up slowly).
    ceiling: Option<f64>,
    /// Whether `ceiling` is configured rather than learned.
    configured: bool,
    /// How far ahead of now the lane may run: a sixtieth of the quota window.
    burst: Duration,
    tat: Duration,
    /// The lane may not send before this (a hold after a throttle).
    hold_until: Duration,
    /// Consecutive throttles without a success, for the hold's length.
    strikes: u32,
    last_cut: Option<Duration>,
    /// Whether the lane answered since the last cut: throttles without an answer in between
    /// say the window is still spent, not that the rate is too high, and only hold the lane.
    answered_since_cut: bool,
    last_growth: Duration,
    /// Until when a rate learned from nothing is still counting: the answers to requests that
    /// were in flight when the lane was first throttled arrive during its first hold, and each
    /// adds its share to the rate (they were served in the same window).
    learning_until: Option<Duration>,
}

impl Rate {
    fn seeded(per_window: Option<u64>, config: &Pacing) -> Self {
        let window = config.window.as_secs_f64();
        #[allow(clippy::cast_precision_loss, reason = "quotas are far below 2^52")]
        let per_sec = per_window.map(|q| (q as f64 * config.headroom / window).max(1e-6));
        Self {
            per_sec,
            ceiling: per_sec,
            configured: per_sec.is_some(),
            burst: config.window / 60,
            ..Self::default()
        }
    }

    fn cost(&self, units: u64) -> Duration {
        match self.per_sec {
            #[allow(clippy::cast_precision_loss, reason = "costs are far below 2^52")]
            Some(rate) => Duration::try_from_secs_f64(units as f64 / rate).unwrap_or(Duration::MAX),
            None => Duration::ZERO,
        }
    }

    fn wait(&self, now: Duration) -> Duration {
        let hold = self.hold_until.saturating_sub(now);
        if self.per_sec.is_none() {
            return hold;
        }
        hold.max(self.tat.saturating_sub(self.burst).saturating_sub(now))
    }

    fn take(&mut self, now: Duration, units: u64) {
        if self.per_sec.is_some() {
            // Behind any hold: waiters queue after it at the lane's rate.
            self.tat = self
                .tat
                .max(now)
                .max(self.hold_until)
                .saturating_add(self.cost(units));
        }
    }

    fn give_back(&mut self, now: Duration, units: u64) {
        if self.per_sec.is_some() {
            self.tat = self
                .tat
                .saturating_sub(self.cost(units))
                .max(now.min(self.tat));
        }
    }

    /// A throttle: the lane holds for a while (longer with each throttle in a row), and the rate
    /// is cut once per hold: multiplied by `decrease`, or, when it had none, set to what the lane
    /// served in the last window. Without a configured quota, what it served becomes the
    /// ceiling the rate grows back to. The queue is cleared.
    fn cut(&mut self, now: Duration, served: u64, config: &Pacing) {
        let hold = (config.window / 20)
            .saturating_mul(1 << self.strikes.min(3))
            .min(config.window / 4);
        self.strikes = self.strikes.saturating_add(1);
        self.hold_until = self.hold_until.max(now.saturating_add(hold));
        // The queue is cleared: waiters reserve again behind the hold.
        self.tat = self.hold_until;
        if !config.learn
            || self
                .last_cut
                .is_some_and(|at| now < at.saturating_add(hold))
            || (self.per_sec.is_some() && self.last_cut.is_some() && !self.answered_since_cut)
        {
            return;
        }
        self.answered_since_cut = false;
        self.last_cut = Some(now);
        self.last_growth = now;
        #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
        let served = served.max(1) as f64 * config.headroom / config.window.as_secs_f64();
        if self.per_sec.is_none() {
            self.learning_until = Some(self.hold_until);
        }
        let learned = self.per_sec.map_or(served, |rate| rate * config.decrease);
        if !self.configured {
            self.ceiling = Some(served.max(learned));
        }
        self.per_sec = Some(learned.max(1e-6));
    }

    /// A success of `units`: the hold ends its strikes, a learned rate grows by `increase` per
    /// window up to the ceiling, and a learned ceiling by a tenth of that. While a rate learned
    /// from nothing is still counting (its first hold), the answer instead adds its units to
    /// what the lane served in the window it learned from.
    fn grow(&mut self, now: Duration, config: &Pacing, units: u64) {
        self.strikes = 0;
        let Some(rate) = self.per_sec else {
            self.answered_since_cut = true;
            return;
        };
        if !config.learn {
            self.answered_since_cut = true;
            return;
        }
        if self.learning_until.is_some_and(|until| now < until) {
            #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
            let share = units as f64 * config.headroom / config.window.as_secs_f64();
            self.per_sec = Some(rate + share);
            if !self.configured {
                self.ceiling = self.ceiling.map(|c| c.max(rate + share));
            }
            self.last_growth = now;
            return;
        }
        self.learning_until = None;
        self.answered_since_cut = true;
        let windows =
            now.saturating_sub(self.last_growth).as_secs_f64() / config.window.as_secs_f64();
        self.last_growth = now;
        if !self.configured {
            self.ceiling = self
                .ceiling
                .map(|c| c * (1.0 + config.increase / 10.0 * windows));
        }
        let grown = rate * (1.0 + config.increase * windows);
        self.per_sec = Some(match self.ceiling {
            Some(ceiling) => grown.min(ceiling),
            None => grown,
        });
    }
}

/// The pacing state of one (model, region).
#[derive(Debug, Clone, Default)]
struct Lane {
    requests: Rate,
    tokens: Rate,
    /// Answers in the last window: when and how many tokens they used.
    served: VecDeque<(Duration, u64)>,
    /// Throttles seen.
    epoch: u64,
}

impl Lane {
    fn wait(&self, now: Duration) -> Duration {
        self.requests.wait(now).max(self.tokens.wait(now))
    }

    fn forget_before(&mut self, now: Duration, window: Duration) {
        while self
            .served
            .front()
            .is_some_and(|(at, _)| now.saturating_sub(*at) > window)
        {
            self.served.pop_front();
        }
    }
}

/// The lanes of this process.
#[derive(Debug)]
pub(crate) struct LocalPace {
    config: Pacing,
    lanes: Mutex<HashMap<(String, String), Lane>>,
}

impl LocalPace {
    pub(crate) fn new(config: Pacing) -> Self {
        Self {
            config,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    fn with_lane<R>(&self, model: &str, region: &str, f: impl FnOnce(&mut Lane) -> R) -> R {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (model.to_owned(), region.to_owned());
        let lane = lanes.entry(key).or_insert_with(|| {
            let quota = self.config.quotas.iter().find(|q| q.applies(model, region));
            Lane {
                requests: Rate::seeded(quota.and_then(|q| q.requests_per_minute), &self.config),
                tokens: Rate::seeded(quota.and_then(|q| q.tokens_per_minute), &self.config),
                served: VecDeque::new(),
                epoch: 0,
            }
        });
        f(lane)
    }
}

impl PaceStore for LocalPace {
    fn wait(&self, model: &str, region: &str, _tokens: u64, now: Duration) -> Duration {
        self.with_lane(model, region, |lane| lane.wait(now))
    }

    fn reserve(
        &self,
        model: &str,
        region: &str,
        tokens: u64,
        now: Duration,
        max_wait: Duration,
    ) -> Result<Reservation, Duration> {
        self.with_lane(model, region, |lane| {
            let wait = lane.wait(now);
            if wait > max_wait {
                return Err(wait);
            }
            lane.requests.take(now, 1);
            lane.tokens.take(now, tokens);
            Ok(Reservation {
                wait,
                epoch: lane.epoch,
                shared: false,
            })
        })
    }

    fn epoch(&self, model: &str, region: &str) -> u64 {
        self.with_lane(model, region, |lane| lane.epoch)
    }

    fn abandoned(
        &self,
        model: &str,
        region: &str,
        reserved: u64,
        sent: bool,
        epoch: u64,
        now: Duration,
    ) {
        let window = self.config.window;
        self.with_lane(model, region, |lane| {
            if sent {
                lane.served.push_back((now, reserved));
                lane.forget_before(now, window);
            } else if lane.epoch == epoch {
                lane.requests.give_back(now, 1);
                lane.tokens.give_back(now, reserved);
            }
        });
    }

    fn succeeded(
        &self,
        model: &str,
        region: &str,
        reserved: u64,
        used: Option<u64>,
        now: Duration,
    ) {
        let window = self.config.window;
        self.with_lane(model, region, |lane| {
            let used = used.unwrap_or(reserved);
            lane.tokens.give_back(now, reserved.saturating_sub(used));
            lane.served.push_back((now, used));
            lane.forget_before(now, window);
            lane.requests.grow(now, &self.config, 1);
            lane.tokens.grow(now, &self.config, used);
        });
    }

    fn throttled(&self, model: &str, region: &str, limit: Limit, now: Duration) {
        let window = self.config.window;
        self.with_lane(model, region, |lane| {
            lane.forget_before(now, window);
            lane.epoch = lane.epoch.wrapping_add(1);
            match limit {
                Limit::Requests => {
                    let served = lane.served.len() as u64;
                    lane.requests.cut(now, served, &self.config);
                    lane.tokens.tat = lane.tokens.tat.min(lane.requests.hold_until);
                }
                Limit::Tokens => {
                    let served = lane.served.iter().map(|(_, t)| t).sum();
                    lane.tokens.cut(now, served, &self.config);
                    // Hold the request side too: the lane sends nothing until the hold ends.
                    lane.requests.hold_until = lane.requests.hold_until.max(lane.tokens.hold_until);
                    lane.requests.tat = lane.requests.hold_until;
                }
            }
        });
    }
}

/// The pacer of one manager: its own lanes, and with a fleet the lanes it shares (its own then
/// stand in while the fleet's store cannot be reached, and learn from this process meanwhile).
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    pub(crate) store: Arc<dyn PaceStore>,
    #[cfg(feature = "fleet")]
    pub(crate) fleet: Option<Arc<crate::fleet::FleetPace>>,
}

impl Pacer {
    pub(crate) fn local(config: Pacing) -> Self {
        Self {
            store: Arc::new(LocalPace::new(config)),
            #[cfg(feature = "fleet")]
            fleet: None,
        }
    }

    /// A pacer sharing its lanes with a fleet.
    #[cfg(feature = "fleet")]
    pub(crate) async fn fleet(
        config: Pacing,
        fleet: crate::fleet::Fleet,
        health: Arc<bedrock_retry::HealthTracker>,
    ) -> Result<Self, crate::fleet::FleetError> {
        let shared = crate::fleet::FleetPace::connect(fleet, config.clone(), health).await?;
        Ok(Self {
            fleet: Some(Arc::new(shared)),
            ..Self::local(config)
        })
    }

    /// Reserves a place for a request of `tokens` on its target when it is at most `max_wait`
    /// away (see [`PaceStore::reserve`]); on the fleet's lane when there is one and it answers.
    pub(crate) async fn reserve(
        &self,
        model: &str,
        region: &str,
        tokens: u64,
        now: Duration,
        max_wait: Duration,
    ) -> Result<Reservation, Duration> {
        #[cfg(feature = "fleet")]
        if let Some(fleet) = &self.fleet
            && let Some(place) = fleet.reserve(model, region, tokens, now, max_wait).await
        {
            return place;
        }
        self.store.reserve(model, region, tokens, now, max_wait)
    }

    /// Whether `place` still stands: no throttle on its lane since it was given.
    pub(crate) async fn still_stands(
        &self,
        model: &str,
        region: &str,
        place: &Reservation,
        now: Duration,
    ) -> bool {
        #[cfg(feature = "fleet")]
        if place.shared {
            return match &self.fleet {
                Some(fleet) => fleet.epoch(model, region, now).await == Some(place.epoch),
                None => false,
            };
        }
        let _ = now;
        !place.shared && self.store.epoch(model, region) == place.epoch
    }

    /// A request reserved with `reserved` tokens was answered and used `used`.
    pub(crate) fn succeeded(
        &self,
        model: &str,
        region: &str,
        reserved: u64,
        used: Option<u64>,
        now: Duration,
    ) {
        self.store.succeeded(model, region, reserved, used, now);
        #[cfg(feature = "fleet")]
        if let Some(fleet) = &self.fleet {
            fleet.succeeded(model, region, reserved, used, now);
        }
    }

    /// A request given `place` with `reserved` tokens ended with nothing to report (see
    /// [`PaceStore::abandoned`]): reported to the lane the place is on. A place on the fleet's
    /// lane, sent, also counts as served on this process's own lane, which learns from every
    /// answer meanwhile.
    pub(crate) fn abandoned(
        &self,
        model: &str,
        region: &str,
        reserved: u64,
        sent: bool,
        place: &Reservation,
        now: Duration,
    ) {
        if sent || !place.shared {
            self.store
                .abandoned(model, region, reserved, sent, place.epoch, now);
        }
        #[cfg(feature = "fleet")]
        if place.shared
            && let Some(fleet) = &self.fleet
        {
            fleet.abandoned(model, region, reserved, sent, place.epoch, now);
        }
    }

    /// A request was throttled on `limit`.
    pub(crate) fn throttled(&self, model: &str, region: &str, limit: Limit, now: Duration) {
        self.store.throttled(model, region, limit, now);
        #[cfg(feature = "fleet")]
        if let Some(fleet) = &self.fleet {
            fleet.throttled(model, region, limit, now);
        }
    }

    /// Which limit a `ThrottlingException`'s message names (requests unless it says tokens).
    pub(crate) fn limit_of(message: &str) -> Limit {
        if message.to_ascii_lowercase().contains("token") {
            Limit::Tokens
        } else {
            Limit::Requests
        }
    }

    /// The wait of a request on a target now, for ordering targets.
    pub(crate) fn wait(
        &self,
        model: &str,
        region: &str,
        tokens: u64,
        clock: &dyn Clock,
    ) -> Duration {
        #[cfg(feature = "fleet")]
        if let Some(fleet) = &self.fleet {
            return fleet.wait_hint(model, region, clock.now());
        }
        self.store.wait(model, region, tokens, clock.now())
    }
}

/// `value` clamped to `lo..=hi`, or `default` when it is not a finite number.
fn clamped(value: f64, lo: f64, hi: f64, default: f64) -> f64 {
    if value.is_finite() {
        value.clamp(lo, hi)
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use bedrock_retry::ManualClock;

    const M: &str = "m";
    const R: &str = "us-east-1";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends as many requests as the lane lets through in `span`, one every `step`, each sent
    /// when its reservation is due; returns how many were sent.
    fn offer(store: &LocalPace, clock: &ManualClock, span: Duration, step: Duration) -> u32 {
        let end = clock.now() + span;
        let mut sent = 0;
        while clock.now() < end {
            if store.reserve(M, R, 10, clock.now(), Duration::ZERO).is_ok() {
                store.succeeded(M, R, 10, Some(10), clock.now());
                sent += 1;
            }
            clock.advance(step);
        }
        sent
    }

    #[test]
    fn a_seeded_quota_paces_to_its_headroom_per_minute() {
        let clock = ManualClock::new();
        let store = LocalPace::new(
            Pacing::fixed()
                .quota(Quota::new(M).requests_per_minute(600))
                .headroom(0.9),
        );
        let sent = offer(&store, &clock, Duration::from_secs(60), ms(10));
        // 540 a minute plus one second of burst.
        assert!((540..=550).contains(&sent), "{sent}");
    }

    #[test]
    fn a_reservation_further_than_the_wait_allowed_reserves_nothing() {
        let clock = ManualClock::new();
        let store = LocalPace::new(
            Pacing::fixed()
                .quota(Quota::new(M).requests_per_minute(60))
                .headroom(1.0),
        );
        // One a second, one second of burst: two go at once, the third waits a second.
        let wait = |r: Result<Reservation, Duration>| r.map(|r| r.wait);
        assert_eq!(
            wait(store.reserve(M, R, 0, clock.now(), Duration::ZERO)),
            Ok(Duration::ZERO)
        );
        assert_eq!(
            wait(store.reserve(M, R, 0, clock.now(), Duration::ZERO)),
            Ok(Duration::ZERO)
        );
        assert_eq!(
            wait(store.reserve(M, R, 0, clock.now(), ms(500))),
            Err(Duration::from_secs(1))
        );
        assert_eq!(
            wait(store.reserve(M, R, 0, clock.now(), Duration::from_secs(2))),
            Ok(Duration::from_secs(1))
        );
        // The queue moved on: the next one is two seconds away.
        assert_eq!(store.wait(M, R, 0, clock.now()), Duration::from_secs(2));
        for _ in 0..10 {
            store
                .reserve(M, R, 0, clock.now(), Duration::from_secs(60))
                .unwrap();
        }
        assert_eq!(store.wait(M, R, 0, clock.now()), Duration::from_secs(12));
        // A throttle voids the places given so far and clears the queue: the lane holds for a
        // twentieth of the window, then sends at its rate again.
        let before = store.epoch(M, R);
        store.throttled(M, R, Limit::Requests, clock.now());
        assert_ne!(store.epoch(M, R), before);
        assert_eq!(store.wait(M, R, 0, clock.now()), Duration::from_secs(3));
    }

    #[test]
    fn token_rate_counts_reservations_and_gives_back_what_was_not_used() {
        let clock = ManualClock::new();
        let store = LocalPace::new(
            Pacing::fixed()
                .quota(Quota::new(M).tokens_per_minute(6000))
                .headroom(1.0),
        );
        // 100 tokens a second; a 1000-token reservation runs the lane 10 s ahead.
        store
            .reserve(M, R, 1000, clock.now(), Duration::ZERO)
            .unwrap();
        assert_eq!(store.wait(M, R, 0, clock.now()), Duration::from_secs(9));
        // It used 100: 9 s are given back.
        store.succeeded(M, R, 1000, Some(100), clock.now());
        assert_eq!(store.wait(M, R, 0, clock.now()), Duration::ZERO);
    }

    #[test]
    fn a_throttle_on_an_unknown_lane_starts_it_at_what_it_served_and_holds_it() {
        let clock = ManualClock::new();
        let store = LocalPace::new(
            Pacing::adaptive()
                .headroom(1.0)
                .window(Duration::from_secs(60)),
        );
        // Unlimited: 120 go in 12 s.
        assert_eq!(offer(&store, &clock, Duration::from_secs(12), ms(100)), 120);
        store.throttled(M, R, Limit::Requests, clock.now());
        // Held for a twentieth of the window.
        assert_eq!(store.wait(M, R, 0, clock.now()), Duration::from_secs(3));
        clock.advance(Duration::from_secs(3));
        // Then paced at what it served in the window: 120 a minute, two a second.
        let sent = offer(&store, &clock, Duration::from_secs(30), ms(10));
        assert!((60..=66).contains(&sent), "{sent}");
    }

    #[test]
    fn a_learned_rate_counts_the_answers_in_flight_when_it_was_first_throttled() {
        let clock = ManualClock::new();
        let store = LocalPace::new(
            Pacing::adaptive()
                .headroom(1.0)
                .window(Duration::from_secs(60)),
        );
        let rate = |store: &LocalPace| store.with_lane(M, R, |l| l.requests.per_sec.unwrap());
        // Unlimited, one request every 100 ms, each answered a second after it was sent: 121
        // answered in 13 s and 9 still in flight when the lane is throttled.
        let mut in_flight = VecDeque::new();
        for _ in 0..130 {
            store
                .reserve(M, R, 10, clock.now(), Duration::ZERO)
                .unwrap();
            in_flight.push_back(clock.now() + Duration::from_secs(1));
            clock.advance(ms(100));
            while in_flight.front().is_some_and(|due| *due <= clock.now()) {
                in_flight.pop_front();
                store.succeeded(M, R, 10, Some(10), clock.now());
            }
        }
        assert_eq!(in_flight.len(), 9);
        store.throttled(M, R, Limit::Requests, clock.now());
        assert!((rate(&store) - 121.0 / 60.0).abs() < 1e-9);
        // The answers to the nine in flight arrive during the hold: the window served 130.
        while let Some(due) = in_flight.pop_front() {
            clock.set(due);
            store.succeeded(M, R, 10, Some(10), clock.now());
        }
        assert!(
            (rate(&store) - 130.0 / 60.0).abs() < 1e-9,
            "{}",
            rate(&store)
        );
        // They were served before the throttle: a throttle after the hold (the window still
        // spent) holds the lane and does not cut the rate it learned.
        clock.advance(Duration::from_secs(3));
        store.throttled(M, R, Limit::Requests, clock.now());
        assert!(
            (rate(&store) - 130.0 / 60.0).abs() < 1e-9,
            "{}",
            rate(&store)
        );
        assert!(store.wait(M, R, 0, clock.now()) > Duration::ZERO);
    }

    #[test]
    fn throttles_cut_a_rate_multiplicatively_and_successes_grow_it_back_to_the_ceiling() {
        let clock = ManualClock::new();
        let store = LocalPace::new(
            Pacing::adaptive()
                .quota(Quota::new(M).requests_per_minute(600))
                .headroom(1.0)
                .decrease(0.5)
                .increase(0.5),
        );
        let rate = |store: &LocalPace| store.with_lane(M, R, |l| l.requests.per_sec.unwrap());
        assert!((rate(&store) - 10.0).abs() < 1e-9);
        store.throttled(M, R, Limit::Requests, clock.now());
        assert!((rate(&store) - 5.0).abs() < 1e-9);
        // A second throttle within the hold does not cut again.
        store.throttled(M, R, Limit::Requests, clock.now() + ms(10));
        assert!((rate(&store) - 5.0).abs() < 1e-9);
        // One window of successes grows it by half, then the ceiling stops it.
        clock.advance(Duration::from_secs(60));
        store.succeeded(M, R, 0, None, clock.now());
        assert!((rate(&store) - 7.5).abs() < 1e-9);
        clock.advance(Duration::from_secs(120));
        store.succeeded(M, R, 0, None, clock.now());
        assert!((rate(&store) - 10.0).abs() < 1e-9);
        // Throttles with no answer in between say the window is spent: the first cuts, the
        // later ones (after its hold) only hold the lane.
        store.throttled(M, R, Limit::Requests, clock.now());
        assert!((rate(&store) - 5.0).abs() < 1e-9);
        clock.advance(Duration::from_secs(20));
        store.throttled(M, R, Limit::Requests, clock.now());
        assert!((rate(&store) - 5.0).abs() < 1e-9);
        assert!(store.wait(M, R, 0, clock.now()) > Duration::ZERO);
        // After an answer, the next throttle cuts again.
        clock.advance(Duration::from_secs(20));
        store.succeeded(M, R, 0, None, clock.now());
        let before = rate(&store);
        store.throttled(M, R, Limit::Requests, clock.now());
        assert!((rate(&store) - before * 0.5).abs() < 1e-9);
    }

    #[test]
    fn fixed_pacing_does_not_learn_and_lanes_are_separate() {
        let clock = ManualClock::new();
        let store =
            LocalPace::new(Pacing::fixed().quota(Quota::new(M).region(R).requests_per_minute(60)));
        store.throttled(M, R, Limit::Requests, clock.now());
        assert!(
            store.with_lane(M, R, |l| l.requests.per_sec)
                == Rate::seeded(Some(60), &Pacing::fixed()).per_sec
        );
        // Held, but other regions and models are not.
        assert!(store.wait(M, R, 0, clock.now()) > Duration::ZERO);
        assert_eq!(store.wait(M, "eu-west-1", 0, clock.now()), Duration::ZERO);
        assert_eq!(store.wait("other", R, 0, clock.now()), Duration::ZERO);
        assert!(
            store
                .with_lane(M, "eu-west-1", |l| l.requests.per_sec)
                .is_none()
        );
    }

    #[test]
    fn a_token_throttle_is_named_by_its_message() {
        assert_eq!(
            Pacer::limit_of("Too many tokens, please wait before trying again."),
            Limit::Tokens
        );
        assert_eq!(
            Pacer::limit_of("Too many requests, please wait before trying again."),
            Limit::Requests
        );
    }
}
