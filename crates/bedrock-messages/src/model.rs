//! Serde types that mirror the Converse JSON exactly.
//!
//! The field names, the single-key union objects and the base64 blobs are those of the Converse
//! wire format, so `serde_json::to_value(&request)` is the request body Bedrock receives (without
//! `modelId`, which travels in the path). Keeping the model as plain data lets other crates hash,
//! cache and snapshot requests without touching the SDK; the `sdk` module (feature `sdk`)
//! converts to the SDK.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::format::{DocumentFormat, ImageFormat, VideoFormat, Warning, wire_enum};

/// Base64 (standard alphabet, padded) for blob fields, and a fast path for whole bodies.
///
/// Plain serde serialisation encodes each blob into a `String` that `serde_json` then scans for
/// characters to escape and copies again. [`to_vec_fast`] instead lets `serde_json` write a short
/// placeholder per blob and then encodes each blob straight into the output buffer, which keeps
/// serialising a request about as cheap as base64-encoding its media.
pub(crate) mod b64 {
    use std::cell::RefCell;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    thread_local! {
        /// When set, blobs are collected here and serialised as placeholders.
        static SINK: RefCell<Option<Vec<Bytes>>> = const { RefCell::new(None) };
    }

    /// The escaped form every placeholder starts with, as it appears in `serde_json` output.
    const PREFIX: &[u8] = b"\\u0000bedrock-blob-";

    fn placeholder(i: usize) -> String {
        format!("\u{0}bedrock-blob-{i}\u{0}")
    }

    pub(crate) fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        let idx = SINK.with(|c| {
            c.borrow_mut().as_mut().map(|v| {
                v.push(b.clone());
                v.len() - 1
            })
        });
        match idx {
            Some(i) => s.serialize_str(&placeholder(i)),
            None => s.serialize_str(&STANDARD.encode(b)),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        let mut n = 0;
        let mut rest = hay;
        while let Some(p) = find(rest, needle) {
            n += 1;
            rest = rest.get(p + needle.len()..).unwrap_or_default();
        }
        n
    }

    /// Serialises `value` to JSON bytes identical to `serde_json::to_vec`, encoding blobs directly
    /// into the output.
    pub(crate) fn to_vec_fast<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                SINK.with(|c| c.borrow_mut().take());
            }
        }
        let (json, blobs) = {
            let _reset = Reset;
            SINK.with(|c| *c.borrow_mut() = Some(Vec::new()));
            let json = serde_json::to_vec(value)?;
            let blobs = SINK.with(|c| c.borrow_mut().take()).unwrap_or_default();
            (json, blobs)
        };
        if blobs.is_empty() {
            return Ok(json);
        }
        // A caller's string could spell a placeholder; then take the plain path.
        if count(&json, PREFIX) != blobs.len() {
            return serde_json::to_vec(value);
        }
        let extra: usize = blobs
            .iter()
            .map(|b| base64::encoded_len(b.len(), true).unwrap_or(0))
            .sum();
        let mut out = Vec::with_capacity(json.len() + extra);
        let mut rest = json.as_slice();
        for (i, b) in blobs.iter().enumerate() {
            let ph = serde_json::to_vec(&placeholder(i))?;
            let Some(pos) = find(rest, &ph) else {
                return serde_json::to_vec(value);
            };
            out.extend_from_slice(rest.get(..pos).unwrap_or_default());
            out.push(b'"');
            let start = out.len();
            out.resize(start + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
            if let Some(tail) = out.get_mut(start..) {
                let written = STANDARD.encode_slice(b, tail).unwrap_or(0);
                out.truncate(start + written);
            }
            out.push(b'"');
            rest = rest.get(pos + ph.len()..).unwrap_or_default();
        }
        out.extend_from_slice(rest);
        Ok(out)
    }
}

wire_enum! {
    /// Who speaks a message.
    Role { /// The caller.
    User = "user", /// The model.
    Assistant = "assistant" }
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// The blocks, in order.
    pub content: Vec<ContentBlock>,
}

