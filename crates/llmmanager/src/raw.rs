//! Keeping what the SDK's types drop: content blocks it cannot name, and the guardrail trace.
//!
//! The SDK parses a union member it does not know (a content block kind newer than the SDK) as
//! `Unknown`, without its data. An answer that holds one was still paid for, so the manager keeps
//! it: an interceptor, installed once on every client, copies the raw response body only when the
//! parsed output holds such a member or a guardrail trace, into a slot local to the calling task
//! ([`capture`]); the blocks are then restored as raw JSON at their positions, and the trace is
//! kept as Bedrock sent it ([`restore`]). Calls with neither pay for one check of the parsed
//! output, nothing more.
//!
//! The same interceptor adds a request's extra fields (`ConverseRequest::extra_fields`, fields of
//! the body the SDK does not name) to the serialised body before it is signed, when the calling
//! task set them ([`with_extra_fields`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput as SdkConverseOutput;
use aws_sdk_bedrockruntime::types::{ContentBlock as SdkBlock, ConverseOutput as SdkOutput};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bedrock_messages::{
    ContentBlock, ConverseOutput, ConverseResponse, RawBlock, ToolResultContent,
};
use serde_json::Value;

tokio::task_local! {
    /// The body copied for the call running in this task, if any.
    static BODY: RefCell<Option<Vec<u8>>>;
    /// Extra top-level fields for the request body sent by this task.
    static EXTRA: BTreeMap<String, Value>;
}

/// Runs `call` (a Converse or ConverseStream send) with `fields` added to the top level of the
/// request body it sends. No fields: `call` runs as it is.
pub(crate) fn with_extra_fields<F: Future>(
    fields: &BTreeMap<String, Value>,
    call: F,
) -> impl Future<Output = F::Output> {
    // Not an `async fn`: that would hold `call` twice (as its argument and inside the scope),
    // and the SDK's send future is large.
    if fields.is_empty() {
        futures::future::Either::Left(call)
    } else {
        futures::future::Either::Right(EXTRA.scope(fields.clone(), call))
    }
}

/// `body` with `fields` added at its top level; `None` when it is not a JSON object.
fn add_fields(body: &[u8], fields: &BTreeMap<String, Value>) -> Option<Vec<u8>> {
    let mut json = serde_json::from_slice::<Value>(body).ok()?;
    let object = json.as_object_mut()?;
    for (name, value) in fields {
        object.insert(name.clone(), value.clone());
    }
    serde_json::to_vec(&json).ok()
}

/// Runs `call` (a Converse send) with a slot for the raw body, and returns its output with the
/// body copied, if the output held an unknown union member.
pub(crate) async fn capture<F: Future>(call: F) -> (F::Output, Option<Vec<u8>>) {
    BODY.scope(RefCell::new(None), async move {
        let output = call.await;
        let body = BODY.try_with(|b| b.borrow_mut().take()).ok().flatten();
        (output, body)
    })
    .await
}

/// Replaces the blocks the SDK could not name with their raw JSON from `body`.
pub(crate) fn restore(body: Option<Vec<u8>>, response: &mut ConverseResponse) {
    let Some(body) = body else {
        return;
    };
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return;
    };
    if let Some(trace) = json.get("trace") {
        response.trace = Some(trace.clone());
    }
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
                let Some(raw_items) = raw.pointer("/toolResult/content").and_then(Value::as_array)
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

/// The interceptor that copies the body; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeepUnknownBlocks;

fn needs_body(output: &SdkConverseOutput) -> bool {
    if output.trace().and_then(|t| t.guardrail()).is_some() {
        return true;
    }
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

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(Some(body)) = EXTRA.try_with(|fields| {
            let request = context.request();
            request.body().bytes().and_then(|b| add_fields(b, fields))
        }) else {
            return Ok(());
        };
        let request = context.request_mut();
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *request.body_mut() = SdkBody::from(body);
        Ok(())
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
            .is_some_and(needs_body);
        if unknown && let Some(bytes) = context.response().body().bytes() {
            // Outside `capture` (no slot in this task) there is nowhere to keep it.
            let _ = BODY.try_with(|b| *b.borrow_mut() = Some(bytes.to_vec()));
        }
        Ok(())
    }
}
