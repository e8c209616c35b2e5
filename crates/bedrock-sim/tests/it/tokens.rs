//! The token rule seen through an SDK client: input tokens from the whole request (framing,
//! system, tools, documents by their content, images by their size), output tokens from the
//! text sent, and cache counters that add up to the same total.

use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ConversationRole, ConverseStreamOutput as Ev,
    DocumentBlock, DocumentFormat, DocumentSource, ImageBlock, ImageFormat, ImageSource,
    InferenceConfiguration, Message, StopReason, SystemContentBlock, TokenUsage, Tool,
    ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::Blob;
use bedrock_sim::{ModelCaps, PromptCaching, Scenario, ScriptedReply, Simulator, text_tokens};
use serde_json::json;

use crate::support::{HAIKU3, reply_text, runtime, to_document, user};

fn message(blocks: Vec<ContentBlock>) -> Message {
    let mut m = Message::builder().role(ConversationRole::User);
    for b in blocks {
        m = m.content(b);
    }
    m.build().unwrap()
}

fn text_document(name: &str, text: &str) -> ContentBlock {
    ContentBlock::Document(
        DocumentBlock::builder()
            .format(DocumentFormat::Txt)
            .name(name)
            .source(DocumentSource::Bytes(Blob::new(text.as_bytes())))
            .build()
            .unwrap(),
    )
}

/// The first bytes of a PNG: signature and IHDR chunk, enough for its dimensions.
fn png(width: u32, height: u32) -> ContentBlock {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0]);
    ContentBlock::Image(
        ImageBlock::builder()
            .format(ImageFormat::Png)
            .source(ImageSource::Bytes(Blob::new(b)))
            .build()
            .unwrap(),
    )
}

fn total_input(u: &TokenUsage) -> i32 {
    u.input_tokens()
        + u.cache_read_input_tokens().unwrap_or(0)
        + u.cache_write_input_tokens().unwrap_or(0)
}

#[tokio::test]
async fn a_short_prompt_pays_the_request_and_message_framing() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let u = out.usage().unwrap();
    assert_eq!(u.input_tokens(), 4 + 3 + 1, "request, message, \"hi\"");

    // A system prompt adds its wrapper and its text; every message adds its framing.
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .system(SystemContentBlock::Text("Be brief.".into()))
        .messages(user("hi"))
        .messages(crate::support::assistant("Hello."))
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let u = out.usage().unwrap();
    assert_eq!(u.input_tokens(), 4 + (2 + 3) + 3 * 3 + 1 + 2 + 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn documents_cost_their_text_and_images_their_size() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let send = |blocks: Vec<ContentBlock>| {
        rt.converse()
            .model_id(HAIKU3)
            .messages(message(blocks))
            .send()
    };
    let base = send(vec![ContentBlock::Text("Summarize.".into())])
        .await
        .unwrap()
        .usage()
        .unwrap()
        .input_tokens();

    let short = "Payment is due in thirty days.";
    let long = short.repeat(100);
    let mut doc_tokens = Vec::new();
    for text in [short, long.as_str()] {
        let u = send(vec![
            text_document("terms", text),
            ContentBlock::Text("Summarize.".into()),
        ])
        .await
        .unwrap();
        let tokens = u.usage().unwrap().input_tokens() - base;
        // The wrapper (10), the name, the text.
        assert_eq!(tokens, 10 + 2 + text_tokens(text) as i32);
        doc_tokens.push(tokens);
    }
    assert!(
        doc_tokens[0] < 100,
        "a short text document is not 1,000 tokens"
    );
    assert!(
        doc_tokens[1] > 10 * doc_tokens[0],
        "a text document grows with its text: {doc_tokens:?}"
    );

    // Anthropic's rule: width × height / 750, at most 1,600.
    for ((w, h), tokens) in [
        ((750, 100), 100),
        ((1000, 1000), 1334),
        ((4000, 3000), 1600),
    ] {
        let u = send(vec![png(w, h), ContentBlock::Text("Summarize.".into())])
            .await
            .unwrap();
        assert_eq!(u.usage().unwrap().input_tokens() - base, tokens, "{w}x{h}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn offered_tools_cost_their_instructions_and_specs() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let spec = ToolSpecification::builder()
        .name("get_weather")
        .description("Weather for a city.")
        .input_schema(ToolInputSchema::Json(to_document(&schema)))
        .build()
        .unwrap();
    let tools = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .build()
        .unwrap();
    let without = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("weather?"))
        .send()
        .await
        .unwrap();
    let with = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("weather?"))
        .tool_config(tools)
        .send()
        .await
        .unwrap();
    // The spec is counted as compact JSON with its keys sorted, whatever order they came in.
    let sorted_spec = r#"{"description":"Weather for a city.","inputSchema":{"json":{"properties":{"city":{"type":"string"}},"type":"object"}},"name":"get_weather"}"#;
    let spec_tokens = text_tokens(sorted_spec) as i32;
    assert_eq!(
        with.usage().unwrap().input_tokens() - without.usage().unwrap().input_tokens(),
        300 + 3 + spec_tokens,
        "tool-use instructions, the tool's wrapper, its spec"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn output_tokens_are_the_rule_on_the_text_sent() {
    let json_text = r#"{"items":[{"id":1,"qty":12},{"id":2,"qty":7}],"total":19.5}"#;
    let sim = Simulator::start(Scenario::default().with_reply(ScriptedReply::text(json_text)))
        .await
        .unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("order?"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply_text(&out), json_text);
    let tokens = out.usage().unwrap().output_tokens();
    assert_eq!(tokens, text_tokens(json_text) as i32);
    assert!(
        tokens > json_text.len().div_ceil(4) as i32,
        "JSON costs more than a quarter of its characters"
    );

    // The stream sends the same text and reports the same count.
    let mut stream = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("order?"))
        .send()
        .await
        .unwrap()
        .stream;
    let (mut text, mut usage) = (String::new(), None);
    while let Some(ev) = stream.recv().await.unwrap() {
        match ev {
            Ev::ContentBlockDelta(d) => {
                text.push_str(d.delta().unwrap().as_text().unwrap());
            }
            Ev::Metadata(m) => usage = m.usage().cloned(),
            _ => {}
        }
    }
    assert_eq!(text, json_text);
    assert_eq!(usage.unwrap().output_tokens(), tokens);

    // `maxTokens` cuts to the longest prefix that fits, counted by the same rule.
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("order?"))
        .inference_config(InferenceConfiguration::builder().max_tokens(10).build())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);
    let cut = reply_text(&out);
    assert!(json_text.starts_with(&cut) && cut.len() < json_text.len());
    assert_eq!(out.usage().unwrap().output_tokens(), 10);
    assert_eq!(text_tokens(&cut), 10);
    sim.shutdown().await;
}

