//! `llmm chat`: answers, request contents, failover, `--json`, `--stream`, exit code 3.

use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Operation, Scenario, StreamExceptionKind};
use serde_json::Value;

use crate::support::{
    fixture, llmm, llmm_with_env, llmm_with_stdin, llmm_without_credentials, sim,
};

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
async fn simulate_is_a_flag_before_or_after_the_subcommand() {
    for args in [
        &["chat", "--simulate", "Why is the sky blue?"][..],
        &["chat", "Why is the sky blue?", "--simulate"],
        &["--simulate", "chat", "Why is the sky blue?"],
        &[
            "chat",
            "--scenario",
            "fixtures/scenarios/default.json",
            "Hi",
        ],
    ] {
        let run = llmm(args).await;
        run.assert_code(0);
        assert!(!run.stdout.trim().is_empty(), "{args:?}: an answer");
        assert!(run.stderr.contains("simulating Bedrock"), "{args:?}");
    }
}

#[tokio::test]
async fn with_no_prompt_and_stdin_not_a_terminal_the_prompt_is_read_from_stdin() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    for args in [
        &["chat", "--endpoint-url", &url][..],
        &["chat", "--endpoint-url", &url, "-"],
    ] {
        let run = llmm_with_stdin(args, "Why is the sky blue?\n").await;
        run.assert_code(0);
        assert_eq!(run.stdout.lines().count(), 1, "{args:?}: {}", run.stdout);
    }
    let last = sim.requests().last().cloned().unwrap();
    assert!(
        last.body.to_string().contains("Why is the sky blue?"),
        "{}",
        last.body
    );
    let run = llmm_with_stdin(&["chat", "--simulate"], "hi").await;
    run.assert_code(0);
    assert!(!run.stdout.trim().is_empty());
}

#[tokio::test]
async fn models_and_regions_come_from_the_config_file_then_the_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("llmm");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        "models = [\"Nova Lite\"]\nregions = [\"eu-west-1\"]\nconcurrency = 4\n",
    )
    .unwrap();
    let xdg = dir.path().display().to_string();
    let answer = |run: &crate::support::Run| -> (String, String) {
        run.assert_code(0);
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        (
            v["model"].as_str().unwrap().to_owned(),
            v["region"].as_str().unwrap().to_owned(),
        )
    };
    let args = ["chat", "--simulate", "--json", "Hi"];
    let file = llmm_with_env(&args, "", &[("XDG_CONFIG_HOME", &xdg)]).await;
    assert_eq!(
        answer(&file),
        ("amazon.nova-lite-v1:0".into(), "eu-west-1".into())
    );
    let env = llmm_with_env(
        &args,
        "",
        &[
            ("XDG_CONFIG_HOME", &xdg),
            ("LLMM_MODELS", "Claude Haiku 4.5"),
            ("LLMM_REGIONS", "us-west-2, us-east-1"),
        ],
    )
    .await;
    assert_eq!(
        answer(&env),
        (
            "anthropic.claude-haiku-4-5-20251001-v1:0".into(),
            "us-west-2".into()
        )
    );
    let flags = llmm_with_env(
        &[
            "chat",
            "--simulate",
            "--json",
            "-m",
            "Claude 3 Haiku",
            "-r",
            "us-east-1",
            "Hi",
        ],
        "",
        &[
            ("XDG_CONFIG_HOME", &xdg),
            ("LLMM_MODELS", "Claude Haiku 4.5"),
        ],
    )
    .await;
    assert_eq!(
        answer(&flags),
        (
            "anthropic.claude-3-haiku-20240307-v1:0".into(),
            "us-east-1".into()
        )
    );
    // LLMM_CONFIG names the file; a broken one is a usage error naming it.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "models = \"not a list\"\n").unwrap();
    let broken = broken.display().to_string();
    let run = llmm_with_env(&args, "", &[("LLMM_CONFIG", &broken)]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("invalid config file"), "{}", run.stderr);
    assert!(run.stderr.contains(&broken), "{}", run.stderr);
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

#[tokio::test]
async fn a_corrupt_image_exits_2() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let png = fixture("media/bad-truncated.png");
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "chat",
        "--image",
        &png,
        "What is this?",
    ])
    .await;
    run.assert_code(2);
    assert!(run.stderr.contains("bad-truncated.png"), "{}", run.stderr);
    assert_eq!(sim.stats().requests, 0);
}

#[tokio::test]
async fn falls_back_to_the_next_model() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::AccessDeniedException))
            .model("anthropic.claude-3-haiku-20240307-v1:0"),
    );
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        "Claude 3 Haiku",
        "-m",
        "Nova Lite",
        "-r",
        "us-east-1",
        "chat",
        "--json",
        "Hi",
    ])
    .await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["model"], "amazon.nova-lite-v1:0");
    assert_eq!(value["attempts"][0]["outcome"], "target_unavailable");
}

