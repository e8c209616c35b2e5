//! Call statistics kept by a manager: per target, how many attempts went there and how they
//! ended, plus the calls' outcomes (the original's `get_retry_stats`).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use bedrock_retry::TargetHealth;
use serde::Serialize;

use crate::call::AttemptRecord;

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
    /// Per target, in (model, region) order.
    pub targets: Vec<TargetStats>,
}

/// Attempts, successes, and failures by class name, of one target.
type Tally = (u64, u64, BTreeMap<&'static str, u64>);

#[derive(Debug, Default)]
struct Counters {
    calls_succeeded: u64,
    calls_failed: u64,
    targets: BTreeMap<(String, String), Tally>,
}

/// The live counters, updated once per call.
#[derive(Debug, Default)]
pub(crate) struct Stats(Mutex<Counters>);

impl Stats {
    /// Records one finished call and its attempts.
    pub(crate) fn record(&self, succeeded: bool, attempts: &[AttemptRecord]) {
        let mut c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if succeeded {
            c.calls_succeeded += 1;
        } else {
            c.calls_failed += 1;
        }
        for a in attempts {
            let entry = c
                .targets
                .entry((a.target.model.clone(), a.target.region.clone()))
                .or_default();
            entry.0 += 1;
            match a.class {
                None => entry.1 += 1,
                Some(class) => *entry.2.entry(class.as_str()).or_default() += 1,
            }
        }
    }

    /// A snapshot, with each target's health from `health(model, region)`.
    pub(crate) fn snapshot(&self, health: impl Fn(&str, &str) -> TargetHealth) -> ManagerStats {
        let c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        ManagerStats {
            calls_succeeded: c.calls_succeeded,
            calls_failed: c.calls_failed,
            targets: c
                .targets
                .iter()
                .map(
                    |((model, region), (attempts, successes, failures))| TargetStats {
                        model: model.clone(),
                        region: region.clone(),
                        attempts: *attempts,
                        successes: *successes,
                        failures: failures
                            .iter()
                            .map(|(class, n)| ((*class).to_owned(), *n))
                            .collect(),
                        health: match health(model, region) {
                            TargetHealth::Healthy => "healthy",
                            TargetHealth::HalfOpen => "half_open",
                            _ => "cooling",
                        }
                        .to_owned(),
                    },
                )
                .collect(),
        }
    }
}
