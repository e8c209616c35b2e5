//! Against `bedrock-sim` through a plain `aws-sdk-bedrockruntime` client: placed points make the
//! second call read from the cache, short prefixes get no point, and efficiency adds up.

use bedrock_cache::{CacheConfig, CacheEfficiency, PriceTable, place_cache_points};
use bedrock_catalog::Catalog;
use bedrock_sim::{Scenario, Simulator};

use crate::support::{HAIKU3, client, fixture, haiku_caching, send};

#[tokio::test]
async fn repeated_long_prefix_reads_from_cache_on_the_second_call() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = client(&sim).await;
    let caching = haiku_caching();
    let placed = place_cache_points(
        &fixture("long-system"),
        Some(&caching),
        &CacheConfig::conservative(),
    );
    assert_eq!(placed.added(), 1, "{:?}", placed.warnings);
    let estimate = placed.points[0].tokens_before;

    let first = send(&rt, HAIKU3, &placed.request).await;
    let second = send(&rt, HAIKU3, &placed.request).await;

    let written = first.cache_write_input_tokens.unwrap();
    assert_eq!(first.cache_read_input_tokens.unwrap_or(0), 0);
    assert!(u64::from(written) >= u64::from(caching.min_tokens));
    assert_eq!(second.cache_read_input_tokens, Some(written));
    assert_eq!(second.cache_write_input_tokens.unwrap_or(0), 0);
    assert_eq!(
        second.input_tokens, first.input_tokens,
        "only the question is uncached"
    );
    // The estimate of the cached prefix agrees with the simulator's count within 1%.
    let diff = estimate.abs_diff(u64::from(written));
    assert!(
        diff * 100 <= estimate,
        "estimate {estimate}, simulator {written}"
    );

    let prices = PriceTable::bundled().unwrap();
    let price = prices.get(HAIKU3);
    assert!(price.is_some());
    let batch: CacheEfficiency = [first, second]
        .iter()
        .map(|u| CacheEfficiency::from_usage(u, price))
        .sum();
    assert_eq!(batch.responses, 2);
    assert_eq!(batch.responses_with_hits, 1);
    assert_eq!(batch.tokens_saved(), u64::from(written));
    let total = u64::from(first.input_tokens + second.input_tokens) + 2 * u64::from(written);
    assert_eq!(batch.total_input_tokens(), total);
    assert!((batch.hit_ratio() - written as f64 / total as f64).abs() < 1e-12);
    // One read saves more (0.25 − 0.03 $/M) than one write costs extra (0.30 − 0.25 $/M).
    let expected = f64::from(written) * ((0.25 - 0.03) - (0.30 - 0.25)) / 1e6;
    assert!((batch.cost_saved_usd.unwrap() - expected).abs() < 1e-12);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_growing_conversation_reads_the_previous_turn() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = client(&sim).await;
    let caching = haiku_caching();
    let full = fixture("multi-turn");
    let mut earlier = full.clone();
    earlier.messages.truncate(3);

    let turn1 = place_cache_points(&earlier, Some(&caching), &CacheConfig::aggressive());
    let turn2 = place_cache_points(&full, Some(&caching), &CacheConfig::aggressive());
    assert!(turn1.added() >= 1 && turn2.added() >= 2);
    let u1 = send(&rt, HAIKU3, &turn1.request).await;
    let u2 = send(&rt, HAIKU3, &turn2.request).await;
    assert!(u1.cache_write_input_tokens.unwrap() > 0);
    assert_eq!(u1.cache_read_input_tokens.unwrap_or(0), 0);
    assert_eq!(
        u2.cache_read_input_tokens, u1.cache_write_input_tokens,
        "turn 2 reads everything turn 1 wrote"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_prefix_under_the_threshold_gets_no_point_and_caches_nothing() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = client(&sim).await;
    let caching = haiku_caching();
    // About 1,500 tokens of system prompt: below Claude 3 Haiku's 2,048.
    let mut request = fixture("long-system");
    let bedrock_messages::SystemBlock::Text(text) = &mut request.system[0] else {
        panic!("the fixture's system prompt is text");
    };
    *text = text.chars().take(6_000).collect();
    for cfg in [CacheConfig::conservative(), CacheConfig::aggressive()] {
        let placed = place_cache_points(&request, Some(&caching), &cfg);
        assert_eq!(placed.request, request);
        assert_eq!(placed.added(), 0);
        assert!(placed.warnings[0].contains("below the model's minimum"));
    }
    for _ in 0..2 {
        let u = send(&rt, HAIKU3, &request).await;
        assert_eq!(u.cache_read_input_tokens.unwrap_or(0), 0);
        assert_eq!(u.cache_write_input_tokens.unwrap_or(0), 0);
        let eff = CacheEfficiency::from_usage(&u, None);
        assert_eq!(eff.hit_ratio(), 0.0);
        assert_eq!(eff.cost_saved_usd, None);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_model_without_caching_gets_no_points_and_still_answers() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = client(&sim).await;
    let catalog = Catalog::bundled().unwrap();
    let llama = catalog.resolve("meta.llama3-8b-instruct-v1:0").unwrap();
    assert_eq!(llama.capabilities.prompt_caching, None);
    let request = fixture("long-system");
    let placed = place_cache_points(
        &request,
        llama.capabilities.prompt_caching.as_ref(),
        &CacheConfig::aggressive(),
    );
    assert_eq!(placed.request, request);
    assert!(placed.warnings[0].contains("does not support prompt caching"));
    let u = send(&rt, &llama.id, &placed.request).await;
    assert!(u.input_tokens > 3_000);
    sim.shutdown().await;
}
