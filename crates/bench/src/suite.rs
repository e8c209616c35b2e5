//! `cargo xtask bench`: runs every benchmark of the project and writes `docs/benchmarks.md`.
//!
//! The benchmark examples of the library crates run as separate release processes; each prints
//! its measurements as JSON lines on stdout (one object per measurement: `measure`, `value`,
//! `unit`), which this report reads, and readable lines on stderr.
//! Three measurements need the whole stack and live here instead: the simulator's raw load
//! (hyper's pooled client on keep-alive HTTP/1.1 connections, so the figure is the simulator's
//! and not an SDK's),
//! parallel throughput against concurrency through `ParallelLlmManager` on the simulator, and the
//! chaos fault matrix of [`crate::chaos`].
//! Every figure is reported next to its target, and the plots go to `docs/img/*.svg`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use bedrock_sim::{LatencyModel, Scenario, ScriptedReply, Simulator};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{Auth, ConverseRequest, LlmManager, ParallelLlmManager, RetryConfig};

use crate::DynError;
use crate::chaos::{self, ChaosConfig, MODEL, Mode, REGIONS, Row};
use crate::plot::{self, LineChart, Series};

/// The concurrency levels of the parallel throughput sweep.
const SWEEP: [usize; 5] = [25, 50, 100, 200, 400];
/// Requests per sweep point.
const SWEEP_REQUESTS: usize = 2_000;
/// Simulated latency of every sweep request.
const SWEEP_LATENCY_MS: u64 = 100;

/// The arguments of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "cargo xtask bench",
    bin_name = "cargo xtask bench",
    about = "Run every benchmark and write docs/benchmarks.md with SVG plots in docs/img"
)]
pub struct BenchArgs {
    /// Requests per scenario and mode of the chaos matrix.
    #[arg(long, default_value_t = 10_000, value_parser = crate::at_least_one)]
    pub chaos_requests: usize,
    /// Skip the examples of the library crates (the in-process measurements still run).
    #[arg(long)]
    pub skip_examples: bool,
    /// Where to write the report [default: docs/benchmarks.md]; plots go to `img/` beside it.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Which way a target bounds its figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    AtMost,
    AtLeast,
    Below,
}

/// One measured figure beside its target.
#[derive(Debug, Clone)]
struct Figure {
    area: &'static str,
    measure: String,
    value: f64,
    unit: &'static str,
    bound: Bound,
    target: f64,
    source: String,
}

impl Figure {
    fn met(&self) -> bool {
        match self.bound {
            Bound::AtMost => self.value <= self.target,
            Bound::AtLeast => self.value >= self.target,
            Bound::Below => self.value < self.target,
        }
    }

    fn ratio(&self) -> Option<f64> {
        (self.target != 0.0).then(|| self.value / self.target)
    }

    fn target_text(&self) -> String {
        let op = match self.bound {
            Bound::AtMost => "≤",
            Bound::AtLeast => "≥",
            Bound::Below => "<",
        };
        format!("{op} {} {}", number(self.target), self.unit)
    }
}

fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        let s = format!("{v:.0}");
        // Thousands separators for large counts.
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".to_owned()
    } else {
        format!("{v:.4}")
    }
}

fn fig(
    area: &'static str,
    measure: &str,
    value: Option<f64>,
    unit: &'static str,
    bound: Bound,
    target: f64,
    source: &str,
) -> Option<Figure> {
    Some(Figure {
        area,
        measure: measure.to_owned(),
        value: value?,
        unit,
        bound,
        target,
        source: source.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// The examples' measurements: one JSON object per line on their stdout.

/// One line of an example's stdout.
#[derive(Debug, serde::Deserialize)]
struct Measurement {
    measure: String,
    /// `null` when the example could not measure it (a non-finite number).
    value: Option<f64>,
    unit: String,
}

/// The measurements in an example's stdout, by name; lines that are not measurements are
/// skipped.
fn measurements(out: &str) -> Vec<Measurement> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Measurement>(l.trim()).ok())
        .collect()
}

/// A figure the report takes from an example: the example's measure, and how the report shows
/// it.
struct Spec {
    measure: &'static str,
    area: &'static str,
    description: &'static str,
    unit: &'static str,
    bound: Bound,
    target: f64,
}

/// A benchmark example: how to run it and which of its measurements the report shows.
struct Example {
    package: &'static str,
    name: &'static str,
    figures: &'static [Spec],
}

impl Example {
    /// The example's figures from its stdout, in the order of `figures`; a figure it did not
    /// report, or reported in another unit, is an `Err` naming it.
    fn read(&self, out: &str) -> Vec<Result<Figure, String>> {
        let source = example_command(self.package, self.name);
        let found = measurements(out);
        self.figures
            .iter()
            .map(|spec| {
                let m = found
                    .iter()
                    .find(|m| m.measure == spec.measure)
                    .ok_or_else(|| format!("`{source}` did not report `{}`", spec.measure))?;
                if m.unit != spec.unit {
                    return Err(format!(
                        "`{source}` reported `{}` in {}, not {}",
                        spec.measure, m.unit, spec.unit
                    ));
                }
                let value = m
                    .value
                    .ok_or_else(|| format!("`{source}` could not measure `{}`", spec.measure))?;
                Ok(Figure {
                    area: spec.area,
                    measure: spec.description.to_owned(),
                    value,
                    unit: spec.unit,
                    bound: spec.bound,
                    target: spec.target,
                    source: source.clone(),
                })
            })
            .collect()
    }
}

const EXAMPLES: [Example; 4] = [
    Example {
        package: "bedrock-messages",
        name: "bench_image",
        figures: &[Spec {
            measure: "build_serialise_over_base64",
            area: "messages",
            description: "3 MB image: build + serialise ÷ base64 alone",
            unit: "×",
            bound: Bound::AtMost,
            target: 1.5,
        }],
    },
    Example {
        package: "bedrock-catalog",
        name: "bench_catalog",
        figures: &[
            Spec {
                measure: "load_median",
                area: "catalog",
                description: "load bundled snapshot (median)",
                unit: "ms",
                bound: Bound::AtMost,
                target: 5.0,
            },
            Spec {
                measure: "lookup_friendly_name_median",
                area: "catalog",
                description: "lookup by friendly name (median)",
                unit: "µs",
                bound: Bound::AtMost,
                target: 1.0,
            },
            Spec {
                measure: "resident_per_catalog",
                area: "catalog",
                description: "resident memory per loaded catalog",
                unit: "MB",
                bound: Bound::AtMost,
                target: 2.0,
            },
        ],
    },
    Example {
        package: "bedrock-parallel",
        name: "bench_parallel",
        figures: &[
            Spec {
                measure: "vector_wall_over_ideal",
                area: "parallel",
                description: "engine alone: 2,000 requests at concurrency 200, 100 ms each (wall ÷ 1.0 s)",
                unit: "×",
                bound: Bound::AtMost,
                target: 1.15,
            },
            Spec {
                measure: "streaming_peak_rss",
                area: "parallel",
                description: "engine alone: streaming 100,000 requests, peak RSS",
                unit: "MB",
                bound: Bound::Below,
                target: 200.0,
            },
        ],
    },
    Example {
        package: "llmmanager",
        name: "bench_converse",
        figures: &[
            Spec {
                measure: "converse_overhead_ratio",
                area: "llmmanager",
                description: "converse overhead: LlmManager ÷ bare SDK (median)",
                unit: "×",
                bound: Bound::AtMost,
                target: 1.10,
            },
            Spec {
                measure: "stream_ttft_overhead",
                area: "llmmanager",
                description: "stream time-to-first-token overhead (median)",
                unit: "ms",
                bound: Bound::AtMost,
                target: 1.0,
            },
            Spec {
                measure: "stream_events_rate",
                area: "llmmanager",
                description: "stream events processed end to end",
                unit: "events/s",
                bound: Bound::AtLeast,
                target: 200_000.0,
            },
            Spec {
                measure: "wasted_attempts_after_learning",
                area: "llmmanager",
                description: "wasted attempts per call, one of three regions down, after learning",
                unit: "per call",
                bound: Bound::Below,
                target: 0.05,
            },
        ],
    },
];

/// The decimal number at the start of `s` (thousands separators allowed).
fn leading_number(s: &str) -> Option<f64> {
    let token: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | ','))
        .filter(|c| *c != ',')
        .collect();
    token.trim_end_matches('.').parse().ok()
}

