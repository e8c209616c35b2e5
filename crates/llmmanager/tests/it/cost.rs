//! `Response::cost` and `StreamResponse::cost` against the simulator: the answer's tokens times
//! the price of the model, region and access method that answered.

use bedrock_sim::Scenario;
use llmmanager::cache::{Billing, Cost};
use llmmanager::messages::TokenUsage;
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{AccessMethod, ConverseRequest, ParallelLlmManager};

use crate::support::{HAIKU, east_west, hello, manager, sim};

const HAIKU_45: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";

/// Dollars per million tokens: input, output, cache write, cache read.
type Prices = (f64, f64, f64, f64);

/// Claude 3 Haiku, on demand, any commercial region, directly or through a geographic profile.
const HAIKU_PRICES: Prices = (0.25, 1.25, 0.30, 0.03);
/// Claude Haiku 4.5 through the global profile.
const HAIKU_45_GLOBAL: Prices = (1.0, 5.0, 1.25, 0.10);
/// Claude Haiku 4.5 through a geographic profile: 10% more.
const HAIKU_45_REGIONAL: Prices = (1.1, 5.5, 1.375, 0.11);

#[track_caller]
fn check(cost: Option<Cost>, usage: &TokenUsage, prices: Prices) -> Cost {
    let cost = cost.expect("the bundled table prices this answer");
    let (input, output, write, read) = prices;
    let expected = (f64::from(usage.input_tokens) * input
        + f64::from(usage.output_tokens) * output
        + f64::from(usage.cache_write_input_tokens.unwrap_or(0)) * write
        + f64::from(usage.cache_read_input_tokens.unwrap_or(0)) * read)
        / 1e6;
    assert!(
        usage.input_tokens > 0 && usage.output_tokens > 0,
        "{usage:?}"
    );
    assert!(
        (cost.usd - expected).abs() < 1e-12,
        "cost {} != {expected} for {usage:?}",
        cost.usd
    );
    assert!(
        cost.price.source.starts_with("https://"),
        "{:?}",
        cost.price
    );
    assert_eq!(cost.price.date.len(), 10, "{:?}", cost.price);
    assert_eq!(cost.price.billing, Billing::OnDemand);
    cost
}

#[tokio::test]
async fn a_call_costs_its_tokens_at_the_price_of_what_answered() {
    let sim = sim(Scenario::default()).await;
    let m = east_west(&sim).build().await.unwrap();
    let response = m.converse(&hello()).await.unwrap();
    let cost = check(response.cost(), response.usage(), HAIKU_PRICES);
    assert_eq!(cost.price.model, HAIKU);
    assert_eq!(cost.price.region, response.region);
    assert_eq!(cost.price.access, AccessMethod::Direct);
    assert_eq!(cost.cache_savings_usd, Some(0.0));
    let json = serde_json::to_value(&cost).unwrap();
    assert_eq!(json["usd"].as_f64(), Some(cost.usd));
    assert_eq!(json["price"]["access"], "direct");
}

#[tokio::test]
async fn cache_reads_and_writes_are_priced_and_the_saving_is_reported() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .cache(llmmanager::CacheConfig::conservative())
        .build()
        .await
        .unwrap();
    let request = ConverseRequest::builder()
        .system("You answer questions about the attached handbook. ".repeat(200))
        .user_text("What is the leave policy?")
        .max_tokens(64)
        .build()
        .unwrap();
    let first = m.converse(&request).await.unwrap();
    let second = m.converse(&request).await.unwrap();
    let written = first.usage().cache_write_input_tokens.unwrap_or(0);
    assert!(written > 0, "{:?}", first.usage());
    assert_eq!(second.usage().cache_read_input_tokens, Some(written));
    let first_cost = check(first.cost(), first.usage(), HAIKU_PRICES);
    let second_cost = check(second.cost(), second.usage(), HAIKU_PRICES);
    assert!(second_cost.usd < first_cost.usd);
    let (input, _, write, read) = HAIKU_PRICES;
    let w = f64::from(written);
    assert!((first_cost.cache_savings_usd.unwrap() + w * (write - input) / 1e6).abs() < 1e-12);
    assert!((second_cost.cache_savings_usd.unwrap() - w * (input - read) / 1e6).abs() < 1e-12);
}

#[tokio::test]
async fn a_stream_costs_its_tokens_like_a_call() {
    let sim = sim(Scenario::default()).await;
    let m = east_west(&sim).build().await.unwrap();
    let response = m
        .converse_stream(&hello())
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    let usage = response.usage.expect("the stream reported usage");
    let cost = check(response.cost(), &usage, HAIKU_PRICES);
    assert_eq!(cost.price.region, response.region);
}

#[tokio::test]
async fn a_batch_costs_the_sum_of_its_answers() {
    let sim = sim(Scenario::default()).await;
    let m = east_west(&sim).build().await.unwrap();
    let requests: Vec<_> = (0..12)
        .map(|i| {
            let r = ConverseRequest::builder()
                .user_text(format!("Question number {i}: {}", "why? ".repeat(i)))
                .max_tokens(32)
                .build()
                .unwrap();
            BatchRequest::new(format!("q{i:02}"), r)
        })
        .collect();
    let batch = ParallelLlmManager::new(m, ParallelConfig::default().with_max_concurrency(4))
        .unwrap()
        .converse_parallel(requests)
        .await
        .unwrap();
    assert!(batch.all_succeeded());
    let mut total = 0.0;
    let mut tokens = TokenUsage::default();
    for outcome in batch.outcomes() {
        let response = outcome.result.as_ref().unwrap();
        total += check(response.cost(), response.usage(), HAIKU_PRICES).usd;
        tokens.input_tokens += response.usage().input_tokens;
        tokens.output_tokens += response.usage().output_tokens;
    }
    let (input, output, _, _) = HAIKU_PRICES;
    let expected =
        (f64::from(tokens.input_tokens) * input + f64::from(tokens.output_tokens) * output) / 1e6;
    assert!((total - expected).abs() < 1e-12, "{total} != {expected}");
}

#[tokio::test]
async fn a_profile_call_is_priced_as_the_profile_not_the_base_model() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model("Claude Haiku 4.5")
        .region("us-east-1")
        .global_profile_fraction(0.5)
        .build()
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = m.converse(&hello()).await.unwrap();
        let prices = match response.access_method {
            AccessMethod::GlobalProfile => HAIKU_45_GLOBAL,
            AccessMethod::RegionalProfile => HAIKU_45_REGIONAL,
            other => panic!("Claude Haiku 4.5 answered through {other}"),
        };
        let cost = check(response.cost(), response.usage(), prices);
        assert_eq!(cost.price.model, HAIKU_45);
        assert_eq!(cost.price.access, response.access_method);
        seen.push((response.access_method, cost.usd, *response.usage()));
    }
    // The same tokens cost 10% more through the geographic profile than through the global one.
    let global = seen.iter().find(|s| s.0 == AccessMethod::GlobalProfile);
    let regional = seen.iter().find(|s| s.0 == AccessMethod::RegionalProfile);
    let (Some(global), Some(regional)) = (global, regional) else {
        panic!("both access methods answer at a share of 0.5: {seen:?}");
    };
    assert_eq!(
        global.2, regional.2,
        "the simulator counts the same prompt alike"
    );
    assert!((regional.1 - global.1 * 1.1).abs() < 1e-12, "{seen:?}");
}
