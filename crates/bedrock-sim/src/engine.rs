//! The model: request validation, token accounting, prompt-cache bookkeeping and
//! deterministic reply generation for Converse and ConverseStream.
//!
//! This module does no IO. The server hands it a parsed request body and the resolved model;
//! it returns either a Bedrock-like `ValidationException` or a [`Reply`] from which both the
//! JSON response and the event-stream events are rendered, so the two operations always agree.
//!
//! Token counts follow one rule for usage, quotas and caching alike: see [`crate::tokens`].

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::catalog::ModelInfo;
use crate::scenario::{BedrockErrorKind, ScriptedReply, TokenRange};
use crate::schema;
use crate::tokens::{
    self, MESSAGE_TOKENS, REQUEST_TOKENS, SYSTEM_TOKENS, TOOL_PROMPT_TOKENS, TOOL_TOKENS,
    VIDEO_TOKENS, json_tokens, text_tokens,
};
use crate::wire::WireError;

const MAX_CACHE_POINTS: usize = 4;

const WORDS: [&str; 48] = [
    "the",
    "model",
    "answers",
    "with",
    "a",
    "short",
    "and",
    "steady",
    "reply",
    "about",
    "clouds",
    "rivers",
    "tokens",
    "regions",
    "latency",
    "streams",
    "simple",
    "words",
    "that",
    "flow",
    "into",
    "sentences",
    "while",
    "tests",
    "observe",
    "every",
    "event",
    "in",
    "order",
    "so",
    "nothing",
    "surprises",
    "anyone",
    "here",
    "today",
    "bright",
    "quiet",
    "signals",
    "travel",
    "across",
    "loopback",
    "wires",
    "carrying",
    "small",
    "careful",
    "notes",
    "for",
    "you",
];

/// 64-bit FNV-1a, used for deterministic seeding and cache keys.
pub(crate) fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The splitmix64 finalizer: a bijective 64-bit mix, for seeds and ids.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A cache checkpoint in the request: hash of the prefix ending at it and its cumulative tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CachePoint {
    pub(crate) prefix_hash: u64,
    pub(crate) tokens: u64,
    pub(crate) ttl_1h: bool,
}

/// An offered tool.
#[derive(Debug, Clone)]
pub(crate) struct OfferedTool {
    pub(crate) name: String,
    pub(crate) schema: Value,
}

/// What the validator learned about a request.
#[derive(Debug, Clone)]
pub(crate) struct Analysis {
    pub(crate) input_tokens: u64,
    pub(crate) cache_points: Vec<CachePoint>,
    pub(crate) tools: Vec<OfferedTool>,
    /// `Some(None)`: any tool must be used; `Some(Some(name))`: that tool.
    pub(crate) forced_tool: Option<Option<String>>,
    pub(crate) last_is_tool_result: bool,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) stop_sequences: Vec<String>,
    /// `additionalModelResponseFieldPaths`, validated JSON pointers.
    pub(crate) response_field_paths: Vec<String>,
    /// The JSON schema of `outputConfig.textFormat`, when structured output is asked for.
    pub(crate) structured: Option<Value>,
    /// `serviceTier` as sent (validated), echoed in the response.
    pub(crate) service_tier: Option<Value>,
    /// `performanceConfig` as sent (validated), echoed in the response.
    pub(crate) performance: Option<Value>,
    /// The guardrail identifier, when `guardrailConfig` asks for a trace.
    pub(crate) guardrail_trace: Option<String>,
}

fn constraint(value: &str, path: &str, rule: &str) -> WireError {
    WireError::validation(format!(
        "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {rule}"
    ))
}

fn unsupported_block(block: &str) -> WireError {
    WireError::validation(format!(
        "This model doesn't support the {block} content block that you provided. Try again with a supported content block."
    ))
}

fn valid_document_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 200
        && !name.contains("  ")
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "-()[]".contains(c))
}

struct PrefixWalker {
    hash: u64,
    tokens: u64,
    points: Vec<CachePoint>,
}

impl PrefixWalker {
    fn add(&mut self, v: &Value, tokens: u64) {
        // Sorted keys: a client that serialises objects in another order (the SDK's documents
        // are hash maps) still hits the cache with the same request.
        self.hash = fnv1a(self.hash, tokens::canonical_json(v).as_bytes());
        self.tokens += tokens;
    }

    /// Framing tokens (request, message, system and tool-prompt overheads): they count in the
    /// prefix of every later checkpoint; the prefix hash already covers what causes them.
    fn overhead(&mut self, tokens: u64) {
        self.tokens += tokens;
    }

    fn point(&mut self, v: &Value) {
        let ttl_1h = v.get("ttl").and_then(Value::as_str) == Some("1h");
        self.points.push(CachePoint {
            prefix_hash: self.hash,
            tokens: self.tokens,
            ttl_1h,
        });
    }
}

