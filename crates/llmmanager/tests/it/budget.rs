//! Budgets against the simulator: no request starts once spent plus in-flight estimates would
//! pass the limit, the rest end as `NotAdmitted` unsent, and a larger budget runs them later.

use std::collections::HashSet;

use bedrock_sim::{Operation, Scenario};
use llmmanager::budget::{Budget, OutputTokens};
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{ConverseRequest, ParallelLlmManager};

use crate::support::{HAIKU, east_west, sim};

fn requests(n: usize) -> Vec<BatchRequest<ConverseRequest>> {
    (0..n)
        .map(|i| {
            let request = ConverseRequest::builder()
                .user_text(format!("Question {i}: {}", "tell me more. ".repeat(i % 5)))
                .max_tokens(64)
                .build()
                .unwrap();
            BatchRequest::new(format!("q{i}"), request)
        })
        .collect()
}

fn converse_calls(sim: &bedrock_sim::SimHandle) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.operation == Operation::Converse)
        .count()
}

#[tokio::test]
async fn a_budget_stops_new_requests_and_a_larger_one_resumes_them() {
    let sim = sim(Scenario::default()).await;
    let manager = east_west(&sim).build().await.unwrap();
    let batch = requests(30);
    let estimates: Vec<f64> = batch
        .iter()
        .map(|r| {
            let e = manager.estimate_cost(&r.request).unwrap();
            assert_eq!(e.tokens.output_from, OutputTokens::MaxTokens);
            assert_eq!(e.tokens.output_tokens, 64);
            assert_eq!(e.target.model, HAIKU);
            e.on_demand.unwrap().usd
        })
        .collect();
    // Room for about ten requests.
    let limit = estimates[..10].iter().sum::<f64>();
    let budget = Budget::usd(limit);
    let parallel = ParallelLlmManager::new(
        manager.clone(),
        ParallelConfig::default().with_max_concurrency(4),
    )
    .unwrap()
    .with_budget(budget.clone());
    let first = parallel.converse_parallel(batch.clone()).await.unwrap();

    assert_eq!(first.outcomes().len(), 30, "nothing lost");
    let paid: Vec<_> = first.outcomes().iter().filter(|o| o.is_success()).collect();
    let refused: Vec<_> = first
        .outcomes()
        .iter()
        .filter(|o| o.error().is_some_and(|e| e.is_not_admitted()))
        .collect();
    assert_eq!(
        paid.len() + refused.len(),
        30,
        "every request paid or refused"
    );
    assert!(
        !paid.is_empty() && !refused.is_empty(),
        "{} paid",
        paid.len()
    );
    assert_eq!(
        converse_calls(&sim),
        paid.len(),
        "refused requests were never sent"
    );
    assert!(refused.iter().all(|o| !o.started()));
    assert!(
        refused[0]
            .error()
            .unwrap()
            .to_string()
            .contains("budget exceeded"),
        "{}",
        refused[0].error().unwrap()
    );

    // The budget counted exactly the answers' costs, and stayed within the limit but for what
    // the answers cost above their estimates.
    let actual: f64 = paid
        .iter()
        .map(|o| o.response().unwrap().cost().unwrap().usd)
        .sum();
    assert!((budget.spent_usd() - actual).abs() < 1e-12);
    assert_eq!(budget.in_flight_usd(), 0.0);
    assert_eq!(budget.unpriced_answers(), 0);
    let overrun: f64 = paid
        .iter()
        .map(|o| {
            let cost = o.response().unwrap().cost().unwrap().usd;
            (cost - estimates[o.index]).max(0.0)
        })
        .sum();
    assert!(
        budget.spent_usd() <= limit + overrun + 1e-12,
        "spent {} over {limit} (+{overrun})",
        budget.spent_usd()
    );
    // And every refused request was refused because it no longer fitted.
    let smallest_refused = refused
        .iter()
        .map(|o| estimates[o.index])
        .fold(f64::INFINITY, f64::min);
    assert!(budget.spent_usd() + smallest_refused > limit);

    // A later run with a larger budget resumes the refused requests, and only them.
    let refused_ids: HashSet<_> = refused.iter().map(|o| o.id.clone()).collect();
    let rest: Vec<_> = batch
        .into_iter()
        .filter(|r| refused_ids.contains(&r.id))
        .collect();
    let larger = Budget::usd(limit * 10.0);
    let second =
        ParallelLlmManager::new(manager, ParallelConfig::default().with_max_concurrency(4))
            .unwrap()
            .with_budget(larger.clone())
            .converse_parallel(rest)
            .await
            .unwrap();
    assert!(second.all_succeeded());
    assert_eq!(second.outcomes().len(), refused.len());
    assert_eq!(
        converse_calls(&sim),
        30,
        "each request sent once over both runs"
    );
    assert!(larger.spent_usd() > 0.0);
}

#[tokio::test]
async fn a_budget_too_small_for_any_request_sends_nothing() {
    let sim = sim(Scenario::default()).await;
    let manager = east_west(&sim).build().await.unwrap();
    let budget = Budget::usd(1e-9);
    let parallel = ParallelLlmManager::new(manager, ParallelConfig::default())
        .unwrap()
        .with_budget(budget.clone());
    let mut stream = parallel
        .converse_parallel_stream(futures::stream::iter(requests(5)))
        .unwrap();
    let mut refused = 0;
    while let Some(outcome) = futures::StreamExt::next(&mut stream).await {
        assert!(outcome.error().unwrap().is_not_admitted());
        refused += 1;
    }
    assert_eq!(refused, 5);
    assert_eq!(converse_calls(&sim), 0);
    assert_eq!(budget.spent_usd(), 0.0);
}
