//! Streaming: [`LlmManager::converse_stream`] with failover, stall detection and mid-stream
//! recovery.
//!
//! # Semantics
//!
//! A stream starts on the first healthy target, following the same plan, classification and
//! backoff as [`LlmManager::converse`]. Failures before the first event of content are retried
//! silently (the consumer sees one [`StreamEvent::Started`] per target tried).
//!
//! A stream can fail after content has arrived: an exception event, a dropped connection, a stream
//! that ends without `messageStop` (the SDK reports that as a normal end), or no event for longer
//! than [`Timeouts::stream_idle`](crate::Timeouts). The manager then moves to the next target and
//! recovers in one of two ways, announced by a [`StreamEvent::Recovered`] event *before* any content
//! of the new target:
//!
//! - [`RecoveryKind::Continued`]: the text received so far is sent to the next target as the start
//!   of the assistant's answer (assistant prefill), and the new target's deltas continue it. The
//!   consumer keeps what it has and appends. Used when [`StreamRecovery`] allows it, the partial
//!   answer is plain text, and the next model accepts prefill (Anthropic models, per the catalog's
//!   provider, under [`StreamRecovery::Auto`]).
//! - [`RecoveryKind::Restarted`]: the answer starts again from nothing. The consumer must discard
//!   everything it received (the event says how many characters).
//!
//! Text is never silently duplicated or lost: what the consumer holds after applying these rules
//! equals the final [`StreamResponse::text`]. The caller's request is never modified.
//! When recovery is impossible the stream ends with [`Error::StreamFailed`], which carries the
//! partial text and every attempt; a stream never just stops.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, ReasoningContentBlockDelta,
};
use bedrock_messages::{
    ContentBlock, ConverseRequest, Message, Role, StopReason, TokenUsage, ToolUseBlock,
};
use bedrock_retry::{AccessMethod, Attempt, AttemptRecord, Classify, Decision, Target};
use futures::Stream;
use tracing::{Instrument, debug, info_span};

use crate::classify::{AttemptError, BedrockClassifier};
use crate::error::Error;
use crate::manager::{CallOptions, LlmManager};

/// How a stream that fails after content arrived is recovered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamRecovery {
    /// Continue with assistant prefill when the next model is known to accept it (Anthropic),
    /// otherwise restart.
    #[default]
    Auto,
    /// Always continue with assistant prefill (the model must accept a final assistant message).
    Continue,
    /// Always restart the answer.
    Restart,
}

/// How a stream was recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryKind {
    /// The next target continues the text received so far; keep it.
    Continued,
    /// The answer starts again; discard everything received so far.
    Restarted,
}

/// One mid-stream recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// How the answer goes on.
    pub kind: RecoveryKind,
    /// The target that failed.
    pub failed: Target,
    /// Why it failed.
    pub reason: String,
    /// Characters of text received before the failure (kept for `Continued`, to discard for
    /// `Restarted`).
    pub chars: usize,
}

/// One event of a managed stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A target started answering.
    Started {
        /// The target.
        target: Target,
        /// The id or profile in the request path.
        invoke_id: String,
        /// The attempt number within the call.
        attempt: u32,
    },
    /// The stream failed mid-answer and goes on on another target; see [`RecoveryKind`].
    Recovered(Recovery),
    /// Text of content block `index`.
    TextDelta {
        /// The content block index.
        index: u32,
        /// The text.
        text: String,
    },
    /// The model starts a tool call.
    ToolUseStart {
        /// The content block index.
        index: u32,
        /// The tool-use id.
        tool_use_id: String,
        /// The tool name.
        name: String,
    },
    /// A fragment of a tool call's JSON input.
    ToolUseDelta {
        /// The content block index.
        index: u32,
        /// A fragment of JSON text.
        input: String,
    },
    /// Reasoning text.
    ReasoningDelta {
        /// The content block index.
        index: u32,
        /// The text.
        text: String,
    },
    /// Content block `index` is complete.
    BlockStop {
        /// The content block index.
        index: u32,
    },
    /// The model stopped.
    MessageStop {
        /// Why.
        stop_reason: StopReason,
    },
    /// Token usage and server latency, at the end of the stream.
    Metadata {
        /// Token usage.
        usage: TokenUsage,
        /// Server-side latency in milliseconds.
        latency_ms: u64,
    },
    /// The answer is complete; always the last event of a successful stream.
    Completed(Box<StreamResponse>),
}

