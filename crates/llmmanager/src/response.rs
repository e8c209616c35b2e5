//! What a successful call returns: the answer and the full story of how it was obtained.

use std::time::Duration;

use bedrock_cache::{Billing, Cost, PriceTable};
use bedrock_catalog::AccessMethod;
use bedrock_messages::{ConverseResponse, StopReason, TokenUsage};

use crate::call::AttemptRecord;

use crate::validation::ValidationAttempt;

/// The answer to a [`crate::LlmManager::converse`] call.
///
/// Serialises to JSON in one call (`serde_json::to_string(&response)`), durations in
/// milliseconds.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Response {
    /// The Converse response as Bedrock sent it.
    pub output: ConverseResponse,
    /// The base model id that answered.
    pub model_id: String,
    /// The id or inference profile put in the request path.
    pub invoke_id: String,
    /// The region that answered.
    pub region: String,
    /// How the model was reached.
    pub access_method: AccessMethod,
    /// Every attempt, the successful one last.
    pub attempts: Vec<AttemptRecord>,
    /// Wall time of the whole call, backoff included.
    #[serde(
        rename = "duration_ms",
        serialize_with = "bedrock_retry::millis::serialize"
    )]
    pub duration: Duration,
    /// What the caller should know: dropped features, format corrections.
    pub warnings: Vec<String>,
    /// Every validation of an answer, in order.
    pub validations: Vec<ValidationAttempt>,
}

impl Response {
    /// The text blocks of the answer, joined.
    pub fn text(&self) -> String {
        self.output.text()
    }

    /// Token usage, including cache reads and writes.
    pub fn usage(&self) -> &TokenUsage {
        self.output.usage()
    }

    /// Why the model stopped.
    pub fn stop_reason(&self) -> &StopReason {
        &self.output.stop_reason
    }

    /// Prompt-cache efficiency of this response, with the estimated saving when the bundled price
    /// table knows the model in the region and access method that answered.
    pub fn cache_efficiency(&self) -> bedrock_cache::CacheEfficiency {
        let price = crate::cost::bundled_prices()
            .and_then(|t| t.lookup(&self.model_id, &self.region, self.access_method));
        bedrock_cache::CacheEfficiency::from_usage(self.usage(), price)
    }

    /// What this answer cost at the bundled prices ([`bedrock_cache::BUNDLED_PRICES`]): its
    /// input, output, cache-read and cache-write tokens at the on-demand price of the model, region
    /// and access method that answered (a profile call at the profile's price). `None` when the
    /// table has no price for a kind of token the answer used; never a made-up 0.
    ///
    /// Only the answering attempt is priced: a failed attempt returned no usage.
    ///
    /// ```no_run
    /// # async fn demo(manager: llmmanager::LlmManager, request: llmmanager::ConverseRequest)
    /// # -> Result<(), llmmanager::Error> {
    /// let response = manager.converse(&request).await?;
    /// match response.cost() {
    ///     Some(cost) => println!("${:.6} ({}, {})", cost.usd, cost.price.source, cost.price.date),
    ///     None => println!("no price for {} in {}", response.model_id, response.region),
    /// }
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub fn cost(&self) -> Option<Cost> {
        self.cost_with(crate::cost::bundled_prices()?)
    }

    /// [`cost`](Self::cost) at the prices of a caller's own table.
    pub fn cost_with(&self, prices: &PriceTable) -> Option<Cost> {
        prices.cost(
            &self.model_id,
            &self.region,
            self.access_method,
            Billing::OnDemand,
            self.usage(),
        )
    }

    /// Whether any answer of this call failed validation (the returned one passed, or there would
    /// be no response).
    pub fn had_validation_failures(&self) -> bool {
        self.validations.iter().any(|v| !v.result.is_valid())
    }

    /// The rejected answers' validations, in order.
    pub fn validation_failures(&self) -> impl Iterator<Item = &ValidationAttempt> {
        self.validations.iter().filter(|v| !v.result.is_valid())
    }

    /// How many attempts the call made.
    pub fn attempt_count(&self) -> usize {
        self.attempts.len()
    }
}