/// One block of message content; serialised as a single-key object such as `{"text": "hi"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text(String),
    /// An image.
    Image(ImageBlock),
    /// A document.
    Document(DocumentBlock),
    /// A video.
    Video(VideoBlock),
    /// A tool call made by the model.
    ToolUse(ToolUseBlock),
    /// The result of a tool call, sent by the caller.
    ToolResult(ToolResultBlock),
    /// A prompt-cache checkpoint.
    CachePoint(CachePointBlock),
    /// Content a guardrail should evaluate.
    GuardContent(GuardContentBlock),
    /// Model reasoning (to be sent back unchanged in multi-turn conversations).
    ReasoningContent(ReasoningContentBlock),
    /// Generated text with the citations that support it (responses to documents with citations on).
    CitationsContent(CitationsContentBlock),
    /// A block of an answer this library does not model (for example `searchResult`, `audio`, or a
    /// kind newer than this library), kept as its raw JSON so a paid answer is never lost.
    /// It cannot be sent back to Bedrock.
    #[serde(untagged)]
    Unmodelled(RawBlock),
}

/// A content block kept as raw JSON, such as `{"searchResult": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawBlock(pub Value);

impl RawBlock {
    /// The block's kind: the key of its single-key object (`"searchResult"`), or `"unknown"`.
    pub fn kind(&self) -> &str {
        self.0
            .as_object()
            .and_then(|o| o.keys().next())
            .map_or("unknown", String::as_str)
    }
}

/// A text item inside citation content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CitationText {
    /// Text.
    Text(String),
}

/// A character, page or chunk range in a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentRange {
    /// Index of the cited document in the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_index: Option<i32>,
    /// Start of the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i32>,
    /// End of the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i32>,
}

/// A range in a search result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResultRange {
    /// Index of the search result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_result_index: Option<i32>,
    /// Start of the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i32>,
    /// End of the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i32>,
}

/// A cited web page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebLocation {
    /// The URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Where a citation points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum CitationLocation {
    /// A web page.
    Web(WebLocation),
    /// A character range.
    DocumentChar(DocumentRange),
    /// A page range.
    DocumentPage(DocumentRange),
    /// A chunk range.
    DocumentChunk(DocumentRange),
    /// A search-result range.
    SearchResultLocation(SearchResultRange),
}

/// One citation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Citation {
    /// Title of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The source id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The cited passages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_content: Option<Vec<CitationText>>,
    /// Where the passage is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<CitationLocation>,
}

/// Generated text with its citations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitationsContentBlock {
    /// The generated text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<CitationText>>,
    /// The citations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<Citation>>,
}

/// Where a blob lives in S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    /// `s3://bucket/key`.
    pub uri: String,
    /// The bucket owner's account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

/// Source of an image or video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    /// Inline bytes, sent as base64.
    Bytes(#[serde(with = "b64")] Bytes),
    /// An object in S3.
    S3Location(S3Location),
}

impl MediaSource {
    /// The inline bytes, if any.
    #[must_use]
    pub fn bytes(&self) -> Option<&Bytes> {
        match self {
            Self::Bytes(b) => Some(b),
            Self::S3Location(_) => None,
        }
    }
}

/// An image block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBlock {
    /// The image format.
    pub format: ImageFormat,
    /// Where the image comes from.
    pub source: MediaSource,
}

/// A video block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoBlock {
    /// The video format.
    pub format: VideoFormat,
    /// Where the video comes from.
    pub source: MediaSource,
}

/// Source of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DocumentSource {
    /// Inline bytes, sent as base64.
    Bytes(#[serde(with = "b64")] Bytes),
    /// An object in S3.
    S3Location(S3Location),
    /// Inline text.
    Text(String),
    /// Structured text chunks.
    Content(Vec<DocumentContentBlock>),
}

/// One chunk of a structured document source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DocumentContentBlock {
    /// A text chunk.
    Text(String),
}

/// Whether the model should cite a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitationsConfig {
    /// Citations on or off.
    pub enabled: bool,
}

/// A document block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentBlock {
    /// The document format.
    pub format: DocumentFormat,
    /// A name Bedrock shows the model (see [`crate::format::validate_document_name`]).
    pub name: String,
    /// Where the document comes from.
    pub source: DocumentSource,
    /// Extra context for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Citation settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<CitationsConfig>,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    /// Id to answer in a [`ToolResultBlock`].
    pub tool_use_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments, as JSON.
    pub input: Value,
    /// `server_tool_use` for tools Bedrock runs itself.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

wire_enum! {
    /// Outcome of a tool call.
    ToolResultStatus { /// It worked.
    Success = "success", /// It failed.
    Error = "error" }
}

