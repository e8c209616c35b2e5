//! Fluent builders for messages and requests.
//!
//! The builders cover the original's `MessageBuilder` (text, local and in-memory images,
//! documents and videos, cache points, a size cap) plus a request builder for the system prompt,
//! inference settings and tools. Every setter takes `self` and never fails: a file that cannot be
//! read, or bytes of an unknown format, are remembered and reported by `build()`, so chains stay
//! readable and nothing half-built escapes. `build()` runs every rule of [`Limits`].

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use serde_json::Value;

use crate::error::Error;
use crate::format::{self, DocumentFormat, ImageFormat, MediaFormat, VideoFormat, Warning};
use crate::limits::{Limits, Rule};
use crate::model::{
    CachePointBlock, CacheTtl, CitationsConfig, ContentBlock, ConverseRequest, DocumentBlock,
    DocumentSource, GuardContentBlock, GuardText, GuardrailConfig, ImageBlock, InferenceConfig,
    Latency, MediaSource, Message, OutputConfig, PerformanceConfig, PromptVariable,
    ReasoningContentBlock, ReasoningText, Role, S3Location, ServiceTier, ServiceTierType,
    SystemBlock, Tool, ToolChoice, ToolConfig, ToolResultBlock, ToolResultContent,
    ToolResultStatus, ToolSpec, ToolUseBlock, VideoBlock,
};
use crate::validate;

impl Message {
    /// Starts a user message.
    pub fn user() -> MessageBuilder {
        MessageBuilder::new(Role::User)
    }

    /// Starts an assistant message.
    pub fn assistant() -> MessageBuilder {
        MessageBuilder::new(Role::Assistant)
    }
}

/// Builds one [`Message`].
///
/// File methods (`image_file`, `document_file`, `video_file`) read the file at once; a read or
/// format error is kept and returned by [`build`](Self::build), and later blocks are ignored.
#[derive(Debug)]
#[must_use]
pub struct MessageBuilder {
    role: Role,
    blocks: Vec<ContentBlock>,
    warnings: Vec<Warning>,
    error: Option<Error>,
    limits: Limits,
    max_file_bytes: Option<u64>,
    sanitize_names: bool,
}

fn file_name(path: &Path) -> String {
    path.display().to_string()
}