/// The aggregated result of a managed stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamResponse {
    /// The whole text of the answer (all text blocks, in order, across recoveries).
    pub text: String,
    /// Tool calls, with their parsed JSON input.
    pub tool_uses: Vec<ToolUseBlock>,
    /// Reasoning text, if the model sent any.
    pub reasoning: String,
    /// Why the model stopped.
    pub stop_reason: Option<StopReason>,
    /// Token usage of the final target's stream.
    pub usage: Option<TokenUsage>,
    /// The base model id that finished the answer.
    pub model_id: String,
    /// The id or profile in the request path.
    pub invoke_id: String,
    /// The region that finished the answer.
    pub region: String,
    /// How the model was reached.
    pub access_method: AccessMethod,
    /// Every attempt, the successful one last.
    pub attempts: Vec<AttemptRecord>,
    /// Every mid-stream recovery.
    pub recoveries: Vec<Recovery>,
    /// Time from the call to the first content delta.
    pub time_to_first_token: Option<Duration>,
    /// Time of the whole call.
    pub duration: Duration,
    /// What the caller should know (dropped features, missing metadata).
    pub warnings: Vec<String>,
}

/// A managed Converse stream: a [`Stream`] of [`StreamEvent`]s ending with
/// [`StreamEvent::Completed`], or with one `Err` carrying the partial text and every attempt.
///
/// The call runs inside the stream itself: polling the stream drives it, and dropping it stops
/// the call (no further attempt is made). Events the SDK has already received are handed over in
/// batches, without a task switch per event.
pub struct ConverseStream {
    buffer: Buffer,
    driver: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl std::fmt::Debug for ConverseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConverseStream")
            .field("buffered", &self.buffer.len())
            .field("running", &self.driver.is_some())
            .finish()
    }
}

/// Events produced by the driver and not yet taken by the consumer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<VecDeque<Result<StreamEvent, Error>>>>);

