//! What a call cost, from the bundled price table.
//!
//! [`Response::cost`](crate::Response::cost) and
//! [`StreamResponse::cost`](crate::StreamResponse::cost) price the answer's token usage at the
//! price of the model, region and access method that answered: a call through an inference
//! profile is priced as that profile, which for Claude 4.5 models and later differs from the
//! base model's price. The table and the arithmetic are [`bedrock_cache::prices`]; this module
//! holds the table compiled into the library and the pricing of a (model, region, access method,
//! usage) for callers that have no [`Response`](crate::Response), such as the records of a
//! batch-inference job.

use std::sync::OnceLock;

use bedrock_cache::{Billing, Cost, PriceTable};
use bedrock_catalog::AccessMethod;
use bedrock_messages::TokenUsage;

/// The bundled price table, parsed once; `None` only if the compiled-in file were malformed,
/// which `bedrock-cache`'s tests rule out.
pub fn bundled_prices() -> Option<&'static PriceTable> {
    static PRICES: OnceLock<Option<PriceTable>> = OnceLock::new();
    PRICES.get_or_init(|| PriceTable::bundled().ok()).as_ref()
}

/// The cost of `usage` for `model_id` (a base model or profile id) called in `region` through
/// `access`, billed as `billing`, at the bundled prices; `None` when a price it needs is unknown.
///
/// ```
/// use llmmanager::AccessMethod;
/// use llmmanager::cache::Billing;
/// use llmmanager::messages::TokenUsage;
///
/// let usage = TokenUsage { input_tokens: 2_000, output_tokens: 400, ..Default::default() };
/// let batch = llmmanager::cost_of(
///     "anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", AccessMethod::Direct,
///     Billing::Batch, &usage,
/// ).unwrap();
/// // Half of 2,000 × $0.25 + 400 × $1.25 per million tokens.
/// assert!((batch.usd - 0.0005).abs() < 1e-12);
/// ```
pub fn cost_of(
    model_id: &str,
    region: &str,
    access: AccessMethod,
    billing: Billing,
    usage: &TokenUsage,
) -> Option<Cost> {
    bundled_prices()?.cost(model_id, region, access, billing, usage)
}
