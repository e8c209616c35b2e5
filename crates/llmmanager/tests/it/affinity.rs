//! Cache affinity against the simulator's per-region prompt caches: a request whose cached
//! prefix was written in one region goes back there and reads it, unless that region is cooling
//! or the cache entry has expired; residency and a batch's region spread are respected.

use std::sync::Arc;
use std::time::Duration;

use bedrock_retry::{HealthConfig, ManualClock, Route};
use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Scenario, SimHandle};
use llmmanager::catalog::Geo;
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{
    CacheConfig, CallOptions, ConverseRequest, LlmManager, LlmManagerBuilder, Message,
    ParallelLlmManager, RegionOrder, Residency, Response,
};

use crate::support::{HAIKU, hello, manager, sim};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
const EAST_2: &str = "us-east-2";

/// Turn `turns` of conversation `name`: a long system prompt of its own and a cache point after
/// it and after every user message (at most four points in all, as Bedrock allows).
fn conversation(name: &str, turns: usize) -> ConverseRequest {
    let mut b = ConverseRequest::builder()
        .system(format!("You answer questions about the {name} file. ").repeat(250))
        .system_cache_point()
        .max_tokens(32);
    for turn in 1..=turns {
        if turn > 1 {
            b = b.assistant_text(format!("Answer {turn} about {name}."));
        }
        let user = Message::user().text(format!("Question {turn} about {name}?"));
        // The last three user messages carry a point (with the system's: four).
        b = b.message_builder(if turn + 3 > turns {
            user.cache_point()
        } else {
            user
        });
    }
    b.build().unwrap()
}

fn read(r: &Response) -> u32 {
    r.usage().cache_read_input_tokens.unwrap_or(0)
}

fn written(r: &Response) -> u32 {
    r.usage().cache_write_input_tokens.unwrap_or(0)
}

/// The regions each runtime request went to, in order.
fn regions_sent(sim: &SimHandle) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.operation.is_runtime())
        .map(|r| r.region)
        .collect()
}

/// Claude 3 Haiku over three regions, each call starting one region further along.
fn rotating(sim: &SimHandle) -> LlmManagerBuilder {
    manager(sim)
        .model(HAIKU)
        .regions([EAST, WEST, EAST_2])
        .region_order(RegionOrder::Rotate)
}

#[tokio::test]
async fn the_next_turn_goes_to_the_region_that_cached_the_prefix_and_reads_it() {
    let sim = sim(Scenario::default()).await;
    let m = rotating(&sim).cache_affinity(true).build().await.unwrap();

    let first = m.converse(&conversation("alpha", 1)).await.unwrap();
    assert_eq!(first.region, EAST);
    assert!(written(&first) > 0, "{:?}", first.usage());

    // The rotation would start at us-west-2; the cached prefix is in us-east-1.
    let second = m.converse(&conversation("alpha", 2)).await.unwrap();
    assert_eq!(second.region, EAST);
    assert_eq!(second.attempts.len(), 1);
    assert_eq!(second.attempts[0].target.region, EAST);
    // The attempt says why it went there.
    assert_eq!(second.attempts[0].route, Route::Affinity);
    assert_eq!(first.attempts[0].route, Route::Order);
    assert!(read(&second) > 0, "{:?}", second.usage());

    // A request sharing no prefix follows the rotation (call 3 starts at us-east-2).
    let other = m.converse(&conversation("beta", 1)).await.unwrap();
    assert_eq!(other.region, EAST_2);
    assert_eq!(other.attempts[0].route, Route::Order);
    assert_eq!(read(&other), 0);
    assert_eq!(m.stats().affinity_routed, 1);

    // Without affinity, the same calls spread and never read their cache.
    let sim = crate::support::sim(Scenario::default()).await;
    let m = rotating(&sim).build().await.unwrap();
    m.converse(&conversation("alpha", 1)).await.unwrap();
    let second = m.converse(&conversation("alpha", 2)).await.unwrap();
    assert_eq!(second.region, WEST);
    assert_eq!(read(&second), 0);
    assert_eq!(m.stats().affinity_routed, 0);
}

#[tokio::test]
async fn the_managers_own_cache_point_placement_is_followed() {
    let sim = sim(Scenario::default()).await;
    let m = rotating(&sim)
        .cache(CacheConfig::conservative())
        .cache_affinity(true)
        .build()
        .await
        .unwrap();
    // No cache point of the caller's: the manager places one after the system prompt.
    let request = |question: &str| {
        ConverseRequest::builder()
            .system("You are a meticulous assistant for the shipping department. ".repeat(200))
            .user_text(question)
            .max_tokens(32)
            .build()
            .unwrap()
    };
    let first = m.converse(&request("Parcel to Norway?")).await.unwrap();
    assert!(written(&first) > 0, "{:?}", first.usage());
    let second = m.converse(&request("Parcel to Chile?")).await.unwrap();
    assert_eq!(second.region, first.region);
    assert!(read(&second) > 0, "{:?}", second.usage());
}

