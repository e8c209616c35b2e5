//! The JSON shape of a result: one batch output line, or the output of `chat --json`.
//!
//! This shape is a contract with scripts that read the output, so it is built here from plain
//! fields (not derived from library types that may change) and guarded by snapshot tests.

use std::time::Duration;

use llmmanager::cache::{Billing, access_of_id};
use llmmanager::messages::TokenUsage;
use llmmanager::{
    AccessMethod, AttemptRecord, Cost, Response, ValidationAttempt, ValidationResult,
};
use serde::Serialize;

/// One result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    /// The request id (batch only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// Whether the request succeeded.
    pub(crate) ok: bool,
    /// The answer's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// The typed answer, for a request with a schema.
    #[serde(flatten)]
    pub(crate) structured: Option<StructuredJson>,
    /// The base model id that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<String>,
    /// The id put in the request path (model id or inference profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) invoke_id: Option<String>,
    /// The region that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) region: Option<String>,
    /// `direct`, `regional_profile` or `global_profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) access_method: Option<String>,
    /// Why the model stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stop_reason: Option<String>,
    /// Why the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<ErrorJson>,
    /// Every attempt, in order.
    pub(crate) attempts: Vec<AttemptJson>,
    /// Token usage of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<UsageJson>,
    /// What the answer cost; absent when the price table does not know a price it needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cost: Option<CostJson>,
    /// Wall time of the request, retries included.
    pub(crate) duration_ms: u64,
    /// Notes such as features dropped for a model.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
}

/// The typed answer of a request with a schema: the value, how it was asked for, and every
/// answer rejected on the way.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct StructuredJson {
    /// The value, valid against the schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) json: Option<serde_json::Value>,
    /// `native`, `forced_tool` or `prompted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mechanism: Option<String>,
    /// Every answer rejected by the schema, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) invalid_answers: Vec<InvalidAnswerJson>,
}

/// One answer rejected by the schema.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct InvalidAnswerJson {
    /// The model that answered.
    pub(crate) model: String,
    /// The region that answered.
    pub(crate) region: String,
    /// Why the answer was rejected.
    pub(crate) message: String,
}

impl StructuredJson {
    /// The rejected answers among `validations`.
    pub(crate) fn rejected(validations: &[ValidationAttempt]) -> Vec<InvalidAnswerJson> {
        validations
            .iter()
            .filter_map(|v| match &v.result {
                ValidationResult::Invalid { message, .. } => Some(InvalidAnswerJson {
                    model: v.target.model.clone(),
                    region: v.target.region.clone(),
                    message: message.clone(),
                }),
                _ => None,
            })
            .collect()
    }
}

/// Why a request failed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorJson {
    /// `exhausted`, `invalid_request`, `configuration`, `timeout`, `panicked` or `cancelled`.
    pub(crate) kind: String,
    /// A readable message.
    pub(crate) message: String,
}

/// One attempt.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AttemptJson {
    /// The model tried.
    pub(crate) model: String,
    /// The region tried.
    pub(crate) region: String,
    /// How the model was reached.
    pub(crate) access_method: String,
    /// `ok`, the error class (`throttled`, `transient`, `target_unavailable`, ...), or for the
    /// loser of a hedged race `hedge_cancelled` (dropped before it answered) or
    /// `hedge_discarded` (answered in the same instant; not used).
    pub(crate) outcome: String,
    /// Why the attempt went to its target, when not the call's order: `affinity` (the region
    /// holding the request's cached prefix), `hedge` (a copy of a slow attempt sent to the next
    /// target) or `rerun` (the first attempt of a failed request run again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) route: Option<&'static str>,
    /// The error message, for a failed attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// Backoff waited before the attempt.
    pub(crate) delay_ms: u64,
    /// Duration of the attempt.
    pub(crate) duration_ms: u64,
    /// Features removed from the request for this attempt.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) disabled_features: Vec<String>,
}

/// Token usage.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct UsageJson {
    /// Uncached input tokens.
    pub(crate) input_tokens: u64,
    /// Output tokens.
    pub(crate) output_tokens: u64,
    /// Total tokens.
    pub(crate) total_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub(crate) cache_read_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub(crate) cache_write_tokens: u64,
}

/// What one answer cost, in US dollars, and the price entry used.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CostJson {
    /// The total.
    pub(crate) usd: f64,
    /// Uncached input tokens.
    pub(crate) input_usd: f64,
    /// Output tokens.
    pub(crate) output_usd: f64,
    /// Tokens read from the prompt cache.
    pub(crate) cache_read_usd: f64,
    /// Tokens written to the prompt cache.
    pub(crate) cache_write_usd: f64,
    /// What the prompt cache saved against uncached input (negative when writes outweighed
    /// reads); absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache_savings_usd: Option<f64>,
    /// The price entry used.
    pub(crate) price: PriceJson,
}

