//! The validator behind every `build()`.
//!
//! Rules are checked in one pass over the request, in document order, so the first error names
//! the first offending part. Message builders run the per-message rules; the request builder runs
//! them again with request-wide counters (image and document counts, cache points, total size).

use crate::error::Error;
use crate::format::{self, DocumentFormat, FormatPolicy, ImageFormat, MediaFormat, VideoFormat};
use crate::limits::{Limits, Rule, table_max};
use crate::model::{
    ContentBlock, ConverseRequest, DocumentBlock, DocumentSource, GuardContentBlock, ImageBlock,
    MediaSource, Message, Role, S3Location, SystemBlock, Tool, ToolChoice, ToolResultContent,
    VideoBlock,
};

/// Request-wide counters.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) limits: &'a Limits,
    images: usize,
    documents: usize,
    cache_points: usize,
    total: u64,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(limits: &'a Limits) -> Self {
        Self {
            limits,
            images: 0,
            documents: 0,
            cache_points: 0,
            total: 0,
        }
    }

    fn add_bytes(&mut self, part: &str, n: usize) -> Result<(), Error> {
        self.total = self.total.saturating_add(n as u64);
        if self.total > self.limits.max_total_bytes {
            return Err(Error::limit(
                part,
                Rule::TotalSize,
                self.limits.max_total_bytes,
                self.total,
            ));
        }
        Ok(())
    }

    fn add_cache_point(&mut self, part: &str) -> Result<(), Error> {
        self.cache_points += 1;
        if self.cache_points > self.limits.max_cache_points {
            return Err(Error::limit(
                part,
                Rule::CachePoints,
                self.limits.max_cache_points as u64,
                self.cache_points as u64,
            ));
        }
        Ok(())
    }
}

fn check_text(text: &str, part: &str) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::invalid(
            part,
            Rule::EmptyText,
            "text is empty or whitespace only",
        ));
    }
    Ok(())
}

fn check_size(part: &str, rule: Rule, limit: u64, len: usize) -> Result<(), Error> {
    if len == 0 {
        return Err(Error::invalid(part, Rule::EmptyBytes, "0 bytes"));
    }
    if len as u64 > limit {
        return Err(Error::limit(part, rule, limit, len as u64));
    }
    Ok(())
}

/// The stated format must be what the bytes are, unless the caller insisted on it
/// ([`FormatPolicy::ClaimWins`](crate::format::FormatPolicy::ClaimWins)).
fn check_content_matches<F: MediaFormat>(
    part: &str,
    bytes: &[u8],
    claimed: F,
    policy: FormatPolicy,
) -> Result<(), Error> {
    let d = format::detect_with(None, bytes, Some(claimed), part, policy)?;
    if d.format != claimed {
        return Err(Error::UnknownFormat {
            part: part.to_owned(),
            kind: F::KIND,
            detail: format!("claimed {claimed} but content is {}", d.format),
        });
    }
    Ok(())
}

fn check_image(img: &ImageBlock, part: &str, ctx: &mut Ctx<'_>) -> Result<(), Error> {
    ctx.images += 1;
    if ctx.images > ctx.limits.max_images {
        return Err(Error::limit(
            part,
            Rule::ImageCount,
            ctx.limits.max_images as u64,
            ctx.images as u64,
        ));
    }
    check_media_source(&img.source, part)?;
    if let Some(b) = img.source.bytes() {
        check_size(part, Rule::ImageSize, ctx.limits.max_image_bytes, b.len())?;
        check_content_matches::<ImageFormat>(part, b, img.format, ctx.limits.format_policy)?;
        if let Some((w, h)) = format::image_dimensions(b, img.format) {
            let max = ctx.limits.max_image_pixels;
            let big = u64::from(w.max(h));
            if big > max {
                return Err(Error::limit(part, Rule::ImageDimensions, max, big));
            }
        }
        ctx.add_bytes(part, b.len())?;
    }
    Ok(())
}

