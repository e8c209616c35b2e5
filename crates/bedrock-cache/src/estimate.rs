//! A cheap, offline token estimate used to decide where cache points can go.
//!
//! Bedrock reports token counts only after a call, but placement must happen before it, against
//! the model's minimum prefix length. The estimate is deliberately simple and errs low on
//! content whose size it cannot see (binary documents), because an underestimate only costs a
//! missed cache point, while an overestimate wastes one of the four points on a prefix Bedrock
//! will not cache.
//!
//! | Content | Estimate |
//! |---|---|
//! | text (message, system, guard, reasoning, tool-result text) | `ceil(chars / 4)` |
//! | image | 1,600 (Anthropic's size for a full-resolution image after resizing) |
//! | document | 1,000 plus the text it carries: `source.text`, `source.content` chunks, or the UTF-8 bytes of a `txt`/`md`/`csv`/`html` document |
//! | video | 2,000 (the original's figure) |
//! | tool spec, system tool, tool-use input, JSON tool result | `ceil(chars / 4)` of its compact JSON |
//! | cache point | 0 |
//!
//! The measured error against the simulator is recorded in the [crate docs](crate#token-estimate).

use bedrock_messages::{
    ContentBlock, ConverseRequest, DocumentBlock, DocumentContentBlock, DocumentFormat,
    DocumentSource, GuardContentBlock, ReasoningContentBlock, SystemBlock, Tool, ToolResultContent,
};
use serde::Serialize;

/// Estimated tokens of an image block.
pub const IMAGE_TOKENS: u64 = 1_600;
/// Estimated fixed tokens of a document block, on top of its visible text.
pub const DOCUMENT_TOKENS: u64 = 1_000;
/// Estimated tokens of a video block.
pub const VIDEO_TOKENS: u64 = 2_000;

/// `ceil(chars / 4)`.
#[must_use]
pub fn text_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

fn json_tokens<T: Serialize + ?Sized>(value: &T) -> u64 {
    serde_json::to_string(value)
        .map(|s| text_tokens(&s))
        .unwrap_or(0)
}

fn document_tokens(d: &DocumentBlock) -> u64 {
    let visible = match &d.source {
        DocumentSource::Text(t) => text_tokens(t),
        DocumentSource::Content(chunks) => chunks
            .iter()
            .map(|c| match c {
                DocumentContentBlock::Text(t) => text_tokens(t),
            })
            .sum(),
        DocumentSource::Bytes(b)
            if matches!(
                d.format,
                DocumentFormat::Txt
                    | DocumentFormat::Md
                    | DocumentFormat::Csv
                    | DocumentFormat::Html
            ) =>
        {
            std::str::from_utf8(b).map(text_tokens).unwrap_or(0)
        }
        _ => 0,
    };
    DOCUMENT_TOKENS + visible
}

/// Estimated tokens of one message content block.
#[must_use]
pub fn block_tokens(block: &ContentBlock) -> u64 {
    match block {
        ContentBlock::Text(t) => text_tokens(t),
        ContentBlock::Image(_) => IMAGE_TOKENS,
        ContentBlock::Document(d) => document_tokens(d),
        ContentBlock::Video(_) => VIDEO_TOKENS,
        ContentBlock::ToolUse(u) => json_tokens(&u.input).max(1),
        ContentBlock::ToolResult(r) => r
            .content
            .iter()
            .map(|c| match c {
                ToolResultContent::Text(t) => text_tokens(t),
                ToolResultContent::Image(_) => IMAGE_TOKENS,
                ToolResultContent::Document(d) => document_tokens(d),
                ToolResultContent::Video(_) => VIDEO_TOKENS,
                other => json_tokens(other).max(1),
            })
            .sum(),
        ContentBlock::CachePoint(_) => 0,
        ContentBlock::GuardContent(g) => guard_tokens(g),
        ContentBlock::ReasoningContent(r) => match r {
            ReasoningContentBlock::ReasoningText(t) => text_tokens(&t.text),
            ReasoningContentBlock::RedactedContent(b) => (b.len() as u64).div_ceil(4),
        },
        other => json_tokens(other).max(1),
    }
}