impl Buffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Result<StreamEvent, Error>>> {
        // A panic while holding this lock cannot leave the queue inconsistent: every operation on
        // it is a single push or pop.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, item: Result<StreamEvent, Error>) -> usize {
        let mut queue = self.lock();
        queue.push_back(item);
        queue.len()
    }

    fn pop(&self) -> Option<Result<StreamEvent, Error>> {
        self.lock().pop_front()
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// How many events the driver buffers before it lets the consumer catch up.
const BATCH: usize = 256;

impl Stream for ConverseStream {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(item) = self.buffer.pop() {
                return Poll::Ready(Some(item));
            }
            let Some(driver) = self.driver.as_mut() else {
                return Poll::Ready(None);
            };
            match driver.as_mut().poll(cx) {
                Poll::Ready(()) => self.driver = None,
                Poll::Pending if self.buffer.len() > 0 => {}
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl ConverseStream {
    /// The next event, or `None` after the last.
    pub async fn next_event(&mut self) -> Option<Result<StreamEvent, Error>> {
        futures::StreamExt::next(self).await
    }

    /// Consumes the remaining events and returns the final response.
    ///
    /// # Errors
    /// The stream's error, if it failed.
    pub async fn finish(mut self) -> Result<StreamResponse, Error> {
        while let Some(item) = self.next_event().await {
            if let StreamEvent::Completed(response) = item? {
                return Ok(*response);
            }
        }
        Err(Error::config("the stream ended without a result"))
    }
}

/// Returns `Pending` once (after asking to be polled again), so the consumer can take a full
/// batch of events before the driver goes on.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl LlmManager {
    /// Starts a managed stream for `request`. The request is checked before anything is sent;
    /// the call starts when the stream is first polled.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a request that breaks Bedrock's rules;
    /// [`Error::Configuration`] when the call options leave no target. Failures of the call itself
    /// arrive through the stream.
    pub async fn converse_stream(
        &self,
        request: &ConverseRequest,
    ) -> Result<ConverseStream, Error> {
        self.converse_stream_with(request, &CallOptions::default())
            .await
    }

    /// [`LlmManager::converse_stream`] with per-call options.
    ///
    /// # Errors
    /// As for [`LlmManager::converse_stream`].
    pub async fn converse_stream_with(
        &self,
        request: &ConverseRequest,
        options: &CallOptions,
    ) -> Result<ConverseStream, Error> {
        let prepared = self.prepare(request)?;
        let targets = self.call_targets(options)?;
        let buffer = Buffer::default();
        let manager = self.clone();
        let warnings: Vec<String> = request.warnings().iter().map(ToString::to_string).collect();
        let span = info_span!("converse_stream", auth = manager.auth_kind());
        let out = buffer.clone();
        let driver = async move {
            let mut run = Run::new(manager, prepared, out.clone(), warnings);
            let last = match run.drive(targets).await {
                Ok(response) => Ok(StreamEvent::Completed(Box::new(response))),
                Err(error) => Err(error),
            };
            out.push(last);
        }
        .instrument(span);
        Ok(ConverseStream {
            buffer,
            driver: Some(Box::pin(driver)),
        })
    }
}

/// What the answer holds so far.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    tool_uses: Vec<PendingTool>,
    reasoning: String,
    stop_reason: Option<StopReason>,
    usage: Option<TokenUsage>,
    first_token: Option<Duration>,
    /// Whitespace removed from the end of the prefill; the continuation's leading whitespace is
    /// dropped once to avoid doubling it.
    trimmed_ws: bool,
    /// Block index offset for a continued answer (indices restart on each target).
    message_stopped: bool,
    metadata: bool,
}

#[derive(Debug)]
struct PendingTool {
    index: u32,
    id: String,
    name: String,
    input: String,
}

enum StreamEnd {
    Complete,
    Failed(AttemptError),
}

struct Run {
    manager: LlmManager,
    prepared: ConverseRequest,
    out: Buffer,
    warnings: Vec<String>,
    answer: Answer,
    recoveries: Vec<Recovery>,
    started: Duration,
}

impl Run {
    fn new(
        manager: LlmManager,
        prepared: ConverseRequest,
        out: Buffer,
        warnings: Vec<String>,
    ) -> Self {
        let started = manager.clock_now();
        Self {
            manager,
            prepared,
            out,
            warnings,
            answer: Answer::default(),
            recoveries: Vec::new(),
            started,
        }
    }

    async fn emit(&self, event: StreamEvent) {
        if self.out.push(Ok(event)) >= BATCH {
            YieldNow(false).await;
        }
    }

    async fn drive(&mut self, targets: Vec<Target>) -> Result<StreamResponse, Error> {
        let mut plan = self.manager.plan(targets)?;
        let classifier = BedrockClassifier;
        let mut last_error: Option<Box<AttemptError>> = None;
        let mut pending_recovery: Option<(Target, String)> = None;
        loop {
            match plan.next_decision() {
                Decision::Attempt(attempt) => {
                    self.manager.sleep_for(attempt.delay).await;
                    if let Some((failed, reason)) = pending_recovery.take() {
                        let kind = self.recovery_kind(&attempt.target);
                        let recovery = Recovery {
                            kind,
                            failed,
                            reason,
                            chars: self.answer.text.chars().count(),
                        };
                        if kind == RecoveryKind::Restarted {
                            self.answer = Answer::default();
                        }
                        self.recoveries.push(recovery.clone());
                        self.emit(StreamEvent::Recovered(recovery)).await;
                    }
                    let span = info_span!(
                        "attempt",
                        n = attempt.attempt_number,
                        model = %attempt.target.model,
                        region = %attempt.target.region,
                    );
                    match self.attempt(&attempt).instrument(span).await {
                        StreamEnd::Complete => {
                            plan.record_success();
                            return Ok(self.response(&attempt, plan.into_records()));
                        }
                        StreamEnd::Failed(error) => {
                            let classification = classifier.classify(&error);
                            debug!(class = %classification.class(), %error, "stream attempt failed");
                            plan.record_failure(classification, error.to_string());
                            if self.has_content() {
                                pending_recovery =
                                    Some((attempt.target.clone(), error.to_string()));
                            }
                            last_error = Some(Box::new(error));
                        }
                    }
                }
                Decision::GiveUp(reason) => {
                    return Err(Error::StreamFailed {
                        reason,
                        attempts: plan.into_records(),
                        last_error,
                        partial_text: std::mem::take(&mut self.answer.text),
                    });
                }
                // `record_success` returns above, so the plan cannot report success here.
                Decision::Succeeded => {
                    return Err(Error::StreamFailed {
                        reason: bedrock_retry::GiveUpReason::TargetsExhausted { targets: 0 },
                        attempts: plan.into_records(),
                        last_error,
                        partial_text: std::mem::take(&mut self.answer.text),
                    });
                }
            }
        }
    }

    fn has_content(&self) -> bool {
        !self.answer.text.is_empty()
            || !self.answer.tool_uses.is_empty()
            || !self.answer.reasoning.is_empty()
    }

    fn recovery_kind(&self, next: &Target) -> RecoveryKind {
        let plain_text = self.answer.tool_uses.is_empty() && !self.answer.text.trim().is_empty();
        let allowed = match self.manager.stream_recovery() {
            StreamRecovery::Restart => false,
            StreamRecovery::Continue => true,
            StreamRecovery::Auto => self.manager.accepts_prefill(&next.model),
        };
        if plain_text && allowed {
            RecoveryKind::Continued
        } else {
            RecoveryKind::Restarted
        }
    }

    /// The request for the next attempt: features dropped, and the partial answer as prefill.
    fn request_for(&mut self, attempt: &Attempt) -> ConverseRequest {
        let mut request =
            self.manager
                .request_for_target(&self.prepared, attempt, &mut self.warnings);
        if !self.answer.text.is_empty() {
            let prefix = self.answer.text.trim_end();
            self.answer.trimmed_ws = prefix.len() != self.answer.text.len();
            request.messages.push(Message {
                role: Role::Assistant,
                content: vec![ContentBlock::Text(prefix.to_owned())],
            });
        }
        request
    }

    async fn attempt(&mut self, attempt: &Attempt) -> StreamEnd {
        let Some((client, invoke_id)) = self
            .manager
            .client_for(&attempt.target)
            .map(|(c, id)| (c.clone(), id))
        else {
            return StreamEnd::Failed(AttemptError::Construction {
                message: format!("no client or access for {}", attempt.target),
            });
        };
        let request = self.request_for(attempt);
        let per_attempt = self.manager.attempt_timeout(self.started);
        let builder = match bedrock_messages::sdk::apply_to_converse_stream(
            &request,
            client.converse_stream().model_id(&invoke_id),
        ) {
            Ok(b) => b,
            Err(e) => {
                return StreamEnd::Failed(AttemptError::Construction {
                    message: e.to_string(),
                });
            }
        };
        let mut output = match tokio::time::timeout(per_attempt, builder.send()).await {
            Err(_) => {
                return StreamEnd::Failed(AttemptError::Timeout { after: per_attempt });
            }
            Ok(Err(e)) => return StreamEnd::Failed(AttemptError::from_sdk(&e, per_attempt)),
            Ok(Ok(output)) => output,
        };
        self.emit(StreamEvent::Started {
            target: attempt.target.clone(),
            invoke_id,
            attempt: attempt.attempt_number,
        })
        .await;
        self.answer.message_stopped = false;
        self.answer.metadata = false;
        let idle = self.manager.stream_idle();
        // One idle timer per stream, re-armed only when it fires early: creating a timer per
        // event would cost more than handling the event.
        let mut last_event = tokio::time::Instant::now();
        let stall = tokio::time::sleep_until(last_event + idle);
        tokio::pin!(stall);
        loop {
            let received = tokio::select! {
                biased;
                received = output.stream.recv() => received,
                () = &mut stall => {
                    let deadline = last_event + idle;
                    if tokio::time::Instant::now() >= deadline {
                        return StreamEnd::Failed(AttemptError::Timeout { after: idle });
                    }
                    stall.as_mut().reset(deadline);
                    continue;
                }
            };
            last_event = tokio::time::Instant::now();
            let next = match received {
                Err(e) => return StreamEnd::Failed(stream_error(&e)),
                Ok(None) => {
                    return if self.answer.message_stopped {
                        if !self.answer.metadata {
                            self.warnings.push(
                                "the stream ended without metadata: usage is unknown".to_owned(),
                            );
                        }
                        StreamEnd::Complete
                    } else {
                        StreamEnd::Failed(AttemptError::Response {
                            message: "the stream ended before messageStop".to_owned(),
                        })
                    };
                }
                Ok(Some(event)) => event,
            };
            if let Some(event) = self.apply(next) {
                self.emit(event).await;
            }
            if self.answer.message_stopped && self.answer.metadata {
                return StreamEnd::Complete;
            }
        }
    }

    /// Folds one SDK event into the answer and translates it for the consumer.
    fn apply(&mut self, event: ConverseStreamOutput) -> Option<StreamEvent> {
        let now = self.manager.clock_now();
        match event {
            ConverseStreamOutput::ContentBlockDelta(e) => {
                let index = u32::try_from(e.content_block_index()).unwrap_or(0);
                if self.answer.first_token.is_none() {
                    self.answer.first_token = Some(now.saturating_sub(self.started));
                }
                match e.delta()? {
                    ContentBlockDelta::Text(text) => {
                        let mut text = text.as_str();
                        if self.answer.trimmed_ws {
                            self.answer.trimmed_ws = false;
                            let trimmed = text.trim_start();
                            if trimmed.len() != text.len() {
                                text = trimmed;
                            } else {
                                // The model continued without a space: restore the one removed.
                                self.answer.text.push(' ');
                                let mut with_space = String::from(" ");
                                with_space.push_str(text);
                                self.answer.text.push_str(text);
                                return Some(StreamEvent::TextDelta {
                                    index,
                                    text: with_space,
                                });
                            }
                        }
                        self.answer.text.push_str(text);
                        Some(StreamEvent::TextDelta {
                            index,
                            text: text.to_owned(),
                        })
                    }
                    ContentBlockDelta::ToolUse(t) => {
                        if let Some(tool) = self
                            .answer
                            .tool_uses
                            .iter_mut()
                            .rev()
                            .find(|p| p.index == index)
                        {
                            tool.input.push_str(t.input());
                        }
                        Some(StreamEvent::ToolUseDelta {
                            index,
                            input: t.input().to_owned(),
                        })
                    }
                    ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(text)) => {
                        self.answer.reasoning.push_str(text);
                        Some(StreamEvent::ReasoningDelta {
                            index,
                            text: text.clone(),
                        })
                    }
                    _ => None,
                }
            }
            ConverseStreamOutput::ContentBlockStart(e) => {
                let index = u32::try_from(e.content_block_index()).unwrap_or(0);
                match e.start()? {
                    ContentBlockStart::ToolUse(t) => {
                        self.answer.tool_uses.push(PendingTool {
                            index,
                            id: t.tool_use_id().to_owned(),
                            name: t.name().to_owned(),
                            input: String::new(),
                        });
                        Some(StreamEvent::ToolUseStart {
                            index,
                            tool_use_id: t.tool_use_id().to_owned(),
                            name: t.name().to_owned(),
                        })
                    }
                    _ => None,
                }
            }
            ConverseStreamOutput::ContentBlockStop(e) => Some(StreamEvent::BlockStop {
                index: u32::try_from(e.content_block_index()).unwrap_or(0),
            }),
            ConverseStreamOutput::MessageStop(e) => {
                let stop_reason = StopReason::from(e.stop_reason().as_str());
                self.answer.message_stopped = true;
                self.answer.stop_reason = Some(stop_reason.clone());
                Some(StreamEvent::MessageStop { stop_reason })
            }
            ConverseStreamOutput::Metadata(e) => {
                self.answer.metadata = true;
                let usage = e
                    .usage()
                    .and_then(|u| TokenUsage::try_from(u).ok())
                    .unwrap_or_default();
                let latency_ms = e
                    .metrics()
                    .map_or(0, |m| u64::try_from(m.latency_ms()).unwrap_or(0));
                self.answer.usage = Some(usage);
                Some(StreamEvent::Metadata { usage, latency_ms })
            }
            _ => None,
        }
    }

    fn response(&mut self, attempt: &Attempt, attempts: Vec<AttemptRecord>) -> StreamResponse {
        let answer = std::mem::take(&mut self.answer);
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.extend(crate::manager::dropped_features(attempt));
        let tool_uses = answer
            .tool_uses
            .into_iter()
            .map(|t| ToolUseBlock {
                tool_use_id: t.id,
                name: t.name,
                input: if t.input.trim().is_empty() {
                    serde_json::Value::Object(serde_json::Map::new())
                } else {
                    serde_json::from_str(&t.input).unwrap_or(serde_json::Value::String(t.input))
                },
                kind: None,
            })
            .collect();
        StreamResponse {
            text: answer.text,
            tool_uses,
            reasoning: answer.reasoning,
            stop_reason: answer.stop_reason,
            usage: answer.usage,
            model_id: attempt.target.model.clone(),
            invoke_id: self.manager.invoke_id(&attempt.target).unwrap_or_default(),
            region: attempt.target.region.clone(),
            access_method: attempt.target.access_method,
            attempts,
            recoveries: std::mem::take(&mut self.recoveries),
            time_to_first_token: answer.first_token,
            duration: self.manager.clock_now().saturating_sub(self.started),
            warnings,
        }
    }
}

