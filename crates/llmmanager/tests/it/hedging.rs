//! Hedged requests and latency-aware order against a simulator with a slow region.

use std::time::Duration;

use bedrock_retry::HedgeLoss;
use bedrock_sim::{LatencyModel, LatencyRule, Scenario};
use llmmanager::{CallOptions, ConverseRequest, Hedging, LlmManager, Response};

use crate::support::{HAIKU, NOVA_LITE, east_west, hello, manager, sim};

/// us-east-1 answers after `slow_ms`, every other region after 10 ms.
fn slow_east(slow_ms: u64) -> Scenario {
    Scenario::default()
        .with_latency(LatencyModel::new(10, 0.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(slow_ms, 0.0)).region("us-east-1"))
}

fn hedge_after_100ms() -> Hedging {
    Hedging::after(Duration::from_millis(100)).max_share(1.0)
}

/// How each attempt ended: `region ok|class|cancelled|discarded [hedge]`.
fn outcomes(r: &Response) -> Vec<String> {
    r.attempts
        .iter()
        .map(|a| {
            let end = match (a.lost, a.class) {
                (Some(HedgeLoss::Cancelled), _) => "cancelled".to_owned(),
                (Some(_), _) => "discarded".to_owned(),
                (None, Some(class)) => class.to_string(),
                (None, None) => "ok".to_owned(),
            };
            let hedge = if a.hedge { " hedge" } else { "" };
            format!("{} {end}{hedge}", a.target.region)
        })
        .collect()
}

#[tokio::test]
async fn a_slow_region_is_hedged_and_the_hedge_wins() {
    let sim = sim(slow_east(3_000)).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(r.region, "us-west-2");
    assert_eq!(outcomes(&r), ["us-east-1 cancelled", "us-west-2 ok hedge"]);
    // The slow attempt was dropped when the hedge answered, long before its 3 s.
    assert!(
        r.attempts[0].duration < Duration::from_secs(1),
        "{:?}",
        r.attempts[0].duration
    );
    assert_eq!(r.attempts[1].delay_before, Duration::from_millis(100));
    // Both requests reached Bedrock; exactly one answer was used.
    let seen = sim.requests();
    let regions: Vec<&str> = seen.iter().map(|s| s.region.as_str()).collect();
    assert_eq!(regions, ["us-east-1", "us-west-2"]);
    let stats = m.stats();
    assert_eq!(
        (stats.hedges, stats.hedges_won, stats.discarded_answers),
        (1, 1, 0)
    );
    let east = stats
        .targets
        .iter()
        .find(|t| t.region == "us-east-1")
        .unwrap();
    assert_eq!((east.attempts, east.successes, east.lost), (1, 0, 1));
    assert!(east.failures.is_empty());
}

#[tokio::test]
async fn a_fast_answer_is_not_hedged() {
    let sim = sim(slow_east(10)).await;
    let m = east_west(&sim)
        .hedging(Hedging::after(Duration::from_millis(500)).max_share(1.0))
        .build()
        .await
        .unwrap();
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(outcomes(&r), ["us-east-1 ok"]);
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(m.stats().hedges, 0);
}

#[tokio::test]
async fn the_share_cap_holds_across_concurrent_calls() {
    let sim = sim(slow_east(600)).await;
    let m = east_west(&sim)
        .hedging(Hedging::after(Duration::from_millis(100)).max_share(0.2))
        .build()
        .await
        .unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let m: LlmManager = m.clone();
        calls.spawn(async move { m.converse(&hello()).await.unwrap() });
    }
    let responses = calls.join_all().await;
    let attempts: usize = responses.iter().map(|r| r.attempts.len()).sum();
    let hedged = responses.iter().filter(|r| r.attempts.len() == 2).count();
    let won = responses.iter().filter(|r| r.region == "us-west-2").count();
    // At most 20% of 10 calls hedge, and every request sent is in some call's attempts.
    assert_eq!(hedged, 2);
    assert_eq!(won, 2);
    assert_eq!(attempts, 12);
    assert_eq!(sim.requests().len(), 12);
    assert_eq!(m.stats().hedges, 2);
}

