//! `ParallelLlmManager` on the simulator: assignments are honoured and no request is lost.

use std::collections::BTreeSet;
use std::time::Duration;

use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Scenario};
use futures::StreamExt;
use llmmanager::parallel::{BatchRequest, ParallelConfig, RegionStrategy};
use llmmanager::{ConverseRequest, ParallelLlmManager, RetryConfig, Timeouts};
use proptest::prelude::*;

use crate::support::{HAIKU, manager, sim};

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

fn requests(n: usize) -> Vec<BatchRequest<ConverseRequest>> {
    (0..n)
        .map(|i| {
            let r = ConverseRequest::builder()
                .user_text(format!("Question number {i}?"))
                .max_tokens(32)
                .build()
                .unwrap();
            BatchRequest::new(format!("q{i:03}"), r)
        })
        .collect()
}

#[tokio::test]
async fn each_request_goes_to_its_assigned_region_first() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(REGIONS)
        .build()
        .await
        .unwrap();
    let config = ParallelConfig::default()
        .with_max_concurrency(8)
        .with_target_regions_per_request(Some(1))
        .with_distribution(RegionStrategy::RoundRobin);
    let parallel = ParallelLlmManager::new(m, config).unwrap();
    let batch = parallel.converse_parallel(requests(30)).await.unwrap();
    assert_eq!(batch.len(), 30);
    assert!(batch.all_succeeded());
    for outcome in batch.outcomes() {
        let response = outcome.result.as_ref().unwrap();
        assert_eq!(outcome.assigned_regions.len(), 1);
        assert_eq!(
            response.region, outcome.assigned_regions[0],
            "{}",
            outcome.id
        );
    }
    let by_region = sim.stats().by_region;
    for region in REGIONS {
        assert_eq!(by_region.get(region), Some(&10), "{by_region:?}");
    }
}

#[tokio::test]
async fn a_down_region_only_costs_the_requests_assigned_to_it_one_attempt() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ServiceUnavailableException))
            .region("eu-west-1"),
    );
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(REGIONS)
        .build()
        .await
        .unwrap();
    let config = ParallelConfig::default()
        .with_max_concurrency(4)
        .with_target_regions_per_request(Some(1));
    let batch = ParallelLlmManager::new(m, config)
        .unwrap()
        .converse_parallel(requests(30))
        .await
        .unwrap();
    assert!(batch.all_succeeded());
    assert!(
        batch
            .outcomes()
            .iter()
            .all(|o| o.result.as_ref().unwrap().region != "eu-west-1")
    );
    let wasted = sim.stats().by_region.get("eu-west-1").copied().unwrap_or(0);
    assert!(
        wasted <= 10,
        "only requests assigned to eu-west-1 try it: {wasted}"
    );
}

#[tokio::test]
async fn duplicate_ids_are_rejected_before_anything_runs() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(REGIONS)
        .build()
        .await
        .unwrap();
    let mut batch = requests(3);
    batch[2].id = batch[0].id.clone();
    let err = ParallelLlmManager::new(m, ParallelConfig::default())
        .unwrap()
        .converse_parallel(batch)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("q000"), "{err}");
    assert_eq!(sim.stats().requests, 0);
}

#[tokio::test]
async fn the_streaming_form_yields_every_request_once() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(REGIONS)
        .build()
        .await
        .unwrap();
    let parallel =
        ParallelLlmManager::new(m, ParallelConfig::default().with_max_concurrency(16)).unwrap();
    let outcomes: Vec<_> = parallel
        .converse_parallel_stream(futures::stream::iter(requests(50)))
        .unwrap()
        .collect()
        .await;
    let ids: BTreeSet<String> = outcomes.iter().map(|o| o.id.to_string()).collect();
    assert_eq!((outcomes.len(), ids.len()), (50, 50));
}