fn block_tokens(
    kind: &str,
    v: &Value,
    role: &str,
    model: &ModelInfo,
    at: &str,
) -> Result<u64, WireError> {
    let caps = &model.caps;
    Ok(match kind {
        "text" => {
            let s = v.as_str().unwrap_or_default();
            if s.trim().is_empty() {
                return Err(WireError::validation(format!(
                    "The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again."
                )));
            }
            text_tokens(s)
        }
        "image" => {
            if !caps.images {
                return Err(unsupported_block("image"));
            }
            if role != "user" {
                return Err(WireError::validation(
                    "Image and document content blocks are only supported in user messages.",
                ));
            }
            tokens::image_tokens(v)
        }
        "document" => {
            if !caps.documents {
                return Err(unsupported_block("document"));
            }
            if role != "user" {
                return Err(WireError::validation(
                    "Image and document content blocks are only supported in user messages.",
                ));
            }
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
            if !valid_document_name(name) {
                return Err(WireError::validation(
                    "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character.",
                ));
            }
            tokens::document_tokens(v)
        }
        "video" => {
            if !caps.video {
                return Err(unsupported_block("video"));
            }
            VIDEO_TOKENS
        }
        "toolUse" => {
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
            TOOL_TOKENS + text_tokens(name) + json_tokens(v.get("input").unwrap_or(&Value::Null))
        }
        "toolResult" => {
            let content: u64 = v
                .get("content")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(tool_result_tokens).sum())
                .unwrap_or(0);
            TOOL_TOKENS + content
        }
        "reasoningContent" => match v.pointer("/reasoningText/text").and_then(Value::as_str) {
            Some(t) => text_tokens(t),
            None => json_tokens(v),
        },
        _ => json_tokens(v),
    })
}

/// Tokens of one `toolResult` content block: text and JSON by their rules, images and
/// documents as in a message.
fn tool_result_tokens(b: &Value) -> u64 {
    match b.as_object().and_then(|o| o.iter().next()) {
        Some((k, Value::String(t))) if k == "text" => text_tokens(t),
        Some((k, v)) if k == "image" => tokens::image_tokens(v),
        Some((k, v)) if k == "document" => tokens::document_tokens(v),
        Some((k, _)) if k == "video" => VIDEO_TOKENS,
        _ => json_tokens(b),
    }
}

