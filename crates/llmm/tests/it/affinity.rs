//! `llmm --cache-affinity`: a batch's second turn of a conversation goes back to the region
//! that cached the first turn's prefix and reads it, where round-robin alone would move it.

use bedrock_sim::Scenario;
use serde_json::{Value, json};

use crate::support::{llmm_with_stdin, parse_lines, sim};

/// Two turns of one conversation with a long system prompt and cache points, as batch lines.
fn two_turns() -> String {
    let system = json!([
        {"text": "You answer questions about the customs rules file. ".repeat(250)},
        {"cachePoint": {"type": "default"}}
    ]);
    let first = json!({
        "id": "turn-1",
        "system": system,
        "messages": [
            {"role": "user", "content": [{"text": "Which form for Norway?"}, {"cachePoint": {"type": "default"}}]}
        ],
        "inferenceConfig": {"maxTokens": 32}
    });
    let second = json!({
        "id": "turn-2",
        "system": system,
        "messages": [
            {"role": "user", "content": [{"text": "Which form for Norway?"}, {"cachePoint": {"type": "default"}}]},
            {"role": "assistant", "content": [{"text": "Form N-1."}]},
            {"role": "user", "content": [{"text": "And for Chile?"}, {"cachePoint": {"type": "default"}}]}
        ],
        "inferenceConfig": {"maxTokens": 32}
    });
    format!("{first}\n{second}\n")
}

/// Runs the two turns one after the other over two regions; returns (region, cache-read
/// tokens) of each turn.
async fn run(affinity: bool) -> Vec<(String, u64)> {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let mut args = vec!["--endpoint-url", &url, "-r", "us-east-1", "-r", "us-west-2"];
    if affinity {
        args.push("--cache-affinity");
    }
    args.extend(["batch", "-", "--concurrency", "1", "--quiet"]);
    let run = llmm_with_stdin(&args, &two_turns()).await;
    run.assert_code(0);
    let mut lines: Vec<Value> = parse_lines(&run.stdout);
    lines.sort_by_key(|l| l["id"].as_str().unwrap().to_owned());
    lines
        .iter()
        .map(|l| {
            (
                l["region"].as_str().unwrap().to_owned(),
                l["usage"]["cache_read_tokens"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_second_turn_returns_to_the_cached_region_with_the_flag_only() {
    let with = run(true).await;
    assert_eq!(with[0].0, "us-east-1");
    assert_eq!(with[1].0, "us-east-1", "{with:?}");
    assert!(with[1].1 > 0, "{with:?}");

    // Round-robin alone sends the second turn to us-west-2, whose cache is empty.
    let without = run(false).await;
    assert_eq!(without[0].0, "us-east-1");
    assert_eq!(without[1], ("us-west-2".to_owned(), 0), "{without:?}");
}
