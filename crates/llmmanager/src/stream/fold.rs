//! Folding the SDK's stream events into the answer so far, and translating them for the consumer.

use std::time::Duration;

use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, ReasoningContentBlockDelta,
};
use bedrock_messages::{StopReason, TokenUsage};

use super::StreamEvent;

/// What the answer holds so far.
#[derive(Debug, Default)]
pub(super) struct Answer {
    pub(super) text: String,
    pub(super) tool_uses: Vec<PendingTool>,
    pub(super) reasoning: String,
    pub(super) stop_reason: Option<StopReason>,
    pub(super) usage: Option<TokenUsage>,
    pub(super) first_token: Option<Duration>,
    /// Whitespace removed from the end of the text when it was sent as prefill (Bedrock rejects a
    /// final assistant message that ends in whitespace). The consumer already has it, so the
    /// continuation's leading whitespace is matched against it and not repeated; nothing is ever
    /// inserted.
    pub(super) held_ws: String,
    pub(super) message_stopped: bool,
    pub(super) metadata: bool,
}

#[derive(Debug)]
pub(super) struct PendingTool {
    pub(super) index: u32,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) input: String,
}

impl Answer {
    /// Folds one SDK event into the answer and translates it for the consumer.
    pub(super) fn apply(
        &mut self,
        event: ConverseStreamOutput,
        since_start: Duration,
    ) -> Option<StreamEvent> {
        match event {
            ConverseStreamOutput::ContentBlockDelta(e) => {
                let index = u32::try_from(e.content_block_index()).unwrap_or(0);
                if self.first_token.is_none() {
                    self.first_token = Some(since_start);
                }
                match e.delta()? {
                    ContentBlockDelta::Text(text) => {
                        let text = self.skip_held_ws(text);
                        if text.is_empty() {
                            return None;
                        }
                        self.text.push_str(&text);
                        Some(StreamEvent::TextDelta { index, text })
                    }
                    ContentBlockDelta::ToolUse(t) => {
                        if let Some(tool) =
                            self.tool_uses.iter_mut().rev().find(|p| p.index == index)
                        {
                            tool.input.push_str(t.input());
                        }
                        Some(StreamEvent::ToolUseDelta {
                            index,
                            input: t.input().to_owned(),
                        })
                    }
                    ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(text)) => {
                        self.reasoning.push_str(text);
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
                        self.tool_uses.push(PendingTool {
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
                self.message_stopped = true;
                self.stop_reason = Some(stop_reason.clone());
                Some(StreamEvent::MessageStop { stop_reason })
            }
            ConverseStreamOutput::Metadata(e) => {
                self.metadata = true;
                let usage = e
                    .usage()
                    .and_then(|u| TokenUsage::try_from(u).ok())
                    .unwrap_or_default();
                let latency_ms = e
                    .metrics()
                    .map_or(0, |m| u64::try_from(m.latency_ms()).unwrap_or(0));
                self.usage = Some(usage);
                Some(StreamEvent::Metadata { usage, latency_ms })
            }
            _ => None,
        }
    }

    /// Drops from the start of a continuation the whitespace the consumer already holds (the part
    /// trimmed from the prefill), as far as the model repeats it. Whitespace the model sends
    /// beyond that is kept; none is ever added.
    fn skip_held_ws(&mut self, text: &str) -> String {
        if self.held_ws.is_empty() {
            return text.to_owned();
        }
        let held = std::mem::take(&mut self.held_ws);
        let common = held
            .chars()
            .zip(text.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum::<usize>();
        if common == text.len() && common < held.len() {
            // The whole delta repeats held whitespace; the rest may come in the next delta.
            self.held_ws = held[common..].to_owned();
        }
        text[common..].to_owned()
    }
}
