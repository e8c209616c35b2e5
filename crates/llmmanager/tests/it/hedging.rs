//! Hedged requests and latency-aware order against a simulator with a slow region.

use std::time::Duration;

use bedrock_retry::{HedgeLoss, Route};
use bedrock_sim::{
    BedrockErrorKind, Fault, FaultRule, LatencyModel, LatencyRule, Scenario, SimHandle,
    StreamExceptionKind,
};
use llmmanager::pacing::{Pacing, Quota};
use llmmanager::parallel::{BatchRequest, ParallelConfig, RegionStrategy};
use llmmanager::{
    CallOptions, ConverseRequest, Hedging, LlmManager, ParallelLlmManager, RecoveryKind, Response,
    StreamEvent, StreamResponse,
};

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
            let hedge = if a.route == Route::Hedge {
                " hedge"
            } else {
                ""
            };
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

/// A stream read to its end: the events the consumer received and the final response.
async fn stream_events(
    m: &LlmManager,
    options: &CallOptions,
) -> (Vec<StreamEvent>, StreamResponse) {
    let mut stream = m.converse_stream_with(&hello(), options).await.unwrap();
    let mut events = Vec::new();
    while let Some(event) = stream.next_event().await {
        let event = event.unwrap();
        if let StreamEvent::Completed(response) = event {
            return (events, *response);
        }
        events.push(event);
    }
    panic!("the stream ended without a response");
}

/// The `region@attempt` of every `Started` event, and the text the consumer received.
fn started_and_text(events: &[StreamEvent]) -> (Vec<String>, String) {
    let mut started = Vec::new();
    let mut text = String::new();
    for event in events {
        match event {
            StreamEvent::Started {
                target, attempt, ..
            } => started.push(format!("{}@{attempt}", target.region)),
            StreamEvent::TextDelta { text: t, .. } => text.push_str(t),
            _ => {}
        }
    }
    (started, text)
}

fn stream_outcomes(r: &StreamResponse) -> Vec<String> {
    r.attempts
        .iter()
        .map(|a| {
            let end = match (a.lost, a.class) {
                (Some(HedgeLoss::Cancelled), _) => "cancelled".to_owned(),
                (Some(_), _) => "discarded".to_owned(),
                (None, Some(class)) => class.to_string(),
                (None, None) => "ok".to_owned(),
            };
            let hedge = if a.route == Route::Hedge {
                " hedge"
            } else {
                ""
            };
            format!("{}/{} {end}{hedge}", a.target.model, a.target.region)
        })
        .collect()
}

#[tokio::test]
async fn a_stream_slow_to_its_first_token_is_hedged_and_the_hedge_wins() {
    let sim = sim(slow_east(3_000)).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let (events, r) = stream_events(&m, &CallOptions::default()).await;
    assert_eq!(r.region, "us-west-2");
    assert_eq!(
        stream_outcomes(&r),
        [
            format!("{HAIKU}/us-east-1 cancelled"),
            format!("{HAIKU}/us-west-2 ok hedge")
        ]
    );
    // The slow attempt was dropped at the hedge's first token, long before its own.
    assert!(
        r.attempts[0].duration < Duration::from_secs(1),
        "{:?}",
        r.attempts[0].duration
    );
    assert!(r.time_to_first_token.unwrap() < Duration::from_secs(1));
    // The consumer saw one stream: the hedge's, from its start.
    let (started, text) = started_and_text(&events);
    assert_eq!(started, ["us-west-2@2"]);
    assert!(!text.is_empty());
    assert_eq!(text, r.text);
    // Both requests reached Bedrock (up to two paid answers); one answer was used.
    let seen = sim.requests();
    let regions: Vec<&str> = seen.iter().map(|s| s.region.as_str()).collect();
    assert_eq!(regions, ["us-east-1", "us-west-2"]);
    let answered: Vec<&str> = seen.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(answered, ["ok", "ok"], "the simulator answered both");
    let stats = m.stats();
    assert_eq!((stats.hedges, stats.hedges_won), (1, 1));
}