fn fault_scenario(seed: u64, p: f64) -> Scenario {
    let kinds = [
        Fault::error(BedrockErrorKind::ThrottlingException),
        Fault::error(BedrockErrorKind::InternalServerException),
        Fault::error(BedrockErrorKind::AccessDeniedException),
        Fault::error(BedrockErrorKind::ValidationException),
        Fault::ConnectionReset,
        Fault::Hang,
    ];
    kinds
        .into_iter()
        .fold(Scenario::default().with_seed(seed), |s, f| {
            s.with_fault(FaultRule::new(f).probability(p))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Under seeded random faults every request ends exactly once: N in, N out, no duplicates.
    #[test]
    fn no_request_is_lost_under_random_faults(seed in any::<u64>(), p in 0.0f64..0.12, n in 1usize..40) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let sim = sim(fault_scenario(seed, p)).await;
            let m = manager(&sim)
                .model(HAIKU)
                .regions(REGIONS)
                .retry(crate::support::quick(RetryConfig::standard().with_max_attempts(3)))
                .timeouts(Timeouts::default().with_per_attempt(Duration::from_millis(200)).with_total(Duration::from_secs(2)))
                .build()
                .await
                .unwrap();
            let config = ParallelConfig::default().with_max_concurrency(8).with_target_regions_per_request(Some(2));
            let batch = ParallelLlmManager::new(m, config).unwrap().converse_parallel(requests(n)).await.unwrap();
            let ids: Vec<String> = batch.outcomes().iter().map(|o| o.id.to_string()).collect();
            let unique: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(ids.len(), n);
            assert_eq!(unique.len(), n);
            let expected: Vec<String> = (0..n).map(|i| format!("q{i:03}")).collect();
            assert_eq!(ids, expected, "outcomes come back in input order");
            for outcome in batch.outcomes() {
                if let Err(e) = &outcome.result {
                    assert!(!e.to_string().is_empty());
                }
            }
            sim.shutdown().await;
        });
    }
}

#[tokio::test]
async fn a_request_timed_out_by_the_batch_ends_by_the_managers_deadline_with_its_attempts() {
    // us-east-1 never answers; the per-attempt timeout (120 s) is far beyond the batch's
    // request timeout, so only the deadline the batch gives each request can end it.
    let sim =
        sim(Scenario::default().with_fault(FaultRule::new(Fault::Hang).region("us-east-1"))).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(["us-east-1"])
        .build()
        .await
        .unwrap();
    let config = ParallelConfig::default().with_request_timeout(Some(Duration::from_millis(300)));
    let parallel = ParallelLlmManager::new(m, config).unwrap();
    let batch = parallel.converse_parallel(requests(1)).await.unwrap();
    let outcome = &batch.outcomes()[0];
    let error = outcome.result.as_ref().unwrap_err();
    let llmmanager::parallel::RequestError::Service { source } = error else {
        panic!("the engine's own timer fired first: {error:?}");
    };
    assert_eq!(source.attempts().len(), 1, "{source}");
    assert_eq!(source.attempts()[0].target.region, "us-east-1");
    assert_eq!(
        m_health_state(&parallel, "us-east-1"),
        llmmanager::retry::TargetHealth::Healthy,
        "an attempt cut by the call's deadline is not the target's fault"
    );
}

fn m_health_state(p: &ParallelLlmManager, region: &str) -> llmmanager::retry::TargetHealth {
    p.manager().health().state(HAIKU, region)
}