/// One item of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ToolResultContent {
    /// JSON output.
    Json(Value),
    /// Text output.
    Text(String),
    /// An image.
    Image(ImageBlock),
    /// A document.
    Document(DocumentBlock),
    /// A video.
    Video(VideoBlock),
    /// A block this library does not model, kept as raw JSON.
    #[serde(untagged)]
    Unmodelled(RawBlock),
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    /// The id from the [`ToolUseBlock`].
    pub tool_use_id: String,
    /// The output.
    pub content: Vec<ToolResultContent>,
    /// Success or error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ToolResultStatus>,
}

wire_enum! {
    /// Kind of cache point; Bedrock knows only `default`.
    CachePointType { /// The default cache point.
    Default = "default" }
}

wire_enum! {
    /// Cache time-to-live.
    CacheTtl { /// Five minutes.
    FiveMinutes = "5m", /// One hour (newer Claude models).
    OneHour = "1h" }
}

/// A prompt-cache checkpoint: everything before it may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePointBlock {
    /// Always `default`.
    #[serde(rename = "type")]
    pub kind: CachePointType,
    /// Optional TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<CacheTtl>,
}

impl CachePointBlock {
    /// `{"type":"default"}`.
    #[must_use]
    pub fn new() -> Self {
        Self {
            kind: CachePointType::Default,
            ttl: None,
        }
    }

    /// A cache point with a TTL.
    #[must_use]
    pub fn with_ttl(ttl: CacheTtl) -> Self {
        Self {
            kind: CachePointType::Default,
            ttl: Some(ttl),
        }
    }
}

impl Default for CachePointBlock {
    fn default() -> Self {
        Self::new()
    }
}

wire_enum! {
    /// How a guardrail should treat guarded text.
    GuardQualifier { /// Grounding source.
    GroundingSource = "grounding_source", /// The query.
    Query = "query", /// Content to guard.
    GuardContent = "guard_content" }
}

wire_enum! {
    /// Image formats a guardrail accepts.
    GuardImageFormat { /// PNG.
    Png = "png", /// JPEG.
    Jpeg = "jpeg" }
}

/// Text for a guardrail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardText {
    /// The text.
    pub text: String,
    /// Qualifiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifiers: Option<Vec<GuardQualifier>>,
}

/// Source of a guarded image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GuardImageSource {
    /// Inline bytes.
    Bytes(#[serde(with = "b64")] Bytes),
}

/// An image for a guardrail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardImage {
    /// PNG or JPEG.
    pub format: GuardImageFormat,
    /// The bytes.
    pub source: GuardImageSource,
}

/// Content a guardrail evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GuardContentBlock {
    /// Text.
    Text(GuardText),
    /// An image.
    Image(GuardImage),
}

/// Reasoning text with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningText {
    /// The reasoning.
    pub text: String,
    /// Signature to verify it was produced by the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Model reasoning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningContentBlock {
    /// Readable reasoning.
    ReasoningText(ReasoningText),
    /// Encrypted reasoning.
    RedactedContent(#[serde(with = "b64")] Bytes),
}

/// One block of the system prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum SystemBlock {
    /// Text.
    Text(String),
    /// Guarded content.
    GuardContent(GuardContentBlock),
    /// A prompt-cache checkpoint.
    CachePoint(CachePointBlock),
}

/// Sampling parameters. `None` fields are omitted from the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// Maximum tokens to generate (1 to `i32::MAX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Sequences that stop generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

/// A tool's JSON schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolInputSchema {
    /// JSON Schema.
    Json(Value),
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// Name, `[a-zA-Z0-9_-]{1,64}`.
    pub name: String,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its input schema.
    pub input_schema: ToolInputSchema,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl ToolSpec {
    /// A tool with a name, description and JSON schema.
    #[must_use]
    pub fn new(name: impl Into<String>, description: impl Into<String>, schema: Value) -> Self {
        Self {
            name: name.into(),
            description: Some(description.into()),
            input_schema: ToolInputSchema::Json(schema),
            strict: None,
        }
    }
}

/// A tool Bedrock provides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemTool {
    /// Its name.
    pub name: String,
}

/// One entry of `toolConfig.tools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Tool {
    /// A tool specification.
    #[serde(rename = "toolSpec")]
    Spec(ToolSpec),
    /// A tool Bedrock provides.
    SystemTool(SystemTool),
    /// A prompt-cache checkpoint after the tools so far.
    CachePoint(CachePointBlock),
}

