//! Bad input exits 2 with a clear message, and nothing reaches Bedrock.

use bedrock_sim::Scenario;

use crate::support::{assert_untouched, llmm, sim};

#[tokio::test]
async fn a_missing_image_file() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "chat",
        "--image",
        "no/such/picture.png",
        "Hi",
    ])
    .await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("file not found: no/such/picture.png"),
        "{}",
        run.stderr
    );
    assert_untouched(&sim);
}

#[tokio::test]
async fn an_unknown_model_lists_suggestions() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let run = llmm(&["--endpoint-url", &url, "-m", "Claude 9 Haiku", "chat", "Hi"]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("unknown model \"Claude 9 Haiku\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Did you mean"), "{}", run.stderr);
    assert!(run.stderr.contains("Claude 3 Haiku"), "{}", run.stderr);
    assert_untouched(&sim);
}

#[tokio::test]
async fn a_malformed_batch_line_is_reported_with_its_number_while_the_others_go_on() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\":\"q1\",\"prompt\":\"Hi\"}\n{\"id\":\"q2\",\"prompt\":\"Hello\"}\n{\"id\":\"q3\",\"prompt\":\n",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let input = input.display().to_string();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "batch",
        &input,
        "--output",
        &out.display().to_string(),
    ])
    .await;
    // The bad line is reported with its number and ends as an error line; the others go on.
    run.assert_code(1);
    assert!(
        run.stderr.contains(&format!("{input}:3: invalid JSON")),
        "{}",
        run.stderr
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let bad = lines.iter().find(|l| l["id"] == "line-3").unwrap();
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["error"]["kind"], "invalid_input");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains(":3: invalid JSON")
    );
    assert!(lines.iter().filter(|l| l["ok"] == true).count() == 2);
    assert_eq!(sim.stats().requests, 2, "only the good lines reach Bedrock");
}

#[tokio::test]
async fn a_batch_of_only_bad_lines_exits_2_before_any_call() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"q1\",\"prompt\":\n").unwrap();
    let input = input.display().to_string();
    let run = llmm(&["--endpoint-url", &url, "batch", &input]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!("{input}:1: invalid JSON")),
        "{}",
        run.stderr
    );
    assert_untouched(&sim);
}

#[tokio::test]
async fn a_duplicate_batch_id() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\":\"q1\",\"prompt\":\"Hi\"}\n{\"id\":\"q2\",\"prompt\":\"Hello\"}\n{\"id\":\"q1\",\"prompt\":\"Again\"}\n",
    )
    .unwrap();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "batch",
        &input.display().to_string(),
    ])
    .await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains(":3: duplicate id \"q1\" (first used on line 1)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert_untouched(&sim);
}

#[tokio::test]
async fn a_request_that_breaks_a_limit() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    // Two user turns in a row break Converse's alternation rule.
    std::fs::write(
        &input,
        "{\"id\":\"q1\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]},{\"role\":\"user\",\"content\":[{\"text\":\"b\"}]}]}\n",
    )
    .unwrap();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "batch",
        &input.display().to_string(),
    ])
    .await;
    run.assert_code(2);
    assert!(run.stderr.contains("in.jsonl:1:"), "{}", run.stderr);
    assert_untouched(&sim);
}

#[tokio::test]
async fn impossible_batch_options() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"q1\",\"prompt\":\"Hi\"}\n").unwrap();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "-r",
        "us-east-1",
        "batch",
        &input.display().to_string(),
        "--regions-per-request",
        "2",
    ])
    .await;
    run.assert_code(2);
    assert!(run.stderr.contains("regions per request"), "{}", run.stderr);
    assert_untouched(&sim);
}

#[tokio::test]
async fn clap_usage_errors_and_missing_scenarios_exit_2() {
    let run = llmm(&["chat", "--no-such-flag", "Hi"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);

    let run = llmm(&["--scenario", "no-such-scenario.json", "chat", "Hi"]).await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("scenario file no-such-scenario.json not found"),
        "{}",
        run.stderr
    );

    // `--simulate` takes no value: the old `--simulate FILE` form is a usage error.
    let run = llmm(&["--simulate=fixtures/batch/demo-scenario.json", "chat", "Hi"]).await;
    run.assert_code(2);

    let run = llmm(&[
        "chat",
        "--scenario",
        "fixtures/batch/demo-scenario.json",
        "--endpoint-url",
        "http://127.0.0.1:9",
        "Hi",
    ])
    .await;
    run.assert_code(2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);

    let run = llmm(&[
        "--simulate",
        "--endpoint-url",
        "http://127.0.0.1:9",
        "chat",
        "Hi",
    ])
    .await;
    run.assert_code(2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}

#[tokio::test]
async fn an_empty_prompt() {
    let run = llmm(&["--simulate", "chat", "   "]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("the prompt is empty"), "{}", run.stderr);
}

#[tokio::test]
async fn an_enormous_poll_interval_is_a_usage_error_not_a_panic() {
    for seconds in ["1e20", "1e300", "inf", "NaN", "0", "-1"] {
        let poll = format!("--poll-seconds={seconds}");
        let run = llmm(&[
            "--simulate",
            "batch",
            "fixtures/batch/demo.jsonl",
            "--engine",
            "bedrock-batch",
            "--bucket",
            "b",
            "--role-arn",
            "arn:aws:iam::123456789012:role/r",
            "--s3-endpoint-url",
            "http://127.0.0.1:9",
            &poll,
        ])
        .await;
        run.assert_code(2);
        assert!(
            run.stderr.contains("--poll-seconds"),
            "{seconds}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("panicked"),
            "{seconds}: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn help_states_the_default_attempt_allowance() {
    let run = llmm(&["--help"]).await;
    run.assert_code(0);
    assert!(!run.stdout.contains("[default: 4]"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("every model in every region once, then up to 3 retries"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn help_documents_every_exit_code() {
    let run = llmm(&["--help"]).await;
    run.assert_code(0);
    let out = run.stdout.replace('\n', " ");
    let codes = &out[out.find("Exit codes:").expect("an exit-code section")..];
    for text in [
        "0 success",
        "1 some batch requests failed",
        "2 bad input",
        "3 every attempt failed",
        "4 credentials missing or rejected",
        "5 Bedrock or the endpoint could not be reached",
    ] {
        assert!(codes.contains(text), "{text}: {codes}");
    }
}

#[tokio::test]
async fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = llmm(&["completions", shell]).await;
        run.assert_code(0);
        assert!(run.stdout.contains("llmm"), "{shell}");
        assert!(run.stdout.contains("--simulate"), "{shell}");
        assert!(run.stdout.contains("--scenario"), "{shell}");
    }
    let run = llmm(&["completions", "tcsh"]).await;
    run.assert_code(2);
}

#[tokio::test]
async fn every_command_help_exits_0_and_ends_with_examples() {
    for command in [
        "chat",
        "batch",
        "models",
        "regions",
        "sim",
        "doctor",
        "completions",
    ] {
        let run = llmm(&[command, "--help"]).await;
        run.assert_code(0);
        let examples = run
            .stdout
            .rfind("Examples:")
            .unwrap_or_else(|| panic!("{command}"));
        assert!(
            run.stdout[examples..].contains(&format!("llmm {command}")),
            "{}",
            run.stdout
        );
    }
}