#[tokio::test]
async fn a_stream_hedges_onto_the_next_model() {
    // One region; Claude 3 Haiku is slow to its first token, Nova Lite is not.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(10, 0.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(3_000, 0.0)).model(HAIKU));
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .models([HAIKU, NOVA_LITE])
        .regions(["us-east-1"])
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let (events, r) = stream_events(&m, &CallOptions::default()).await;
    assert_eq!(r.model_id, NOVA_LITE);
    assert_eq!(
        stream_outcomes(&r),
        [
            format!("{HAIKU}/us-east-1 cancelled"),
            format!("{NOVA_LITE}/us-east-1 ok hedge")
        ]
    );
    let (started, text) = started_and_text(&events);
    assert_eq!(started, ["us-east-1@2"]);
    assert_eq!(text, r.text);
    assert_eq!(sim.requests().len(), 2);
}

#[tokio::test]
async fn a_stream_whose_first_token_comes_before_the_delay_is_not_hedged() {
    // The first token after 10 ms, then one delta every 150 ms: the whole answer takes longer
    // than the delay, but its first token came before it.
    let scenario = Scenario::default().with_latency(LatencyModel::new(10, 20.0));
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .hedging(Hedging::after(Duration::from_millis(200)).max_share(1.0))
        .build()
        .await
        .unwrap();
    let (events, r) = stream_events(&m, &CallOptions::default()).await;
    assert!(r.duration > Duration::from_millis(200), "{:?}", r.duration);
    assert_eq!(stream_outcomes(&r), [format!("{HAIKU}/us-east-1 ok")]);
    assert_eq!(started_and_text(&events).0, ["us-east-1@1"]);
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(m.stats().hedges, 0);
}

#[tokio::test]
async fn a_hedge_that_breaks_mid_answer_is_recovered_like_any_stream() {
    // The hedge on us-west-2 wins, then its stream ends after three events: the answer goes on
    // on us-east-1 (never hedged again), and the consumer ends up with the whole answer once.
    let scenario = slow_east(400).with_fault(
        FaultRule::new(Fault::stream_cut(3, false))
            .region("us-west-2")
            .calls([1]),
    );
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let (events, r) = stream_events(&m, &CallOptions::default()).await;
    assert_eq!(
        stream_outcomes(&r),
        [
            format!("{HAIKU}/us-east-1 cancelled"),
            format!("{HAIKU}/us-west-2 transient hedge"),
            format!("{HAIKU}/us-east-1 ok"),
        ]
    );
    assert_eq!(r.recoveries.len(), 1);
    assert_eq!(r.recoveries[0].kind, RecoveryKind::Continued);
    let (started, text) = started_and_text(&events);
    assert_eq!(started, ["us-west-2@2", "us-east-1@3"]);
    assert!(!text.is_empty());
    assert_eq!(text, r.text);
    assert_eq!(sim.requests().len(), 3);
}

/// Calls to us-west-2 alone, not hedged.
fn west_only() -> CallOptions {
    CallOptions::prefer_regions(["us-west-2"], false).with_hedging(Hedging::off())
}

/// A hedging manager whose us-west-2 is paced to one request a second, one second ahead
/// allowed, and already full: two calls went there.
async fn west_paced_and_full(sim: &SimHandle) -> LlmManager {
    let pacing = Pacing::fixed().headroom(1.0).quota(
        Quota::new(HAIKU)
            .region("us-west-2")
            .requests_per_minute(60),
    );
    let m = east_west(sim)
        .hedging(hedge_after_100ms())
        .pacing(pacing)
        .build()
        .await
        .unwrap();
    for _ in 0..2 {
        let r = m.converse_with(&hello(), &west_only()).await.unwrap();
        assert_eq!(r.region, "us-west-2");
    }
    m
}