/// `Requests/sec:` and the like in `wrk`'s text output: the number after `key` on the first line
/// containing it.
fn wrk_number(out: &str, key: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.contains(key))?;
    leading_number(line.get(line.find(key)? + key.len()..)?.trim_start())
}

fn example_command(package: &str, name: &str) -> String {
    format!("cargo run --release -p {package} --example {name}")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn workspace_root() -> PathBuf {
    // This crate lives in `crates/bench`.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

/// Examples of `bedrock-sim`, found on disk (its load benchmark, when present).
fn sim_examples(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("crates/bedrock-sim/examples"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension().is_some_and(|x| x == "rs"))
                .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

fn run_example(root: &Path, package: &str, name: &str) -> Result<String, DynError> {
    say(&format!("running {}", example_command(package, name)));
    let out = Command::new(cargo())
        .args(["run", "--release", "-p", package, "--example", name])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{} failed with {}:\n{text}",
            example_command(package, name),
            out.status
        )
        .into())
    }
}

// ---------------------------------------------------------------------------------------------
// The simulator's raw load: hyper's pooled client on keep-alive HTTP/1.1 connections, so the
// figure is the simulator's and not an SDK's.

const SIM_PATH_CONVERSE: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
const SIM_PATH_STREAM: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client that keeps up to `connections` connections open between requests.
fn http_client(connections: usize) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build_http()
}

/// A request the simulator accepts: it reads the region from the SigV4 credential scope and does
/// not check the signature.
fn sim_request(
    addr: SocketAddr,
    path: &str,
    body: &'static str,
) -> Result<Request<Full<Bytes>>, http::Error> {
    Request::post(format!("http://{addr}{path}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/bedrock/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(Full::new(Bytes::from_static(body.as_bytes())))
}

/// Sends one request and returns the status and the whole body.
async fn exchange(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), DynError> {
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Event-stream frames in `body`: each starts with its total length (big-endian u32).
fn count_frames(body: &[u8]) -> usize {
    let mut pos = 0;
    let mut frames = 0;
    while let Some(prelude) = body.get(pos..pos + 4) {
        let len = u32::from_be_bytes([prelude[0], prelude[1], prelude[2], prelude[3]]) as usize;
        if len < 16 || pos + len > body.len() {
            break;
        }
        pos += len;
        frames += 1;
    }
    frames
}

/// Runs `connections` loops of requests to `path` with `body` against `addr` for `duration`;
/// returns (completed exchanges, stream frames, errors, elapsed).
#[allow(
    clippy::disallowed_methods,
    reason = "a load benchmark measures wall time"
)]
async fn load(
    addr: SocketAddr,
    path: &'static str,
    body: &'static str,
    connections: usize,
    duration: Duration,
) -> Result<(u64, u64, u64, Duration), DynError> {
    let client = http_client(connections);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut frames, mut errors) = (0_u64, 0_u64, 0_u64);
            while started.elapsed() < duration {
                let Ok(request) = sim_request(addr, path, body) else {
                    return (ok, frames, errors + 1);
                };
                match exchange(&client, request).await.map_err(|e| e.to_string()) {
                    Ok((200, body)) => {
                        ok += 1;
                        frames += count_frames(&body) as u64;
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (ok, frames, errors)
        }));
    }
    let (mut ok, mut frames, mut errors) = (0, 0, 0);
    for t in tasks {
        let (a, b, c) = t.await?;
        ok += a;
        frames += b;
        errors += c;
    }
    Ok((ok, frames, errors, started.elapsed()))
}

