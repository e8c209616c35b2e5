//! Conversions to and from the `aws-sdk-bedrockruntime` types.
//!
//! The model in this crate is the contract other crates code against; the SDK is how it
//! travels. Conversions go both ways and are lossless for everything the model represents:
//! `TryFrom<&ours>` for each SDK type and `TryFrom<&sdk>` for each of ours. SDK variants this
//! model does not represent (audio, search results, tool additions) convert to
//! [`Error::Conversion`]. Two SDK defaults are worth knowing: a guardrail without `trace` comes
//! back as `trace: disabled`, and the guardrail part of a response trace is not mapped (only
//! `promptRouter.invokedModelId` is).
//!
//! JSON values map to [`Document`]: non-negative integers to `PosInt`, negative integers to
//! `NegInt`, other numbers to `Float`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_bedrockruntime::operation::converse::builders::{
    ConverseFluentBuilder, ConverseInputBuilder,
};
use aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::{Blob, Document, Number};
use bytes::Bytes;
use serde_json::Value;

use crate::error::Error;
use crate::format::{DocumentFormat, ImageFormat, VideoFormat};
use crate::model::{
    CachePointBlock, CachePointType, CacheTtl, CitationsConfig, ContentBlock, ConverseRequest,
    DocumentBlock, DocumentContentBlock, DocumentSource, GuardContentBlock, GuardImage,
    GuardImageFormat, GuardImageSource, GuardQualifier, GuardText, GuardrailConfig, GuardrailTrace,
    ImageBlock, InferenceConfig, Latency, MediaSource, Message, PerformanceConfig, RawBlock,
    ReasoningContentBlock, ReasoningText, Role, S3Location, StreamProcessingMode, SystemBlock,
    SystemTool, Tool, ToolChoice, ToolConfig, ToolInputSchema, ToolResultBlock, ToolResultContent,
    ToolResultStatus, ToolSpec, ToolUseBlock, VideoBlock,
};
use crate::model::{
    Citation, CitationLocation, CitationText, CitationsContentBlock, DocumentRange,
    SearchResultRange, WebLocation,
};
use crate::response::{ConverseOutput, ConverseResponse, Metrics, StopReason, TokenUsage};

/// Converts JSON to a smithy [`Document`].
#[must_use]
pub fn json_to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(json_to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect(),
        ),
    }
}

/// Converts a smithy [`Document`] to JSON.
///
/// # Errors
/// [`Error::Conversion`] for a non-finite float, which JSON cannot carry.
pub fn document_to_json(d: &Document) -> Result<Value, Error> {
    Ok(match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .ok_or_else(|| Error::conversion("document", format!("non-finite number {f}")))?
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => {
            Value::Array(a.iter().map(document_to_json).collect::<Result<_, _>>()?)
        }
        Document::Object(o) => {
            // Sort keys so conversions are deterministic (the SDK uses a HashMap).
            let sorted: BTreeMap<&String, &Document> = o.iter().collect();
            let mut map = serde_json::Map::with_capacity(o.len());
            for (k, v) in sorted {
                map.insert(k.clone(), document_to_json(v)?);
            }
            Value::Object(map)
        }
    })
}

fn parse<T: std::str::FromStr<Err = Error>>(s: &str) -> Result<T, Error> {
    s.parse()
}

fn unsupported(what: &str, v: &impl std::fmt::Debug) -> Error {
    let dbg = format!("{v:?}");
    let name: String = dbg.chars().take_while(|c| c.is_alphanumeric()).collect();
    Error::conversion(what, format!("variant {name} is not represented"))
}

/// The lower-camel wire name of an SDK union variant, from its `Debug` text.
fn variant_name(v: &impl std::fmt::Debug) -> String {
    let dbg = format!("{v:?}");
    let name: String = dbg.chars().take_while(|c| c.is_alphanumeric()).collect();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown".to_owned(),
    }
}

