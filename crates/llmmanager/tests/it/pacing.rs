//! Adaptive pacing against a simulator with quotas in compressed time (one-second windows).

use std::time::Duration;

use bedrock_retry::{Clock, SystemClock};

use bedrock_sim::{Scenario, SimHandle, TokenQuota};
use futures::future::join_all;
use llmmanager::pacing::{Pacing, Quota};
use llmmanager::{CallOptions, ErrorKind, LlmManager};

use crate::support::{HAIKU, east_west, hello, manager, sim};

const WINDOW: Duration = Duration::from_secs(1);

/// A simulator allowing `rpm` requests per one-second window per region, in `region` only (else
/// in every region).
async fn quota_sim(rpm: u64, region: Option<&str>) -> SimHandle {
    let quota = TokenQuota {
        region: region.map(str::to_owned),
        model: None,
        tokens_per_minute: 10_000_000,
        requests_per_minute: Some(rpm),
    };
    sim(Scenario::default()
        .with_quota(quota)
        .with_quota_window(WINDOW))
    .await
}

fn throttled(sim: &SimHandle) -> u64 {
    sim.stats()
        .by_outcome
        .get("ThrottlingException")
        .copied()
        .unwrap_or(0)
}

/// Runs `n` calls at once; returns how many answered.
async fn burst(m: &LlmManager, n: usize) -> usize {
    let request = hello();
    let calls = (0..n).map(|_| m.converse(&request));
    join_all(calls)
        .await
        .into_iter()
        .filter(Result::is_ok)
        .count()
}

#[tokio::test]
async fn a_seeded_quota_sends_nothing_into_a_throttle() {
    // Unpaced, 30 calls at once against 10 a window are throttled.
    let sim = quota_sim(10, None).await;
    let unpaced = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    burst(&unpaced, 30).await;
    assert!(throttled(&sim) > 0, "{:?}", sim.stats().by_outcome);

    // Paced to the quota, every call answers and none is throttled.
    let sim = quota_sim(10, None).await;
    let pacing = Pacing::fixed()
        .window(WINDOW)
        .headroom(0.8)
        .quota(Quota::new(HAIKU).requests_per_minute(10));
    let paced = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .pacing(pacing)
        .build()
        .await
        .unwrap();
    assert_eq!(burst(&paced, 30).await, 30);
    assert_eq!(throttled(&sim), 0, "{:?}", sim.stats().by_outcome);
}

#[tokio::test]
async fn a_learned_rate_stops_the_throttles() {
    let sim = quota_sim(10, None).await;
    let pacing = Pacing::adaptive().window(WINDOW);
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .pacing(pacing)
        .build()
        .await
        .unwrap();
    // The first burst runs into the quota and teaches the lane its rate.
    burst(&m, 30).await;
    let learning = throttled(&sim);
    assert!(learning > 0);
    // After that, nothing more is throttled and everything answers.
    assert_eq!(burst(&m, 30).await, 30);
    assert_eq!(throttled(&sim), learning, "{:?}", sim.stats().by_outcome);
}

#[tokio::test]
async fn a_call_that_cannot_get_capacity_in_time_ends_with_its_attempts() {
    let sim = quota_sim(1_000, None).await;
    // Two a minute: after the first call, the next place is half a minute away.
    let pacing = Pacing::fixed().quota(Quota::new(HAIKU).requests_per_minute(2));
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .pacing(pacing)
        .build()
        .await
        .unwrap();
    m.converse(&hello()).await.unwrap();
    let clock = SystemClock::new();
    let options = CallOptions::default().with_deadline(Duration::from_millis(500));
    let error = m.converse_with(&hello(), &options).await.unwrap_err();
    assert!(clock.now() < Duration::from_secs(5));
    assert_eq!(error.kind(), ErrorKind::Exhausted, "{error}");
    assert!(!error.attempts().is_empty());
    for attempt in error.attempts() {
        let message = attempt.message.as_deref().unwrap_or_default();
        assert!(message.contains("no capacity"), "{message}");
        assert_eq!(attempt.class, Some(llmmanager::ErrorClass::Throttled));
    }
    // Nothing but the first call reached Bedrock, and the target is not held responsible.
    assert_eq!(sim.stats().by_outcome.get("ok"), Some(&1));
    assert_eq!(sim.stats().by_outcome.len(), 1);
    let stats = m.stats();
    let target = stats
        .targets
        .iter()
        .find(|t| t.region == "us-east-1")
        .unwrap();
    assert_eq!(target.health, "healthy");
}

#[tokio::test]
async fn one_paced_target_does_not_slow_another() {
    let sim = quota_sim(1_000, Some("us-east-1")).await;
    // us-east-1: two a minute; us-west-2: no quota.
    let pacing =
        Pacing::fixed().quota(Quota::new(HAIKU).region("us-east-1").requests_per_minute(2));
    let m = east_west(&sim).pacing(pacing).build().await.unwrap();
    let first = m.converse(&hello()).await.unwrap();
    assert_eq!(first.region, "us-east-1");
    // us-east-1 has no capacity for half a minute: calls go to us-west-2 at once, first time.
    let clock = SystemClock::new();
    for _ in 0..10 {
        let r = m.converse(&hello()).await.unwrap();
        assert_eq!(r.region, "us-west-2");
        assert_eq!(r.attempts.len(), 1);
    }
    // Calls that may only use us-west-2 do not wait either.
    let west = CallOptions::prefer_regions(["us-west-2"], false);
    for _ in 0..10 {
        m.converse_with(&hello(), &west).await.unwrap();
    }
    assert!(clock.now() < Duration::from_secs(5), "{:?}", clock.now());
    assert_eq!(sim.stats().by_region.get("us-east-1"), Some(&1));
}
