//! Request features a model may reject, how to recognise them in Bedrock's error messages, and
//! how to remove them from a request ([`ConverseRequest::without`]).
//!
//! Some models reject parts of a request (documents, tool use, cache points...). With feature
//! fallback enabled, the manager retries the same target once without the rejected feature, and
//! keeps it disabled for that model for the rest of the call.

use std::fmt;
use std::str::FromStr;

use crate::{ContentBlock, ConverseRequest, GuardContentBlock, SystemBlock, Tool};

/// A request feature that a model may not support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Feature {
    /// Document content blocks.
    Documents,
    /// Image content blocks.
    Images,
    /// Video content blocks.
    Video,
    /// Cache points (prompt caching).
    CachePoints,
    /// Tool definitions and tool use (`toolConfig`).
    Tools,
    /// Guardrail configuration.
    Guardrails,
    /// Reasoning content blocks and reasoning configuration.
    ReasoningContent,
    /// Model-specific `additionalModelRequestFields`.
    AdditionalFields,
    /// Native structured output (`outputConfig`).
    StructuredOutput,
}

/// Phrases saying that something is not supported.
const NEGATIONS: &[&str] = &[
    "doesn't support",
    "doesn\u{2019}t support",
    "does not support",
    "not supported",
    "isn't supported",
    "isn\u{2019}t supported",
    "unsupported",
    "not allowed",
    "not permitted",
];

/// Phrases that on their own mean a model-specific field was rejected.
const FIELD_REJECTIONS: &[&str] = &[
    "additionalmodelrequestfields",
    "extraneous key",
    "unknown parameter",
    "unsupported parameter",
    "unrecognized field",
    "invalid request field",
    "parameter not supported",
    "does not support parameter",
    "parameter is not valid for this model",
];

/// Feature keywords, checked in this order once a negation phrase was found.
const KEYWORDS: &[(&str, Feature)] = &[
    ("structured output", Feature::StructuredOutput),
    ("outputconfig", Feature::StructuredOutput),
    ("document", Feature::Documents),
    ("video", Feature::Video),
    ("image", Feature::Images),
    ("cachepoint", Feature::CachePoints),
    ("cache point", Feature::CachePoints),
    ("prompt caching", Feature::CachePoints),
    ("caching", Feature::CachePoints),
    ("tooluse", Feature::Tools),
    ("tool use", Feature::Tools),
    ("toolconfig", Feature::Tools),
    ("toolchoice", Feature::Tools),
    ("tools", Feature::Tools),
    ("guardrail", Feature::Guardrails),
    ("reasoning", Feature::ReasoningContent),
    ("thinking", Feature::ReasoningContent),
];

impl Feature {
    /// Every feature, in declaration order.
    pub const ALL: [Feature; 9] = [
        Feature::Documents,
        Feature::Images,
        Feature::Video,
        Feature::CachePoints,
        Feature::Tools,
        Feature::Guardrails,
        Feature::ReasoningContent,
        Feature::AdditionalFields,
        Feature::StructuredOutput,
    ];