/// Raw JSON for an SDK block this library does not model: the fields the SDK exposes where it is
/// known (`searchResult`), otherwise an empty body under the block's name.
fn raw_block(v: &impl std::fmt::Debug, search: Option<&sdk::SearchResultBlock>) -> RawBlock {
    let kind = variant_name(v);
    let body = match search {
        Some(s) => serde_json::json!({
            "source": s.source(),
            "title": s.title(),
            "content": s.content().iter().map(|c| serde_json::json!({"text": c.text()})).collect::<Vec<_>>(),
        }),
        None => serde_json::json!({}),
    };
    let mut object = serde_json::Map::new();
    object.insert(kind, body);
    RawBlock(serde_json::Value::Object(object))
}

fn cannot_send(raw: &RawBlock) -> Error {
    Error::conversion(
        "ContentBlock",
        format!(
            "a {} block cannot be sent: this library keeps it only as raw JSON",
            raw.kind()
        ),
    )
}

fn blob(b: &Bytes) -> Blob {
    Blob::new(b.to_vec())
}

fn bytes(b: &Blob) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}

// ---- S3 and media sources ----

impl TryFrom<&S3Location> for sdk::S3Location {
    type Error = Error;
    fn try_from(s: &S3Location) -> Result<Self, Error> {
        sdk::S3Location::builder()
            .uri(&s.uri)
            .set_bucket_owner(s.bucket_owner.clone())
            .build()
            .map_err(Error::sdk("S3Location"))
    }
}

impl From<&sdk::S3Location> for S3Location {
    fn from(s: &sdk::S3Location) -> Self {
        Self {
            uri: s.uri().to_owned(),
            bucket_owner: s.bucket_owner().map(str::to_owned),
        }
    }
}

impl TryFrom<&ImageBlock> for sdk::ImageBlock {
    type Error = Error;
    fn try_from(b: &ImageBlock) -> Result<Self, Error> {
        let source = match &b.source {
            MediaSource::Bytes(x) => sdk::ImageSource::Bytes(blob(x)),
            MediaSource::S3Location(s) => sdk::ImageSource::S3Location(s.try_into()?),
        };
        sdk::ImageBlock::builder()
            .format(sdk::ImageFormat::from(b.format.as_str()))
            .source(source)
            .build()
            .map_err(Error::sdk("ImageBlock"))
    }
}

impl TryFrom<&sdk::ImageBlock> for ImageBlock {
    type Error = Error;
    fn try_from(b: &sdk::ImageBlock) -> Result<Self, Error> {
        let source = match b.source() {
            Some(sdk::ImageSource::Bytes(x)) => MediaSource::Bytes(bytes(x)),
            Some(sdk::ImageSource::S3Location(s)) => MediaSource::S3Location(s.into()),
            other => return Err(unsupported("ImageSource", &other)),
        };
        Ok(Self {
            format: parse::<ImageFormat>(b.format().as_str())?,
            source,
        })
    }
}

impl TryFrom<&VideoBlock> for sdk::VideoBlock {
    type Error = Error;
    fn try_from(b: &VideoBlock) -> Result<Self, Error> {
        let source = match &b.source {
            MediaSource::Bytes(x) => sdk::VideoSource::Bytes(blob(x)),
            MediaSource::S3Location(s) => sdk::VideoSource::S3Location(s.try_into()?),
        };
        sdk::VideoBlock::builder()
            .format(sdk::VideoFormat::from(b.format.as_str()))
            .source(source)
            .build()
            .map_err(Error::sdk("VideoBlock"))
    }
}

impl TryFrom<&sdk::VideoBlock> for VideoBlock {
    type Error = Error;
    fn try_from(b: &sdk::VideoBlock) -> Result<Self, Error> {
        let source = match b.source() {
            Some(sdk::VideoSource::Bytes(x)) => MediaSource::Bytes(bytes(x)),
            Some(sdk::VideoSource::S3Location(s)) => MediaSource::S3Location(s.into()),
            other => return Err(unsupported("VideoSource", &other)),
        };
        Ok(Self {
            format: parse::<VideoFormat>(b.format().as_str())?,
            source,
        })
    }
}