#[tokio::test]
async fn a_hedge_dropped_while_waiting_for_capacity_gives_its_place_back() {
    let sim = sim(slow_east(300)).await;
    let m = west_paced_and_full(&sim).await;
    // The hedge to us-west-2 waits about a second for its place; us-east-1 answers first, and
    // the hedge is dropped before it was sent.
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(outcomes(&r), ["us-west-2 cancelled hedge", "us-east-1 ok"]);
    assert_eq!(sim.requests().len(), 3);
    // Its place was given back: a call allowed about a second of waiting gets into us-west-2
    // (given back, the wait is about 0.7 s; kept, it would be about 1.7 s).
    let r = m
        .converse_with(
            &hello(),
            &west_only().with_deadline(Duration::from_millis(1_200)),
        )
        .await
        .unwrap();
    assert_eq!(r.region, "us-west-2");
}

#[tokio::test]
async fn the_share_cap_holds_for_streams() {
    let sim = sim(slow_east(600)).await;
    let m = east_west(&sim)
        .hedging(Hedging::after(Duration::from_millis(100)).max_share(0.2))
        .build()
        .await
        .unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let m: LlmManager = m.clone();
        calls.spawn(async move { stream_events(&m, &CallOptions::default()).await });
    }
    let streams = calls.join_all().await;
    let hedged = streams
        .iter()
        .filter(|(_, r)| r.attempts.len() == 2)
        .count();
    assert_eq!(hedged, 2);
    for (events, r) in &streams {
        // Every consumer saw exactly one stream.
        let (started, text) = started_and_text(events);
        assert_eq!(started.len(), 1, "{started:?}");
        assert_eq!(text, r.text);
    }
    assert_eq!(sim.requests().len(), 12);
    assert_eq!(m.stats().hedges, 2);
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

#[tokio::test]
async fn a_first_attempt_that_delivers_during_the_race_and_breaks_is_recovered() {
    // us-east-1's first token comes after the delay, while the hedge on us-west-2 waits for its
    // own; right after its first text, an exception frame. The attempt that delivered owns the
    // stream: the hedge is cancelled and the answer is recovered like any broken stream (a hedge
    // left to run could never deliver, and the stream would hang).
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(600, 0.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(150, 0.0)).region("us-east-1"))
        .with_fault(
            FaultRule::new(Fault::stream_exception(
                2,
                StreamExceptionKind::ModelStreamErrorException,
            ))
            .region("us-east-1")
            .calls([1]),
        );
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let (events, r) = bedrock_retry::timeout(
        &bedrock_retry::TokioSleep::new(),
        Duration::from_secs(10),
        stream_events(&m, &CallOptions::default()),
    )
    .await
    .expect("the stream ends");
    assert_eq!(
        stream_outcomes(&r),
        [
            format!("{HAIKU}/us-west-2 cancelled hedge"),
            format!("{HAIKU}/us-east-1 transient"),
            format!("{HAIKU}/us-west-2 ok"),
        ]
    );
    assert_eq!(r.recoveries.len(), 1);
    let (started, text) = started_and_text(&events);
    assert_eq!(started, ["us-east-1@1", "us-west-2@3"]);
    assert_eq!(text, r.text);
    // The answer reads as the uninterrupted one.
    let plain = east_west(&sim).build().await.unwrap();
    let whole = plain
        .converse_with(&hello(), &CallOptions::prefer_regions(["us-west-2"], false))
        .await
        .unwrap();
    assert_eq!(r.text, whole.text());
}

#[tokio::test]
async fn a_hedged_rerun_marks_its_first_attempt_rerun_whichever_record_comes_first() {
    // The first pass fails in both regions (one throttle each). The rerun starts on us-east-1,
    // which answers after 300 ms: its hedge on us-west-2, started at 100 ms, is cancelled and
    // recorded before it. The rerun's first attempt is us-east-1's, not the hedge's record.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(800, 0.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(300, 0.0)).region("us-east-1"))
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
                .region("us-east-1")
                .calls([1]),
        )
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
                .region("us-west-2")
                .calls([1]),
        );
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .retry(crate::support::quick(
            bedrock_retry::RetryConfig::standard().with_max_attempts(2),
        ))
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let config = ParallelConfig::default()
        .with_target_regions_per_request(Some(1))
        .with_distribution(RegionStrategy::RoundRobin);
    let batch = ParallelLlmManager::new(m, config).unwrap().with_reruns(1);
    let done = batch
        .converse_parallel(vec![BatchRequest::new("q", hello())])
        .await
        .unwrap();
    let response = done.outcomes()[0].result.as_ref().unwrap();
    let routes: Vec<String> = response
        .attempts
        .iter()
        .map(|a| format!("{}#{} {}", a.target.region, a.attempt_number, a.route))
        .collect();
    assert_eq!(
        routes,
        [
            "us-east-1#1 order",
            "us-west-2#2 order",
            "us-west-2#2 hedge",
            "us-east-1#1 rerun"
        ]
    );
    assert_eq!(
        outcomes(response)[2..],
        ["us-west-2 cancelled hedge", "us-east-1 ok"]
    );
}