    /// A short lower-case name, used in logs and warnings.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Documents => "documents",
            Feature::Images => "images",
            Feature::Video => "video",
            Feature::CachePoints => "cache_points",
            Feature::Tools => "tools",
            Feature::Guardrails => "guardrails",
            Feature::ReasoningContent => "reasoning_content",
            Feature::AdditionalFields => "additional_fields",
            Feature::StructuredOutput => "structured_output",
        }
    }

    /// Detects which feature an error message says is unsupported.
    ///
    /// Matching is case-insensitive and works in two steps:
    ///
    /// 1. A message containing a field-rejection phrase names [`Feature::AdditionalFields`] when it
    ///    mentions no other feature: `additionalModelRequestFields`, `extraneous key`,
    ///    `unknown parameter`, `unsupported parameter`, `unrecognized field`,
    ///    `invalid request field`, `parameter not supported`, `does not support parameter`,
    ///    `parameter is not valid for this model`.
    /// 2. Otherwise the message must contain a negation (`doesn't support`, `does not support`,
    ///    `not supported`, `isn't supported`, `unsupported`, `not allowed`, `not permitted`), and
    ///    the first matching keyword, in this order, names the feature:
    ///
    /// | Keyword | Feature |
    /// |---|---|
    /// | `document` | [`Documents`](Feature::Documents) |
    /// | `video` | [`Video`](Feature::Video) |
    /// | `image` | [`Images`](Feature::Images) |
    /// | `cachePoint`, `cache point`, `prompt caching`, `caching` | [`CachePoints`](Feature::CachePoints) |
    /// | `toolUse`, `tool use`, `toolConfig`, `toolChoice`, `tools` | [`Tools`](Feature::Tools) |
    /// | `guardrail` | [`Guardrails`](Feature::Guardrails) |
    /// | `reasoning`, `thinking` | [`ReasoningContent`](Feature::ReasoningContent) |
    /// | `structured output`, `outputConfig` (checked first) | [`StructuredOutput`](Feature::StructuredOutput) |
    ///
    /// Unlike the original, a bare word such as "tool" or "function" without a negation is not
    /// enough, so ordinary validation errors are not mistaken for feature rejections. The word
    /// "documentation" is ignored: Bedrock's caching rejection ends with "See the documentation".
    ///
    /// ```
    /// use bedrock_messages::Feature;
    ///
    /// assert_eq!(Feature::detect_from_message("This model doesn't support the document content block."), Some(Feature::Documents));
    /// assert_eq!(Feature::detect_from_message("The model does not support image input"), Some(Feature::Images));
    /// assert_eq!(Feature::detect_from_message("This model doesn't support tool use in streaming mode."), Some(Feature::Tools));
    /// assert_eq!(Feature::detect_from_message("Malformed input request: extraneous key [top_k] is not permitted"), Some(Feature::AdditionalFields));
    /// assert_eq!(Feature::detect_from_message("This model doesn't support structured outputs (m). Try again without outputConfig.textFormat."), Some(Feature::StructuredOutput));
    /// assert_eq!(Feature::detect_from_message("Input is too long for requested model."), None);
    /// ```
    pub fn detect_from_message(message: &str) -> Option<Feature> {
        // Words that contain a keyword without naming a feature: Bedrock's caching rejection
        // ends with "See the documentation", which names no document.
        let lower = message.to_lowercase().replace("documentation", "");
        let keyword = KEYWORDS
            .iter()
            .find(|(word, _)| lower.contains(word))
            .map(|&(_, feature)| feature);
        if FIELD_REJECTIONS.iter().any(|p| lower.contains(p)) {
            return Some(keyword.unwrap_or(Feature::AdditionalFields));
        }
        if NEGATIONS.iter().any(|n| lower.contains(n)) {
            return keyword;
        }
        None
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Feature {
    type Err = String;

    /// Parses a name from [`Feature::as_str`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feature::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown feature {s:?}"))
    }
}

/// `additionalModelRequestFields` keys that turn on reasoning (Anthropic's `thinking`, Amazon
/// Nova's `reasoningConfig`, and the `reasoning_config` / `reasoning_effort` of other providers).
const REASONING_FIELDS: [&str; 4] = [
    "thinking",
    "reasoning_config",
    "reasoningConfig",
    "reasoning_effort",
];

impl ConverseRequest {
    /// A copy of this request without `feature` (the request itself is not changed).
    #[must_use]
    pub fn without(&self, feature: Feature) -> ConverseRequest {
        let mut copy = self.clone();
        copy.remove(feature);
        copy
    }

    /// Removes `feature` from this request. Returns `true` when something was removed.
    pub fn remove(&mut self, feature: Feature) -> bool {
        let before = self.clone();
        match feature {
            Feature::Documents => self.retain_blocks(|b| !matches!(b, ContentBlock::Document(_))),
            Feature::Images => self.retain_blocks(|b| !matches!(b, ContentBlock::Image(_))),
            Feature::Video => self.retain_blocks(|b| !matches!(b, ContentBlock::Video(_))),
            Feature::ReasoningContent => {
                self.retain_blocks(|b| !matches!(b, ContentBlock::ReasoningContent(_)));
                // The settings that ask for reasoning go too, or the retry repeats the failing
                // request.
                if let Some(serde_json::Value::Object(fields)) =
                    &mut self.additional_model_request_fields
                {
                    for key in REASONING_FIELDS {
                        fields.remove(key);
                    }
                    if fields.is_empty() {
                        self.additional_model_request_fields = None;
                    }
                }
            }
            Feature::CachePoints => {
                self.retain_blocks(|b| !matches!(b, ContentBlock::CachePoint(_)));
                self.system
                    .retain(|b| !matches!(b, SystemBlock::CachePoint(_)));
                if let Some(tools) = &mut self.tool_config {
                    tools.tools.retain(|t| !matches!(t, Tool::CachePoint(_)));
                }
            }
            Feature::Tools => self.tool_config = None,
            Feature::Guardrails => {
                self.guardrail_config = None;
                for message in &mut self.messages {
                    for block in &mut message.content {
                        if let ContentBlock::GuardContent(GuardContentBlock::Text(t)) = block {
                            *block = ContentBlock::Text(t.text.clone());
                        }
                    }
                    message
                        .content
                        .retain(|b| !matches!(b, ContentBlock::GuardContent(_)));
                }
            }
            Feature::AdditionalFields => self.additional_model_request_fields = None,
            Feature::StructuredOutput => self.output_config = None,
        }
        *self != before
    }

