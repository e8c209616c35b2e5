//! `llmm chat`: answers, request contents, failover, `--json`, `--stream`, exit code 3.

use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Scenario};
use serde_json::Value;

use crate::support::{fixture, llmm, llmm_with_stdin, sim};

#[tokio::test]
async fn answers_from_the_embedded_simulator() {
    let run = llmm(&["--simulate", "chat", "Say hello."]).await;
    run.assert_code(0);
    assert!(!run.stdout.trim().is_empty(), "an answer is printed");
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(
        run.stderr
            .contains("simulating Bedrock at http://127.0.0.1:")
    );
}

#[tokio::test]
async fn sends_the_prompt_from_stdin_with_system_limits_and_an_image() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let image = fixture("media/sample.png");
    let run = llmm_with_stdin(
        &[
            "--endpoint-url",
            &url,
            "chat",
            "--system",
            "Answer briefly.",
            "--max-tokens",
            "50",
            "--temperature",
            "0.5",
            "--image",
            &image,
        ],
        "What is in this picture?",
    )
    .await;
    run.assert_code(0);
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    assert_eq!(requests[0].region, "us-east-1", "the first default region");
    assert_eq!(body["system"][0]["text"], "Answer briefly.");
    assert_eq!(body["inferenceConfig"]["maxTokens"], 50);
    assert_eq!(body["inferenceConfig"]["temperature"], 0.5);
    let content = &body["messages"][0]["content"];
    assert_eq!(content[0]["text"], "What is in this picture?");
    assert_eq!(content[1]["image"]["format"], "png");
}

#[tokio::test]
async fn json_output_shape() {
    let run = llmm(&["--simulate", "chat", "--json", "Say hello."]).await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    insta::assert_json_snapshot!("chat_json", value, {
        ".duration_ms" => "[ms]",
        ".attempts[].duration_ms" => "[ms]",
        ".text" => "[text]",
    });
}

#[tokio::test]
async fn fails_over_and_lists_every_attempt() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).region("us-east-1"),
    );
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-r",
        "us-east-1",
        "-r",
        "us-west-2",
        "chat",
        "--json",
        "Hi",
    ])
    .await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(value["region"], "us-west-2");
    let attempts = value["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["region"], "us-east-1");
    assert_eq!(attempts[0]["outcome"], "throttled");
    assert!(
        attempts[0]["message"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException")
    );
    assert_eq!(attempts[1]["outcome"], "ok");
}

#[tokio::test]
async fn exits_3_when_every_attempt_fails() {
    let scenario = Scenario::default().with_fault(FaultRule::new(Fault::error(
        BedrockErrorKind::AccessDeniedException,
    )));
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-r",
        "us-east-1",
        "-r",
        "us-west-2",
        "chat",
        "--json",
        "Hi",
    ])
    .await;
    run.assert_code(3);
    assert!(run.stderr.contains("all attempts failed"), "{}", run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["ok"], false);
    assert_eq!(value["error"]["kind"], "exhausted");
    assert_eq!(value["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(value["attempts"][1]["outcome"], "target_unavailable");
    assert_eq!(sim.stats().requests, 2);
}

#[tokio::test]
async fn stream_prints_the_text_and_statistics() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "chat",
        "--stream",
        "Tell me a story.",
    ])
    .await;
    run.assert_code(0);
    assert!(!run.stdout.trim().is_empty());
    assert!(run.stderr.contains("1 attempt(s)"), "{}", run.stderr);
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].operation.as_str(), "converse_stream");
}

#[tokio::test]
async fn attaches_documents_with_file_names_bedrock_would_reject() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let document = fixture("media/bad-name_with.underscore.pdf");
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "chat",
        "--document",
        &document,
        "Summarise.",
    ])
    .await;
    run.assert_code(0);
    let requests = sim.requests();
    let block = &requests[0].body["messages"][0]["content"][1]["document"];
    assert_eq!(block["format"], "pdf");
    let name = block["name"].as_str().unwrap();
    assert!(!name.contains('_') && !name.is_empty(), "{name}");
}

#[tokio::test]
async fn a_file_of_the_wrong_kind_exits_2() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let pdf = fixture("media/sample.pdf");
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "chat",
        "--image",
        &pdf,
        "What is this?",
    ])
    .await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("not a supported image format"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().requests, 0);
}