#[tokio::test]
async fn racers_whose_first_tokens_come_together_deliver_one_stream() {
    // us-east-1's first token after 300 ms, its hedge's (started at 100 ms) after 200 ms: both
    // at about 300 ms, deltas paced after it. One stream reaches the consumer, whole and once.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(200, 400.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(300, 400.0)).region("us-east-1"));
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    for _ in 0..5 {
        let (events, r) = stream_events(&m, &CallOptions::default()).await;
        let (started, text) = started_and_text(&events);
        assert_eq!(started.len(), 1, "{started:?}");
        assert_eq!(text, r.text);
        let mut ends: Vec<(Option<HedgeLoss>, Option<bedrock_retry::ErrorClass>)> =
            r.attempts.iter().map(|a| (a.lost, a.class)).collect();
        ends.sort_by_key(|(lost, _)| lost.is_some());
        assert_eq!(ends, [(None, None), (Some(HedgeLoss::Cancelled), None)]);
        let winner = r.attempts.last().unwrap();
        assert_eq!(
            started[0],
            format!("{}@{}", winner.target.region, winner.attempt_number)
        );
    }
    // Both regions answer the same request with the same text: the consumer's text is one answer.
    let plain = east_west(&sim).build().await.unwrap();
    assert_eq!(
        plain.converse(&hello()).await.unwrap().text(),
        stream_events(&m, &CallOptions::default()).await.1.text
    );
    let outcomes: Vec<String> = sim.requests().iter().map(|r| r.outcome.clone()).collect();
    assert!(outcomes.iter().all(|o| o == "ok"), "{outcomes:?}");
}

#[tokio::test]
async fn a_stream_dropped_mid_race_ends_quietly_and_the_manager_goes_on() {
    // Both regions are slow to their first token. The consumer gives up while the two race.
    let scenario = Scenario::default().with_latency(LatencyModel::new(2_000, 0.0));
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let sleep = bedrock_retry::TokioSleep::new();
    {
        let mut stream = m
            .converse_stream_with(&hello(), &CallOptions::default())
            .await
            .unwrap();
        let waited =
            bedrock_retry::timeout(&sleep, Duration::from_millis(400), stream.next_event()).await;
        assert!(
            waited.is_err(),
            "nothing reaches the consumer before a first token"
        );
    }
    // Both requests were sent, and nothing else starts after the drop.
    bedrock_retry::Sleep::sleep(&sleep, Duration::from_millis(300)).await;
    assert_eq!(sim.requests().len(), 2);
    let r = m
        .converse_with(
            &hello(),
            &CallOptions::default().with_hedging(Hedging::off()),
        )
        .await
        .unwrap();
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(sim.requests().len(), 3);
}

#[tokio::test]
async fn a_stream_hedge_waiting_for_capacity_gives_its_place_back_when_the_first_token_comes() {
    // us-west-2 is paced to one request a second, one second ahead allowed: two calls fill it.
    // us-east-1's first token comes after 300 ms, then its deltas take a while: the hedge, still
    // waiting for its place, is dropped at that first token.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(10, 0.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(300, 100.0)).region("us-east-1"));
    let sim = sim(scenario).await;
    let m = west_paced_and_full(&sim).await;
    let (events, r) = stream_events(&m, &CallOptions::default()).await;
    assert_eq!(
        stream_outcomes(&r),
        [
            format!("{HAIKU}/us-west-2 cancelled hedge"),
            format!("{HAIKU}/us-east-1 ok"),
        ]
    );
    assert_eq!(started_and_text(&events).0, ["us-east-1@1"]);
    assert_eq!(sim.requests().len(), 3, "the hedge was never sent");
    // Its place was given back: a call allowed about a second of waiting gets into us-west-2.
    let r = m
        .converse_with(
            &hello(),
            &west_only().with_deadline(Duration::from_millis(1_200)),
        )
        .await
        .unwrap();
    assert_eq!(r.region, "us-west-2");
}

