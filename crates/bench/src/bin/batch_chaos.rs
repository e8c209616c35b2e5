//! `cargo run --release -p bench --bin batch_chaos`: the batch-job engine under chaos, with an
//! output file that proves no request is lost or written twice.
//!
//! Each run starts a simulator whose jobs fail or expire at random (by creation number), whose
//! records are throttled at random inside the jobs, and whose S3 traffic (the engine's and the
//! job runner's) goes through a proxy that answers a share of requests with `503 SlowDown` or
//! cuts the connection. The engine runs a batch and writes each result to an output file the way
//! `llmm batch` does; the process is "killed" at random points (the run is dropped mid-flight),
//! sometimes with the output's or the ledger's last line torn (inside a multi-byte character)
//! or the state file lost, and the run is resumed over the requests missing from the output,
//! until one completes. Then every request must have exactly one line: none lost, none
//! duplicated. Needs an S3-compatible server: `MOTO_ENDPOINT`, or `.ci/moto.sh` is started.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line report: the table on stdout, resumptions on stderr"
)]

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bedrock_batch::{
    BatchConfig, BatchEngine, BatchRequest, Limits, PollConfig, RecordResult, Target, s3_client,
};
use bedrock_sim::{
    BedrockErrorKind, Fault, FaultRule, LatencyModel, Operation, Scenario, Simulator,
};
use clap::Parser;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const ROLE: &str = "arn:aws:iam::123456789012:role/batch";

