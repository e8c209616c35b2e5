//! Typed answers: a JSON value that matches a schema, through the best mechanism each model has.
//!
//! [`LlmManager::converse_structured`] asks for a value of a Rust type (its schema comes from
//! [`schemars`]); [`LlmManager::converse_structured_value`] asks for a value matching a raw JSON
//! Schema. Both run on the one attempt engine, so failover, feature fallback, deadlines and
//! attempt records are those of [`LlmManager::converse`].
//!
//! # Mechanisms
//!
//! For each target the request is shaped by the best mechanism its model has, from the catalog's
//! capabilities ([`bedrock_catalog::Capabilities`]):
//!
//! | Mechanism | When | The request gets | The answer is read from |
//! |---|---|---|---|
//! | [`Mechanism::Native`] | `structured_output` | `outputConfig.textFormat` of type `json_schema` | the text |
//! | [`Mechanism::ForcedTool`] | `tools` | one tool whose input schema is the schema, and a `toolChoice` naming it | the tool call's input |
//! | [`Mechanism::Prompted`] | otherwise | the schema and an instruction appended to the last user turn | the text (code fences and prose around the JSON are ignored) |
//!
//! When a model rejects its mechanism with a `ValidationException` that names it, feature
//! fallback drops it for that model only ([`Feature::StructuredOutput`], then [`Feature::Tools`])
//! and the same target is asked again through the next mechanism.
//!
//! # Never a value that does not match
//!
//! Each answer is validated against the schema (the `jsonschema` crate) and then deserialised into
//! the type. An answer that fails either is rejected through the engine's response validation: the
//! model is asked again on the same target with the error as feedback, up to the validation
//! budget (the retries of the call's [`ValidationConfig`], else the manager's, else 3), and then
//! the next target is tried. A validator configured on the call or the manager runs after the
//! schema check. A call either returns a value that matches or a [`StructuredError`] that lists
//! every rejected answer and why.

#![allow(
    clippy::result_large_err,
    reason = "StructuredError holds the call's Error itself, so its source chain downcasts to it"
)]

use std::fmt;
use std::sync::Arc;

use bedrock_catalog::Capabilities;
use bedrock_messages::{
    ContentBlock, ConverseRequest, ConverseResponse, Feature, OutputConfig, Role, Tool, ToolChoice,
    ToolConfig, ToolSpec, ToolUseBlock,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::call::{AttemptRecord, CallOptions, ConverseExchange, Engine, Ready, dropped_features};
use crate::error::{Error, ErrorKind};
use crate::manager::LlmManager;
use crate::response::Response;
use crate::validation::{ValidationAttempt, ValidationConfig, ValidationContext, ValidationResult};

mod parallel;
mod stream;

pub use parallel::{StructuredAnswer, StructuredRequest, StructuredService};
pub use stream::{StructuredEvent, StructuredStream, StructuredStreamResponse};

/// How many errors of one answer are quoted in its rejection message.
const MAX_QUOTED_ERRORS: usize = 5;

/// How a typed answer was obtained from a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mechanism {
    /// Bedrock's native structured output (`outputConfig.textFormat` of type `json_schema`).
    Native,
    /// A forced tool call: one tool whose input schema is the schema, named by `toolChoice`.
    ForcedTool,
    /// The schema in the prompt, and the JSON read from the text of the answer.
    Prompted,
}

