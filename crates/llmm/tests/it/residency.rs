//! `--residency`: no request leaves the constraint, and a model that cannot be served inside is
//! a usage error before anything is sent.

use bedrock_sim::{Scenario, SimHandle};
use serde_json::Value;

use crate::support::{assert_untouched, llmm, llmm_with_env, sim};

/// Every runtime call the simulator saw, as (model id in the path, region).
fn sent(sim: &SimHandle) -> Vec<(String, String)> {
    sim.requests()
        .into_iter()
        .filter(|r| r.operation.is_runtime())
        .map(|r| (r.model_id.unwrap_or_default(), r.region))
        .collect()
}

#[tokio::test]
async fn residency_eu_keeps_chat_in_eu_regions_and_eu_profiles() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    // The default regions start with us-east-1; without the constraint the call goes there.
    let base = [
        "chat",
        "--endpoint-url",
        &url,
        "-m",
        "Claude Haiku 4.5",
        "--json",
    ];
    let open = llmm(&[&base[..], &["hi"]].concat()).await;
    open.assert_code(0);
    let v: Value = serde_json::from_str(&open.stdout).unwrap();
    assert_eq!(v["region"], "us-east-1");
    sim.reset();

    let flag = llmm(&[&base[..], &["--residency", "eu", "hi"]].concat()).await;
    let env = llmm_with_env(
        &[&base[..], &["hi"]].concat(),
        "",
        &[("LLMM_RESIDENCY", "eu")],
    )
    .await;
    for run in [flag, env] {
        run.assert_code(0);
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["region"], "eu-west-1", "{}", run.stdout);
    }
    let sent = sent(&sim);
    assert_eq!(
        sent,
        vec![
            (
                "eu.anthropic.claude-haiku-4-5-20251001-v1:0".to_owned(),
                "eu-west-1".to_owned()
            );
            2
        ]
    );
}

#[tokio::test]
async fn a_model_offered_only_through_global_is_refused_under_eu_before_anything_is_sent() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let run = llmm(&[
        "chat",
        "--endpoint-url",
        &url,
        "--residency",
        "eu",
        "-m",
        "Nova 2 Lite",
        "-r",
        "eu-west-2",
        "hi",
    ])
    .await;
    run.assert_code(2);
    for part in [
        "Nova 2 Lite",
        "amazon.nova-2-lite-v1:0",
        "residency eu",
        "global.",
    ] {
        assert!(
            run.stderr.contains(part),
            "{part:?} missing: {}",
            run.stderr
        );
    }
    assert_untouched(&sim);
    // The batch-job engine picks its own profiles: refused rather than ignored.
    let run = llmm(&[
        "batch",
        "fixtures/batch/demo.jsonl",
        "--endpoint-url",
        &url,
        "--residency",
        "eu",
        "--engine",
        "bedrock-batch",
        "--bucket",
        "b",
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
    ])
    .await;
    run.assert_code(2);
    assert!(run.stderr.contains("bedrock-batch"), "{}", run.stderr);
    assert_untouched(&sim);
    let run = llmm(&["chat", "--residency", "mars", "--simulate", "hi"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("unknown residency"), "{}", run.stderr);
}
