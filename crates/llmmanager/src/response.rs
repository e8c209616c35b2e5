//! What a successful call returns: the answer and the full story of how it was obtained.

use std::sync::OnceLock;
use std::time::Duration;

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
    /// table knows the model.
    pub fn cache_efficiency(&self) -> bedrock_cache::CacheEfficiency {
        static PRICES: OnceLock<Option<bedrock_cache::PriceTable>> = OnceLock::new();
        let prices = PRICES.get_or_init(|| bedrock_cache::PriceTable::bundled().ok());
        let price = prices.as_ref().and_then(|t| t.get(&self.model_id));
        bedrock_cache::CacheEfficiency::from_usage(self.usage(), price)
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
