//! Converse: typed responses, determinism, validation errors, tool use and prompt caching.

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ConversationRole, ImageBlock, ImageFormat,
    ImageSource, InferenceConfiguration, Message, StopReason, SystemContentBlock, Tool,
    ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::{Blob, Document};
use bedrock_sim::{ModelCaps, PromptCaching, Scenario, ScriptedReply, Simulator};

use crate::support::{HAIKU3, HAIKU45, assistant, reply_text, runtime, user};

#[tokio::test]
async fn converse_returns_a_consistent_deterministic_answer() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let call = || {
        rt.converse()
            .model_id(HAIKU3)
            .messages(user("Tell me about rivers."))
    };
    let a = call().send().await.unwrap();
    let b = call().send().await.unwrap();
    assert_eq!(reply_text(&a), reply_text(&b), "same request, same answer");
    assert!(!reply_text(&a).is_empty());
    assert_eq!(a.stop_reason(), &StopReason::EndTurn);
    let u = a.usage().unwrap();
    assert_eq!(
        u.input_tokens(),
        4 + 3 + 6,
        "request framing, message framing, ceil(21 chars / 4)"
    );
    assert_eq!(
        u.output_tokens(),
        bedrock_sim::text_tokens(&reply_text(&a)) as i32
    );
    assert_eq!(u.total_tokens(), u.input_tokens() + u.output_tokens());
    assert_eq!(a.metrics().unwrap().latency_ms(), 0);
    let id = a.request_id().unwrap();
    assert_eq!(id.len(), 36);
    assert_ne!(Some(id), b.request_id());
    sim.shutdown().await;
}

#[tokio::test]
async fn inference_profile_ids_and_arns_are_accepted() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-west-2").await;
    let profile = format!("us.{HAIKU45}");
    let arn = format!("arn:aws:bedrock:us-west-2:123456789012:inference-profile/{profile}");
    let fm_arn = format!("arn:aws:bedrock:us-west-2::foundation-model/{HAIKU3}");
    for id in [&profile, &arn, &fm_arn] {
        let out = rt.converse().model_id(id).messages(user("hi")).send().await;
        assert!(out.is_ok(), "{id}: {out:?}");
    }
    let reqs = sim.requests();
    assert_eq!(
        reqs[1].model_id.as_deref(),
        Some(arn.as_str()),
        "decoded once"
    );
    assert_eq!(reqs[1].base_model_id.as_deref(), Some(HAIKU45));
    assert_eq!(reqs[1].region, "us-west-2");
    sim.shutdown().await;
}

#[track_caller]
fn check_validation(err: ConverseError, expected: &str) {
    match err {
        ConverseError::ValidationException(e) => assert_eq!(e.message(), Some(expected)),
        other => panic!("expected ValidationException, got {other:?}"),
    }
}

#[tokio::test]
async fn model_resolution_errors_match_bedrock() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let send = |id: &str| rt.converse().model_id(id).messages(user("hi")).send();
    let e = send("anthropic.nope-v1:0")
        .await
        .unwrap_err()
        .into_service_error();
    check_validation(e, "The provided model identifier is invalid.");
    let e = send(HAIKU45).await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
    check_validation(
        e.into_service_error(),
        &format!(
            "Invocation of model ID {HAIKU45} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        ),
    );
    // A European profile is not callable from us-east-1.
    let e = send(&format!("eu.{HAIKU45}"))
        .await
        .unwrap_err()
        .into_service_error();
    check_validation(e, "The provided model identifier is invalid.");
    // An image model cannot converse.
    let e = send("us.stability.stable-outpaint-v1:0")
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("ValidationException"));
    sim.shutdown().await;
}

