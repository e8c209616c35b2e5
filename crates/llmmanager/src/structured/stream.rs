//! Typed answers from a stream: the JSON text as it arrives, the validated value at the end.
//!
//! The stream runs on [`LlmManager::converse_stream_with`], shaped per target like a plain
//! typed-answer call. When the finished answer does not match the schema (or does not fit the
//! type), the model is asked again with the error as feedback, in a new stream, up to the call's
//! validation budget; the consumer is told to discard the JSON text it holds
//! ([`StructuredEvent::Restarted`]).
//!
//! The call's deadline covers every stream of the call, re-asks included.
//!
//! Two differences from [`LlmManager::converse_structured`], because the engine does not validate
//! streams itself: the budget counts the fresh answers of the whole call (not per target), and a
//! validator configured on the call or the manager is not run (only its retry count is used).

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bedrock_messages::{ContentBlock, ConverseRequest, Message, Role};
use futures::Stream;
use futures::stream::BoxStream;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Fits, Mechanism, Schema, Shape, StructuredError, final_mechanism, fits, fits_any};
use crate::call::{AttemptRecord, CallOptions};
use crate::error::Error;
use crate::manager::LlmManager;
use crate::routing::Target;
use crate::stream::{ConverseStream, RecoveryKind, StreamEvent, StreamResponse};
use crate::validation::{ValidationAttempt, ValidationResult};

/// Fresh answers asked for after a rejected one when neither the call nor the manager configures
/// validation (as for [`crate::ValidationConfig::new`]).
const DEFAULT_RETRIES: u32 = 3;

/// One event of a [`StructuredStream`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StructuredEvent<T> {
    /// The next piece of the answer's JSON text: the text of a native or prompted answer, the
    /// input of the forced tool call (wrapped in `{"value": ...}` when the schema is not an
    /// object).
    JsonDelta(String),
    /// Discard the JSON text received so far: the answer starts again (the stream restarted on
    /// another target, or the answer was rejected and the model is asked again).
    Restarted {
        /// Why.
        reason: String,
    },
    /// The valid answer; always the last event of a successful stream.
    Completed(Box<StructuredStreamResponse<T>>),
}

/// The result of a [`StructuredStream`].
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct StructuredStreamResponse<T> {
    /// The answer, valid against the schema.
    pub value: T,
    /// The answer as JSON, as validated.
    pub json: Value,
    /// How the answering model was asked.
    pub mechanism: Mechanism,
    /// The final stream's response.
    pub response: StreamResponse,
    /// Every validation of an answer, in order (rejected answers included).
    pub validations: Vec<ValidationAttempt>,
    /// Every attempt of every stream of the call, the successful one last.
    pub attempts: Vec<AttemptRecord>,
}

/// A typed-answer stream: [`StructuredEvent`]s, ending with [`StructuredEvent::Completed`] or one
/// `Err`. Polling drives the call; dropping it stops the call.
pub struct StructuredStream<T> {
    inner: BoxStream<'static, Result<StructuredEvent<T>, StructuredError>>,
}

impl<T> std::fmt::Debug for StructuredStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StructuredStream").finish_non_exhaustive()
    }
}

