//! Responses: token usage and the Converse output.

use aws_sdk_bedrockruntime::types as sdk;

use super::{document_to_json, unsupported};
use crate::error::Error;
use crate::model::Message;
use crate::response::{ConverseOutput, ConverseResponse, Metrics, StopReason, TokenUsage};

// ---- responses ----

fn non_negative(what: &str, v: i32) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| Error::conversion(what, format!("negative value {v}")))
}

impl TryFrom<&sdk::TokenUsage> for TokenUsage {
    type Error = Error;
    fn try_from(u: &sdk::TokenUsage) -> Result<Self, Error> {
        Ok(Self {
            input_tokens: non_negative("usage.inputTokens", u.input_tokens())?,
            output_tokens: non_negative("usage.outputTokens", u.output_tokens())?,
            total_tokens: non_negative("usage.totalTokens", u.total_tokens())?,
            cache_read_input_tokens: u
                .cache_read_input_tokens()
                .map(|v| non_negative("usage.cacheReadInputTokens", v))
                .transpose()?,
            cache_write_input_tokens: u
                .cache_write_input_tokens()
                .map(|v| non_negative("usage.cacheWriteInputTokens", v))
                .transpose()?,
            cache_details: match u.cache_details() {
                [] => None,
                details => {
                    let mut out = crate::CacheDetails::default();
                    for d in details {
                        let tokens =
                            non_negative("usage.cacheDetails.inputTokens", d.input_tokens)?;
                        out.add(d.ttl.as_str(), tokens);
                    }
                    Some(out)
                }
            },
        })
    }
}

impl TryFrom<aws_sdk_bedrockruntime::operation::converse::ConverseOutput> for ConverseResponse {
    type Error = Error;
    fn try_from(
        o: aws_sdk_bedrockruntime::operation::converse::ConverseOutput,
    ) -> Result<Self, Error> {
        let message = match o.output() {
            Some(sdk::ConverseOutput::Message(m)) => Message::try_from(m)?,
            other => return Err(unsupported("ConverseOutput", &other)),
        };
        let usage = o
            .usage()
            .map(TokenUsage::try_from)
            .transpose()?
            .unwrap_or_default();
        let latency = o.metrics().map_or(0, |m| m.latency_ms());
        let trace = o
            .trace()
            .and_then(|t| t.prompt_router())
            .and_then(|r| r.invoked_model_id())
            .map(|id| serde_json::json!({"promptRouter": {"invokedModelId": id}}));
        Ok(Self {
            output: ConverseOutput::Message(message),
            stop_reason: StopReason::from(o.stop_reason().as_str()),
            usage,
            metrics: Metrics {
                latency_ms: u64::try_from(latency)
                    .map_err(|_| Error::conversion("metrics.latencyMs", latency.to_string()))?,
            },
            additional_model_response_fields: o
                .additional_model_response_fields()
                .map(document_to_json)
                .transpose()?,
            trace,
            performance_config: o.performance_config().map(TryInto::try_into).transpose()?,
        })
    }
}
