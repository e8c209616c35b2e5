//! Budgets: what a request is estimated to cost before it is sent, and a spending limit for a
//! batch ([`Budget`], [`ParallelLlmManager::with_budget`](crate::ParallelLlmManager::with_budget)).
//!
//! A request's estimate is its input tokens ([`bedrock_cache::estimate_request_tokens`]) and its
//! largest answer (its `maxTokens`, else the manager's default, else the model's largest output,
//! else [`ASSUMED_OUTPUT_TOKENS`]) at the on-demand price of the first target the manager would
//! try. The budget lets a request start only while the actual cost of the finished requests plus
//! the estimates of those in flight plus its own estimate stays within the limit; the others end
//! as [`RequestError::NotAdmitted`], unsent.

use std::sync::{Arc, Mutex, MutexGuard};

use bedrock_cache::{Billing, Cost};
use bedrock_messages::{ConverseRequest, TokenUsage};
use bedrock_parallel::{Admission, Refusal, RequestError, RequestId, Reservation};

use crate::call::CallOptions;
use crate::error::Error;
use crate::manager::LlmManager;
use crate::rerun::{Rerun, RerunRequest};
use crate::response::Response;
use crate::routing::Target;
use crate::structured::{StructuredAnswer, StructuredError, StructuredRequest, StructuredService};

/// The answer length assumed for a request whose largest answer nothing states (no
/// `maxTokens`, no manager default, and no largest output for the model in the catalog).
pub const ASSUMED_OUTPUT_TOKENS: u32 = 4_096;

/// Where an estimate's output tokens come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutputTokens {
    /// The request's own `maxTokens`.
    MaxTokens,
    /// The manager's default `maxTokens`
    /// ([`LlmManagerBuilder::default_inference_config`](crate::LlmManagerBuilder::default_inference_config)).
    ManagerDefault,
    /// The model's largest output, from the catalog.
    ModelMaximum,
    /// [`ASSUMED_OUTPUT_TOKENS`].
    Assumed,
}

impl OutputTokens {
    /// `max_tokens`, `manager_default`, `model_maximum` or `assumed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxTokens => "max_tokens",
            Self::ManagerDefault => "manager_default",
            Self::ModelMaximum => "model_maximum",
            Self::Assumed => "assumed",
        }
    }
}

/// The tokens a request is estimated to use: its input, and at most this many output tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TokenEstimate {
    /// Estimated input tokens.
    pub input_tokens: u64,
    /// The largest answer, in tokens.
    pub output_tokens: u64,
    /// Where `output_tokens` comes from.
    pub output_from: OutputTokens,
}

impl TokenEstimate {
    /// Estimates `request`: its input tokens, and its `maxTokens`, else `default_max_tokens`,
    /// else `model_max_output`, else [`ASSUMED_OUTPUT_TOKENS`].
    ///
    /// ```
    /// use llmmanager::ConverseRequest;
    /// use llmmanager::budget::{OutputTokens, TokenEstimate};
    ///
    /// let request = ConverseRequest::builder().user_text("Hello there").max_tokens(200).build()?;
    /// let estimate = TokenEstimate::of(&request, Some(1000), None);
    /// assert_eq!((estimate.output_tokens, estimate.output_from), (200, OutputTokens::MaxTokens));
    /// assert!(estimate.input_tokens > 0);
    /// # Ok::<(), llmmanager::messages::Error>(())
    /// ```
    pub fn of(
        request: &ConverseRequest,
        default_max_tokens: Option<u32>,
        model_max_output: Option<u32>,
    ) -> Self {
        let own = request.inference_config.as_ref().and_then(|c| c.max_tokens);
        let (output, from) = match (own, default_max_tokens, model_max_output) {
            (Some(n), _, _) => (n, OutputTokens::MaxTokens),
            (None, Some(n), _) => (n, OutputTokens::ManagerDefault),
            (None, None, Some(n)) => (n, OutputTokens::ModelMaximum),
            (None, None, None) => (ASSUMED_OUTPUT_TOKENS, OutputTokens::Assumed),
        };
        Self {
            input_tokens: bedrock_cache::estimate_request_tokens(request),
            output_tokens: u64::from(output),
            output_from: from,
        }
    }

    /// The estimate as a token usage, for pricing.
    pub fn usage(&self) -> TokenUsage {
        let input = u32::try_from(self.input_tokens).unwrap_or(u32::MAX);
        let output = u32::try_from(self.output_tokens).unwrap_or(u32::MAX);
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input.saturating_add(output),
            ..TokenUsage::default()
        }
    }
}

/// What a request is estimated to cost on the first target a manager would try.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CostEstimate {
    /// The tokens.
    pub tokens: TokenEstimate,
    /// The first target the call would try.
    pub target: Target,
    /// Its model id or inference profile id.
    pub invoke_id: String,
    /// At the on-demand price; `None` when the price is unknown.
    pub on_demand: Option<Cost>,
    /// At the batch-inference price; `None` when the price is unknown.
    pub batch: Option<Cost>,
}

