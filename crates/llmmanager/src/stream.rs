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

use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, ReasoningContentBlockDelta,
};
use bedrock_messages::{
    ContentBlock, ConverseRequest, Message, Role, StopReason, TokenUsage, ToolUseBlock,
};
use bedrock_retry::{AccessMethod, AttemptRecord, Target};
use futures::Stream;
use tracing::{Instrument, info_span};

use crate::call::{CallOptions, Done, Engine, Exchange, Ready, StreamRecovery, dropped_features};
use crate::classify::AttemptError;
use crate::error::Error;

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

/// Starts a managed stream of an already prepared request over `targets`; the call runs when the
/// stream is polled.
pub(crate) fn start(
    engine: Arc<Engine>,
    prepared: ConverseRequest,
    targets: Vec<Target>,
    options: CallOptions,
    warnings: Vec<String>,
) -> ConverseStream {
    let buffer = Buffer::default();
    let span = info_span!("converse_stream", auth = engine.auth_kind);
    let out = buffer.clone();
    let driver = async move {
        let mut run = Run::new(&engine, out.clone());
        let last = run
            .drive(&prepared, targets, &options, warnings)
            .await
            .map(|response| StreamEvent::Completed(Box::new(response)));
        out.push(last);
    }
    .instrument(span);
    ConverseStream {
        buffer,
        driver: Some(Box::pin(driver)),
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
    /// Whitespace removed from the end of the text when it was sent as prefill (Bedrock rejects a
    /// final assistant message that ends in whitespace). The consumer already has it, so the
    /// continuation's leading whitespace is matched against it and not repeated; nothing is ever
    /// inserted.
    held_ws: String,
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

impl Exchange for Run<'_> {
    type Output = ();

    async fn send(&mut self, ready: Ready) -> Result<(), AttemptError> {
        let target = ready.attempt.target.clone();
        let result = self.attempt(ready).await;
        if let Err(error) = &result
            && self.has_content()
        {
            self.pending_recovery = Some((target, error.to_string()));
        }
        result
    }
}

/// One stream call: the consumer's buffer and what the answer holds across attempts.
struct Run<'e> {
    engine: &'e Engine,
    out: Buffer,
    answer: Answer,
    recoveries: Vec<Recovery>,
    /// The target that failed after content arrived, and why: the next attempt recovers.
    pending_recovery: Option<(Target, String)>,
    /// Warnings found while reading (missing metadata, a cut after the answer was complete).
    notes: Vec<String>,
    started: Duration,
}

impl<'e> Run<'e> {
    fn new(engine: &'e Engine, out: Buffer) -> Self {
        Self {
            engine,
            out,
            answer: Answer::default(),
            recoveries: Vec::new(),
            pending_recovery: None,
            notes: Vec::new(),
            started: engine.now(),
        }
    }

    async fn emit(&self, event: StreamEvent) {
        if self.out.push(Ok(event)) >= BATCH {
            YieldNow(false).await;
        }
    }

    async fn drive(
        &mut self,
        prepared: &ConverseRequest,
        targets: Vec<Target>,
        options: &CallOptions,
        mut warnings: Vec<String>,
    ) -> Result<StreamResponse, Error> {
        let engine = self.engine;
        let outcome = engine
            .run(prepared, targets, options, &mut warnings, self)
            .await;
        match outcome {
            Ok(done) => {
                warnings.append(&mut self.notes);
                warnings.extend(dropped_features(&done.attempts));
                Ok(self.response(&done, warnings))
            }
            Err(failed) => Err(Error::StreamFailed {
                reason: failed.reason,
                attempts: failed.attempts,
                last_error: failed.last_error,
                partial_text: std::mem::take(&mut self.answer.text),
            }),
        }
    }

    fn has_content(&self) -> bool {
        !self.answer.text.is_empty()
            || !self.answer.tool_uses.is_empty()
            || !self.answer.reasoning.is_empty()
    }

    fn recovery_kind(&self, next: &Target) -> RecoveryKind {
        let plain_text = self.answer.tool_uses.is_empty() && !self.answer.text.trim().is_empty();
        let allowed = match self.engine.stream_recovery {
            StreamRecovery::Restart => false,
            StreamRecovery::Continue => true,
            StreamRecovery::Auto => self.engine.accepts_prefill(&next.model),
        };
        if plain_text && allowed {
            RecoveryKind::Continued
        } else {
            RecoveryKind::Restarted
        }
    }