#[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
async fn sim_load() -> Result<(Vec<Figure>, String), DynError> {
    let src = "cargo xtask bench";
    let mut log = String::new();
    let sim = Simulator::start(Scenario::default()).await?;
    let body = r#"{"messages":[{"role":"user","content":[{"text":"Benchmark request: say something short."}]}],"inferenceConfig":{"maxTokens":64}}"#;
    let conns = 32;
    // Warm-up, then the measured run.
    load(
        sim.local_addr(),
        SIM_PATH_CONVERSE,
        body,
        conns,
        Duration::from_millis(300),
    )
    .await?;
    let (ok, _, errors, t) = load(
        sim.local_addr(),
        SIM_PATH_CONVERSE,
        body,
        conns,
        Duration::from_secs(3),
    )
    .await?;
    let rps = ok as f64 / t.as_secs_f64();
    let _ = writeln!(
        log,
        "sim converse: {ok} requests ({errors} errors) over {conns} keep-alive connections in {:.2} s: {rps:.0} req/s",
        t.as_secs_f64()
    );
    sim.shutdown().await;

    let long = "word ".repeat(3_000);
    let sim = Simulator::start(Scenario::default().with_reply(ScriptedReply::text(long))).await?;
    let body = r#"{"messages":[{"role":"user","content":[{"text":"Benchmark request: stream a long answer."}]}]}"#;
    let conns = 8;
    load(
        sim.local_addr(),
        SIM_PATH_STREAM,
        body,
        conns,
        Duration::from_millis(300),
    )
    .await?;
    let (streams, frames, errors, t) = load(
        sim.local_addr(),
        SIM_PATH_STREAM,
        body,
        conns,
        Duration::from_secs(3),
    )
    .await?;
    let eps = frames as f64 / t.as_secs_f64();
    let _ = writeln!(
        log,
        "sim converse-stream: {streams} streams, {frames} events ({errors} errors) over {conns} connections in {:.2} s: {eps:.0} events/s",
        t.as_secs_f64()
    );
    sim.shutdown().await;
    let figures = [
        fig(
            "bedrock-sim",
            "Converse requests served (in-process client, 32 connections)",
            Some(rps),
            "req/s",
            Bound::AtLeast,
            15_000.0,
            src,
        ),
        fig(
            "bedrock-sim",
            "ConverseStream events served (in-process client, 8 connections)",
            Some(eps),
            "events/s",
            Bound::AtLeast,
            200_000.0,
            src,
        ),
    ];
    Ok((figures.into_iter().flatten().collect(), log))
}

/// `Requests/sec:` from wrk's output, and whether it reported non-2xx responses or socket errors.
fn parse_wrk(out: &str) -> Option<(f64, bool)> {
    let rps = wrk_number(out, "Requests/sec:")?;
    let errors = out.contains("Non-2xx") || out.contains("Socket errors");
    Some((rps, errors))
}

/// The release `bedrock-sim` binary, started on an ephemeral port; killed on drop.
struct SimProcess {
    child: std::process::Child,
    url: String,
}

