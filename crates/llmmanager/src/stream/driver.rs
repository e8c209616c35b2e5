//! The stream's attempts: sending one target's stream, reading it under the idle timer and the
//! call's deadline, and recovering mid-answer failures on the next target.

use std::sync::Arc;
use std::time::Duration;

use bedrock_messages::{ContentBlock, ConverseRequest, Message, Role, ToolUseBlock};

use super::fold::Answer;
use super::{BATCH, Buffer, Ledger, Recovery, RecoveryKind, StreamEvent, StreamResponse, YieldNow};
use crate::call::{CallOptions, Done, Engine, Exchange, Ready, StreamRecovery, dropped_features};
use crate::classify::AttemptError;
use crate::error::Error;
use crate::hedge::FirstEvent;
use crate::routing::Target;
use crate::stats::Ended;
use bedrock_retry::Classify;

impl Exchange for Run<'_> {
    type Output = ();

    fn usage(&self, _output: &()) -> Option<bedrock_messages::TokenUsage> {
        self.answer.usage
    }

    /// A second run for a hedge: it reads its own stream into its own answer and delivers to the
    /// same consumer only if it produces the first event.
    fn fork(&self) -> Option<Self> {
        self.first_event.set_hedged();
        Some(Run {
            engine: self.engine,
            out: self.out.clone(),
            answer: Answer::default(),
            recoveries: Vec::new(),
            pending_recovery: None,
            notes: Vec::new(),
            started: self.started,
            first_event: Arc::clone(&self.first_event),
            delivered: false,
            ledger: Arc::clone(&self.ledger),
        })
    }

    fn first_event(&self) -> Option<Arc<FirstEvent>> {
        Some(Arc::clone(&self.first_event))
    }

    /// Takes over the forked run when it delivered the answer.
    fn join(&mut self, other: Self) {
        if other.delivered {
            *self = other;
        }
    }

    async fn send(&mut self, ready: Ready) -> Result<(), AttemptError> {
        let target = ready.attempt.target.clone();
        let sent = self.ledger.sent(&ready.attempt);
        let result = self.attempt(ready).await;
        sent.settle(match &result {
            Ok(()) => Ended::Answered,
            Err(error) => Ended::Failed(self.engine.classifier.classify(error).class()),
        });
        if let Err(error) = &result
            && self.has_content()
        {
            self.pending_recovery = Some((target, error.to_string()));
        }
        result
    }
}

/// One stream call: the consumer's buffer and what the answer holds across attempts.
pub(super) struct Run<'e> {
    engine: &'e Engine,
    out: Buffer,
    answer: Answer,
    recoveries: Vec<Recovery>,
    /// The target that failed after content arrived, and why: the next attempt recovers.
    pending_recovery: Option<(Target, String)>,
    /// Warnings found while reading (missing metadata, a cut after the answer was complete).
    notes: Vec<String>,
    started: Duration,
    /// Which attempt delivers to the consumer, shared with a hedge's run.
    first_event: Arc<FirstEvent>,
    /// Whether this run delivered events to the consumer.
    delivered: bool,
    /// The attempts sent so far, shared with a hedge's run.
    ledger: Arc<Ledger>,
}

impl<'e> Run<'e> {
    pub(super) fn new(engine: &'e Engine, out: Buffer, ledger: Arc<Ledger>) -> Self {
        Self {
            engine,
            out,
            answer: Answer::default(),
            recoveries: Vec::new(),
            pending_recovery: None,
            notes: Vec::new(),
            started: engine.now(),
            first_event: Arc::default(),
            delivered: false,
            ledger,
        }
    }

    async fn emit(&mut self, event: StreamEvent) {
        self.delivered = true;
        if self.out.push(Ok(event)) >= BATCH {
            YieldNow(false).await;
        }
    }