impl TryFrom<&DocumentBlock> for sdk::DocumentBlock {
    type Error = Error;
    fn try_from(b: &DocumentBlock) -> Result<Self, Error> {
        let source = match &b.source {
            DocumentSource::Bytes(x) => sdk::DocumentSource::Bytes(blob(x)),
            DocumentSource::S3Location(s) => sdk::DocumentSource::S3Location(s.try_into()?),
            DocumentSource::Text(t) => sdk::DocumentSource::Text(t.clone()),
            DocumentSource::Content(c) => sdk::DocumentSource::Content(
                c.iter()
                    .map(|DocumentContentBlock::Text(t)| sdk::DocumentContentBlock::Text(t.clone()))
                    .collect(),
            ),
        };
        let citations = match b.citations {
            Some(c) => Some(
                sdk::CitationsConfig::builder()
                    .enabled(c.enabled)
                    .build()
                    .map_err(Error::sdk("CitationsConfig"))?,
            ),
            None => None,
        };
        sdk::DocumentBlock::builder()
            .format(sdk::DocumentFormat::from(b.format.as_str()))
            .name(&b.name)
            .source(source)
            .set_context(b.context.clone())
            .set_citations(citations)
            .build()
            .map_err(Error::sdk("DocumentBlock"))
    }
}