impl MessageBuilder {
    /// Starts a message for `role`.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            blocks: Vec::new(),
            warnings: Vec::new(),
            error: None,
            limits: Limits::bedrock(),
            max_file_bytes: None,
            sanitize_names: false,
        }
    }

    /// Starts a user message.
    pub fn user() -> Self {
        Self::new(Role::User)
    }

    /// Starts an assistant message.
    pub fn assistant() -> Self {
        Self::new(Role::Assistant)
    }

    /// The role.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// Number of blocks added so far.
    #[must_use]
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Uses these limits for [`build`](Self::build) (default: [`Limits::bedrock`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Caps every media item added after this call at `bytes`, in addition to the per-kind limit
    /// (the original's `max_size_mb`). Files are checked before they are read.
    pub fn max_size_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = Some(bytes);
        self
    }

    /// Like [`max_size_bytes`](Self::max_size_bytes), in decimal megabytes.
    pub fn max_size_mb(self, mb: f64) -> Self {
        let bytes = Limits::bedrock().with_max_total_mb(mb).max_total_bytes;
        self.max_size_bytes(bytes)
    }

    /// Rewrites invalid document names with [`format::sanitize_document_name`] instead of rejecting them.
    pub fn sanitize_document_names(mut self) -> Self {
        self.sanitize_names = true;
        self
    }

    fn push(mut self, block: ContentBlock) -> Self {
        if self.error.is_none() {
            self.blocks.push(block);
        }
        self
    }

    fn fail(mut self, e: Error) -> Self {
        if self.error.is_none() {
            self.error = Some(e);
        }
        self
    }

    /// Appends any block as is.
    pub fn block(self, block: ContentBlock) -> Self {
        self.push(block)
    }

    /// Appends a text block.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.push(ContentBlock::Text(text.into()))
    }

    fn cap(&self, rule: Rule) -> u64 {
        let kind = match rule {
            Rule::ImageSize => self.limits.max_image_bytes,
            Rule::DocumentSize => self.limits.max_document_bytes,
            _ => self.limits.max_video_bytes,
        };
        self.max_file_bytes.map_or(kind, |m| m.min(kind))
    }

    fn detect<F: MediaFormat>(
        &mut self,
        name: Option<&str>,
        bytes: &[u8],
        claimed: Option<F>,
        part: &str,
        rule: Rule,
    ) -> Result<F, Error> {
        let cap = self.cap(rule);
        if bytes.len() as u64 > cap {
            return Err(Error::limit(part, rule, cap, bytes.len() as u64));
        }
        let d = format::detect(name, bytes, claimed, part)?;
        if let Some(w) = d.warning {
            self.warnings.push(w);
        }
        Ok(d.format)
    }

    fn read(&self, path: &Path, rule: Rule) -> Result<Bytes, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        let cap = self.cap(rule);
        if len > cap {
            return Err(Error::limit(file_name(path), rule, cap, len));
        }
        std::fs::read(path).map(Bytes::from).map_err(io)
    }

    /// Detects the format of media bytes (checking the size cap) and appends the block `make`
    /// builds, or records the error for `build()`.
    fn media<F: MediaFormat>(
        mut self,
        file_name: Option<&str>,
        bytes: Bytes,
        claimed: Option<F>,
        part: String,
        rule: Rule,
        make: fn(F, MediaSource) -> ContentBlock,
    ) -> Self {
        match self.detect(file_name, &bytes, claimed, &part, rule) {
            Ok(format) => self.push(make(format, MediaSource::Bytes(bytes))),
            Err(e) => self.fail(e),
        }
    }

    /// Reads a media file (checking the size cap before reading) and appends it like
    /// [`MessageBuilder::media`], named after the file.
    fn media_file<F: MediaFormat>(
        self,
        path: &Path,
        rule: Rule,
        make: fn(F, MediaSource) -> ContentBlock,
    ) -> Self {
        let name = file_name(path);
        match self.read(path, rule) {
            Ok(bytes) => self.media(Some(&name), bytes, None, name.clone(), rule, make),
            Err(e) => self.fail(e),
        }
    }

    fn part(&self) -> String {
        format!("content[{}]", self.blocks.len())
    }

    /// Appends image bytes of a stated format. When the bytes are another image format, the
    /// bytes win and a warning is recorded; when they are no image, `build()` fails.
    pub fn image_bytes(self, bytes: impl Into<Bytes>, format: ImageFormat) -> Self {
        let part = self.part();
        self.media(
            None,
            bytes.into(),
            Some(format),
            part,
            Rule::ImageSize,
            image_block,
        )
    }

    /// Appends image bytes whose format is detected from the content, with `file_name`'s
    /// extension as the claim (like the original's `add_image_bytes(bytes, format=None, filename=..)`).
    pub fn image_bytes_detect(self, bytes: impl Into<Bytes>, file_name: Option<&str>) -> Self {
        let part = file_name.map_or_else(|| self.part(), str::to_owned);
        self.media::<ImageFormat>(
            file_name,
            bytes.into(),
            None,
            part,
            Rule::ImageSize,
            image_block,
        )
    }

    /// Reads an image file; the format comes from its content and extension.
    pub fn image_file(self, path: impl AsRef<Path>) -> Self {
        self.media_file(path.as_ref(), Rule::ImageSize, image_block)
    }

    /// Appends an image stored in S3.
    pub fn image_s3(self, uri: impl Into<String>, format: ImageFormat) -> Self {
        self.push(ContentBlock::Image(ImageBlock {
            format,
            source: MediaSource::S3Location(S3Location {
                uri: uri.into(),
                bucket_owner: None,
            }),
        }))
    }

    fn document_name(&self, name: String) -> String {
        if self.sanitize_names {
            format::sanitize_document_name(&name)
        } else {
            name
        }
    }

    /// Appends document bytes of a stated format under `name`.
    pub fn document_bytes(
        mut self,
        bytes: impl Into<Bytes>,
        format: DocumentFormat,
        name: impl Into<String>,
    ) -> Self {
        let bytes = bytes.into();
        let part = self.part();
        let name = self.document_name(name.into());
        match self.detect(None, &bytes, Some(format), &part, Rule::DocumentSize) {
            Ok(format) => self.push(ContentBlock::Document(DocumentBlock {
                format,
                name,
                source: DocumentSource::Bytes(bytes),
                context: None,
                citations: None,
            })),
            Err(e) => self.fail(e),
        }
    }

    /// Appends document bytes whose format is detected from the content and `file_name`'s
    /// extension; the document is named `name`.
    pub fn document_bytes_detect(
        mut self,
        bytes: impl Into<Bytes>,
        file_name: &str,
        name: impl Into<String>,
    ) -> Self {
        let bytes = bytes.into();
        let name = self.document_name(name.into());
        match self.detect::<DocumentFormat>(
            Some(file_name),
            &bytes,
            None,
            file_name,
            Rule::DocumentSize,
        ) {
            Ok(format) => self.push(ContentBlock::Document(DocumentBlock {
                format,
                name,
                source: DocumentSource::Bytes(bytes),
                context: None,
                citations: None,
            })),
            Err(e) => self.fail(e),
        }
    }

    /// Reads a document file, named after the file stem (`report.pdf` → `report`).
    pub fn document_file(self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.document_file_named(path, stem)
    }

    /// Reads a document file under an explicit name.
    pub fn document_file_named(mut self, path: impl AsRef<Path>, name: impl Into<String>) -> Self {
        let path = path.as_ref();
        let fname = file_name(path);
        let name = self.document_name(name.into());
        let r = self.read(path, Rule::DocumentSize).and_then(|b| {
            Ok((
                self.detect::<DocumentFormat>(Some(&fname), &b, None, &fname, Rule::DocumentSize)?,
                b,
            ))
        });
        match r {
            Ok((format, bytes)) => self.push(ContentBlock::Document(DocumentBlock {
                format,
                name,
                source: DocumentSource::Bytes(bytes),
                context: None,
                citations: None,
            })),
            Err(e) => self.fail(e),
        }
    }

    /// Turns on citations for the last document block added (no effect otherwise).
    pub fn with_citations(mut self) -> Self {
        if let Some(ContentBlock::Document(d)) = self.blocks.last_mut() {
            d.citations = Some(CitationsConfig { enabled: true });
        }
        self
    }

    /// Sets the context of the last document block added (no effect otherwise).
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        if let Some(ContentBlock::Document(d)) = self.blocks.last_mut() {
            d.context = Some(context.into());
        }
        self
    }

    /// Appends video bytes of a stated format.
    pub fn video_bytes(self, bytes: impl Into<Bytes>, format: VideoFormat) -> Self {
        let part = self.part();
        self.media(
            None,
            bytes.into(),
            Some(format),
            part,
            Rule::VideoSize,
            video_block,
        )
    }

    /// Appends video bytes whose format is detected from the content and `file_name`'s extension.
    pub fn video_bytes_detect(self, bytes: impl Into<Bytes>, file_name: Option<&str>) -> Self {
        let part = file_name.map_or_else(|| self.part(), str::to_owned);
        self.media::<VideoFormat>(
            file_name,
            bytes.into(),
            None,
            part,
            Rule::VideoSize,
            video_block,
        )
    }

    /// Reads a video file.
    pub fn video_file(self, path: impl AsRef<Path>) -> Self {
        self.media_file(path.as_ref(), Rule::VideoSize, video_block)
    }

    /// Appends a video stored in S3.
    pub fn video_s3(self, uri: impl Into<String>, format: VideoFormat) -> Self {
        self.push(ContentBlock::Video(VideoBlock {
            format,
            source: MediaSource::S3Location(S3Location {
                uri: uri.into(),
                bucket_owner: None,
            }),
        }))
    }

    /// Appends a `{"cachePoint":{"type":"default"}}` block.
    pub fn cache_point(self) -> Self {
        self.push(ContentBlock::CachePoint(CachePointBlock::new()))
    }

    /// Appends a cache point with a TTL.
    pub fn cache_point_ttl(self, ttl: CacheTtl) -> Self {
        self.push(ContentBlock::CachePoint(CachePointBlock::with_ttl(ttl)))
    }

    /// Appends a tool call (in assistant messages being replayed).
    pub fn tool_use(
        self,
        tool_use_id: impl Into<String>,
        name: impl Into<String>,
        input: Value,
    ) -> Self {
        self.push(ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: tool_use_id.into(),
            name: name.into(),
            input,
            kind: None,
        }))
    }

    /// Appends a tool result.
    pub fn tool_result(
        self,
        tool_use_id: impl Into<String>,
        content: Vec<ToolResultContent>,
        status: Option<ToolResultStatus>,
    ) -> Self {
        self.push(ContentBlock::ToolResult(ToolResultBlock {
            tool_use_id: tool_use_id.into(),
            content,
            status,
        }))
    }

    /// Appends a successful tool result carrying JSON.
    pub fn tool_result_json(self, tool_use_id: impl Into<String>, json: Value) -> Self {
        self.tool_result(
            tool_use_id,
            vec![ToolResultContent::Json(json)],
            Some(ToolResultStatus::Success),
        )
    }

    /// Appends text for a guardrail to evaluate.
    pub fn guard_text(self, text: impl Into<String>) -> Self {
        self.push(ContentBlock::GuardContent(GuardContentBlock::Text(
            GuardText {
                text: text.into(),
                qualifiers: None,
            },
        )))
    }

    /// Appends reasoning text (to replay a model's reasoning).
    pub fn reasoning(self, text: impl Into<String>, signature: Option<String>) -> Self {
        self.push(ContentBlock::ReasoningContent(
            ReasoningContentBlock::ReasoningText(ReasoningText {
                text: text.into(),
                signature,
            }),
        ))
    }

    fn into_parts(self) -> Result<(Message, Vec<Warning>), Error> {
        match self.error {
            Some(e) => Err(e),
            None => Ok((
                Message {
                    role: self.role,
                    content: self.blocks,
                },
                self.warnings,
            )),
        }
    }

    /// Finishes the message, checking the per-message rules.
    ///
    /// # Errors
    /// The first file, format or rule error.
    pub fn build(self) -> Result<Message, Error> {
        self.build_with_warnings().map(|(m, _)| m)
    }

    /// Like [`build`](Self::build), also returning format warnings.
    ///
    /// # Errors
    /// The first file, format or rule error.
    pub fn build_with_warnings(self) -> Result<(Message, Vec<Warning>), Error> {
        let limits = self.limits;
        let (m, w) = self.into_parts()?;
        validate::validate_message(&m, "message", &mut validate::Ctx::new(&limits))?;
        Ok((m, w))
    }
}

