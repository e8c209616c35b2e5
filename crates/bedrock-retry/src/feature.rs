//! Features a target may reject, and how to recognise them in an error message.
//!
//! Some models reject parts of a request (documents, tool use, cache points...). With feature
//! fallback enabled, the loop retries the same target once without the rejected feature, and keeps
//! it disabled for the rest of the call. Stripping the feature from the request is the caller's job;
//! this module only names features and detects them from error messages.

use std::fmt;

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
    pub const ALL: [Feature; 8] = [
        Feature::Documents,
        Feature::Images,
        Feature::Video,
        Feature::CachePoints,
        Feature::Tools,
        Feature::Guardrails,
        Feature::ReasoningContent,
        Feature::AdditionalFields,
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
    ///
    /// Unlike the original, a bare word such as "tool" or "function" without a negation is not
    /// enough, so ordinary validation errors are not mistaken for feature rejections.
    ///
    /// ```
    /// use bedrock_retry::Feature;
    ///
    /// assert_eq!(Feature::detect_from_message("This model doesn't support the document content block."), Some(Feature::Documents));
    /// assert_eq!(Feature::detect_from_message("The model does not support image input"), Some(Feature::Images));
    /// assert_eq!(Feature::detect_from_message("This model doesn't support tool use in streaming mode."), Some(Feature::Tools));
    /// assert_eq!(Feature::detect_from_message("Malformed input request: extraneous key [top_k] is not permitted"), Some(Feature::AdditionalFields));
    /// assert_eq!(Feature::detect_from_message("Input is too long for requested model."), None);
    /// ```
    pub fn detect_from_message(message: &str) -> Option<Feature> {
        let lower = message.to_lowercase();
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

#[cfg(test)]
mod tests {
    use super::*;

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