/// Validates a Converse request body against the model; returns its analysis.
pub(crate) fn analyze(body: &Value, model: &ModelInfo) -> Result<Analysis, WireError> {
    let caps = &model.caps;
    let mut walker = PrefixWalker {
        hash: fnv1a(0, model.id.as_bytes()),
        tokens: 0,
        points: Vec::new(),
    };
    walker.overhead(REQUEST_TOKENS);

    // Tools come first in the cacheable prefix, then system, then messages.
    let mut tools = Vec::new();
    let mut forced_tool = None;
    if let Some(tc) = body.get("toolConfig") {
        let list = tc.get("tools").and_then(Value::as_array);
        let Some(list) = list.filter(|l| !l.is_empty()) else {
            return Err(constraint(
                "[]",
                "toolConfig.tools",
                "Member must have length greater than or equal to 1",
            ));
        };
        if !caps.tools {
            return Err(WireError::validation(
                "This model doesn't support tool use.",
            ));
        }
        walker.overhead(TOOL_PROMPT_TOKENS);
        for t in list {
            if let Some(cp) = t.get("cachePoint") {
                walker.point(cp);
            } else if let Some(spec) = t.get("toolSpec") {
                let name = spec.get("name").and_then(Value::as_str).unwrap_or_default();
                let ok = !name.is_empty()
                    && name.len() <= 64
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok {
                    return Err(constraint(
                        name,
                        "toolConfig.tools.member.toolSpec.name",
                        "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
                    ));
                }
                walker.add(t, TOOL_TOKENS + json_tokens(spec));
                tools.push(OfferedTool {
                    name: name.to_owned(),
                    schema: spec
                        .pointer("/inputSchema/json")
                        .cloned()
                        .unwrap_or(Value::Null),
                });
            } else {
                walker.add(t, TOOL_TOKENS + json_tokens(t));
            }
        }
        match tc.get("toolChoice") {
            Some(c) if c.get("any").is_some() => forced_tool = Some(None),
            Some(c) => {
                if let Some(n) = c.pointer("/tool/name").and_then(Value::as_str) {
                    if !tools.iter().any(|t| t.name == n) {
                        return Err(WireError::validation(format!(
                            "The tool choice {n} is not among the tools defined in toolConfig.tools."
                        )));
                    }
                    forced_tool = Some(Some(n.to_owned()));
                }
            }
            None => {}
        }
    }

    if let Some(system) = body.get("system").and_then(Value::as_array) {
        if !caps.system_prompt && !system.is_empty() {
            return Err(WireError::validation(
                "This model doesn't support system messages. Try again without a system message.",
            ));
        }
        if system.iter().any(|b| b.get("cachePoint").is_none()) {
            walker.overhead(SYSTEM_TOKENS);
        }
        for (i, b) in system.iter().enumerate() {
            if let Some(cp) = b.get("cachePoint") {
                walker.point(cp);
            } else if let Some(t) = b.get("text") {
                let tokens = block_tokens("text", t, "system", model, &format!("system.{i}"))?;
                walker.add(b, tokens);
            } else {
                walker.add(b, json_tokens(b));
            }
        }
    }

    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut prev_role: Option<&str> = None;
    let mut last_is_tool_result = false;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(constraint(
                role,
                &format!("messages.{}.member.role", i + 1),
                "Member must satisfy enum value set: [user, assistant]",
            ));
        }
        match prev_role {
            None if role != "user" => {
                return Err(WireError::validation(
                    "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
                ));
            }
            Some(p) if p == role => {
                return Err(WireError::validation(
                    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
                ));
            }
            _ => {}
        }
        prev_role = Some(role);
        let content = m
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if content.is_empty() {
            return Err(WireError::validation(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        walker.hash = fnv1a(walker.hash, role.as_bytes());
        walker.overhead(MESSAGE_TOKENS);
        last_is_tool_result = false;
        let mut has_document = false;
        let mut has_text = false;
        for (j, b) in content.iter().enumerate() {
            let Some((kind, v)) = b.as_object().and_then(|o| o.iter().next()) else {
                return Err(WireError::validation(format!(
                    "The ContentBlock object at messages.{i}.content.{j} is empty."
                )));
            };
            if kind == "cachePoint" {
                walker.point(v);
                continue;
            }
            has_document |= kind == "document";
            has_text |= kind == "text";
            last_is_tool_result |= kind == "toolResult";
            let tokens = block_tokens(kind, v, role, model, &format!("messages.{i}.content.{j}"))?;
            walker.add(b, tokens);
        }
        if has_document && !has_text {
            return Err(WireError::validation(
                "A message that contains a document content block must also contain a text content block. Add a text content block to the message and try again.",
            ));
        }
    }
    if messages.is_empty() {
        return Err(WireError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    if walker.points.len() > MAX_CACHE_POINTS {
        return Err(WireError::validation(format!(
            "The model returned the following errors: A maximum of {MAX_CACHE_POINTS} blocks with cache_control may be provided. Found {}.",
            walker.points.len()
        )));
    }

    let mut max_tokens = None;
    let mut stop_sequences = Vec::new();
    if let Some(ic) = body.get("inferenceConfig") {
        if let Some(mt) = ic.get("maxTokens") {
            let n = mt.as_i64().unwrap_or(0);
            if n < 1 {
                return Err(constraint(
                    &mt.to_string(),
                    "inferenceConfig.maxTokens",
                    "Member must have value greater than or equal to 1",
                ));
            }
            let limit = i64::from(caps.max_output_tokens);
            if n > limit {
                return Err(WireError::validation(format!(
                    "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum tokens value that is lower than {limit}."
                )));
            }
            max_tokens = u32::try_from(n).ok();
        }
        for key in ["temperature", "topP"] {
            if let Some(v) = ic.get(key).and_then(Value::as_f64)
                && !(0.0..=1.0).contains(&v)
            {
                let rule = if v < 0.0 {
                    "Member must have value greater than or equal to 0"
                } else {
                    "Member must have value less than or equal to 1"
                };
                return Err(constraint(
                    &v.to_string(),
                    &format!("inferenceConfig.{key}"),
                    rule,
                ));
            }
        }
        if let Some(ss) = ic.get("stopSequences").and_then(Value::as_array) {
            stop_sequences = ss
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
    }

    let response_field_paths = response_field_paths(body)?;
    let structured = structured_schema(body, model)?;
    let service_tier = enum_member(body, "serviceTier", "type", &SERVICE_TIERS)?;
    let performance = enum_member(body, "performanceConfig", "latency", &LATENCIES)?;
    let guardrail_trace = guardrail(body)?;

    Ok(Analysis {
        guardrail_trace,
        response_field_paths,
        structured,
        service_tier,
        performance,
        input_tokens: walker.tokens,
        cache_points: walker.points,
        tools,
        forced_tool,
        last_is_tool_result,
        max_tokens,
        stop_sequences,
    })
}

const SERVICE_TIERS: [&str; 4] = ["priority", "default", "flex", "reserved"];
const GUARDRAIL_TRACES: [&str; 3] = ["enabled", "disabled", "enabled_full"];

/// Validates `guardrailConfig` and returns its identifier when it asks for a trace.
fn guardrail(body: &Value) -> Result<Option<String>, WireError> {
    let Some(g) = body.get("guardrailConfig") else {
        return Ok(None);
    };
    let id = g
        .get("guardrailIdentifier")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if id.is_empty() || id.chars().count() > 2048 {
        return Err(constraint(
            id,
            "guardrailConfig.guardrailIdentifier",
            "Member must have length between 1 and 2048",
        ));
    }
    let version = g
        .get("guardrailVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let numbered = !version.is_empty()
        && version.len() <= 8
        && version.bytes().all(|b| b.is_ascii_digit())
        && !version.starts_with('0');
    if version != "DRAFT" && !numbered {
        return Err(constraint(
            version,
            "guardrailConfig.guardrailVersion",
            "Member must satisfy regular expression pattern: (([1-9][0-9]{0,7})|(DRAFT))",
        ));
    }
    let trace = g.get("trace").and_then(Value::as_str).unwrap_or("disabled");
    if !GUARDRAIL_TRACES.contains(&trace) {
        return Err(constraint(
            trace,
            "guardrailConfig.trace",
            "Member must satisfy enum value set: [enabled, disabled, enabled_full]",
        ));
    }
    Ok((trace != "disabled").then(|| id.to_owned()))
}

/// A guardrail trace in which the guardrail assessed the input and the output and found
/// nothing: invocation metrics and coverage only, as Bedrock reports a pass.
pub(crate) fn guardrail_trace(id: &str, input_chars: u64, output_chars: u64) -> Value {
    let metrics = |chars: u64| {
        json!({
            "guardrailProcessingLatency": 40,
            "usage": {
                "topicPolicyUnits": 1,
                "contentPolicyUnits": 1,
                "wordPolicyUnits": 1,
                "sensitiveInformationPolicyUnits": 1,
                "sensitiveInformationPolicyFreeUnits": 0,
                "contextualGroundingPolicyUnits": 0
            },
            "guardrailCoverage": {"textCharacters": {"guarded": chars, "total": chars}}
        })
    };
    json!({
        "guardrail": {
            "modelOutput": [],
            "inputAssessment": {id: {"invocationMetrics": metrics(input_chars)}},
            "outputAssessments": {id: [{"invocationMetrics": metrics(output_chars)}]}
        }
    })
}
const LATENCIES: [&str; 2] = ["standard", "optimized"];

/// Validates an object whose one member is an enum (`serviceTier.type`,
/// `performanceConfig.latency`); returns the object to echo.
fn enum_member(
    body: &Value,
    field: &str,
    member: &str,
    allowed: &[&str],
) -> Result<Option<Value>, WireError> {
    let Some(v) = body.get(field) else {
        return Ok(None);
    };
    let value = v.get(member).and_then(Value::as_str).unwrap_or_default();
    if !allowed.contains(&value) {
        return Err(constraint(
            value,
            &format!("{field}.{member}"),
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ));
    }
    Ok(Some(json!({ member: value })))
}

/// Validates `outputConfig.textFormat` and returns the parsed JSON schema it asks for.
fn structured_schema(body: &Value, model: &ModelInfo) -> Result<Option<Value>, WireError> {
    let Some(oc) = body.get("outputConfig") else {
        return Ok(None);
    };
    if let Some(effort) = oc.get("effort").and_then(Value::as_str)
        && effort.chars().count() > 16
    {
        return Err(constraint(
            effort,
            "outputConfig.effort",
            "Member must have length less than or equal to 16",
        ));
    }
    let Some(tf) = oc.get("textFormat") else {
        return Ok(None);
    };
    let kind = tf.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind != "json_schema" {
        return Err(constraint(
            kind,
            "outputConfig.textFormat.type",
            "Member must satisfy enum value set: [json_schema]",
        ));
    }
    if !model.caps.structured_output {
        return Err(WireError::validation(format!(
            "This model doesn't support structured outputs ({}). Try again without outputConfig.textFormat or with a model that supports it.",
            model.id
        )));
    }
    let js = tf.pointer("/structure/jsonSchema");
    if let Some(name) = js.and_then(|j| j.get("name")).and_then(Value::as_str) {
        let ok = (1..=64).contains(&name.chars().count())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(constraint(
                name,
                "outputConfig.textFormat.structure.jsonSchema.name",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]{1,64}",
            ));
        }
    }
    let schema = js
        .and_then(|j| j.get("schema"))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(|v| v.is_object());
    match schema {
        Some(s) => Ok(Some(s)),
        None => Err(WireError::validation(
            "The JSON schema in outputConfig.textFormat.structure.jsonSchema.schema is not a valid JSON schema object.",
        )),
    }
}

/// Validates `additionalModelResponseFieldPaths`: at most 10 JSON pointers of 1–256 characters.
fn response_field_paths(body: &Value) -> Result<Vec<String>, WireError> {
    let Some(v) = body.get("additionalModelResponseFieldPaths") else {
        return Ok(Vec::new());
    };
    let list = v.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.len() > 10 {
        return Err(constraint(
            &v.to_string(),
            "additionalModelResponseFieldPaths",
            "Member must have length less than or equal to 10",
        ));
    }
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let s = p.as_str().unwrap_or_default();
        let len = s.chars().count();
        if !(1..=256).contains(&len) {
            return Err(constraint(
                s,
                &format!("additionalModelResponseFieldPaths.{}.member", i + 1),
                "Member must have length between 1 and 256",
            ));
        }
        if !s.starts_with('/') {
            return Err(WireError::validation(format!(
                "The value {s} in additionalModelResponseFieldPaths is not a valid JSON pointer. A JSON pointer starts with '/'."
            )));
        }
        out.push(s.to_owned());
    }
    Ok(out)
}

/// A generated tool call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) input: Value,
}

/// The model's answer, before rendering.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reply {
    pub(crate) text: Option<String>,
    pub(crate) tool: Option<ToolCall>,
    /// Scripted raw content blocks; when set, they are the whole answer.
    pub(crate) raw: Option<Vec<Value>>,
    pub(crate) stop_reason: &'static str,
    /// The stop sequence that ended the text, if one did.
    pub(crate) stop_sequence: Option<String>,
    pub(crate) output_tokens: u64,
    /// `additionalModelResponseFields`, when the request asked for field paths.
    pub(crate) additional: Option<Value>,
    /// `serviceTier` echoed in the response (Converse) or the `metadata` event (stream).
    pub(crate) service_tier: Option<Value>,
    /// `performanceConfig` echoed likewise.
    pub(crate) performance: Option<Value>,
    /// `trace`, when the request's guardrail asked for one.
    pub(crate) trace: Option<Value>,
}

