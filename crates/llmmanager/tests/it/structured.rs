//! Typed answers against the simulator: each mechanism, fallback between mechanisms, re-asks of
//! malformed answers, the typed error, streams and batches.

use std::time::Duration;

use bedrock_sim::{RecordedRequest, Scenario, SimHandle};
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::structured::{StructuredEvent, StructuredRequest};
use llmmanager::{
    CallOptions, ConverseRequest, Hedging, LlmManager, Mechanism, ParallelLlmManager, Schema,
    StructuredError, ValidationConfig, ValidationResult,
};
use serde_json::{Value, json};

use crate::support::{NOVA_LITE, manager, sim};

/// Has native structured output in the catalog and the simulator.
const HAIKU_45: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
/// Has neither structured output nor tools in the catalog: prompted JSON.
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct City {
    name: String,
    population: u32,
    coastal: bool,
}

fn scenario(value: Value) -> Scenario {
    Scenario::from_json_str(&value.to_string()).expect("valid scenario")
}

async fn one_model(sim: &SimHandle, model: &str) -> LlmManager {
    manager(sim)
        .model(model)
        .region("us-east-1")
        .build()
        .await
        .expect("manager builds")
}

fn ask() -> ConverseRequest {
    ConverseRequest::builder()
        .user_text("Describe a city.")
        .max_tokens(200)
        .build()
        .expect("valid request")
}

/// The runtime requests the simulator answered with model output (see the conformance table).
fn paid(sim: &SimHandle) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.operation.is_runtime() && r.outcome == "ok")
        .collect()
}

/// Validation budget: one fresh answer per target after a rejected one.
fn one_retry() -> CallOptions {
    CallOptions::default()
        .with_validation(ValidationConfig::new(|_| ValidationResult::Valid).with_retries(1))
}

const BAD_CITY: &str = r#"{"name": "Lyon", "population": "many", "coastal": false}"#;
const GOOD_CITY: &str = r#"{"name": "Lyon", "population": 522000, "coastal": false}"#;

#[tokio::test]
async fn native_structured_output_for_a_model_that_has_it() {
    let sim = sim(Scenario::default()).await;
    let manager = one_model(&sim, HAIKU_45).await;
    let city = manager.converse_structured::<City>(&ask()).await.unwrap();
    assert_eq!(city.mechanism, Mechanism::Native);
    assert_eq!(
        serde_json::to_value(&city.json).unwrap()["name"],
        json!(city.value.name)
    );
    let sent = paid(&sim);
    assert_eq!(sent.len(), 1);
    let format = &sent[0].body["outputConfig"]["textFormat"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["structure"]["jsonSchema"]["name"], "City");
    assert!(sent[0].body.get("toolConfig").is_none());
}

#[tokio::test]
async fn a_forced_tool_call_for_a_model_with_tools_only() {
    let sim = sim(Scenario::default()).await;
    let manager = one_model(&sim, NOVA_LITE).await;
    let city = manager.converse_structured::<City>(&ask()).await.unwrap();
    assert_eq!(city.mechanism, Mechanism::ForcedTool);
    let sent = paid(&sim);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body["toolConfig"]["toolChoice"]["tool"]["name"],
        "City"
    );
    assert!(sent[0].body.get("outputConfig").is_none());
}

#[tokio::test]
async fn prompted_json_for_a_model_with_neither() {
    let sim = sim(scenario(json!({
        "replies": [{"text": format!("Here it is:\n```json\n{GOOD_CITY}\n```")}]
    })))
    .await;
    let manager = one_model(&sim, LLAMA).await;
    let city = manager.converse_structured::<City>(&ask()).await.unwrap();
    assert_eq!(city.mechanism, Mechanism::Prompted);
    assert_eq!(
        city.value,
        City {
            name: "Lyon".into(),
            population: 522_000,
            coastal: false
        }
    );
    let sent = paid(&sim);
    let prompt = sent[0].body["messages"][0]["content"][1]["text"]
        .as_str()
        .unwrap();
    assert!(prompt.contains("JSON Schema"), "{prompt}");
    assert!(sent[0].body.get("toolConfig").is_none());
}

#[tokio::test]
async fn a_model_that_rejects_native_output_falls_back_to_the_tool() {
    // The catalog says the model has structured output; this simulator's model does not.
    let sim = sim(scenario(json!({
        "model_overrides": {HAIKU_45: {"structured_output": false}}
    })))
    .await;
    let manager = one_model(&sim, HAIKU_45).await;
    let city = manager.converse_structured::<City>(&ask()).await.unwrap();
    assert_eq!(city.mechanism, Mechanism::ForcedTool);
    let attempts = &city.response.attempts;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        attempts[0].target, attempts[1].target,
        "the same target again"
    );
    assert_eq!(attempts[1].disabled_features, ["structured_output"]);
    assert!(
        city.response
            .warnings
            .iter()
            .any(|w| w.contains("structured_output")),
        "{:?}",
        city.response.warnings
    );
    assert_eq!(paid(&sim).len(), 1, "the rejection cost nothing");
}