impl LlmManager {
    /// What `request` is estimated to cost, without sending anything: its estimated tokens
    /// ([`TokenEstimate`], with this manager's default `maxTokens` and the model's largest
    /// output) at the bundled price of the first target a call would try now. `None` when the
    /// manager has no target.
    pub fn estimate_cost(&self, request: &ConverseRequest) -> Option<CostEstimate> {
        let planned = self.plan_for(&CallOptions::default()).into_iter().next()?;
        let default_max = self
            .inner
            .default_inference
            .as_ref()
            .and_then(|c| c.max_tokens);
        let model_max = self
            .models()
            .iter()
            .find(|m| m.id == planned.target.model)
            .and_then(|m| m.capabilities.max_output_tokens);
        let tokens = TokenEstimate::of(request, default_max, model_max);
        let usage = tokens.usage();
        let target = planned.target;
        let price = |billing| {
            crate::cost::cost_of(
                &planned.invoke_id,
                &target.region,
                target.access_method,
                billing,
                &usage,
            )
        };
        Some(CostEstimate {
            tokens,
            on_demand: price(Billing::OnDemand),
            batch: price(Billing::Batch),
            invoke_id: planned.invoke_id,
            target,
        })
    }
}

/// A spending limit in US dollars for the batches of a
/// [`ParallelLlmManager`](crate::ParallelLlmManager).
///
/// No request starts once the actual cost of the finished requests, plus the estimates of those
/// in flight, plus its own estimate would pass the limit; such a request waits while others are
/// in flight (they may cost less than estimated) and otherwise ends as
/// [`RequestError::NotAdmitted`], unsent. A request
/// whose price is unknown is not admitted either: its cost cannot be bounded.
///
/// Clones share the account, so the budget can be read while and after a batch runs, and one
/// budget can span several batches.
///
/// Costs are the bundled on-demand prices. What is counted for a finished request: the answer's
/// [`Response::cost`] (its estimate when the price is unknown), plus its estimate for each
/// answer rejected by validation (those were paid for too) and for a request that timed out
/// (Bedrock may still have answered and billed it). A hedged call's second answer is not
/// counted.
///
/// ```no_run
/// # async fn demo(manager: llmmanager::LlmManager,
/// #     requests: Vec<llmmanager::parallel::BatchRequest<llmmanager::ConverseRequest>>)
/// #     -> Result<(), llmmanager::Error> {
/// use llmmanager::ParallelLlmManager;
/// use llmmanager::budget::Budget;
/// use llmmanager::parallel::ParallelConfig;
///
/// let budget = Budget::usd(5.0);
/// let parallel = ParallelLlmManager::new(manager, ParallelConfig::default())?
///     .with_budget(budget.clone());
/// let batch = parallel.converse_parallel(requests).await?;
/// let unsent = batch.outcomes().iter().filter(|o| o.error().is_some_and(|e| e.is_not_admitted())).count();
/// println!("spent ${:.2}; {unsent} request(s) left for a larger budget", budget.spent_usd());
/// # Ok(()) }
/// # let _ = demo;
/// ```
#[derive(Debug, Clone)]
pub struct Budget {
    limit_usd: f64,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    spent: f64,
    in_flight: f64,
    /// Requests in flight, so the sum returns to exactly 0 when none is.
    reservations: usize,
    unpriced_answers: usize,
}

impl Budget {
    /// A budget of `limit` US dollars (a negative or non-finite limit admits nothing).
    pub fn usd(limit: f64) -> Self {
        Self {
            limit_usd: if limit.is_finite() {
                limit.max(0.0)
            } else {
                0.0
            },
            state: Arc::default(),
        }
    }

    /// The limit.
    pub fn limit_usd(&self) -> f64 {
        self.limit_usd
    }

    /// What the finished requests cost.
    pub fn spent_usd(&self) -> f64 {
        self.lock().spent
    }

    /// The estimates of the requests in flight.
    pub fn in_flight_usd(&self) -> f64 {
        self.lock().in_flight
    }