/// Token usage of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_read: u64,
    pub(crate) cache_write: u64,
    /// Whether the cache write has a one-hour time to live (else five minutes).
    pub(crate) cache_write_1h: bool,
}

impl Usage {
    pub(crate) fn to_json(self) -> Value {
        let mut u = json!({
            "inputTokens": self.input,
            "outputTokens": self.output,
            "totalTokens": self.input + self.output + self.cache_read + self.cache_write,
        });
        if self.cache_read > 0 || self.cache_write > 0 {
            u["cacheReadInputTokens"] = self.cache_read.into();
            u["cacheWriteInputTokens"] = self.cache_write.into();
        }
        if self.cache_write > 0 {
            let ttl = if self.cache_write_1h { "1h" } else { "5m" };
            u["cacheDetails"] = json!([{"ttl": ttl, "inputTokens": self.cache_write}]);
        }
        u
    }
}

fn generate_text(rng: &mut StdRng, range: TokenRange) -> String {
    let lo = range.min.max(1);
    let hi = range.max.max(lo);
    let target_chars = u64::from(rng.random_range(lo..=hi)) * 4;
    let mut s = String::with_capacity(usize::try_from(target_chars + 16).unwrap_or(256));
    // The vocabulary is ASCII, so bytes are characters.
    while (s.len() as u64) < target_chars {
        let w = WORDS[rng.random_range(0..WORDS.len())];
        if s.is_empty() {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push(' ');
            s.push_str(w);
        }
    }
    s.push('.');
    s
}