/// Which tool the model must use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    /// The model decides.
    Auto {},
    /// The model must call some tool.
    Any {},
    /// The model must call this tool.
    Tool {
        /// The tool name.
        name: String,
    },
}

/// Tools and the tool choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// At least one tool.
    pub tools: Vec<Tool>,
    /// The choice; the model decides when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

wire_enum! {
    /// Guardrail trace setting.
    GuardrailTrace { /// Trace on.
    Enabled = "enabled", /// Trace off.
    Disabled = "disabled", /// Full trace.
    EnabledFull = "enabled_full" }
}

wire_enum! {
    /// How a guardrail processes a stream.
    StreamProcessingMode { /// Hold chunks until checked.
    Sync = "sync", /// Check in the background.
    Async = "async" }
}

/// A guardrail to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailConfig {
    /// Guardrail id or ARN.
    pub guardrail_identifier: String,
    /// `DRAFT` or a version number.
    pub guardrail_version: String,
    /// Trace setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<GuardrailTrace>,
    /// Stream processing mode; used only by ConverseStream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_processing_mode: Option<StreamProcessingMode>,
}

wire_enum! {
    /// Latency setting.
    Latency { /// Standard.
    Standard = "standard", /// Latency-optimised inference.
    Optimized = "optimized" }
}

/// Performance settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerformanceConfig {
    /// Latency setting.
    pub latency: Latency,
}

wire_enum! {
    /// A service tier: how the request is scheduled and priced.
    ServiceTierType { /// The default tier.
    Default = "default", /// Lower priority, lower price.
    Flex = "flex", /// Higher priority.
    Priority = "priority", /// Reserved capacity.
    Reserved = "reserved" }
}

/// The service tier of a request (`{"type": "priority"}` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTier {
    /// The tier.
    #[serde(rename = "type")]
    pub tier: ServiceTierType,
}

/// The value of a prompt variable (for prompts managed by Bedrock Prompt Management).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum PromptVariable {
    /// A text value.
    Text(String),
}

/// A JSON schema the answer must follow (Bedrock's structured output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSchemaDefinition {
    /// The JSON schema, as JSON text.
    pub schema: String,
    /// A name for the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the schema describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The structure of an output format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OutputStructure {
    /// A JSON schema.
    JsonSchema(JsonSchemaDefinition),
}

/// The format of the text answer (`{"type": "json_schema", "structure": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFormat {
    /// The format type; `json_schema` is the one Bedrock defines.
    #[serde(rename = "type")]
    pub format_type: String,
    /// The structure the answer must follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure: Option<OutputStructure>,
}

/// How the model should shape its output (`outputConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputConfig {
    /// The format of the text answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<OutputFormat>,
}

impl OutputConfig {
    /// An output config asking for JSON that follows `schema` (Bedrock's native structured
    /// output), the Rust twin of the original's `build_json_schema_output_config`.
    #[must_use]
    pub fn json_schema(schema: &Value, name: Option<&str>) -> Self {
        Self {
            text_format: Some(OutputFormat {
                format_type: "json_schema".to_owned(),
                structure: Some(OutputStructure::JsonSchema(JsonSchemaDefinition {
                    schema: schema.to_string(),
                    name: name.map(str::to_owned),
                    description: None,
                })),
            }),
        }
    }
}

/// A Converse request body (everything but `modelId`).
///
/// Build one with [`ConverseRequest::builder`], which validates every limit; deserialising one
/// does not validate. Warnings from the builder (such as a format mismatch) are kept in
/// [`ConverseRequest::warnings`] and are not serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConverseRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// The system prompt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    /// Sampling parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    /// Tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Guardrail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<GuardrailConfig>,
    /// Model-native fields, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    /// JSON pointers of model-native response fields to return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_model_response_field_paths: Vec<String>,
    /// Metadata for invocation logs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_metadata: BTreeMap<String, String>,
    /// Performance settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<PerformanceConfig>,
    /// Values of the variables of a managed prompt (when the model id is a prompt ARN).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompt_variables: BTreeMap<String, PromptVariable>,
    /// How the model should shape its output (structured output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
    /// The service tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// Fields of the request body this model does not name (a field newer than this crate),
    /// sent verbatim at the top level. A field the model names is refused when the request is
    /// built ([`crate::Rule::ExtraField`]).
    #[serde(flatten)]
    pub extra_fields: BTreeMap<String, Value>,
    #[serde(skip)]
    pub(crate) warnings: Vec<Warning>,
}