fn guard_tokens(g: &GuardContentBlock) -> u64 {
    match g {
        GuardContentBlock::Text(t) => text_tokens(&t.text),
        GuardContentBlock::Image(_) => IMAGE_TOKENS,
    }
}

/// Estimated tokens of one system block.
#[must_use]
pub fn system_block_tokens(block: &SystemBlock) -> u64 {
    match block {
        SystemBlock::Text(t) => text_tokens(t),
        SystemBlock::GuardContent(g) => guard_tokens(g),
        SystemBlock::CachePoint(_) => 0,
        other => json_tokens(other).max(1),
    }
}

/// Estimated tokens of one `toolConfig.tools` entry (a tool spec counts as its compact JSON).
#[must_use]
pub fn tool_tokens(tool: &Tool) -> u64 {
    match tool {
        Tool::Spec(spec) => json_tokens(spec).max(1),
        Tool::CachePoint(_) => 0,
        other => json_tokens(other).max(1),
    }
}

/// Estimated input tokens of a whole request: tools, system prompt and messages.
///
/// ```
/// use bedrock_messages::{ConverseRequest, Message};
///
/// let req = ConverseRequest::builder()
///     .system("abcdefgh")
///     .message_builder(Message::user().text("abcde"))
///     .build()?;
/// assert_eq!(bedrock_cache::estimate_request_tokens(&req), 2 + 2);
/// # Ok::<(), bedrock_messages::Error>(())
/// ```
#[must_use]
pub fn estimate_request_tokens(request: &ConverseRequest) -> u64 {
    let tools: u64 = request
        .tool_config
        .iter()
        .flat_map(|tc| tc.tools.iter())
        .map(tool_tokens)
        .sum();
    let system: u64 = request.system.iter().map(system_block_tokens).sum();
    let messages: u64 = request
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .map(block_tokens)
        .sum();
    tools + system + messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_messages::{CachePointBlock, DocumentFormat, ToolSpec};
    use bytes::Bytes;
    use serde_json::json;

    #[test]
    fn text_is_a_quarter_of_its_chars_rounded_up() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("a"), 1);
        assert_eq!(text_tokens("abcd"), 1);
        assert_eq!(text_tokens("abcde"), 2);
        assert_eq!(text_tokens("ééééé"), 2, "chars, not bytes");
    }

    #[test]
    fn documents_count_their_visible_text() {
        let doc = |format, source| {
            ContentBlock::Document(DocumentBlock {
                format,
                name: "d".into(),
                source,
                context: None,
                citations: None,
            })
        };
        let text = "x".repeat(400);
        assert_eq!(
            block_tokens(&doc(
                DocumentFormat::Txt,
                DocumentSource::Text(text.clone())
            )),
            1_100
        );
        assert_eq!(
            block_tokens(&doc(
                DocumentFormat::Md,
                DocumentSource::Bytes(Bytes::from(text.clone()))
            )),
            1_100
        );
        assert_eq!(
            block_tokens(&doc(
                DocumentFormat::Pdf,
                DocumentSource::Bytes(Bytes::from(text))
            )),
            1_000,
            "binary formats count only the fixed part"
        );
    }

    #[test]
    fn tools_count_their_json_and_points_count_nothing() {
        let spec = ToolSpec::new("f", "d", json!({"type":"object"}));
        let expected = text_tokens(&serde_json::to_string(&spec).unwrap());
        assert_eq!(tool_tokens(&Tool::Spec(spec)), expected);
        assert_eq!(tool_tokens(&Tool::CachePoint(CachePointBlock::new())), 0);
        assert_eq!(
            block_tokens(&ContentBlock::CachePoint(CachePointBlock::new())),
            0
        );
    }
}