/// Which price a cost used.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PriceJson {
    /// `direct`, `regional_profile` or `global_profile`.
    pub(crate) access_method: String,
    /// `on_demand` or `batch`.
    pub(crate) billing: String,
    /// Where the price comes from.
    pub(crate) source: String,
    /// When it was last compared with the source.
    pub(crate) date: String,
}

impl From<&Cost> for CostJson {
    fn from(c: &Cost) -> Self {
        Self {
            usd: c.usd,
            input_usd: c.input_usd,
            output_usd: c.output_usd,
            cache_read_usd: c.cache_read_usd,
            cache_write_usd: c.cache_write_usd,
            cache_savings_usd: c.cache_savings_usd,
            price: PriceJson {
                access_method: c.price.access.to_string(),
                billing: c.price.billing.as_str().to_owned(),
                source: c.price.source.clone(),
                date: c.price.date.clone(),
            },
        }
    }
}

/// Milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn attempts(records: &[AttemptRecord]) -> Vec<AttemptJson> {
    records
        .iter()
        .map(|a| AttemptJson {
            model: a.target.model.clone(),
            region: a.target.region.clone(),
            access_method: a.target.access_method.to_string(),
            outcome: match (a.lost, a.class) {
                (Some(llmmanager::retry::HedgeLoss::Discarded), _) => "hedge_discarded".to_owned(),
                (Some(_), _) => "hedge_cancelled".to_owned(),
                (None, class) => class.map_or_else(|| "ok".to_owned(), |c| c.as_str().to_owned()),
            },
            route: (a.route != llmmanager::retry::Route::Order).then(|| a.route.as_str()),
            message: a.message.clone(),
            delay_ms: millis(a.delay_before),
            duration_ms: millis(a.duration),
            disabled_features: a
                .disabled_features
                .iter()
                .map(ToString::to_string)
                .collect(),
        })
        .collect()
}

impl Record {
    /// The record of a successful call.
    pub(crate) fn success(id: Option<String>, response: &Response, duration: Duration) -> Self {
        let u = response.usage();
        Self {
            id,
            ok: true,
            text: Some(response.text()),
            structured: None,
            model: Some(response.model_id.clone()),
            invoke_id: Some(response.invoke_id.clone()),
            region: Some(response.region.clone()),
            access_method: Some(response.access_method.to_string()),
            stop_reason: Some(response.stop_reason().as_str().to_owned()),
            error: None,
            attempts: attempts(&response.attempts),
            usage: Some(UsageJson {
                input_tokens: u64::from(u.input_tokens),
                output_tokens: u64::from(u.output_tokens),
                total_tokens: u64::from(u.total_tokens),
                cache_read_tokens: u64::from(u.cache_read_input_tokens.unwrap_or(0)),
                cache_write_tokens: u64::from(u.cache_write_input_tokens.unwrap_or(0)),
            }),
            cost: response.cost().as_ref().map(CostJson::from),
            duration_ms: millis(duration),
            warnings: response.warnings.clone(),
        }
    }

    /// The record of a failed call.
    pub(crate) fn failure(
        id: Option<String>,
        kind: &str,
        message: String,
        attempt_records: &[AttemptRecord],
        duration: Duration,
    ) -> Self {
        Self {
            id,
            ok: false,
            text: None,
            structured: None,
            model: None,
            invoke_id: None,
            region: None,
            access_method: None,
            stop_reason: None,
            error: Some(ErrorJson {
                kind: kind.to_owned(),
                message,
            }),
            attempts: attempts(attempt_records),
            usage: None,
            cost: None,
            duration_ms: millis(duration),
            warnings: Vec::new(),
        }
    }

    /// The record of a failed manager call.
    pub(crate) fn from_error(
        id: Option<String>,
        error: &llmmanager::Error,
        duration: Duration,
    ) -> Self {
        Self::failure(
            id,
            error_kind(error),
            crate::exit::chain(error),
            error.attempts(),
            duration,
        )
    }
}

impl Record {
    /// The record with its cost filled in from its own model, region, access method and usage:
    /// for the result of a batch-inference job (`batch_job`), at the batch price of the access
    /// method its invoke id names.
    pub(crate) fn priced(mut self) -> Self {
        self.cost = self.price().as_ref().map(CostJson::from);
        self
    }