    /// Answers whose price was unknown, counted at their estimate.
    pub fn unpriced_answers(&self) -> usize {
        self.lock().unpriced_answers
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves `estimate` dollars if they fit.
    fn reserve(&self, estimate: f64) -> Result<Reservation, Refusal> {
        let mut s = self.lock();
        if s.spent + s.in_flight + estimate > self.limit_usd {
            return Err(Refusal::new(format!(
                "budget exceeded: ${:.6} spent and ${:.6} in flight, this request is estimated \
                 at ${estimate:.6}, the budget is ${:.6}",
                s.spent, s.in_flight, self.limit_usd
            )));
        }
        s.in_flight += estimate;
        s.reservations += 1;
        Ok(Reservation::new(estimate))
    }

    /// Releases a reservation and counts what the request cost.
    fn settle(&self, reservation: Reservation, spent: f64, unpriced: bool) {
        let mut s = self.lock();
        s.reservations = s.reservations.saturating_sub(1);
        s.in_flight = if s.reservations == 0 {
            0.0
        } else {
            (s.in_flight - reservation.amount()).max(0.0)
        };
        s.spent += spent;
        s.unpriced_answers += usize::from(unpriced);
    }
}

/// A [`Budget`] checking the requests of one manager: the engine's admission hook.
#[derive(Debug, Clone)]
pub(crate) struct BudgetGate {
    pub(crate) budget: Budget,
    pub(crate) manager: LlmManager,
}

impl BudgetGate {
    fn admit_request(&self, request: &ConverseRequest) -> Result<Reservation, Refusal> {
        let estimate = self.manager.estimate_cost(request);
        match estimate.as_ref().and_then(|e| e.on_demand.as_ref()) {
            Some(cost) => self.budget.reserve(cost.usd),
            None => Err(Refusal::new(match estimate {
                Some(e) => format!(
                    "budget cannot bound this request: no price is known for {} in {}",
                    e.invoke_id, e.target.region
                ),
                None => "budget cannot bound this request: no target".to_owned(),
            })),
        }
    }

    /// Settles a request that ended with `response` (if any), `rejected` answers rejected by
    /// validation, and whether it timed out.
    fn settle_with(
        &self,
        reservation: Reservation,
        response: Option<&Response>,
        rejected: usize,
        timed_out: bool,
    ) {
        let estimate = reservation.amount();
        let (answer, unpriced) = match response.map(Response::cost) {
            Some(Some(cost)) => (cost.usd, false),
            Some(None) => (estimate, true),
            None if timed_out => (estimate, false),
            None => (0.0, false),
        };
        let rejected = response.map_or(rejected, |r| {
            r.validations
                .iter()
                .filter(|v| !v.result.is_valid())
                .count()
        });
        self.budget
            .settle(reservation, answer + estimate * rejected as f64, unpriced);
    }
}

impl Admission<LlmManager> for BudgetGate {
    fn admit(&self, _id: &RequestId, request: &ConverseRequest) -> Result<Reservation, Refusal> {
        self.admit_request(request)
    }

    fn settle(&self, reservation: Reservation, result: &Result<Response, RequestError<Error>>) {
        let timed_out = matches!(result, Err(RequestError::Timeout { .. }));
        self.settle_with(reservation, result.as_ref().ok(), 0, timed_out);
    }
}

impl Admission<Rerun> for BudgetGate {
    fn admit(&self, _id: &RequestId, request: &RerunRequest) -> Result<Reservation, Refusal> {
        self.admit_request(&request.request)
    }

    fn settle(&self, reservation: Reservation, result: &Result<Response, RequestError<Error>>) {
        let timed_out = matches!(result, Err(RequestError::Timeout { .. }));
        self.settle_with(reservation, result.as_ref().ok(), 0, timed_out);
    }
}

impl Admission<StructuredService> for BudgetGate {
    fn admit(&self, _id: &RequestId, request: &StructuredRequest) -> Result<Reservation, Refusal> {
        self.admit_request(&request.request)
    }

    fn settle(
        &self,
        reservation: Reservation,
        result: &Result<StructuredAnswer, RequestError<StructuredError>>,
    ) {
        let rejected = match result {
            Err(RequestError::Service { source }) => source.invalid_answers().len(),
            _ => 0,
        };
        let timed_out = matches!(result, Err(RequestError::Timeout { .. }));
        self.settle_with(
            reservation,
            result.as_ref().ok().map(|a| &a.response),
            rejected,
            timed_out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_tokens_come_from_the_first_stated_limit() {
        let plain = ConverseRequest::builder().user_text("hi").build().unwrap();
        let e = TokenEstimate::of(&plain, None, Some(8192));
        assert_eq!(
            (e.output_tokens, e.output_from),
            (8192, OutputTokens::ModelMaximum)
        );
        let e = TokenEstimate::of(&plain, Some(100), Some(8192));
        assert_eq!(
            (e.output_tokens, e.output_from),
            (100, OutputTokens::ManagerDefault)
        );
        let e = TokenEstimate::of(&plain, None, None);
        assert_eq!(
            (e.output_tokens, e.output_from),
            (u64::from(ASSUMED_OUTPUT_TOKENS), OutputTokens::Assumed)
        );
    }

    #[test]
    fn a_budget_reserves_only_what_fits_and_settles_actual_costs() {
        let budget = Budget::usd(1.0);
        let a = budget.reserve(0.6).unwrap();
        assert!(budget.reserve(0.5).is_err(), "0.6 in flight + 0.5 > 1");
        assert_eq!(budget.in_flight_usd(), 0.6);
        budget.settle(a, 0.2, false);
        assert_eq!((budget.spent_usd(), budget.in_flight_usd()), (0.2, 0.0));
        assert!(budget.reserve(0.8).is_ok());
        assert!(Budget::usd(f64::NAN).reserve(0.0001).is_err());
        assert!(Budget::usd(-3.0).reserve(0.0001).is_err());
    }
}