#[derive(Debug)]
enum Entry {
    Built(Message),
    Pending(MessageBuilder),
}

/// Builds a validated [`ConverseRequest`]; see [`ConverseRequest::builder`].
#[derive(Debug)]
#[must_use]
pub struct ConverseRequestBuilder {
    messages: Vec<Entry>,
    system: Vec<SystemBlock>,
    inference: Option<InferenceConfig>,
    tools: Vec<Tool>,
    tool_choice: Option<ToolChoice>,
    guardrail: Option<GuardrailConfig>,
    additional_fields: Option<Value>,
    response_paths: Vec<String>,
    metadata: BTreeMap<String, String>,
    performance: Option<PerformanceConfig>,
    prompt_variables: BTreeMap<String, PromptVariable>,
    output_config: Option<OutputConfig>,
    service_tier: Option<ServiceTier>,
    limits: Limits,
}

impl Default for ConverseRequestBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConverseRequestBuilder {
    /// An empty builder with [`Limits::bedrock`].
    pub fn new() -> Self {
        Self {
            messages: Vec::new(),
            system: Vec::new(),
            inference: None,
            tools: Vec::new(),
            tool_choice: None,
            guardrail: None,
            additional_fields: None,
            response_paths: Vec::new(),
            metadata: BTreeMap::new(),
            performance: None,
            prompt_variables: BTreeMap::new(),
            output_config: None,
            service_tier: None,
            limits: Limits::bedrock(),
        }
    }