    fn price(&self) -> Option<Cost> {
        let usage = self.usage.filter(|_| self.ok)?;
        let model = self.model.as_deref()?;
        let invoke_id = self.invoke_id.as_deref().unwrap_or(model);
        let (access, billing) = match self.access_method.as_deref()? {
            "batch_job" => (access_of_id(invoke_id), Billing::Batch),
            "direct" => (AccessMethod::Direct, Billing::OnDemand),
            "regional_profile" => (AccessMethod::RegionalProfile, Billing::OnDemand),
            "global_profile" => (AccessMethod::GlobalProfile, Billing::OnDemand),
            _ => return None,
        };
        let tokens = |n: u64| u32::try_from(n).ok();
        let usage = TokenUsage {
            input_tokens: tokens(usage.input_tokens)?,
            output_tokens: tokens(usage.output_tokens)?,
            total_tokens: tokens(usage.total_tokens)?,
            cache_read_input_tokens: Some(tokens(usage.cache_read_tokens)?),
            cache_write_input_tokens: Some(tokens(usage.cache_write_tokens)?),
            ..TokenUsage::default()
        };
        llmmanager::cost_of(invoke_id, self.region.as_deref()?, access, billing, &usage)
    }
}

impl Record {
    /// The record of a typed answer (or of a plain one, for a batch request without a schema).
    pub(crate) fn from_answer(
        id: Option<String>,
        answer: &llmmanager::structured::StructuredAnswer,
        duration: Duration,
    ) -> Self {
        Self::typed(
            id,
            &answer.response,
            answer.json.as_ref().zip(answer.mechanism),
            duration,
        )
    }

    /// The record of a successful call, with its typed value and mechanism when it has one.
    pub(crate) fn typed(
        id: Option<String>,
        response: &Response,
        value: Option<(&serde_json::Value, llmmanager::Mechanism)>,
        duration: Duration,
    ) -> Self {
        let mut record = Self::success(id, response, duration);
        if let Some((json, mechanism)) = value {
            record.structured = Some(StructuredJson {
                json: Some(json.clone()),
                mechanism: Some(mechanism.as_str().to_owned()),
                invalid_answers: StructuredJson::rejected(&response.validations),
            });
        }
        record
    }

    /// The record of a failed typed-answer call, with every rejected answer.
    pub(crate) fn from_structured_error(
        id: Option<String>,
        error: &llmmanager::StructuredError,
        duration: Duration,
    ) -> Self {
        let mut record = match error {
            llmmanager::StructuredError::Call { source, .. } => {
                Self::from_error(id, source, duration)
            }
            llmmanager::StructuredError::Schema { .. } => Self::failure(
                id,
                "invalid_request",
                crate::exit::chain(error),
                &[],
                duration,
            ),
            _ => Self::failure(
                id,
                "exhausted",
                crate::exit::chain(error),
                error.attempts(),
                duration,
            ),
        };
        let invalid_answers = StructuredJson::rejected(error.invalid_answers());
        if !invalid_answers.is_empty() {
            record.structured = Some(StructuredJson {
                invalid_answers,
                ..StructuredJson::default()
            });
        }
        record
    }
}

/// The stable name of a manager error's kind.
pub(crate) fn error_kind(error: &llmmanager::Error) -> &'static str {
    match error.kind() {
        llmmanager::ErrorKind::Configuration => "configuration",
        llmmanager::ErrorKind::InvalidRequest => "invalid_request",
        _ => "exhausted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_line(invoke_id: &str, region: &str, input: u64, output: u64) -> Record {
        let mut record = Record::failure(Some("q".into()), "x", String::new(), &[], Duration::ZERO);
        record.ok = true;
        record.error = None;
        record.model = Some("anthropic.claude-haiku-4-5-20251001-v1:0".into());
        record.invoke_id = Some(invoke_id.into());
        record.region = Some(region.into());
        record.access_method = Some("batch_job".into());
        record.usage = Some(UsageJson {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input + output,
            ..UsageJson::default()
        });
        record.priced()
    }

    #[test]
    fn a_batch_job_line_is_priced_at_the_batch_price_of_its_profile() {
        let global = batch_line(
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us-east-1",
            1_000_000,
            1_000_000,
        );
        let cost = global.cost.unwrap();
        // Half of $1 input and $5 output per million tokens through the global profile.
        assert!((cost.usd - 3.0).abs() < 1e-9, "{cost:?}");
        assert_eq!(cost.price.billing, "batch");
        assert_eq!(cost.price.access_method, "global_profile");
        let regional = batch_line(
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us-east-1",
            1_000_000,
            1_000_000,
        );
        assert!((regional.cost.unwrap().usd - 3.3).abs() < 1e-9);
        // No price in a partition the table does not cover: no cost, not a cost of 0.
        let unknown = batch_line(
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us-gov-west-1",
            10,
            10,
        );
        assert!(unknown.cost.is_none());
        let json = serde_json::to_value(&unknown).unwrap();
        assert!(json.get("cost").is_none(), "{json}");
    }
}