#[tokio::test]
async fn content_keyed_ids_and_per_call_regions_per_request() {
    let keyed = ParallelLlmManager::keyed_requests(
        [0, 1, 0]
            .into_iter()
            .map(|i| requests(2)[i].request.clone()),
    )
    .unwrap();
    let ids: Vec<String> = keyed.iter().map(|r| r.id.to_string()).collect();
    assert!(ids[0].starts_with("req-") && ids[0].len() == 20, "{ids:?}");
    assert_ne!(ids[0], ids[1], "different content, different ids");
    assert_eq!(ids[2], format!("{}-2", ids[0]), "a repeat gets a suffix");
    let again = ParallelLlmManager::keyed_requests([requests(1)[0].request.clone()]).unwrap();
    assert_eq!(
        again[0].id.to_string(),
        ids[0],
        "the same content, the same id"
    );

    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(REGIONS)
        .build()
        .await
        .unwrap();
    let parallel = ParallelLlmManager::new(m, ParallelConfig::default()).unwrap();
    let batch = parallel
        .converse_parallel_with(keyed, Some(2))
        .await
        .unwrap();
    assert!(batch.all_succeeded());
    assert!(
        batch
            .outcomes()
            .iter()
            .all(|o| o.assigned_regions.len() == 2),
        "two regions assigned to each request for this call"
    );
    assert!(
        parallel
            .converse_parallel_with(requests(1), Some(9))
            .await
            .is_err()
    );
}

/// East throttles every call; each call may make one attempt, so the requests assigned there
/// fail in the first pass.
async fn east_throttles_one_attempt_each() -> (bedrock_sim::SimHandle, ParallelLlmManager) {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).region("us-east-1"),
    );
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(["us-east-1", "us-west-2"])
        .retry(crate::support::quick(
            RetryConfig::standard().with_max_attempts(1),
        ))
        .build()
        .await
        .unwrap();
    let config = ParallelConfig::default()
        .with_target_regions_per_request(Some(1))
        .with_distribution(RegionStrategy::RoundRobin);
    (sim, ParallelLlmManager::new(m, config).unwrap())
}

fn answers(sim: &bedrock_sim::SimHandle) -> Vec<(String, String)> {
    sim.requests()
        .into_iter()
        .filter(|r| r.operation.is_runtime())
        .map(|r| (r.region, r.outcome))
        .collect()
}

#[tokio::test]
async fn failed_requests_run_again_away_from_the_region_that_failed_them_keeping_their_history() {
    let (sim, batch) = east_throttles_one_attempt_each().await;
    let without = batch.converse_parallel(requests(6)).await.unwrap();
    assert_eq!(
        without.failed_ids().len(),
        3,
        "one attempt each: east's requests fail"
    );

    let sim2 = {
        let (sim2, batch) = east_throttles_one_attempt_each().await;
        let done = batch
            .with_reruns(2)
            .converse_parallel(requests(6))
            .await
            .unwrap();
        assert!(done.all_succeeded(), "{:?}", done.failed_ids());
        let mut rerun = 0;
        for outcome in done.outcomes() {
            let response = outcome.result.as_ref().unwrap();
            let history: Vec<_> = response
                .attempts
                .iter()
                .map(|a| (a.target.region.as_str(), a.class))
                .collect();
            let routes: Vec<_> = response.attempts.iter().map(|a| a.route).collect();
            // A rerun's outcome names the regions of its last pass; its history names all.
            if history[0].0 == "us-east-1" {
                assert_eq!(
                    routes,
                    [
                        llmmanager::retry::Route::Order,
                        llmmanager::retry::Route::Rerun
                    ],
                    "{}",
                    outcome.id
                );
                assert_eq!(
                    history,
                    [
                        ("us-east-1", Some(llmmanager::ErrorClass::Throttled)),
                        ("us-west-2", None)
                    ],
                    "{}: the rerun starts away from east, after its first attempt",
                    outcome.id
                );
                assert_eq!(outcome.assigned_regions, ["us-west-2"], "{}", outcome.id);
                rerun += 1;
            } else {
                assert_eq!(history, [("us-west-2", None)], "{}", outcome.id);
            }
        }
        assert_eq!(rerun, 3);
        assert_eq!(done.stats().succeeded, 6);
        sim2
    };
    // Three throttled calls to east, six answers from west, and nothing bought twice.
    let seen = answers(&sim2);
    assert_eq!(seen.iter().filter(|(r, _)| r == "us-east-1").count(), 3);
    let paid: Vec<_> = seen.iter().filter(|(_, o)| o == "ok").collect();
    assert_eq!(paid.len(), 6);
    assert!(paid.iter().all(|(r, _)| r == "us-west-2"));
    drop(sim);
}