fn check_document(doc: &DocumentBlock, part: &str, ctx: &mut Ctx<'_>) -> Result<(), Error> {
    ctx.documents += 1;
    if ctx.documents > ctx.limits.max_documents {
        return Err(Error::limit(
            part,
            Rule::DocumentCount,
            ctx.limits.max_documents as u64,
            ctx.documents as u64,
        ));
    }
    format::validate_document_name(&doc.name, part)?;
    match &doc.source {
        DocumentSource::Bytes(b) => {
            check_size(
                part,
                Rule::DocumentSize,
                ctx.limits.max_document_bytes,
                b.len(),
            )?;
            check_content_matches::<DocumentFormat>(part, b, doc.format, ctx.limits.format_policy)?;
            ctx.add_bytes(part, b.len())?;
        }
        DocumentSource::Text(t) => {
            check_text(t, part)?;
            check_size(
                part,
                Rule::DocumentSize,
                ctx.limits.max_document_bytes,
                t.len(),
            )?;
            ctx.add_bytes(part, t.len())?;
        }
        DocumentSource::Content(chunks) => {
            if chunks.is_empty() {
                return Err(Error::invalid(
                    part,
                    Rule::EmptyText,
                    "document content has no chunks",
                ));
            }
        }
        DocumentSource::S3Location(s3) => check_s3(s3, part)?,
    }
    Ok(())
}

fn check_video(v: &VideoBlock, part: &str, ctx: &mut Ctx<'_>) -> Result<(), Error> {
    check_media_source(&v.source, part)?;
    if let Some(b) = v.source.bytes() {
        check_size(part, Rule::VideoSize, ctx.limits.max_video_bytes, b.len())?;
        check_content_matches::<VideoFormat>(part, b, v.format, ctx.limits.format_policy)?;
        ctx.add_bytes(part, b.len())?;
    }
    Ok(())
}

fn check_media_source(source: &MediaSource, part: &str) -> Result<(), Error> {
    match source {
        MediaSource::S3Location(s3) => check_s3(s3, part),
        MediaSource::Bytes(_) => Ok(()),
    }
}

/// Bedrock's shape of an S3 location (`S3Uri` and `AccountId` in the service model):
/// `s3://` and a bucket of 3 to 63 lowercase letters, digits, `.` and `-` that starts and ends
/// with a letter or digit, an optional `/key`, at most 1024 characters; an owner of 12 digits.
fn check_s3(s3: &S3Location, part: &str) -> Result<(), Error> {
    let bad = |detail: String| Err(Error::invalid(part, Rule::S3Location, detail));
    let Some(rest) = s3.uri.strip_prefix("s3://") else {
        return bad(format!("{:?} does not start with s3://", s3.uri));
    };
    let bucket = rest.split('/').next().unwrap_or_default();
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(bucket.chars().next())
        && edge_ok(bucket.chars().last());
    if !bucket_ok {
        return bad(format!("{:?} has no valid bucket name", s3.uri));
    }
    if s3.uri.chars().count() > 1024 {
        return bad("the uri is longer than 1024 characters".to_owned());
    }
    if let Some(owner) = &s3.bucket_owner
        && !(owner.len() == 12 && owner.chars().all(|c| c.is_ascii_digit()))
    {
        return bad(format!(
            "bucket owner {owner:?} is not a 12-digit account id"
        ));
    }
    Ok(())
}

fn check_name(name: &str, part: &str, rule: Rule, extra: &[char]) -> Result<(), Error> {
    let max = table_max(rule);
    let len = name.chars().count();
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(&c));
    if len == 0 || !ok_chars {
        return Err(Error::invalid(part, rule, format!("{name:?}")));
    }
    if len as u64 > max {
        return Err(Error::limit(part, rule, max, len as u64));
    }
    Ok(())
}

fn check_guard(g: &GuardContentBlock, part: &str) -> Result<(), Error> {
    match g {
        GuardContentBlock::Text(t) => check_text(&t.text, part),
        GuardContentBlock::Image(_) => Ok(()),
    }
}

