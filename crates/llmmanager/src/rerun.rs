//! Running a batch's failed requests again, away from the regions that failed them.
//!
//! A request that failed for a reason another try may cure (throttling, a transient failure, an
//! unavailable target, the batch's own timeout, a stop before it started) runs again with its
//! assigned regions minus those its attempts failed in first, then the manager's other regions,
//! and the failed regions last. Its earlier attempts stay in front of the new ones, so the final
//! response or error carries the request's whole history. A request that failed for a reason
//! that would fail again (a bad request, blocked content, credentials, a panic) is left as it is.

use bedrock_messages::ConverseRequest;
use bedrock_parallel::{
    BatchRequest, ConverseService, ParallelResponse, Placement, RequestError, RequestOutcome,
};
use bedrock_retry::ErrorClass;
use futures::future::BoxFuture;

use crate::call::{AttemptRecord, CallOptions};
use crate::error::Error;
use crate::manager::LlmManager;
use crate::response::Response;

/// A request run again, with the regions its earlier attempts failed in.
#[derive(Debug, Clone)]
pub(crate) struct RerunRequest {
    pub(crate) request: ConverseRequest,
    failed_in: Vec<String>,
}

/// The manager as the service of a rerun pass: it places each request away from the regions that
/// failed it.
#[derive(Debug, Clone)]
pub(crate) struct Rerun(pub(crate) LlmManager);

impl ConverseService for Rerun {
    type Request = RerunRequest;
    type Response = Response;
    type Error = Error;

    fn call(
        &self,
        rerun: RerunRequest,
        placement: Placement,
    ) -> BoxFuture<'static, Result<Response, Error>> {
        let manager = self.0.clone();
        Box::pin(async move {
            // The assigned regions that did not fail this request, then the manager's other
            // regions that did not; the failed regions stay allowed, after every other one.
            let fresh = |r: &String| !rerun.failed_in.contains(r);
            let mut preferred: Vec<String> = placement
                .preferred_regions
                .iter()
                .filter(|r| fresh(r))
                .cloned()
                .collect();
            for region in manager.regions() {
                if fresh(region) && !preferred.contains(region) {
                    preferred.push(region.clone());
                }
            }
            let options = CallOptions::for_placement(
                Placement::new(preferred, true).with_deadline(placement.deadline),
            );
            manager.converse_with(&rerun.request, &options).await
        })
    }
}

/// Whether a failed request is worth running again, and the attempts it made so far.
fn rerunnable(outcome: &RequestOutcome<Response, Error>) -> Option<&[AttemptRecord]> {
    match outcome.error()? {
        RequestError::Service { source } => {
            let cured_by_another_try = matches!(
                source.last_class(),
                Some(ErrorClass::Throttled | ErrorClass::Transient | ErrorClass::TargetUnavailable)
            );
            cured_by_another_try.then(|| source.attempts())
        }
        RequestError::Timeout { .. } | RequestError::Cancelled { .. } => Some(&[]),
        _ => None,
    }
}

/// Each rerun request's earlier attempts, by id.
pub(crate) type History = Vec<(String, Vec<AttemptRecord>)>;

/// The requests of `previous` to run again, from `requests` (matched by id), each with the
/// regions its attempts failed in (its assigned regions when it made none), and their earlier
/// attempts by id.
pub(crate) fn plan(
    previous: &ParallelResponse<Response, Error>,
    requests: &[BatchRequest<ConverseRequest>],
) -> (Vec<BatchRequest<RerunRequest>>, History) {
    let mut batch = Vec::new();
    let mut history = Vec::new();
    for outcome in previous.outcomes() {
        let Some(attempts) = rerunnable(outcome) else {
            continue;
        };
        let Some(original) = requests.iter().find(|r| r.id == outcome.id) else {
            continue;
        };
        let mut failed_in: Vec<String> = Vec::new();
        for a in attempts {
            if !failed_in.contains(&a.target.region) {
                failed_in.push(a.target.region.clone());
            }
        }
        if failed_in.is_empty() {
            failed_in.clone_from(&outcome.assigned_regions);
        }
        batch.push(BatchRequest::new(
            outcome.id.clone(),
            RerunRequest {
                request: original.request.clone(),
                failed_in,
            },
        ));
        history.push((outcome.id.to_string(), attempts.to_vec()));
    }
    (batch, history)
}

/// Puts each request's earlier attempts in front of those of its rerun.
pub(crate) fn prepend_history(rerun: &mut ParallelResponse<Response, Error>, history: History) {
    for (id, earlier) in history {
        let Some(outcome) = rerun.outcome_mut(&id) else {
            continue;
        };
        let attempts = match &mut outcome.result {
            Ok(response) => &mut response.attempts,
            Err(RequestError::Service { source }) => match source.attempts_mut() {
                Some(attempts) => attempts,
                None => continue,
            },
            Err(_) => continue,
        };
        let mut later = std::mem::take(attempts);
        // The rerun placed its first attempt away from the regions that failed it, unless cache
        // affinity put another target first. Records follow the order attempts ended in (a hedge
        // that lost to the first attempt comes before it), so the first attempt is found by its
        // number.
        if let Some(first) = later.iter_mut().min_by_key(|a| a.attempt_number)
            && first.route == bedrock_retry::Route::Order
        {
            first.route = bedrock_retry::Route::Rerun;
        }
        attempts.extend(earlier);
        attempts.extend(later);
    }
}
