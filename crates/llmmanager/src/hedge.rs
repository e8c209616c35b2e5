//! Hedged requests and latency-aware order.
//!
//! **Hedging** ([`Hedging`]): when a Converse call's attempt has not answered after a delay, the
//! same request starts on the next target and the first answer wins; the other attempt is
//! dropped (its connection closed) and shows in the call's attempts as lost
//! ([`AttemptRecord::lost`](bedrock_retry::AttemptRecord::lost)). The delay is fixed, or adaptive:
//! the 95th percentile of the latencies the manager observed for the first attempt's target. A
//! manager-wide cap keeps hedges to a share of calls (10% by default), and a call whose copy would
//! cost more than a limit (estimated from the request's tokens and the bundled prices), or carry
//! more input tokens than a limit, is never hedged.
//!
//! Hedging costs money: a hedged call may be billed twice, since Bedrock may finish (and bill) a
//! request whose connection was closed. The cap bounds that cost to its share of calls.
//!
//! Streams hedge on their **first event**: when an attempt has not delivered its first event
//! (text, a tool call, reasoning) after the delay (fixed, or the p95 of the target's observed
//! times to first token), the same request starts on the next target, and the first attempt to
//! produce an event wins and alone delivers events to the caller; the other is dropped. While
//! a race is possible an attempt holds its `Started` event back until it wins. Once an event
//! reached the caller, the stream is never hedged again.
//!
//! **Latency-aware order** ([`LlmManagerBuilder::latency_aware`](crate::LlmManagerBuilder::latency_aware)):
//! targets of the same model and access method that the strategy put next to each other are
//! ordered by the latency observed for them (an exponentially weighted mean), fastest first;
//! targets not observed yet go first, so each gets measured. Targets of different models keep
//! the strategy's order, cooling targets are still demoted by the health check, and a call that
//! names preferred regions keeps their order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bedrock_cache::{Billing, PriceTable};
use bedrock_catalog::AccessMethod;
use bedrock_messages::{ConverseRequest, TokenUsage};
use bedrock_retry::HedgePolicy;
use tracing::debug;

use crate::call::{Attempt, Engine};
use crate::routing::Target;
use crate::stats::{PerTarget, get, update};

/// How long an attempt may go without an answer before it is hedged.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum HedgeDelay {
    /// Always this delay.
    Fixed(Duration),
    /// The given quantile (0.95: the p95) of the latencies observed for the attempt's target, at
    /// least `floor`; `until_observed` while fewer than `min_samples` latencies are known.
    Adaptive {
        /// The quantile of the target's observed latencies, from 0 to 1.
        quantile: f64,
        /// The shortest delay.
        floor: Duration,
        /// The delay before enough latencies are observed.
        until_observed: Duration,
        /// How many latencies the target needs before its quantile is used.
        min_samples: usize,
    },
}

impl HedgeDelay {
    /// The delay for a target with `observed` latencies (any order).
    ///
    /// ```
    /// use std::time::Duration;
    /// use llmmanager::HedgeDelay;
    ///
    /// let fixed = HedgeDelay::Fixed(Duration::from_millis(250));
    /// assert_eq!(fixed.delay(&[]), Duration::from_millis(250));
    ///
    /// let adaptive = HedgeDelay::p95();
    /// // Nothing observed yet: one second.
    /// assert_eq!(adaptive.delay(&[]), Duration::from_secs(1));
    /// let observed: Vec<Duration> = (1..=100).map(|ms| Duration::from_millis(ms * 10)).collect();
    /// assert_eq!(adaptive.delay(&observed), Duration::from_millis(950));
    /// ```
    pub fn delay(&self, observed: &[Duration]) -> Duration {
        match *self {
            HedgeDelay::Fixed(d) => d,
            HedgeDelay::Adaptive {
                quantile,
                floor,
                until_observed,
                min_samples,
            } => {
                if observed.is_empty() || observed.len() < min_samples {
                    return until_observed;
                }
                quantile_of(observed, quantile).map_or(until_observed, |q| q.max(floor))
            }
        }
    }

    /// The adaptive delay at the target's p95: at least 50 ms, one second until 20 latencies of
    /// the target are known.
    pub fn p95() -> Self {
        HedgeDelay::Adaptive {
            quantile: 0.95,
            floor: Duration::from_millis(50),
            until_observed: Duration::from_secs(1),
            min_samples: 20,
        }
    }
}