/// Per-message rules; `prefix` is e.g. `messages[2]`.
pub(crate) fn validate_message(m: &Message, prefix: &str, ctx: &mut Ctx<'_>) -> Result<(), Error> {
    if m.content.is_empty() {
        return Err(Error::invalid(
            prefix,
            Rule::EmptyMessages,
            "message has no content blocks",
        ));
    }
    let n = m.content.len();
    if n > ctx.limits.max_blocks_per_message {
        return Err(Error::limit(
            prefix,
            Rule::BlocksPerMessage,
            ctx.limits.max_blocks_per_message as u64,
            n as u64,
        ));
    }
    let mut has_document = None;
    let mut has_text = false;
    for (j, block) in m.content.iter().enumerate() {
        let part = format!("{prefix}.content[{j}]");
        let media_role = |what: &str| -> Result<(), Error> {
            if m.role == Role::User {
                Ok(())
            } else {
                Err(Error::invalid(
                    &part,
                    Rule::MediaRole,
                    format!("{what} in an assistant message"),
                ))
            }
        };
        match block {
            ContentBlock::Text(t) => {
                check_text(t, &part)?;
                has_text = true;
            }
            ContentBlock::Image(img) => {
                media_role("image")?;
                check_image(img, &part, ctx)?;
            }
            ContentBlock::Document(doc) => {
                media_role("document")?;
                check_document(doc, &part, ctx)?;
                has_document.get_or_insert(part.clone());
            }
            ContentBlock::Video(v) => check_video(v, &part, ctx)?,
            ContentBlock::ToolUse(t) => {
                check_name(&t.tool_use_id, &part, Rule::ToolUseId, &['.', ':'])?;
                check_name(&t.name, &part, Rule::ToolName, &[])?;
            }
            ContentBlock::ToolResult(r) => {
                check_name(&r.tool_use_id, &part, Rule::ToolUseId, &['.', ':'])?;
                for (k, c) in r.content.iter().enumerate() {
                    let p = format!("{part}.content[{k}]");
                    match c {
                        ToolResultContent::Image(i) => check_image(i, &p, ctx)?,
                        ToolResultContent::Document(d) => check_document(d, &p, ctx)?,
                        ToolResultContent::Video(v) => check_video(v, &p, ctx)?,
                        ToolResultContent::Json(_) | ToolResultContent::Text(_) => {}
                        ToolResultContent::Unmodelled(raw) => {
                            return Err(Error::conversion(
                                p,
                                format!(
                                    "a {} block cannot be sent: this library keeps it only as raw JSON",
                                    raw.kind()
                                ),
                            ));
                        }
                    }
                }
            }
            ContentBlock::CachePoint(_) => ctx.add_cache_point(&part)?,
            ContentBlock::GuardContent(g) => check_guard(g, &part)?,
            ContentBlock::ReasoningContent(_) | ContentBlock::CitationsContent(_) => {}
            ContentBlock::Unmodelled(raw) => {
                return Err(Error::conversion(
                    part,
                    format!(
                        "a {} block cannot be sent: this library keeps it only as raw JSON",
                        raw.kind()
                    ),
                ));
            }
        }
    }
    if let (Some(part), false) = (has_document, has_text) {
        return Err(Error::invalid(
            part,
            Rule::DocumentNeedsText,
            "add a text block to this message",
        ));
    }
    Ok(())
}

