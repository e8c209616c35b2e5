//! State shared across calls: the retry budget and target health.

use std::sync::Arc;
use std::time::Duration;

use bedrock_retry::{
    ErrorClass, GiveUpReason, HealthConfig, HealthTracker, RetryBudget, RetryConfig, TargetHealth,
};

use crate::support::{FakeClassifier, FakeError, setup};

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

#[tokio::test]
async fn a_storm_of_throttles_drains_the_shared_budget() {
    let (planner, _clock, sleep) = setup(RetryConfig::standard().with_max_attempts(3));
    let budget = Arc::new(RetryBudget::new(50));
    let planner = planner.with_budget(Some(Arc::clone(&budget)));
    let mut attempts_per_call = vec![];
    for _ in 0..8 {
        let plan = planner.plan_call(&["m"], &REGIONS).unwrap();
        let err = plan
            .run(&sleep, &FakeClassifier, |_| async {
                Err::<(), _>(FakeError::new(429, "Too many requests"))
            })
            .await
            .unwrap_err();
        attempts_per_call.push((err.records.len(), err.reason));
    }
    let attempts: Vec<usize> = attempts_per_call.iter().map(|(n, _)| *n).collect();
    // 2 retries x 5 tokens per call: 50 tokens pay for 5 full calls, then first attempts only.
    assert_eq!(attempts, [3, 3, 3, 3, 3, 1, 1, 1]);
    assert_eq!(
        attempts_per_call[7].1,
        GiveUpReason::BudgetExhausted {
            needed: 5,
            available: 0
        }
    );
    assert_eq!(budget.available(), 0);
}

#[tokio::test]
async fn a_failing_region_is_tried_last_until_its_cool_down_ends() {
    let (planner, clock, sleep) = setup(RetryConfig::standard());
    let health = Arc::new(HealthTracker::new(
        HealthConfig::standard()
            .with_failure_threshold(2)
            .with_cool_down(Duration::from_secs(60))
            .build()
            .unwrap(),
        Arc::new(clock.clone()),
    ));
    let planner = planner.with_health(Some(Arc::clone(&health)));
    let us_east_down = |region: &str| {
        if region == "us-east-1" {
            Err(FakeError::new(503, "Service Unavailable"))
        } else {
            Ok(region.to_owned())
        }
    };

    // Two calls each fail once in us-east-1 before succeeding in us-west-2.
    for _ in 0..2 {
        let plan = planner.plan_call(&["m"], &REGIONS).unwrap();
        let done = plan
            .run(
                &sleep,
                &FakeClassifier,
                |a: bedrock_retry::Attempt| async move { us_east_down(&a.target.region) },
            )
            .await
            .unwrap();
        assert_eq!(done.value, "us-west-2");
        assert_eq!(done.records[0].class, Some(ErrorClass::Transient));
    }
    assert!(matches!(
        health.state("m", "us-east-1"),
        TargetHealth::Cooling { .. }
    ));

    // The third call starts elsewhere and succeeds at once.
    let plan = planner.plan_call(&["m"], &REGIONS).unwrap();
    assert_eq!(plan.targets()[2].region, "us-east-1");
    let done = plan
        .run(
            &sleep,
            &FakeClassifier,
            |a: bedrock_retry::Attempt| async move { us_east_down(&a.target.region) },
        )
        .await
        .unwrap();
    assert_eq!(done.records.len(), 1);

    // After the cool-down us-east-1 is half-open; once it recovers, it leads again.
    clock.advance(Duration::from_secs(60));
    assert_eq!(health.state("m", "us-east-1"), TargetHealth::HalfOpen);
    let plan = planner
        .plan(vec![bedrock_retry::Target::new("m", "us-east-1")])
        .unwrap();
    let done = plan
        .run(&sleep, &FakeClassifier, |_| async {
            Ok::<_, FakeError>(())
        })
        .await
        .unwrap();
    assert_eq!(done.records.len(), 1);
    let plan = planner.plan_call(&["m"], &REGIONS).unwrap();
    assert_eq!(plan.targets()[0].region, "us-east-1");
}

#[tokio::test]
async fn feature_fallback_then_failover_keeps_the_feature_disabled() {
    let (planner, _clock, sleep) = setup(RetryConfig::standard());
    let plan = planner.plan_call(&["m"], &REGIONS).unwrap();
    let done = plan
        .run(
            &sleep,
            &FakeClassifier,
            |a: bedrock_retry::Attempt| async move {
                let with_docs = !a.disabled_features.contains(&"documents");
                match (a.target.region.as_str(), with_docs) {
                    (_, true) => Err(FakeError::new(
                        400,
                        "This model doesn't support the document content block.",
                    )),
                    ("us-east-1", false) => Err(FakeError::new(429, "Too many requests")),
                    (region, false) => Ok(region.to_owned()),
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(done.value, "us-west-2");
    assert_eq!(done.attempt.disabled_features, ["documents"]);
    let classes: Vec<_> = done.records.iter().map(|r| r.class).collect();
    assert_eq!(
        classes,
        [
            Some(ErrorClass::BadRequest),
            Some(ErrorClass::Throttled),
            None
        ]
    );
    assert!(sleep.requested().is_empty());
}

#[tokio::test]
async fn blocked_content_is_never_retried() {
    let (planner, _clock, sleep) = setup(RetryConfig::standard());
    let plan = planner.plan_call(&["m"], &REGIONS).unwrap();
    let err = plan
        .run(&sleep, &FakeClassifier, |_| async {
            Err::<(), _>(FakeError::new(451, "blocked by guardrail"))
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.reason,
        GiveUpReason::NotRetryable {
            class: ErrorClass::ContentBlocked
        }
    );
    assert_eq!(err.records.len(), 1);
    assert_eq!(err.last_error.unwrap().status, 451);
    assert_eq!(
        err.records[0].message.as_deref(),
        Some("HTTP 451: blocked by guardrail")
    );
}
