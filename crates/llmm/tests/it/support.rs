//! Running the binary, and simulators for tests that watch what reaches Bedrock.

use std::path::PathBuf;
use std::process::Stdio;

use bedrock_sim::{Scenario, SimHandle, Simulator};
use tokio::io::AsyncWriteExt as _;

/// The outcome of one run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The workspace root (fixtures live there).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fixture path, as a string.
pub(crate) fn fixture(path: &str) -> String {
    root().join("fixtures").join(path).display().to_string()
}

/// Runs `llmm` with `args`, `stdin` as its input, in the workspace root.
pub(crate) async fn llmm_with_stdin(args: &[&str], stdin: &str) -> Run {
    llmm_with_env(args, stdin, &[]).await
}

/// Runs `llmm` with `args`, `stdin` as its input and the variables `env`, in the workspace root.
/// The developer's own configuration (`~/.config/llmm`, `LLMM_*`) is hidden from it.
pub(crate) async fn llmm_with_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_llmm"));
    command
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .env(
            "XDG_CONFIG_HOME",
            root().join("target/llmm-tests-no-config"),
        );
    for name in [
        "LLMM_CONFIG",
        "LLMM_MODELS",
        "LLMM_REGIONS",
        "LLMM_PROFILE",
        "LLMM_CONCURRENCY",
        "LLMM_OTLP_ENDPOINT",
        "LLMM_RESIDENCY",
        "LLMM_REDIS_URL",
        "LLMM_FLEET_KEY",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let mut child = command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("llmm starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let output = child.wait_with_output().await.expect("llmm runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `llmm` with `args` in an environment without AWS credentials: no AWS variables, no
/// config or credentials files, no instance metadata service. `AWS_ENDPOINT_URL` points at
/// `endpoint` (a local simulator), so that even a request sent with the default credential chain
/// cannot leave 127.0.0.1.
pub(crate) async fn llmm_without_credentials(args: &[&str], endpoint: &str) -> Run {
    llmm_with_only_env(args, endpoint, &[]).await
}

/// Like [`llmm_without_credentials`], with the variables `env` as the only AWS settings.
pub(crate) async fn llmm_with_only_env(args: &[&str], endpoint: &str, env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("a temporary home");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_llmm"))
        .args(args)
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("no-credentials"),
        )
        .env("AWS_ENDPOINT_URL", endpoint)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("llmm runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `llmm` with `args` and an empty stdin.
pub(crate) async fn llmm(args: &[&str]) -> Run {
    llmm_with_stdin(args, "").await
}

/// A simulator in this process, for `--endpoint-url` tests that inspect what reached it.
pub(crate) async fn sim(scenario: Scenario) -> SimHandle {
    Simulator::start(scenario).await.expect("simulator starts")
}

/// Asserts that nothing reached the simulator.
#[track_caller]
pub(crate) fn assert_untouched(sim: &SimHandle) {
    let stats = sim.stats();
    assert_eq!(stats.requests, 0, "no request may reach Bedrock: {stats:?}");
}

/// Parses JSONL text into values.
pub(crate) fn parse_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
        .collect()
}
