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

fn mp4() -> Vec<u8> {
    crate::fixtures::all()
        .into_iter()
        .find(|(n, _)| *n == "sample.mp4")
        .unwrap()
        .1
}

/// Mostly valid operations, with a share of arbitrary ones.
fn op() -> impl Strategy<Value = Op> {
    let word = "[a-z]{1,8}( [a-z]{1,8})?";
    prop_oneof![
        4 => word.prop_map(Op::Text),
        1 => ".{0,12}".prop_map(Op::Text),
        1 => Just(Op::Image(crate::fixtures::png(1, 1), 0)),
        1 => (media_bytes(), 0..4usize).prop_map(|(b, f)| Op::Image(b, f)),
        1 => "[a-z]{1,8}".prop_map(|n| Op::Document(crate::fixtures::pdf(), 0, n)),
        1 => (media_bytes(), 0..9usize, "[a-zA-Z _.()-]{0,12}").prop_map(|(b, f, n)| Op::Document(b, f, n)),
        1 => Just(Op::Video(mp4(), 2)),
        1 => (media_bytes(), 0..9usize).prop_map(|(b, f)| Op::Video(b, f)),
        1 => Just(Op::CachePoint),
        2 => ("[a-z_.:]{1,6}", "[a-z_]{1,6}", json_value()).prop_map(|(i, n, v)| Op::ToolUse(i, n, v)),
        1 => ("[a-z_.:]{0,6}", "[a-z_ ]{0,6}", json_value()).prop_map(|(i, n, v)| Op::ToolUse(i, n, v)),
        2 => ("[a-z_]{0,6}", json_value()).prop_map(|(i, v)| Op::ToolResult(i, v)),
        1 => ".{0,8}".prop_map(Op::Reasoning),
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

/// Roles alternate from `user` in most cases so that many inputs build.
fn messages() -> impl Strategy<Value = Vec<(bool, Vec<Op>)>> {
    let ops = proptest::collection::vec(op(), 1..4);
    let ms = proptest::collection::vec((any::<bool>(), ops), 1..5);
    (any::<u8>(), ms).prop_map(|(mode, ms)| {
        if mode < 220 {
            ms.into_iter()
                .enumerate()
                .map(|(i, (_, ops))| (i % 2 == 0, ops))
                .collect()
        } else {
            ms
        }
    })
}

fn input() -> impl Strategy<Value = Input> {
    (
        messages(),
        proptest::option::of(prop_oneof![4 => "[a-z]{1,8}", 1 => ".{0,8}"]),
        proptest::option::of(prop_oneof![4 => 1..100_000u32, 1 => any::<u32>()]),
        proptest::option::of(prop_oneof![4 => 0.0f32..=1.0, 1 => -0.5f32..1.5]),
        any::<bool>(),
    )
}

fn build(
    (messages, system, max_tokens, temperature, tool): Input,
) -> Result<ConverseRequest, bedrock_messages::Error> {
    let mut b = ConverseRequest::builder();
    for (user, ops) in messages {
        let mut m = if user {
            Message::user()
        } else {
            Message::assistant()
        };
        for op in ops {
            m = apply(m, op);
        }
        b = b.message_builder(m);
    }
    if let Some(s) = system {
        b = b.system(s);
    }
    if let Some(t) = max_tokens {
        b = b.max_tokens(t);
    }
    if let Some(t) = temperature {
        b = b.temperature(t);
    }
    if tool {
        b = b.tool(ToolSpec::new("f", "d", json!({"type": "object"})));
    }
    b.build()
}

#[test]
fn the_property_is_not_vacuous() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut errs = std::collections::BTreeMap::new();
    let ok = (0..400)
        .filter(
            |_| match build(input().new_tree(&mut runner).unwrap().current()) {
                Ok(_) => true,
                Err(e) => {
                    *errs.entry(format!("{:?}", e.rule())).or_insert(0) += 1;
                    false
                }
            },
        )
        .count();
    assert!(
        ok >= 60,
        "only {ok} of 400 generated inputs built; errors: {errs:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn builds_round_trip_or_fail_typed(inp in input()) {
        match build(inp) {
            Ok(req) => {
                let sdk = apply_to_converse_input(&req, ConverseInput::builder()).unwrap();
                let back = request_from_converse_input(&sdk).unwrap();
                prop_assert_eq!(back.to_json().unwrap(), req.to_json().unwrap());
                // The fast serialiser writes the same bytes as serde_json.
                prop_assert_eq!(req.to_json_vec().unwrap(), serde_json::to_vec(&req).unwrap());
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
