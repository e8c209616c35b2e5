//! Shared setup: one moto server per test binary, one simulator and one bucket per test.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bedrock_batch::{BatchConfig, BatchEngine, BatchRequest, Limits, PollConfig, s3_client};
use bedrock_retry::{Sleep, Sleeping, TokioSleep};
use bedrock_sim::{Scenario, SimHandle, Simulator};

pub(crate) const HAIKU3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/batch";

/// The moto endpoint: `MOTO_ENDPOINT`, or a server started once with `.ci/moto.sh` (stopped
/// when this test process exits). Fails with a clear message when neither is possible.
pub(crate) fn moto_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(url) = std::env::var("MOTO_ENDPOINT")
                && !url.is_empty()
            {
                return url;
            }
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/moto.sh");
            let python = Command::new("python3").arg("--version").output();
            if !python.is_ok_and(|o| o.status.success()) {
                panic!(
                    "these tests need an S3-compatible server: set MOTO_ENDPOINT to a running \
                     moto server, or install python3 so that .ci/moto.sh can start one"
                );
            }
            let out = Command::new("bash")
                .arg(&script)
                .env("MOTO_PARENT_PID", std::process::id().to_string())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(
                out.status.success(),
                ".ci/moto.sh failed (set MOTO_ENDPOINT to a running moto server instead):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .clone()
}

/// A sleeper that records every requested wait and waits only 10 ms of real time.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordingSleep {
    pub(crate) waits: Arc<Mutex<Vec<Duration>>>,
}

impl Sleep for RecordingSleep {
    fn sleep(&self, duration: Duration) -> Sleeping {
        self.waits.lock().unwrap().push(duration);
        TokioSleep::new().sleep(Duration::from_millis(10))
    }
}

/// Everything one test needs.
pub(crate) struct Env {
    pub(crate) sim: SimHandle,
    pub(crate) sdk: aws_config::SdkConfig,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) sleep: RecordingSleep,
}

impl Env {
    pub(crate) async fn start(scenario: Scenario) -> Env {
        static N: AtomicU64 = AtomicU64::new(0);
        let moto = moto_endpoint();
        let scenario = Scenario {
            s3_endpoint: Some(moto.clone()),
            ..scenario
        };
        let sim = Simulator::start(scenario).await.unwrap();
        let sdk = sim.sdk_config("us-east-1").await;
        let s3 = s3_client(&sdk, Some(&moto));
        let bucket = format!(
            "batch-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        Env {
            sim,
            sdk,
            s3,
            bucket,
            dir: tempfile::tempdir().unwrap(),
            sleep: RecordingSleep::default(),
        }
    }

    pub(crate) fn config(&self, limits: Limits) -> BatchConfig {
        BatchConfig {
            limits,
            poll: PollConfig {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(80),
            },
            ..BatchConfig::new(&self.bucket, ROLE, self.dir.path().join("state.json"))
        }
    }

    pub(crate) fn engine(&self, config: BatchConfig) -> BatchEngine {
        BatchEngine::new(&self.sdk, self.s3.clone(), config)
            .unwrap()
            .with_sleep(Arc::new(self.sleep.clone()))
    }

    pub(crate) fn creates(&self) -> u64 {
        self.sim
            .stats()
            .by_operation
            .get("create_model_invocation_job")
            .copied()
            .unwrap_or(0)
    }
}

pub(crate) fn limits(min: usize, max: usize) -> Limits {
    Limits {
        min_records_per_job: min,
        max_records_per_job: max,
        ..Limits::default()
    }
}

pub(crate) fn requests(n: usize) -> Vec<BatchRequest> {
    (0..n)
        .map(|i| free_request(i).on(HAIKU3, "us-east-1"))
        .collect()
}

/// Request `q<i>` without a pinned model or region.
pub(crate) fn free_request(i: usize) -> BatchRequest {
    BatchRequest::new(
        format!("q{i}"),
        serde_json::json!({
            "messages": [{"role": "user", "content": [{"text": format!("question {i}")}]}],
            "inferenceConfig": {"maxTokens": 200}
        }),
    )
}
