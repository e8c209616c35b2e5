//! The result of a whole batch.
//!
//! [`ParallelResponse`] keeps every outcome in input order, indexes them by id, and carries the
//! [`BatchStats`] computed once when the batch ends.

use std::collections::HashMap;
use std::time::Duration;

use crate::{BatchStats, ErrorStats, RequestError, RequestId, RequestOutcome, ResponseStats};

/// Every outcome of a batch, in input order, with statistics.
#[derive(Debug)]
pub struct ParallelResponse<R, E> {
    outcomes: Vec<RequestOutcome<R, E>>,
    by_id: HashMap<RequestId, usize>,
    stats: BatchStats,
    stop_reason: Option<String>,
}

impl<R: ResponseStats, E: ErrorStats> ParallelResponse<R, E> {
    /// Builds a response from outcomes (sorted here by input index).
    pub fn new(
        mut outcomes: Vec<RequestOutcome<R, E>>,
        total_duration: Duration,
        stop_reason: Option<String>,
    ) -> Self {
        outcomes.sort_by_key(|o| o.index);
        let by_id = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        let stats = BatchStats::from_outcomes(&outcomes, total_duration);
        Self {
            outcomes,
            by_id,
            stats,
            stop_reason,
        }
    }
}

/// `{"outcomes": [...], "stats": {...}, "stop_reason": ...}`, outcomes in input order.
#[cfg(feature = "serde")]
impl<R: serde::Serialize, E: serde::Serialize> serde::Serialize for ParallelResponse<R, E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("ParallelResponse", 3)?;
        st.serialize_field("outcomes", &self.outcomes)?;
        st.serialize_field("stats", &self.stats)?;
        st.serialize_field("stop_reason", &self.stop_reason)?;
        st.end()
    }
}

impl<R: ResponseStats, E: ErrorStats> ParallelResponse<R, E> {
    /// This batch with the outcomes of `rerun` in place of those with the same id, for a pass
    /// that ran some requests again. Each rerun outcome keeps its request's original input
    /// position; outcomes whose id this batch does not hold are ignored. The total duration is the
    /// sum of both passes, the concurrency reached the higher of the two, and the stop reason the
    /// rerun's (a rerun that did not stop clears it).
    #[must_use]
    pub fn merge_rerun(self, rerun: ParallelResponse<R, E>) -> Self {
        let ParallelResponse {
            mut outcomes,
            by_id,
            stats,
            ..
        } = self;
        let total_duration = stats.total_duration + rerun.stats.total_duration;
        let peak = stats.peak_concurrency.max(rerun.stats.peak_concurrency);
        let stop_reason = rerun.stop_reason.clone();
        for mut outcome in rerun.outcomes {
            if let Some(slot) = by_id.get(&outcome.id).and_then(|&i| outcomes.get_mut(i)) {
                outcome.index = slot.index;
                *slot = outcome;
            }
        }
        let mut merged = ParallelResponse::new(outcomes, total_duration, stop_reason);
        merged.stats.peak_concurrency = peak;
        merged
    }
}

impl<R, E> ParallelResponse<R, E> {
    pub(crate) fn stats_mut(&mut self) -> &mut BatchStats {
        &mut self.stats
    }

    /// All outcomes, in input order.
    pub fn outcomes(&self) -> &[RequestOutcome<R, E>] {
        &self.outcomes
    }

    /// Takes the outcomes, in input order.
    pub fn into_outcomes(self) -> Vec<RequestOutcome<R, E>> {
        self.outcomes
    }

    /// The outcome of the request with this id.
    pub fn get(&self, id: &str) -> Option<&RequestOutcome<R, E>> {
        self.by_id.get(id).and_then(|&i| self.outcomes.get(i))
    }

    /// The outcome of the request with this id, to amend (for callers that merge passes).
    pub fn outcome_mut(&mut self, id: &str) -> Option<&mut RequestOutcome<R, E>> {
        self.by_id.get(id).and_then(|&i| self.outcomes.get_mut(i))
    }

    /// The response of the request with this id, if it succeeded.
    pub fn response(&self, id: &str) -> Option<&R> {
        self.get(id).and_then(RequestOutcome::response)
    }

    /// Successful outcomes, in input order.
    pub fn successes(&self) -> impl Iterator<Item = &RequestOutcome<R, E>> {
        self.outcomes.iter().filter(|o| o.is_success())
    }

    /// Unsuccessful outcomes (failed or not run), in input order.
    pub fn failures(&self) -> impl Iterator<Item = &RequestOutcome<R, E>> {
        self.outcomes.iter().filter(|o| !o.is_success())
    }

    /// Ids of the unsuccessful requests, in input order (for a retry pass).
    pub fn failed_ids(&self) -> Vec<RequestId> {
        self.failures().map(|o| o.id.clone()).collect()
    }

    /// Errors of the unsuccessful requests, by id, in input order.
    pub fn errors(&self) -> impl Iterator<Item = (&RequestId, &RequestError<E>)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.error().map(|e| (&o.id, e)))
    }

    /// Share of successful requests (1 for an empty batch).
    pub fn success_rate(&self) -> f64 {
        self.stats.success_rate()
    }

    /// True when every request succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.stats.succeeded == self.stats.total
    }

    /// Statistics of the batch.
    pub fn stats(&self) -> &BatchStats {
        &self.stats
    }

    /// Why the batch stopped early, if it did.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.as_deref()
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }
}
