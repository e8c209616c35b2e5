//! The vector form: bounds, placement, ordering, timeouts, panics, fail-fast, statistics.

use std::sync::{Arc, Mutex};

use bedrock_parallel::{
    BatchRequest, Error, FailurePolicy, ParallelConfig, ParallelExecutor, Progress, RegionHealth,
    RegionStrategy, RequestError, Usage, converse_parallel,
};

use bedrock_retry::{Clock, InstantSleep, ManualClock};

use crate::support::{Action, Fake, batch, ms};

fn regions3() -> ParallelConfig {
    ParallelConfig::default().with_regions(["a", "b", "c"])
}

#[tokio::test(start_paused = true)]
async fn global_concurrency_is_bounded_and_saturated() {
    let fake = Fake::new();
    let config = ParallelConfig::default().with_max_concurrency(8);
    let response = converse_parallel(&fake, batch(&[Action::Ok(ms(100)); 50]), &config, None)
        .await
        .unwrap();
    assert!(response.all_succeeded());
    assert_eq!(fake.max_in_flight(), 8);
    assert_eq!(response.stats().peak_concurrency, 8);
    // 50 requests, 8 at a time, 100 ms each: 7 waves in virtual time.
    assert_eq!(response.stats().total_duration, ms(700));
    assert_eq!(fake.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn per_region_concurrency_is_bounded() {
    let fake = Fake::new();
    let config = ParallelConfig::default()
        .with_regions(["a", "b"])
        .with_target_regions_per_request(Some(1))
        .with_max_concurrency(10)
        .with_per_region_concurrency(Some(2));
    let response = converse_parallel(&fake, batch(&[Action::Ok(ms(100)); 20]), &config, None)
        .await
        .unwrap();
    assert!(response.all_succeeded());
    let max = fake.region_max();
    assert_eq!(max.get("a"), Some(&2));
    assert_eq!(max.get("b"), Some(&2));
    assert_eq!(fake.max_in_flight(), 4);
    assert_eq!(response.stats().total_duration, ms(500));
}

#[tokio::test(start_paused = true)]
async fn a_slow_saturated_region_does_not_hold_global_slots() {
    let fake = Fake::new();
    let config = ParallelConfig::default()
        .with_regions(["a", "b"])
        .with_target_regions_per_request(Some(1))
        .with_max_concurrency(2)
        .with_per_region_concurrency(Some(1));
    let mut actions = vec![Action::Ok(ms(1000))];
    actions.extend([Action::Ok(ms(10)); 6]);
    let response = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    let primaries: Vec<_> = response
        .outcomes()
        .iter()
        .map(|o| o.assigned_regions[0].as_str())
        .collect();
    assert_eq!(primaries, ["a", "b", "b", "b", "b", "b", "b"]);
    assert_eq!(response.stats().total_duration, ms(1000));
}

#[tokio::test(start_paused = true)]
async fn assigned_regions_are_passed_to_the_service() {
    let fake = Fake::new();
    let config = regions3()
        .with_target_regions_per_request(Some(2))
        .with_max_concurrency(1)
        .with_allow_other_regions(false);
    let response = converse_parallel(&fake, batch(&[Action::Ok(ms(1)); 4]), &config, None)
        .await
        .unwrap();
    let placements: Vec<(String, Vec<String>, bool)> = fake
        .placements()
        .into_iter()
        .map(|(label, p)| (label, p.preferred_regions, p.allow_other_regions))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        placements,
        vec![
            ("r0".into(), s(&["a", "b"]), false),
            ("r1".into(), s(&["b", "c"]), false),
            ("r2".into(), s(&["c", "a"]), false),
            ("r3".into(), s(&["a", "b"]), false),
        ]
    );
    assert_eq!(response.get("r1").unwrap().assigned_regions, s(&["b", "c"]));
    let per_region = &response.stats().per_region;
    assert_eq!((per_region["a"].assigned, per_region["a"].primary), (3, 2));
    assert_eq!((per_region["b"].assigned, per_region["b"].primary), (3, 1));
    assert_eq!((per_region["c"].assigned, per_region["c"].primary), (2, 1));
    assert_eq!(per_region["a"].succeeded, 2);
}

#[derive(Debug)]
struct Down(&'static str);

impl RegionHealth for Down {
    fn is_healthy(&self, region: &str) -> bool {
        region != self.0
    }
}

#[tokio::test(start_paused = true)]
async fn unhealthy_regions_are_assigned_last() {
    let fake = Fake::new();
    let config = regions3()
        .with_max_concurrency(1)
        .with_target_regions_per_request(Some(3));
    let executor = ParallelExecutor::new(Arc::clone(&fake), config)
        .unwrap()
        .with_health(Arc::new(Down("a")));
    executor.run(batch(&[Action::Ok(ms(1)); 3])).await.unwrap();
    for (_, placement) in fake.placements() {
        assert_eq!(
            placement.preferred_regions.last().map(String::as_str),
            Some("a")
        );
        assert_ne!(placement.primary(), Some("a"));
    }
}

#[tokio::test(start_paused = true)]
async fn least_loaded_fills_idle_regions_first() {
    let fake = Fake::new();
    let config = regions3()
        .with_target_regions_per_request(Some(1))
        .with_distribution(RegionStrategy::LeastLoaded)
        .with_max_concurrency(3);
    // A long request keeps region a busy; later short ones avoid it while it runs
    // (round-robin would give a, b, c, a, b).
    let actions = [
        Action::Ok(ms(1000)),
        Action::Ok(ms(10)),
        Action::Ok(ms(10)),
        Action::Ok(ms(10)),
        Action::Ok(ms(10)),
    ];
    let response = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    let primaries: Vec<_> = response
        .outcomes()
        .iter()
        .map(|o| o.assigned_regions[0].clone())
        .collect();
    assert_eq!(primaries, ["a", "b", "c", "b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn results_come_back_in_input_order_and_by_id() {
    let fake = Fake::new();
    let actions: Vec<Action> = (0..10).map(|i| Action::Ok(ms(100 - i * 10))).collect();
    let response = converse_parallel(&fake, batch(&actions), &ParallelConfig::default(), None)
        .await
        .unwrap();
    let labels: Vec<_> = response
        .outcomes()
        .iter()
        .map(|o| o.response().unwrap().label.clone())
        .collect();
    assert_eq!(labels, (0..10).map(|i| format!("r{i}")).collect::<Vec<_>>());
    assert_eq!(response.get("r7").unwrap().index, 7);
    assert_eq!(response.get("r7").unwrap().duration, ms(30));
    assert!(response.get("missing").is_none());
}

#[tokio::test(start_paused = true)]
async fn statistics_are_exact() {
    let fake = Fake::new();
    let mut actions: Vec<Action> = (1..=10).map(|i| Action::Ok(ms(i * 10))).collect();
    actions.push(Action::Fail(ms(5)));
    actions.push(Action::Hang);
    let config = ParallelConfig::default()
        .with_regions(["a", "b"])
        .with_target_regions_per_request(Some(1))
        .with_request_timeout(Some(ms(200)));
    let response = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    let stats = response.stats();
    assert_eq!(
        (stats.total, stats.succeeded, stats.failed, stats.timed_out),
        (12, 10, 2, 1)
    );
    assert_eq!(stats.not_run, 0);
    // The hung request ends at the engine's backstop: the 200 ms deadline plus a tenth.
    assert_eq!(stats.total_duration, ms(220));
    let d = stats.durations;
    assert_eq!(d.count, 12);
    // Durations: 5, 10, 20, ..., 100, 220 ms.
    assert_eq!(
        (d.min, d.p50, d.p95, d.max),
        (ms(5), ms(50), ms(220), ms(220))
    );
    assert_eq!(d.average, (ms(550) + ms(225)) / 12);
    assert_eq!(stats.usage, Usage::new(100, 50, 200, 0));
    assert_eq!(stats.usage.cache_hit_ratio(), Some(200.0 / 300.0));
    // 10 successes with one attempt, one service error with three, one timeout with one.
    assert_eq!(stats.attempts, 14);
    assert_eq!(
        stats.per_region["a"].succeeded + stats.per_region["b"].succeeded,
        10
    );
    assert_eq!(stats.per_region["a"].failed, 1, "r10 has primary a");
    assert!((response.success_rate() - 10.0 / 12.0).abs() < 1e-12);
    assert_eq!(response.failed_ids(), ["r10".into(), "r11".into()]);
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_panics_become_errors() {
    let fake = Fake::new();
    let actions = [
        Action::Hang,
        Action::PanicInCall,
        Action::PanicLater(ms(10)),
        Action::Ok(ms(10)),
    ];
    let config = ParallelConfig::default().with_request_timeout(Some(ms(500)));
    let response = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    let errors: Vec<String> = response
        .outcomes()
        .iter()
        .map(|o| match &o.result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        })
        .collect();
    assert_eq!(
        errors,
        [
            "request timed out after 500ms",
            "request panicked: panic in call for r1",
            "request panicked: panic later for r2",
            "ok"
        ]
    );
    // The service was given the 500 ms deadline; the engine's own timer fires a tenth later.
    assert_eq!(response.get("r0").unwrap().duration, ms(550));
    let deadlines: Vec<_> = fake
        .placements()
        .into_iter()
        .map(|(_, p)| p.deadline)
        .collect();
    assert!(
        deadlines.iter().all(|d| *d == Some(ms(500))),
        "{deadlines:?}"
    );
    assert_eq!(fake.in_flight(), 0, "the hung future was dropped");
}

#[tokio::test(start_paused = true)]
async fn stop_on_first_failure_cancels_the_rest() {
    let fake = Fake::new();
    let mut actions = vec![Action::Fail(ms(10)), Action::Ok(ms(50))];
    actions.extend([Action::Ok(ms(10)); 8]);
    let config = ParallelConfig::default()
        .with_max_concurrency(2)
        .with_failure(FailurePolicy::StopOnFirst);
    let response = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    assert_eq!(response.len(), 10);
    assert_eq!(fake.started(), 2);
    assert!(
        response.get("r1").unwrap().is_success(),
        "in-flight request finishes"
    );
    for o in &response.outcomes()[2..] {
        assert!(
            matches!(&o.result, Err(RequestError::Cancelled { reason }) if reason.contains("r0"))
        );
        assert_eq!(o.duration, ms(0));
    }
    assert_eq!(response.stats().not_run, 8);
    assert!(response.stop_reason().unwrap().contains("first failure"));
}

#[tokio::test(start_paused = true)]
async fn stop_cancels_requests_waiting_for_a_region_slot() {
    let fake = Fake::new();
    let mut actions = vec![Action::Fail(ms(10))];
    actions.extend([Action::Ok(ms(10)); 5]);
    let config = ParallelConfig::default()
        .with_regions(["a"])
        .with_per_region_concurrency(Some(1))
        .with_max_concurrency(4)
        .with_failure(FailurePolicy::StopOnFirst);
    let response = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    assert_eq!(fake.started(), 1);
    assert_eq!(response.stats().failed, 1);
    assert_eq!(response.stats().not_run, 5);
    assert!(
        response.outcomes()[1..]
            .iter()
            .all(|o| o.error().unwrap().is_cancelled())
    );
}

#[tokio::test(start_paused = true)]
async fn stop_above_rate_waits_for_min_requests() {
    let fake = Fake::new();
    let actions: Vec<Action> = (0..20)
        .map(|i| {
            if i % 2 == 1 {
                Action::Fail(ms(10))
            } else {
                Action::Ok(ms(10))
            }
        })
        .collect();
    let config = ParallelConfig::default()
        .with_max_concurrency(1)
        .with_failure(FailurePolicy::StopAboveRate {
            rate: 0.4,
            min_requests: 4,
        });
    let response = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    // After r0..r3: 2 of 4 failed = 0.5 > 0.4, stop; after r1, 1 of 2 was not judged yet.
    assert_eq!(fake.started(), 4);
    assert_eq!(response.stats().not_run, 16);
    assert_eq!(response.len(), 20);

    let fake = Fake::new();
    let config = config.with_failure(FailurePolicy::StopAboveRate {
        rate: 0.5,
        min_requests: 4,
    });
    let response = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    assert_eq!(fake.started(), 20, "0.5 is not above 0.5");
    assert!(response.stop_reason().is_none());
}

#[tokio::test(start_paused = true)]
async fn duplicate_ids_reject_the_batch_before_anything_runs() {
    let fake = Fake::new();
    let mut requests = batch(&[Action::Ok(ms(1)); 3]);
    requests.push(BatchRequest::new(
        "r1",
        ("again".to_owned(), Action::Ok(ms(1))),
    ));
    let err = converse_parallel(&fake, requests, &ParallelConfig::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::DuplicateRequestId { ref id, first_index: 1, duplicate_index: 3 } if id.as_str() == "r1"
    ));
    assert_eq!(fake.started(), 0);
}

#[tokio::test(start_paused = true)]
async fn invalid_config_is_rejected() {
    let fake = Fake::new();
    let config = ParallelConfig::default()
        .with_regions(["a"])
        .with_target_regions_per_request(Some(2));
    let err = converse_parallel(&fake, batch(&[Action::Ok(ms(1))]), &config, None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidConfig {
            field: "target_regions_per_request",
            ..
        }
    ));
    assert_eq!(fake.started(), 0);
}

#[tokio::test(start_paused = true)]
async fn progress_is_reported_per_request() {
    let fake = Fake::new();
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let actions = [Action::Ok(ms(30)), Action::Fail(ms(10)), Action::Ok(ms(20))];
    converse_parallel(
        &fake,
        batch(&actions),
        &ParallelConfig::default(),
        Some(Arc::new(move |p: &Progress| {
            sink.lock().unwrap().push(p.clone())
        })),
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    let summary: Vec<_> = seen
        .iter()
        .map(|p| {
            (
                p.completed,
                p.total,
                p.succeeded,
                p.failed,
                p.id.to_string(),
                p.success,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, Some(3), 0, 1, "r1".to_owned(), false),
            (2, Some(3), 1, 1, "r2".to_owned(), true),
            (3, Some(3), 2, 1, "r0".to_owned(), true),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn empty_batch_is_fine() {
    let fake = Fake::new();
    let response = converse_parallel(&fake, Vec::new(), &ParallelConfig::default(), None)
        .await
        .unwrap();
    assert!(response.is_empty());
    assert_eq!(response.success_rate(), 1.0);
    assert_eq!(response.stats().durations.count, 0);
}

/// Every duration and timeout of a batch comes from the injected clock and sleeper, not from
/// tokio's timer: this runtime's time is real, yet the hung request ends at once, timed at the
/// manual clock's 110 ms, because the sleeper advances that clock by what it was asked to wait.
#[tokio::test]
async fn the_injected_clock_and_sleeper_time_every_request() {
    let fake = Fake::new();
    let clock = ManualClock::new();
    let sleep = InstantSleep::with_clock(clock.clone());
    let config = ParallelConfig::default().with_request_timeout(Some(ms(100)));
    let executor = ParallelExecutor::new(Arc::clone(&fake), config)
        .unwrap()
        .with_time(Arc::new(clock.clone()), Arc::new(sleep.clone()));
    let response = executor.run(batch(&[Action::Hang])).await.unwrap();
    assert!(matches!(
        response.outcomes()[0].result,
        Err(RequestError::Timeout { after }) if after == ms(100)
    ));
    // The backstop: the deadline plus a tenth.
    assert_eq!(sleep.requested(), [ms(110)]);
    assert_eq!(response.stats().total_duration, ms(110));
    assert_eq!(clock.now(), ms(110));
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_reached_is_reported() {
    let fake = Fake::new();
    let config = ParallelConfig::default().with_max_concurrency(8);
    let response = converse_parallel(&fake, batch(&[Action::Ok(ms(100)); 3]), &config, None)
        .await
        .unwrap();
    assert_eq!(response.stats().peak_concurrency, 3);
    let serial = ParallelConfig::default().with_max_concurrency(1);
    let response = converse_parallel(&fake, batch(&[Action::Ok(ms(10)); 4]), &serial, None)
        .await
        .unwrap();
    assert_eq!(response.stats().peak_concurrency, 1);
}

#[tokio::test(start_paused = true)]
async fn a_rerun_replaces_the_outcomes_it_ran_again_and_keeps_the_rest() {
    let fake = Fake::new();
    let config = ParallelConfig::default().with_max_concurrency(4);
    let actions = [
        Action::Ok(ms(10)),
        Action::Fail(ms(10)),
        Action::Ok(ms(10)),
        Action::Fail(ms(10)),
    ];
    let first = converse_parallel(&fake, batch(&actions), &config, None)
        .await
        .unwrap();
    assert_eq!(first.failed_ids(), ["r1".into(), "r3".into()]);
    // The rerun: r3 succeeds now, r1 fails again; an id the batch never held is ignored.
    let again = vec![
        BatchRequest::new("r3", ("r3".to_owned(), Action::Ok(ms(20)))),
        BatchRequest::new("r1", ("r1".to_owned(), Action::Fail(ms(5)))),
        BatchRequest::new("stranger", ("stranger".to_owned(), Action::Ok(ms(5)))),
    ];
    let rerun = converse_parallel(&fake, again, &config, None)
        .await
        .unwrap();
    let merged = first.merge_rerun(rerun);
    assert_eq!(merged.len(), 4);
    assert_eq!(merged.failed_ids(), ["r1".into()]);
    let ids: Vec<_> = merged
        .outcomes()
        .iter()
        .map(|o| (o.id.to_string(), o.index))
        .collect();
    assert_eq!(
        ids,
        [
            ("r0".into(), 0),
            ("r1".into(), 1),
            ("r2".into(), 2),
            ("r3".into(), 3)
        ]
    );
    assert_eq!(merged.stats().succeeded, 3);
    assert_eq!(merged.stats().total_duration, ms(10) + ms(20));
    assert_eq!(merged.stats().peak_concurrency, 4);
}