/// Assistant prefill: a conversation that ends with an assistant message asks the model to
/// continue that text. Returns the request without the final assistant message (whose answer
/// the continuation follows) and the prefilled text.
pub(crate) fn split_prefill(body: &Value) -> Option<(Value, String)> {
    let messages = body.get("messages")?.as_array()?;
    let last = messages.last()?;
    if messages.len() < 2 || last.get("role")?.as_str()? != "assistant" {
        return None;
    }
    let text: String = last
        .get("content")?
        .as_array()?
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    if text.is_empty() {
        return None;
    }
    let mut base = body.clone();
    base.get_mut("messages")?.as_array_mut()?.pop();
    Some((base, text))
}

/// Makes `reply` the continuation of `prefix`: when the answer to the conversation without the
/// prefill starts with it, only the rest is sent, so an interrupted answer resumed with prefill
/// reads exactly like the uninterrupted one.
pub(crate) fn continue_after(reply: &mut Reply, prefix: &str) {
    if let Some(text) = &mut reply.text
        && let Some(rest) = text.strip_prefix(prefix)
    {
        *text = rest.to_owned();
        reply.output_tokens = text_tokens(text);
    }
}

/// Inputs to [`generate`] beyond the analysis.
#[derive(Debug)]
pub(crate) struct GenerateInput<'a> {
    pub(crate) rng_seed: u64,
    pub(crate) scripted: Option<&'a ScriptedReply>,
    pub(crate) tool_use_when_offered: bool,
    pub(crate) output_tokens: TokenRange,
    pub(crate) malformed_structured_share: f64,
}

/// The JSON text of a structured-output answer: a seeded instance of the schema, or, for a
/// `malformed_share` of requests, invalid JSON or JSON that violates the schema.
fn structured_text(schema: &Value, rng_seed: u64, malformed_share: f64) -> String {
    let mut rng = StdRng::seed_from_u64(rng_seed ^ 0x5c4e_3a11);
    let malformed = malformed_share > 0.0 && rng.random::<f64>() < malformed_share;
    if !malformed {
        return schema::instance(schema, &mut rng).to_string();
    }
    if rng.random_bool(0.5) {
        // Invalid JSON: the answer breaks off before its last closing bracket.
        let text = schema::instance(schema, &mut rng).to_string();
        let keep = text.chars().count().saturating_sub(1).max(1);
        let mut cut: String = text.chars().take(keep).collect();
        if serde_json::from_str::<Value>(&cut).is_ok() {
            cut.push_str(",\"");
        }
        cut
    } else {
        schema::violation(schema, &mut rng).to_string()
    }
}

