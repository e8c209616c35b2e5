//! Scripted raw content blocks: sent verbatim in Converse, rendered as the event-stream unions
//! allow in ConverseStream, including block types the SDK does not know.

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConverseStreamOutput as Ev,
    ReasoningContentBlockDelta, StopReason, ToolResultBlockDelta, ToolResultContentBlock,
};
use bedrock_sim::{Scenario, ScriptedReply, Simulator};
use serde_json::json;

use crate::support::{HAIKU3, runtime, user};

fn blocks() -> Vec<serde_json::Value> {
    vec![
        json!({"reasoningContent": {"reasoningText": {"text": "thinking it through", "signature": "sig1"}}}),
        json!({"text": "Here is what I found."}),
        json!({"searchResult": {"source": "https://example.com/a", "title": "A", "content": [{"text": "alpha"}]}}),
        json!({"audio": {"format": "mp3", "source": {"bytes": "SUQz"}}}),
        json!({"futureBlock": {"anything": [1, 2]}}),
        json!({"toolResult": {"toolUseId": "tooluse_1", "status": "success",
                              "content": [{"text": "done"}, {"futureNested": {"x": 1}}]}}),
    ]
}

#[tokio::test]
async fn converse_sends_raw_blocks_verbatim() {
    let sim = Simulator::start(Scenario::default().with_reply(ScriptedReply::content(blocks())))
        .await
        .unwrap();
    let out = runtime(&sim, "us-east-1")
        .await
        .converse()
        .model_id(HAIKU3)
        .messages(user("search"))
        .send()
        .await
        .unwrap();
    let content = out.output().unwrap().as_message().unwrap().content();
    assert_eq!(content.len(), 6);
    let ContentBlock::ReasoningContent(r) = &content[0] else {
        panic!("{:?}", content[0])
    };
    assert_eq!(r.as_reasoning_text().unwrap().text(), "thinking it through");
    assert_eq!(content[1].as_text().unwrap(), "Here is what I found.");
    let ContentBlock::SearchResult(sr) = &content[2] else {
        panic!("{:?}", content[2])
    };
    assert_eq!(sr.title(), "A");
    assert!(matches!(content[3], ContentBlock::Audio(_)));
    assert!(content[4].is_unknown());
    let ContentBlock::ToolResult(tr) = &content[5] else {
        panic!("{:?}", content[5])
    };
    assert!(matches!(tr.content()[0], ToolResultContentBlock::Text(ref t) if t == "done"));
    assert!(tr.content()[1].is_unknown());
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    assert!(out.usage().unwrap().output_tokens() > 0);
}

#[tokio::test]
async fn stream_renders_raw_blocks_as_the_unions_allow() {
    let sim = Simulator::start(Scenario::default().with_reply(ScriptedReply::content(blocks())))
        .await
        .unwrap();
    let mut out = runtime(&sim, "us-east-1")
        .await
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("search"))
        .send()
        .await
        .unwrap();
    let mut reasoning = String::new();
    let mut signature = None;
    let mut text = String::new();
    let mut unknown_starts = Vec::new();
    let mut tool_result_start = None;
    let mut tool_result_delta = Vec::new();
    let mut stops = 0;
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            Ev::ContentBlockStart(s) => match s.start().unwrap() {
                ContentBlockStart::ToolResult(t) => {
                    tool_result_start = Some((s.content_block_index(), t.tool_use_id().to_owned()))
                }
                u if u.is_unknown() => unknown_starts.push(s.content_block_index()),
                other => panic!("{other:?}"),
            },
            Ev::ContentBlockDelta(d) => match d.delta().unwrap() {
                ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(t)) => {
                    reasoning.push_str(t)
                }
                ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Signature(s)) => {
                    signature = Some(s.clone())
                }
                ContentBlockDelta::Text(t) => text.push_str(t),
                ContentBlockDelta::ToolResult(parts) => tool_result_delta.extend(parts.clone()),
                other => panic!("{other:?}"),
            },
            Ev::ContentBlockStop(_) => stops += 1,
            _ => {}
        }
    }
    assert_eq!(reasoning, "thinking it through");
    assert_eq!(signature.as_deref(), Some("sig1"));
    assert_eq!(text, "Here is what I found.");
    // searchResult, audio and the unknown block have no stream form: an unknown start each.
    assert_eq!(unknown_starts, [2, 3, 4]);
    assert_eq!(tool_result_start, Some((5, "tooluse_1".to_owned())));
    assert_eq!(tool_result_delta.len(), 2);
    assert!(matches!(&tool_result_delta[0], ToolResultBlockDelta::Text(t) if t == "done"));
    assert!(tool_result_delta[1].is_unknown());
    assert_eq!(stops, 6);
}

#[tokio::test]
async fn a_raw_tool_use_block_stops_with_tool_use() {
    let reply = ScriptedReply::content(vec![
        json!({"toolUse": {"toolUseId": "tooluse_abc", "name": "lookup", "input": {"q": "x"}}}),
    ]);
    let sim = Simulator::start(Scenario::default().with_reply(reply))
        .await
        .unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("call it"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let mut s = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("call it"))
        .send()
        .await
        .unwrap();
    let mut input = String::new();
    let mut name = None;
    while let Some(ev) = s.stream.recv().await.unwrap() {
        match ev {
            Ev::ContentBlockStart(st) => {
                name = Some(st.start().unwrap().as_tool_use().unwrap().name().to_owned())
            }
            Ev::ContentBlockDelta(d) => {
                input.push_str(d.delta().unwrap().as_tool_use().unwrap().input())
            }
            _ => {}
        }
    }
    assert_eq!(name.as_deref(), Some("lookup"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&input).unwrap(),
        json!({"q": "x"})
    );
}