#[tokio::test]
async fn request_validation_matches_bedrock() {
    let caps = ModelCaps {
        max_output_tokens: Some(4096),
        ..ModelCaps::default()
    };
    let sim = Simulator::start(Scenario::default().with_model_caps(HAIKU3, caps))
        .await
        .unwrap();
    let rt = runtime(&sim, "us-east-1").await;

    let e = rt
        .converse()
        .model_id(HAIKU3)
        .messages(assistant("hi"))
        .send()
        .await;
    check_validation(
        e.unwrap_err().into_service_error(),
        "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
    );
    let e = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("a"))
        .messages(user("b"))
        .send()
        .await;
    check_validation(
        e.unwrap_err().into_service_error(),
        "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
    );
    let e = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("hi"))
        .inference_config(InferenceConfiguration::builder().max_tokens(5000).build())
        .send()
        .await;
    check_validation(
        e.unwrap_err().into_service_error(),
        "The maximum tokens you requested exceeds the model limit of 4096. Try again with a maximum tokens value that is lower than 4096.",
    );
    let cp = || {
        ContentBlock::CachePoint(
            CachePointBlock::builder()
                .r#type(CachePointType::Default)
                .build()
                .unwrap(),
        )
    };
    let mut msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("x".into()));
    for _ in 0..5 {
        msg = msg.content(ContentBlock::Text("y".into())).content(cp());
    }
    let e = rt
        .converse()
        .model_id(HAIKU3)
        .messages(msg.build().unwrap())
        .send()
        .await;
    check_validation(
        e.unwrap_err().into_service_error(),
        "The model returned the following errors: A maximum of 4 blocks with cache_control may be provided. Found 5.",
    );
    // Llama 3 8B Instruct takes text only.
    let image = ContentBlock::Image(
        ImageBlock::builder()
            .format(ImageFormat::Png)
            .source(ImageSource::Bytes(Blob::new(vec![1, 2, 3])))
            .build()
            .unwrap(),
    );
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("what is this".into()))
        .content(image)
        .build()
        .unwrap();
    let e = rt
        .converse()
        .model_id("meta.llama3-8b-instruct-v1:0")
        .messages(msg)
        .send()
        .await;
    check_validation(
        e.unwrap_err().into_service_error(),
        "This model doesn't support the image content block that you provided. Try again with a supported content block.",
    );
    assert_eq!(sim.stats().by_outcome["ValidationException"], 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn max_tokens_and_stop_sequences_shape_the_answer() {
    let scenario =
        Scenario::default().with_reply(ScriptedReply::text("alpha beta gamma delta epsilon"));
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("go"))
        .inference_config(InferenceConfiguration::builder().max_tokens(2).build())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);
    assert_eq!(reply_text(&out), "alpha be");
    assert_eq!(out.usage().unwrap().output_tokens(), 2);
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("go"))
        .inference_config(
            InferenceConfiguration::builder()
                .stop_sequences("gamma")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::StopSequence);
    assert_eq!(reply_text(&out), "alpha beta ");
    sim.shutdown().await;
}

fn weather_tool() -> ToolConfiguration {
    let schema = Document::Object(
        [
            ("type".to_owned(), Document::String("object".into())),
            (
                "properties".to_owned(),
                Document::Object(
                    [(
                        "city".to_owned(),
                        Document::Object(
                            [("type".to_owned(), Document::String("string".into()))].into(),
                        ),
                    )]
                    .into(),
                ),
            ),
            (
                "required".to_owned(),
                Document::Array(vec![Document::String("city".into())]),
            ),
        ]
        .into(),
    );
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("get_weather")
                .input_schema(ToolInputSchema::Json(schema))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn tool_use_answers_when_the_scenario_asks() {
    let sim = Simulator::start(Scenario::default().with_tool_use_when_offered(true))
        .await
        .unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("weather in Paris?"))
        .tool_config(weather_tool())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let msg = out.output().unwrap().as_message().unwrap();
    let tu = msg.content()[0].as_tool_use().unwrap();
    assert_eq!(tu.name(), "get_weather");
    assert!(tu.tool_use_id().starts_with("tooluse_"));
    let Document::Object(input) = tu.input() else {
        panic!("input is an object")
    };
    assert!(
        matches!(input.get("city"), Some(Document::String(c)) if !c.is_empty()),
        "the required string property is filled: {input:?}"
    );
    // Without tools the same scenario answers with text.
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    sim.shutdown().await;
}

