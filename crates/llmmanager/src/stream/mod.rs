//! Streaming: [`LlmManager::converse_stream`] with failover, stall detection and mid-stream
//! recovery.
//!
//! # Semantics
//!
//! A stream starts on the first healthy target, following the same plan, classification and
//! backoff as [`LlmManager::converse`]. Failures before the first event of content are retried
//! silently (the consumer sees one [`StreamEvent::Started`] per target tried).
//!
//! With hedging ([`Hedging`](crate::Hedging)), an attempt that has produced no event after the
//! delay gets a copy on the next target; the first of the two to produce an event is the only one
//! the consumer hears from, and the other is dropped. While such a race is possible an attempt
//! sends its [`StreamEvent::Started`] just before its first event, so an attempt that fails
//! before it is not announced. Once an event reached the consumer, the stream is never hedged.
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

use bedrock_catalog::AccessMethod;
use bedrock_messages::{ConverseRequest, StopReason, TokenUsage, ToolUseBlock};
use futures::Stream;
use tracing::Instrument;

mod driver;
mod fold;

use crate::call::{AttemptRecord, CallOptions, Engine};
use crate::error::Error;
use crate::routing::Target;
use crate::stats::Ended;
use driver::Run;

/// How a stream was recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
#[serde(rename_all = "snake_case")]
pub enum RecoveryKind {
    /// The next target continues the text received so far; keep it.
    Continued,
    /// The answer starts again; discard everything received so far.
    Restarted,
}

/// One mid-stream recovery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// A target started answering (its headers arrived; with hedging, its first event did).
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    #[serde(
        rename = "time_to_first_token_ms",
        serialize_with = "bedrock_retry::millis::serialize_option"
    )]
    pub time_to_first_token: Option<Duration>,
    /// Time of the whole call.
    #[serde(
        rename = "duration_ms",
        serialize_with = "bedrock_retry::millis::serialize"
    )]
    pub duration: Duration,
    /// What the caller should know (dropped features, missing metadata).
    pub warnings: Vec<String>,
}

impl StreamResponse {
    /// What this answer cost at the bundled prices, as [`Response::cost`](crate::Response::cost):
    /// the final target's usage at its model, region and access method. `None` when the stream
    /// reported no usage or the table lacks a price it needs.
    pub fn cost(&self) -> Option<bedrock_cache::Cost> {
        self.cost_with(crate::cost::bundled_prices()?)
    }

    /// [`cost`](Self::cost) at the prices of a caller's own table.
    pub fn cost_with(&self, prices: &bedrock_cache::PriceTable) -> Option<bedrock_cache::Cost> {
        prices.cost(
            &self.model_id,
            &self.region,
            self.access_method,
            bedrock_cache::Billing::OnDemand,
            self.usage.as_ref()?,
        )
    }
}

/// A managed Converse stream: a [`Stream`] of [`StreamEvent`]s ending with
/// [`StreamEvent::Completed`], or with one `Err` carrying the partial text and every attempt.
///
/// The call runs inside the stream itself: polling the stream drives it, and dropping it stops
/// the call (no further attempt is made). A stream dropped before it ended still counts in
/// [`LlmManager::stats`](crate::LlmManager::stats), as
/// [`calls_dropped`](crate::ManagerStats::calls_dropped) with the attempts it sent. Events the SDK
/// has already received are handed over in batches, without a task switch per event.
pub struct ConverseStream {
    buffer: Buffer,
    driver: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The attempts sent so far, for the statistics of a stream dropped before it ended.
    ledger: Arc<Ledger>,
    engine: Arc<Engine>,
}

impl Drop for ConverseStream {
    fn drop(&mut self) {
        if self.driver.is_none() {
            return;
        }
        // Attempts the call drops from now on were running when the caller gave up.
        self.ledger.abandon();
        self.driver = None;
        let unrecorded = self.ledger.unrecorded();
        self.engine.stats.record_dropped(&unrecorded);
    }
}

/// What a stream's attempts did so far, kept as they go: the call records its statistics when it
/// ends, and a stream dropped before that records these instead. Shared with a hedge's run.
#[derive(Debug, Default)]
pub(super) struct Ledger(Mutex<Entries>);

#[derive(Debug, Default)]
struct Entries {
    attempts: Vec<(Target, bedrock_retry::Route, Ended)>,
    /// The call ended and recorded its own statistics.
    recorded: bool,
    /// The caller dropped the stream.
    abandoned: bool,
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Every operation on the entries is a single update: a panic cannot leave them half-done.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes an attempt about to be sent; the guard settles how it ended.
    pub(super) fn sent(self: &Arc<Self>, attempt: &bedrock_retry::Attempt<Target>) -> Sent {
        let mut entries = self.lock();
        entries
            .attempts
            .push((attempt.target.clone(), attempt.route, Ended::Running));
        Sent {
            ledger: Arc::clone(self),
            index: entries.attempts.len() - 1,
            settled: false,
        }
    }

    /// The call ended: it recorded its statistics itself.
    pub(super) fn recorded(&self) {
        self.lock().recorded = true;
    }

    fn abandon(&self) {
        self.lock().abandoned = true;
    }

    /// The attempts to record for a dropped stream: none when the call recorded them.
    fn unrecorded(&self) -> Vec<(Target, bedrock_retry::Route, Ended)> {
        let mut entries = self.lock();
        if entries.recorded {
            return Vec::new();
        }
        entries.recorded = true;
        std::mem::take(&mut entries.attempts)
    }

    fn settle(&self, index: usize, ended: Ended) {
        if let Some(entry) = self.lock().attempts.get_mut(index) {
            entry.2 = ended;
        }
    }
}

/// One attempt noted in the [`Ledger`]. Dropped unsettled, the attempt was cancelled: by the
/// caller dropping the stream (it stays running), else by the call (it lost a hedged race).
pub(super) struct Sent {
    ledger: Arc<Ledger>,
    index: usize,
    settled: bool,
}

impl Sent {
    /// The attempt ended with `ended`.
    pub(super) fn settle(mut self, ended: Ended) {
        self.settled = true;
        self.ledger.settle(self.index, ended);
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        if !self.settled && !self.ledger.lock().abandoned {
            self.ledger.settle(self.index, Ended::Lost);
        }
    }
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
pub(super) struct Buffer(Arc<Mutex<VecDeque<Result<StreamEvent, Error>>>>);

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
pub(super) const BATCH: usize = 256;

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
pub(super) struct YieldNow(pub(super) bool);

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
    let model = targets.first().map_or("", |t| t.model.as_str());
    let span = crate::telemetry::call_span(true, engine.auth_kind, model);
    let out = buffer.clone();
    let ledger = Arc::new(Ledger::default());
    let call_ledger = Arc::clone(&ledger);
    let stats_engine = Arc::clone(&engine);
    let driver = async move {
        let telemetry = crate::telemetry::Call::begin(&engine, tracing::Span::current(), &targets);
        let mut run = Run::new(&engine, out.clone(), call_ledger);
        let result = run.drive(&prepared, targets, &options, warnings).await;
        let outcome = match &result {
            Ok(response) => crate::telemetry::Outcome::Answered {
                model: &response.model_id,
                region: &response.region,
                usage: response.usage.as_ref(),
                attempts: response.attempts.len(),
            },
            Err(error) => crate::telemetry::Outcome::Failed(error),
        };
        telemetry.finish(&engine, outcome);
        let last = result.map(|response| StreamEvent::Completed(Box::new(response)));
        out.push(last);
    }
    .instrument(span);
    ConverseStream {
        buffer,
        driver: Some(Box::pin(driver)),
        ledger,
        engine: stats_engine,
    }
}
