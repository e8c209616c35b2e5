//! Properties of placement on arbitrary requests: never more points than allowed, never below
//! the cumulative minimum, never in a forbidden position, the caller's points untouched, and no
//! panics.

use bedrock_cache::{CacheConfig, CacheRule, MessagePosition, PointPosition, place_cache_points};
use bedrock_catalog::PromptCaching;
use bedrock_messages::{ContentBlock, ConverseRequest, SystemBlock, Tool};
use proptest::prelude::*;
use serde_json::{Value, json};

fn text(tokens: usize) -> String {
    "abcd".repeat(tokens)
}

fn point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

fn content_block() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0usize..3000).prop_map(|n| json!({"text": text(n)})),
        1 => Just(json!({"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}})),
        1 => (0usize..3000).prop_map(|n| json!({"document": {"format": "txt", "name": "d", "source": {"text": text(n)}}})),
        1 => Just(point()),
        1 => Just(json!({"guardContent": {"text": {"text": "guarded"}}})),
        1 => Just(json!({"reasoningContent": {"reasoningText": {"text": "thinking"}}})),
        1 => Just(json!({"toolUse": {"toolUseId": "t1", "name": "f", "input": {"q": "x"}}})),
    ]
}

fn system_block() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0usize..3000).prop_map(|n| json!({"text": text(n)})),
        1 => Just(point()),
        1 => Just(json!({"guardContent": {"text": {"text": "guarded"}}})),
    ]
}

fn tool() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0usize..2000).prop_map(|n| json!({"toolSpec": {"name": "f", "description": text(n), "inputSchema": {"json": {"type": "object"}}}})),
        1 => Just(point()),
    ]
}

fn request() -> impl Strategy<Value = ConverseRequest> {
    (
        prop::option::of(prop::collection::vec(tool(), 1..4)),
        prop::collection::vec(system_block(), 0..4),
        prop::collection::vec(prop::collection::vec(content_block(), 0..5), 0..6),
    )
        .prop_map(|(tools, system, messages)| {
            let messages: Vec<Value> = messages
                .into_iter()
                .enumerate()
                .map(|(i, content)| {
                    json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": content})
                })
                .collect();
            let mut body = json!({"messages": messages, "system": system});
            if let Some(tools) = tools {
                body["toolConfig"] = json!({"tools": tools});
            }
            serde_json::from_value(body).unwrap()
        })
}

fn rule() -> impl Strategy<Value = CacheRule> {
    let pos = prop_oneof![
        (0usize..6).prop_map(MessagePosition::FromStart),
        (0usize..6).prop_map(MessagePosition::FromEnd),
    ];
    prop_oneof![
        Just(CacheRule::AfterTools),
        Just(CacheRule::AfterSystem),
        pos.clone().prop_map(CacheRule::AfterMessage),
        (pos, 0usize..5).prop_map(|(message, block)| CacheRule::AfterBlock { message, block }),
        (0u32..4000).prop_map(CacheRule::TextBlocksOver),
        Just(CacheRule::AllImages),
        Just(CacheRule::AllDocuments),
    ]
}

fn config() -> impl Strategy<Value = CacheConfig> {
    prop_oneof![
        Just(CacheConfig::disabled()),
        Just(CacheConfig::conservative()),
        Just(CacheConfig::aggressive()),
        prop::collection::vec(rule(), 0..6)
            .prop_map(|r| CacheConfig::custom(r).unwrap_or_else(|_| CacheConfig::aggressive())),
    ]
}

fn caching() -> impl Strategy<Value = Option<PromptCaching>> {
    prop::option::weighted(
        0.9,
        (0u32..5000, 0u32..7, any::<bool>()).prop_map(|(min_tokens, max_points, ttl_1h)| {
            PromptCaching {
                min_tokens,
                max_points,
                ttl_1h,
            }
        }),
    )
}