#[tokio::test]
async fn prompt_cache_writes_then_reads_above_the_minimum_only() {
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
    let cp = SystemContentBlock::CachePoint(
        CachePointBlock::builder()
            .r#type(CachePointType::Default)
            .build()
            .unwrap(),
    );
    let long = "x".repeat(4000 * 4); // 4,000 tokens
    let short = "y".repeat(100 * 4); // 100 tokens: below the minimum
    let send = |sys: String, q: &'static str| {
        rt.converse()
            .model_id(HAIKU3)
            .system(SystemContentBlock::Text(sys))
            .system(cp.clone())
            .messages(user(q))
            .send()
    };
    // The cached prefix: request framing (4), system wrapper (2), the system text.
    let prefix = 4 + 2 + 4000;
    let first = send(long.clone(), "one").await.unwrap();
    let u = first.usage().unwrap();
    assert_eq!(
        (u.cache_write_input_tokens(), u.cache_read_input_tokens()),
        (Some(prefix), Some(0))
    );
    assert_eq!(u.input_tokens(), 3 + 1, "message framing and the question");
    assert_eq!(u.total_tokens(), prefix + 3 + 1 + u.output_tokens());
    let second = send(long, "two").await.unwrap();
    let u = second.usage().unwrap();
    assert_eq!(
        (u.cache_write_input_tokens(), u.cache_read_input_tokens()),
        (Some(0), Some(prefix))
    );
    let small = send(short, "three").await.unwrap();
    let u = small.usage().unwrap();
    assert_eq!(
        u.cache_write_input_tokens().unwrap_or(0) + u.cache_read_input_tokens().unwrap_or(0),
        0
    );
    assert_eq!(
        u.input_tokens(),
        4 + 2 + 100 + 3 + 2,
        "framing, 100, ceil(5 / 4)"
    );
    let s = sim.stats();
    assert_eq!(
        (s.cache_write_input_tokens, s.cache_read_input_tokens),
        (prefix as u64, prefix as u64)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn scripted_replies_follow_call_numbers() {
    let scenario = Scenario::default()
        .with_reply(ScriptedReply {
            calls: vec![1, 3],
            ..ScriptedReply::text("odd one")
        })
        .with_reply(ScriptedReply::text("the rest"));
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let out = rt
            .converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .unwrap();
        got.push(reply_text(&out));
    }
    assert_eq!(got, ["odd one", "the rest", "odd one", "the rest"]);
    sim.shutdown().await;
}

fn doc_at<'a>(
    d: &'a aws_smithy_types::Document,
    path: &[&str],
) -> Option<&'a aws_smithy_types::Document> {
    path.iter().try_fold(d, |d, k| d.as_object()?.get(*k))
}

#[tokio::test]
async fn additional_response_field_paths_report_the_matched_stop_sequence() {
    use aws_sdk_bedrockruntime::types::ConverseStreamOutput as Ev;
    let sim = Simulator::start(
        Scenario::default().with_reply(ScriptedReply::text("Hello there. END of story.")),
    )
    .await
    .unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let cfg = |stops: &[&str]| {
        InferenceConfiguration::builder()
            .set_stop_sequences(Some(stops.iter().map(|s| (*s).to_owned()).collect()))
            .build()
    };
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .inference_config(cfg(&["END", "never"]))
        .additional_model_response_field_paths("/delta/stop_sequence")
        .additional_model_response_field_paths("/stop_sequence")
        .additional_model_response_field_paths("/not/there")
        .send()
        .await
        .unwrap();
    assert_eq!(reply_text(&out), "Hello there. ");
    let fields = out.additional_model_response_fields().unwrap();
    assert_eq!(
        doc_at(fields, &["delta", "stop_sequence"]),
        Some(&Document::String("END".into()))
    );
    assert_eq!(
        doc_at(fields, &["stop_sequence"]),
        Some(&Document::String("END".into()))
    );
    assert_eq!(doc_at(fields, &["not"]), None);

    // No stop sequence matched: null. The same in the stream's messageStop event.
    let mut s = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("x"))
        .additional_model_response_field_paths("/delta/stop_sequence")
        .send()
        .await
        .unwrap();
    let mut stop_fields = None;
    while let Some(ev) = s.stream.recv().await.unwrap() {
        if let Ev::MessageStop(m) = ev {
            stop_fields = m.additional_model_response_fields().cloned();
        }
    }
    let stop_fields = stop_fields.unwrap();
    assert_eq!(
        doc_at(&stop_fields, &["delta", "stop_sequence"]),
        Some(&Document::Null)
    );

    // Without paths, no field at all.
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    assert!(out.additional_model_response_fields().is_none());

    let err = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .additional_model_response_field_paths("delta")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}