impl Mechanism {
    /// A short lower-case name (`native`, `forced_tool`, `prompted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::ForcedTool => "forced_tool",
            Self::Prompted => "prompted",
        }
    }

    /// The best mechanism a model with `capabilities` has, after the features feature fallback
    /// `disabled` for it.
    ///
    /// ```
    /// use llmmanager::structured::Mechanism;
    ///
    /// let mut caps = llmmanager::catalog::Capabilities::default();
    /// caps.tools = true;
    /// assert_eq!(Mechanism::for_model(Some(&caps), &[]), Mechanism::ForcedTool);
    /// caps.structured_output = true;
    /// assert_eq!(Mechanism::for_model(Some(&caps), &[]), Mechanism::Native);
    /// assert_eq!(Mechanism::for_model(Some(&caps), &["structured_output"]), Mechanism::ForcedTool);
    /// assert_eq!(Mechanism::for_model(Some(&caps), &["structured_output", "tools"]), Mechanism::Prompted);
    /// ```
    pub fn for_model(capabilities: Option<&Capabilities>, disabled: &[&str]) -> Self {
        let off = |feature: Feature| disabled.contains(&feature.as_str());
        match capabilities {
            Some(c) if c.structured_output && !off(Feature::StructuredOutput) => Self::Native,
            Some(c) if c.tools && !off(Feature::Tools) => Self::ForcedTool,
            _ => Self::Prompted,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JSON Schema, compiled once, that typed answers must match.
///
/// Cheap to clone (the compiled validator is shared).
#[derive(Clone)]
pub struct Schema {
    inner: Arc<SchemaInner>,
}

struct SchemaInner {
    json: Value,
    name: String,
    validator: jsonschema::Validator,
    /// The tool's input schema, when the schema is not an object and is wrapped in `{"value"}`.
    wrapped: Option<Value>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("name", &self.inner.name)
            .field("json", &self.inner.json)
            .finish_non_exhaustive()
    }
}

impl Schema {
    /// Compiles a raw JSON Schema.
    ///
    /// ```
    /// use llmmanager::structured::Schema;
    ///
    /// let schema = Schema::new(serde_json::json!({
    ///     "title": "City",
    ///     "type": "object",
    ///     "properties": {"name": {"type": "string"}},
    ///     "required": ["name"]
    /// }))?;
    /// assert_eq!(schema.name(), "City");
    /// assert!(schema.check(&serde_json::json!({"name": "Paris"})).is_ok());
    /// assert!(schema.check(&serde_json::json!({})).is_err());
    /// # Ok::<(), llmmanager::structured::StructuredError>(())
    /// ```
    ///
    /// # Errors
    /// [`StructuredError::Schema`] when `schema` is not a valid JSON Schema.
    pub fn new(schema: Value) -> Result<Self, StructuredError> {
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| StructuredError::Schema {
                message: e.to_string(),
            })?;
        let name = schema
            .get("title")
            .and_then(Value::as_str)
            .map(tool_name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "answer".to_owned());
        let wrapped =
            (schema.get("type").and_then(Value::as_str) != Some("object")).then(|| wrap(&schema));
        Ok(Self {
            inner: Arc::new(SchemaInner {
                json: schema,
                name,
                validator,
                wrapped,
            }),
        })
    }

    /// The schema of a Rust type, from its [`JsonSchema`] implementation.
    ///
    /// # Errors
    /// [`StructuredError::Schema`] when the generated schema does not compile (it always does
    /// for schemas `schemars` generates).
    pub fn of<T: JsonSchema>() -> Result<Self, StructuredError> {
        Self::new(schemars::schema_for!(T).to_value())
    }

    /// The schema as JSON.
    pub fn json(&self) -> &Value {
        &self.inner.json
    }

    /// The name given to the schema in the request (from its `title`, else `answer`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Checks `value` against the schema.
    ///
    /// # Errors
    /// A message naming where and why the value does not match (up to five errors).
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let errors: Vec<String> = self
            .inner
            .validator
            .iter_errors(value)
            .take(MAX_QUOTED_ERRORS)
            .map(|e| {
                let path = e.instance_path().to_string();
                let at = if path.is_empty() { "/" } else { &path };
                format!("at {at}: {e}")
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the answer does not match the schema: {}",
                errors.join("; ")
            ))
        }
    }

    /// The JSON value of an answer: the input of the schema's tool call if there is one, else
    /// the JSON in the text.
    pub(crate) fn extract<'a>(
        &self,
        text: &str,
        mut tool_uses: impl Iterator<Item = &'a ToolUseBlock>,
    ) -> Result<Value, String> {
        if let Some(tool) = tool_uses.find(|t| t.name == self.inner.name) {
            return Ok(match (&self.inner.wrapped, &tool.input) {
                (Some(_), Value::Object(o)) => o.get("value").cloned().unwrap_or(Value::Null),
                _ => tool.input.clone(),
            });
        }
        json_in_text(text)
    }

    /// Shapes `request` for `mechanism`.
    pub(crate) fn shape(&self, request: &mut ConverseRequest, mechanism: Mechanism) {
        match mechanism {
            Mechanism::Native => {
                request.output_config = Some(OutputConfig::json_schema(
                    &self.inner.json,
                    Some(&self.inner.name),
                ));
            }
            Mechanism::ForcedTool => {
                let schema = self.inner.wrapped.as_ref().unwrap_or(&self.inner.json);
                let spec = ToolSpec::new(
                    self.inner.name.clone(),
                    "Give the answer: the input of this tool is the answer.",
                    schema.clone(),
                );
                let config = request.tool_config.get_or_insert_with(|| ToolConfig {
                    tools: Vec::new(),
                    tool_choice: None,
                });
                config.tools.push(Tool::Spec(spec));
                config.tool_choice = Some(ToolChoice::Tool {
                    name: self.inner.name.clone(),
                });
            }
            Mechanism::Prompted => {
                let instruction = format!(
                    "Answer with one JSON value that follows this JSON Schema, and nothing else (no prose, no code fences):\n{}",
                    self.inner.json
                );
                match request
                    .messages
                    .iter_mut()
                    .rev()
                    .find(|m| m.role == Role::User)
                {
                    Some(message) => message.content.push(ContentBlock::Text(instruction)),
                    None => request.messages.push(bedrock_messages::Message {
                        role: Role::User,
                        content: vec![ContentBlock::Text(instruction)],
                    }),
                }
            }
        }
    }

    /// The validation of one answer: extracted, checked against the schema, deserialised by
    /// `fits` (the type's own check). Rejections carry the answer's JSON text in `details`.
    pub(crate) fn verdict(
        &self,
        text: &str,
        tool_uses: &[ToolUseBlock],
        fits: Fits,
    ) -> Result<Value, ValidationResult> {
        let reject = |message: String, answer: String| {
            ValidationResult::invalid_with_details(message, serde_json::json!({ "answer": answer }))
        };
        let value = self
            .extract(text, tool_uses.iter())
            .map_err(|e| reject(e, text.to_owned()))?;
        let answer = || value.to_string();
        self.check(&value).map_err(|e| reject(e, answer()))?;
        fits(&value).map_err(|e| {
            reject(
                format!("the answer does not fit the expected type: {e}"),
                answer(),
            )
        })?;
        Ok(value)
    }
}

