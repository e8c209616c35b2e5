//! No loss: seeded random faults (errors, delays, panics, hangs past the timeout) in and out.

use std::collections::HashSet;

use bedrock_parallel::{
    FailurePolicy, ParallelConfig, ParallelExecutor, RegionStrategy, RequestError, RequestOutcome,
};
use futures::StreamExt;
use proptest::prelude::*;

use crate::support::{Action, Fake, FakeError, Reply, batch, ms};

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u64..300).prop_map(|d| Action::Ok(ms(d))),
        2 => (0u64..300).prop_map(|d| Action::Fail(ms(d))),
        1 => (0u64..300).prop_map(|d| Action::PanicLater(ms(d))),
        1 => Just(Action::PanicInCall),
        1 => Just(Action::Hang),
    ]
}

fn policy() -> impl Strategy<Value = FailurePolicy> {
    prop_oneof![
        Just(FailurePolicy::Continue),
        Just(FailurePolicy::StopOnFirst),
        (0.0f64..1.0, 1usize..10)
            .prop_map(|(rate, min_requests)| FailurePolicy::StopAboveRate { rate, min_requests }),
    ]
}

fn strategy() -> impl Strategy<Value = RegionStrategy> {
    prop_oneof![
        Just(RegionStrategy::RoundRobin),
        Just(RegionStrategy::LeastLoaded),
        any::<u64>().prop_map(|seed| RegionStrategy::Random { seed }),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    actions: Vec<Action>,
    max_concurrency: usize,
    per_region: Option<usize>,
    regions: usize,
    distribution: RegionStrategy,
    failure: FailurePolicy,
    streaming: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(action(), 0..60),
        1usize..16,
        prop::option::of(1usize..4),
        0usize..4,
        strategy(),
        policy(),
        any::<bool>(),
    )
        .prop_map(
            |(actions, max_concurrency, per_region, regions, distribution, failure, streaming)| {
                Scenario {
                    actions,
                    max_concurrency,
                    per_region,
                    regions,
                    distribution,
                    failure,
                    streaming,
                }
            },
        )
}

fn run(s: &Scenario) -> (Vec<RequestOutcome<Reply, FakeError>>, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = Fake::new();
        let config = ParallelConfig::default()
            .with_regions((0..s.regions).map(|i| format!("region-{i}")))
            .with_max_concurrency(s.max_concurrency)
            .with_per_region_concurrency(s.per_region)
            .with_distribution(s.distribution)
            .with_failure(s.failure)
            .with_request_timeout(Some(ms(1000)));
        let executor = ParallelExecutor::new(fake.clone(), config).unwrap();
        let outcomes = if s.streaming {
            let input = futures::stream::iter(batch(&s.actions));
            executor.stream(input).collect().await
        } else {
            executor
                .run(batch(&s.actions))
                .await
                .unwrap()
                .into_outcomes()
        };
        assert_eq!(fake.in_flight(), 0, "nothing left running");
        assert!(fake.max_in_flight() <= s.max_concurrency, "global bound");
        if let (Some(limit), true) = (s.per_region, s.regions > 0) {
            for (region, max) in fake.region_max() {
                assert!(max <= limit, "{region}: {max} in flight above {limit}");
            }
        }
        (outcomes, fake.started())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_request_ends_exactly_once(s in scenario()) {
        let (outcomes, started) = run(&s);
        prop_assert_eq!(outcomes.len(), s.actions.len());
        let indices: HashSet<usize> = outcomes.iter().map(|o| o.index).collect();
        prop_assert_eq!(indices.len(), s.actions.len(), "no duplicates");
        let mut reached = 0;
        for o in &outcomes {
            prop_assert_eq!(o.id.as_str(), format!("r{}", o.index));
            let action = s.actions[o.index];
            match (&o.result, action) {
                (Err(RequestError::Cancelled { .. }), _) => {
                    prop_assert!(s.failure != FailurePolicy::Continue, "cancelled without a stop policy");
                    prop_assert_eq!(o.duration, ms(0));
                }
                (Ok(reply), Action::Ok(d)) => {
                    reached += 1;
                    prop_assert_eq!(&reply.label, &format!("r{}", o.index));
                    prop_assert_eq!(o.duration, d);
                }
                (Err(RequestError::Service { .. }), Action::Fail(d)) => {
                    reached += 1;
                    prop_assert_eq!(o.duration, d);
                }
                (Err(RequestError::Panicked { .. }), Action::PanicLater(_) | Action::PanicInCall) => reached += 1,
                (Err(RequestError::Timeout { after }), Action::Hang) => {
                    reached += 1;
                    prop_assert_eq!(*after, ms(1000));
                }
                (result, action) => prop_assert!(false, "{action:?} ended as {result:?}"),
            }
            prop_assert!(o.assigned_regions.len() <= s.regions);
        }
        prop_assert_eq!(reached, started, "every call reached an outcome");
    }
}

/// The same guarantee on a multi-threaded runtime, where panics unwind on worker threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_loss_on_a_multi_threaded_runtime() {
    let actions: Vec<Action> = (0..400)
        .map(|i| match i % 5 {
            0 => Action::Fail(ms(0)),
            1 => Action::PanicInCall,
            2 => Action::PanicLater(ms(0)),
            _ => Action::Ok(ms(0)),
        })
        .collect();
    let fake = Fake::new();
    let config = ParallelConfig::default()
        .with_regions(["a", "b", "c"])
        .with_max_concurrency(16)
        .with_per_region_concurrency(Some(3));
    let executor = ParallelExecutor::new(fake.clone(), config).unwrap();
    let response = executor.run(batch(&actions)).await.unwrap();
    assert_eq!(response.len(), 400);
    let stats = response.stats();
    assert_eq!(
        (stats.succeeded, stats.failed, stats.panicked),
        (160, 240, 160)
    );
    assert_eq!(fake.started(), 400);
    assert!(fake.max_in_flight() <= 9, "3 regions x 3 slots");
}
