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

#[test]
fn s3_sources_guard_qualifiers_and_redacted_reasoning_round_trip() {
    use bedrock_messages::{GuardQualifier, ImageFormat, VideoFormat};
    let req = ConverseRequest::builder()
        .system_guard_text("Answer from the handbook.", [GuardQualifier::GuardContent])
        .message_builder(
            Message::user()
                .text("Compare.")
                .document_s3("s3://docs-bucket/q3.pdf", DocumentFormat::Pdf, "q3")
                .with_bucket_owner("111122223333")
                .image_s3("s3://docs-bucket/chart.png", ImageFormat::Png)
                .with_bucket_owner("111122223333")
                .video_s3("s3://docs-bucket/clip.mp4", VideoFormat::Mp4)
                .guard_text_qualified("Leave is 30 days.", [GuardQualifier::GroundingSource])
                .guard_text_qualified(
                    "How long?",
                    [GuardQualifier::Query, GuardQualifier::GuardContent],
                ),
        )
        .message_builder(
            Message::assistant()
                .redacted_reasoning(vec![0u8, 159, 146, 150])
                .text("30 days."),
        )
        .user_text("Thanks")
        .build()
        .unwrap();
    let input = apply_to_converse_input(&req, ConverseInput::builder()).unwrap();
    // The SDK sees every field.
    let messages = input.get_messages().as_ref().unwrap();
    let user = &messages[0].content;
    match &user[1] {
        sdk::ContentBlock::Document(d) => match d.source() {
            Some(sdk::DocumentSource::S3Location(s3)) => {
                assert_eq!(s3.uri(), "s3://docs-bucket/q3.pdf");
                assert_eq!(s3.bucket_owner(), Some("111122223333"));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match &user[4] {
        sdk::ContentBlock::GuardContent(sdk::GuardrailConverseContentBlock::Text(t)) => {
            assert_eq!(
                t.qualifiers(),
                [sdk::GuardrailConverseContentQualifier::GroundingSource]
            );
        }
        other => panic!("{other:?}"),
    }
    match &messages[1].content[0] {
        sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::RedactedContent(b)) => {
            assert_eq!(b.as_ref(), [0u8, 159, 146, 150]);
        }
        other => panic!("{other:?}"),
    }
    match &input.get_system().as_ref().unwrap()[0] {
        sdk::SystemContentBlock::GuardContent(sdk::GuardrailConverseContentBlock::Text(t)) => {
            assert_eq!(
                t.qualifiers(),
                [sdk::GuardrailConverseContentQualifier::GuardContent]
            );
        }
        other => panic!("{other:?}"),
    }
    // And back, losslessly.
    let back = request_from_converse_input(&input).unwrap();
    assert_eq!(back.to_json().unwrap(), req.to_json().unwrap());
    // An answer with redacted reasoning reads back as bytes.
    let out = sdk::Message::builder()
        .role(sdk::ConversationRole::Assistant)
        .content(sdk::ContentBlock::ReasoningContent(
            sdk::ReasoningContentBlock::RedactedContent(
                aws_sdk_bedrockruntime::primitives::Blob::new(vec![7u8, 8]),
            ),
        ))
        .content(sdk::ContentBlock::Text("ok".into()))
        .build()
        .unwrap();
    let m = Message::try_from(&out).unwrap();
    assert_eq!(
        serde_json::to_value(&m).unwrap()["content"][0],
        json!({"reasoningContent": {"redactedContent": "Bwg="}})
    );
}
