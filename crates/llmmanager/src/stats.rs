//! Call statistics kept by a manager: per target, how many attempts went there and how they
//! ended, plus the calls' outcomes (the original's `get_retry_stats`).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bedrock_retry::TargetHealth;
use serde::Serialize;

use crate::call::AttemptRecord;
use crate::hedge::LatencyWindow;

/// Counters of one (model, region) target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TargetStats {
    /// The base model id.
    pub model: String,
    /// The region.
    pub region: String,
    /// Attempts sent to this target.
    pub attempts: u64,
    /// Attempts that answered.
    pub successes: u64,
    /// Attempts that failed, by error class.
    pub failures: BTreeMap<String, u64>,
    /// Attempts that lost a hedged race (neither successes nor failures).
    pub lost: u64,
    /// Attempts still running when their caller dropped the stream (neither successes nor
    /// failures nor lost; see [`ManagerStats::calls_dropped`]).
    pub dropped: u64,
    /// The median of the Converse latencies observed recently (`None`: none observed).
    pub latency_p50_ms: Option<u64>,
    /// The 95th percentile of those latencies.
    pub latency_p95_ms: Option<u64>,
    /// The target's health now (`healthy`, `half_open` or `cooling`).
    pub health: String,
}

/// A snapshot of a manager's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ManagerStats {
    /// Calls that returned an answer.
    pub calls_succeeded: u64,
    /// Calls that ended with an error after at least one attempt.
    pub calls_failed: u64,
    /// Streams their caller dropped before they ended, after at least one attempt was sent
    /// (neither succeeded nor failed). Their attempts count in the targets' `attempts`: those
    /// that had ended as they ended, those still running under `dropped`, and a hedge among them
    /// under `hedges`.
    pub calls_dropped: u64,
    /// Hedges sent: copies of a slow attempt on another target.
    pub hedges: u64,
    /// Calls the hedge answered.
    pub hedges_won: u64,
    /// Answers read and thrown away because the other attempt of a hedged race answered in the
    /// same instant (paid for, not used).
    pub discarded_answers: u64,
    /// Calls that cache affinity sent first to the region holding their cached prefix, rather
    /// than the routing order's first region.
    pub affinity_routed: u64,
    /// Per target, in (model, region) order.
    pub targets: Vec<TargetStats>,
}

/// Attempts, successes, failures by class name, lost races, and attempts dropped with their
/// stream, of one target.
type Tally = (u64, u64, BTreeMap<&'static str, u64>, u64, u64);

/// How an attempt of a stream its caller dropped had ended when the stream was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It answered.
    Answered,
    /// It failed with this class.
    Failed(bedrock_retry::ErrorClass),
    /// It lost a hedged race.
    Lost,
    /// It was still running.
    Running,
}

/// Values per model, then per region: looked up by `&str`, so updating a target already seen
/// allocates nothing.
pub(crate) type PerTarget<V> = BTreeMap<String, BTreeMap<String, V>>;

/// Applies `f` to the value of `model` in `region`, made first when missing.
pub(crate) fn update<V: Default, R>(
    map: &mut PerTarget<V>,
    model: &str,
    region: &str,
    f: impl FnOnce(&mut V) -> R,
) -> R {
    if let Some(value) = map
        .get_mut(model)
        .and_then(|regions| regions.get_mut(region))
    {
        return f(value);
    }
    f(map
        .entry(model.to_owned())
        .or_default()
        .entry(region.to_owned())
        .or_default())
}

/// The value of `model` in `region`, if any.
pub(crate) fn get<'m, V>(map: &'m PerTarget<V>, model: &str, region: &str) -> Option<&'m V> {
    map.get(model).and_then(|regions| regions.get(region))
}

#[derive(Debug, Default)]
struct Counters {
    calls_succeeded: u64,
    calls_failed: u64,
    calls_dropped: u64,
    hedges: u64,
    hedges_won: u64,
    discarded: u64,
    targets: PerTarget<Tally>,
    latencies: PerTarget<LatencyWindow>,
}