/// The `q` quantile (nearest rank) of `values`; `None` when empty.
fn quantile_of(values: &[Duration], q: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let q = if q.is_finite() {
        q.clamp(0.0, 1.0)
    } else {
        1.0
    };
    // Nearest rank: the smallest value with at least q of the values at or below it.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

/// Hedged requests for Converse calls and streams: after how long an attempt gets a copy on the next target,
/// for which share of calls at most, and up to which size.
///
/// Set it for every call with [`LlmManagerBuilder::hedging`](crate::LlmManagerBuilder::hedging),
/// or for one call with [`CallOptions::with_hedging`](crate::CallOptions::with_hedging).
///
/// ```
/// use std::time::Duration;
/// use llmmanager::Hedging;
///
/// // A copy after 400 ms, for at most 5% of calls, never for a copy estimated above $0.01.
/// let hedging = Hedging::after(Duration::from_millis(400))
///     .max_share(0.05)
///     .max_cost_usd(0.01);
/// assert_eq!(hedging.share(), 0.05);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Hedging {
    delay: Option<HedgeDelay>,
    max_share: f64,
    max_cost_usd: Option<f64>,
    max_input_tokens: Option<u64>,
}

impl Hedging {
    /// The default share of calls that may hedge.
    pub const DEFAULT_SHARE: f64 = 0.1;

    /// Hedges an attempt that has not answered (a stream: produced no event) after `delay`.
    pub fn after(delay: Duration) -> Self {
        Self::with_delay(HedgeDelay::Fixed(delay))
    }

    /// Hedges an attempt that has not answered after its target's observed p95 latency
    /// ([`HedgeDelay::p95`]); for a stream, the p95 of its observed times to first token.
    pub fn adaptive() -> Self {
        Self::with_delay(HedgeDelay::p95())
    }

    /// Hedges with the given delay policy.
    pub fn with_delay(delay: HedgeDelay) -> Self {
        Self {
            delay: Some(delay),
            max_share: Self::DEFAULT_SHARE,
            max_cost_usd: None,
            max_input_tokens: None,
        }
    }

    /// No hedging (for one call of a manager that hedges).
    pub fn off() -> Self {
        Self {
            delay: None,
            max_share: 0.0,
            max_cost_usd: None,
            max_input_tokens: None,
        }
    }

    /// At most this share of the manager's hedging calls (0 to 1) may send a copy; 0.1 unless set.
    #[must_use]
    pub fn max_share(mut self, share: f64) -> Self {
        self.max_share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Never hedges a call whose copy is estimated to cost more than `usd`: the request's
    /// estimated input tokens and its `max_tokens` of output, at the bundled price of the copy's
    /// model, region and access method. A copy whose price is unknown is not sent.
    #[must_use]
    pub fn max_cost_usd(mut self, usd: f64) -> Self {
        self.max_cost_usd = Some(usd);
        self
    }

    /// Never hedges a request estimated to hold more than `tokens` input tokens.
    #[must_use]
    pub fn max_input_tokens(mut self, tokens: u64) -> Self {
        self.max_input_tokens = Some(tokens);
        self
    }

    /// The delay policy; `None` when hedging is off.
    pub fn delay(&self) -> Option<&HedgeDelay> {
        self.delay.as_ref()
    }

    /// The share of calls that may hedge.
    pub fn share(&self) -> f64 {
        self.max_share
    }

    /// Whether this hedges at all.
    pub fn is_on(&self) -> bool {
        self.delay.is_some() && self.max_share > 0.0
    }
}

/// The latencies kept per target for adaptive delays and latency-aware order.
pub(crate) const LATENCY_WINDOW: usize = 256;
/// The weight of a new latency in the moving mean.
const EWMA_WEIGHT: f64 = 0.2;

/// The latencies observed for one target: the most recent ones and their moving mean.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatencyWindow {
    recent: VecDeque<Duration>,
    ewma: Option<f64>,
}

impl LatencyWindow {
    pub(crate) fn observe(&mut self, latency: Duration) {
        if self.recent.len() == LATENCY_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(latency);
        let secs = latency.as_secs_f64();
        self.ewma = Some(match self.ewma {
            Some(mean) => mean + EWMA_WEIGHT * (secs - mean),
            None => secs,
        });
    }

    pub(crate) fn recent(&self) -> Vec<Duration> {
        self.recent.iter().copied().collect()
    }

    pub(crate) fn mean(&self) -> Option<Duration> {
        self.ewma
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    }

    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        quantile_of(&self.recent(), q)
    }
}