/// Whether a JSON value deserialises into the expected type (a plain function, so it is `'static`
/// whatever the type).
pub(crate) type Fits = fn(&Value) -> Result<(), String>;

fn fits<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    T::deserialize(value).map(drop).map_err(|e| e.to_string())
}

fn fits_any(_: &Value) -> Result<(), String> {
    Ok(())
}

/// `{"type": "object", "properties": {"value": schema}}`, with the schema's definitions hoisted so
/// its local `$ref`s still resolve.
fn wrap(schema: &Value) -> Value {
    let mut inner = schema.clone();
    let mut wrapper = serde_json::Map::new();
    wrapper.insert("type".into(), "object".into());
    if let Value::Object(o) = &mut inner {
        for key in ["$defs", "definitions"] {
            if let Some(defs) = o.remove(key) {
                wrapper.insert(key.into(), defs);
            }
        }
        o.remove("$schema");
    }
    wrapper.insert("properties".into(), serde_json::json!({ "value": inner }));
    wrapper.insert("required".into(), serde_json::json!(["value"]));
    Value::Object(wrapper)
}

/// A tool or schema name Bedrock accepts: `[a-zA-Z0-9_-]{1,64}`.
fn tool_name(title: &str) -> String {
    title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// The JSON value in an answer's text: the whole text, else the inside of a code fence, else the
/// span from the first `{` or `[` to the last `}` or `]`.
fn json_in_text(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let first_error = match serde_json::from_str::<Value>(trimmed) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if let Some(start) = trimmed.find("```") {
        let after = &trimmed[start + 3..];
        let body = after.split_once('\n').map_or(after, |(_, rest)| rest);
        if let Some(end) = body.find("```")
            && let Ok(value) = serde_json::from_str(body[..end].trim())
        {
            return Ok(value);
        }
    }
    let open = trimmed.find(['{', '[']);
    let close = trimmed.rfind(['}', ']']);
    if let (Some(open), Some(close)) = (open, close)
        && open < close
        && let Ok(value) = serde_json::from_str(&trimmed[open..=close])
    {
        return Ok(value);
    }
    Err(format!("the answer is not JSON: {first_error}"))
}

/// The per-target shaping of a typed-answer call, carried in its [`CallOptions`].
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) schema: Schema,
}