/// Produces the deterministic reply for an analysed request.
pub(crate) fn generate(a: &Analysis, input: &GenerateInput<'_>) -> Reply {
    if let Some(blocks) = input.scripted.and_then(|s| s.content.clone()) {
        return raw_reply(blocks);
    }
    let mut rng = StdRng::seed_from_u64(input.rng_seed);
    let scripted_tool = input.scripted.and_then(|s| s.tool_use.as_ref());
    let wants_tool = !a.tools.is_empty()
        && (a.forced_tool.is_some()
            || (!a.last_is_tool_result
                && (scripted_tool.is_some() || input.tool_use_when_offered)));
    if wants_tool {
        let forced_name = a.forced_tool.clone().flatten();
        let name = forced_name
            .or_else(|| scripted_tool.and_then(|t| t.name.clone()))
            .or_else(|| a.tools.first().map(|t| t.name.clone()))
            .unwrap_or_default();
        let schema = a
            .tools
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.schema.clone())
            .unwrap_or(Value::Null);
        let tool_input = scripted_tool
            .and_then(|t| t.input.clone())
            .unwrap_or_else(|| {
                let mut srng = StdRng::seed_from_u64(input.rng_seed ^ 0x7001_5eed);
                match schema::instance(&schema, &mut srng) {
                    v @ Value::Object(_) => v,
                    _ => json!({}),
                }
            });
        let id: String = (0..22)
            .map(|_| {
                let n = rng.random_range(0..62u8);
                char::from(match n {
                    0..=25 => b'a' + n,
                    26..=51 => b'A' + (n - 26),
                    _ => b'0' + (n - 52),
                })
            })
            .collect();
        let text = input.scripted.and_then(|s| s.text.clone());
        let output_tokens = text.as_deref().map(text_tokens).unwrap_or(0)
            + text_tokens(&name)
            + tokens::sent_json_tokens(&tool_input);
        return Reply {
            text,
            tool: Some(ToolCall {
                id: format!("tooluse_{id}"),
                name,
                input: tool_input,
            }),
            stop_reason: "tool_use",
            output_tokens,
            ..Reply::default()
        };
    }
    let mut text = match (input.scripted.and_then(|s| s.text.clone()), &a.structured) {
        (Some(t), _) => t,
        (None, Some(schema)) => {
            structured_text(schema, input.rng_seed, input.malformed_structured_share)
        }
        (None, None) => generate_text(&mut rng, input.output_tokens),
    };
    let mut stop_reason = "end_turn";
    let mut stop_sequence = None;
    if let Some((pos, seq)) = a
        .stop_sequences
        .iter()
        .filter_map(|s| text.find(s.as_str()).map(|p| (p, s)))
        .min_by_key(|(p, _)| *p)
    {
        text.truncate(pos);
        stop_reason = "stop_sequence";
        stop_sequence = Some(seq.clone());
    }
    if let Some(max) = a.max_tokens
        && text_tokens(&text) > u64::from(max)
    {
        text = tokens::truncate_to_tokens(&text, u64::from(max));
        stop_reason = "max_tokens";
    }
    let output_tokens = text_tokens(&text);
    Reply {
        text: Some(text),
        stop_reason,
        stop_sequence,
        output_tokens,
        ..Reply::default()
    }
}

/// A reply made of scripted raw content blocks: `tool_use` when one of them is a `toolUse`,
/// output tokens counted per block (text by the text rule, anything else as JSON).
fn raw_reply(blocks: Vec<Value>) -> Reply {
    let mut output_tokens = 0;
    let mut stop_reason = "end_turn";
    for b in &blocks {
        match b.as_object().and_then(|o| o.iter().next()) {
            Some((k, Value::String(t))) if k == "text" => output_tokens += text_tokens(t),
            Some((k, v)) => {
                if k == "toolUse" {
                    stop_reason = "tool_use";
                }
                output_tokens += tokens::sent_json_tokens(v);
            }
            None => output_tokens += tokens::sent_json_tokens(b),
        }
    }
    Reply {
        raw: Some(blocks),
        stop_reason,
        output_tokens,
        ..Reply::default()
    }
}

/// Renders the Converse JSON response.
pub(crate) fn converse_json(reply: &Reply, usage: Usage, latency_ms: u64) -> Value {
    let mut content = reply.raw.clone().unwrap_or_default();
    if let Some(t) = &reply.text {
        content.push(json!({"text": t}));
    }
    if let Some(tool) = &reply.tool {
        content.push(
            json!({"toolUse": {"toolUseId": tool.id, "name": tool.name, "input": tool.input}}),
        );
    }
    let mut out = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": reply.stop_reason,
        "usage": usage.to_json(),
        "metrics": {"latencyMs": latency_ms},
    });
    if let Some(a) = &reply.additional {
        out["additionalModelResponseFields"] = a.clone();
    }
    if let Some(p) = &reply.performance {
        out["performanceConfig"] = p.clone();
    }
    if let Some(t) = &reply.service_tier {
        out["serviceTier"] = t.clone();
    }
    if let Some(t) = &reply.trace {
        out["trace"] = t.clone();
    }
    out
}

/// One ConverseStream event: `:event-type` plus payload.
pub(crate) type StreamEvent = (&'static str, Value);

/// Renders the ConverseStream events in Bedrock's order.
///
/// Text blocks get no `contentBlockStart`; a tool-use block gets one. Text is split into deltas
/// of about `tokens_per_delta` tokens; tool input into string fragments of the JSON.
pub(crate) fn stream_events(
    reply: &Reply,
    usage: Usage,
    latency_ms: u64,
    tokens_per_delta: u32,
) -> Vec<StreamEvent> {
    let mut ev: Vec<StreamEvent> = vec![("messageStart", json!({"role": "assistant"}))];
    let mut index = 0u32;
    let chunk_chars = usize::try_from(tokens_per_delta.max(1))
        .unwrap_or(1)
        .saturating_mul(4);
    for block in reply.raw.iter().flatten() {
        raw_block_events(&mut ev, index, block, chunk_chars);
        index += 1;
    }
    if let Some(t) = &reply.text {
        let chars: Vec<char> = t.chars().collect();
        for piece in chars.chunks(chunk_chars) {
            let s: String = piece.iter().collect();
            ev.push((
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"text": s}}),
            ));
        }
        ev.push(("contentBlockStop", json!({"contentBlockIndex": index})));
        index += 1;
    }
    if let Some(tool) = &reply.tool {
        ev.push((
            "contentBlockStart",
            json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": tool.id, "name": tool.name}}}),
        ));
        let input = tool.input.to_string();
        let chars: Vec<char> = input.chars().collect();
        for piece in chars.chunks(chunk_chars) {
            let s: String = piece.iter().collect();
            ev.push((
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": s}}}),
            ));
        }
        ev.push(("contentBlockStop", json!({"contentBlockIndex": index})));
    }
    let mut stop = json!({"stopReason": reply.stop_reason});
    if let Some(a) = &reply.additional {
        stop["additionalModelResponseFields"] = a.clone();
    }
    ev.push(("messageStop", stop));
    let mut metadata = json!({"usage": usage.to_json(), "metrics": {"latencyMs": latency_ms}});
    if let Some(p) = &reply.performance {
        metadata["performanceConfig"] = p.clone();
    }
    if let Some(t) = &reply.service_tier {
        metadata["serviceTier"] = t.clone();
    }
    if let Some(t) = &reply.trace {
        metadata["trace"] = t.clone();
    }
    ev.push(("metadata", metadata));
    ev
}

