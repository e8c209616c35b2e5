//! The Converse response body.
//!
//! Callers need the text, the tool calls and the token usage of a response, whether it came from
//! the SDK or from recorded JSON. [`ConverseResponse`] mirrors the wire body so recordings
//! deserialise directly, and converts from the SDK output in the `sdk` module (feature `sdk`).

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::model::{
    Citation, ContentBlock, Message, PerformanceConfig, RawBlock, ReasoningContentBlock,
    ToolResultContent, ToolUseBlock,
};

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// The turn ended normally.
    EndTurn,
    /// The model wants a tool result.
    ToolUse,
    /// `maxTokens` reached.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// A guardrail intervened.
    GuardrailIntervened,
    /// Content was filtered.
    ContentFiltered,
    /// The model produced malformed output.
    MalformedModelOutput,
    /// The model produced a malformed tool call.
    MalformedToolUse,
    /// The context window was exceeded.
    ModelContextWindowExceeded,
    /// A value this version does not know.
    Unknown(String),
}

impl StopReason {
    /// The wire spelling.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::EndTurn => "end_turn",
            Self::ToolUse => "tool_use",
            Self::MaxTokens => "max_tokens",
            Self::StopSequence => "stop_sequence",
            Self::GuardrailIntervened => "guardrail_intervened",
            Self::ContentFiltered => "content_filtered",
            Self::MalformedModelOutput => "malformed_model_output",
            Self::MalformedToolUse => "malformed_tool_use",
            Self::ModelContextWindowExceeded => "model_context_window_exceeded",
            Self::Unknown(s) => s,
        }
    }
}

impl From<&str> for StopReason {
    fn from(s: &str) -> Self {
        match s {
            "end_turn" => Self::EndTurn,
            "tool_use" => Self::ToolUse,
            "max_tokens" => Self::MaxTokens,
            "stop_sequence" => Self::StopSequence,
            "guardrail_intervened" => Self::GuardrailIntervened,
            "content_filtered" => Self::ContentFiltered,
            "malformed_model_output" => Self::MalformedModelOutput,
            "malformed_tool_use" => Self::MalformedToolUse,
            "model_context_window_exceeded" => Self::ModelContextWindowExceeded,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StopReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StopReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Self::from(s.as_ref()))
    }
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Uncached input tokens.
    pub input_tokens: u32,
    /// Output tokens.
    pub output_tokens: u32,
    /// Total tokens.
    pub total_tokens: u32,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u32>,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u32>,
    /// Cache writes by time to live, when Bedrock reports them (`cacheDetails`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_details: Option<crate::trace::CacheDetails>,
}

/// Server-side metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Server latency in milliseconds.
    pub latency_ms: u64,
}

/// The `output` union; its only member is `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ConverseOutput {
    /// The model's message.
    Message(Message),
}

/// A Converse response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConverseResponse {
    /// The model's output.
    pub output: ConverseOutput,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Token counts.
    pub usage: TokenUsage,
    /// Metrics.
    pub metrics: Metrics,
    /// Model-native fields requested with `additionalModelResponseFieldPaths`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
    /// Guardrail and prompt-router trace, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
    /// The performance setting used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<PerformanceConfig>,
}

impl ConverseResponse {
    /// A response carrying one assistant message (useful for tests and simulators).
    #[must_use]
    pub fn new(
        message: Message,
        stop_reason: StopReason,
        usage: TokenUsage,
        metrics: Metrics,
    ) -> Self {
        Self {
            output: ConverseOutput::Message(message),
            stop_reason,
            usage,
            metrics,
            additional_model_response_fields: None,
            trace: None,
            performance_config: None,
        }
    }

    /// The output message.
    #[must_use]
    pub fn message(&self) -> &Message {
        match &self.output {
            ConverseOutput::Message(m) => m,
        }
    }