/// What a manager keeps for hedging and latency-aware order.
#[derive(Debug, Default)]
pub(crate) struct Speed {
    /// The manager's hedging, if any.
    pub(crate) hedging: Option<Hedging>,
    /// Whether targets of one model are ordered by observed latency.
    pub(crate) latency_aware: bool,
    /// Calls that ran with hedging on.
    calls: AtomicU64,
    /// Calls that sent a hedge.
    hedges: AtomicU64,
    /// The recent times to first token of streams, per model and region.
    first_tokens: Mutex<PerTarget<LatencyWindow>>,
}

impl Speed {
    pub(crate) fn new(hedging: Option<Hedging>, latency_aware: bool) -> Self {
        Self {
            hedging: hedging.filter(Hedging::is_on),
            latency_aware,
            ..Self::default()
        }
    }

    /// Counts a call that runs with hedging on.
    pub(crate) fn count_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one hedge if the share allows it: the hedges so far plus this one stay within
    /// `share` of the calls counted so far.
    pub(crate) fn take_hedge(&self, share: f64) -> bool {
        let calls = self.calls.load(Ordering::Relaxed);
        self.hedges
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |hedges| {
                #[allow(clippy::cast_precision_loss)]
                let within = (hedges.saturating_add(1) as f64) <= share * calls as f64;
                within.then_some(hedges.saturating_add(1))
            })
            .is_ok()
    }

    /// Records a stream attempt's time to its first event on `target` (for an attempt cancelled
    /// before it, how long it went without one).
    pub(crate) fn observe_first_token(&self, target: &Target, latency: Duration) {
        let mut windows = self
            .first_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        update(
            &mut windows,
            &target.model,
            &target.region,
            |window: &mut LatencyWindow| window.observe(latency),
        );
    }

    /// The recent times to first token of streams on `model` in `region`.
    pub(crate) fn first_tokens(&self, model: &str, region: &str) -> Vec<Duration> {
        let windows = self
            .first_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        get(&windows, model, region)
            .map(LatencyWindow::recent)
            .unwrap_or_default()
    }

    /// Calls that ran with hedging on, and calls that sent a hedge.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.hedges.load(Ordering::Relaxed),
        )
    }
}

/// The bundled price table, parsed once.
fn prices() -> Option<&'static PriceTable> {
    static PRICES: OnceLock<Option<PriceTable>> = OnceLock::new();
    PRICES.get_or_init(|| PriceTable::bundled().ok()).as_ref()
}

/// Which attempt of a stream delivers events to the caller, when the stream may be hedged.
///
/// While a race is possible (hedging is on and no attempt delivered yet) an attempt holds its
/// events back and, at its first event, claims the stream: the first claim wins, and the
/// hedged race ends in its favour ([`HedgePolicy::committed`]).
#[derive(Debug, Default)]
pub(crate) struct FirstEvent {
    /// Whether the call may hedge.
    hedged: AtomicBool,
    /// The attempt number that delivered first (0: none yet).
    winner: AtomicU32,
}

impl FirstEvent {
    /// Marks the call as one that may hedge.
    pub(crate) fn set_hedged(&self) {
        self.hedged.store(true, Ordering::SeqCst);
    }

    /// Whether an attempt starting now must hold its events until it claims the stream.
    pub(crate) fn holds(&self) -> bool {
        self.hedged.load(Ordering::SeqCst) && self.winner().is_none()
    }

    /// Claims the stream for `attempt`; `false` when another attempt claimed it first.
    pub(crate) fn claim(&self, attempt: u32) -> bool {
        match self
            .winner
            .compare_exchange(0, attempt, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(current) => current == attempt,
        }
    }

    /// The attempt that delivered first, if any.
    pub(crate) fn winner(&self) -> Option<u32> {
        match self.winner.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }
}

/// The hedge policy of one call.
pub(crate) struct CallHedge<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) hedging: &'a Hedging,
    pub(crate) request: &'a ConverseRequest,
    /// For a stream: which attempt delivers (the delay is then from times to first token).
    pub(crate) first_event: Option<Arc<FirstEvent>>,
}

