//! What answers cost in `llmm`'s output: every result line, `chat --json`, and the batch summary
//! (total, per model, cache savings, answers without a price).

use bedrock_sim::Scenario;
use serde_json::Value;

use crate::support::{llmm, llmm_with_stdin, parse_lines, sim};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";

/// Claude 3 Haiku's on-demand dollars per million input and output tokens.
const HAIKU_PER_MTOK: (f64, f64) = (0.25, 1.25);

fn input(n: usize) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "{{\"id\":\"q{i}\",\"prompt\":\"Question {i}: {}\",\"max_tokens\":40}}\n",
                "why ".repeat(i)
            )
        })
        .collect()
}

/// The dollars a line's usage costs at Claude 3 Haiku's prices.
#[track_caller]
fn expected_usd(line: &Value) -> f64 {
    let n = |k: &str| line["usage"][k].as_u64().unwrap() as f64;
    assert!(
        n("input_tokens") > 0.0 && n("output_tokens") > 0.0,
        "{line}"
    );
    (n("input_tokens") * HAIKU_PER_MTOK.0 + n("output_tokens") * HAIKU_PER_MTOK.1) / 1e6
}

async fn batch(model: &str, n: usize) -> (crate::support::Run, Value) {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let summary_path = dir.path().join("summary.json");
    let summary_arg = summary_path.display().to_string();
    let run = llmm_with_stdin(
        &[
            "--endpoint-url",
            &url,
            "-m",
            model,
            "-r",
            "us-east-1",
            "batch",
            "-",
            "--summary-json",
            &summary_arg,
        ],
        &input(n),
    )
    .await;
    run.assert_code(0);
    let summary = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    (run, summary)
}

#[tokio::test]
async fn batch_lines_carry_their_cost_and_the_summary_adds_them_up_per_model() {
    let (run, summary) = batch(HAIKU, 5).await;
    let lines = parse_lines(&run.stdout);
    assert_eq!(lines.len(), 5);
    let mut total = 0.0;
    for line in &lines {
        let cost = &line["cost"];
        let usd = cost["usd"]
            .as_f64()
            .unwrap_or_else(|| panic!("no cost: {line}"));
        assert!((usd - expected_usd(line)).abs() < 1e-12, "{line}");
        assert_eq!(cost["price"]["access_method"], "direct");
        assert_eq!(cost["price"]["billing"], "on_demand");
        assert!(
            cost["price"]["source"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
        assert_eq!(cost["price"]["date"].as_str().unwrap().len(), 10);
        total += usd;
    }
    let cost = &summary["cost"];
    assert!(
        (cost["usd"].as_f64().unwrap() - total).abs() < 1e-12,
        "{summary}"
    );
    assert_eq!(cost["unpriced_answers"], 0);
    assert_eq!(cost["cache_savings_usd"].as_f64(), Some(0.0));
    let by_model = &cost["by_model"][HAIKU];
    assert_eq!(by_model["priced"], 5, "{summary}");
    assert!((by_model["usd"].as_f64().unwrap() - total).abs() < 1e-12);
    assert_eq!(cost["prices"].as_array().unwrap().len(), 1, "{summary}");
    assert!(
        run.stderr.contains(&format!("cost: ${total:.6}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("cost {HAIKU}: ${total:.6} for 5 answer(s)")),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn an_answer_without_a_price_has_no_cost_rather_than_a_cost_of_zero() {
    let (run, summary) = batch(LLAMA, 2).await;
    for line in parse_lines(&run.stdout) {
        assert_eq!(line["ok"], true, "{line}");
        assert!(line.get("cost").is_none(), "{line}");
    }
    let cost = &summary["cost"];
    assert_eq!(cost["usd"], Value::Null, "{summary}");
    assert_eq!(cost["unpriced_answers"], 2, "{summary}");
    assert_eq!(cost["by_model"][LLAMA]["unpriced"], 2, "{summary}");
    assert!(
        run.stderr
            .contains("2 answer(s) without a price, not counted"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn chat_json_carries_the_cost() {
    let run = llmm(&["--simulate", "chat", "--json", "Say hello."]).await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["model"], HAIKU, "{value}");
    let usd = value["cost"]["usd"].as_f64().unwrap();
    assert!((usd - expected_usd(&value)).abs() < 1e-12, "{value}");
}
