//! Content blocks and messages: the union of blocks, cache points, guard content, messages and
//! system blocks.

use aws_sdk_bedrockruntime::types as sdk;

use super::{
    blob, bytes, cannot_send, document_to_json, json_to_document, parse, raw_block, unsupported,
};
use crate::error::Error;
use crate::model::{
    CachePointBlock, CachePointType, CacheTtl, ContentBlock, GuardContentBlock, GuardImage,
    GuardImageFormat, GuardImageSource, GuardQualifier, GuardText, Message, ReasoningContentBlock,
    ReasoningText, Role, SystemBlock, ToolUseBlock,
};

use super::tools::{tool_result_from_sdk, tool_result_to_sdk};

// ---- small blocks ----

impl TryFrom<&CachePointBlock> for sdk::CachePointBlock {
    type Error = Error;
    fn try_from(c: &CachePointBlock) -> Result<Self, Error> {
        sdk::CachePointBlock::builder()
            .r#type(sdk::CachePointType::from(c.kind.as_str()))
            .set_ttl(c.ttl.map(|t| sdk::CacheTtl::from(t.as_str())))
            .build()
            .map_err(Error::sdk("CachePointBlock"))
    }
}

impl TryFrom<&sdk::CachePointBlock> for CachePointBlock {
    type Error = Error;
    fn try_from(c: &sdk::CachePointBlock) -> Result<Self, Error> {
        Ok(Self {
            kind: parse::<CachePointType>(c.r#type().as_str())?,
            ttl: c.ttl().map(|t| parse::<CacheTtl>(t.as_str())).transpose()?,
        })
    }
}

impl TryFrom<&GuardContentBlock> for sdk::GuardrailConverseContentBlock {
    type Error = Error;
    fn try_from(g: &GuardContentBlock) -> Result<Self, Error> {
        Ok(match g {
            GuardContentBlock::Text(t) => Self::Text(
                sdk::GuardrailConverseTextBlock::builder()
                    .text(&t.text)
                    .set_qualifiers(t.qualifiers.as_ref().map(|q| {
                        q.iter()
                            .map(|x| sdk::GuardrailConverseContentQualifier::from(x.as_str()))
                            .collect()
                    }))
                    .build()
                    .map_err(Error::sdk("GuardrailConverseTextBlock"))?,
            ),
            GuardContentBlock::Image(i) => {
                let GuardImageSource::Bytes(b) = &i.source;
                Self::Image(
                    sdk::GuardrailConverseImageBlock::builder()
                        .format(sdk::GuardrailConverseImageFormat::from(i.format.as_str()))
                        .source(sdk::GuardrailConverseImageSource::Bytes(blob(b)))
                        .build()
                        .map_err(Error::sdk("GuardrailConverseImageBlock"))?,
                )
            }
        })
    }
}

impl TryFrom<&sdk::GuardrailConverseContentBlock> for GuardContentBlock {
    type Error = Error;
    fn try_from(g: &sdk::GuardrailConverseContentBlock) -> Result<Self, Error> {
        Ok(match g {
            sdk::GuardrailConverseContentBlock::Text(t) => Self::Text(GuardText {
                text: t.text().to_owned(),
                qualifiers: t
                    .qualifiers
                    .as_ref()
                    .map(|q| {
                        q.iter()
                            .map(|x| parse::<GuardQualifier>(x.as_str()))
                            .collect()
                    })
                    .transpose()?,
            }),
            sdk::GuardrailConverseContentBlock::Image(i) => {
                let source = match i.source() {
                    Some(sdk::GuardrailConverseImageSource::Bytes(b)) => {
                        GuardImageSource::Bytes(bytes(b))
                    }
                    other => return Err(unsupported("GuardrailConverseImageSource", &other)),
                };
                Self::Image(GuardImage {
                    format: parse::<GuardImageFormat>(i.format().as_str())?,
                    source,
                })
            }
            other => return Err(unsupported("GuardrailConverseContentBlock", other)),
        })
    }
}

// ---- content blocks and messages ----

impl TryFrom<&ContentBlock> for sdk::ContentBlock {
    type Error = Error;
    fn try_from(b: &ContentBlock) -> Result<Self, Error> {
        Ok(match b {
            ContentBlock::Text(t) => Self::Text(t.clone()),
            ContentBlock::Image(i) => Self::Image(i.try_into()?),
            ContentBlock::Document(d) => Self::Document(d.try_into()?),
            ContentBlock::Video(v) => Self::Video(v.try_into()?),
            ContentBlock::ToolUse(t) => Self::ToolUse(
                sdk::ToolUseBlock::builder()
                    .tool_use_id(&t.tool_use_id)
                    .name(&t.name)
                    .input(json_to_document(&t.input))
                    .set_type(t.kind.as_deref().map(sdk::ToolUseType::from))
                    .build()
                    .map_err(Error::sdk("ToolUseBlock"))?,
            ),
            ContentBlock::ToolResult(r) => Self::ToolResult(tool_result_to_sdk(r)?),
            ContentBlock::CachePoint(c) => Self::CachePoint(c.try_into()?),
            ContentBlock::GuardContent(g) => Self::GuardContent(g.try_into()?),
            ContentBlock::ReasoningContent(r) => Self::ReasoningContent(match r {
                ReasoningContentBlock::ReasoningText(t) => {
                    sdk::ReasoningContentBlock::ReasoningText(
                        sdk::ReasoningTextBlock::builder()
                            .text(&t.text)
                            .set_signature(t.signature.clone())
                            .build()
                            .map_err(Error::sdk("ReasoningTextBlock"))?,
                    )
                }
                ReasoningContentBlock::RedactedContent(b) => {
                    sdk::ReasoningContentBlock::RedactedContent(blob(b))
                }
            }),
            ContentBlock::CitationsContent(c) => Self::CitationsContent(c.into()),
            ContentBlock::Unmodelled(raw) => return Err(cannot_send(raw)),
        })
    }
}

impl TryFrom<&sdk::ContentBlock> for ContentBlock {
    type Error = Error;
    fn try_from(b: &sdk::ContentBlock) -> Result<Self, Error> {
        Ok(match b {
            sdk::ContentBlock::Text(t) => Self::Text(t.clone()),
            sdk::ContentBlock::Image(i) => Self::Image(i.try_into()?),
            sdk::ContentBlock::Document(d) => Self::Document(d.try_into()?),
            sdk::ContentBlock::Video(v) => Self::Video(v.try_into()?),
            sdk::ContentBlock::ToolUse(t) => Self::ToolUse(ToolUseBlock {
                tool_use_id: t.tool_use_id().to_owned(),
                name: t.name().to_owned(),
                input: document_to_json(t.input())?,
                kind: t.r#type().map(|k| k.as_str().to_owned()),
            }),
            sdk::ContentBlock::ToolResult(r) => Self::ToolResult(tool_result_from_sdk(r)?),
            sdk::ContentBlock::CachePoint(c) => Self::CachePoint(c.try_into()?),
            sdk::ContentBlock::GuardContent(g) => Self::GuardContent(g.try_into()?),
            sdk::ContentBlock::ReasoningContent(r) => Self::ReasoningContent(match r {
                sdk::ReasoningContentBlock::ReasoningText(t) => {
                    ReasoningContentBlock::ReasoningText(ReasoningText {
                        text: t.text().to_owned(),
                        signature: t.signature().map(str::to_owned),
                    })
                }
                sdk::ReasoningContentBlock::RedactedContent(b) => {
                    ReasoningContentBlock::RedactedContent(bytes(b))
                }
                other => return Err(unsupported("ReasoningContentBlock", other)),
            }),
            sdk::ContentBlock::CitationsContent(c) => Self::CitationsContent(c.try_into()?),
            sdk::ContentBlock::SearchResult(r) => Self::Unmodelled(raw_block(b, Some(r))),
            other => Self::Unmodelled(raw_block(other, None)),
        })
    }
}

impl TryFrom<&Message> for sdk::Message {
    type Error = Error;
    fn try_from(m: &Message) -> Result<Self, Error> {
        let content = m
            .content
            .iter()
            .map(sdk::ContentBlock::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        sdk::Message::builder()
            .role(sdk::ConversationRole::from(m.role.as_str()))
            .set_content(Some(content))
            .build()
            .map_err(Error::sdk("Message"))
    }
}

impl TryFrom<&sdk::Message> for Message {
    type Error = Error;
    fn try_from(m: &sdk::Message) -> Result<Self, Error> {
        Ok(Self {
            role: parse::<Role>(m.role().as_str())?,
            content: m
                .content()
                .iter()
                .map(ContentBlock::try_from)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl TryFrom<&SystemBlock> for sdk::SystemContentBlock {
    type Error = Error;
    fn try_from(s: &SystemBlock) -> Result<Self, Error> {
        Ok(match s {
            SystemBlock::Text(t) => Self::Text(t.clone()),
            SystemBlock::GuardContent(g) => Self::GuardContent(g.try_into()?),
            SystemBlock::CachePoint(c) => Self::CachePoint(c.try_into()?),
        })
    }
}

impl TryFrom<&sdk::SystemContentBlock> for SystemBlock {
    type Error = Error;
    fn try_from(s: &sdk::SystemContentBlock) -> Result<Self, Error> {
        Ok(match s {
            sdk::SystemContentBlock::Text(t) => Self::Text(t.clone()),
            sdk::SystemContentBlock::GuardContent(g) => Self::GuardContent(g.try_into()?),
            sdk::SystemContentBlock::CachePoint(c) => Self::CachePoint(c.try_into()?),
            other => return Err(unsupported("SystemContentBlock", other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::Blob;
    use serde_json::json;

    use crate::model::RawBlock;

    #[test]
    fn unmodelled_sdk_blocks_are_kept_raw_and_cannot_be_sent_back() {
        let b = sdk::ContentBlock::Audio(
            sdk::AudioBlock::builder()
                .format(sdk::AudioFormat::Mp3)
                .source(sdk::AudioSource::Bytes(Blob::new(vec![1])))
                .build()
                .unwrap(),
        );
        let kept = ContentBlock::try_from(&b).unwrap();
        let ContentBlock::Unmodelled(raw) = &kept else {
            panic!("expected a raw block, got {kept:?}");
        };
        assert_eq!(raw.kind(), "audio");
        let e = sdk::ContentBlock::try_from(&kept).unwrap_err();
        assert!(e.to_string().contains("audio"), "{e}");

        let removal = sdk::ContentBlock::ToolRemoval(sdk::ToolRemovalBlock::builder().build());
        let kept = ContentBlock::try_from(&removal).unwrap();
        assert_eq!(
            kept,
            ContentBlock::Unmodelled(RawBlock(json!({"toolRemoval": {}})))
        );

        let search = sdk::ContentBlock::SearchResult(
            sdk::SearchResultBlock::builder()
                .source("https://e.x")
                .title("t")
                .content(
                    sdk::SearchResultContentBlock::builder()
                        .text("found")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        );
        let kept = ContentBlock::try_from(&search).unwrap();
        assert_eq!(
            serde_json::to_value(&kept).unwrap(),
            json!({"searchResult": {"source": "https://e.x", "title": "t", "content": [{"text": "found"}]}})
        );
    }
}