impl CallHedge<'_> {
    /// The estimated input tokens of the request.
    fn input_tokens(&self) -> u64 {
        bedrock_cache::estimate_request_tokens(self.request)
    }

    /// Whether the copy for `target` stays within the size and cost limits.
    fn within_limits(&self, target: &Target) -> bool {
        let input = self.input_tokens();
        if let Some(max) = self.hedging.max_input_tokens
            && input > max
        {
            debug!(
                input,
                max, "no hedge: the request is above the input-token limit"
            );
            return false;
        }
        let Some(max_usd) = self.hedging.max_cost_usd else {
            return true;
        };
        let output = self
            .request
            .inference_config
            .as_ref()
            .and_then(|c| c.max_tokens)
            .unwrap_or(0);
        let usage = TokenUsage {
            input_tokens: u32::try_from(input).unwrap_or(u32::MAX),
            output_tokens: output,
            total_tokens: u32::try_from(input)
                .unwrap_or(u32::MAX)
                .saturating_add(output),
            ..TokenUsage::default()
        };
        let id = self
            .engine
            .invoke_id(target)
            .unwrap_or_else(|| target.model.clone());
        let cost = prices().and_then(|p| {
            p.cost(
                &id,
                &target.region,
                target.access_method,
                Billing::OnDemand,
                &usage,
            )
        });
        match cost {
            Some(cost) if cost.usd <= max_usd => true,
            Some(cost) => {
                debug!(
                    estimate_usd = cost.usd,
                    max_usd, "no hedge: the copy is above the cost limit"
                );
                false
            }
            None => {
                debug!(%target, "no hedge: no price known to check the cost limit");
                false
            }
        }
    }
}

impl HedgePolicy<Target> for CallHedge<'_> {
    fn delay(&self, attempt: &Attempt) -> Option<Duration> {
        let delay = self.hedging.delay?;
        let target = &attempt.target;
        let observed = match &self.first_event {
            // A stream that delivered an event is never hedged again.
            Some(first) if first.winner().is_some() => return None,
            Some(_) => self
                .engine
                .speed
                .first_tokens(&target.model, &target.region),
            None => self.engine.stats.latencies(&target.model, &target.region),
        };
        Some(delay.delay(&observed))
    }

    fn admit(&self, _attempt: &Attempt, hedge: &Attempt) -> bool {
        self.within_limits(&hedge.target) && self.engine.speed.take_hedge(self.hedging.max_share)
    }

    fn committed(&self) -> Option<u32> {
        self.first_event.as_ref().and_then(|f| f.winner())
    }
}

