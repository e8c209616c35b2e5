//! Typed answers from the command line: `chat --schema FILE` and batch lines with `"schema"`.

use bedrock_sim::{Operation, Scenario};
use serde_json::{Value, json};

use crate::support::{llmm, parse_lines, sim};

const HAIKU_45: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";

fn city_schema() -> Value {
    json!({
        "title": "City",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "population": {"type": "integer", "minimum": 0}
        },
        "required": ["name", "population"]
    })
}

fn write_schema(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("city.schema.json");
    std::fs::write(&path, city_schema().to_string()).unwrap();
    path.display().to_string()
}

fn scenario(value: Value) -> Scenario {
    Scenario::from_json_str(&value.to_string()).unwrap()
}

fn runtime_calls(sim: &bedrock_sim::SimHandle) -> usize {
    sim.requests()
        .iter()
        .filter(|r| matches!(r.operation, Operation::Converse))
        .count()
}

#[tokio::test]
async fn chat_with_a_schema_prints_only_the_value() {
    let sim = sim(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let schema = write_schema(&dir);
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        HAIKU_45,
        "-r",
        "us-east-1",
        "chat",
        "--schema",
        &schema,
        "The largest city of France?",
    ])
    .await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert!(value["name"].is_string(), "{value}");
    assert!(value["population"].is_u64(), "{value}");
    let sent = sim.requests().last().cloned().unwrap();
    assert_eq!(
        sent.body["outputConfig"]["textFormat"]["type"],
        "json_schema"
    );
}

#[tokio::test]
async fn chat_with_a_schema_and_json_puts_the_value_in_the_response() {
    let sim = sim(scenario(json!({
        "replies": [{"calls": [1], "text": "{\"name\": \"Paris\"}"}]
    })))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let schema = write_schema(&dir);
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        HAIKU_45,
        "-r",
        "us-east-1",
        "chat",
        "--schema",
        &schema,
        "--json",
        "The largest city of France?",
    ])
    .await;
    run.assert_code(0);
    let record: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(record["ok"], true);
    assert_eq!(record["mechanism"], "native");
    assert!(record["json"]["population"].is_u64(), "{record}");
    let rejected = record["invalid_answers"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{record}");
    assert!(
        rejected[0]["message"]
            .as_str()
            .unwrap()
            .contains("population")
    );
    assert_eq!(runtime_calls(&sim), 2);
}

#[tokio::test]
async fn chat_with_a_schema_that_no_answer_matches_exits_3_listing_the_answers() {
    let sim = sim(scenario(
        json!({"replies": [{"text": "I would rather not."}]}),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let schema = write_schema(&dir);
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        HAIKU_45,
        "-r",
        "us-east-1",
        "--max-attempts",
        "1",
        "chat",
        "--schema",
        &schema,
        "The largest city of France?",
    ])
    .await;
    run.assert_code(3);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let rejected = run
        .stderr
        .lines()
        .filter(|l| l.contains("rejected answer"))
        .count();
    assert_eq!(rejected, 4, "one answer and three re-asks: {}", run.stderr);
    assert!(run.stderr.contains("not JSON"), "{}", run.stderr);
}

#[tokio::test]
async fn a_bad_schema_file_exits_2_before_any_call() {
    let sim = sim(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"type": 12}"#).unwrap();
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "chat",
        "--schema",
        &path.display().to_string(),
        "Hi",
    ])
    .await;
    run.assert_code(2);
    assert!(run.stderr.contains("invalid JSON schema"), "{}", run.stderr);
    assert_eq!(runtime_calls(&sim), 0);
}

#[tokio::test]
async fn batch_lines_with_a_schema_get_a_json_value() {
    let sim = sim(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines = [
        json!({"id": "typed", "prompt": "A city?", "schema": city_schema()}),
        json!({"id": "plain", "prompt": "Hi", "max_tokens": 20}),
        json!({"id": "full", "messages": [{"role": "user", "content": [{"text": "A city?"}]}],
               "schema": city_schema()}),
        json!({"id": "broken", "prompt": "A city?", "schema": "not an object"}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        HAIKU_45,
        "-r",
        "us-east-1",
        "batch",
        &input.display().to_string(),
    ])
    .await;
    run.assert_code(1);
    let out = parse_lines(&run.stdout);
    let line = |id: &str| out.iter().find(|l| l["id"] == id).unwrap().clone();
    for id in ["typed", "full"] {
        let l = line(id);
        assert_eq!(l["ok"], true, "{l}");
        assert!(l["json"]["name"].is_string(), "{l}");
        assert_eq!(l["mechanism"], "native");
    }
    let plain = line("plain");
    assert_eq!(plain["ok"], true);
    assert!(plain.get("json").is_none(), "{plain}");
    let broken = line("broken");
    assert_eq!(broken["error"]["kind"], "invalid_input");
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"schema\""),
        "{broken}"
    );
}