impl Shape {
    /// Shapes the attempt's request by the mechanism its model has now.
    pub(crate) fn apply(&self, engine: &Engine, ready: &mut Ready) {
        let mechanism = mechanism_of(
            engine,
            &ready.attempt.target.model,
            &ready.attempt.disabled_features,
        );
        self.schema.shape(&mut ready.request, mechanism);
    }
}

fn mechanism_of(engine: &Engine, model: &str, disabled: &[&str]) -> Mechanism {
    Mechanism::for_model(engine.model(model).map(|m| &m.capabilities), disabled)
}

/// The mechanism of the answering attempt of a call.
fn final_mechanism(engine: &Engine, model: &str, attempts: &[AttemptRecord]) -> Mechanism {
    let disabled = attempts
        .last()
        .map(|a| a.disabled_features.as_slice())
        .unwrap_or_default();
    mechanism_of(engine, model, disabled)
}

/// The validation budget of a structured call: the call's validation, else the manager's, else
/// the defaults of [`ValidationConfig`]; feedback is always on.
fn validation_for(
    engine: &Engine,
    options: &CallOptions,
    schema: &Schema,
    fits: Fits,
) -> ValidationConfig {
    let base = options
        .validation
        .clone()
        .or_else(|| engine.validation.clone());
    let schema = schema.clone();
    let caller = base.clone();
    let mut config = ValidationConfig::with_context(
        move |response: &ConverseResponse, context: &ValidationContext<'_>| {
            let tool_uses: Vec<ToolUseBlock> = response.tool_uses().cloned().collect();
            if let Err(rejection) = schema.verdict(&response.text(), &tool_uses, fits) {
                return rejection;
            }
            match &caller {
                Some(caller) => caller.check(response, context),
                None => ValidationResult::Valid,
            }
        },
    )
    .with_feedback(true);
    if let Some(base) = base {
        config = config.with_retries(base.retries()).with_delay(base.delay());
    }
    config
}

/// A typed answer: the value, how it was obtained, and the whole response.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Structured<T> {
    /// The answer, valid against the schema.
    pub value: T,
    /// The answer as JSON, as validated.
    pub json: Value,
    /// How the answering model was asked.
    pub mechanism: Mechanism,
    /// The full response, with every attempt and every validation (rejected answers included).
    pub response: Response,
}

/// Why a typed-answer call returned no value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StructuredError {
    /// The schema is not a valid JSON Schema. Not retried: nothing was sent.
    #[error("invalid JSON schema: {message}")]
    Schema {
        /// What the schema compiler said.
        message: String,
    },
    /// The call ended without a valid answer: every target failed, or every answer was rejected
    /// within the validation budget. Whether calling again may help follows the source's kind.
    #[error("no valid typed answer ({} answer(s) rejected)", invalid_answers.len())]
    Call {
        /// The call's error, with every attempt.
        #[source]
        source: Error,
        /// Every rejected answer, in order, with the validation error that rejected it.
        invalid_answers: Vec<ValidationAttempt>,
    },
    /// A stream's answers were all rejected within the validation budget. Calling again may
    /// succeed.
    #[error("every streamed answer was rejected ({} answer(s))", invalid_answers.len())]
    Invalid {
        /// Every rejected answer, in order, with the validation error that rejected it.
        invalid_answers: Vec<ValidationAttempt>,
        /// Every attempt of every stream of the call.
        attempts: Vec<AttemptRecord>,
    },
}

