//! Request JSON snapshots and the rejection of bad input.

use bedrock_messages::{
    CacheTtl, ConverseRequest, DocumentFormat, Error, GuardrailConfig, GuardrailTrace, ImageFormat,
    InferenceConfig, Latency, Limits, Message, Rule, StreamProcessingMode, SystemBlock, Tool,
    ToolChoice, ToolResultContent, ToolResultStatus, ToolSpec, VideoFormat,
};
use serde_json::json;

use crate::fixtures::{self, path};

fn weather_tool() -> ToolSpec {
    ToolSpec::new(
        "get_weather",
        "Current weather for a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn guardrail() -> GuardrailConfig {
    GuardrailConfig {
        guardrail_identifier: "gr-123".into(),
        guardrail_version: "DRAFT".into(),
        trace: Some(GuardrailTrace::Enabled),
        stream_processing_mode: None,
    }
}

#[track_caller]
fn snap(name: &str, b: bedrock_messages::ConverseRequestBuilder) {
    let req = b.build().unwrap();
    insta::assert_json_snapshot!(name, req);
}

#[test]
fn request_snapshots() {
    snap(
        "01_text_only",
        ConverseRequest::builder().user_text("Hello"),
    );
    snap(
        "02_system_and_inference",
        ConverseRequest::builder()
            .system("You are terse.")
            .user_text("Hi")
            .max_tokens(512)
            .temperature(0.5)
            .top_p(0.9)
            .stop_sequences(["END"]),
    );
    snap(
        "03_multi_turn",
        ConverseRequest::builder()
            .user_text("Hi")
            .assistant_text("Hello!")
            .user_text("How are you?"),
    );
    snap(
        "04_image_file",
        ConverseRequest::builder().message_builder(
            Message::user()
                .text("What is this?")
                .image_file(path("sample.png")),
        ),
    );
    snap(
        "05_image_bytes_jpeg",
        ConverseRequest::builder().message_builder(
            Message::user()
                .image_bytes(
                    std::fs::read(path("sample.jpg")).unwrap(),
                    ImageFormat::Jpeg,
                )
                .text("Describe"),
        ),
    );
    snap(
        "06_document_pdf_with_citations",
        ConverseRequest::builder().message_builder(
            Message::user()
                .text("Summarise")
                .document_file(path("sample.pdf"))
                .with_citations()
                .with_context("quarterly report"),
        ),
    );
    snap(
        "07_document_bytes_csv",
        ConverseRequest::builder().message_builder(Message::user().text("Total?").document_bytes(
            b"a,b\n1,2\n".to_vec(),
            DocumentFormat::Csv,
            "numbers",
        )),
    );
    snap(
        "08_video_file",
        ConverseRequest::builder().message_builder(
            Message::user()
                .text("What happens?")
                .video_file(path("sample.mp4")),
        ),
    );
    snap(
        "09_s3_media",
        ConverseRequest::builder().message_builder(
            Message::user()
                .text("Compare")
                .image_s3("s3://bucket/a.png", ImageFormat::Png)
                .video_s3("s3://bucket/b.mp4", VideoFormat::Mp4),
        ),
    );
    snap(
        "10_cache_points_everywhere",
        ConverseRequest::builder()
            .system("Long system prompt")
            .system_cache_point()
            .tool(weather_tool())
            .tool_cache_point()
            .message_builder(
                Message::user()
                    .text("Long context")
                    .cache_point()
                    .text("Question")
                    .cache_point_ttl(CacheTtl::OneHour),
            ),
    );
    snap(
        "11_tools_auto",
        ConverseRequest::builder()
            .user_text("Weather in Paris?")
            .tool(weather_tool())
            .tool_choice(ToolChoice::Auto {}),
    );
    snap(
        "12_tool_choice_specific",
        ConverseRequest::builder()
            .user_text("Weather in Paris?")
            .tool(weather_tool())
            .tool_choice(ToolChoice::Tool {
                name: "get_weather".into(),
            }),
    );
    snap(
        "13_tool_use_and_result",
        ConverseRequest::builder()
            .user_text("Weather in Paris?")
            .message_builder(Message::assistant().tool_use(
                "tooluse_1",
                "get_weather",
                json!({"city": "Paris"}),
            ))
            .message_builder(
                Message::user()
                    .tool_result_json("tooluse_1", json!({"tempC": 21, "sky": "clear"}))
                    .tool_result(
                        "tooluse_2",
                        vec![ToolResultContent::Text("failed".into())],
                        Some(ToolResultStatus::Error),
                    ),
            )
            .tool(weather_tool())
            .tool_choice(ToolChoice::Any {}),
    );
    snap(
        "14_guardrail_and_guard_content",
        ConverseRequest::builder()
            .guardrail(guardrail())
            .message_builder(
                Message::user()
                    .guard_text("Is this allowed?")
                    .text("Answer please"),
            ),
    );
    snap(
        "15_additional_fields_and_metadata",
        ConverseRequest::builder()
            .user_text("Think hard")
            .additional_model_request_fields(
                json!({"thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 5}),
            )
            .additional_model_response_field_path("/stop_sequence")
            .request_metadata("team", "search")
            .latency(Latency::Optimized),
    );
    snap(
        "16_reasoning_replay",
        ConverseRequest::builder()
            .user_text("2+2?")
            .message_builder(
                Message::assistant()
                    .reasoning("Add the numbers.", Some("sig==".into()))
                    .text("4"),
            )
            .user_text("Thanks"),
    );
    snap(
        "17_inference_config_struct",
        ConverseRequest::builder()
            .user_text("x")
            .inference_config(InferenceConfig {
                max_tokens: Some(1),
                temperature: Some(0.0),
                top_p: None,
                stop_sequences: Some(vec![]),
            }),
    );
    snap(
        "18_stream_guardrail_mode",
        ConverseRequest::builder()
            .user_text("x")
            .guardrail(GuardrailConfig {
                stream_processing_mode: Some(StreamProcessingMode::Async),
                ..guardrail()
            }),
    );
}

#[track_caller]
fn rejects(b: bedrock_messages::ConverseRequestBuilder, rule: Rule, part: &str) -> Error {
    let e = b.build().unwrap_err();
    assert_eq!(e.rule(), Some(rule), "{e}");
    assert_eq!(e.part(), Some(part), "{e}");
    e
}

#[test]
fn rejections_name_part_and_rule() {
    rejects(ConverseRequest::builder(), Rule::EmptyMessages, "messages");
    rejects(
        ConverseRequest::builder().assistant_text("hi"),
        Rule::RoleOrder,
        "messages[0]",
    );
    rejects(
        ConverseRequest::builder().user_text("a").user_text("b"),
        Rule::RoleOrder,
        "messages[1]",
    );
    rejects(
        ConverseRequest::builder().user_text("   "),
        Rule::EmptyText,
        "messages[0].content[0]",
    );
    rejects(
        ConverseRequest::builder().message_builder(Message::user()),
        Rule::EmptyMessages,
        "messages[0]",
    );
    rejects(
        ConverseRequest::builder().system("").user_text("x"),
        Rule::EmptyText,
        "system[0]",
    );
    rejects(
        ConverseRequest::builder().message_builder(Message::user().document_bytes(
            b"x".to_vec(),
            DocumentFormat::Txt,
            "n",
        )),
        Rule::DocumentNeedsText,
        "messages[0].content[0]",
    );
    rejects(
        ConverseRequest::builder().user_text("x").message_builder(
            Message::assistant()
                .text("see")
                .image_file(path("sample.png")),
        ),
        Rule::MediaRole,
        "messages[1].content[1]",
    );
    rejects(
        ConverseRequest::builder().user_text("x").max_tokens(0),
        Rule::MaxTokens,
        "inferenceConfig.maxTokens",
    );
    rejects(
        ConverseRequest::builder().user_text("x").temperature(1.5),
        Rule::Probability,
        "inferenceConfig.temperature",
    );
    rejects(
        ConverseRequest::builder().user_text("x").top_p(f32::NAN),
        Rule::Probability,
        "inferenceConfig.topP",
    );
    rejects(
        ConverseRequest::builder()
            .user_text("x")
            .tool_choice(ToolChoice::Any {}),
        Rule::EmptyTools,
        "toolConfig.tools",
    );
    rejects(
        ConverseRequest::builder()
            .user_text("x")
            .tool(ToolSpec::new("bad name", "d", json!({}))),
        Rule::ToolName,
        "toolConfig.tools[0]",
    );
    let mut b = ConverseRequest::builder().user_text("x");
    for i in 0..11 {
        b = b.additional_model_response_field_path(format!("/p{i}"));
    }
    rejects(
        b,
        Rule::ResponseFieldPaths,
        "additionalModelResponseFieldPaths",
    );
}

#[test]
fn at_most_four_cache_points_across_the_request() {
    let b = ConverseRequest::builder()
        .system("s")
        .system_cache_point()
        .tool(weather_tool())
        .tool_entry(Tool::CachePoint(Default::default()))
        .message_builder(
            Message::user()
                .text("a")
                .cache_point()
                .text("b")
                .cache_point()
                .text("c")
                .cache_point(),
        );
    let e = rejects(b, Rule::CachePoints, "messages[0].content[5]");
    assert!(matches!(
        e,
        Error::Limit {
            limit: 4,
            actual: 5,
            ..
        }
    ));
}

#[test]
fn image_and_document_counts() {
    let png = fixtures::png(1, 1);
    let mut m = Message::user().text("many");
    for _ in 0..21 {
        m = m.image_bytes(png.clone(), ImageFormat::Png);
    }
    let e = rejects(
        ConverseRequest::builder().message_builder(m),
        Rule::ImageCount,
        "messages[0].content[21]",
    );
    assert!(matches!(
        e,
        Error::Limit {
            limit: 20,
            actual: 21,
            ..
        }
    ));

    let mut m = Message::user().text("docs");
    for i in 0..6 {
        m = m.document_bytes(b"x".to_vec(), DocumentFormat::Txt, format!("d{i}"));
    }
    rejects(
        ConverseRequest::builder().message_builder(m),
        Rule::DocumentCount,
        "messages[0].content[6]",
    );
}

#[test]
fn total_size_is_configurable() {
    let png = fixtures::png(1, 1);
    let len = png.len() as u64;
    let b = || {
        ConverseRequest::builder().message_builder(
            Message::user()
                .text("two")
                .image_bytes(png.clone(), ImageFormat::Png)
                .image_bytes(png.clone(), ImageFormat::Png),
        )
    };
    assert!(b().max_total_bytes(2 * len).build().is_ok());
    let e = rejects(
        b().max_total_bytes(2 * len - 1),
        Rule::TotalSize,
        "messages[0].content[2]",
    );
    assert!(matches!(e, Error::Limit { actual, .. } if actual == 2 * len));
    assert!(
        b().limits(Limits::bedrock().with_max_total_mb(0.0))
            .build()
            .is_err()
    );
}

#[test]
fn image_bytes_with_wrong_claim_use_content_and_warn() {
    let req = ConverseRequest::builder()
        .message_builder(
            Message::user()
                .text("x")
                .image_bytes(fixtures::png(1, 1), ImageFormat::Jpeg),
        )
        .build()
        .unwrap();
    assert_eq!(req.warnings().len(), 1);
    assert_eq!(
        req.to_json().unwrap()["messages"][0]["content"][1]["image"]["format"],
        "png"
    );
    // Warnings are not serialised.
    assert!(!serde_json::to_string(&req).unwrap().contains("warning"));
}

#[test]
fn deserialised_requests_can_be_validated() {
    let req: ConverseRequest = serde_json::from_value(json!({
        "messages": [{"role": "user", "content": [{"text": "hi"}, {"image": {"format": "gif", "source": {"bytes": "iVBORw=="}}}]}],
        "system": [{"text": "s"}]
    }))
    .unwrap();
    assert_eq!(req.system, vec![SystemBlock::Text("s".into())]);
    let e = req.validate(&Limits::bedrock()).unwrap_err();
    assert_eq!(e.rule(), Some(Rule::Format));
}
