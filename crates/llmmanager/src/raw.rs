//! Keeping content blocks the SDK cannot name.
//!
//! The SDK parses a union member it does not know (a content block kind newer than the SDK) as
//! `Unknown`, without its data. An answer that holds one was still paid for, so the manager keeps
//! it: an interceptor copies the raw response body only when the parsed output holds such a
//! member, and the blocks are then restored as raw JSON at their positions.

use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput as SdkConverseOutput;
use aws_sdk_bedrockruntime::types::{ContentBlock as SdkBlock, ConverseOutput as SdkOutput};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use bedrock_messages::{
    ContentBlock, ConverseOutput, ConverseResponse, RawBlock, ToolResultContent,
};
use serde_json::Value;

/// Copies the response body of a Converse call whose output holds an unknown union member.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeepUnknownBlocks(Arc<Mutex<Option<Vec<u8>>>>);

impl KeepUnknownBlocks {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Replaces the blocks the SDK could not name with their raw JSON from the body, if copied.
    pub(crate) fn restore(&self, response: &mut ConverseResponse) {
        let Some(body) = self.take() else {
            return;
        };
        let Ok(json) = serde_json::from_slice::<Value>(&body) else {
            return;
        };
        let Some(raw_blocks) = json
            .pointer("/output/message/content")
            .and_then(Value::as_array)
        else {
            return;
        };
        let ConverseOutput::Message(message) = &mut response.output else {
            return;
        };
        for (block, raw) in message.content.iter_mut().zip(raw_blocks) {
            match block {
                ContentBlock::Unmodelled(kept) if kept.kind() == "unknown" => {
                    *kept = RawBlock(raw.clone());
                }
                ContentBlock::ToolResult(result) => {
                    let Some(raw_items) =
                        raw.pointer("/toolResult/content").and_then(Value::as_array)
                    else {
                        continue;
                    };
                    for (item, raw_item) in result.content.iter_mut().zip(raw_items) {
                        if let ToolResultContent::Unmodelled(kept) = item
                            && kept.kind() == "unknown"
                        {
                            *kept = RawBlock(raw_item.clone());
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn holds_unknown(output: &SdkConverseOutput) -> bool {
    let Some(SdkOutput::Message(message)) = output.output() else {
        return false;
    };
    message.content().iter().any(|block| match block {
        SdkBlock::ToolResult(r) => r.content().iter().any(|c| c.is_unknown()),
        other => other.is_unknown(),
    })
}

impl Intercept for KeepUnknownBlocks {
    fn name(&self) -> &'static str {
        "KeepUnknownBlocks"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let unknown = context
            .output_or_error()
            .ok()
            .and_then(|o| o.downcast_ref::<SdkConverseOutput>())
            .is_some_and(holds_unknown);
        if unknown && let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(bytes.to_vec());
        }
        Ok(())
    }
}