    pub(super) async fn drive(
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
        self.ledger.recorded();
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
        let sent_at = engine.now();
        let request = self.with_prefill(ready.request);
        let headers_timeout = ready.ends_at.saturating_sub(engine.now());
        let builder = bedrock_messages::sdk::apply_to_converse_stream(
            &request,
            ready.client.converse_stream().model_id(&ready.invoke_id),
        )
        .map_err(|e| AttemptError::Construction {
            message: e.to_string(),
        })?;
        // The SDK's send future is several kilobytes: boxed where it is made, it is not copied
        // through the layers that wrap it.
        let send = Box::pin(builder.send());
        let sent = crate::raw::with_extra_fields(
            &request.extra_fields,
            bedrock_retry::timeout(engine.sleep.as_ref(), headers_timeout, send),
        );
        let mut output = match sent.await {
            Err(_) => {
                return Err(AttemptError::Timeout {
                    after: headers_timeout,
                    deadline: ready.deadline_bound,
                });
            }
            Ok(Err(e)) => return Err(AttemptError::from_sdk(&e, headers_timeout)),
            Ok(Ok(output)) => output,
        };
        let started = StreamEvent::Started {
            target: ready.attempt.target.clone(),
            invoke_id: ready.invoke_id.clone(),
            attempt: ready.attempt.attempt_number,
        };
        // While a hedge may race this attempt, its events wait for its first one: only the
        // attempt that produces an event first reaches the consumer.
        let mut held = if self.first_event.holds() {
            Some(started)
        } else {
            self.emit(started).await;
            None
        };
        let mut first_seen = false;
        self.answer.message_stopped = false;
        self.answer.metadata = false;
        let idle = engine.timeouts.stream_idle;
        // Reading the stream is bounded by what is left of the call's deadline. Times are on the
        // engine's clock.
        let call_end = ready.call_ends_at;
        let time_left = call_end.map(|end| end.saturating_sub(engine.now()));
        // One idle timer per stream, re-armed only when it fires early: creating a timer per
        // event would cost more than handling the event. A timeout too large for the clock never
        // fires.
        let mut last_event = engine.now();
        let stall_at = |last: Duration| {
            let idle_end = last.checked_add(idle);
            match (idle_end, call_end) {
                (Some(i), Some(c)) => Some(i.min(c)),
                (i, c) => i.or(c),
            }
        };
        let first = stall_at(last_event);
        let timer_armed = first.is_some();
        let mut stall = engine
            .sleep
            .sleep(first.map_or(Duration::ZERO, |at| at.saturating_sub(last_event)));
        loop {
            let received = tokio::select! {
                biased;
                received = output.stream.recv() => received,
                () = &mut stall, if timer_armed => {
                    let now = engine.now();
                    if call_end.is_some_and(|c| now >= c) {
                        return self.cut_short(AttemptError::Timeout {
                            after: time_left.unwrap_or_default(),
                            deadline: true,
                        });
                    }
                    match stall_at(last_event) {
                        Some(at) if now < at => {
                            stall = engine.sleep.sleep(at - now);
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
            last_event = engine.now();
            let next = match received {
                Err(e) => return self.cut_short(AttemptError::from_stream(&e)),
                Ok(None) if self.answer.message_stopped => {
                    self.notes
                        .push("the stream ended without metadata: usage is unknown".to_owned());
                    return Ok(());
                }
                Ok(None) => {
                    return Err(AttemptError::Response {
                        message: "the stream ended before messageStop".to_owned(),
                    });
                }
                Ok(Some(event)) => event,
            };
            let since_start = self.engine.now().saturating_sub(self.started);
            if let Some(event) = self.answer.apply(next, since_start) {
                if !first_seen {
                    first_seen = true;
                    let target = &ready.attempt.target;
                    let ttft = engine.now().saturating_sub(sent_at);
                    engine.speed.observe_first_token(target, ttft);
                }
                if let Some(started) = held.take() {
                    if !self.first_event.claim(ready.attempt.attempt_number) {
                        // Another attempt delivered first; the race drops this one at once.
                        std::future::pending::<()>().await;
                    }
                    self.emit(started).await;
                }
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
        self.notes.push(format!(
            "the stream stopped after the answer was complete ({error}): usage is unknown"
        ));
        Ok(())
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
            access_method: self.engine.access_used(&done.attempt, &done.invoke_id),
            attempts: done.attempts.clone(),
            recoveries: std::mem::take(&mut self.recoveries),
            time_to_first_token: answer.first_token,
            duration: self.engine.now().saturating_sub(self.started),
            warnings,
        }
    }
}
