//! Request configuration: inference settings, guardrails (plain and streaming) and performance.

use aws_sdk_bedrockruntime::types as sdk;

use super::parse;
use crate::error::Error;
use crate::model::{
    GuardrailConfig, GuardrailTrace, InferenceConfig, Latency, PerformanceConfig,
    StreamProcessingMode,
};

// ---- configuration ----

impl TryFrom<&InferenceConfig> for sdk::InferenceConfiguration {
    type Error = Error;
    fn try_from(c: &InferenceConfig) -> Result<Self, Error> {
        let max_tokens = c
            .max_tokens
            .map(i32::try_from)
            .transpose()
            .map_err(|e| Error::conversion("inferenceConfig.maxTokens", e.to_string()))?;
        Ok(sdk::InferenceConfiguration::builder()
            .set_max_tokens(max_tokens)
            .set_temperature(c.temperature)
            .set_top_p(c.top_p)
            .set_stop_sequences(c.stop_sequences.clone())
            .build())
    }
}

impl TryFrom<&sdk::InferenceConfiguration> for InferenceConfig {
    type Error = Error;
    fn try_from(c: &sdk::InferenceConfiguration) -> Result<Self, Error> {
        let max_tokens = c
            .max_tokens()
            .map(u32::try_from)
            .transpose()
            .map_err(|e| Error::conversion("inferenceConfig.maxTokens", e.to_string()))?;
        Ok(Self {
            max_tokens,
            temperature: c.temperature(),
            top_p: c.top_p(),
            stop_sequences: c.stop_sequences.clone(),
        })
    }
}

impl From<&GuardrailConfig> for sdk::GuardrailConfiguration {
    fn from(g: &GuardrailConfig) -> Self {
        sdk::GuardrailConfiguration::builder()
            .guardrail_identifier(&g.guardrail_identifier)
            .guardrail_version(&g.guardrail_version)
            .set_trace(g.trace.map(|t| sdk::GuardrailTrace::from(t.as_str())))
            .build()
    }
}

impl TryFrom<&sdk::GuardrailConfiguration> for GuardrailConfig {
    type Error = Error;
    fn try_from(g: &sdk::GuardrailConfiguration) -> Result<Self, Error> {
        Ok(Self {
            guardrail_identifier: g.guardrail_identifier().to_owned(),
            guardrail_version: g.guardrail_version().to_owned(),
            trace: Some(parse::<GuardrailTrace>(g.trace().as_str())?),
            stream_processing_mode: None,
        })
    }
}

impl From<&GuardrailConfig> for sdk::GuardrailStreamConfiguration {
    fn from(g: &GuardrailConfig) -> Self {
        sdk::GuardrailStreamConfiguration::builder()
            .guardrail_identifier(&g.guardrail_identifier)
            .guardrail_version(&g.guardrail_version)
            .set_trace(g.trace.map(|t| sdk::GuardrailTrace::from(t.as_str())))
            .set_stream_processing_mode(
                g.stream_processing_mode
                    .map(|m| sdk::GuardrailStreamProcessingMode::from(m.as_str())),
            )
            .build()
    }
}

impl TryFrom<&sdk::GuardrailStreamConfiguration> for GuardrailConfig {
    type Error = Error;
    fn try_from(g: &sdk::GuardrailStreamConfiguration) -> Result<Self, Error> {
        Ok(Self {
            guardrail_identifier: g.guardrail_identifier().to_owned(),
            guardrail_version: g.guardrail_version().to_owned(),
            trace: Some(parse::<GuardrailTrace>(g.trace().as_str())?),
            stream_processing_mode: Some(parse::<StreamProcessingMode>(
                g.stream_processing_mode().as_str(),
            )?),
        })
    }
}

impl From<&PerformanceConfig> for sdk::PerformanceConfiguration {
    fn from(p: &PerformanceConfig) -> Self {
        sdk::PerformanceConfiguration::builder()
            .latency(sdk::PerformanceConfigLatency::from(p.latency.as_str()))
            .build()
    }
}

impl TryFrom<&sdk::PerformanceConfiguration> for PerformanceConfig {
    type Error = Error;
    fn try_from(p: &sdk::PerformanceConfiguration) -> Result<Self, Error> {
        Ok(Self {
            latency: parse::<Latency>(p.latency().as_str())?,
        })
    }
}