impl SimProcess {
    fn start(binary: &Path, scenario: Option<&Path>) -> Result<Self, DynError> {
        use std::io::BufRead as _;
        let mut cmd = Command::new(binary);
        cmd.args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(s) = scenario {
            cmd.arg("--scenario").arg(s);
        }
        let mut child = cmd.spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufReader::new(out).read_line(&mut line)?;
        }
        let url = line.trim().to_owned();
        if !url.starts_with("http://") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("bedrock-sim printed {url:?} instead of its URL").into());
        }
        Ok(Self { child, url })
    }

    fn addr(&self) -> Result<std::net::SocketAddr, DynError> {
        Ok(self
            .url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()?)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The simulator's load measured as `docs/simulator.md` describes: `wrk` against the release
/// binary. `None` when `wrk` is not installed.
fn wrk_sim_load(
    root: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<Option<(Vec<Figure>, String)>, DynError> {
    if Command::new("wrk").arg("--version").output().is_err() {
        return Ok(None);
    }
    say("building the release simulator for wrk");
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "-p",
            "bedrock-sim",
            "--bin",
            "bedrock-sim",
        ])
        .current_dir(root)
        .status()?;
    if !status.success() {
        return Err("cargo build --release -p bedrock-sim failed".into());
    }
    let binary = target_dir(root).join("release").join("bedrock-sim");
    let script = root.join("crates/bedrock-sim/bench/converse.lua");
    let wrk = |url: &str, path: &str| -> Result<String, DynError> {
        let out = Command::new("wrk")
            .args(["-t1", "-c32", "-d5s", "-s"])
            .arg(&script)
            .arg(url)
            .env("WRK_PATH", path)
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let src = "wrk against the release bedrock-sim";
    let mut log = String::new();

    let sim = SimProcess::start(&binary, None)?;
    let out = wrk(&sim.url, "converse")?;
    drop(sim);
    let _ = writeln!(
        log,
        "$ wrk -t1 -c32 -d5s -s crates/bedrock-sim/bench/converse.lua URL\n{}",
        out.trim_end()
    );
    let converse = parse_wrk(&out);

    let scenario = root.join("fixtures/scenarios/bench-stream.json");
    let sim = SimProcess::start(&binary, Some(&scenario))?;
    let addr = sim.addr()?;
    let frames = rt.block_on(async {
        let body = r#"{"messages":[{"role":"user","content":[{"text":"Benchmark request: stream a long answer."}]}]}"#;
        let (_, reply) = exchange(&http_client(1), sim_request(addr, SIM_PATH_STREAM, body)?).await?;
        Ok::<usize, DynError>(count_frames(&reply))
    })?;
    let out = wrk(&sim.url, "converse-stream")?;
    drop(sim);
    let _ = writeln!(
        log,
        "\n$ WRK_PATH=converse-stream wrk -t1 -c32 -d5s -s crates/bedrock-sim/bench/converse.lua URL   (scenario bench-stream.json, {frames} events per response)\n{}",
        out.trim_end()
    );
    let stream = parse_wrk(&out);
    #[allow(clippy::cast_precision_loss, reason = "a small frame count")]
    let events = stream.map(|(rps, _)| rps * frames as f64);
    let mut figures = Vec::new();
    for (what, value, unit, target, errors) in [
        (
            "Converse requests served (wrk, 32 connections)",
            converse.map(|c| c.0),
            "req/s",
            15_000.0,
            converse.is_some_and(|c| c.1),
        ),
        (
            "ConverseStream events served (wrk, 32 connections)",
            events,
            "events/s",
            200_000.0,
            stream.is_some_and(|c| c.1),
        ),
    ] {
        let measure = if errors {
            format!("{what}; wrk reported errors")
        } else {
            what.to_owned()
        };
        figures.extend(fig(
            "bedrock-sim",
            &measure,
            value,
            unit,
            Bound::AtLeast,
            target,
            src,
        ));
    }
    Ok(Some((figures, log)))
}

// ---------------------------------------------------------------------------------------------
// Parallel throughput against concurrency, through the whole stack.

/// One point of the sweep.
#[derive(Debug, Clone, Copy)]
struct SweepPoint {
    concurrency: usize,
    wall: Duration,
    succeeded: usize,
}

#[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
impl SweepPoint {
    fn ideal(&self) -> Duration {
        let waves = SWEEP_REQUESTS.div_ceil(self.concurrency) as u32;
        Duration::from_millis(SWEEP_LATENCY_MS) * waves
    }
    fn throughput(&self) -> f64 {
        SWEEP_REQUESTS as f64 / self.wall.as_secs_f64()
    }
    fn ideal_throughput(&self) -> f64 {
        SWEEP_REQUESTS as f64 / self.ideal().as_secs_f64()
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a throughput benchmark measures wall time"
)]
async fn parallel_sweep() -> Result<Vec<SweepPoint>, DynError> {
    let sim = Simulator::start(
        Scenario::default().with_latency(LatencyModel::new(SWEEP_LATENCY_MS, 0.0)),
    )
    .await?;
    let manager = LlmManager::builder()
        .model(MODEL)
        .regions(REGIONS)
        .auth(Auth::static_keys("AKIDBENCH", "bench-secret"))
        .endpoint_url(sim.endpoint_url())
        .retry(RetryConfig::standard().with_max_attempts(2))
        .build()
        .await?;
    let request = ConverseRequest::builder()
        .user_text("Throughput test.")
        .max_tokens(16)
        .build()?;
    let batch = |n: usize| -> Vec<BatchRequest<ConverseRequest>> {
        (0..n)
            .map(|i| BatchRequest::new(format!("r{i}"), request.clone()))
            .collect()
    };
    let mut points = Vec::new();
    for &c in &SWEEP {
        let parallel = ParallelLlmManager::new(
            manager.clone(),
            ParallelConfig::default().with_max_concurrency(c),
        )?;
        // Warm the connection pools to this concurrency first.
        parallel.converse_parallel(batch(c)).await?;
        let started = Instant::now();
        let response = parallel.converse_parallel(batch(SWEEP_REQUESTS)).await?;
        let wall = started.elapsed();
        let succeeded = response.successes().count();
        say(&format!(
            "parallel sweep: concurrency {c}: {SWEEP_REQUESTS} requests in {:.3} s, {succeeded} succeeded",
            wall.as_secs_f64()
        ));
        points.push(SweepPoint {
            concurrency: c,
            wall,
            succeeded,
        });
    }
    sim.shutdown().await;
    Ok(points)
}

// ---------------------------------------------------------------------------------------------
// Machine description.

#[derive(Debug, Clone)]
struct Machine {
    cpu: String,
    nproc: usize,
    memory_gib: Option<f64>,
    rustc: String,
    os: String,
}

#[allow(
    clippy::cast_precision_loss,
    reason = "memory sizes are far below 2^52"
)]
fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| leading_number(v.trim()))
        .map(|kib| kib / 1_048_576.0);
    let capture = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    Machine {
        cpu,
        nproc: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        memory_gib,
        rustc: capture("rustc", &["-V"]),
        os: capture("uname", &["-sr"]),
    }
}

// ---------------------------------------------------------------------------------------------
// Report.

struct Report {
    machine: Machine,
    commit: String,
    date: String,
    release: bool,
    figures: Vec<Figure>,
    failures: Vec<String>,
    raw: Vec<(String, String)>,
    sweep: Vec<SweepPoint>,
    chaos: Vec<Row>,
    chaos_config: ChaosConfig,
}

fn chaos_figures(rows: &[Row]) -> Vec<Figure> {
    let total: usize = rows.iter().map(|r| r.requests).sum();
    #[allow(
        clippy::cast_precision_loss,
        reason = "request counts are far below 2^52"
    )]
    let bad = rows.iter().map(|r| r.lost + r.duplicated).sum::<usize>() as f64;
    let ledger = Figure {
        area: "chaos",
        measure: format!("requests lost or duplicated, of {total} across the fault matrix"),
        value: bad,
        unit: "requests",
        bound: Bound::AtMost,
        target: 0.0,
        source: "cargo xtask chaos".to_owned(),
    };
    let whole = rows.iter().filter(|r| r.broken_answers == 0);
    let paid = whole
        .clone()
        .map(Row::paid_per_request)
        .fold(None, |max: Option<f64>, v| {
            Some(max.map_or(v, |m| m.max(v)))
        })
        .map(|value| Figure {
            area: "chaos",
            measure: format!(
                "answers paid for per request, worst of the {} rows where no answer broke mid-way",
                whole.count()
            ),
            value,
            unit: "per request",
            bound: Bound::AtMost,
            target: 1.0,
            source: "cargo xtask chaos".to_owned(),
        });
    std::iter::once(ledger)
        .chain(paid)
        .chain(rows.iter()
        .filter(|r| r.scenario == "region down")
        .map(|r| Figure {
            area: "chaos",
            measure: format!("wasted attempts per call, one of three regions down, after learning ({}, {} requests, concurrency 64)", mode_name(r.mode), r.requests),
            value: r.wasted_after_learning,
            unit: "per call",
            bound: Bound::Below,
            target: 0.05,
            source: "cargo xtask chaos".to_owned(),
        }))
        .collect()
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Converse => "converse",
        Mode::Stream => "stream",
    }
}