    /// Appends a finished message.
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(Entry::Built(message));
        self
    }

    /// Appends a message builder; its errors and warnings surface in [`build`](Self::build).
    pub fn message_builder(mut self, builder: MessageBuilder) -> Self {
        self.messages.push(Entry::Pending(builder));
        self
    }

    /// Appends finished messages.
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages.into_iter().map(Entry::Built));
        self
    }

    /// Appends a user message with one text block.
    pub fn user_text(self, text: impl Into<String>) -> Self {
        self.message_builder(MessageBuilder::user().text(text))
    }

    /// Appends an assistant message with one text block.
    pub fn assistant_text(self, text: impl Into<String>) -> Self {
        self.message_builder(MessageBuilder::assistant().text(text))
    }

    /// Appends a system prompt text block.
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.system.push(SystemBlock::Text(text.into()));
        self
    }

    /// Appends any system block.
    pub fn system_block(mut self, block: SystemBlock) -> Self {
        self.system.push(block);
        self
    }

    /// Appends a cache point to the system prompt.
    pub fn system_cache_point(self) -> Self {
        self.system_block(SystemBlock::CachePoint(CachePointBlock::new()))
    }

    /// Replaces the inference configuration.
    pub fn inference_config(mut self, config: InferenceConfig) -> Self {
        self.inference = Some(config);
        self
    }

    fn inference_mut(&mut self) -> &mut InferenceConfig {
        self.inference.get_or_insert_with(InferenceConfig::default)
    }

    /// Sets `maxTokens`.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.inference_mut().max_tokens = Some(n);
        self
    }

    /// Sets `temperature`.
    pub fn temperature(mut self, t: f32) -> Self {
        self.inference_mut().temperature = Some(t);
        self
    }

    /// Sets `topP`.
    pub fn top_p(mut self, p: f32) -> Self {
        self.inference_mut().top_p = Some(p);
        self
    }

    /// Sets `stopSequences`.
    pub fn stop_sequences<S: Into<String>>(mut self, s: impl IntoIterator<Item = S>) -> Self {
        self.inference_mut().stop_sequences = Some(s.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a tool.
    pub fn tool(mut self, spec: ToolSpec) -> Self {
        self.tools.push(Tool::Spec(spec));
        self
    }

    /// Adds any `toolConfig.tools` entry.
    pub fn tool_entry(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Adds a cache point after the tools so far.
    pub fn tool_cache_point(self) -> Self {
        self.tool_entry(Tool::CachePoint(CachePointBlock::new()))
    }

    /// Sets the tool choice.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Sets the guardrail.
    pub fn guardrail(mut self, config: GuardrailConfig) -> Self {
        self.guardrail = Some(config);
        self
    }

    /// Sets `additionalModelRequestFields`.
    pub fn additional_model_request_fields(mut self, fields: Value) -> Self {
        self.additional_fields = Some(fields);
        self
    }

    /// Adds an `additionalModelResponseFieldPaths` entry.
    pub fn additional_model_response_field_path(mut self, path: impl Into<String>) -> Self {
        self.response_paths.push(path.into());
        self
    }

    /// Adds a `requestMetadata` entry.
    pub fn request_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets `performanceConfig.latency`.
    pub fn latency(mut self, latency: Latency) -> Self {
        self.performance = Some(PerformanceConfig { latency });
        self
    }

    /// Sets a prompt variable (for a prompt from Bedrock Prompt Management).
    pub fn prompt_variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.prompt_variables
            .insert(name.into(), PromptVariable::Text(value.into()));
        self
    }

    /// Sets `outputConfig` (for example [`OutputConfig::json_schema`] for structured output).
    pub fn output_config(mut self, config: OutputConfig) -> Self {
        self.output_config = Some(config);
        self
    }

    /// Sets the service tier.
    pub fn service_tier(mut self, tier: ServiceTierType) -> Self {
        self.service_tier = Some(ServiceTier { tier });
        self
    }

    /// Uses these limits (default: [`Limits::bedrock`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the request-wide inline media total (the original's `max_size_mb`, in bytes).
    pub fn max_total_bytes(mut self, bytes: u64) -> Self {
        self.limits = self.limits.with_max_total_bytes(bytes);
        self
    }

    /// Validates everything and returns the request.
    ///
    /// # Errors
    /// The first file, format or rule error, naming the part, the rule and the limit.
    pub fn build(self) -> Result<ConverseRequest, Error> {
        let mut warnings = Vec::new();
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, e) in self.messages.into_iter().enumerate() {
            match e {
                Entry::Built(m) => messages.push(m),
                Entry::Pending(b) => {
                    let (m, w) = b.into_parts().map_err(|e| prefix_error(e, i))?;
                    warnings.extend(w.into_iter().map(|w| prefix_warning(w, i)));
                    messages.push(m);
                }
            }
        }
        let tool_config = if self.tools.is_empty() && self.tool_choice.is_none() {
            None
        } else {
            Some(ToolConfig {
                tools: self.tools,
                tool_choice: self.tool_choice,
            })
        };
        let req = ConverseRequest {
            messages,
            system: self.system,
            inference_config: self.inference,
            tool_config,
            guardrail_config: self.guardrail,
            additional_model_request_fields: self.additional_fields,
            additional_model_response_field_paths: self.response_paths,
            request_metadata: self.metadata,
            performance_config: self.performance,
            prompt_variables: self.prompt_variables,
            output_config: self.output_config,
            service_tier: self.service_tier,
            warnings,
        };
        validate::validate_request(&req, &self.limits)?;
        Ok(req)
    }
}