impl<T> Stream for StructuredStream<T> {
    type Item = Result<StructuredEvent<T>, StructuredError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T> StructuredStream<T> {
    /// The next event, or `None` after the last.
    pub async fn next_event(&mut self) -> Option<Result<StructuredEvent<T>, StructuredError>> {
        futures::StreamExt::next(self).await
    }

    /// Consumes the remaining events and returns the valid answer.
    ///
    /// # Errors
    /// The stream's error.
    pub async fn finish(mut self) -> Result<StructuredStreamResponse<T>, StructuredError> {
        while let Some(item) = self.next_event().await {
            if let StructuredEvent::Completed(response) = item? {
                return Ok(*response);
            }
        }
        Err(Error::config("the stream ended without a result").into())
    }
}

/// The state of a typed-answer stream between events.
struct State<T> {
    manager: LlmManager,
    request: ConverseRequest,
    options: CallOptions,
    schema: Schema,
    fits: Fits,
    retries: u32,
    current: Option<ConverseStream>,
    /// When the first stream started and the call's deadline, on the manager's clock: each
    /// re-ask gets what is left of it.
    started: Option<Duration>,
    deadline: Duration,
    validations: Vec<ValidationAttempt>,
    attempts: Vec<AttemptRecord>,
    done: bool,
    _value: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> State<T> {
    fn fail(&mut self, mut source: Error) -> Option<Result<StructuredEvent<T>, StructuredError>> {
        self.done = true;
        if let Some(attempts) = source.attempts_mut() {
            let later = std::mem::take(attempts);
            *attempts = self.with_earlier(later);
        }
        Some(Err(StructuredError::Call {
            source,
            invalid_answers: self.rejected(),
        }))
    }

    /// The attempts of the call's earlier streams followed by `later`, numbered across streams
    /// (each stream numbers its own from 1).
    fn with_earlier(&mut self, later: Vec<AttemptRecord>) -> Vec<AttemptRecord> {
        let mut attempts = std::mem::take(&mut self.attempts);
        let offset = attempts.iter().map(|a| a.attempt_number).max().unwrap_or(0);
        attempts.extend(later.into_iter().map(|mut attempt| {
            attempt.attempt_number = attempt.attempt_number.saturating_add(offset);
            attempt
        }));
        attempts
    }

    fn rejected(&self) -> Vec<ValidationAttempt> {
        self.validations
            .iter()
            .filter(|v| !v.result.is_valid())
            .cloned()
            .collect()
    }

    async fn next(&mut self) -> Option<Result<StructuredEvent<T>, StructuredError>> {
        loop {
            if self.done {
                return None;
            }
            let stream = match &mut self.current {
                Some(stream) => stream,
                None => {
                    let now = self.manager.inner.clock.now();
                    let started = *self.started.get_or_insert(now);
                    let left = self.deadline.saturating_sub(now.saturating_sub(started));
                    let options = self.options.clone().with_deadline(left);
                    match self
                        .manager
                        .converse_stream_with(&self.request, &options)
                        .await
                    {
                        Ok(stream) => self.current.insert(stream),
                        Err(error) => return self.fail(error),
                    }
                }
            };
            let event = match stream.next_event().await {
                Some(Ok(event)) => event,
                Some(Err(error)) => return self.fail(error),
                None => return self.fail(Error::config("the stream ended without a result")),
            };
            match event {
                StreamEvent::TextDelta { text, .. } => {
                    return Some(Ok(StructuredEvent::JsonDelta(text)));
                }
                StreamEvent::ToolUseDelta { input, .. } => {
                    return Some(Ok(StructuredEvent::JsonDelta(input)));
                }
                StreamEvent::Recovered(recovery) if recovery.kind == RecoveryKind::Restarted => {
                    return Some(Ok(StructuredEvent::Restarted {
                        reason: recovery.reason,
                    }));
                }
                StreamEvent::Completed(response) => return Some(self.completed(*response)),
                _ => {}
            }
        }
    }

    /// Validates a finished answer: the value, or a fresh stream with feedback, or the error.
    fn completed(
        &mut self,
        response: StreamResponse,
    ) -> Result<StructuredEvent<T>, StructuredError> {
        self.current = None;
        self.attempts = self.with_earlier(response.attempts.clone());
        let number = u32::try_from(self.validations.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let target = Target::new(
            response.model_id.clone(),
            response.region.clone(),
            response.access_method,
        );
        let verdict = self
            .schema
            .verdict(&response.text, &response.tool_uses, self.fits);
        let (result, json) = match verdict {
            Ok(json) => (ValidationResult::Valid, Some(json)),
            Err(rejection) => (rejection, None),
        };
        let message = match &result {
            ValidationResult::Invalid { message, .. } => Some(message.clone()),
            ValidationResult::Valid => None,
        };
        let answer = match &result {
            ValidationResult::Invalid {
                details: Some(details),
                ..
            } => details
                .get("answer")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        self.validations.push(ValidationAttempt {
            target,
            number,
            result,
            rejected_text: message.as_ref().map(|_| response.text.clone()),
        });
        if let Some(json) = json {
            self.done = true;
            let value = T::deserialize(&json).map_err(|e| StructuredError::Schema {
                message: e.to_string(),
            })?;
            let mechanism = {
                let engine = &*self.manager.inner;
                final_mechanism(engine, &response.model_id, &response.attempts)
            };
            return Ok(StructuredEvent::Completed(Box::new(
                StructuredStreamResponse {
                    value,
                    json,
                    mechanism,
                    response,
                    validations: std::mem::take(&mut self.validations),
                    attempts: std::mem::take(&mut self.attempts),
                },
            )));
        }
        let message = message.unwrap_or_default();
        if number > self.retries {
            self.done = true;
            return Err(StructuredError::Invalid {
                invalid_answers: self.rejected(),
                attempts: std::mem::take(&mut self.attempts),
            });
        }
        let answer = answer.unwrap_or_else(|| response.text.clone());
        let answer = if answer.trim().is_empty() {
            "(no text)".to_owned()
        } else {
            answer
        };
        self.request.messages.push(Message {
            role: Role::Assistant,
            content: vec![ContentBlock::Text(answer)],
        });
        self.request.messages.push(Message {
            role: Role::User,
            content: vec![ContentBlock::Text(format!(
                "Your previous answer was rejected by validation: {message}. Please answer again."
            ))],
        });
        Ok(StructuredEvent::Restarted { reason: message })
    }
}

impl LlmManager {
    /// Streams a value of type `T`: the JSON text as it arrives, the validated value at the end
    /// (see [`StructuredStream`]).
    ///
    /// ```no_run
    /// # async fn demo(manager: llmmanager::LlmManager) -> Result<(), Box<dyn std::error::Error>> {
    /// use llmmanager::structured::StructuredEvent;
    ///
    /// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    /// struct Haiku {
    ///     lines: Vec<String>,
    /// }
    ///
    /// let request = llmmanager::ConverseRequest::builder().user_text("A haiku on rust.").build()?;
    /// let mut stream = manager.converse_structured_stream::<Haiku>(&request).await?;
    /// let mut partial = String::new();
    /// while let Some(event) = stream.next_event().await {
    ///     match event? {
    ///         StructuredEvent::JsonDelta(text) => partial.push_str(&text),
    ///         StructuredEvent::Restarted { .. } => partial.clear(),
    ///         StructuredEvent::Completed(done) => println!("{:?}", done.value.lines),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    ///
    /// # Errors
    /// [`StructuredError::Schema`] when `T`'s schema does not compile. Failures of the call
    /// arrive through the stream: [`StructuredError::Call`] when it failed,
    /// [`StructuredError::Invalid`] when every answer was rejected.
    pub async fn converse_structured_stream<T>(
        &self,
        request: &ConverseRequest,
    ) -> Result<StructuredStream<T>, StructuredError>
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
    {
        let schema = Schema::of::<T>()?;
        Ok(self.structured_stream(request, &schema, &CallOptions::default(), fits::<T>))
    }

    /// [`LlmManager::converse_structured_stream`] for a raw JSON Schema, with per-call options.
    pub fn converse_structured_stream_value(
        &self,
        request: &ConverseRequest,
        schema: &Schema,
        options: &CallOptions,
    ) -> StructuredStream<Value> {
        self.structured_stream(request, schema, options, fits_any)
    }

    fn structured_stream<T: DeserializeOwned + Send + 'static>(
        &self,
        request: &ConverseRequest,
        schema: &Schema,
        options: &CallOptions,
        fits: Fits,
    ) -> StructuredStream<T> {
        let mut options = options.clone();
        options.structured = Some(Shape {
            schema: schema.clone(),
        });
        let retries = options
            .validation
            .as_ref()
            .or(self.inner.validation.as_ref())
            .map_or(DEFAULT_RETRIES, crate::ValidationConfig::retries);
        let deadline = self.inner.deadline(&options);
        let state = State::<T> {
            manager: self.clone(),
            request: request.clone(),
            options,
            schema: schema.clone(),
            fits,
            retries,
            current: None,
            started: None,
            deadline,
            validations: Vec::new(),
            attempts: Vec::new(),
            done: false,
            _value: PhantomData,
        };
        let inner = futures::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        });
        StructuredStream {
            inner: Box::pin(inner),
        }
    }
}
