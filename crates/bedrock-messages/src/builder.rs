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
use crate::model::GuardQualifier;
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
/// File methods (`image_file`, `document_file`, `video_file`) read the file at once; a read error
/// is kept and returned by [`build`](Self::build), and later blocks are ignored.
///
/// Media sizes and formats are decided when the limits are known: at [`build`](Self::build)
/// with this builder's own [`limits`](Self::limits), or, for a builder handed to
/// [`ConverseRequestBuilder::message_builder`] without limits of its own, with the request
/// builder's. So limits set once on a request builder (or on a manager that makes request
/// builders) apply to every message in it.
#[derive(Debug)]
#[must_use]
pub struct MessageBuilder {
    role: Role,
    items: Vec<Item>,
    error: Option<Error>,
    limits: Option<Limits>,
    max_file_bytes: Option<u64>,
    sanitize_names: bool,
}

/// A block, or media whose format and size are checked once the limits are known.
#[derive(Debug)]
enum Item {
    Block(ContentBlock),
    Media(Media),
}

#[derive(Debug)]
struct Media {
    /// The file or block named in errors and warnings.
    part: String,
    /// A file name whose extension hints at the format.
    file_name: Option<String>,
    bytes: Bytes,
    kind: MediaKindClaim,
}

#[derive(Debug)]
enum MediaKindClaim {
    Image(Option<ImageFormat>),
    Video(Option<VideoFormat>),
    Document {
        claimed: Option<DocumentFormat>,
        name: String,
        context: Option<String>,
        citations: Option<CitationsConfig>,
    },
}

impl Media {
    fn detect<F: MediaFormat>(
        &self,
        claimed: Option<F>,
        rule: Rule,
        limits: &Limits,
        max_file_bytes: Option<u64>,
    ) -> Result<(F, Option<Warning>), Error> {
        let kind = match rule {
            Rule::ImageSize => limits.max_image_bytes,
            Rule::DocumentSize => limits.max_document_bytes,
            _ => limits.max_video_bytes,
        };
        let cap = max_file_bytes.map_or(kind, |m| m.min(kind));
        let len = self.bytes.len() as u64;
        if len > cap {
            return Err(Error::limit(&self.part, rule, cap, len));
        }
        let d = format::detect_with(
            self.file_name.as_deref(),
            &self.bytes,
            claimed,
            &self.part,
            limits.format_policy,
        )?;
        Ok((d.format, d.warning))
    }

    /// The block this media becomes under `limits`.
    fn resolve(
        self,
        limits: &Limits,
        max_file_bytes: Option<u64>,
    ) -> Result<(ContentBlock, Option<Warning>), Error> {
        let source = || MediaSource::Bytes(self.bytes.clone());
        Ok(match &self.kind {
            MediaKindClaim::Image(claimed) => {
                let (format, w) = self.detect(*claimed, Rule::ImageSize, limits, max_file_bytes)?;
                (image_block(format, source()), w)
            }
            MediaKindClaim::Video(claimed) => {
                let (format, w) = self.detect(*claimed, Rule::VideoSize, limits, max_file_bytes)?;
                (video_block(format, source()), w)
            }
            MediaKindClaim::Document {
                claimed,
                name,
                context,
                citations,
            } => {
                let (format, w) =
                    self.detect(*claimed, Rule::DocumentSize, limits, max_file_bytes)?;
                let block = ContentBlock::Document(DocumentBlock {
                    format,
                    name: name.clone(),
                    source: DocumentSource::Bytes(self.bytes.clone()),
                    context: context.clone(),
                    citations: *citations,
                });
                (block, w)
            }
        })
    }
}

fn file_name(path: &Path) -> String {
    path.display().to_string()
}

