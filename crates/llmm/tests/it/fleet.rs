//! Fleet mode (`--redis-url`): several `llmm batch` processes share one simulator's request
//! quota through a real Redis, and a process killed mid-run loses nothing and blocks nobody.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use bedrock_sim::{LatencyModel, Scenario, SimHandle, TokenQuota};

use crate::support::{parse_lines, root, sim};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The simulator's quota: requests per one-second window.
const QUOTA: u64 = 20;
const PROCESSES: usize = 4;
const PER_PROCESS: usize = 50;

/// `REDIS_URL`, or a throwaway server started once with `.ci/redis.sh` (stopped when this test
/// process exits). Fails with a clear message when neither is possible.
fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("REDIS_URL")
            && !url.is_empty()
        {
            return url;
        }
        let script = root().join(".ci/redis.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .env("REDIS_PARENT_PID", std::process::id().to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "the fleet tests need Redis: set REDIS_URL to a running server, or install \
             redis-server (Debian: apt-get install -y redis-server) so that .ci/redis.sh can \
             start one:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
    .clone()
}

/// A simulator allowing `QUOTA` requests per one-second window.
async fn quota_sim() -> SimHandle {
    sim(Scenario::default()
        .with_latency(LatencyModel::new(20, 0.0))
        .with_quota(TokenQuota {
            region: None,
            model: None,
            tokens_per_minute: 100_000_000,
            requests_per_minute: Some(QUOTA),
        })
        .with_quota_window(Duration::from_secs(1)))
    .await
}

/// Writes one input file per process (ids unique across them).
fn inputs(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    (0..PROCESSES)
        .map(|p| {
            let input = dir.join(format!("in{p}.jsonl"));
            let lines: String = (0..PER_PROCESS)
                .map(|i| {
                    format!(
                        "{{\"id\":\"p{p}-{i}\",\"prompt\":\"Question {i}\",\"max_tokens\":20}}\n"
                    )
                })
                .collect();
            std::fs::write(&input, lines).unwrap();
            (input, dir.join(format!("out{p}.jsonl")))
        })
        .collect()
}

/// Starts one `llmm batch` process of the fleet named `key`.
fn start(sim: &SimHandle, key: &str, input: &Path, output: &Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_llmm"))
        .args([
            "--endpoint-url",
            &sim.endpoint_url(),
            "-m",
            HAIKU,
            "-r",
            "us-east-1",
            "--quota-rpm",
            &QUOTA.to_string(),
            "--quota-window-ms",
            "1000",
            "--redis-url",
            &redis_url(),
            "--fleet-key",
            key,
            "--timeout",
            "60",
            "batch",
        ])
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(["-q", "--concurrency", "16"])
        .current_dir(root())
        .env_remove("RUST_LOG")
        .env_remove("LLMM_REDIS_URL")
        .env(
            "XDG_CONFIG_HOME",
            root().join("target/llmm-tests-no-config"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("llmm starts")
}

/// Waits for a process and asserts it succeeded.
async fn finish(child: tokio::process::Child) {
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Throttled attempts and all Converse attempts the simulator saw.
fn throttled_share(sim: &SimHandle) -> (u64, u64) {
    let stats = sim.stats();
    let throttled = stats
        .by_outcome
        .get("ThrottlingException")
        .copied()
        .unwrap_or(0);
    let attempts = stats.by_operation.get("converse").copied().unwrap_or(0);
    (throttled, attempts)
}

/// Asserts that every request of every input has exactly one result line, and that it answered.
fn assert_complete(files: &[(PathBuf, PathBuf)]) {
    for (p, (_, output)) in files.iter().enumerate() {
        let lines = parse_lines(&std::fs::read_to_string(output).unwrap());
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for line in &lines {
            assert_eq!(line["ok"], true, "{line}");
            *by_id
                .entry(line["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        for i in 0..PER_PROCESS {
            assert_eq!(
                by_id.get(&format!("p{p}-{i}")),
                Some(&1),
                "p{p}-{i} in {output:?}"
            );
        }
        assert_eq!(lines.len(), PER_PROCESS);
    }
}

fn fleet_key(name: &str) -> String {
    format!("llmm-it-{name}-{}", std::process::id())
}

#[tokio::test]
async fn four_processes_share_one_quota_through_redis() {
    let sim = quota_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let key = fleet_key("four");
    let children: Vec<_> = files
        .iter()
        .map(|(input, output)| start(&sim, &key, input, output))
        .collect();
    for child in children {
        finish(child).await;
    }
    assert_complete(&files);
    let (throttled, attempts) = throttled_share(&sim);
    assert!(
        throttled * 50 < attempts,
        "{throttled} of {attempts} attempts throttled (at most 2%)"
    );
}

#[tokio::test]
async fn a_process_killed_mid_run_loses_nothing_and_blocks_nobody() {
    let sim = quota_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let key = fleet_key("kill");
    let mut children: Vec<_> = files
        .iter()
        .map(|(input, output)| start(&sim, &key, input, output))
        .collect();
    // About a quarter of the batch has been answered: kill one process (SIGKILL).
    #[allow(clippy::disallowed_methods, reason = "the processes run in real time")]
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut killed = children.remove(0);
    killed.start_kill().unwrap();
    let status = killed.wait().await.unwrap();
    assert!(!status.success());
    // The other three finish, at the fleet's pace, not blocked by what the dead one held.
    for child in children {
        finish(child).await;
    }
    let (input, output) = &files[0];
    let done = std::fs::read_to_string(output).unwrap_or_default();
    assert!(
        parse_lines(&done).len() < PER_PROCESS,
        "the killed process had not finished"
    );
    // Its input run again with its output resumes where it stopped.
    finish(start(&sim, &key, input, output)).await;
    assert_complete(&files);
    let (throttled, attempts) = throttled_share(&sim);
    assert!(
        throttled * 50 < attempts,
        "{throttled} of {attempts} attempts throttled (at most 2%)"
    );
}

#[tokio::test]
async fn an_unreachable_redis_stops_the_run_and_its_password_is_never_shown() {
    // Nothing listens on port 1.
    let run = crate::support::llmm(&[
        "--simulate",
        "--redis-url",
        "redis://:s3cret@127.0.0.1:1",
        "-v",
        "chat",
        "hi",
    ])
    .await;
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("redis://:***@127.0.0.1:1"), "{all}");
    assert!(!all.contains("s3cret"), "{all}");
}