/// The top-level fields of a Converse request body that [`ConverseRequest`] names; an extra
/// field may not use one of them.
pub const REQUEST_FIELDS: [&str; 13] = [
    "modelId",
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "requestMetadata",
    "performanceConfig",
    "promptVariables",
    "outputConfig",
    "serviceTier",
];

impl ConverseRequest {
    /// Starts a validated request.
    pub fn builder() -> crate::builder::ConverseRequestBuilder {
        crate::builder::ConverseRequestBuilder::new()
    }

    /// Warnings collected while building (not serialised).
    #[must_use]
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The request body as JSON.
    ///
    /// # Errors
    /// Only if a free-form JSON value cannot be serialised (never for values built from JSON).
    pub fn to_json(&self) -> Result<Value, Error> {
        serde_json::to_value(self).map_err(|e| Error::conversion("request", e.to_string()))
    }

    /// The request body as JSON bytes, the same bytes as `serde_json::to_vec(&request)`, with
    /// media encoded straight into the buffer (the fast path for large images).
    ///
    /// # Errors
    /// Only if a free-form JSON value cannot be serialised.
    pub fn to_json_vec(&self) -> Result<Vec<u8>, Error> {
        b64::to_vec_fast(self).map_err(|e| Error::conversion("request", e.to_string()))
    }

    /// Checks every rule of [`Limits`](crate::Limits) on an already assembled request,
    /// e.g. one deserialised or edited after building.
    ///
    /// # Errors
    /// The first broken rule.
    pub fn validate(&self, limits: &crate::Limits) -> Result<(), Error> {
        crate::validate::validate_request(self, limits)
    }
}

use crate::error::Error;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_serialise_as_single_key_objects() {
        let m = Message {
            role: Role::User,
            content: vec![
                ContentBlock::Text("hi".into()),
                ContentBlock::Image(ImageBlock {
                    format: ImageFormat::Png,
                    source: MediaSource::Bytes(Bytes::from_static(b"abc")),
                }),
                ContentBlock::CachePoint(CachePointBlock::new()),
            ],
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"role":"user","content":[
                {"text":"hi"},
                {"image":{"format":"png","source":{"bytes":"YWJj"}}},
                {"cachePoint":{"type":"default"}}
            ]})
        );
    }

    #[test]
    fn tool_choice_and_tools_use_wire_names() {
        let t = ToolConfig {
            tools: vec![Tool::Spec(ToolSpec::new(
                "f",
                "d",
                json!({"type":"object"}),
            ))],
            tool_choice: Some(ToolChoice::Auto {}),
        };
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"tools":[{"toolSpec":{"name":"f","description":"d","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"auto":{}}})
        );
    }

    #[test]
    fn fast_serialisation_matches_serde_json() {
        let img = |b: &'static [u8]| {
            ContentBlock::Image(ImageBlock {
                format: ImageFormat::Png,
                source: MediaSource::Bytes(Bytes::from_static(b)),
            })
        };
        let mut req = ConverseRequest::builder().user_text("x").build().unwrap();
        req.messages[0].content.push(img(b"hello"));
        req.messages[0]
            .content
            .push(ContentBlock::Text("between".into()));
        req.messages[0].content.push(img(b"\x00\xff world"));
        assert_eq!(
            req.to_json_vec().unwrap(),
            serde_json::to_vec(&req).unwrap()
        );
        // A text that spells a placeholder takes the plain path and still matches.
        req.messages[0]
            .content
            .push(ContentBlock::Text("\u{0}bedrock-blob-0\u{0}".into()));
        assert_eq!(
            req.to_json_vec().unwrap(),
            serde_json::to_vec(&req).unwrap()
        );
        // Without blobs.
        let plain = ConverseRequest::builder().user_text("y").build().unwrap();
        assert_eq!(
            plain.to_json_vec().unwrap(),
            serde_json::to_vec(&plain).unwrap()
        );
    }

    #[test]
    fn bad_base64_is_a_deserialisation_error() {
        let r: Result<MediaSource, _> = serde_json::from_value(json!({"bytes":"!!"}));
        assert!(r.is_err());
    }
}
