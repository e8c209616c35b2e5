//! Where each strategy puts its points on the fixture requests.

use bedrock_cache::{CacheConfig, CacheRule, MessagePosition, place_cache_points};
use serde_json::{Value, json};

use crate::support::haiku_caching;

fn strategies() -> Vec<(&'static str, CacheConfig)> {
    vec![
        ("conservative", CacheConfig::conservative()),
        ("aggressive", CacheConfig::aggressive()),
        (
            "custom: after system, after the second-to-last message, all images",
            CacheConfig::custom(vec![
                CacheRule::AfterSystem,
                CacheRule::AfterMessage(MessagePosition::FromEnd(2)),
                CacheRule::AllImages,
            ])
            .unwrap(),
        ),
    ]
}

#[test]
fn strategies_on_fixture_requests() {
    let caching = haiku_caching();
    insta::glob!("../../../../fixtures/cache", "*.json", |path| {
        let request = crate::support::load(path);
        let total = bedrock_cache::estimate_request_tokens(&request);
        let mut by_strategy = serde_json::Map::new();
        for (name, cfg) in strategies() {
            let placed = place_cache_points(&request, Some(&caching), &cfg);
            by_strategy.insert(
                name.to_owned(),
                json!({"points": placed.points, "warnings": placed.warnings}),
            );
        }
        let snap: Value = json!({
            "model_min_tokens": caching.min_tokens,
            "estimated_tokens": total,
            "strategies": by_strategy,
        });
        insta::assert_json_snapshot!(snap);
    });
}