fn sweep_figure(points: &[SweepPoint]) -> Option<Figure> {
    let p = points.iter().find(|p| p.concurrency == 200)?;
    Some(Figure {
        area: "parallel",
        measure: "full stack on the simulator: 2,000 requests at concurrency 200, 100 ms each (wall ÷ 1.0 s)".to_owned(),
        value: p.wall.as_secs_f64() / p.ideal().as_secs_f64(),
        unit: "×",
        bound: Bound::AtMost,
        target: 1.15,
        source: "cargo xtask bench".to_owned(),
    })
}

fn throughput_chart(points: &[SweepPoint]) -> LineChart {
    #[allow(clippy::cast_precision_loss, reason = "small concurrency levels")]
    let x = |p: &SweepPoint| p.concurrency as f64;
    LineChart {
        title: format!(
            "ParallelLlmManager throughput, {SWEEP_REQUESTS} requests at {SWEEP_LATENCY_MS} ms each"
        ),
        x_desc: "concurrency".to_owned(),
        y_desc: "requests per second".to_owned(),
        series: vec![
            Series {
                name: "measured".to_owned(),
                points: points.iter().map(|p| (x(p), p.throughput())).collect(),
                markers: true,
            },
            Series {
                name: "ideal (concurrency / latency)".to_owned(),
                points: points
                    .iter()
                    .map(|p| (x(p), p.ideal_throughput()))
                    .collect(),
                markers: false,
            },
        ],
        log_x: false,
    }
}

fn latency_chart(rows: &[Row], mode: Mode) -> LineChart {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.mode == mode).collect();
    // Clip the x axis at the largest p99 so the bulk of every curve stays readable.
    let cap = rows
        .iter()
        .map(|r| r.quantile(0.99))
        .max()
        .unwrap_or_default();
    let cap_ms = cap.as_secs_f64() * 1e3;
    let series = rows
        .iter()
        .map(|r| {
            let sorted: Vec<f64> = r.latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
            let mut points = plot::cdf(&sorted);
            points.retain(|p| p.0 <= cap_ms);
            // Thin the curve to at most ~400 points per series to keep the SVG small.
            let step = (points.len() / 400).max(1);
            let last = points.last().copied();
            let mut thinned: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
            if let Some(l) = last
                && thinned.last() != Some(&l)
            {
                thinned.push(l);
            }
            Series {
                name: r.scenario.to_owned(),
                points: thinned,
                markers: false,
            }
        })
        .collect();
    LineChart {
        title: format!(
            "Latency under faults ({}), cumulative, up to the largest p99",
            mode_name(mode)
        ),
        x_desc: "latency (ms, logarithmic scale)".to_owned(),
        y_desc: "fraction of requests".to_owned(),
        series,
        log_x: true,
    }
}

/// The first line of the sections `cargo xtask bench` carries over from the file it replaces:
/// benchmarks measured with their own commands and written by hand, up to [`KEPT_END`].
const KEPT_START: &str =
    "<!-- Kept by `cargo xtask bench`: sections measured with their own commands. -->";
/// The line after the kept sections.
const KEPT_END: &str = "<!-- End of the kept sections. -->";

/// `rendered` with the kept sections of `existing` (the file it replaces), markers included,
/// placed before the raw output.
fn with_kept(rendered: String, existing: Option<&str>) -> String {
    let kept = existing.and_then(|text| {
        let start = text.find(KEPT_START)?;
        let end = start + text[start..].find(KEPT_END)? + KEPT_END.len();
        Some(&text[start..end])
    });
    let Some(kept) = kept else {
        return rendered;
    };
    let raw = "\n## Raw output\n";
    match rendered.find(raw) {
        Some(at) => format!("{}\n{kept}\n{}", &rendered[..at], &rendered[at..]),
        None => format!("{rendered}\n{kept}\n"),
    }
}