    fn retain_blocks(&mut self, keep: impl Fn(&ContentBlock) -> bool) {
        for message in &mut self.messages {
            message.content.retain(&keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DocumentFormat, Message};

    #[test]
    fn features_are_removed_from_a_copy() {
        let original = ConverseRequest::builder()
            .system("be brief")
            .system_cache_point()
            .message(
                Message::user()
                    .text("summarise")
                    .document_bytes(b"hello".to_vec(), DocumentFormat::Txt, "notes")
                    .cache_point()
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let mut copy = original.without(Feature::Documents);
        assert_eq!(copy.messages[0].content.len(), 2);
        assert!(copy.remove(Feature::CachePoints));
        assert_eq!(
            copy.messages[0].content,
            vec![ContentBlock::Text("summarise".into())]
        );
        assert_eq!(copy.system, vec![SystemBlock::Text("be brief".into())]);
        assert!(!copy.remove(Feature::Video), "nothing to remove");
        assert_eq!(
            original.messages[0].content.len(),
            3,
            "the original is untouched"
        );

        let mut thinking = original.clone();
        thinking.additional_model_request_fields = Some(serde_json::json!({
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "top_k": 50
        }));
        assert!(thinking.remove(Feature::ReasoningContent));
        assert_eq!(
            thinking.additional_model_request_fields,
            Some(serde_json::json!({"top_k": 50}))
        );
    }

    #[test]
    fn names_round_trip() {
        for f in Feature::ALL {
            assert_eq!(f.as_str().parse::<Feature>().unwrap(), f);
        }
        assert!("telepathy".parse::<Feature>().is_err());
    }

    #[track_caller]
    fn check(message: &str, expected: Option<Feature>) {
        assert_eq!(Feature::detect_from_message(message), expected, "{message}");
    }

    #[test]
    fn detects_content_features() {
        check(
            "This model doesn't support the document content block",
            Some(Feature::Documents),
        );
        check(
            "Model does not support image processing",
            Some(Feature::Images),
        );
        check(
            "video input is not supported by this model",
            Some(Feature::Video),
        );
        check(
            "The model doesn\u{2019}t support images.",
            Some(Feature::Images),
        );
    }

    #[test]
    fn detects_api_features() {
        check(
            "You invoked an unsupported model or your request did not allow prompt caching.",
            Some(Feature::CachePoints),
        );
        // Bedrock's full message points to "the documentation", which is no document.
        check(
            "You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information.",
            Some(Feature::CachePoints),
        );
        check(
            "This model doesn't support documents.",
            Some(Feature::Documents),
        );
        check(
            "cachePoint is not supported for this model",
            Some(Feature::CachePoints),
        );
        check(
            "This model doesn't support the toolConfig.toolChoice.any field.",
            Some(Feature::Tools),
        );
        check(
            "Guardrails are not supported in this region",
            Some(Feature::Guardrails),
        );
        check(
            "reasoning_config is not supported for this model",
            Some(Feature::ReasoningContent),
        );
        check(
            "This model doesn't support structured outputs (amazon.nova-lite-v1:0). Try again without outputConfig.textFormat or with a model that supports it.",
            Some(Feature::StructuredOutput),
        );
    }

    #[test]
    fn removing_structured_output_drops_the_output_config() {
        let mut request = crate::ConverseRequest::builder()
            .message(crate::Message::user().text("hi").build().unwrap())
            .output_config(crate::OutputConfig::json_schema(
                &serde_json::json!({"type": "object"}),
                None,
            ))
            .build()
            .unwrap();
        assert!(request.remove(Feature::StructuredOutput));
        assert_eq!(request.output_config, None);
    }

    #[test]
    fn detects_additional_fields() {
        check(
            "Malformed input request: extraneous key [top_k] is not permitted",
            Some(Feature::AdditionalFields),
        );
        check("Unknown parameter: foo", Some(Feature::AdditionalFields));
    }

    #[test]
    fn ignores_plain_validation_errors() {
        check("Input is too long for requested model.", None);
        check("The tool result was malformed", None);
        check("Too many requests, please wait before trying again.", None);
        check("", None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Feature::ALL.iter().map(|f| f.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Feature::ALL.len());
    }
}