#[tokio::test]
async fn a_hedged_stream_keeps_the_affinity_route_and_moves_affinity_to_the_winner() {
    // Claude 3 Haiku in three regions, rotating; us-east-1 answers slowly. Turn 1 is cached in
    // us-east-1, so turn 2 goes there first (affinity) and is hedged onto us-west-2, which wins
    // and caches the prefix: turn 3 goes to us-west-2 and reads it.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(10, 0.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(600, 0.0)).region("us-east-1"));
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(["us-east-1", "us-west-2", "us-east-2"])
        .region_order(llmmanager::RegionOrder::Rotate)
        .cache_affinity(true)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let turn = |n: usize| {
        let mut b = ConverseRequest::builder()
            .system("You answer questions about the alpha file. ".repeat(250))
            .system_cache_point()
            .max_tokens(32);
        for t in 1..=n {
            if t > 1 {
                b = b.assistant_text(format!("Answer {t}."));
            }
            b = b.message_builder(
                llmmanager::Message::user()
                    .text(format!("Question {t}?"))
                    .cache_point(),
            );
        }
        b.build().unwrap()
    };
    let off = CallOptions::default().with_hedging(Hedging::off());
    let first = m.converse_with(&turn(1), &off).await.unwrap();
    assert_eq!(first.region, "us-east-1");

    let mut stream = m
        .converse_stream_with(&turn(2), &CallOptions::default())
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    let routes: Vec<String> = stream
        .attempts
        .drain(..)
        .map(|a| {
            let lost = if a.lost.is_some() { " cancelled" } else { "" };
            format!("{} {}{lost}", a.target.region, a.route)
        })
        .collect();
    assert_eq!(routes, ["us-east-1 affinity cancelled", "us-west-2 hedge"]);
    assert!(stream.usage.unwrap().cache_write_input_tokens.unwrap_or(0) > 0);

    let third = m.converse_with(&turn(3), &off).await.unwrap();
    assert_eq!(third.region, "us-west-2");
    assert_eq!(third.attempts[0].route, Route::Affinity);
    assert!(third.usage().cache_read_input_tokens.unwrap_or(0) > 0);
}

#[tokio::test]
async fn validations_of_both_racers_are_numbered_across_the_call_in_order() {
    // us-east-1 answers after 400 ms; its hedge on us-west-2 answers at once, twice, and both of
    // its answers are rejected. The numbers a validator sees count every answer of the call.
    let sim = sim(slow_east(400)).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let validation = llmmanager::ValidationConfig::with_context(move |_, context| {
        log.lock()
            .unwrap()
            .push(format!("{}#{}", context.region, context.number));
        if context.region == "us-west-2" {
            llmmanager::ValidationResult::invalid("not from this region")
        } else {
            llmmanager::ValidationResult::Valid
        }
    })
    .with_retries(1);
    let m = east_west(&sim)
        .hedging(hedge_after_100ms())
        .build()
        .await
        .unwrap();
    let r = m
        .converse_with(
            &hello(),
            &CallOptions::default().with_validation(validation),
        )
        .await
        .unwrap();
    assert_eq!(r.region, "us-east-1");
    assert_eq!(
        *seen.lock().unwrap(),
        ["us-west-2#1", "us-west-2#2", "us-east-1#3"]
    );
    let numbered: Vec<String> = r
        .validations
        .iter()
        .map(|v| format!("{}#{}", v.target.region, v.number))
        .collect();
    assert_eq!(numbered, ["us-west-2#1", "us-west-2#2", "us-east-1#3"]);
}