impl TryFrom<&sdk::DocumentBlock> for DocumentBlock {
    type Error = Error;
    fn try_from(b: &sdk::DocumentBlock) -> Result<Self, Error> {
        let source = match b.source() {
            Some(sdk::DocumentSource::Bytes(x)) => DocumentSource::Bytes(bytes(x)),
            Some(sdk::DocumentSource::S3Location(s)) => DocumentSource::S3Location(s.into()),
            Some(sdk::DocumentSource::Text(t)) => DocumentSource::Text(t.clone()),
            Some(sdk::DocumentSource::Content(c)) => DocumentSource::Content(
                c.iter()
                    .map(|x| match x {
                        sdk::DocumentContentBlock::Text(t) => {
                            Ok(DocumentContentBlock::Text(t.clone()))
                        }
                        other => Err(unsupported("DocumentContentBlock", other)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(unsupported("DocumentSource", &other)),
        };
        Ok(Self {
            format: parse::<DocumentFormat>(b.format().as_str())?,
            name: b.name().to_owned(),
            source,
            context: b.context().map(str::to_owned),
            citations: b.citations().map(|c| CitationsConfig {
                enabled: c.enabled(),
            }),
        })
    }
}

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

fn tool_result_to_sdk(r: &ToolResultBlock) -> Result<sdk::ToolResultBlock, Error> {
    let content = r
        .content
        .iter()
        .map(|c| {
            Ok(match c {
                ToolResultContent::Json(v) => {
                    sdk::ToolResultContentBlock::Json(json_to_document(v))
                }
                ToolResultContent::Text(t) => sdk::ToolResultContentBlock::Text(t.clone()),
                ToolResultContent::Image(i) => sdk::ToolResultContentBlock::Image(i.try_into()?),
                ToolResultContent::Document(d) => {
                    sdk::ToolResultContentBlock::Document(d.try_into()?)
                }
                ToolResultContent::Video(v) => sdk::ToolResultContentBlock::Video(v.try_into()?),
                ToolResultContent::Unmodelled(raw) => return Err(cannot_send(raw)),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    sdk::ToolResultBlock::builder()
        .tool_use_id(&r.tool_use_id)
        .set_content(Some(content))
        .set_status(r.status.map(|s| sdk::ToolResultStatus::from(s.as_str())))
        .build()
        .map_err(Error::sdk("ToolResultBlock"))
}

fn tool_result_from_sdk(r: &sdk::ToolResultBlock) -> Result<ToolResultBlock, Error> {
    let content = r
        .content()
        .iter()
        .map(|c| {
            Ok(match c {
                sdk::ToolResultContentBlock::Json(d) => {
                    ToolResultContent::Json(document_to_json(d)?)
                }
                sdk::ToolResultContentBlock::Text(t) => ToolResultContent::Text(t.clone()),
                sdk::ToolResultContentBlock::Image(i) => ToolResultContent::Image(i.try_into()?),
                sdk::ToolResultContentBlock::Document(d) => {
                    ToolResultContent::Document(d.try_into()?)
                }
                sdk::ToolResultContentBlock::Video(v) => ToolResultContent::Video(v.try_into()?),
                sdk::ToolResultContentBlock::SearchResult(r) => {
                    ToolResultContent::Unmodelled(raw_block(c, Some(r)))
                }
                other => ToolResultContent::Unmodelled(raw_block(other, None)),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(ToolResultBlock {
        tool_use_id: r.tool_use_id().to_owned(),
        content,
        status: r
            .status()
            .map(|s| parse::<ToolResultStatus>(s.as_str()))
            .transpose()?,
    })
}

// ---- citations ----

fn citation_texts_to_sdk<T>(
    v: &Option<Vec<CitationText>>,
    f: impl Fn(String) -> T,
) -> Option<Vec<T>> {
    v.as_ref()
        .map(|v| v.iter().map(|CitationText::Text(t)| f(t.clone())).collect())
}

fn range_to_sdk(r: &DocumentRange) -> (Option<i32>, Option<i32>, Option<i32>) {
    (r.document_index, r.start, r.end)
}

impl From<&CitationsContentBlock> for sdk::CitationsContentBlock {
    fn from(c: &CitationsContentBlock) -> Self {
        let citations = c.citations.as_ref().map(|cs| {
            cs.iter()
                .map(|x| {
                    let location = x.location.as_ref().map(|l| match l {
                        CitationLocation::Web(w) => sdk::CitationLocation::Web(
                            sdk::WebLocation::builder()
                                .set_url(w.url.clone())
                                .set_domain(w.domain.clone())
                                .build(),
                        ),
                        CitationLocation::DocumentChar(r) => {
                            let (i, s, e) = range_to_sdk(r);
                            sdk::CitationLocation::DocumentChar(
                                sdk::DocumentCharLocation::builder()
                                    .set_document_index(i)
                                    .set_start(s)
                                    .set_end(e)
                                    .build(),
                            )
                        }
                        CitationLocation::DocumentPage(r) => {
                            let (i, s, e) = range_to_sdk(r);
                            sdk::CitationLocation::DocumentPage(
                                sdk::DocumentPageLocation::builder()
                                    .set_document_index(i)
                                    .set_start(s)
                                    .set_end(e)
                                    .build(),
                            )
                        }
                        CitationLocation::DocumentChunk(r) => {
                            let (i, s, e) = range_to_sdk(r);
                            sdk::CitationLocation::DocumentChunk(
                                sdk::DocumentChunkLocation::builder()
                                    .set_document_index(i)
                                    .set_start(s)
                                    .set_end(e)
                                    .build(),
                            )
                        }
                        CitationLocation::SearchResultLocation(r) => {
                            sdk::CitationLocation::SearchResultLocation(
                                sdk::SearchResultLocation::builder()
                                    .set_search_result_index(r.search_result_index)
                                    .set_start(r.start)
                                    .set_end(r.end)
                                    .build(),
                            )
                        }
                    });
                    sdk::Citation::builder()
                        .set_title(x.title.clone())
                        .set_source(x.source.clone())
                        .set_source_content(citation_texts_to_sdk(
                            &x.source_content,
                            sdk::CitationSourceContent::Text,
                        ))
                        .set_location(location)
                        .build()
                })
                .collect()
        });
        sdk::CitationsContentBlock::builder()
            .set_content(citation_texts_to_sdk(
                &c.content,
                sdk::CitationGeneratedContent::Text,
            ))
            .set_citations(citations)
            .build()
    }
}

impl TryFrom<&sdk::CitationsContentBlock> for CitationsContentBlock {
    type Error = Error;
    fn try_from(c: &sdk::CitationsContentBlock) -> Result<Self, Error> {
        let content = c
            .content
            .as_ref()
            .map(|v| {
                v.iter()
                    .map(|x| match x {
                        sdk::CitationGeneratedContent::Text(t) => Ok(CitationText::Text(t.clone())),
                        other => Err(unsupported("CitationGeneratedContent", other)),
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let citations = c
            .citations
            .as_ref()
            .map(|cs| {
                cs.iter()
                    .map(|x| {
                        let source_content = x
                            .source_content
                            .as_ref()
                            .map(|v| {
                                v.iter()
                                    .map(|s| match s {
                                        sdk::CitationSourceContent::Text(t) => {
                                            Ok(CitationText::Text(t.clone()))
                                        }
                                        other => Err(unsupported("CitationSourceContent", other)),
                                    })
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .transpose()?;
                        let location = match &x.location {
                            None => None,
                            Some(sdk::CitationLocation::Web(w)) => {
                                Some(CitationLocation::Web(WebLocation {
                                    url: w.url.clone(),
                                    domain: w.domain.clone(),
                                }))
                            }
                            Some(sdk::CitationLocation::DocumentChar(r)) => {
                                Some(CitationLocation::DocumentChar(DocumentRange {
                                    document_index: r.document_index,
                                    start: r.start,
                                    end: r.end,
                                }))
                            }
                            Some(sdk::CitationLocation::DocumentPage(r)) => {
                                Some(CitationLocation::DocumentPage(DocumentRange {
                                    document_index: r.document_index,
                                    start: r.start,
                                    end: r.end,
                                }))
                            }
                            Some(sdk::CitationLocation::DocumentChunk(r)) => {
                                Some(CitationLocation::DocumentChunk(DocumentRange {
                                    document_index: r.document_index,
                                    start: r.start,
                                    end: r.end,
                                }))
                            }
                            Some(sdk::CitationLocation::SearchResultLocation(r)) => {
                                Some(CitationLocation::SearchResultLocation(SearchResultRange {
                                    search_result_index: r.search_result_index,
                                    start: r.start,
                                    end: r.end,
                                }))
                            }
                            Some(other) => return Err(unsupported("CitationLocation", other)),
                        };
                        Ok(Citation {
                            title: x.title.clone(),
                            source: x.source.clone(),
                            source_content,
                            location,
                        })
                    })
                    .collect::<Result<Vec<_>, Error>>()
            })
            .transpose()?;
        Ok(Self { content, citations })
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

impl TryFrom<&ToolConfig> for sdk::ToolConfiguration {
    type Error = Error;
    fn try_from(c: &ToolConfig) -> Result<Self, Error> {
        let tools = c
            .tools
            .iter()
            .map(|t| {
                Ok(match t {
                    Tool::Spec(s) => {
                        let ToolInputSchema::Json(schema) = &s.input_schema;
                        sdk::Tool::ToolSpec(
                            sdk::ToolSpecification::builder()
                                .name(&s.name)
                                .set_description(s.description.clone())
                                .input_schema(sdk::ToolInputSchema::Json(json_to_document(schema)))
                                .set_strict(s.strict)
                                .build()
                                .map_err(Error::sdk("ToolSpecification"))?,
                        )
                    }
                    Tool::SystemTool(s) => sdk::Tool::SystemTool(
                        sdk::SystemTool::builder()
                            .name(&s.name)
                            .build()
                            .map_err(Error::sdk("SystemTool"))?,
                    ),
                    Tool::CachePoint(c) => sdk::Tool::CachePoint(c.try_into()?),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let choice = match &c.tool_choice {
            None => None,
            Some(ToolChoice::Auto {}) => Some(sdk::ToolChoice::Auto(
                sdk::AutoToolChoice::builder().build(),
            )),
            Some(ToolChoice::Any {}) => {
                Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build()))
            }
            Some(ToolChoice::Tool { name }) => Some(sdk::ToolChoice::Tool(
                sdk::SpecificToolChoice::builder()
                    .name(name)
                    .build()
                    .map_err(Error::sdk("SpecificToolChoice"))?,
            )),
        };
        sdk::ToolConfiguration::builder()
            .set_tools(Some(tools))
            .set_tool_choice(choice)
            .build()
            .map_err(Error::sdk("ToolConfiguration"))
    }
}

impl TryFrom<&sdk::ToolConfiguration> for ToolConfig {
    type Error = Error;
    fn try_from(c: &sdk::ToolConfiguration) -> Result<Self, Error> {
        let tools = c
            .tools()
            .iter()
            .map(|t| {
                Ok(match t {
                    sdk::Tool::ToolSpec(s) => Tool::Spec(ToolSpec {
                        name: s.name().to_owned(),
                        description: s.description().map(str::to_owned),
                        input_schema: match s.input_schema() {
                            Some(sdk::ToolInputSchema::Json(d)) => {
                                ToolInputSchema::Json(document_to_json(d)?)
                            }
                            other => return Err(unsupported("ToolInputSchema", &other)),
                        },
                        strict: s.strict(),
                    }),
                    sdk::Tool::SystemTool(s) => Tool::SystemTool(SystemTool {
                        name: s.name().to_owned(),
                    }),
                    sdk::Tool::CachePoint(c) => Tool::CachePoint(c.try_into()?),
                    other => return Err(unsupported("Tool", other)),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let tool_choice = match c.tool_choice() {
            None => None,
            Some(sdk::ToolChoice::Auto(_)) => Some(ToolChoice::Auto {}),
            Some(sdk::ToolChoice::Any(_)) => Some(ToolChoice::Any {}),
            Some(sdk::ToolChoice::Tool(t)) => Some(ToolChoice::Tool {
                name: t.name().to_owned(),
            }),
            Some(other) => return Err(unsupported("ToolChoice", other)),
        };
        Ok(Self { tools, tool_choice })
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

// ---- whole requests ----

/// The request's parts as SDK values, shared by the Converse and ConverseStream paths.
struct Parts {
    messages: Vec<sdk::Message>,
    system: Option<Vec<sdk::SystemContentBlock>>,
    inference: Option<sdk::InferenceConfiguration>,
    tools: Option<sdk::ToolConfiguration>,
    fields: Option<Document>,
    paths: Option<Vec<String>>,
    metadata: Option<HashMap<String, String>>,
    performance: Option<sdk::PerformanceConfiguration>,
}

fn parts(req: &ConverseRequest) -> Result<Parts, Error> {
    Ok(Parts {
        messages: req
            .messages
            .iter()
            .map(sdk::Message::try_from)
            .collect::<Result<_, _>>()?,
        system: if req.system.is_empty() {
            None
        } else {
            Some(
                req.system
                    .iter()
                    .map(sdk::SystemContentBlock::try_from)
                    .collect::<Result<_, _>>()?,
            )
        },
        inference: req
            .inference_config
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        tools: req
            .tool_config
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        fields: req
            .additional_model_request_fields
            .as_ref()
            .map(json_to_document),
        paths: (!req.additional_model_response_field_paths.is_empty())
            .then(|| req.additional_model_response_field_paths.clone()),
        metadata: (!req.request_metadata.is_empty()).then(|| {
            req.request_metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        performance: req.performance_config.as_ref().map(Into::into),
    })
}

macro_rules! apply_parts {
    ($b:expr, $p:expr, $guardrail:expr) => {
        $b.set_messages(Some($p.messages))
            .set_system($p.system)
            .set_inference_config($p.inference)
            .set_tool_config($p.tools)
            .set_guardrail_config($guardrail)
            .set_additional_model_request_fields($p.fields)
            .set_additional_model_response_field_paths($p.paths)
            .set_request_metadata($p.metadata)
            .set_performance_config($p.performance)
    };
}

/// Sets every field of `req` on a Converse call (the model id is the caller's).
///
/// # Errors
/// [`Error::Conversion`] or [`Error::SdkBuild`] if a value has no SDK equivalent.
pub fn apply_to_converse(
    req: &ConverseRequest,
    b: ConverseFluentBuilder,
) -> Result<ConverseFluentBuilder, Error> {
    let p = parts(req)?;
    Ok(apply_parts!(
        b,
        p,
        req.guardrail_config.as_ref().map(Into::into)
    ))
}

/// Sets every field of `req` on a ConverseStream call; the guardrail becomes a
/// `GuardrailStreamConfiguration` carrying `stream_processing_mode`.
///
/// # Errors
/// [`Error::Conversion`] or [`Error::SdkBuild`] if a value has no SDK equivalent.
pub fn apply_to_converse_stream(
    req: &ConverseRequest,
    b: ConverseStreamFluentBuilder,
) -> Result<ConverseStreamFluentBuilder, Error> {
    let p = parts(req)?;
    Ok(apply_parts!(
        b,
        p,
        req.guardrail_config.as_ref().map(Into::into)
    ))
}

/// Sets every field of `req` on a Converse input builder (useful without a client).
///
/// # Errors
/// [`Error::Conversion`] or [`Error::SdkBuild`] if a value has no SDK equivalent.
pub fn apply_to_converse_input(
    req: &ConverseRequest,
    b: ConverseInputBuilder,
) -> Result<ConverseInputBuilder, Error> {
    let p = parts(req)?;
    Ok(apply_parts!(
        b,
        p,
        req.guardrail_config.as_ref().map(Into::into)
    ))
}

/// Reads a request back from a Converse input builder (the inverse of [`apply_to_converse_input`]).
///
/// # Errors
/// [`Error::Conversion`] for SDK values this model does not represent.
pub fn request_from_converse_input(b: &ConverseInputBuilder) -> Result<ConverseRequest, Error> {
    Ok(ConverseRequest {
        messages: b
            .get_messages()
            .iter()
            .flatten()
            .map(Message::try_from)
            .collect::<Result<_, _>>()?,
        system: b
            .get_system()
            .iter()
            .flatten()
            .map(SystemBlock::try_from)
            .collect::<Result<_, _>>()?,
        inference_config: b
            .get_inference_config()
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        tool_config: b
            .get_tool_config()
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        guardrail_config: b
            .get_guardrail_config()
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        additional_model_request_fields: b
            .get_additional_model_request_fields()
            .as_ref()
            .map(document_to_json)
            .transpose()?,
        additional_model_response_field_paths: b
            .get_additional_model_response_field_paths()
            .clone()
            .unwrap_or_default(),
        request_metadata: b
            .get_request_metadata()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        performance_config: b
            .get_performance_config()
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        warnings: Vec::new(),
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_numbers_map_to_smithy_numbers() {
        assert_eq!(
            json_to_document(&json!(3)),
            Document::Number(Number::PosInt(3))
        );
        assert_eq!(
            json_to_document(&json!(-3)),
            Document::Number(Number::NegInt(-3))
        );
        assert_eq!(
            json_to_document(&json!(1.5)),
            Document::Number(Number::Float(1.5))
        );
        let v = json!({"a": [1, -2, 2.5, "s", null, true], "b": {"c": {}}});
        assert_eq!(document_to_json(&json_to_document(&v)).unwrap(), v);
        assert!(document_to_json(&Document::Number(Number::Float(f64::NAN))).is_err());
    }

    #[test]
    fn citations_round_trip() {
        let c = CitationsContentBlock {
            content: Some(vec![CitationText::Text("gen".into())]),
            citations: Some(vec![
                Citation {
                    title: Some("t".into()),
                    source: None,
                    source_content: Some(vec![CitationText::Text("s".into())]),
                    location: Some(CitationLocation::DocumentChunk(DocumentRange {
                        document_index: Some(0),
                        start: Some(1),
                        end: Some(2),
                    })),
                },
                Citation {
                    location: Some(CitationLocation::Web(WebLocation {
                        url: Some("https://e.x".into()),
                        domain: None,
                    })),
                    ..Citation::default()
                },
            ]),
        };
        let b = ContentBlock::CitationsContent(c);
        let s = sdk::ContentBlock::try_from(&b).unwrap();
        assert_eq!(ContentBlock::try_from(&s).unwrap(), b);
    }

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