fn render(report: &Report) -> String {
    let m = &report.machine;
    let mut d = String::new();
    let w = &mut d;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "This file is generated by `cargo xtask bench`; do not edit it by hand, except between the kept-sections markers: those sections, measured with their own commands, are carried over when it is regenerated."
    );
    let _ = writeln!(
        w,
        "It was last generated on {} at commit `{}`.",
        report.date, report.commit
    );
    let _ = writeln!(
        w,
        "All figures were measured on a shared {}-core machine while other builds were running, so absolute times are noisy.",
        m.nproc
    );
    let _ = writeln!(
        w,
        "Every ratio compares two things measured side by side in the same run, which makes ratios more trustworthy than absolute times."
    );
    if !report.release {
        let _ = writeln!(
            w,
            "\n**Warning:** the in-process measurements below ran in a debug build of `xtask`; run `cargo run --release -p xtask -- bench` for representative figures."
        );
    }
    let _ = writeln!(w, "\n## Machine\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(w, "| CPU | {} |", m.cpu);
    let _ = writeln!(w, "| cores (`nproc`) | {} |", m.nproc);
    let _ = writeln!(
        w,
        "| memory | {} |",
        m.memory_gib
            .map_or_else(|| "unknown".to_owned(), |g| format!("{g:.1} GiB"))
    );
    let _ = writeln!(w, "| OS | {} |", m.os);
    let _ = writeln!(w, "| compiler | {} |", m.rustc);
    let _ = writeln!(w, "\n## Commands\n");
    let _ = writeln!(w, "```sh");
    let _ = writeln!(
        w,
        "# Everything below, writing this file and docs/img/*.svg:"
    );
    let _ = writeln!(
        w,
        "cargo run --release -p xtask -- bench --chaos-requests {}",
        report.chaos_config.requests
    );
    let _ = writeln!(w, "# The parts on their own:");
    for (cmd, _) in &report.raw {
        if cmd.starts_with("cargo run") {
            let _ = writeln!(w, "{cmd}");
        }
    }
    if report.raw.iter().any(|(cmd, _)| cmd.starts_with("wrk")) {
        let _ = writeln!(
            w,
            "# The simulator under wrk, as docs/simulator.md describes (the bench uses an ephemeral port):"
        );
        let _ = writeln!(w, "cargo build --release -p bedrock-sim");
        let _ = writeln!(w, "target/release/bedrock-sim --port 8080 &");
        let _ = writeln!(
            w,
            "wrk -t1 -c32 -d5s -s crates/bedrock-sim/bench/converse.lua http://127.0.0.1:8080"
        );
        let _ = writeln!(
            w,
            "target/release/bedrock-sim --port 8081 --scenario fixtures/scenarios/bench-stream.json &"
        );
        let _ = writeln!(
            w,
            "WRK_PATH=converse-stream wrk -t1 -c32 -d5s -s crates/bedrock-sim/bench/converse.lua http://127.0.0.1:8081"
        );
    }
    let _ = writeln!(
        w,
        "cargo run --release -p xtask -- chaos --requests {} --seed {}",
        report.chaos_config.requests, report.chaos_config.seed
    );
    let _ = writeln!(w, "```");

    let _ = writeln!(w, "\n## Results against targets\n");
    let _ = writeln!(
        w,
        "| area | measure | result | target | result ÷ target | met | measured by |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|:---:|---|");
    for f in &report.figures {
        let _ = writeln!(
            w,
            "| {} | {} | {} {} | {} | {} | {} | `{}` |",
            f.area,
            f.measure,
            number(f.value),
            f.unit,
            f.target_text(),
            f.ratio()
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}")),
            if f.met() { "yes" } else { "**no**" },
            f.source
        );
    }
    let _ = writeln!(
        w,
        "\nSources: the examples' own output (see [Raw output](#raw-output)) and the in-process measurements of `cargo xtask bench`."
    );
    let _ = writeln!(
        w,
        "The simulator's load is measured twice, with `wrk` against the release binary (as `docs/simulator.md` describes, when `wrk` is installed) and with a minimal keep-alive HTTP/1.1 client in the same process; either way the client shares the two cores with the simulator, so both figures are lower bounds for the simulator alone."
    );
    if !report.failures.is_empty() {
        let _ = writeln!(
            w,
            "\nThese benchmarks could not be run or parsed in this run:\n"
        );
        for f in &report.failures {
            let _ = writeln!(w, "- {f}");
        }
    }

    let _ = writeln!(w, "\n## Parallel throughput versus concurrency\n");
    let _ = writeln!(
        w,
        "`ParallelLlmManager` over the real SDK client against the simulator with a fixed {SWEEP_LATENCY_MS} ms latency per call, {SWEEP_REQUESTS} requests per point, three regions."
    );
    let _ = writeln!(
        w,
        "The ideal is one wave of `concurrency` requests every {SWEEP_LATENCY_MS} ms."
    );
    let _ = writeln!(
        w,
        "Unlike `bench_parallel`, which measures the scheduling engine alone against an in-process fake service, every request here is signed by the SDK, crosses loopback HTTP and is answered by the simulator, all on the same two shared cores.\n"
    );
    let _ = writeln!(
        w,
        "![Throughput versus concurrency: measured (blue, with markers) against the ideal (grey)](img/parallel_throughput.svg)\n"
    );
    let _ = writeln!(
        w,
        "| concurrency | wall (s) | ideal (s) | wall ÷ ideal | requests/s | ideal requests/s | succeeded |"
    );
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|");
    for p in &report.sweep {
        let _ = writeln!(
            w,
            "| {} | {:.3} | {:.3} | {:.2} | {:.0} | {:.0} | {} |",
            p.concurrency,
            p.wall.as_secs_f64(),
            p.ideal().as_secs_f64(),
            p.wall.as_secs_f64() / p.ideal().as_secs_f64(),
            p.throughput(),
            p.ideal_throughput(),
            p.succeeded
        );
    }

    let c = &report.chaos_config;
    let _ = writeln!(w, "\n## Chaos: the fault matrix\n");
    let _ = writeln!(
        w,
        "`cargo xtask chaos --requests {} --seed {}`: each scenario starts a fresh simulator ({} ms to first token) and sends {} requests as non-streaming calls through `ParallelLlmManager` and {} as concurrent `converse_stream` calls, {} in flight, over three regions.",
        c.requests, c.seed, c.latency_ms, c.requests, c.requests, c.concurrency
    );
    let _ = writeln!(
        w,
        "A request is *lost* when it has no ending (no answer and no typed error); it is *duplicated* when it ends twice or the simulator answered it successfully more than once."
    );
    let _ = writeln!(
        w,
        "*Paid answers/request* counts, from the simulator's outcomes, the runtime requests whose answer the model produced (a complete answer, a stream cut or stalled after it started, a stream that ended in an exception frame; HTTP errors, connection resets and hangs cost nothing), per request; *answers broken mid-way* are the paid answers that did not complete. A row with no broken answer must pay at most one answer per request (the run fails otherwise); a broken answer is finished, and paid again, on another target."
    );
    let _ = writeln!(
        w,
        "*Wasted after learning* counts attempts beyond the first per request, over the requests after the first 10 %.\n"
    );
    for spec in chaos::matrix(c.requests) {
        let _ = writeln!(w, "- **{}**: {}", spec.name, spec.description);
    }
    let _ = writeln!(w);
    let _ = write!(w, "{}", chaos::table(&report.chaos));
    let lost: usize = report.chaos.iter().map(|r| r.lost).sum();
    let dup: usize = report.chaos.iter().map(|r| r.duplicated).sum();
    let total: usize = report.chaos.iter().map(|r| r.requests).sum();
    let _ = writeln!(
        w,
        "\nResult: {total} requests in all, {lost} lost, {dup} duplicated."
    );
    let _ = writeln!(
        w,
        "\n![Cumulative latency per scenario, non-streaming calls; one line per scenario in the order of the table](img/chaos_latency_converse.svg)\n"
    );
    let _ = writeln!(
        w,
        "![Cumulative latency per scenario, streaming calls; one line per scenario in the order of the table](img/chaos_latency_stream.svg)"
    );
    let _ = writeln!(
        w,
        "\nServer-side outcomes per scenario (what the simulator did):\n"
    );
    let _ = writeln!(w, "| scenario | mode | outcomes |\n|---|---|---|");
    for r in &report.chaos {
        let o: Vec<String> = r
            .server_outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            w,
            "| {} | {} | {} |",
            r.scenario,
            mode_name(r.mode),
            o.join(", ")
        );
    }

    let _ = writeln!(w, "\n## Raw output\n");
    for (cmd, out) in &report.raw {
        let _ = writeln!(w, "`{cmd}`:\n\n```text\n{}\n```\n", out.trim_end());
    }
    d
}