#[tokio::test]
async fn retry_failed_on_demand_reruns_only_what_another_try_may_cure() {
    // East throttles its first two calls (curable), eu-west-1 rejects every request as invalid
    // (not curable), west answers.
    let scenario = Scenario::default()
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
                .region("us-east-1")
                .calls([1, 2]),
        )
        .with_fault(
            FaultRule::new(Fault::error_with_message(
                BedrockErrorKind::ValidationException,
                "maxTokens exceeds the model's limit",
            ))
            .region("eu-west-1"),
        );
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(REGIONS)
        .retry(crate::support::quick(
            RetryConfig::standard().with_max_attempts(1),
        ))
        .build()
        .await
        .unwrap();
    let config = ParallelConfig::default()
        .with_target_regions_per_request(Some(1))
        .with_distribution(RegionStrategy::RoundRobin);
    let batch = ParallelLlmManager::new(m, config).unwrap();
    let input = requests(6);
    let first = batch.converse_parallel(input.clone()).await.unwrap();
    assert_eq!(first.failed_ids().len(), 4);
    let sent_before = answers(&sim).len();
    let second = batch.retry_failed(first, &input).await.unwrap();
    // East's two throttled requests run again and go to west first; eu-west-1's two rejected
    // requests do not run again.
    let seen = answers(&sim);
    assert_eq!(seen.len(), sent_before + 2);
    assert!(
        seen[sent_before..]
            .iter()
            .all(|(r, o)| r == "us-west-2" && o == "ok"),
        "{seen:?}"
    );
    assert_eq!(second.len(), 6);
    assert_eq!(second.stats().succeeded, 4);
    for outcome in second.outcomes() {
        let regions: Vec<&str> = match &outcome.result {
            Ok(r) => r
                .attempts
                .iter()
                .map(|a| a.target.region.as_str())
                .collect(),
            Err(e) => e
                .service_error()
                .map(|e| {
                    e.attempts()
                        .iter()
                        .map(|a| a.target.region.as_str())
                        .collect()
                })
                .unwrap_or_default(),
        };
        match regions[0] {
            "us-east-1" => assert_eq!(regions, ["us-east-1", "us-west-2"], "{}", outcome.id),
            "us-west-2" => assert_eq!(regions, ["us-west-2"], "{}", outcome.id),
            _ => {
                assert!(!outcome.is_success());
                assert_eq!(regions, ["eu-west-1"], "{}: not run again", outcome.id);
            }
        }
    }
}

/// A batch's results, successes and failures alike, are one `serde_json` call away; a failure
/// keeps its message and every attempt.
#[tokio::test]
async fn a_batch_serialises_with_its_failures_and_their_attempts() {
    let (_sim, batch) = east_throttles_one_attempt_each().await;
    let done = batch.converse_parallel(requests(2)).await.unwrap();
    let value = serde_json::to_value(&done).unwrap();
    let outcomes = value["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2);
    let failed = outcomes
        .iter()
        .find(|o| o.get("error").is_some())
        .expect("east's request failed");
    let error = &failed["error"]["source"];
    assert_eq!(error["kind"], "exhausted");
    assert_eq!(error["last_class"], "throttled");
    assert_eq!(error["attempts"][0]["target"]["region"], "us-east-1");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException"),
        "{error}"
    );
    let answered = outcomes
        .iter()
        .find(|o| o.get("response").is_some())
        .unwrap();
    assert_eq!(answered["response"]["region"], "us-west-2");
    assert_eq!(value["stats"]["succeeded"], 1);
}