#[tokio::test]
async fn cache_counters_and_input_add_up_to_the_same_total() {
    let caps = ModelCaps {
        prompt_caching: Some(PromptCaching {
            min_tokens: 1024,
            ttl_1h: false,
        }),
        ..ModelCaps::default()
    };
    let sim = Simulator::start(Scenario::default().with_model_caps(HAIKU3, caps))
        .await
        .unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let cp = || {
        ContentBlock::CachePoint(
            CachePointBlock::builder()
                .r#type(CachePointType::Default)
                .build()
                .unwrap(),
        )
    };
    let handbook = "Leave requests need two weeks' notice. ".repeat(150);
    let send = |question: &'static str| {
        rt.converse()
            .model_id(HAIKU3)
            .system(SystemContentBlock::Text(
                "You answer from the handbook.".into(),
            ))
            .messages(message(vec![
                text_document("handbook", &handbook),
                ContentBlock::Text("Keep this.".into()),
                cp(),
                ContentBlock::Text(question.into()),
            ]))
            .send()
    };
    let uncached = rt
        .converse()
        .model_id(HAIKU3)
        .system(SystemContentBlock::Text(
            "You answer from the handbook.".into(),
        ))
        .messages(message(vec![
            text_document("handbook", &handbook),
            ContentBlock::Text("Keep this.".into()),
            ContentBlock::Text("What notice?".into()),
        ]))
        .send()
        .await
        .unwrap();
    let first = send("What notice?").await.unwrap();
    let second = send("What notice?").await.unwrap();
    let (u0, u1, u2) = (
        uncached.usage().unwrap(),
        first.usage().unwrap(),
        second.usage().unwrap(),
    );
    assert_eq!(u0.cache_write_input_tokens().unwrap_or(0), 0);
    let written = u1.cache_write_input_tokens().unwrap();
    assert!(written >= 1024, "the prefix reaches the minimum: {written}");
    assert_eq!(u2.cache_read_input_tokens(), Some(written));
    assert_eq!(u2.cache_write_input_tokens(), Some(0));
    // The same request costs the same total, cached or not.
    assert_eq!(total_input(u1), total_input(u0));
    assert_eq!(total_input(u2), total_input(u0));
    assert_eq!(u1.input_tokens(), text_tokens("What notice?") as i32);
    sim.shutdown().await;
}