fn is_point_c(b: &ContentBlock) -> bool {
    matches!(b, ContentBlock::CachePoint(_))
}

/// The request without the points at `added` positions.
fn strip(req: &ConverseRequest, added: &[PointPosition]) -> ConverseRequest {
    let mut out = req.clone();
    if let Some(tc) = out.tool_config.as_mut() {
        tc.tools = tc
            .tools
            .iter()
            .enumerate()
            .filter(|(i, _)| !added.contains(&PointPosition::Tools { index: *i }))
            .map(|(_, t)| t.clone())
            .collect();
    }
    out.system = out
        .system
        .iter()
        .enumerate()
        .filter(|(i, _)| !added.contains(&PointPosition::System { index: *i }))
        .map(|(_, b)| b.clone())
        .collect();
    for (m, msg) in out.messages.iter_mut().enumerate() {
        msg.content = msg
            .content
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                !added.contains(&PointPosition::Message {
                    message: m,
                    block: *i,
                })
            })
            .map(|(_, b)| b.clone())
            .collect();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn placement_keeps_bedrocks_rules(req in request(), caching in caching(), cfg in config()) {
        let placed = place_cache_points(&req, caching.as_ref(), &cfg);
        let before = place_cache_points(&req, None, &CacheConfig::disabled()).points;
        let added: Vec<PointPosition> =
            placed.points.iter().filter(|p| p.added).map(|p| p.position).collect();

        // The caller's points and blocks are untouched.
        prop_assert_eq!(&strip(&placed.request, &added), &req);
        prop_assert_eq!(placed.points.len(), before.len() + added.len());
        let Some(caching) = caching.filter(|_| cfg.is_enabled()) else {
            prop_assert_eq!(&placed.request, &req);
            prop_assert!(added.is_empty());
            return Ok(());
        };

        // Never more than the model's limit, itself at most 4.
        let limit = (caching.max_points as usize).min(4);
        if before.len() >= limit {
            prop_assert!(added.is_empty());
        } else {
            prop_assert!(placed.points.len() <= limit);
        }

        let min = u64::from(caching.min_tokens);
        let mut kept = 0u64;
        for (i, p) in placed.points.iter().enumerate() {
            let ordinal = i as u64 + 1;
            if p.added {
                // The cumulative minimum, and a longer prefix than the point before.
                prop_assert!(p.tokens_before >= ordinal * min, "{p:?} at ordinal {ordinal}, min {min}");
                prop_assert!(p.tokens_before > 0);
                if let Some(prev) = i.checked_sub(1).and_then(|j| placed.points.get(j)) {
                    prop_assert!(p.tokens_before > prev.tokens_before);
                }
            } else {
                // A caller's point that met its threshold before still meets it.
                kept += 1;
                if p.tokens_before >= kept * min {
                    prop_assert!(p.tokens_before >= ordinal * min);
                }
            }
        }

        // Added points follow a block that can close a prefix: never first, never after a
        // point, guard or reasoning block; in the tools, only after the last tool.
        for pos in &added {
            match *pos {
                PointPosition::Tools { index } => {
                    let tools = &placed.request.tool_config.as_ref().unwrap().tools;
                    prop_assert!(index >= 1);
                    prop_assert!(matches!(tools[index - 1], Tool::Spec(_)));
                    prop_assert_eq!(index, tools.len() - 1);
                }
                PointPosition::System { index } => {
                    prop_assert!(index >= 1);
                    prop_assert!(matches!(placed.request.system[index - 1], SystemBlock::Text(_)));
                }
                PointPosition::Message { message, block } => {
                    prop_assert!(block >= 1);
                    let content = &placed.request.messages[message].content;
                    let prev = &content[block - 1];
                    prop_assert!(!is_point_c(prev));
                    prop_assert!(!matches!(prev, ContentBlock::GuardContent(_) | ContentBlock::ReasoningContent(_)));
                }
            }
        }
    }
}