fn prefix(part: String, i: usize) -> String {
    if part.starts_with("content[") {
        format!("messages[{i}].{part}")
    } else {
        format!("messages[{i}]: {part}")
    }
}

fn prefix_error(e: Error, i: usize) -> Error {
    match e {
        Error::Limit {
            part,
            rule,
            limit,
            actual,
        } => Error::Limit {
            part: prefix(part, i),
            rule,
            limit,
            actual,
        },
        Error::Invalid { part, rule, detail } => Error::Invalid {
            part: prefix(part, i),
            rule,
            detail,
        },
        Error::UnknownFormat { part, kind, detail } => Error::UnknownFormat {
            part: prefix(part, i),
            kind,
            detail,
        },
        other => other,
    }
}

fn prefix_warning(w: Warning, i: usize) -> Warning {
    match w {
        Warning::FormatMismatch {
            part,
            claimed,
            detected,
        } => Warning::FormatMismatch {
            part: prefix(part, i),
            claimed,
            detected,
        },
    }
}

fn image_block(format: ImageFormat, source: MediaSource) -> ContentBlock {
    ContentBlock::Image(ImageBlock { format, source })
}

fn video_block(format: VideoFormat, source: MediaSource) -> ContentBlock {
    ContentBlock::Video(VideoBlock { format, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE,
        0x42, 0x60, 0x82,
    ];

    #[test]
    fn detect_methods_use_content_and_name() {
        let m = Message::user()
            .text("x")
            .image_bytes_detect(PNG, Some("photo.jpg"))
            .document_bytes_detect(b"a,b".to_vec(), "t.csv", "table")
            .video_bytes_detect(b"FLV\x01\x05\0\0\0\x09".to_vec(), None);
        let (m, w) = m.build_with_warnings().unwrap();
        assert!(matches!(&m.content[1], ContentBlock::Image(i) if i.format == ImageFormat::Png));
        assert!(
            matches!(&m.content[2], ContentBlock::Document(d) if d.format == DocumentFormat::Csv)
        );
        assert!(matches!(&m.content[3], ContentBlock::Video(v) if v.format == VideoFormat::Flv));
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn the_first_error_wins_and_later_blocks_are_ignored() {
        let b = Message::user()
            .image_bytes(b"nope".to_vec(), ImageFormat::Png)
            .text("later");
        assert_eq!(b.block_count(), 0);
        let e = b.build().unwrap_err();
        assert_eq!(e.part(), Some("content[0]"));
        assert_eq!(e.rule(), Some(Rule::Format));
    }

    #[test]
    fn request_builder_prefixes_message_errors() {
        let e = ConverseRequest::builder()
            .user_text("a")
            .assistant_text("b")
            .message_builder(
                Message::user()
                    .text("c")
                    .image_bytes(Vec::<u8>::new(), ImageFormat::Png),
            )
            .build()
            .unwrap_err();
        assert_eq!(e.part(), Some("messages[2].content[1]"));
        assert_eq!(e.rule(), Some(Rule::EmptyBytes));
    }

    #[test]
    fn no_tool_config_without_tools() {
        let r = ConverseRequest::builder().user_text("x").build().unwrap();
        assert!(r.tool_config.is_none());
        assert_eq!(
            r.to_json().unwrap(),
            serde_json::json!({"messages":[{"role":"user","content":[{"text":"x"}]}]})
        );
    }
}