fn stream_error<E>(err: &SdkError<E, aws_smithy_types::event_stream::RawMessage>) -> AttemptError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => AttemptError::Service {
            code: ctx.err().code().unwrap_or("Unknown").to_owned(),
            message: ctx.err().message().unwrap_or_default().to_owned(),
            status: None,
            request_id: None,
        },
        _ => AttemptError::Response {
            message: DisplayErrorContext(err).to_string(),
        },
    }
}

/// Writes a stream's text to `out` as it arrives, notes recoveries and the final statistics to
/// `stats`, and returns the final response. The command line's `chat --stream` uses it.
///
/// On a restart the text already written cannot be taken back, so `stats` gets a line saying how
/// many characters to disregard.
///
/// # Errors
/// The stream's error, or [`Error::Io`] when writing fails.
pub async fn display(
    mut stream: ConverseStream,
    out: &mut (dyn std::io::Write + Send),
    stats: &mut (dyn std::io::Write + Send),
) -> Result<StreamResponse, Error> {
    while let Some(item) = stream.next_event().await {
        match item? {
            StreamEvent::TextDelta { text, .. } => {
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            StreamEvent::Recovered(r) => match r.kind {
                RecoveryKind::Continued => {
                    writeln!(
                        stats,
                        "[{} failed ({}); continuing on the next target]",
                        r.failed, r.reason
                    )?;
                }
                RecoveryKind::Restarted => {
                    writeln!(
                        stats,
                        "[{} failed ({}); the answer restarts: disregard the {} character(s) above]",
                        r.failed, r.reason, r.chars
                    )?;
                    writeln!(out)?;
                }
            },
            StreamEvent::Completed(response) => {
                writeln!(out)?;
                let usage = response.usage.unwrap_or_default();
                writeln!(
                    stats,
                    "[{} in {} via {}; {} attempt(s); first token {}; total {:.0?}; tokens in/out {}/{}]",
                    response.model_id,
                    response.region,
                    response.access_method,
                    response.attempts.len(),
                    response
                        .time_to_first_token
                        .map_or_else(|| "-".to_owned(), |d| format!("{d:.0?}")),
                    response.duration,
                    usage.input_tokens,
                    usage.output_tokens,
                )?;
                return Ok(*response);
            }
            _ => {}
        }
    }
    Err(Error::config("the stream ended without a result"))
}