#[tokio::test]
async fn a_streamed_answer_sets_affinity_too() {
    let sim = sim(Scenario::default()).await;
    let m = rotating(&sim).cache_affinity(true).build().await.unwrap();
    let streamed = m
        .converse_stream(&conversation("gamma", 1))
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(streamed.region, EAST);
    let second = m.converse(&conversation("gamma", 2)).await.unwrap();
    assert_eq!(second.region, EAST);
    assert!(read(&second) > 0, "{:?}", second.usage());
}

#[tokio::test]
async fn a_cooling_affine_region_is_skipped() {
    // us-east-1 fails its second call; one failure cools a region.
    let sim = sim(Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ServiceUnavailableException))
            .region(EAST)
            .calls([2]),
    ))
    .await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions([EAST, WEST])
        .region_order(RegionOrder::Rotate)
        .health(HealthConfig::standard().with_failure_threshold(1))
        .cache_affinity(true)
        .build()
        .await
        .unwrap();
    let first = m.converse(&conversation("delta", 1)).await.unwrap();
    assert_eq!(first.region, EAST);
    // Another call, pinned to us-east-1, fails there and cools it.
    let pinned = m
        .converse_with(&hello(), &CallOptions::prefer_regions([EAST], true))
        .await
        .unwrap();
    assert_eq!(pinned.region, WEST);
    // Affinity asks for us-east-1 first; the health check sends the call to us-west-2 instead.
    let second = m.converse(&conversation("delta", 2)).await.unwrap();
    assert_eq!(second.region, WEST);
    assert_eq!(second.attempts.len(), 1);
    assert_eq!(regions_sent(&sim), [EAST, EAST, WEST, WEST]);
}

#[tokio::test]
async fn affinity_ends_with_the_cache_entry() {
    let sim = sim(Scenario::default()).await;
    let clock = ManualClock::new();
    let m = rotating(&sim)
        .clock(Arc::new(clock.clone()))
        .cache_affinity(true)
        .build()
        .await
        .unwrap();
    let first = m.converse(&conversation("epsilon", 1)).await.unwrap();
    assert_eq!(first.region, EAST);
    // Four minutes later the entry lives: back to us-east-1 (the rotation says us-west-2), and
    // the read renews it.
    clock.advance(Duration::from_secs(4 * 60));
    let second = m.converse(&conversation("epsilon", 2)).await.unwrap();
    assert_eq!(second.region, EAST);
    // Five minutes after that read, the entry is gone: the rotation decides (call 3: us-east-2).
    clock.advance(Duration::from_secs(5 * 60));
    let third = m.converse(&conversation("epsilon", 3)).await.unwrap();
    assert_eq!(third.region, EAST_2);
    assert_eq!(m.stats().affinity_routed, 1);
}

#[tokio::test]
async fn affinity_never_leaves_the_residency() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions([EAST, "eu-west-1", "eu-central-1", "eu-west-3"])
        .region_order(RegionOrder::Rotate)
        .residency(Residency::Geography(Geo::Eu))
        .cache_affinity(true)
        .build()
        .await
        .unwrap();
    for turn in 1..=4 {
        let r = m.converse(&conversation("zeta", turn)).await.unwrap();
        assert_eq!(r.region, "eu-west-1", "turn {turn}");
        if turn > 1 {
            assert!(read(&r) > 0, "turn {turn}: {:?}", r.usage());
        }
    }
    assert!(
        regions_sent(&sim).iter().all(|r| r.starts_with("eu-")),
        "{:?}",
        regions_sent(&sim)
    );
}

#[tokio::test]
async fn a_batch_follows_affinity_over_its_round_robin_spread() {
    async fn turns(m: &LlmManager, names: [&str; 2], turn: usize) -> Vec<Response> {
        let requests = names
            .iter()
            .map(|n| BatchRequest::new(*n, conversation(n, turn)))
            .collect();
        let batch = ParallelLlmManager::new(m.clone(), ParallelConfig::default())
            .unwrap()
            .converse_parallel(requests)
            .await
            .unwrap();
        let mut outcomes = batch.into_outcomes();
        outcomes.sort_by_key(|o| o.index);
        outcomes.into_iter().map(|o| o.result.unwrap()).collect()
    }
    for affinity in [true, false] {
        let sim = sim(Scenario::default()).await;
        let m = manager(&sim)
            .model(HAIKU)
            .regions([EAST, WEST])
            .cache_affinity(affinity)
            .build()
            .await
            .unwrap();
        // Round-robin: "one" starts in us-east-1 and "two" in us-west-2, then the other way.
        let first = turns(&m, ["one", "two"], 1).await;
        let regions: Vec<&str> = first.iter().map(|r| r.region.as_str()).collect();
        assert_eq!(regions, [EAST, WEST]);
        let second = turns(&m, ["two", "one"], 2).await;
        let regions: Vec<&str> = second.iter().map(|r| r.region.as_str()).collect();
        let reads: Vec<bool> = second.iter().map(|r| read(r) > 0).collect();
        if affinity {
            assert_eq!(regions, [WEST, EAST]);
            assert_eq!(reads, [true, true]);
        } else {
            assert_eq!(regions, [EAST, WEST]);
            assert_eq!(reads, [false, false]);
        }
    }
}