    /// All text joined without separator: text blocks and the generated text of citation blocks.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = String::new();
        for b in &self.message().content {
            match b {
                ContentBlock::Text(t) => out.push_str(t),
                ContentBlock::CitationsContent(c) => {
                    for crate::model::CitationText::Text(t) in c.content.iter().flatten() {
                        out.push_str(t);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The tool calls, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUseBlock> {
        self.message().content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(t),
            _ => None,
        })
    }

    /// Token counts.
    #[must_use]
    pub fn usage(&self) -> &TokenUsage {
        &self.usage
    }

    /// The model's reasoning text, joined, if it sent any (redacted reasoning is not text).
    #[must_use]
    pub fn reasoning_text(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .message()
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(t)) => {
                    Some(t.text.as_str())
                }
                _ => None,
            })
            .collect();
        (!parts.is_empty()).then(|| parts.concat())
    }

    /// The signature of the reasoning, to send back unchanged in the next turn.
    #[must_use]
    pub fn reasoning_signature(&self) -> Option<&str> {
        self.message().content.iter().find_map(|b| match b {
            ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(t)) => {
                t.signature.as_deref()
            }
            _ => None,
        })
    }

    /// The model's redacted (encrypted) reasoning blocks, in order: opaque bytes to send back
    /// unchanged in the next turn (the original's `reasoning_redacted_content`).
    pub fn redacted_reasoning(&self) -> impl Iterator<Item = &Bytes> {
        self.message().content.iter().filter_map(|b| match b {
            ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(bytes)) => {
                Some(bytes)
            }
            _ => None,
        })
    }

    /// The guardrail's trace, when the request's guardrail configuration turned tracing on:
    /// typed policy findings, with every member this crate does not model kept as JSON. `None`
    /// when there is none (or it does not parse; the raw JSON stays in [`ConverseResponse::trace`]).
    pub fn guardrail_trace(&self) -> Option<crate::trace::GuardrailTraceAssessment> {
        let raw = self.trace.as_ref()?.get("guardrail")?;
        serde_json::from_value(raw.clone()).ok()
    }

    /// Every citation of the answer, in order.
    pub fn citations(&self) -> impl Iterator<Item = &Citation> {
        self.message().content.iter().flat_map(|b| match b {
            ContentBlock::CitationsContent(c) => c.citations.as_deref().unwrap_or_default(),
            _ => &[],
        })
    }

    /// The blocks kept as raw JSON because this library does not model them, including those
    /// nested in tool results.
    pub fn unmodelled_blocks(&self) -> impl Iterator<Item = &RawBlock> {
        self.message().content.iter().flat_map(|b| {
            let (top, nested): (Option<&RawBlock>, &[ToolResultContent]) = match b {
                ContentBlock::Unmodelled(raw) => (Some(raw), &[]),
                ContentBlock::ToolResult(r) => (None, &r.content),
                _ => (None, &[]),
            };
            top.into_iter().chain(nested.iter().filter_map(|c| match c {
                ToolResultContent::Unmodelled(raw) => Some(raw),
                _ => None,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_body_and_helpers_work() {
        let r: ConverseResponse = serde_json::from_value(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "Hel"}, {"text": "lo"},
                {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 12, "outputTokens": 34, "totalTokens": 46,
                      "cacheReadInputTokens": 5, "cacheWriteInputTokens": 0},
            "metrics": {"latencyMs": 812},
            "trace": {"promptRouter": {"invokedModelId": "arn:x"}}
        }))
        .unwrap();
        assert_eq!(r.text(), "Hello");
        assert_eq!(
            r.tool_uses().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["f"]
        );
        assert_eq!(r.usage().cache_read_input_tokens, Some(5));
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!(r.metrics.latency_ms, 812);
    }

    #[test]
    fn citation_text_counts_as_text() {
        let r: ConverseResponse = serde_json::from_value(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "A "},
                {"citationsContent": {"content": [{"text": "cited"}], "citations": [
                    {"title": "doc", "sourceContent": [{"text": "src"}],
                     "location": {"documentPage": {"documentIndex": 0, "start": 1, "end": 2}}}
                ]}}
            ]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}
        }))
        .unwrap();
        assert_eq!(r.text(), "A cited");
    }

    #[test]
    fn redacted_reasoning_is_read_as_bytes_and_is_not_text() {
        let r: ConverseResponse = serde_json::from_value(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"redactedContent": "AQID"}},
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                {"text": "ok"}
            ]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}
        }))
        .unwrap();
        let redacted: Vec<&[u8]> = r.redacted_reasoning().map(|b| b.as_ref()).collect();
        assert_eq!(redacted, [&[1u8, 2, 3][..]]);
        assert_eq!(r.reasoning_text().as_deref(), Some("hmm"));
        assert_eq!(r.text(), "ok");
    }

    #[test]
    fn unknown_stop_reasons_survive() {
        let s: StopReason = serde_json::from_value(json!("brand_new")).unwrap();
        assert_eq!(s, StopReason::Unknown("brand_new".into()));
        assert_eq!(serde_json::to_value(&s).unwrap(), json!("brand_new"));
    }
}
