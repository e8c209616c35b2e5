//! `llmm batch --estimate` (nothing sent) and `--max-cost` (requests that would pass the budget
//! get `budget_exceeded` lines, and a later run with a larger budget sends them); the one pair
//! of quota flags the estimate and pacing share.

use std::collections::{HashMap, HashSet};

use bedrock_sim::{Operation, Scenario, SimHandle};
use serde_json::Value;

use crate::support::{assert_untouched, llmm, parse_lines, sim};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// Claude 3 Haiku's on-demand dollars per million input and output tokens.
const HAIKU_PER_MTOK: (f64, f64) = (0.25, 1.25);

fn input(n: usize) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "{{\"id\":\"q{i}\",\"prompt\":\"Question {i}: {}\",\"max_tokens\":40}}\n",
                "why ".repeat(i % 4)
            )
        })
        .collect()
}

fn converse_calls(sim: &SimHandle) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.operation == Operation::Converse)
        .count()
}

#[tokio::test]
async fn estimate_prices_both_engines_and_the_time_at_the_quotas_and_sends_nothing() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, input(6)).unwrap();
    let file = path.display().to_string();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        HAIKU,
        "-r",
        "us-east-1",
        "-r",
        "us-west-2",
        "batch",
        &file,
        "--estimate",
        "--json",
        "--quota-rpm",
        "2",
        "--quota-tpm",
        "100000",
    ])
    .await;
    run.assert_code(0);
    assert_untouched(&sim);
    let e: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(e["requests"], 6);
    assert_eq!(e["output_tokens"], 240, "6 × maxTokens 40: {e}");
    assert_eq!(e["output_tokens_from"]["max_tokens"], 6);
    let input_tokens = e["input_tokens"].as_f64().unwrap();
    assert!(input_tokens > 0.0);
    let on_demand = (input_tokens * HAIKU_PER_MTOK.0 + 240.0 * HAIKU_PER_MTOK.1) / 1e6;
    let local = e["local"]["usd"].as_f64().unwrap();
    assert!((local - on_demand).abs() < 1e-12, "{local} != {on_demand}");
    let batch = e["bedrock_batch"]["usd"].as_f64().unwrap();
    assert!(
        (batch - on_demand / 2.0).abs() < 1e-12,
        "batch is half: {batch}"
    );
    let regions: Vec<_> = e["local"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["region"].as_str().unwrap(),
                t["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(regions, [("us-east-1", 3), ("us-west-2", 3)]);
    // 6 requests at 2 per minute in each of 2 regions.
    assert_eq!(e["local_minutes"].as_f64(), Some(1.5));
    assert_eq!(e["local_bound_by"], "requests");

    // Text by default; without quotas the time is unknown.
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        HAIKU,
        "-r",
        "us-east-1",
        "batch",
        &file,
        "--estimate",
    ])
    .await;
    run.assert_code(0);
    assert!(run.stdout.contains("nothing was sent"), "{}", run.stdout);
    assert!(
        run.stdout.contains("--engine local: at most $"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("--engine bedrock-batch: at most $"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("time with --engine local: unknown"),
        "{}",
        run.stdout
    );
    assert_untouched(&sim);
}

#[tokio::test]
async fn one_pair_of_quota_flags_serves_the_estimate_and_pacing_and_the_pace_names_still_work() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, input(6)).unwrap();
    let file = path.display().to_string();
    let estimate = |rpm: &'static str, tpm: &'static str| {
        let (url, file) = (url.clone(), file.clone());
        async move {
            let run = llmm(&[
                "--endpoint-url",
                &url,
                "-m",
                HAIKU,
                "-r",
                "us-east-1",
                rpm,
                "3",
                tpm,
                "100000",
                "batch",
                &file,
                "--estimate",
                "--json",
            ])
            .await;
            run.assert_code(0);
            serde_json::from_str::<Value>(&run.stdout).unwrap()
        }
    };
    let quota = estimate("--quota-rpm", "--quota-tpm").await;
    // 6 requests at 3 per minute in one region.
    assert_eq!(quota["local_minutes"].as_f64(), Some(2.0), "{quota}");
    assert_eq!(estimate("--pace-rpm", "--pace-tpm").await, quota);
    assert_untouched(&sim);

    // The same flag on a run paces it (it is no longer an --estimate-only flag).
    let out = dir.path().join("out.jsonl");
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        HAIKU,
        "-r",
        "us-east-1",
        "--quota-rpm",
        "6000",
        "batch",
        &file,
        "-q",
        "-o",
        &out.display().to_string(),
    ])
    .await;
    run.assert_code(0);
    assert_eq!(converse_calls(&sim), 6);
}