#[tokio::test]
async fn a_model_that_rejects_tools_falls_back_to_the_prompt() {
    let sim = sim(scenario(json!({
        "model_overrides": {NOVA_LITE: {"tools": false}},
        "replies": [{"text": GOOD_CITY}]
    })))
    .await;
    let manager = one_model(&sim, NOVA_LITE).await;
    let city = manager.converse_structured::<City>(&ask()).await.unwrap();
    assert_eq!(city.mechanism, Mechanism::Prompted);
    assert_eq!(city.response.attempts.len(), 2);
    assert_eq!(city.value.population, 522_000);
}

#[tokio::test]
async fn two_models_each_through_its_own_mechanism() {
    // Llama answers prose only; Haiku 4.5 answers natively.
    let sim = sim(scenario(json!({
        "replies": [{"model": LLAMA, "text": "Lyon is a lovely city."}]
    })))
    .await;
    let manager = manager(&sim)
        .models([LLAMA, HAIKU_45])
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    let city = manager
        .converse_structured_with::<City>(&ask(), &one_retry())
        .await
        .unwrap();
    assert_eq!(city.mechanism, Mechanism::Native);
    assert_eq!(city.response.model_id, HAIKU_45);
    let rejected: Vec<_> = city.response.validation_failures().collect();
    assert_eq!(rejected.len(), 2, "one answer and one re-ask from Llama");
    assert!(rejected.iter().all(|v| v.target.model == LLAMA));
    let sent = paid(&sim);
    assert_eq!(sent.len(), 3);
    assert!(sent[2].body.get("outputConfig").is_some());
    assert!(sent[0].body.get("outputConfig").is_none());
}