#[tokio::test]
async fn uses_a_named_profile() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    std::fs::write(&config, "[profile llmm-test]\nregion = us-east-1\n").unwrap();
    std::fs::write(
        &credentials,
        "[llmm-test]\naws_access_key_id = AKIDPROFILETEST\naws_secret_access_key = profile-test-secret\n",
    )
    .unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_llmm"));
    command
        .args([
            "--endpoint-url",
            &url,
            "--profile",
            "llmm-test",
            "chat",
            "Hi",
        ])
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null());
    let output = command.output().await.unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(sim.stats().requests, 1);
}

#[tokio::test]
async fn stream_recovers_mid_answer_on_the_next_region() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::StreamException {
            after_events: 4,
            exception: StreamExceptionKind::ModelStreamErrorException,
            message: None,
            original_status_code: Some(500),
        })
        .region("us-east-1")
        .operations([Operation::ConverseStream]),
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
        "--stream",
        "Tell me a story.",
    ])
    .await;
    run.assert_code(0);
    assert!(!run.stdout.trim().is_empty());
    assert!(
        run.stderr.contains("continuing on the next target"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("in us-west-2"), "{}", run.stderr);
    assert_eq!(sim.stats().requests, 2);
}

/// The advice every credentials failure prints.
const CREDENTIALS_ADVICE: &str = "aws configure";

/// Asserts the output of a call that credentials ended: exit code 4 (credentials), one attempt,
/// the advice exactly once, no SDK debug output.
#[track_caller]
fn assert_one_credentials_attempt(run: &crate::support::Run) {
    run.assert_code(4);
    let err = &run.stderr;
    assert_eq!(err.matches(CREDENTIALS_ADVICE).count(), 1, "{err}");
    assert!(err.contains("--simulate"), "{err}");
    assert!(err.contains("1 attempt(s)"), "{err}");
    assert!(err.contains("attempt 1:"), "{err}");
    assert!(!err.contains("attempt 2:"), "{err}");
    assert!(!err.contains("DispatchFailure"), "{err}");
    assert!(!err.contains("{ "), "no debug output: {err}");
    assert!(err.lines().count() <= 3, "a short message: {err}");
}

#[tokio::test]
async fn missing_credentials_end_after_one_attempt_with_what_to_do() {
    // The default credential chain, as for real AWS; AWS_ENDPOINT_URL keeps any request local.
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let run = llmm_without_credentials(
        &["-m", "Claude 3 Haiku", "-m", "Nova Lite", "chat", "hi"],
        &url,
    )
    .await;
    assert_one_credentials_attempt(&run);
    assert!(err_names_missing_credentials(&run.stderr), "{}", run.stderr);
    assert_eq!(
        sim.stats().requests,
        0,
        "nothing can be signed, so nothing is sent"
    );
}

fn err_names_missing_credentials(stderr: &str) -> bool {
    stderr.to_ascii_lowercase().contains("credentials")
}

#[tokio::test]
async fn rejected_credentials_end_after_one_request() {
    let scenario = Scenario::from_json_str(
        r#"{"faults":[{"fault":{"kind":"error","error":"UnrecognizedClientException"}}]}"#,
    )
    .unwrap();
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-m",
        "Claude 3 Haiku",
        "-m",
        "Nova Lite",
        "-r",
        "us-east-1",
        "-r",
        "us-west-2",
        "chat",
        "hi",
    ])
    .await;
    assert_one_credentials_attempt(&run);
    assert!(
        run.stderr.contains("UnrecognizedClientException"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sim.stats().requests,
        1,
        "credentials are the same for every target"
    );
}

#[tokio::test]
async fn rejected_credentials_exit_4_when_streaming_too() {
    let scenario = Scenario::from_json_str(
        r#"{"faults":[{"fault":{"kind":"error","error":"UnrecognizedClientException"}}]}"#,
    )
    .unwrap();
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    let run = llmm(&["--endpoint-url", &url, "chat", "--stream", "hi"]).await;
    run.assert_code(4);
    assert!(
        run.stderr.contains("UnrecognizedClientException"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_failed_chat_prints_its_last_error_once() {
    let scenario = Scenario::default()
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).region("us-east-1"),
        )
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::AccessDeniedException))
                .region("us-west-2"),
        );
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    for stream in [false, true] {
        let mut args = vec![
            "--endpoint-url",
            url.as_str(),
            "-r",
            "us-east-1",
            "-r",
            "us-west-2",
            "--max-attempts",
            "2",
            "chat",
            "hi",
        ];
        if stream {
            args.push("--stream");
        }
        let run = llmm(&args).await;
        run.assert_code(3);
        let err = &run.stderr;
        // The last error (us-west-2's), once, at the end of the error line.
        assert_eq!(err.matches("AccessDeniedException").count(), 1, "{err}");
        let last = err.lines().last().unwrap();
        assert!(last.starts_with("error: "), "{err}");
        assert!(
            last.contains(": AccessDeniedException (HTTP 403): "),
            "{err}"
        );
        // The earlier attempt is listed with its error.
        assert_eq!(err.matches("ThrottlingException").count(), 1, "{err}");
        assert!(err.contains("attempt 1: "), "{err}");
        assert!(err.contains("attempt 2: "), "{err}");
        assert!(!err.contains("last error"), "{err}");
    }
}