/// Orders runs of neighbouring targets of the same model and access method by `mean` latency,
/// fastest first and unobserved targets before observed ones; everything else keeps its place.
pub(crate) fn order_by_latency(targets: &mut [Target], mean: impl Fn(&Target) -> Option<Duration>) {
    let mut start = 0;
    while start < targets.len() {
        let Some(first) = targets.get(start) else {
            break;
        };
        let (model, access): (String, AccessMethod) = (first.model.clone(), first.access_method);
        let len = targets
            .get(start..)
            .map_or(0, |rest| {
                rest.iter()
                    .take_while(|t| t.model == model && t.access_method == access)
                    .count()
            })
            .max(1);
        if let Some(run) = targets.get_mut(start..start + len) {
            // Stable: equal latencies keep the strategy's order.
            run.sort_by_key(|t| mean(t).map_or((0, Duration::ZERO), |d| (1, d)));
        }
        start += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn adaptive_delay_uses_the_quantile_with_a_floor_and_a_start_value() {
        let d = HedgeDelay::p95();
        assert_eq!(d.delay(&[]), Duration::from_secs(1));
        assert_eq!(d.delay(&[ms(10); 19]), Duration::from_secs(1));
        assert_eq!(d.delay(&[ms(10); 20]), ms(50));
        let mut observed: Vec<Duration> = (1..=19).map(|_| ms(100)).collect();
        observed.push(ms(3_000));
        // 95% of 20 is 19 values: the 19th smallest is still 100 ms.
        assert_eq!(d.delay(&observed), ms(100));
        observed.push(ms(3_000));
        assert_eq!(d.delay(&observed), ms(3_000));
    }

    #[test]
    fn fixed_delay_ignores_observations() {
        assert_eq!(HedgeDelay::Fixed(ms(7)).delay(&[ms(1); 50]), ms(7));
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=10).map(ms).collect();
        assert_eq!(quantile_of(&v, 0.5), Some(ms(5)));
        assert_eq!(quantile_of(&v, 0.95), Some(ms(10)));
        assert_eq!(quantile_of(&v, 0.0), Some(ms(1)));
        assert_eq!(quantile_of(&v, f64::NAN), Some(ms(10)));
        assert_eq!(quantile_of(&[], 0.5), None);
    }

    #[test]
    fn the_window_keeps_the_most_recent_latencies_and_a_moving_mean() {
        let mut w = LatencyWindow::default();
        for i in 0..(LATENCY_WINDOW as u64 + 10) {
            w.observe(ms(i));
        }
        let recent = w.recent();
        assert_eq!(recent.len(), LATENCY_WINDOW);
        assert_eq!(recent[0], ms(10));
        let mean = w.mean().unwrap();
        assert!(mean > ms(240) && mean < ms(266), "{mean:?}");
    }

    #[test]
    fn the_share_cap_holds() {
        let speed = Speed::new(Some(Hedging::after(ms(1))), false);
        let mut taken = 0;
        for _ in 0..100 {
            speed.count_call();
            if speed.take_hedge(0.1) {
                taken += 1;
            }
        }
        assert_eq!(taken, 10);
        assert_eq!(speed.counts(), (100, 10));
        // The first nine calls could not hedge: 1 > 0.1 × 9.
        let speed = Speed::new(None, false);
        for _ in 0..9 {
            speed.count_call();
            assert!(!speed.take_hedge(0.1));
        }
        speed.count_call();
        assert!(speed.take_hedge(0.1));
    }

    #[test]
    fn the_first_claim_of_a_hedged_stream_wins() {
        let first = FirstEvent::default();
        assert!(!first.holds(), "nothing is held back without hedging");
        first.set_hedged();
        assert!(first.holds());
        assert!(first.claim(2));
        assert!(!first.claim(3));
        assert!(first.claim(2));
        assert_eq!(first.winner(), Some(2));
        assert!(
            !first.holds(),
            "after the first event, attempts deliver at once"
        );
    }

    #[test]
    fn a_hedge_losers_place_is_given_back_unsent_and_kept_sent() {
        use crate::pacing::{LocalPace, PaceStore, Pacing, Quota};
        // One request a second, one second ahead allowed: two go at once, the third waits.
        let store = LocalPace::new(
            Pacing::fixed()
                .headroom(1.0)
                .quota(Quota::new("m").requests_per_minute(60)),
        );
        let now = Duration::ZERO;
        let reserve = || store.reserve("m", "r", 0, now, Duration::ZERO).unwrap();
        let _first = reserve();
        let lost = reserve();
        assert_eq!(store.wait("m", "r", 0, now), ms(1_000));
        // Dropped before it was sent: its place is free again.
        store.abandoned("m", "r", 0, false, lost.epoch, now);
        assert_eq!(store.wait("m", "r", 0, now), Duration::ZERO);
        // Dropped after it was sent: Bedrock counted it, so the place stays taken.
        let lost = reserve();
        store.abandoned("m", "r", 0, true, lost.epoch, now);
        assert_eq!(store.wait("m", "r", 0, now), ms(1_000));
    }

    #[test]
    fn off_is_off_and_shares_are_clamped() {
        assert!(!Hedging::off().is_on());
        assert!(!Hedging::after(ms(1)).max_share(0.0).is_on());
        assert_eq!(Hedging::after(ms(1)).max_share(7.0).share(), 1.0);
        assert_eq!(Hedging::after(ms(1)).max_share(f64::NAN).share(), 0.0);
        assert!(Speed::new(Some(Hedging::off()), false).hedging.is_none());
    }

    fn t(model: &str, region: &str, access: AccessMethod) -> Target {
        Target {
            model: model.to_owned(),
            region: region.to_owned(),
            access_method: access,
        }
    }

    #[test]
    fn only_neighbouring_targets_of_one_model_and_access_reorder() {
        use AccessMethod::{Direct, RegionalProfile};
        let mut targets = vec![
            t("a", "r1", Direct),
            t("a", "r2", Direct),
            t("a", "r3", Direct),
            t("b", "r1", Direct),
            t("b", "r2", Direct),
            t("a", "r1", RegionalProfile),
            t("a", "r2", RegionalProfile),
        ];
        let latency = |t: &Target| match (t.model.as_str(), t.region.as_str()) {
            ("a", "r1") => Some(ms(900)),
            ("a", "r2") => Some(ms(100)),
            ("b", "r1") => Some(ms(50)),
            ("b", "r2") => Some(ms(10)),
            _ => None,
        };
        order_by_latency(&mut targets, latency);
        let names: Vec<String> = targets
            .iter()
            .map(|t| format!("{}@{}/{}", t.model, t.region, t.access_method))
            .collect();
        assert_eq!(
            names,
            [
                format!("a@r3/{Direct}"),
                format!("a@r2/{Direct}"),
                format!("a@r1/{Direct}"),
                format!("b@r2/{Direct}"),
                format!("b@r1/{Direct}"),
                format!("a@r2/{RegionalProfile}"),
                format!("a@r1/{RegionalProfile}"),
            ]
        );
    }

    #[test]
    fn without_observations_the_order_stays() {
        let mut targets = vec![
            t("a", "r1", AccessMethod::Direct),
            t("a", "r2", AccessMethod::Direct),
        ];
        order_by_latency(&mut targets, |_| None);
        assert_eq!(targets[0].region, "r1");
        assert_eq!(targets[1].region, "r2");
    }
}