#[tokio::test]
async fn a_malformed_answer_is_asked_again_with_the_error() {
    let sim = sim(scenario(json!({
        "replies": [{"calls": [1], "text": BAD_CITY}]
    })))
    .await;
    let manager = one_model(&sim, HAIKU_45).await;
    let city = manager.converse_structured::<City>(&ask()).await.unwrap();
    assert_eq!(city.response.validations.len(), 2);
    assert!(city.response.had_validation_failures());
    assert_eq!(
        city.response.attempts.len(),
        1,
        "a re-ask is not a new attempt"
    );
    let sent = paid(&sim);
    assert_eq!(sent.len(), 2);
    let feedback =
        sent[1].body["messages"].as_array().unwrap().last().unwrap()["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(feedback.contains("/population"), "{feedback}");
}

#[tokio::test]
async fn the_error_lists_every_invalid_answer() {
    let sim = sim(scenario(json!({"replies": [{"text": "not json at all"}]}))).await;
    let manager = manager(&sim)
        .model(HAIKU_45)
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await
        .unwrap();
    let error = manager
        .converse_structured_with::<City>(&ask(), &one_retry())
        .await
        .unwrap_err();
    let StructuredError::Call {
        invalid_answers, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    // Every attempt (both regions, then the retries) got an answer and one re-ask.
    assert_eq!(invalid_answers.len(), 2 * error.attempts().len());
    assert!(
        invalid_answers
            .iter()
            .any(|v| v.target.region == "us-west-2")
    );
    for answer in invalid_answers {
        let ValidationResult::Invalid { message, .. } = &answer.result else {
            panic!("{answer:?}");
        };
        assert!(message.contains("not JSON"), "{message}");
    }
    assert_eq!(paid(&sim).len(), invalid_answers.len());
}

#[tokio::test]
async fn a_raw_schema_gives_a_json_value() {
    let sim = sim(Scenario::default()).await;
    let manager = one_model(&sim, NOVA_LITE).await;
    let schema = Schema::new(json!({
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": 9},
        "minItems": 2,
        "maxItems": 2
    }))
    .unwrap();
    let answer = manager
        .converse_structured_value(&ask(), &schema, &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(answer.mechanism, Mechanism::ForcedTool);
    assert_eq!(
        answer.value.as_array().map(Vec::len),
        Some(2),
        "{}",
        answer.value
    );
}

#[tokio::test]
async fn a_malformed_share_never_returns_an_invalid_value() {
    let sim = sim(scenario(
        json!({"malformed_structured_share": 0.5, "seed": 3}),
    ))
    .await;
    let manager = one_model(&sim, HAIKU_45).await;
    let schema = Schema::of::<City>().unwrap();
    let mut rejected = 0;
    for i in 0..12 {
        let request = ConverseRequest::builder()
            .user_text(format!("City number {i}."))
            .build()
            .unwrap();
        let city = manager.converse_structured::<City>(&request).await.unwrap();
        assert!(schema.check(&city.json).is_ok());
        rejected += city.response.validation_failures().count();
    }
    assert!(rejected > 0, "the share produced malformed answers");
}

#[tokio::test]
async fn a_stream_gives_the_json_text_and_the_value() {
    let sim = sim(Scenario::default()).await;
    let manager = one_model(&sim, HAIKU_45).await;
    let mut stream = manager
        .converse_structured_stream::<City>(&ask())
        .await
        .unwrap();
    let mut text = String::new();
    let mut done = None;
    while let Some(event) = stream.next_event().await {
        match event.unwrap() {
            StructuredEvent::JsonDelta(delta) => text.push_str(&delta),
            StructuredEvent::Restarted { .. } => text.clear(),
            StructuredEvent::Completed(response) => done = Some(response),
            other => panic!("{other:?}"),
        }
    }
    let done = done.expect("completed");
    assert_eq!(done.mechanism, Mechanism::Native);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), done.json);
    assert_eq!(paid(&sim).len(), 1);
}

#[tokio::test]
async fn a_stream_asks_again_after_a_malformed_answer() {
    let sim = sim(scenario(json!({
        "replies": [{"calls": [1], "text": BAD_CITY}]
    })))
    .await;
    let manager = one_model(&sim, HAIKU_45).await;
    let mut stream = manager
        .converse_structured_stream::<City>(&ask())
        .await
        .unwrap();
    let mut restarts = 0;
    let mut done = None;
    while let Some(event) = stream.next_event().await {
        match event.unwrap() {
            StructuredEvent::Restarted { reason } => {
                assert!(reason.contains("/population"), "{reason}");
                restarts += 1;
            }
            StructuredEvent::Completed(response) => done = Some(response),
            _ => {}
        }
    }
    let done = done.expect("completed");
    assert_eq!(restarts, 1);
    assert_eq!(done.validations.len(), 2);
    assert_eq!(paid(&sim).len(), 2);
}

#[tokio::test]
async fn a_stream_whose_answers_all_fail_ends_with_every_error() {
    let sim = sim(scenario(json!({"replies": [{"text": BAD_CITY}]}))).await;
    let manager = one_model(&sim, HAIKU_45).await;
    let options = one_retry();
    let schema = Schema::of::<City>().unwrap();
    let error = manager
        .converse_structured_stream_value(&ask(), &schema, &options)
        .finish()
        .await
        .unwrap_err();
    assert!(
        matches!(error, StructuredError::Invalid { .. }),
        "{error:?}"
    );
    assert_eq!(error.invalid_answers().len(), 2);
    assert_eq!(paid(&sim).len(), 2);
}

#[tokio::test]
async fn a_batch_mixes_typed_and_plain_requests() {
    let sim = sim(scenario(json!({
        "replies": [{"calls": [1], "model": HAIKU_45, "text": BAD_CITY}]
    })))
    .await;
    let manager = manager(&sim)
        .model(HAIKU_45)
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await
        .unwrap();
    let parallel = ParallelLlmManager::new(manager, ParallelConfig::default()).unwrap();
    let schema = Schema::of::<City>().unwrap();
    let requests = vec![
        BatchRequest::new("a", StructuredRequest::new(ask(), schema.clone())),
        BatchRequest::new("b", StructuredRequest::new(ask(), schema.clone())),
        BatchRequest::new("c", StructuredRequest::plain(ask())),
    ];
    let batch = parallel
        .converse_structured_parallel(requests)
        .await
        .unwrap();
    assert!(batch.all_succeeded());
    for outcome in batch.outcomes() {
        let answer = outcome.result.as_ref().unwrap();
        if outcome.id.to_string() == "c" {
            assert!(answer.json.is_none() && answer.mechanism.is_none());
        } else {
            let city: City = answer.value().unwrap();
            assert!(
                schema.check(answer.json.as_ref().unwrap()).is_ok(),
                "{city:?}"
            );
            assert_eq!(answer.mechanism, Some(Mechanism::Native));
        }
    }
    assert_eq!(paid(&sim).len(), 4, "three answers and one re-ask");
}

#[tokio::test]
async fn a_rejected_tool_call_is_shown_to_the_model_as_its_input() {
    let sim = sim(scenario(json!({
        "replies": [{"calls": [1], "tool_use": {"input": {"name": 3}}}]
    })))
    .await;
    let manager = one_model(&sim, NOVA_LITE).await;
    let city = manager.converse_structured::<City>(&ask()).await.unwrap();
    assert_eq!(city.mechanism, Mechanism::ForcedTool);
    assert_eq!(city.response.validation_failures().count(), 1);
    let sent = paid(&sim);
    assert_eq!(sent.len(), 2);
    let messages = sent[1].body["messages"].as_array().unwrap();
    let shown = &messages[messages.len() - 2];
    assert_eq!(shown["role"], "assistant");
    assert_eq!(shown["content"][0]["text"], r#"{"name":3}"#);
}

#[tokio::test]
async fn a_hedged_stream_asks_again_and_each_ask_delivers_one_stream() {
    // us-east-1 is slow to its first token, so each ask is hedged onto us-west-2, whose first
    // answer is malformed: the consumer gets that answer's JSON, a restart, then the second
    // answer's JSON, and never a byte of the cancelled streams.
    let sim = sim(scenario(json!({
        "latency": { "time_to_first_token_ms": 10, "tokens_per_second": 0.0 },
        "latency_rules": [{
            "region": "us-east-1",
            "latency": { "time_to_first_token_ms": 1_500, "tokens_per_second": 0.0 }
        }],
        "replies": [{ "region": "us-west-2", "calls": [1], "text": BAD_CITY }]
    })))
    .await;
    let manager = manager(&sim)
        .model(HAIKU_45)
        .regions(["us-east-1", "us-west-2"])
        .hedging(Hedging::after(Duration::from_millis(100)).max_share(1.0))
        .build()
        .await
        .unwrap();
    let mut stream = manager
        .converse_structured_stream::<City>(&ask())
        .await
        .unwrap();
    let mut asks = vec![String::new()];
    let mut done = None;
    while let Some(event) = stream.next_event().await {
        match event.unwrap() {
            StructuredEvent::JsonDelta(delta) => asks.last_mut().unwrap().push_str(&delta),
            StructuredEvent::Restarted { .. } => asks.push(String::new()),
            StructuredEvent::Completed(response) => done = Some(response),
            other => panic!("{other:?}"),
        }
    }
    let done = done.expect("completed");
    assert_eq!(asks.len(), 2);
    assert_eq!(asks[0], BAD_CITY);
    assert_eq!(serde_json::from_str::<Value>(&asks[1]).unwrap(), done.json);
    let routes: Vec<String> = done
        .attempts
        .iter()
        .map(|a| {
            let lost = if a.lost.is_some() { " cancelled" } else { "" };
            format!("{} {}{lost}", a.target.region, a.route)
        })
        .collect();
    assert_eq!(
        routes,
        [
            "us-east-1 order cancelled",
            "us-west-2 hedge",
            "us-east-1 order cancelled",
            "us-west-2 hedge"
        ]
    );
    assert_eq!(done.validations.len(), 2);
    // Both racers of each ask reached the simulator.
    assert_eq!(paid(&sim).len(), 4);
}

#[tokio::test]
async fn a_stream_asked_again_keeps_the_call_deadline() {
    // Every answer is malformed and takes 250 ms; the call has 400 ms and a budget of five
    // re-asks. The deadline covers the re-asks: the second ask runs out of time, so at most two
    // answers are asked for, not six.
    let sim = sim(scenario(json!({
        "replies": [{"text": BAD_CITY}],
        "latency": {"time_to_first_token_ms": 250, "tokens_per_second": 0.0},
    })))
    .await;
    let manager = one_model(&sim, HAIKU_45).await;
    let options = CallOptions::default()
        .with_deadline(Duration::from_millis(400))
        .with_validation(ValidationConfig::new(|_| ValidationResult::Valid).with_retries(5));
    let schema = Schema::of::<City>().unwrap();
    let error = manager
        .converse_structured_stream_value(&ask(), &schema, &options)
        .finish()
        .await
        .unwrap_err();
    assert!(
        matches!(error, StructuredError::Call { .. }),
        "the deadline ends the call: {error:?}"
    );
    assert_eq!(error.invalid_answers().len(), 1, "{error:?}");
    let asked = sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.is_runtime())
        .count();
    assert!(asked <= 2, "{asked} answers asked for within one deadline");
    let numbers: Vec<u32> = error.attempts().iter().map(|a| a.attempt_number).collect();
    assert_eq!(
        numbers,
        (1..=u32::try_from(asked).unwrap()).collect::<Vec<_>>(),
        "every stream's attempts, numbered across the call: {error:?}"
    );
}