/// The model's native response document that `additionalModelResponseFieldPaths` point into.
///
/// For Anthropic models it carries the Messages API fields Bedrock exposes: `stop_reason`,
/// `stop_sequence` (the matched sequence or null), `usage`, and the streaming `delta` object,
/// so both `/stop_sequence` and `/delta/stop_sequence` resolve. Other providers expose only
/// `stop_reason`.
fn native_response(reply: &Reply, model: &ModelInfo, usage: Usage) -> Value {
    let stop_sequence = reply
        .stop_sequence
        .clone()
        .map_or(Value::Null, Value::String);
    if model.provider.eq_ignore_ascii_case("anthropic") {
        json!({
            "type": "message",
            "role": "assistant",
            "model": model.id,
            "stop_reason": reply.stop_reason,
            "stop_sequence": stop_sequence,
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": stop_sequence},
            "usage": {"input_tokens": usage.input, "output_tokens": usage.output},
        })
    } else {
        json!({"stop_reason": reply.stop_reason})
    }
}

/// Fills `reply.additional` from the requested JSON pointers: each pointer that resolves in the
/// native response is copied to the same path of `additionalModelResponseFields`; pointers that
/// do not resolve are left out.
pub(crate) fn answer_field_paths(
    reply: &mut Reply,
    paths: &[String],
    model: &ModelInfo,
    usage: Usage,
) {
    if paths.is_empty() {
        return;
    }
    let native = native_response(reply, model, usage);
    let mut out = Value::Object(serde_json::Map::new());
    for p in paths {
        let Some(v) = native.pointer(p) else { continue };
        let mut at = &mut out;
        let parts: Vec<String> = p
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        for (i, key) in parts.iter().enumerate() {
            let Some(obj) = at.as_object_mut() else { break };
            if i + 1 == parts.len() {
                obj.insert(key.clone(), v.clone());
                break;
            }
            at = obj
                .entry(key.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
        }
    }
    reply.additional = Some(out);
}

fn chunks(s: &str, chunk_chars: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(chunk_chars.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// Renders one scripted raw content block as stream events, as closely as the event-stream
/// unions allow:
///
/// | block | events |
/// |---|---|
/// | `text` | text deltas, stop |
/// | `toolUse` | start `toolUse {toolUseId, name, type?}`, input JSON fragments, stop |
/// | `reasoningContent` | `reasoningContent` deltas (`text` pieces then `signature`, or `redactedContent`), stop |
/// | `citationsContent` | text deltas of its content, one `citation` delta per citation, stop |
/// | `toolResult` | start `toolResult {toolUseId, status?, type?}`, one `toolResult` delta with its content blocks verbatim, stop |
/// | `image` | start `image {format}`, one `image {source}` delta, stop |
/// | anything else | start holding the block verbatim (`{"audio": {...}}`), stop: the SDK parses it as an unknown start |
fn raw_block_events(ev: &mut Vec<StreamEvent>, index: u32, block: &Value, chunk_chars: usize) {
    let Some((kind, v)) = block.as_object().and_then(|o| o.iter().next()) else {
        ev.push(("contentBlockStop", json!({"contentBlockIndex": index})));
        return;
    };
    let delta = |d: Value| {
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": index, "delta": d}),
        )
    };
    let start = |s: Value| {
        (
            "contentBlockStart",
            json!({"contentBlockIndex": index, "start": s}),
        )
    };
    let pick = |keys: &[&str]| -> Value {
        let mut m = serde_json::Map::new();
        for k in keys {
            if let Some(x) = v.get(*k) {
                m.insert((*k).to_owned(), x.clone());
            }
        }
        Value::Object(m)
    };
    match kind.as_str() {
        "text" => {
            for piece in chunks(v.as_str().unwrap_or_default(), chunk_chars) {
                ev.push(delta(json!({"text": piece})));
            }
        }
        "toolUse" => {
            ev.push(start(
                json!({"toolUse": pick(&["toolUseId", "name", "type"])}),
            ));
            let input = v.get("input").cloned().unwrap_or_else(|| json!({}));
            for piece in chunks(&input.to_string(), chunk_chars) {
                ev.push(delta(json!({"toolUse": {"input": piece}})));
            }
        }
        "reasoningContent" => {
            if let Some(r) = v.get("reasoningText") {
                let text = r.get("text").and_then(Value::as_str).unwrap_or_default();
                for piece in chunks(text, chunk_chars) {
                    ev.push(delta(json!({"reasoningContent": {"text": piece}})));
                }
                if let Some(sig) = r.get("signature") {
                    ev.push(delta(json!({"reasoningContent": {"signature": sig}})));
                }
            } else if let Some(red) = v.get("redactedContent") {
                ev.push(delta(json!({"reasoningContent": {"redactedContent": red}})));
            }
        }
        "citationsContent" => {
            for part in v
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
                for piece in chunks(text, chunk_chars) {
                    ev.push(delta(json!({"text": piece})));
                }
            }
            for c in v
                .get("citations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                ev.push(delta(json!({"citation": c})));
            }
        }
        "toolResult" => {
            ev.push(start(
                json!({"toolResult": pick(&["toolUseId", "status", "type"])}),
            ));
            let content = v.get("content").cloned().unwrap_or_else(|| json!([]));
            ev.push(delta(json!({"toolResult": content})));
        }
        "image" => {
            ev.push(start(json!({"image": pick(&["format"])})));
            if let Some(src) = v.get("source") {
                ev.push(delta(json!({"image": {"source": src}})));
            }
        }
        _ => ev.push(start(block.clone())),
    }
    ev.push(("contentBlockStop", json!({"contentBlockIndex": index})));
}

/// The error for a model whose output is not text.
pub(crate) fn not_a_chat_model() -> WireError {
    WireError::validation(
        "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
    )
}

/// The error for ConverseStream on a model without streaming.
pub(crate) fn no_streaming() -> WireError {
    WireError::validation("The model is unsupported for streaming.")
}

/// The error for a base id that needs an inference profile (wire doc §4.1).
pub(crate) fn profile_only(id: &str) -> WireError {
    WireError::new(
        BedrockErrorKind::ValidationException,
        format!(
            "Invocation of model ID {id} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::Catalog;

    fn haiku() -> ModelInfo {
        let c = Catalog::build(&BTreeMap::new()).unwrap();
        c.models[c
            .model_index("anthropic.claude-3-haiku-20240307-v1:0")
            .unwrap()]
        .clone()
    }

    fn input() -> GenerateInput<'static> {
        GenerateInput {
            rng_seed: 1,
            scripted: None,
            tool_use_when_offered: false,
            output_tokens: TokenRange { min: 20, max: 60 },
            malformed_structured_share: 0.0,
        }
    }

    #[test]
    fn token_rule() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("abcd"), 1);
        assert_eq!(text_tokens("abcde"), 2);
    }

    #[test]
    fn role_order_is_checked() {
        let body = json!({"messages":[{"role":"assistant","content":[{"text":"x"}]}]});
        let e = analyze(&body, &haiku()).unwrap_err();
        assert!(
            e.message
                .starts_with("A conversation must start with a user message")
        );
        let body = json!({"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"user","content":[{"text":"y"}]}]});
        let e = analyze(&body, &haiku()).unwrap_err();
        assert!(e.message.contains("alternate"));
    }

    #[test]
    fn generation_is_deterministic_and_honours_limits() {
        let body = json!({"messages":[{"role":"user","content":[{"text":"hello"}]}],"inferenceConfig":{"maxTokens":3}});
        let a = analyze(&body, &haiku()).unwrap();
        let r1 = generate(&a, &input());
        let r2 = generate(&a, &input());
        assert_eq!(r1, r2);
        assert_eq!(r1.stop_reason, "max_tokens");
        assert_eq!(r1.output_tokens, 3);
    }

    #[test]
    fn stream_events_follow_bedrock_order() {
        let reply = Reply {
            text: Some("hello world".into()),
            stop_reason: "end_turn",
            output_tokens: 3,
            ..Reply::default()
        };
        let ev = stream_events(&reply, Usage::default(), 0, 1);
        let names: Vec<_> = ev.iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
    }

    #[test]
    fn wire_shapes_snapshot() {
        let body = json!({
            "messages": [{"role": "user", "content": [{"text": "What is the weather?"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
                "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]}
        });
        let a = analyze(&body, &haiku()).unwrap();
        let tool = generate(
            &a,
            &GenerateInput {
                tool_use_when_offered: true,
                ..input()
            },
        );
        let usage = Usage {
            input: a.input_tokens,
            output: tool.output_tokens,
            cache_read: 0,
            cache_write: 0,
            cache_write_1h: false,
        };
        insta::assert_json_snapshot!("converse_tool_use", converse_json(&tool, usage, 812));
        let events: Vec<Value> = stream_events(&tool, usage, 812, 3)
            .into_iter()
            .map(|(t, p)| json!({"event": t, "payload": p}))
            .collect();
        insta::assert_json_snapshot!("stream_tool_use", events);
        let text = Reply {
            text: Some("Hello there, friend.".into()),
            stop_reason: "end_turn",
            output_tokens: 5,
            ..Reply::default()
        };
        let usage = Usage {
            input: 10,
            output: 5,
            cache_read: 2048,
            cache_write: 0,
            cache_write_1h: false,
        };
        insta::assert_json_snapshot!("converse_text_cached", converse_json(&text, usage, 20));
    }
}