/// Options.
#[derive(Debug, Parser)]
#[command(about = "The batch-job engine under job failures, expiry, S3 errors and kills")]
struct Args {
    /// Runs (each with its own seed).
    #[arg(long, default_value_t = 20)]
    runs: u64,
    /// Requests per run.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Share of S3 requests answered with an error or a cut connection.
    #[arg(long, default_value_t = 0.08)]
    s3_fault_share: f64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated time per record, so that kills land inside running jobs.
    #[arg(long, default_value_t = 5)]
    record_latency_ms: u64,
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What one run saw.
#[derive(Debug, Default)]
struct Report {
    attempts: u64,
    kills: u64,
    engine_errors: u64,
    torn_outputs: u64,
    torn_ledgers: u64,
    lost_states: u64,
    ok: u64,
    failed: HashMap<String, u64>,
    lost: u64,
    duplicated: u64,
    jobs_created: u64,
    s3_faults: u64,
}

fn moto_endpoint() -> Result<String, String> {
    if let Ok(url) = std::env::var("MOTO_ENDPOINT")
        && !url.is_empty()
    {
        return Ok(url);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/moto.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("MOTO_PARENT_PID", std::process::id().to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            ".ci/moto.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A TCP proxy to `upstream` that answers a share of connections (the local S3 servers close
/// each connection after one answer, so this is per request) with `503 SlowDown` or a cut.
async fn start_proxy(
    upstream: String,
    share: f64,
    seed: u64,
    faults: Arc<AtomicU64>,
) -> Result<String, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("proxy: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("proxy: {e}"))?;
    let host = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    tokio::spawn(async move {
        let mut rng = Rng(seed | 1);
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let fault = rng.chance(share);
            let cut = rng.chance(0.5);
            let host = host.clone();
            let faults = Arc::clone(&faults);
            tokio::spawn(async move {
                if fault {
                    faults.fetch_add(1, Ordering::Relaxed);
                    // Read the request head, then fail it.
                    let mut buf = vec![0u8; 65536];
                    let _ = client.read(&mut buf).await;
                    if !cut {
                        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
                        let _ = client
                            .write_all(
                                format!(
                                    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                    body.len()
                                )
                                .as_bytes(),
                            )
                            .await;
                    }
                    let _ = client.shutdown().await;
                    return;
                }
                if let Ok(mut server) = TcpStream::connect(&host).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    Ok(format!("http://{addr}"))
}

/// Ids with a complete line in the output, and whether the file ends mid-line.
fn done_ids(path: &Path) -> (HashMap<String, u64>, bool) {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let mut ids = HashMap::new();
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(id) = v.get("id").and_then(|i| i.as_str())
        {
            *ids.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    (ids, !bytes.is_empty() && !bytes.ends_with(b"\n"))
}

/// Cuts `n` bytes off the end of `path` and sometimes adds the first byte of a two-byte
/// character, as a write killed half-way leaves it.
fn tear(path: &Path, rng: &mut Rng) -> bool {
    let Ok(mut bytes) = std::fs::read(path) else {
        return false;
    };
    if bytes.is_empty() {
        return false;
    }
    let cut = 1 + rng.below(60) as usize;
    bytes.truncate(bytes.len().saturating_sub(cut));
    if rng.chance(0.5) {
        bytes.extend_from_slice(b"{\"id\":\"torn\",\"text\":\"caf");
        bytes.push("é".as_bytes()[0]);
    }
    std::fs::write(path, bytes).is_ok()
}

fn request(i: usize) -> BatchRequest {
    BatchRequest::new(
        format!("q{i}"),
        serde_json::json!({
            "messages": [{"role": "user", "content": [{"text": format!("chaos question {i}")}]}],
            "inferenceConfig": {"maxTokens": 40}
        }),
    )
}

#[allow(
    clippy::disallowed_methods,
    reason = "the kill is a wall-clock deadline on purpose: it lands wherever the run is"
)]
async fn one_run(args: &Args, seed: u64, moto: &str) -> Result<Report, String> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut report = Report::default();
    let faults = Arc::new(AtomicU64::new(0));
    let proxy = start_proxy(
        moto.to_owned(),
        args.s3_fault_share,
        rng.next(),
        Arc::clone(&faults),
    )
    .await?;
    let failed_jobs: Vec<u64> = (1..=40).filter(|_| rng.chance(0.15)).collect();
    let expired_jobs: Vec<u64> = (1..=40).filter(|_| rng.chance(0.15)).collect();
    let scenario = Scenario {
        s3_endpoint: Some(proxy.clone()),
        failed_jobs,
        expired_jobs,
        request_log_capacity: Some(64),
        ..Scenario::default()
    }
    .with_seed(seed)
    .with_latency(LatencyModel::new(args.record_latency_ms, 0.0))
    .with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
            .operations([Operation::Converse])
            .probability(0.03),
    );
    let sim = Simulator::start(scenario)
        .await
        .map_err(|e| e.to_string())?;
    let sdk = sim.sdk_config("us-east-1").await;
    let s3 = s3_client(&sdk, Some(&proxy));
    let direct = s3_client(&sdk, Some(moto));
    let bucket = format!("chaos-{}-{seed}", std::process::id());
    direct
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| format!("create bucket: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = dir.path().join("out.jsonl");
    let config = BatchConfig {
        limits: Limits {
            min_records_per_job: 10,
            max_records_per_job: 60,
            ..Limits::default()
        },
        poll: PollConfig {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(40),
        },
        targets: vec![
            Target::new(MODEL, "us-east-1"),
            Target::new(MODEL, "us-west-2"),
        ],
        max_quota_wait: Duration::from_secs(5),
        ..BatchConfig::new(&bucket, ROLE, dir.path().join("state.json"))
    };
    let engine = BatchEngine::new(&sdk, s3, config.clone()).map_err(|e| e.to_string())?;
    let all: Vec<BatchRequest> = (0..args.requests).map(request).collect();
    loop {
        report.attempts += 1;
        if report.attempts > 60 {
            return Err(format!("seed {seed}: no run completed in 60 attempts"));
        }
        let (done, needs_newline) = done_ids(&out);
        let todo: Vec<BatchRequest> = all
            .iter()
            .filter(|r| !done.contains_key(&r.id))
            .cloned()
            .collect();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out)
            .map_err(|e| e.to_string())?;
        if needs_newline {
            file.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        let sink = |r: RecordResult| {
            let line = match &r.outcome {
                Ok(_) => serde_json::json!({"id": r.id, "ok": true}),
                Err(e) => serde_json::json!({"id": r.id, "ok": false, "kind": e.kind.as_str()}),
            };
            writeln!(file, "{line}").map_err(|e| bedrock_batch::Error::Config {
                message: e.to_string(),
            })
        };
        let kill = report.attempts <= 8 && rng.chance(0.7);
        let limit = Duration::from_millis(if kill { 5 + rng.below(400) } else { 120_000 });
        let ran =
            tokio::time::timeout(limit, engine.run_with(|| Ok(todo.iter().cloned()), sink)).await;
        match ran {
            Ok(Ok(())) => break,
            Ok(Err(e)) => {
                report.engine_errors += 1;
                if report.engine_errors <= 3 {
                    eprintln!("  seed {seed}: engine stopped ({e}); resuming");
                }
            }
            Err(_) => {
                report.kills += 1;
                if rng.chance(0.4) && tear(&out, &mut rng) {
                    report.torn_outputs += 1;
                }
                if rng.chance(0.3) && tear(&config.ledger_path, &mut rng) {
                    report.torn_ledgers += 1;
                }
                if rng.chance(0.15) && std::fs::remove_file(&config.state_path).is_ok() {
                    report.lost_states += 1;
                }
            }
        }
    }
    let (counts, _) = done_ids(&out);
    let text = String::from_utf8_lossy(&std::fs::read(&out).unwrap_or_default()).into_owned();
    let wanted: HashSet<String> = all.iter().map(|r| r.id.clone()).collect();
    for r in &all {
        match counts.get(&r.id).copied().unwrap_or(0) {
            0 => report.lost += 1,
            1 => {}
            _ => report.duplicated += 1,
        }
    }
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && v["id"].as_str().is_some_and(|id| wanted.contains(id))
        {
            if v["ok"] == true {
                report.ok += 1;
            } else {
                *report
                    .failed
                    .entry(v["kind"].as_str().unwrap_or("?").to_owned())
                    .or_insert(0) += 1;
            }
        }
    }
    report.jobs_created = sim
        .stats()
        .by_operation
        .get("create_model_invocation_job")
        .copied()
        .unwrap_or(0);
    report.s3_faults = faults.load(Ordering::Relaxed);
    sim.shutdown().await;
    Ok(report)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("batch_chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let moto = match moto_endpoint() {
            Ok(m) => m,
            Err(e) => {
                eprintln!("batch_chaos: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut total = Report::default();
        println!(
            "| seed | attempts | kills | engine errors | torn output / ledger | lost state | S3 faults | jobs created | ok | failed | lost | duplicated |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for seed in args.seed..args.seed + args.runs {
            let r = match one_run(&args, seed, &moto).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("batch_chaos: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let failed: u64 = r.failed.values().sum();
            let mut kinds: Vec<String> = r.failed.iter().map(|(k, n)| format!("{k} {n}")).collect();
            kinds.sort();
            println!(
                "| {seed} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {failed} ({}) | {} | {} |",
                r.attempts,
                r.kills,
                r.engine_errors,
                r.torn_outputs,
                r.torn_ledgers,
                r.lost_states,
                r.s3_faults,
                r.jobs_created,
                r.ok,
                kinds.join(", "),
                r.lost,
                r.duplicated
            );
            total.attempts += r.attempts;
            total.kills += r.kills;
            total.engine_errors += r.engine_errors;
            total.torn_outputs += r.torn_outputs;
            total.torn_ledgers += r.torn_ledgers;
            total.lost_states += r.lost_states;
            total.s3_faults += r.s3_faults;
            total.jobs_created += r.jobs_created;
            total.ok += r.ok;
            total.lost += r.lost;
            total.duplicated += r.duplicated;
            for (k, n) in r.failed {
                *total.failed.entry(k).or_insert(0) += n;
            }
        }
        let failed: u64 = total.failed.values().sum();
        println!(
            "\n{} runs × {} requests: {} attempts, {} kills, {} engine errors resumed, {} torn outputs, {} torn ledgers, {} lost state files, {} S3 faults, {} jobs created; {} ok, {failed} typed failures {:?}; lost {}, duplicated {}",
            args.runs,
            args.requests,
            total.attempts,
            total.kills,
            total.engine_errors,
            total.torn_outputs,
            total.torn_ledgers,
            total.lost_states,
            total.s3_faults,
            total.jobs_created,
            total.ok,
            total.failed,
            total.lost,
            total.duplicated
        );
        if total.lost == 0 && total.duplicated == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