/// Every line of `path` by id, the last line for an id winning.
fn last_lines(path: &std::path::Path) -> (Vec<Value>, HashMap<String, Value>) {
    let lines = parse_lines(&std::fs::read_to_string(path).unwrap());
    let by_id = lines
        .iter()
        .map(|l| (l["id"].as_str().unwrap().to_owned(), l.clone()))
        .collect();
    (lines, by_id)
}

#[tokio::test]
async fn max_cost_leaves_budget_exceeded_lines_that_a_larger_budget_resumes() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, input(20)).unwrap();
    let file = path.display().to_string();
    let out = dir.path().join("out.jsonl");
    let out_arg = out.display().to_string();
    let summary = dir.path().join("summary.json");
    let summary_arg = summary.display().to_string();
    let run = |budget: &'static str| {
        let (url, file, out_arg, summary_arg) = (
            url.clone(),
            file.clone(),
            out_arg.clone(),
            summary_arg.clone(),
        );
        async move {
            llmm(&[
                "--endpoint-url",
                &url,
                "-m",
                HAIKU,
                "-r",
                "us-east-1",
                "batch",
                &file,
                "-o",
                &out_arg,
                "-c",
                "2",
                "-q",
                "--summary-json",
                &summary_arg,
                "--max-cost",
                budget,
            ])
            .await
        }
    };
    // Each request is estimated at about 40 × $1.25 + 10 × $0.25 per million tokens: $0.0003
    // holds about five.
    let first = run("0.0003").await;
    first.assert_code(1);
    let (lines, _) = last_lines(&out);
    assert_eq!(lines.len(), 20, "one line per request");
    let paid: Vec<_> = lines.iter().filter(|l| l["ok"] == true).collect();
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l["error"]["kind"] == "budget_exceeded")
        .collect();
    assert_eq!(paid.len() + refused.len(), 20);
    assert!(
        (2..=8).contains(&paid.len()),
        "{} paid, {} refused",
        paid.len(),
        refused.len()
    );
    assert_eq!(
        converse_calls(&sim),
        paid.len(),
        "refused lines were not sent"
    );
    assert!(
        refused
            .iter()
            .all(|l| l["attempts"].as_array().unwrap().is_empty())
    );
    let spent: f64 = paid
        .iter()
        .map(|l| l["cost"]["usd"].as_f64().unwrap())
        .sum();
    assert!(spent <= 0.0003, "spent {spent}");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["budget_exceeded"], refused.len());
    assert_eq!(s["ran"], paid.len());
    assert_eq!(s["failed"], 0);
    assert_eq!(s["max_cost_usd"], 0.0003);
    assert!(
        first.stderr.contains("larger --max-cost"),
        "{}",
        first.stderr
    );

    // A larger budget sends exactly the refused requests.
    let second = run("1").await;
    second.assert_code(0);
    assert_eq!(
        converse_calls(&sim),
        20,
        "each request sent once over both runs"
    );
    let (lines, by_id) = last_lines(&out);
    assert_eq!(lines.len(), 20 + refused.len());
    assert_eq!(by_id.len(), 20);
    assert!(
        by_id.values().all(|l| l["ok"] == true),
        "every id ends answered"
    );
    let resumed: HashSet<_> = lines[20..].iter().map(|l| l["id"].clone()).collect();
    let refused_ids: HashSet<_> = refused.iter().map(|l| l["id"].clone()).collect();
    assert_eq!(resumed, refused_ids);

    // Nothing is left.
    let third = run("1").await;
    third.assert_code(0);
    assert_eq!(converse_calls(&sim), 20);
}

#[tokio::test]
async fn max_cost_is_refused_with_batch_jobs() {
    let run = llmm(&[
        "--simulate",
        "batch",
        "in.jsonl",
        "--engine",
        "bedrock-batch",
        "--bucket",
        "b",
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
        "--max-cost",
        "1",
    ])
    .await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("--max-cost applies to --engine local"),
        "{}",
        run.stderr
    );
}