impl StructuredError {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Schema { .. } => ErrorKind::InvalidRequest,
            Self::Call { source, .. } => source.kind(),
            Self::Invalid { .. } => ErrorKind::Exhausted,
        }
    }

    /// Every rejected answer, with the validation error that rejected it.
    pub fn invalid_answers(&self) -> &[ValidationAttempt] {
        match self {
            Self::Call {
                invalid_answers, ..
            }
            | Self::Invalid {
                invalid_answers, ..
            } => invalid_answers,
            Self::Schema { .. } => &[],
        }
    }

    /// Every attempt of the call.
    pub fn attempts(&self) -> &[AttemptRecord] {
        match self {
            Self::Call { source, .. } => source.attempts(),
            Self::Invalid { attempts, .. } => attempts,
            Self::Schema { .. } => &[],
        }
    }
}

impl From<Error> for StructuredError {
    fn from(source: Error) -> Self {
        Self::Call {
            source,
            invalid_answers: Vec::new(),
        }
    }
}

impl LlmManager {
    /// Asks for a value of type `T`, whose JSON Schema comes from [`JsonSchema`], through the best
    /// mechanism each target's model has (see [`crate::structured`]).
    ///
    /// ```no_run
    /// # async fn demo(manager: llmmanager::LlmManager) -> Result<(), Box<dyn std::error::Error>> {
    /// use llmmanager::ConverseRequest;
    ///
    /// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    /// struct City {
    ///     name: String,
    ///     population: u64,
    /// }
    ///
    /// let request = ConverseRequest::builder().user_text("The largest city of France?").build()?;
    /// let city = manager.converse_structured::<City>(&request).await?;
    /// println!("{} ({} people), by {}", city.value.name, city.value.population, city.mechanism);
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    ///
    /// # Errors
    /// [`StructuredError::Call`] with every rejected answer when no target gave a valid one
    /// (its source is [`Error::InvalidRequest`] before any call for a bad request).
    pub async fn converse_structured<T: DeserializeOwned + JsonSchema>(
        &self,
        request: &ConverseRequest,
    ) -> Result<Structured<T>, StructuredError> {
        self.converse_structured_with(request, &CallOptions::default())
            .await
    }

    /// [`LlmManager::converse_structured`] with per-call options.
    ///
    /// # Errors
    /// As for [`LlmManager::converse_structured`].
    pub async fn converse_structured_with<T: DeserializeOwned + JsonSchema>(
        &self,
        request: &ConverseRequest,
        options: &CallOptions,
    ) -> Result<Structured<T>, StructuredError> {
        let schema = Schema::of::<T>()?;
        let answer = self
            .structured_inner(request, &schema, options, fits::<T>)
            .await?;
        let value = T::deserialize(&answer.json).map_err(|e| {
            // Unreachable in practice: the validator deserialised this very value.
            StructuredError::Schema {
                message: e.to_string(),
            }
        })?;
        Ok(Structured {
            value,
            json: answer.json,
            mechanism: answer.mechanism,
            response: answer.response,
        })
    }

    /// Asks for a JSON value matching a raw JSON Schema, for callers without a Rust type.
    ///
    /// # Errors
    /// As for [`LlmManager::converse_structured`].
    pub async fn converse_structured_value(
        &self,
        request: &ConverseRequest,
        schema: &Schema,
        options: &CallOptions,
    ) -> Result<Structured<Value>, StructuredError> {
        let answer = self
            .structured_inner(request, schema, options, fits_any)
            .await?;
        Ok(Structured {
            value: answer.json.clone(),
            json: answer.json,
            mechanism: answer.mechanism,
            response: answer.response,
        })
    }

