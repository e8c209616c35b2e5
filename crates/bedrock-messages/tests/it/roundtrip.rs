//! Lossless conversion to and from the SDK types.

use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::types as sdk;
use bedrock_messages::sdk::{apply_to_converse_input, request_from_converse_input};
use bedrock_messages::{
    ContentBlock, ConverseRequest, ConverseResponse, DocumentFormat, GuardrailConfig,
    GuardrailTrace, Message, StopReason, ToolSpec,
};
use serde_json::json;

use crate::fixtures::path;

fn rich_request() -> ConverseRequest {
    ConverseRequest::builder()
        .system("sys")
        .system_cache_point()
        .message_builder(
            Message::user()
                .text("look")
                .image_file(path("sample.gif"))
                .document_file(path("sample.docx"))
                .document_bytes(b"# hi".to_vec(), DocumentFormat::Md, "notes")
                .video_file(path("sample.webm"))
                .cache_point()
                .guard_text("guarded"),
        )
        .message_builder(
            Message::assistant()
                .reasoning("r", Some("s".into()))
                .tool_use("t1", "f", json!({"n": -1, "x": 0.5})),
        )
        .message_builder(Message::user().tool_result_json("t1", json!([1, 2, 3])))
        .tool(ToolSpec::new("f", "d", json!({"type": "object"})))
        .max_tokens(10)
        .temperature(0.25)
        .stop_sequences(["a", "b"])
        .guardrail(GuardrailConfig {
            guardrail_identifier: "g".into(),
            guardrail_version: "1".into(),
            trace: Some(GuardrailTrace::EnabledFull),
            stream_processing_mode: None,
        })
        .additional_model_request_fields(json!({"top_k": 3}))
        .additional_model_response_field_path("/x")
        .request_metadata("k", "v")
        .build()
        .unwrap()
}

#[test]
fn request_round_trips_through_the_sdk_input() {
    let req = rich_request();
    let input = apply_to_converse_input(&req, ConverseInput::builder()).unwrap();
    let back = request_from_converse_input(&input).unwrap();
    assert_eq!(back.to_json().unwrap(), req.to_json().unwrap());
    assert!(input.model_id("m").build().is_ok());
}

#[test]
fn messages_round_trip_block_by_block() {
    let req = rich_request();
    for m in &req.messages {
        let s = sdk::Message::try_from(m).unwrap();
        assert_eq!(&Message::try_from(&s).unwrap(), m);
        for b in &m.content {
            let s = sdk::ContentBlock::try_from(b).unwrap();
            assert_eq!(&ContentBlock::try_from(&s).unwrap(), b);
        }
    }
}

#[test]
fn response_from_sdk_output() {
    let msg = sdk::Message::builder()
        .role(sdk::ConversationRole::Assistant)
        .content(sdk::ContentBlock::Text("Hi ".into()))
        .content(sdk::ContentBlock::Text("there".into()))
        .build()
        .unwrap();
    let out = aws_sdk_bedrockruntime::operation::converse::ConverseOutput::builder()
        .output(sdk::ConverseOutput::Message(msg))
        .stop_reason(sdk::StopReason::EndTurn)
        .usage(
            sdk::TokenUsage::builder()
                .input_tokens(3)
                .output_tokens(2)
                .total_tokens(5)
                .cache_read_input_tokens(7)
                .build()
                .unwrap(),
        )
        .metrics(
            sdk::ConverseMetrics::builder()
                .latency_ms(42)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let r = ConverseResponse::try_from(out).unwrap();
    assert_eq!(r.text(), "Hi there");
    assert_eq!(r.stop_reason, StopReason::EndTurn);
    assert_eq!(r.usage().cache_read_input_tokens, Some(7));
    assert_eq!(r.metrics.latency_ms, 42);
    insta::assert_json_snapshot!("response_from_sdk", r);
}

#[test]
fn stream_builder_gets_the_stream_guardrail() {
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
        .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
        .build();
    let client = aws_sdk_bedrockruntime::Client::from_conf(conf);
    let mut req = rich_request();
    req.guardrail_config = Some(GuardrailConfig {
        stream_processing_mode: Some(bedrock_messages::StreamProcessingMode::Async),
        ..req.guardrail_config.clone().unwrap()
    });
    let b =
        bedrock_messages::sdk::apply_to_converse_stream(&req, client.converse_stream()).unwrap();
    let g = b.get_guardrail_config().clone().unwrap();
    assert_eq!(
        g.stream_processing_mode(),
        &sdk::GuardrailStreamProcessingMode::Async
    );
    let b = bedrock_messages::sdk::apply_to_converse(&req, client.converse()).unwrap();
    assert_eq!(b.get_messages().as_ref().unwrap().len(), 3);
}

#[test]
fn prompt_variables_output_config_and_service_tier_round_trip() {
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let req = ConverseRequest::builder()
        .user_text("Where?")
        .prompt_variable("topic", "rivers")
        .output_config(bedrock_messages::OutputConfig::json_schema(
            &schema,
            Some("place"),
        ))
        .service_tier(bedrock_messages::ServiceTierType::Priority)
        .build()
        .unwrap();
    let body = req.to_json().unwrap();
    assert_eq!(
        body["promptVariables"],
        json!({"topic": {"text": "rivers"}})
    );
    assert_eq!(body["serviceTier"], json!({"type": "priority"}));
    assert_eq!(body["outputConfig"]["textFormat"]["type"], "json_schema");
    assert_eq!(
        body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["name"],
        "place"
    );
    let input = apply_to_converse_input(&req, ConverseInput::builder()).unwrap();
    assert_eq!(
        input
            .get_service_tier()
            .as_ref()
            .map(|t| t.r#type().as_str()),
        Some("priority")
    );
    let back = request_from_converse_input(&input).unwrap();
    assert_eq!(back, req);
}