impl Counters {
    /// Counts one attempt on its target, as it ended, and a hedge among the hedges.
    fn count_attempt(
        &mut self,
        target: &crate::routing::Target,
        route: bedrock_retry::Route,
        ended: Ended,
    ) {
        update(
            &mut self.targets,
            &target.model,
            &target.region,
            |entry: &mut Tally| {
                entry.0 += 1;
                match ended {
                    Ended::Answered => entry.1 += 1,
                    Ended::Failed(class) => *entry.2.entry(class.as_str()).or_default() += 1,
                    Ended::Lost => entry.3 += 1,
                    Ended::Running => entry.4 += 1,
                }
            },
        );
        if route == bedrock_retry::Route::Hedge {
            self.hedges += 1;
        }
    }
}

/// The live counters, updated once per call.
#[derive(Debug, Default)]
pub(crate) struct Stats(Mutex<Counters>);

impl Stats {
    /// Records one finished call and its attempts.
    pub(crate) fn record(&self, succeeded: bool, attempts: &[AttemptRecord]) {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let c = &mut *guard;
        if succeeded {
            c.calls_succeeded += 1;
        } else {
            c.calls_failed += 1;
        }
        for a in attempts {
            let ended = match (a.lost, a.class) {
                (Some(_), _) => Ended::Lost,
                (None, None) => Ended::Answered,
                (None, Some(class)) => Ended::Failed(class),
            };
            c.count_attempt(&a.target, a.route, ended);
            if a.lost == Some(bedrock_retry::HedgeLoss::Discarded) {
                c.discarded += 1;
            }
            if a.route == bedrock_retry::Route::Hedge && ended == Ended::Answered {
                c.hedges_won += 1;
            }
        }
    }

    /// Records a stream its caller dropped before it ended, with how each attempt sent so far
    /// had ended: the call counts as dropped, its attempts as they ended.
    pub(crate) fn record_dropped(
        &self,
        attempts: &[(crate::routing::Target, bedrock_retry::Route, Ended)],
    ) {
        if attempts.is_empty() {
            return;
        }
        let mut c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        c.calls_dropped += 1;
        for (target, route, ended) in attempts {
            c.count_attempt(target, *route, *ended);
        }
    }

    /// Records how long a Converse attempt of `model` in `region` took to answer.
    pub(crate) fn observe_latency(&self, model: &str, region: &str, latency: Duration) {
        let mut c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        update(
            &mut c.latencies,
            model,
            region,
            |window: &mut LatencyWindow| {
                window.observe(latency);
            },
        );
    }

    /// The recent Converse latencies of `model` in `region`.
    pub(crate) fn latencies(&self, model: &str, region: &str) -> Vec<Duration> {
        let c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        get(&c.latencies, model, region)
            .map(LatencyWindow::recent)
            .unwrap_or_default()
    }

    /// The moving mean of the Converse latencies of `model` in `region`.
    pub(crate) fn mean_latency(&self, model: &str, region: &str) -> Option<Duration> {
        let c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        get(&c.latencies, model, region).and_then(LatencyWindow::mean)
    }

    /// A snapshot, with each target's health from `health(model, region)`.
    pub(crate) fn snapshot(&self, health: impl Fn(&str, &str) -> TargetHealth) -> ManagerStats {
        let c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let targets = c
            .targets
            .iter()
            .flat_map(|(model, regions)| {
                regions
                    .iter()
                    .map(move |(region, tally)| (model, region, tally))
            })
            .map(
                |(model, region, (attempts, successes, failures, lost, dropped))| {
                    let window = get(&c.latencies, model, region);
                    TargetStats {
                        model: model.clone(),
                        region: region.clone(),
                        attempts: *attempts,
                        successes: *successes,
                        failures: failures
                            .iter()
                            .map(|(class, n)| ((*class).to_owned(), *n))
                            .collect(),
                        lost: *lost,
                        dropped: *dropped,
                        latency_p50_ms: millis(window.and_then(|w| w.quantile(0.5))),
                        latency_p95_ms: millis(window.and_then(|w| w.quantile(0.95))),
                        health: match health(model, region) {
                            TargetHealth::Healthy => "healthy",
                            TargetHealth::HalfOpen => "half_open",
                            _ => "cooling",
                        }
                        .to_owned(),
                    }
                },
            )
            .collect();
        ManagerStats {
            calls_succeeded: c.calls_succeeded,
            calls_failed: c.calls_failed,
            calls_dropped: c.calls_dropped,
            hedges: c.hedges,
            hedges_won: c.hedges_won,
            discarded_answers: c.discarded,
            affinity_routed: 0,
            targets,
        }
    }
}

fn millis(d: Option<Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
