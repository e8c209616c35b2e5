//! Property: any builder input yields a request whose JSON round-trips through the SDK types, or a
//! typed error; never a panic.

use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use bedrock_messages::sdk::{apply_to_converse_input, request_from_converse_input};
use bedrock_messages::{
    ConverseRequest, DocumentFormat, ImageFormat, Message, MessageBuilder, ToolResultContent,
    ToolSpec, VideoFormat,
};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Op {
    Text(String),
    Image(Vec<u8>, usize),
    Document(Vec<u8>, usize, String),
    Video(Vec<u8>, usize),
    CachePoint,
    ToolUse(String, String, Value),
    ToolResult(String, Value),
    Reasoning(String),
}

fn media_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        Just(crate::fixtures::png(1, 1)),
        Just(crate::fixtures::pdf()),
        Just(b"plain text".to_vec()),
        Just(
            crate::fixtures::all()
                .into_iter()
                .find(|(n, _)| *n == "sample.mp4")
                .unwrap()
                .1
        ),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        ".{0,12}".prop_map(Op::Text),
        (media_bytes(), 0..4usize).prop_map(|(b, f)| Op::Image(b, f)),
        (media_bytes(), 0..9usize, "[a-zA-Z _.()-]{0,12}")
            .prop_map(|(b, f, n)| Op::Document(b, f, n)),
        (media_bytes(), 0..9usize).prop_map(|(b, f)| Op::Video(b, f)),
        Just(Op::CachePoint),
        ("[a-z_.:]{0,6}", "[a-z_ ]{0,6}", json_value()).prop_map(|(i, n, v)| Op::ToolUse(i, n, v)),
        ("[a-z_]{0,6}", json_value()).prop_map(|(i, v)| Op::ToolResult(i, v)),
        ".{0,8}".prop_map(Op::Reasoning),
    ]
}

fn apply(mut m: MessageBuilder, op: Op) -> MessageBuilder {
    let pick = |i: usize, n: usize| i % n;
    match op {
        Op::Text(t) => m.text(t),
        Op::Image(b, f) => m.image_bytes(b, ImageFormat::ALL[pick(f, ImageFormat::ALL.len())]),
        Op::Document(b, f, n) => m.document_bytes(
            b,
            DocumentFormat::ALL[pick(f, DocumentFormat::ALL.len())],
            n,
        ),
        Op::Video(b, f) => m.video_bytes(b, VideoFormat::ALL[pick(f, VideoFormat::ALL.len())]),
        Op::CachePoint => m.cache_point(),
        Op::ToolUse(i, n, v) => m.tool_use(i, n, v),
        Op::ToolResult(i, v) => {
            m = m.tool_result(i, vec![ToolResultContent::Json(v)], None);
            m
        }
        Op::Reasoning(t) => m.reasoning(t, None),
    }
}

type Input = (
    Vec<(bool, Vec<Op>)>,
    Option<String>,
    Option<u32>,
    Option<f32>,
    bool,
);

fn input() -> impl Strategy<Value = Input> {
    (
        proptest::collection::vec((any::<bool>(), proptest::collection::vec(op(), 0..5)), 0..4),
        proptest::option::of(".{0,8}"),
        proptest::option::of(any::<u32>()),
        proptest::option::of(-0.5f32..1.5),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn builds_round_trip_or_fail_typed((messages, system, max_tokens, temperature, tool) in input()) {
        let mut b = ConverseRequest::builder();
        for (user, ops) in messages {
            let mut m = if user { Message::user() } else { Message::assistant() };
            for op in ops {
                m = apply(m, op);
            }
            b = b.message_builder(m);
        }
        if let Some(s) = system { b = b.system(s); }
        if let Some(t) = max_tokens { b = b.max_tokens(t); }
        if let Some(t) = temperature { b = b.temperature(t); }
        if tool { b = b.tool(ToolSpec::new("f", "d", json!({"type": "object"}))); }
        match b.build() {
            Ok(req) => {
                let sdk = apply_to_converse_input(&req, ConverseInput::builder()).unwrap();
                let back = request_from_converse_input(&sdk).unwrap();
                prop_assert_eq!(back.to_json().unwrap(), req.to_json().unwrap());
                // And the JSON deserialises to the same request.
                let again: ConverseRequest = serde_json::from_value(req.to_json().unwrap()).unwrap();
                prop_assert_eq!(again.to_json().unwrap(), req.to_json().unwrap());
            }
            Err(e) => {
                // A typed error with a rule or an explicit conversion reason.
                prop_assert!(e.rule().is_some() || matches!(e.kind(), bedrock_messages::ErrorKind::Conversion), "{e}");
            }
        }
    }
}