/// Runs every benchmark, writes the report and its plots, and fails if a benchmark failed or
/// the chaos matrix lost or duplicated a request.
///
/// # Errors
/// When a measurement cannot run, the report cannot be written, or a benchmark failed.
pub fn run(args: &BenchArgs) -> Result<(), DynError> {
    let root = workspace_root();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| root.join("docs/benchmarks.md"));
    let img = output
        .parent()
        .map_or_else(|| root.join("docs/img"), |p| p.join("img"));
    let mut figures = Vec::new();
    let mut failures = Vec::new();
    let mut raw = Vec::new();

    if !args.skip_examples {
        for ex in &EXAMPLES {
            let cmd = example_command(ex.package, ex.name);
            match run_example(&root, ex.package, ex.name) {
                Ok(out) => {
                    for f in ex.read(&out) {
                        match f {
                            Ok(f) => figures.push(f),
                            Err(e) => failures.push(e),
                        }
                    }
                    raw.push((cmd, out));
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        for name in sim_examples(&root) {
            let cmd = example_command("bedrock-sim", &name);
            match run_example(&root, "bedrock-sim", &name) {
                Ok(out) => raw.push((cmd, out)),
                Err(e) => failures.push(e.to_string()),
            }
        }
    }

    let rt = chaos::runtime()?;
    match wrk_sim_load(&root, &rt) {
        Ok(Some((sim_figures, log))) => {
            figures.extend(sim_figures);
            raw.push(("wrk against the release bedrock-sim".to_owned(), log));
        }
        Ok(None) => say("wrk is not installed; the simulator is measured in-process only"),
        Err(e) => failures.push(format!("simulator load with wrk: {e}")),
    }
    say("measuring the simulator's raw load");
    let (sim_figures, sim_log) = rt.block_on(sim_load())?;
    figures.extend(sim_figures);
    raw.push(("cargo xtask bench: simulator load".to_owned(), sim_log));

    say("measuring parallel throughput against concurrency");
    let sweep = rt.block_on(parallel_sweep())?;
    figures.extend(sweep_figure(&sweep));

    let chaos_config = ChaosConfig {
        requests: args.chaos_requests,
        ..ChaosConfig::default()
    };
    say(&format!(
        "running the chaos matrix with {} requests per scenario and mode",
        chaos_config.requests
    ));
    let chaos_rows = rt.block_on(chaos::run_matrix(&chaos_config))?;
    figures.extend(chaos_figures(&chaos_rows));

    std::fs::create_dir_all(&img)?;
    std::fs::write(
        img.join("parallel_throughput.svg"),
        throughput_chart(&sweep).to_svg()?,
    )?;
    std::fs::write(
        img.join("chaos_latency_converse.svg"),
        latency_chart(&chaos_rows, Mode::Converse).to_svg()?,
    )?;
    std::fs::write(
        img.join("chaos_latency_stream.svg"),
        latency_chart(&chaos_rows, Mode::Stream).to_svg()?,
    )?;

    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(&root)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let report = Report {
        machine: machine(),
        commit,
        date,
        release: !cfg!(debug_assertions),
        figures,
        failures,
        raw,
        sweep,
        chaos: chaos_rows,
        chaos_config,
    };
    let existing = std::fs::read_to_string(&output).ok();
    std::fs::write(&output, with_kept(render(&report), existing.as_deref()))?;
    say(&format!(
        "wrote {} and {}/*.svg",
        output.display(),
        img.display()
    ));
    for f in &report.figures {
        say(&format!(
            "{:<11} {:<90} {:>14} {:<9} target {:<16} {}",
            f.area,
            f.measure,
            number(f.value),
            f.unit,
            f.target_text(),
            if f.met() { "met" } else { "NOT MET" }
        ));
    }
    say(&chaos::table(&report.chaos));
    let bad = chaos::violations(&report.chaos);
    if !bad.is_empty() {
        return Err(format!(
            "chaos: requests lost or duplicated:\n  {}",
            bad.join("\n  ")
        )
        .into());
    }
    if !report.failures.is_empty() {
        return Err(format!(
            "some benchmarks failed:\n  {}",
            report.failures.join("\n  ")
        )
        .into());
    }
    Ok(())
}

fn say(line: &str) {
    #[allow(clippy::print_stdout, reason = "the benchmark reports on stdout")]
    {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = r#"{"measure":"build_serialise_over_base64","value":1.26,"unit":"×"}
"#;
    const CATALOG: &str = r#"{"measure":"load_median","value":1.234,"unit":"ms"}
{"measure":"lookup_friendly_name_median","value":0.085,"unit":"µs"}
{"measure":"resident_per_catalog","value":0.81,"unit":"MB"}
"#;
    const PARALLEL: &str = r#"{"measure":"vector_wall_over_ideal","value":1.012,"unit":"×"}
{"measure":"streaming_peak_rss","value":44.56,"unit":"MB"}
"#;
    const CONVERSE: &str = r#"{"measure":"converse_overhead_ratio","value":1.056,"unit":"×"}
{"measure":"stream_ttft_overhead","value":0.06,"unit":"ms"}
{"measure":"stream_events_rate","value":235482.0,"unit":"events/s"}
{"measure":"wasted_attempts_after_learning","value":0.0,"unit":"per call"}
"#;

    fn example(name: &str) -> &'static Example {
        EXAMPLES.iter().find(|e| e.name == name).unwrap()
    }

    #[track_caller]
    fn check(name: &str, out: &str, expected: &[(f64, bool)]) {
        let got: Vec<(f64, bool)> = example(name)
            .read(out)
            .into_iter()
            .map(|f| {
                let f = f.expect("figure read");
                (f.value, f.met())
            })
            .collect();
        assert_eq!(got.len(), expected.len());
        for ((v, met), (ev, emet)) in got.iter().zip(expected) {
            assert!((v - ev).abs() < 1e-9, "{v} != {ev}");
            assert_eq!(met, emet);
        }
    }

    #[test]
    fn kept_sections_are_carried_over_before_the_raw_output() {
        let rendered = "# Benchmarks\n\n## Results\n\nnew\n\n## Raw output\n\nraw\n".to_owned();
        let kept = format!("{KEPT_START}\n\n## Hedging\n\nby hand\n\n{KEPT_END}");
        let existing = format!("# Benchmarks\n\nold\n\n{kept}\n\n## Raw output\n\nold raw\n");
        let out = with_kept(rendered.clone(), Some(&existing));
        assert_eq!(out.matches("by hand").count(), 1, "{out}");
        let (before, after) = out.split_once("## Raw output").unwrap();
        assert!(before.contains(&kept) && before.contains("new"), "{out}");
        assert!(after.contains("raw") && !out.contains("old"), "{out}");
        // Regenerating again keeps them once.
        assert_eq!(with_kept(rendered.clone(), Some(&out)), out);
        // Nothing to keep: the rendered file as it is.
        assert_eq!(with_kept(rendered.clone(), Some("no markers")), rendered);
        assert_eq!(with_kept(rendered.clone(), None), rendered);
    }

    #[test]
    fn reads_every_example_output() {
        check("bench_image", IMAGE, &[(1.26, true)]);
        check(
            "bench_catalog",
            CATALOG,
            &[(1.234, true), (0.085, true), (0.81, true)],
        );
        check("bench_parallel", PARALLEL, &[(1.012, true), (44.56, true)]);
        check(
            "bench_converse",
            &format!("a readable line that is not JSON\n{CONVERSE}"),
            &[(1.056, true), (0.06, true), (235_482.0, true), (0.0, true)],
        );
    }

    #[test]
    fn a_missing_or_changed_measurement_is_reported_not_invented() {
        let image = example("bench_image");
        let missing = image.read("nothing here");
        assert!(missing[0].as_ref().unwrap_err().contains("did not report"));
        let other_unit =
            image.read(r#"{"measure":"build_serialise_over_base64","value":1.2,"unit":"ms"}"#);
        assert!(other_unit[0].as_ref().unwrap_err().contains("in ms, not ×"));
        let unmeasured =
            image.read(r#"{"measure":"build_serialise_over_base64","value":null,"unit":"×"}"#);
        assert!(
            unmeasured[0]
                .as_ref()
                .unwrap_err()
                .contains("could not measure")
        );
    }

    #[test]
    fn wrk_output_parses() {
        let out = "Running 5s test @ http://127.0.0.1:1\n  1 threads and 32 connections\n  12345 requests in 5.00s, 9.1MB read\nRequests/sec:  24690.12\nTransfer/sec:      1.8MB\n";
        assert_eq!(parse_wrk(out), Some((24_690.12, false)));
        let bad = format!("{out}  Non-2xx or 3xx responses: 12\n");
        assert_eq!(parse_wrk(&bad), Some((24_690.12, true)));
        assert_eq!(parse_wrk("nothing"), None);
    }

    #[test]
    fn event_stream_frames_are_counted_by_their_prelude() {
        let frame = |len: u32| {
            let mut f = len.to_be_bytes().to_vec();
            f.resize(len as usize, 0);
            f
        };
        let body = [frame(20), frame(32), frame(16)].concat();
        assert_eq!(count_frames(&body), 3);
        assert_eq!(count_frames(&body[..30]), 1);
    }

    #[test]
    fn numbers_are_formatted_for_reading() {
        assert_eq!(number(412_345.0), "412,345");
        assert_eq!(number(1.056), "1.06");
        assert_eq!(number(0.0123), "0.0123");
        assert_eq!(number(0.92), "0.92");
        assert_eq!(number(0.0), "0");
    }

    #[test]
    fn the_load_client_talks_to_the_simulator() {
        chaos::runtime().unwrap().block_on(async {
            let sim = Simulator::start(Scenario::default()).await.unwrap();
            let addr = sim.local_addr();
            let client = http_client(1);
            let body = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":16}}"#;
            for _ in 0..2 {
                let request = sim_request(addr, SIM_PATH_CONVERSE, body).unwrap();
                let (status, reply) = exchange(&client, request).await.unwrap();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
                assert!(String::from_utf8_lossy(&reply).contains("\"output\""));
            }
            let request = sim_request(addr, SIM_PATH_STREAM, body).unwrap();
            let (status, reply) = exchange(&client, request).await.unwrap();
            assert_eq!(status, 200);
            // messageStart, block deltas, blockStop, messageStop, metadata at least.
            assert!(count_frames(&reply) >= 4, "{}", count_frames(&reply));
            assert_eq!(sim.stats().requests, 3);
            sim.shutdown().await;
        });
    }

    #[test]
    fn the_report_names_machine_commands_targets_and_plots() {
        let report = Report {
            machine: machine(),
            commit: "abc1234".into(),
            date: "2026-01-01 00:00 UTC".into(),
            release: true,
            figures: example("bench_image")
                .read(IMAGE)
                .into_iter()
                .flatten()
                .collect(),
            failures: vec![],
            raw: vec![(
                example_command("bedrock-messages", "bench_image"),
                IMAGE.into(),
            )],
            sweep: vec![SweepPoint {
                concurrency: 200,
                wall: Duration::from_millis(1100),
                succeeded: 2000,
            }],
            chaos: vec![],
            chaos_config: ChaosConfig::default(),
        };
        let md = render(&report);
        for needle in [
            "## Machine",
            "cargo run --release -p bedrock-messages --example bench_image",
            "| messages | 3 MB image",
            "≤ 1.50 ×",
            "img/parallel_throughput.svg",
            "| 200 | 1.100 | 1.000 | 1.10 |",
            "shared",
        ] {
            assert!(md.contains(needle), "{needle} missing from\n{md}");
        }
        assert_eq!(sweep_figure(&report.sweep).map(|f| f.met()), Some(true));
    }
}
