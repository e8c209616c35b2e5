//! `llmm --hedge-after`: a slow region's call is hedged to the next region, and the result line
//! shows both attempts.

use bedrock_sim::{LatencyModel, LatencyRule, Scenario};
use serde_json::Value;

use crate::support::{llmm, sim};

#[tokio::test]
async fn a_slow_region_is_hedged_and_the_result_shows_the_loser() {
    let scenario = Scenario::default()
        .with_latency_rule(LatencyRule::new(LatencyModel::new(3_000, 0.0)).region("us-east-1"));
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    let base = ["--endpoint-url", &url, "-r", "us-east-1", "-r", "us-west-2"];
    let mut args = base.to_vec();
    args.extend([
        "--hedge-after",
        "100",
        "--hedge-share",
        "1",
        "chat",
        "--json",
        "Hi",
    ]);
    let run = llmm(&args).await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["region"], "us-west-2");
    let attempts = value["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["region"], "us-east-1");
    assert_eq!(attempts[0]["outcome"], "hedge_cancelled");
    assert!(attempts[0].get("route").is_none());
    assert_eq!(attempts[1]["outcome"], "ok");
    assert_eq!(attempts[1]["route"], "hedge");
    assert_eq!(sim.requests().len(), 2);

    // Without the flag the same call waits for the slow region.
    sim.reset();
    let mut args = base.to_vec();
    args.extend(["chat", "--json", "Hi"]);
    let run = llmm(&args).await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["region"], "us-east-1");
    assert_eq!(value["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_streamed_chat_is_hedged_on_its_first_token() {
    let scenario = Scenario::default()
        .with_latency_rule(LatencyRule::new(LatencyModel::new(3_000, 0.0)).region("us-east-1"));
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-r",
        "us-east-1",
        "-r",
        "us-west-2",
        "--hedge-after",
        "100",
        "--hedge-share",
        "1",
        "chat",
        "--stream",
        "Hi",
    ])
    .await;
    run.assert_code(0);
    assert!(!run.stdout.trim().is_empty());
    assert!(run.stderr.contains("2 attempt(s)"), "{}", run.stderr);
    assert!(run.stderr.contains("us-west-2"), "{}", run.stderr);
    let regions: Vec<String> = sim.requests().into_iter().map(|r| r.region).collect();
    assert_eq!(regions, ["us-east-1", "us-west-2"]);
}
