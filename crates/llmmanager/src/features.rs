//! Feature fallback: removing a feature a model rejected from a copy of the request.
//!
//! The retry loop decides *whether* to drop a feature (only when the configuration allows it and
//! the model's error names it); this module decides *how*. The caller's request is never changed:
//! the loop works on a copy, and the response says what was dropped.

use bedrock_messages::{ContentBlock, ConverseRequest, GuardContentBlock, SystemBlock, Tool};
use bedrock_retry::Feature;

/// `additionalModelRequestFields` keys that turn on reasoning (Anthropic's `thinking`, Amazon
/// Nova's `reasoningConfig`, DeepSeek and others' `reasoning_config`).
const REASONING_FIELDS: [&str; 4] = [
    "thinking",
    "reasoning_config",
    "reasoningConfig",
    "reasoning_effort",
];

/// Removes `feature` from `request`. Returns `true` when something was removed.
pub(crate) fn strip(request: &mut ConverseRequest, feature: Feature) -> bool {
    let before = request.clone();
    match feature {
        Feature::Documents => retain_blocks(request, |b| !matches!(b, ContentBlock::Document(_))),
        Feature::Images => retain_blocks(request, |b| !matches!(b, ContentBlock::Image(_))),
        Feature::Video => retain_blocks(request, |b| !matches!(b, ContentBlock::Video(_))),
        Feature::ReasoningContent => {
            retain_blocks(request, |b| !matches!(b, ContentBlock::ReasoningContent(_)));
            // The settings that ask for reasoning go too, or the retry repeats the failing request.
            if let Some(serde_json::Value::Object(fields)) =
                &mut request.additional_model_request_fields
            {
                for key in REASONING_FIELDS {
                    fields.remove(key);
                }
                if fields.is_empty() {
                    request.additional_model_request_fields = None;
                }
            }
        }
        Feature::CachePoints => {
            retain_blocks(request, |b| !matches!(b, ContentBlock::CachePoint(_)));
            request
                .system
                .retain(|b| !matches!(b, SystemBlock::CachePoint(_)));
            if let Some(tools) = &mut request.tool_config {
                tools.tools.retain(|t| !matches!(t, Tool::CachePoint(_)));
            }
        }
        Feature::Tools => request.tool_config = None,
        Feature::Guardrails => {
            request.guardrail_config = None;
            for message in &mut request.messages {
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
        Feature::AdditionalFields => request.additional_model_request_fields = None,
        _ => {}
    }
    *request != before
}

fn retain_blocks(request: &mut ConverseRequest, keep: impl Fn(&ContentBlock) -> bool) {
    for message in &mut request.messages {
        message.content.retain(&keep);
    }
}

#[cfg(test)]
mod tests {
    use bedrock_messages::{DocumentFormat, Message};

    use super::*;

    #[test]
    fn documents_and_cache_points_are_removed_from_a_copy() {
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
        let mut copy = original.clone();
        assert!(strip(&mut copy, Feature::Documents));
        assert_eq!(copy.messages[0].content.len(), 2);
        assert!(strip(&mut copy, Feature::CachePoints));
        assert_eq!(
            copy.messages[0].content,
            vec![ContentBlock::Text("summarise".into())]
        );
        assert_eq!(copy.system, vec![SystemBlock::Text("be brief".into())]);
        assert!(!strip(&mut copy, Feature::Video), "nothing to remove");

        let mut thinking = original.clone();
        thinking.additional_model_request_fields = Some(serde_json::json!({
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "top_k": 50
        }));
        assert!(strip(&mut thinking, Feature::ReasoningContent));
        assert_eq!(
            thinking.additional_model_request_fields,
            Some(serde_json::json!({"top_k": 50}))
        );
        assert_eq!(
            original.messages[0].content.len(),
            3,
            "the original is untouched"
        );
    }
}
