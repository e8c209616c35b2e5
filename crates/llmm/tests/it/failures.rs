//! Failures that read well in `chat` and `batch`: an AWS profile that is not defined (exit code
//! 4) and an endpoint nothing answers at (exit code 5), each in a few lines saying what happened
//! and what to do, without the SDK's debug output.

use bedrock_sim::Scenario;

use crate::support::{Run, llmm, llmm_with_only_env, llmm_without_credentials, sim};

/// A port on 127.0.0.1 that nothing listens on: connections are refused at once.
fn closed_port_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// A batch input of two requests, in a file that lives as long as the returned directory.
fn batch_input() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(
        &path,
        "{\"id\":\"a\",\"prompt\":\"Hi\"}\n{\"id\":\"b\",\"prompt\":\"Hello\"}\n",
    )
    .unwrap();
    let path = path.display().to_string();
    (dir, path)
}

/// Asserts a short failure: `code`, an `error:` line containing `what`, a `to fix:` line
/// containing `fix`, and no SDK debug output.
#[track_caller]
fn assert_reads_well(run: &Run, code: i32, what: &str, fix: &str) {
    run.assert_code(code);
    let err = &run.stderr;
    let error = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(error.contains(what), "{what}: {err}");
    let advice = err
        .lines()
        .find(|l| l.trim_start().starts_with("to fix: "))
        .unwrap_or_else(|| panic!("no advice: {err}"));
    assert!(advice.contains(fix), "{fix}: {err}");
    assert!(!err.contains("DispatchFailure"), "{err}");
    assert!(!err.contains("{ "), "no debug output: {err}");
    assert!(!err.contains("attempt 1:"), "no attempt list: {err}");
}

#[tokio::test]
async fn a_profile_that_is_not_defined_exits_4_before_anything_is_sent() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let (_dir, input) = batch_input();
    for args in [
        &["--profile", "nope", "chat", "hi"][..],
        &["chat", "--profile", "nope", "--stream", "hi"],
        &["--profile", "nope", "batch", &input],
        &["--endpoint-url", &url, "--profile", "nope", "chat", "hi"],
    ] {
        // AWS_ENDPOINT_URL keeps any request on the simulator.
        let run = llmm_without_credentials(args, &url).await;
        assert_reads_well(&run, 4, "AWS profile \"nope\"", "aws configure");
        assert!(run.stderr.contains("--simulate"), "{}", run.stderr);
        assert!(run.stderr.lines().count() <= 3, "{}", run.stderr);
    }
    // From the environment, as the AWS CLI reads it.
    let run = llmm_with_only_env(&["chat", "hi"], &url, &[("AWS_PROFILE", "nope")]).await;
    assert_reads_well(
        &run,
        4,
        "AWS profile \"nope\" (AWS_PROFILE)",
        "aws configure",
    );
    assert_eq!(sim.stats().requests, 0, "nothing may be sent");
}

#[tokio::test]
async fn the_profiles_that_exist_are_named() {
    let sim = sim(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile work]\nregion = eu-west-1\n[default]\nregion = us-east-1\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let run = llmm_with_only_env(
        &["--profile", "wrok", "chat", "hi"],
        &sim.endpoint_url(),
        &[("AWS_CONFIG_FILE", &config)],
    )
    .await;
    assert_reads_well(&run, 4, "profiles there: default, work", "aws configure");
    assert!(run.stderr.contains(&config), "{}", run.stderr);
}

#[tokio::test]
async fn an_endpoint_that_refuses_connections_exits_5_at_once() {
    let url = closed_port_url();
    let (_dir, input) = batch_input();
    for args in [
        &["--endpoint-url", &url, "chat", "hi"][..],
        &["chat", "--stream", "--endpoint-url", &url, "hi"],
        &["--endpoint-url", &url, "batch", &input],
    ] {
        let run = llmm(args).await;
        assert_reads_well(
            &run,
            5,
            &format!("cannot connect to {url} (connection refused)"),
            "llmm sim",
        );
        assert!(run.stderr.lines().count() <= 3, "{}", run.stderr);
        assert!(run.stdout.is_empty(), "no result lines: {}", run.stdout);
    }
}

#[tokio::test]
async fn a_call_whose_every_attempt_failed_to_connect_exits_5() {
    // The endpoint comes from AWS_ENDPOINT_URL, as for real AWS: the attempts are made, and
    // none connects.
    let url = closed_port_url();
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKIDFAILURESTEST"),
        ("AWS_SECRET_ACCESS_KEY", "failures-secret"),
    ];
    let run = llmm_with_only_env(
        &["-r", "us-east-1", "--max-attempts", "2", "chat", "hi"],
        &url,
        &keys,
    )
    .await;
    assert_reads_well(
        &run,
        5,
        "cannot reach Bedrock: connection refused (2 attempt(s), none connected)",
        "network connection",
    );
    assert!(run.stderr.lines().count() <= 3, "{}", run.stderr);

    let (_dir, input) = batch_input();
    let run = llmm_with_only_env(
        &[
            "-r",
            "us-east-1",
            "--max-attempts",
            "1",
            "batch",
            "-q",
            &input,
        ],
        &url,
        &keys,
    )
    .await;
    run.assert_code(5);
    assert!(
        run.stderr
            .contains("error: no request reached Bedrock: every attempt failed to connect"),
        "{}",
        run.stderr
    );
    assert_eq!(crate::support::parse_lines(&run.stdout).len(), 2);
}