/// Every rule, on a whole request.
pub(crate) fn validate_request(req: &ConverseRequest, limits: &Limits) -> Result<(), Error> {
    let mut ctx = Ctx::new(limits);
    for name in req.extra_fields.keys() {
        if name.is_empty() || crate::model::REQUEST_FIELDS.contains(&name.as_str()) {
            return Err(Error::invalid(
                format!("extra field {name:?}"),
                Rule::ExtraField,
                "set the request's own field instead",
            ));
        }
    }
    // Bedrock's cache prefix order is tools, system, messages; count cache points in that order.
    if let Some(tc) = &req.tool_config {
        if tc.tools.is_empty() {
            return Err(Error::invalid(
                "toolConfig.tools",
                Rule::EmptyTools,
                "no tools",
            ));
        }
        for (i, t) in tc.tools.iter().enumerate() {
            let part = format!("toolConfig.tools[{i}]");
            match t {
                Tool::Spec(s) => check_name(&s.name, &part, Rule::ToolName, &[])?,
                Tool::SystemTool(s) => check_name(&s.name, &part, Rule::ToolName, &[])?,
                Tool::CachePoint(_) => ctx.add_cache_point(&part)?,
            }
        }
        if let Some(ToolChoice::Tool { name }) = &tc.tool_choice {
            check_name(name, "toolConfig.toolChoice", Rule::ToolName, &[])?;
        }
    }
    for (i, s) in req.system.iter().enumerate() {
        let part = format!("system[{i}]");
        match s {
            SystemBlock::Text(t) => check_text(t, &part)?,
            SystemBlock::GuardContent(g) => check_guard(g, &part)?,
            SystemBlock::CachePoint(_) => ctx.add_cache_point(&part)?,
        }
    }
    if req.messages.is_empty() {
        return Err(Error::invalid(
            "messages",
            Rule::EmptyMessages,
            "a request needs at least one message",
        ));
    }
    let mut prev: Option<Role> = None;
    for (i, m) in req.messages.iter().enumerate() {
        let prefix = format!("messages[{i}]");
        match (prev, m.role) {
            (None, Role::Assistant) => {
                return Err(Error::invalid(
                    prefix,
                    Rule::RoleOrder,
                    "the first message must be from the user",
                ));
            }
            (Some(p), r) if p == r => {
                return Err(Error::invalid(
                    prefix,
                    Rule::RoleOrder,
                    format!("two {r} messages in a row"),
                ));
            }
            _ => {}
        }
        prev = Some(m.role);
        validate_message(m, &prefix, &mut ctx)?;
    }
    if let Some(ic) = &req.inference_config {
        if let Some(mt) = ic.max_tokens
            && (mt == 0 || i32::try_from(mt).is_err())
        {
            return Err(Error::invalid(
                "inferenceConfig.maxTokens",
                Rule::MaxTokens,
                mt.to_string(),
            ));
        }
        for (name, v) in [
            ("inferenceConfig.temperature", ic.temperature),
            ("inferenceConfig.topP", ic.top_p),
        ] {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                return Err(Error::invalid(name, Rule::Probability, v.to_string()));
            }
        }
    }
    let paths = req.additional_model_response_field_paths.len() as u64;
    let max = table_max(Rule::ResponseFieldPaths);
    if paths > max {
        return Err(Error::limit(
            "additionalModelResponseFieldPaths",
            Rule::ResponseFieldPaths,
            max,
            paths,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CachePointBlock, ToolConfig, ToolSpec};

    fn msg(role: Role, text: &str) -> Message {
        Message {
            role,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    fn req(messages: Vec<Message>) -> ConverseRequest {
        ConverseRequest {
            messages,
            system: Vec::new(),
            inference_config: None,
            tool_config: None,
            guardrail_config: None,
            additional_model_request_fields: None,
            additional_model_response_field_paths: Vec::new(),
            request_metadata: Default::default(),
            performance_config: None,
            prompt_variables: Default::default(),
            output_config: None,
            service_tier: None,
            extra_fields: Default::default(),
            warnings: Vec::new(),
        }
    }

    #[track_caller]
    fn check(r: &ConverseRequest, want: Option<(Rule, &str)>) {
        let got = validate_request(r, &Limits::bedrock()).err();
        let got = got.as_ref().map(|e| (e.rule().unwrap(), e.part().unwrap()));
        assert_eq!(got, want);
    }

    #[test]
    fn roles_alternate_from_user() {
        check(
            &req(vec![msg(Role::User, "a"), msg(Role::Assistant, "b")]),
            None,
        );
        check(
            &req(vec![msg(Role::Assistant, "a")]),
            Some((Rule::RoleOrder, "messages[0]")),
        );
        check(
            &req(vec![
                msg(Role::User, "a"),
                msg(Role::Assistant, "b"),
                msg(Role::Assistant, "c"),
            ]),
            Some((Rule::RoleOrder, "messages[2]")),
        );
    }

    #[test]
    fn cache_points_count_tools_then_system_then_messages() {
        let mut r = req(vec![msg(Role::User, "a")]);
        r.tool_config = Some(ToolConfig {
            tools: vec![
                Tool::Spec(ToolSpec::new("t", "d", serde_json::json!({}))),
                Tool::CachePoint(CachePointBlock::new()),
            ],
            tool_choice: None,
        });
        r.system = vec![SystemBlock::CachePoint(CachePointBlock::new()); 3];
        check(&r, None);
        r.system
            .push(SystemBlock::CachePoint(CachePointBlock::new()));
        check(&r, Some((Rule::CachePoints, "system[3]")));
    }

    #[test]
    fn whitespace_text_is_empty() {
        check(
            &req(vec![msg(Role::User, " \n\t")]),
            Some((Rule::EmptyText, "messages[0].content[0]")),
        );
    }

    #[test]
    fn claimed_format_must_match_content_on_assembled_requests() {
        let png = vec![
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0, b'I', b'E', b'N', b'D',
            0xAE, 0x42, 0x60, 0x82,
        ];
        let mut m = msg(Role::User, "x");
        m.content.push(ContentBlock::Image(ImageBlock {
            format: ImageFormat::Gif,
            source: crate::model::MediaSource::Bytes(png.into()),
        }));
        check(
            &req(vec![m]),
            Some((Rule::Format, "messages[0].content[1]")),
        );
    }
}