impl MessageBuilder {
    /// Starts a message for `role`.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            items: Vec::new(),
            error: None,
            limits: None,
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
        self.items.len()
    }

    /// Uses these limits (including their [`FormatPolicy`](crate::format::FormatPolicy)) for this
    /// message, wherever it is built. Without this call, [`build`](Self::build) uses
    /// [`Limits::bedrock`] and a request builder uses its own limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Caps every media item of this message at `bytes`, in addition to the per-kind limit
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

    fn push_item(mut self, item: Item) -> Self {
        if self.error.is_none() {
            self.items.push(item);
        }
        self
    }

    fn push(self, block: ContentBlock) -> Self {
        self.push_item(Item::Block(block))
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

    /// Reads a file, checking it first against the caps known now (this builder's own limits
    /// and [`max_size_bytes`](Self::max_size_bytes)); the limits of the request it joins are
    /// checked when the message is built.
    fn read(&self, path: &Path, rule: Rule) -> Result<Bytes, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        let own = self.limits.map(|l| match rule {
            Rule::ImageSize => l.max_image_bytes,
            Rule::DocumentSize => l.max_document_bytes,
            _ => l.max_video_bytes,
        });
        let cap = match (own, self.max_file_bytes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(cap) = cap
            && len > cap
        {
            return Err(Error::limit(file_name(path), rule, cap, len));
        }
        std::fs::read(path).map(Bytes::from).map_err(io)
    }

    fn media(
        self,
        part: String,
        file_name: Option<&str>,
        bytes: Bytes,
        kind: MediaKindClaim,
    ) -> Self {
        self.push_item(Item::Media(Media {
            part,
            file_name: file_name.map(str::to_owned),
            bytes,
            kind,
        }))
    }

    /// Reads a media file and appends it, named after the file.
    fn media_file(self, path: &Path, rule: Rule, kind: MediaKindClaim) -> Self {
        let name = file_name(path);
        match self.read(path, rule) {
            Ok(bytes) => self.media(name.clone(), Some(&name), bytes, kind),
            Err(e) => self.fail(e),
        }
    }

    fn part(&self) -> String {
        format!("content[{}]", self.items.len())
    }

    /// Appends image bytes of a stated format. When the bytes are another image format, the
    /// bytes win and a warning is recorded, unless the limits say
    /// [`FormatPolicy::ClaimWins`](crate::format::FormatPolicy::ClaimWins); when they are no
    /// image, `build()` fails.
    pub fn image_bytes(self, bytes: impl Into<Bytes>, format: ImageFormat) -> Self {
        let part = self.part();
        self.media(
            part,
            None,
            bytes.into(),
            MediaKindClaim::Image(Some(format)),
        )
    }

    /// Appends image bytes whose format is detected from the content, with `file_name`'s
    /// extension as the claim (like the original's `add_image_bytes(bytes, format=None, filename=..)`).
    pub fn image_bytes_detect(self, bytes: impl Into<Bytes>, file_name: Option<&str>) -> Self {
        let part = file_name.map_or_else(|| self.part(), str::to_owned);
        self.media(part, file_name, bytes.into(), MediaKindClaim::Image(None))
    }

    /// Reads an image file; the format comes from its content and extension.
    pub fn image_file(self, path: impl AsRef<Path>) -> Self {
        self.media_file(path.as_ref(), Rule::ImageSize, MediaKindClaim::Image(None))
    }

    /// Reads an image file of a stated format (the original's `add_local_image(path, format=..)`).
    /// As for [`image_bytes`](Self::image_bytes), the content wins over the stated format unless
    /// the limits say [`FormatPolicy::ClaimWins`](crate::format::FormatPolicy::ClaimWins).
    pub fn image_file_as(self, path: impl AsRef<Path>, format: ImageFormat) -> Self {
        self.media_file(
            path.as_ref(),
            Rule::ImageSize,
            MediaKindClaim::Image(Some(format)),
        )
    }

    /// Appends an image stored in S3 (add [`with_bucket_owner`](Self::with_bucket_owner) for a
    /// bucket of another account).
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

    fn document_claim(&self, claimed: Option<DocumentFormat>, name: String) -> MediaKindClaim {
        MediaKindClaim::Document {
            claimed,
            name: self.document_name(name),
            context: None,
            citations: None,
        }
    }

    /// Appends document bytes of a stated format under `name`.
    pub fn document_bytes(
        self,
        bytes: impl Into<Bytes>,
        format: DocumentFormat,
        name: impl Into<String>,
    ) -> Self {
        let part = self.part();
        let kind = self.document_claim(Some(format), name.into());
        self.media(part, None, bytes.into(), kind)
    }

    /// Appends document bytes whose format is detected from the content and `file_name`'s
    /// extension; the document is named `name`.
    pub fn document_bytes_detect(
        self,
        bytes: impl Into<Bytes>,
        file_name: &str,
        name: impl Into<String>,
    ) -> Self {
        let kind = self.document_claim(None, name.into());
        self.media(file_name.to_owned(), Some(file_name), bytes.into(), kind)
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
    pub fn document_file_named(self, path: impl AsRef<Path>, name: impl Into<String>) -> Self {
        let kind = self.document_claim(None, name.into());
        self.media_file(path.as_ref(), Rule::DocumentSize, kind)
    }

    /// Reads a document file of a stated format under `name` (the original's
    /// `add_local_document(path, format=.., name=..)`). The content wins over the stated format
    /// unless the limits say [`FormatPolicy::ClaimWins`](crate::format::FormatPolicy::ClaimWins).
    pub fn document_file_as(
        self,
        path: impl AsRef<Path>,
        format: DocumentFormat,
        name: impl Into<String>,
    ) -> Self {
        let kind = self.document_claim(Some(format), name.into());
        self.media_file(path.as_ref(), Rule::DocumentSize, kind)
    }

    /// Appends a document stored in S3 under `name` (the original's `add_document_s3`); add
    /// [`with_bucket_owner`](Self::with_bucket_owner) for a bucket of another account, and
    /// [`with_citations`](Self::with_citations) or [`with_context`](Self::with_context) as for
    /// any document.
    pub fn document_s3(
        self,
        uri: impl Into<String>,
        format: DocumentFormat,
        name: impl Into<String>,
    ) -> Self {
        let name = self.document_name(name.into());
        self.push(ContentBlock::Document(DocumentBlock {
            format,
            name,
            source: DocumentSource::S3Location(S3Location {
                uri: uri.into(),
                bucket_owner: None,
            }),
            context: None,
            citations: None,
        }))
    }

    /// Sets the bucket owner (the account id of the bucket, when another account owns it) of
    /// the last block added, if it is an image, document or video from S3 (no effect otherwise).
    pub fn with_bucket_owner(mut self, account_id: impl Into<String>) -> Self {
        let s3 = match self.items.last_mut() {
            Some(Item::Block(ContentBlock::Image(ImageBlock {
                source: MediaSource::S3Location(s3),
                ..
            })))
            | Some(Item::Block(ContentBlock::Video(VideoBlock {
                source: MediaSource::S3Location(s3),
                ..
            })))
            | Some(Item::Block(ContentBlock::Document(DocumentBlock {
                source: DocumentSource::S3Location(s3),
                ..
            }))) => Some(s3),
            _ => None,
        };
        if let Some(s3) = s3 {
            s3.bucket_owner = Some(account_id.into());
        }
        self
    }

    /// Turns on citations for the last document block added (no effect otherwise).
    pub fn with_citations(mut self) -> Self {
        match self.items.last_mut() {
            Some(Item::Block(ContentBlock::Document(d))) => {
                d.citations = Some(CitationsConfig { enabled: true });
            }
            Some(Item::Media(Media {
                kind: MediaKindClaim::Document { citations, .. },
                ..
            })) => *citations = Some(CitationsConfig { enabled: true }),
            _ => {}
        }
        self
    }

    /// Sets the context of the last document block added (no effect otherwise).
    pub fn with_context(mut self, text: impl Into<String>) -> Self {
        match self.items.last_mut() {
            Some(Item::Block(ContentBlock::Document(d))) => d.context = Some(text.into()),
            Some(Item::Media(Media {
                kind: MediaKindClaim::Document { context, .. },
                ..
            })) => *context = Some(text.into()),
            _ => {}
        }
        self
    }

    /// Appends video bytes of a stated format.
    pub fn video_bytes(self, bytes: impl Into<Bytes>, format: VideoFormat) -> Self {
        let part = self.part();
        self.media(
            part,
            None,
            bytes.into(),
            MediaKindClaim::Video(Some(format)),
        )
    }

    /// Appends video bytes whose format is detected from the content and `file_name`'s extension.
    pub fn video_bytes_detect(self, bytes: impl Into<Bytes>, file_name: Option<&str>) -> Self {
        let part = file_name.map_or_else(|| self.part(), str::to_owned);
        self.media(part, file_name, bytes.into(), MediaKindClaim::Video(None))
    }

    /// Reads a video file.
    pub fn video_file(self, path: impl AsRef<Path>) -> Self {
        self.media_file(path.as_ref(), Rule::VideoSize, MediaKindClaim::Video(None))
    }

    /// Reads a video file of a stated format (the original's `add_local_video(path, format=..)`);
    /// the content wins unless the limits say
    /// [`FormatPolicy::ClaimWins`](crate::format::FormatPolicy::ClaimWins).
    pub fn video_file_as(self, path: impl AsRef<Path>, format: VideoFormat) -> Self {
        self.media_file(
            path.as_ref(),
            Rule::VideoSize,
            MediaKindClaim::Video(Some(format)),
        )
    }

    /// Appends a video stored in S3 (add [`with_bucket_owner`](Self::with_bucket_owner) for a
    /// bucket of another account).
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

    /// Appends text for a guardrail with qualifiers saying what the text is to the guardrail's
    /// contextual grounding check (the original's `add_guard_content(text, qualifiers=..)`).
    ///
    /// ```
    /// use bedrock_messages::{GuardQualifier, Message};
    ///
    /// let m = Message::user()
    ///     .guard_text_qualified("The policy allows 30 days.", [GuardQualifier::GroundingSource])
    ///     .guard_text_qualified("How many days?", [GuardQualifier::Query])
    ///     .build()?;
    /// let json = serde_json::to_value(&m).unwrap();
    /// assert_eq!(json["content"][1]["guardContent"]["text"]["qualifiers"][0], "query");
    /// # Ok::<(), bedrock_messages::Error>(())
    /// ```
    pub fn guard_text_qualified(
        self,
        text: impl Into<String>,
        qualifiers: impl IntoIterator<Item = GuardQualifier>,
    ) -> Self {
        let qualifiers: Vec<GuardQualifier> = qualifiers.into_iter().collect();
        self.push(ContentBlock::GuardContent(GuardContentBlock::Text(
            GuardText {
                text: text.into(),
                qualifiers: (!qualifiers.is_empty()).then_some(qualifiers),
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

    /// Appends redacted (encrypted) reasoning, to replay a model's reasoning that the model
    /// returned as `redactedContent` (the original's `add_reasoning_content(redacted_content=..)`).
    pub fn redacted_reasoning(self, bytes: impl Into<Bytes>) -> Self {
        self.push(ContentBlock::ReasoningContent(
            ReasoningContentBlock::RedactedContent(bytes.into()),
        ))
    }

    /// The message and its format warnings, with media checked against `inherited` unless this
    /// builder has limits of its own.
    fn into_parts(self, inherited: &Limits) -> Result<(Message, Vec<Warning>, Limits), Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let limits = self.limits.unwrap_or(*inherited);
        let mut content = Vec::with_capacity(self.items.len());
        let mut warnings = Vec::new();
        for item in self.items {
            match item {
                Item::Block(b) => content.push(b),
                Item::Media(m) => {
                    let (b, w) = m.resolve(&limits, self.max_file_bytes)?;
                    content.push(b);
                    warnings.extend(w);
                }
            }
        }
        Ok((
            Message {
                role: self.role,
                content,
            },
            warnings,
            limits,
        ))
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
        let (m, w, limits) = self.into_parts(&Limits::bedrock())?;
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
    extra_fields: std::collections::BTreeMap<String, Value>,
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
            extra_fields: std::collections::BTreeMap::new(),
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

    /// Appends guarded text to the system prompt, with qualifiers for the guardrail's
    /// contextual grounding check (none: plain guarded text).
    pub fn system_guard_text(
        self,
        text: impl Into<String>,
        qualifiers: impl IntoIterator<Item = GuardQualifier>,
    ) -> Self {
        let qualifiers: Vec<GuardQualifier> = qualifiers.into_iter().collect();
        self.system_block(SystemBlock::GuardContent(GuardContentBlock::Text(
            GuardText {
                text: text.into(),
                qualifiers: (!qualifiers.is_empty()).then_some(qualifiers),
            },
        )))
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

    /// Adds a field of the request body that the request model does not name (a Converse field
    /// newer than this crate), sent verbatim at the top level of the body (the Python library's
    /// `extra_request_fields`). A field the model names fails the build.
    pub fn extra_field(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra_fields.insert(name.into(), value);
        self
    }

    /// Uses these limits (default: [`Limits::bedrock`]), for the request and for every message
    /// builder appended with [`message_builder`](Self::message_builder) that has no limits of
    /// its own (their media sizes and formats are decided with them).
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
                    let (m, w, _) = b.into_parts(&self.limits).map_err(|e| prefix_error(e, i))?;
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
            extra_fields: self.extra_fields,
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
    w.map_part(|part| prefix(part, i))
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
    use crate::format::FormatPolicy;

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
        // A file that cannot be read fails at once; later blocks are not added.
        let b = Message::user()
            .image_file("/nonexistent/picture.png")
            .text("later");
        assert_eq!(b.block_count(), 0);
        assert!(matches!(b.build(), Err(Error::Io { .. })));
        // Media bytes are checked when the limits are known; the first bad block is reported.
        let e = Message::user()
            .image_bytes(b"nope".to_vec(), ImageFormat::Png)
            .image_bytes(Vec::<u8>::new(), ImageFormat::Png)
            .build()
            .unwrap_err();
        assert_eq!(e.part(), Some("content[0]"));
        assert_eq!(e.rule(), Some(Rule::Format));
    }

    fn png_of(len: usize) -> Vec<u8> {
        // A PNG signature, padding, and the IEND trailer: a valid-looking PNG of `len` bytes.
        let mut b = PNG[..8].to_vec();
        b.resize(len - 8, 0);
        b.extend_from_slice(&PNG[12..]);
        b
    }

    #[test]
    fn message_builders_use_the_request_builders_limits() {
        let big = png_of(4_000_000);
        let user = || {
            Message::user()
                .text("x")
                .image_bytes(big.clone(), ImageFormat::Png)
        };
        // Over Bedrock's 3.75 MB image limit: rejected with the default limits.
        let e = ConverseRequest::builder()
            .message_builder(user())
            .build()
            .unwrap_err();
        assert_eq!(e.rule(), Some(Rule::ImageSize));
        assert_eq!(e.part(), Some("messages[0].content[1]"));
        // Raised once on the request builder, it applies to the message builder too.
        let raised = Limits::bedrock().with_max_image_bytes(5_000_000);
        let r = ConverseRequest::builder()
            .limits(raised)
            .message_builder(user())
            .build()
            .unwrap();
        assert!(r.validate(&raised).is_ok());
        assert!(r.validate(&Limits::bedrock()).is_err());
        // A message builder's own limits win over the request builder's.
        let e = ConverseRequest::builder()
            .limits(raised)
            .message_builder(user().limits(Limits::bedrock()))
            .build()
            .unwrap_err();
        assert_eq!(e.rule(), Some(Rule::ImageSize));
        // A lowered limit is also inherited.
        let e = ConverseRequest::builder()
            .limits(Limits::bedrock().with_max_image_bytes(10))
            .message_builder(Message::user().text("x").image_bytes(PNG, ImageFormat::Png))
            .build()
            .unwrap_err();
        assert_eq!(e.rule(), Some(Rule::ImageSize));
    }

    #[test]
    fn an_insisted_format_wins_over_the_content_with_a_warning() {
        let gif_claim = || Message::user().text("x").image_bytes(PNG, ImageFormat::Gif);
        // By default the content wins.
        let r = ConverseRequest::builder()
            .message_builder(gif_claim())
            .build()
            .unwrap();
        assert!(
            matches!(&r.messages[0].content[1], ContentBlock::Image(i) if i.format == ImageFormat::Png)
        );
        assert!(matches!(r.warnings()[0], Warning::FormatMismatch { .. }));
        // Insisting keeps the caller's format, with a warning, and the request validates.
        let insist = Limits::bedrock().with_format_policy(FormatPolicy::ClaimWins);
        let r = ConverseRequest::builder()
            .limits(insist)
            .message_builder(gif_claim())
            .build()
            .unwrap();
        assert!(
            matches!(&r.messages[0].content[1], ContentBlock::Image(i) if i.format == ImageFormat::Gif)
        );
        match &r.warnings()[0] {
            Warning::ClaimedFormatKept {
                part,
                claimed,
                detected,
            } => {
                assert_eq!(part, "messages[0].content[1]");
                assert_eq!((claimed.as_str(), detected.as_str()), ("gif", "png"));
            }
            other => panic!("{other:?}"),
        }
        assert!(r.validate(&insist).is_ok());
        // Checked against limits that do not insist, the same request is rejected.
        assert_eq!(
            r.validate(&Limits::bedrock()).unwrap_err().rule(),
            Some(Rule::Format)
        );
        // An extension is a hint, never a claim: the content still wins when insisting.
        let (m, w) = Message::user()
            .limits(insist)
            .text("x")
            .image_bytes_detect(PNG, Some("photo.jpg"))
            .build_with_warnings()
            .unwrap();
        assert!(matches!(&m.content[1], ContentBlock::Image(i) if i.format == ImageFormat::Png));
        assert!(matches!(w[0], Warning::FormatMismatch { .. }));
    }

    #[test]
    fn an_insisted_format_applies_to_local_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.md");
        std::fs::write(&path, "<html><body>Release notes</body></html>").unwrap();
        let doc = |limits: Limits| {
            Message::user()
                .limits(limits)
                .text("Summarise.")
                .document_file_as(&path, DocumentFormat::Md, "notes")
                .build_with_warnings()
                .unwrap()
        };
        let (m, w) = doc(Limits::bedrock());
        assert!(
            matches!(&m.content[1], ContentBlock::Document(d) if d.format == DocumentFormat::Html)
        );
        assert!(matches!(w[0], Warning::FormatMismatch { .. }));
        let (m, w) = doc(Limits::bedrock().with_format_policy(FormatPolicy::ClaimWins));
        assert!(
            matches!(&m.content[1], ContentBlock::Document(d) if d.format == DocumentFormat::Md && d.name == "notes")
        );
        assert!(w[0].to_string().contains("insisted on md"), "{}", w[0]);
        // A stated image format for a file; unrecognised bytes are sent when insisting.
        let img = dir.path().join("scan.bin");
        std::fs::write(&img, b"not a known signature").unwrap();
        let plain = Message::user()
            .text("x")
            .image_file_as(&img, ImageFormat::Jpeg);
        assert_eq!(plain.build().unwrap_err().rule(), Some(Rule::Format));
        let (m, w) = Message::user()
            .limits(Limits::bedrock().with_format_policy(FormatPolicy::ClaimWins))
            .text("x")
            .image_file_as(&img, ImageFormat::Jpeg)
            .video_file_as(&img, VideoFormat::Mp4)
            .build_with_warnings()
            .unwrap();
        assert!(matches!(&m.content[1], ContentBlock::Image(i) if i.format == ImageFormat::Jpeg));
        assert!(matches!(&m.content[2], ContentBlock::Video(v) if v.format == VideoFormat::Mp4));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn s3_sources_carry_a_bucket_owner_and_are_checked() {
        let m = Message::user()
            .text("Compare.")
            .document_s3("s3://my-bucket/reports/q3.pdf", DocumentFormat::Pdf, "q3")
            .with_bucket_owner("111122223333")
            .with_citations()
            .image_s3("s3://my-bucket/chart.png", ImageFormat::Png)
            .video_s3("s3://my-bucket/clip.mp4", VideoFormat::Mp4)
            .with_bucket_owner("444455556666")
            .build()
            .unwrap();
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json["content"][1]["document"],
            serde_json::json!({
                "format": "pdf",
                "name": "q3",
                "source": {"s3Location": {"uri": "s3://my-bucket/reports/q3.pdf", "bucketOwner": "111122223333"}},
                "citations": {"enabled": true}
            })
        );
        assert_eq!(
            json["content"][2]["image"]["source"],
            serde_json::json!({"s3Location": {"uri": "s3://my-bucket/chart.png"}})
        );
        assert_eq!(
            json["content"][3]["video"]["source"]["s3Location"]["bucketOwner"],
            "444455556666"
        );
        for (uri, owner) in [
            ("https://my-bucket/x.pdf", None),
            ("s3://A_bucket/x.pdf", None),
            ("s3://ab/x.pdf", None),
            ("s3://my-bucket/x.pdf", Some("12345")),
        ] {
            let mut b = Message::user()
                .text("x")
                .document_s3(uri, DocumentFormat::Pdf, "x");
            if let Some(owner) = owner {
                b = b.with_bucket_owner(owner);
            }
            let e = b.build().unwrap_err();
            assert_eq!(e.rule(), Some(Rule::S3Location), "{uri} {owner:?}: {e}");
        }
    }

    #[test]
    fn guard_qualifiers_and_redacted_reasoning_build() {
        let r = ConverseRequest::builder()
            .system_guard_text("Answer from the handbook.", [GuardQualifier::GuardContent])
            .message_builder(
                Message::user()
                    .guard_text_qualified("Leave is 30 days.", [GuardQualifier::GroundingSource])
                    .guard_text_qualified("How long is leave?", [GuardQualifier::Query])
                    .guard_text_qualified("plain", []),
            )
            .message_builder(
                Message::assistant()
                    .redacted_reasoning(vec![1u8, 2, 3])
                    .text("30 days."),
            )
            .user_text("Thanks")
            .build()
            .unwrap();
        let json = r.to_json().unwrap();
        assert_eq!(
            json["system"][0],
            serde_json::json!({"guardContent": {"text": {"text": "Answer from the handbook.", "qualifiers": ["guard_content"]}}})
        );
        assert_eq!(
            json["messages"][0]["content"][0]["guardContent"]["text"]["qualifiers"],
            serde_json::json!(["grounding_source"])
        );
        assert_eq!(
            json["messages"][0]["content"][2],
            serde_json::json!({"guardContent": {"text": {"text": "plain"}}})
        );
        assert_eq!(
            json["messages"][1]["content"][0],
            serde_json::json!({"reasoningContent": {"redactedContent": "AQID"}})
        );
        let back: ConverseRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back.messages, r.messages);
        assert_eq!(back.system, r.system);
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