    /// Announces the recovery of a failed target before the next target's first event.
    async fn recover(&mut self, next: &Target) {
        let Some((failed, reason)) = self.pending_recovery.take() else {
            return;
        };
        let kind = self.recovery_kind(next);
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

    /// The request for this attempt: the target's request, plus the partial answer as prefill.
    fn with_prefill(&mut self, mut request: ConverseRequest) -> ConverseRequest {
        if !self.answer.text.is_empty() {
            let prefix = self.answer.text.trim_end();
            self.answer.held_ws = self.answer.text[prefix.len()..].to_owned();
            request.messages.push(Message {
                role: Role::Assistant,
                content: vec![ContentBlock::Text(prefix.to_owned())],
            });
        }
        request
    }

    async fn attempt(&mut self, ready: Ready) -> Result<(), AttemptError> {
        self.recover(&ready.attempt.target).await;
        let engine = self.engine;
        let request = self.with_prefill(ready.request);
        let headers_timeout = ready.ends_at.saturating_sub(engine.now());
        let builder = bedrock_messages::sdk::apply_to_converse_stream(
            &request,
            ready.client.converse_stream().model_id(&ready.invoke_id),
        )
        .map_err(|e| AttemptError::Construction {
            message: e.to_string(),
        })?;
        let mut output = match tokio::time::timeout(headers_timeout, builder.send()).await {
            Err(_) => {
                return Err(AttemptError::Timeout {
                    after: headers_timeout,
                    deadline: ready.deadline_bound,
                });
            }
            Ok(Err(e)) => return Err(AttemptError::from_sdk(&e, headers_timeout)),
            Ok(Ok(output)) => output,
        };
        self.emit(StreamEvent::Started {
            target: ready.attempt.target.clone(),
            invoke_id: ready.invoke_id.clone(),
            attempt: ready.attempt.attempt_number,
        })
        .await;
        self.answer.message_stopped = false;
        self.answer.metadata = false;
        let idle = engine.timeouts.stream_idle;
        // Reading the stream is bounded by what is left of the call's deadline.
        let time_left = ready
            .attempt
            .time_left
            .map(|left| left.saturating_sub(engine.now().saturating_sub(self.started)));
        let call_end = time_left.and_then(|left| tokio::time::Instant::now().checked_add(left));
        // One idle timer per stream, re-armed only when it fires early: creating a timer per
        // event would cost more than handling the event. A timeout too large for the timer never
        // fires.
        let mut last_event = tokio::time::Instant::now();
        let stall_at = |last: tokio::time::Instant| {
            let idle_end = last.checked_add(idle);
            match (idle_end, call_end) {
                (Some(i), Some(c)) => Some(i.min(c)),
                (i, c) => i.or(c),
            }
        };
        let first = stall_at(last_event);
        let stall = tokio::time::sleep_until(first.unwrap_or(last_event));
        tokio::pin!(stall);
        let timer_armed = first.is_some();
        loop {
            let received = tokio::select! {
                biased;
                received = output.stream.recv() => received,
                () = &mut stall, if timer_armed => {
                    let now = tokio::time::Instant::now();
                    if call_end.is_some_and(|c| now >= c) {
                        return self.cut_short(AttemptError::Timeout {
                            after: time_left.unwrap_or_default(),
                            deadline: true,
                        });
                    }
                    match stall_at(last_event) {
                        Some(at) if now < at => {
                            stall.as_mut().reset(at);
                            continue;
                        }
                        _ => {
                            return self.cut_short(AttemptError::Timeout {
                                after: idle,
                                deadline: false,
                            });
                        }
                    }
                }
            };
            last_event = tokio::time::Instant::now();
            let next = match received {
                Err(e) => return self.cut_short(AttemptError::from_stream(&e)),
                Ok(None) => {
                    return self.cut_short(AttemptError::Response {
                        message: "the stream ended before messageStop".to_owned(),
                    });
                }
                Ok(Some(event)) => event,
            };
            if let Some(event) = self.apply(next) {
                self.emit(event).await;
            }
            if self.answer.message_stopped && self.answer.metadata {
                return Ok(());
            }
        }
    }

    /// A stream that stops early: after `messageStop` the answer is complete (only the usage is
    /// missing), so it is a success with a warning, never a second paid answer; before it, the
    /// attempt failed with `error`.
    fn cut_short(&mut self, error: AttemptError) -> Result<(), AttemptError> {
        if !self.answer.message_stopped {
            return Err(error);
        }
        let note = if matches!(error, AttemptError::Response { .. })
            && error.to_string().contains("before messageStop")
        {
            "the stream ended without metadata: usage is unknown".to_owned()
        } else {
            format!("the stream stopped after the answer was complete ({error}): usage is unknown")
        };
        self.notes.push(note);
        Ok(())
    }

    /// Folds one SDK event into the answer and translates it for the consumer.
    fn apply(&mut self, event: ConverseStreamOutput) -> Option<StreamEvent> {
        let now = self.engine.now();
        match event {
            ConverseStreamOutput::ContentBlockDelta(e) => {
                let index = u32::try_from(e.content_block_index()).unwrap_or(0);
                if self.answer.first_token.is_none() {
                    self.answer.first_token = Some(now.saturating_sub(self.started));
                }
                match e.delta()? {
                    ContentBlockDelta::Text(text) => {
                        let text = self.skip_held_ws(text);
                        if text.is_empty() {
                            return None;
                        }
                        self.answer.text.push_str(&text);
                        Some(StreamEvent::TextDelta { index, text })
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

    /// Drops from the start of a continuation the whitespace the consumer already holds (the part
    /// trimmed from the prefill), as far as the model repeats it. Whitespace the model sends
    /// beyond that is kept; none is ever added.
    fn skip_held_ws(&mut self, text: &str) -> String {
        if self.answer.held_ws.is_empty() {
            return text.to_owned();
        }
        let held = std::mem::take(&mut self.answer.held_ws);
        let common = held
            .chars()
            .zip(text.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum::<usize>();
        if common == text.len() && common < held.len() {
            // The whole delta repeats held whitespace; the rest may come in the next delta.
            self.answer.held_ws = held[common..].to_owned();
        }
        text[common..].to_owned()
    }

    fn response(&mut self, done: &Done<()>, warnings: Vec<String>) -> StreamResponse {
        let answer = std::mem::take(&mut self.answer);
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
            model_id: done.attempt.target.model.clone(),
            invoke_id: done.invoke_id.clone(),
            region: done.attempt.target.region.clone(),
            access_method: done.attempt.target.access_method,
            attempts: done.attempts.clone(),
            recoveries: std::mem::take(&mut self.recoveries),
            time_to_first_token: answer.first_token,
            duration: self.engine.now().saturating_sub(self.started),
            warnings,
        }
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