#[tokio::test]
async fn no_hedge_above_the_input_token_limit() {
    let sim = sim(slow_east(400)).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms().max_input_tokens(50))
        .build()
        .await
        .unwrap();
    let long = ConverseRequest::builder()
        .user_text("Summarise the following. ".repeat(100))
        .max_tokens(64)
        .build()
        .unwrap();
    let r = m.converse(&long).await.unwrap();
    assert_eq!(outcomes(&r), ["us-east-1 ok"]);
    assert_eq!(sim.requests().len(), 1);
    // A short request under the same manager is hedged.
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(outcomes(&r), ["us-east-1 cancelled", "us-west-2 ok hedge"]);
}

#[tokio::test]
async fn no_hedge_above_the_cost_limit() {
    let sim = sim(slow_east(400)).await;
    let m = east_west(&sim).build().await.unwrap();
    // One millionth of a cent is less than any copy costs.
    let cheap = CallOptions::default().with_hedging(hedge_after_100ms().max_cost_usd(1e-8));
    let r = m.converse_with(&hello(), &cheap).await.unwrap();
    assert_eq!(outcomes(&r), ["us-east-1 ok"]);
    assert_eq!(sim.requests().len(), 1);
    // A dollar covers it: Claude 3 Haiku has a price in us-west-2.
    let generous = CallOptions::default().with_hedging(hedge_after_100ms().max_cost_usd(1.0));
    let r = m.converse_with(&hello(), &generous).await.unwrap();
    assert_eq!(outcomes(&r), ["us-east-1 cancelled", "us-west-2 ok hedge"]);
    assert_eq!(sim.requests().len(), 3);
}

#[tokio::test]
async fn a_call_can_turn_the_managers_hedging_off() {
    let sim = sim(slow_east(300)).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let off = CallOptions::default().with_hedging(Hedging::off());
    let r = m.converse_with(&hello(), &off).await.unwrap();
    assert_eq!(outcomes(&r), ["us-east-1 ok"]);
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn streams_are_not_hedged() {
    let sim = sim(slow_east(300)).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let r = m
        .converse_stream(&hello())
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(r.region, "us-east-1");
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn latency_aware_order_prefers_the_faster_region_of_a_model() {
    let sim = sim(slow_east(150)).await;
    let m = east_west(&sim).latency_aware(true).build().await.unwrap();
    // Nothing observed: the configured order. Then the unobserved region gets its turn.
    let first = m.converse(&hello()).await.unwrap();
    assert_eq!(first.region, "us-east-1");
    let second = m.converse(&hello()).await.unwrap();
    assert_eq!(second.region, "us-west-2");
    for _ in 0..3 {
        assert_eq!(m.converse(&hello()).await.unwrap().region, "us-west-2");
    }
    let east = m
        .stats()
        .targets
        .into_iter()
        .find(|t| t.region == "us-east-1")
        .unwrap();
    assert!(east.latency_p50_ms.unwrap() >= 150, "{east:?}");
    // A call's preferred regions keep their order.
    let prefer_east = CallOptions::prefer_regions(["us-east-1"], true);
    let r = m.converse_with(&hello(), &prefer_east).await.unwrap();
    assert_eq!(r.region, "us-east-1");
    // Without the option, the configured order stays.
    let plain = east_west(&sim).build().await.unwrap();
    for _ in 0..3 {
        assert_eq!(plain.converse(&hello()).await.unwrap().region, "us-east-1");
    }
}

#[tokio::test]
async fn latency_aware_order_keeps_the_order_between_models() {
    // Haiku is slow everywhere, Nova Lite fast: Haiku, listed first, still goes first.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(10, 0.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(120, 0.0)).model(HAIKU));
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .models([HAIKU, NOVA_LITE])
        .regions(["us-east-1", "us-west-2"])
        .latency_aware(true)
        .build()
        .await
        .unwrap();
    for _ in 0..4 {
        let r = m.converse(&hello()).await.unwrap();
        assert_eq!(r.model_id, HAIKU);
    }
}