    async fn structured_inner(
        &self,
        request: &ConverseRequest,
        schema: &Schema,
        options: &CallOptions,
        fits: Fits,
    ) -> Result<Answer, StructuredError> {
        let engine = &*self.inner;
        let mut options = options.clone();
        options.structured = Some(Shape {
            schema: schema.clone(),
        });
        let validation = validation_for(engine, &options, schema, fits);
        let prepared = engine.prepare(request).map_err(Error::from)?;
        let targets = self.call_targets(&options)?;
        let started = engine.now();
        let mut warnings: Vec<String> =
            request.warnings().iter().map(ToString::to_string).collect();
        let mut exchange = ConverseExchange::new(engine, Some(&validation));
        let outcome =
            Box::pin(engine.run(&prepared, targets, &options, &mut warnings, &mut exchange)).await;
        let validations = exchange.validations;
        match outcome {
            Ok(done) => {
                warnings.extend(exchange.warnings);
                warnings.extend(dropped_features(&done.attempts));
                let model = done.attempt.target.model.clone();
                let mechanism = final_mechanism(engine, &model, &done.attempts);
                let tool_uses: Vec<ToolUseBlock> = done.value.tool_uses().cloned().collect();
                let json = schema
                    .extract(&done.value.text(), tool_uses.iter())
                    .map_err(|message| StructuredError::Schema { message })?;
                Ok(Answer {
                    json,
                    mechanism,
                    response: Response {
                        output: done.value,
                        model_id: model,
                        invoke_id: done.invoke_id,
                        region: done.attempt.target.region.clone(),
                        access_method: done.attempt.target.access_method,
                        attempts: done.attempts,
                        duration: engine.now().saturating_sub(started),
                        warnings,
                        validations,
                    },
                })
            }
            Err(failed) => Err(StructuredError::Call {
                source: Error::Exhausted {
                    reason: failed.reason,
                    attempts: failed.attempts,
                    last_error: failed.last_error,
                },
                invalid_answers: validations
                    .into_iter()
                    .filter(|v| !v.result.is_valid())
                    .collect(),
            }),
        }
    }
}

/// A validated answer before it is typed.
struct Answer {
    json: Value,
    mechanism: Mechanism,
    response: Response,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_in_fences_and_prose() {
        assert_eq!(
            json_in_text(" {\"a\": 1} ").unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            json_in_text("Here:\n```json\n{\"a\": 1}\n```\nDone.").unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            json_in_text("The answer is [1, 2] as asked.").unwrap(),
            serde_json::json!([1, 2])
        );
        assert!(json_in_text("{\"a\": ").is_err());
        assert!(json_in_text("no json here").is_err());
    }

    #[test]
    fn a_non_object_schema_is_wrapped_for_the_tool() {
        let schema = Schema::new(serde_json::json!({
            "type": "array",
            "items": {"$ref": "#/$defs/N"},
            "$defs": {"N": {"type": "integer"}}
        }))
        .unwrap();
        let wrapped = schema.inner.wrapped.clone().unwrap();
        assert_eq!(wrapped["properties"]["value"]["type"], "array");
        assert_eq!(wrapped["$defs"]["N"]["type"], "integer");
        assert!(
            jsonschema::validator_for(&wrapped)
                .unwrap()
                .is_valid(&serde_json::json!({"value": [1, 2]}))
        );
        let tool = ToolUseBlock {
            tool_use_id: "t".into(),
            name: "answer".into(),
            input: serde_json::json!({"value": [3]}),
            kind: None,
        };
        assert_eq!(
            schema.extract("", std::iter::once(&tool)).unwrap(),
            serde_json::json!([3])
        );
    }

    #[test]
    fn rejections_say_where() {
        let schema = Schema::new(serde_json::json!({
            "type": "object",
            "properties": {"age": {"type": "integer"}},
            "required": ["age"]
        }))
        .unwrap();
        let message = schema.check(&serde_json::json!({"age": "x"})).unwrap_err();
        assert!(message.contains("/age"), "{message}");
        let message = schema.check(&serde_json::json!({})).unwrap_err();
        assert!(message.contains("age"), "{message}");
    }

    #[test]
    fn an_invalid_schema_is_an_error() {
        let error = Schema::new(serde_json::json!({"type": 12})).unwrap_err();
        assert!(matches!(error, StructuredError::Schema { .. }), "{error}");
    }

    #[test]
    fn names_are_what_bedrock_accepts() {
        assert_eq!(tool_name("My City!"), "My_City_");
        assert_eq!(tool_name(&"x".repeat(80)).len(), 64);
    }
}
