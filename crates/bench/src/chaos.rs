//! `cargo xtask chaos`: the whole stack under a fault matrix, with a ledger that proves no request
//! is lost or answered twice.
//!
//! Each scenario starts a fresh loopback simulator with one kind of trouble (throttling bursts,
//! 5xx errors, connection resets, stalls, mid-stream cuts, a region down, a model missing in a
//! region, an exhausted token quota) and sends the same number of requests twice: once as
//! non-streaming calls through [`ParallelLlmManager`], once as concurrent `converse_stream` calls.
//!
//! The ledger is kept on both sides of the wire.
//! On the client side every request must end exactly once, as an answer or as a typed
//! [`llmmanager::Error`]; a request with no ending, a panicked or cancelled one, or a stream that
//! ends without a result or an error is *lost*.
//! On the server side every request carries its id in its prompt, and the simulator's request log
//! shows how many times each id was answered successfully; more than one answer, or more than one
//! ending on the client, is a *duplicate*.
//! The task fails when either count is not zero.
//!
//! The simulator's outcomes also show what the run cost: an answer is *paid for* when the model
//! produced output (a complete answer, a stream cut or stalled after it started, or a stream that
//! ended in an exception frame); HTTP errors, connection resets and hangs cost nothing. A request
//! pays for at most one answer unless a stream broke mid-answer and was finished on another
//! target, so the task also fails when a row without a mid-answer break paid for more answers
//! than it had requests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_sim::{
    BedrockErrorKind, Fault, FaultRule, LatencyModel, RegionDown, Scenario, SimHandle, Simulator,
    StreamExceptionKind, TokenQuota,
};
use futures::StreamExt;
use llmmanager::parallel::{BatchRequest, ParallelConfig, RequestError};
use llmmanager::retry::HealthConfig;
use llmmanager::{
    Auth, CallOptions, ConverseRequest, LlmManager, ParallelLlmManager, RetryConfig, StreamEvent,
    Timeouts,
};

use crate::DynError;

/// The model every scenario calls; the simulator's catalog offers it in all three regions.
pub(crate) const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The regions every manager is configured with.
pub(crate) const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
const PROMPT_PREFIX: &str = "chaos request ";

/// Settings of one chaos run.
#[derive(Debug, Clone)]
pub(crate) struct ChaosConfig {
    /// Requests per scenario and mode.
    pub(crate) requests: usize,
    /// Seed of every simulator's fault draws.
    pub(crate) seed: u64,
    /// Simulated time to first token.
    pub(crate) latency_ms: u64,
    /// Requests in flight at once.
    pub(crate) concurrency: usize,
    /// Per-attempt timeout (bounds hung connections).
    pub(crate) per_attempt: Duration,
    /// Stream idle timeout (detects stalls).
    pub(crate) stream_idle: Duration,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            requests: 1000,
            seed: 7,
            latency_ms: 5,
            concurrency: 64,
            per_attempt: Duration::from_secs(1),
            stream_idle: Duration::from_millis(500),
        }
    }
}

/// How the requests of a row were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `ParallelLlmManager::converse_parallel`.
    Converse,
    /// Concurrent `LlmManager::converse_stream`.
    Stream,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Converse => "converse",
            Mode::Stream => "stream",
        }
    }
}

/// The result of one scenario in one mode.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// Scenario name.
    pub(crate) scenario: &'static str,
    /// How the requests were sent.
    pub(crate) mode: Mode,
    /// Requests sent.
    pub(crate) requests: usize,
    /// Requests answered.
    pub(crate) succeeded: usize,
    /// Requests that ended with a typed error.
    pub(crate) failed: usize,
    /// Requests with no proper ending.
    pub(crate) lost: usize,
    /// Requests that ended twice or were answered twice by the server.
    pub(crate) duplicated: usize,
    /// Mean attempts per request.
    pub(crate) mean_attempts: f64,
    /// Attempts beyond the first per request, over the requests after the first 10 %.
    pub(crate) wasted_after_learning: f64,
    /// Per-request latencies, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Server-side outcomes (`ok`, error shapes, fault names) with their counts.
    pub(crate) server_outcomes: BTreeMap<String, u64>,
    /// Answers the simulator produced model output for (see [`is_paid`]).
    pub(crate) paid_answers: u64,
    /// Paid answers that broke mid-answer (cut, stalled, or ended in an exception frame).
    pub(crate) broken_answers: u64,
}

impl Row {
    /// The `q`-quantile of the latencies (nearest rank).
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        quantile(&self.latencies, q)
    }

    /// Answers paid for per request.
    #[allow(
        clippy::cast_precision_loss,
        reason = "request counts are far below 2^52"
    )]
    pub(crate) fn paid_per_request(&self) -> f64 {
        self.paid_answers as f64 / self.requests.max(1) as f64
    }

    /// Whether the row paid for more answers than it had requests although no answer broke
    /// mid-answer (only a broken answer may be bought a second time).
    pub(crate) fn overpaid(&self) -> bool {
        self.broken_answers == 0
            && self.paid_answers > u64::try_from(self.requests).unwrap_or(u64::MAX)
    }
}

/// Whether a runtime request the simulator recorded with this outcome produced model output, and
/// so was paid for: `ok`, `stream_cut`, `stream_cut_abrupt`, `stall`, or an in-stream exception
/// frame (lower camel case, such as `modelStreamErrorException`). HTTP error shapes (upper camel
/// case, such as `ThrottlingException`), `connection_reset` and `hang` produced nothing.
pub(crate) fn is_paid(outcome: &str) -> bool {
    matches!(outcome, "ok" | "stream_cut" | "stream_cut_abrupt" | "stall")
        || (outcome.starts_with(|c: char| c.is_ascii_lowercase()) && outcome.ends_with("Exception"))
}

/// Paid answers and, of those, answers that broke mid-answer, from the simulator's outcome
/// counts.
fn paid(server_outcomes: &BTreeMap<String, u64>) -> (u64, u64) {
    server_outcomes
        .iter()
        .filter(|(outcome, _)| is_paid(outcome))
        .fold((0, 0), |(paid, broken), (outcome, &n)| {
            (paid + n, if outcome == "ok" { broken } else { broken + n })
        })
}

pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank within a slice length"
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// One entry of the fault matrix.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioSpec {
    /// Short name, used in tables.
    pub(crate) name: &'static str,
    /// What goes wrong, in words.
    pub(crate) description: &'static str,
    /// The simulator scenario (without seed and latency).
    pub(crate) scenario: Scenario,
}

/// The fault matrix for `requests` requests per mode.
pub(crate) fn matrix(requests: usize) -> Vec<ScenarioSpec> {
    let n = u64::try_from(requests).unwrap_or(u64::MAX);
    // Bursts of 20 throttled calls every 100 calls that reach us-east-1.
    let bursts: Vec<u64> = (0..n.div_ceil(100).max(1))
        .flat_map(|k| (k * 100 + 10..k * 100 + 30).map(|c| c + 1))
        .collect();
    // Roughly 40 tokens are reserved per request (prompt plus maxTokens 32), so us-east-1 runs out
    // of quota after about a tenth of the batch has gone there.
    let quota_tokens = (n * 40 / 30).max(200);
    vec![
        ScenarioSpec {
            name: "baseline",
            description: "no faults",
            scenario: Scenario::default(),
        },
        ScenarioSpec {
            name: "throttling bursts",
            description: "bursts of 20 ThrottlingException in every 100 calls to us-east-1, plus 2% everywhere",
            scenario: Scenario::default()
                .with_fault(
                    FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
                        .region("us-east-1")
                        .calls(bursts),
                )
                .with_fault(
                    FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
                        .probability(0.02),
                ),
        },
        ScenarioSpec {
            name: "5xx",
            description: "5% InternalServerException and 5% ServiceUnavailableException everywhere",
            scenario: Scenario::default()
                .with_fault(
                    FaultRule::new(Fault::error(BedrockErrorKind::InternalServerException))
                        .probability(0.05),
                )
                .with_fault(
                    FaultRule::new(Fault::error(BedrockErrorKind::ServiceUnavailableException))
                        .probability(0.05),
                ),
        },
        ScenarioSpec {
            name: "connection resets",
            description: "10% of connections closed without a response",
            scenario: Scenario::default()
                .with_fault(FaultRule::new(Fault::ConnectionReset).probability(0.10)),
        },
        ScenarioSpec {
            name: "stalls",
            description: "streams: 5% stop sending after 3 events; converse: 2% never answer",
            scenario: Scenario::default()
                .with_fault(FaultRule::new(Fault::Stall { after_events: 3 }).probability(0.05))
                .with_fault(
                    FaultRule::new(Fault::Hang)
                        .operations([bedrock_sim::Operation::Converse])
                        .probability(0.02),
                ),
        },
        ScenarioSpec {
            name: "mid-stream cuts",
            description: "streams: 5% clean cuts, 5% aborted connections, 3% in-stream exceptions; converse: 5% resets",
            scenario: Scenario::default()
                .with_fault(
                    FaultRule::new(Fault::StreamCut {
                        after_events: 4,
                        abrupt: false,
                    })
                    .probability(0.05),
                )
                .with_fault(
                    FaultRule::new(Fault::StreamCut {
                        after_events: 5,
                        abrupt: true,
                    })
                    .probability(0.05),
                )
                .with_fault(
                    FaultRule::new(Fault::StreamException {
                        after_events: 3,
                        exception: StreamExceptionKind::ModelStreamErrorException,
                        message: None,
                        original_status_code: Some(500),
                    })
                    .probability(0.03),
                )
                .with_fault(
                    FaultRule::new(Fault::ConnectionReset)
                        .operations([bedrock_sim::Operation::Converse])
                        .probability(0.05),
                ),
        },
        ScenarioSpec {
            name: "region down",
            description: "us-west-2 answers every call with ServiceUnavailableException",
            scenario: Scenario::default().with_region_down(RegionDown::always("us-west-2")),
        },
        ScenarioSpec {
            name: "model missing",
            description: "the model is not accessible in eu-west-1 (AccessDeniedException)",
            scenario: Scenario::default().with_fault(
                FaultRule::new(Fault::error(BedrockErrorKind::AccessDeniedException))
                    .region("eu-west-1")
                    .model(MODEL),
            ),
        },
        ScenarioSpec {
            name: "quota exhausted",
            description: "us-east-1 token quota runs out early in the run (TokenQuota)",
            scenario: Scenario::default().with_quota(TokenQuota {
                region: Some("us-east-1".to_owned()),
                model: None,
                tokens_per_minute: quota_tokens,
                requests_per_minute: None,
            }),
        },
    ]
}

/// Spreads streaming calls over the regions round-robin, as the parallel manager does for
/// non-streaming calls; the other regions stay available for failover.
fn spread(id: usize) -> CallOptions {
    let first = REGIONS
        .get(id % REGIONS.len())
        .copied()
        .unwrap_or(REGIONS[0]);
    CallOptions::prefer_regions([first], true)
}

fn prompt(id: usize) -> String {
    format!("{PROMPT_PREFIX}{id}: answer briefly.")
}

fn request(id: usize) -> Result<ConverseRequest, DynError> {
    Ok(ConverseRequest::builder()
        .user_text(prompt(id))
        .max_tokens(32)
        .build()?)
}

async fn manager(sim: &SimHandle, config: &ChaosConfig) -> Result<LlmManager, DynError> {
    let retry = RetryConfig::standard()
        .with_max_attempts(4)
        .with_retry_delay(Duration::from_millis(5))
        .with_max_retry_delay(Duration::from_millis(100));
    let timeouts = Timeouts::default()
        .with_connect(Duration::from_secs(2))
        .with_per_attempt(config.per_attempt)
        .with_total(config.per_attempt * 6)
        .with_stream_idle(config.stream_idle);
    Ok(LlmManager::builder()
        .model(MODEL)
        .regions(REGIONS)
        .auth(Auth::static_keys("AKIDCHAOS", "chaos-secret"))
        .endpoint_url(sim.endpoint_url())
        .retry(retry)
        .health(HealthConfig::standard())
        .timeouts(timeouts)
        .build()
        .await?)
}

/// How one request ended, as seen by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Answered,
    TypedError,
    Lost,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    id: usize,
    ending: Ending,
    attempts: usize,
    latency: Duration,
}

async fn run_converse(manager: LlmManager, config: &ChaosConfig) -> Result<Vec<Record>, DynError> {
    let parallel = ParallelLlmManager::new(
        manager,
        ParallelConfig::default()
            .with_max_concurrency(config.concurrency)
            .with_request_timeout(None),
    )?;
    let batch = (0..config.requests)
        .map(|i| Ok(BatchRequest::new(format!("{i}"), request(i)?)))
        .collect::<Result<Vec<_>, DynError>>()?;
    let response = parallel.converse_parallel(batch).await?;
    let mut records = Vec::with_capacity(config.requests);
    for outcome in response.into_outcomes() {
        let id: usize = outcome.id.as_str().parse()?;
        let (ending, attempts) = match &outcome.result {
            Ok(r) => (Ending::Answered, r.attempts.len()),
            Err(RequestError::Service { source }) => (Ending::TypedError, source.attempts().len()),
            Err(RequestError::Timeout { .. }) => (Ending::TypedError, 1),
            Err(_) => (Ending::Lost, 0),
        };
        records.push(Record {
            id,
            ending,
            attempts,
            latency: outcome.duration,
        });
    }
    Ok(records)
}

#[allow(
    clippy::disallowed_methods,
    reason = "the chaos run measures real latency"
)]
async fn one_stream(manager: &LlmManager, id: usize) -> Record {
    let started = Instant::now();
    let (ending, attempts) = match request(id) {
        Err(_) => (Ending::Lost, 0),
        Ok(req) => match manager.converse_stream_with(&req, &spread(id)).await {
            Err(e) => (Ending::TypedError, e.attempts().len()),
            Ok(mut stream) => {
                let mut end = (Ending::Lost, 0);
                while let Some(event) = stream.next_event().await {
                    match event {
                        Ok(StreamEvent::Completed(r)) => {
                            end = (Ending::Answered, r.attempts.len());
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            end = (Ending::TypedError, e.attempts().len());
                            break;
                        }
                    }
                }
                end
            }
        },
    };
    Record {
        id,
        ending,
        attempts,
        latency: started.elapsed(),
    }
}

async fn run_stream(manager: LlmManager, config: &ChaosConfig) -> Vec<Record> {
    let manager = Arc::new(manager);
    futures::stream::iter(0..config.requests)
        .map(|i| {
            let m = Arc::clone(&manager);
            async move { one_stream(&m, i).await }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await
}

/// Successful answers per request id, from the simulator's request log.
fn server_answers(sim: &SimHandle) -> BTreeMap<usize, u64> {
    let mut answers = BTreeMap::new();
    for r in sim.requests() {
        if r.outcome != "ok" {
            continue;
        }
        let text = r
            .body
            .pointer("/messages/0/content/0/text")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        if let Some(id) = text
            .strip_prefix(PROMPT_PREFIX)
            .and_then(|rest| rest.split(':').next())
            .and_then(|id| id.parse().ok())
        {
            *answers.entry(id).or_insert(0) += 1;
        }
    }
    answers
}

#[allow(
    clippy::cast_precision_loss,
    reason = "request counts are far below 2^52"
)]
fn ledger(
    spec: &ScenarioSpec,
    mode: Mode,
    requests: usize,
    records: &[Record],
    answers: &BTreeMap<usize, u64>,
    server_outcomes: BTreeMap<String, u64>,
) -> Row {
    let mut endings = vec![0_u32; requests];
    let mut lost = 0;
    for r in records {
        match endings.get_mut(r.id) {
            Some(count) => *count += 1,
            None => lost += 1,
        }
        if r.ending == Ending::Lost {
            lost += 1;
        }
    }
    lost += endings.iter().filter(|&&c| c == 0).count();
    let duplicated =
        endings.iter().filter(|&&c| c > 1).count() + answers.values().filter(|&&c| c > 1).count();
    let succeeded = records
        .iter()
        .filter(|r| r.ending == Ending::Answered)
        .count();
    let failed = records
        .iter()
        .filter(|r| r.ending == Ending::TypedError)
        .count();
    let total_attempts: usize = records.iter().map(|r| r.attempts).sum();
    let learned_from = requests / 10;
    let later: Vec<&Record> = records.iter().filter(|r| r.id >= learned_from).collect();
    let wasted: usize = later.iter().map(|r| r.attempts.saturating_sub(1)).sum();
    let mut latencies: Vec<Duration> = records.iter().map(|r| r.latency).collect();
    latencies.sort();
    let (paid_answers, broken_answers) = paid(&server_outcomes);
    Row {
        scenario: spec.name,
        mode,
        requests,
        succeeded,
        failed,
        lost,
        duplicated,
        mean_attempts: total_attempts as f64 / records.len().max(1) as f64,
        wasted_after_learning: wasted as f64 / later.len().max(1) as f64,
        latencies,
        server_outcomes,
        paid_answers,
        broken_answers,
    }
}

async fn run_one(spec: &ScenarioSpec, mode: Mode, config: &ChaosConfig) -> Result<Row, DynError> {
    let mut scenario = spec
        .scenario
        .clone()
        .with_seed(config.seed)
        .with_latency(LatencyModel::new(config.latency_ms, 0.0));
    scenario.request_log_capacity = Some(config.requests.saturating_mul(8).max(1024));
    let sim = Simulator::start(scenario).await?;
    let manager = manager(&sim, config).await?;
    let records = match mode {
        Mode::Converse => run_converse(manager, config).await?,
        Mode::Stream => run_stream(manager, config).await,
    };
    let answers = server_answers(&sim);
    let outcomes = sim.stats().by_outcome;
    sim.shutdown().await;
    Ok(ledger(
        spec,
        mode,
        config.requests,
        &records,
        &answers,
        outcomes,
    ))
}

/// Runs the whole matrix, both modes, one scenario after the other.
pub(crate) async fn run_matrix(config: &ChaosConfig) -> Result<Vec<Row>, DynError> {
    let mut rows = Vec::new();
    for spec in matrix(config.requests) {
        for mode in [Mode::Converse, Mode::Stream] {
            rows.push(run_one(&spec, mode, config).await?);
        }
    }
    Ok(rows)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The rows as a Markdown table.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | mode | requests | succeeded | failed (typed) | lost | duplicated | attempts/request | paid answers/request | answers broken mid-way | wasted after learning | p50 ms | p95 ms |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {} | {:.3} | {} | {} |\n",
            r.scenario,
            r.mode.name(),
            r.requests,
            r.succeeded,
            r.failed,
            r.lost,
            r.duplicated,
            r.mean_attempts,
            r.paid_per_request(),
            r.broken_answers,
            r.wasted_after_learning,
            ms(r.quantile(0.50)),
            ms(r.quantile(0.95)),
        ));
    }
    out
}

/// Lines naming every row with a lost or duplicated request, or with more than one paid answer
/// per request although no answer broke mid-way; empty when the run is clean.
pub(crate) fn violations(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.lost > 0 || r.duplicated > 0 || r.overpaid())
        .map(|r| {
            format!(
                "{} / {}: {} lost, {} duplicated, {} answers paid for {} requests with {} broken mid-way",
                r.scenario,
                r.mode.name(),
                r.lost,
                r.duplicated,
                r.paid_answers,
                r.requests,
                r.broken_answers
            )
        })
        .collect()
}

/// The arguments of `cargo xtask chaos`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "cargo xtask chaos",
    bin_name = "cargo xtask chaos",
    about = "Drive the full stack through the fault matrix on the simulator",
    long_about = "Drive the full stack through the fault matrix on the simulator. Reports answers \
                  paid for per request; fails if a request is lost or duplicated, or if a row \
                  where no answer broke mid-way paid for more than one answer per request."
)]
pub struct ChaosArgs {
    /// Requests per scenario and mode.
    #[arg(long, default_value_t = 1000, value_parser = crate::at_least_one)]
    pub requests: usize,
    /// Seed of every simulator's fault draws.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulated time to first token, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub latency_ms: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64, value_parser = crate::at_least_one)]
    pub concurrency: usize,
}

impl ChaosArgs {
    fn config(&self) -> ChaosConfig {
        ChaosConfig {
            requests: self.requests,
            seed: self.seed,
            latency_ms: self.latency_ms,
            concurrency: self.concurrency,
            ..ChaosConfig::default()
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, DynError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs the fault matrix and fails if a request was lost, duplicated or paid for twice.
///
/// # Errors
/// When the run cannot start, or when the ledger finds a lost, duplicated or overpaid request.
pub fn run(args: &ChaosArgs) -> Result<(), DynError> {
    let config = args.config();
    say(&format!(
        "chaos: {} requests per scenario and mode, seed {}, {} ms time to first token, concurrency {}",
        config.requests, config.seed, config.latency_ms, config.concurrency
    ));
    for spec in matrix(config.requests) {
        say(&format!("  {}: {}", spec.name, spec.description));
    }
    let rows = runtime()?.block_on(run_matrix(&config))?;
    say(&table(&rows));
    let bad = violations(&rows);
    if bad.is_empty() {
        say(
            "no request lost, none duplicated, at most one paid answer per request wherever no answer broke mid-way",
        );
        Ok(())
    } else {
        Err(format!(
            "requests lost, duplicated or paid for twice:\n  {}",
            bad.join("\n  ")
        )
        .into())
    }
}

fn say(line: &str) {
    #[allow(clippy::print_stdout, reason = "the chaos run reports on stdout")]
    {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_seeded_run_loses_and_duplicates_nothing() {
        let config = ChaosConfig {
            requests: 40,
            seed: 11,
            latency_ms: 1,
            concurrency: 8,
            per_attempt: Duration::from_secs(1),
            stream_idle: Duration::from_millis(500),
        };
        let rows = runtime().unwrap().block_on(run_matrix(&config)).unwrap();
        assert_eq!(rows.len(), matrix(40).len() * 2);
        assert_eq!(violations(&rows), Vec::<String>::new(), "{}", table(&rows));
        for r in &rows {
            assert_eq!(r.succeeded + r.failed, 40, "{}", table(&rows));
            assert!(r.mean_attempts >= 1.0, "{}", table(&rows));
        }
        // Faults really fired: the simulator reports them by name.
        let outcomes = |name: &str, mode: Mode| {
            rows.iter()
                .find(|r| r.scenario == name && r.mode == mode)
                .map(|r| r.server_outcomes.clone())
                .unwrap()
        };
        assert!(
            outcomes("region down", Mode::Converse).contains_key("ServiceUnavailableException")
        );
        assert!(outcomes("model missing", Mode::Stream).contains_key("AccessDeniedException"));
        assert!(outcomes("throttling bursts", Mode::Converse).contains_key("ThrottlingException"));
        let baseline = rows.iter().find(|r| r.scenario == "baseline").unwrap();
        assert_eq!(baseline.succeeded, 40);
        assert!((baseline.mean_attempts - 1.0).abs() < f64::EPSILON);
        assert_eq!((baseline.paid_answers, baseline.broken_answers), (40, 0));
        for r in &rows {
            assert!(r.paid_answers >= r.succeeded as u64, "{}", table(&rows));
            assert!(!r.overpaid(), "{}", table(&rows));
        }
    }

    #[test]
    fn the_ledger_counts_lost_and_duplicated_requests() {
        let spec = &matrix(4)[0];
        let rec = |id, ending| Record {
            id,
            ending,
            attempts: 1,
            latency: Duration::from_millis(1),
        };
        // Request 1 ends twice, request 2 never ends, request 3 ends as lost.
        let records = [
            rec(0, Ending::Answered),
            rec(1, Ending::Answered),
            rec(1, Ending::TypedError),
            rec(3, Ending::Lost),
        ];
        let answers = BTreeMap::from([(0, 2), (1, 1)]);
        let row = ledger(spec, Mode::Converse, 4, &records, &answers, BTreeMap::new());
        assert_eq!((row.lost, row.duplicated), (2, 2));
        assert_eq!(violations(&[row]).len(), 1);
    }

    #[test]
    fn answers_are_paid_for_when_the_model_produced_output() {
        for outcome in [
            "ok",
            "stream_cut",
            "stream_cut_abrupt",
            "stall",
            "validationException",
            "modelStreamErrorException",
        ] {
            assert!(is_paid(outcome), "{outcome}");
        }
        for outcome in [
            "ThrottlingException",
            "ServiceUnavailableException",
            "connection_reset",
            "hang",
        ] {
            assert!(!is_paid(outcome), "{outcome}");
        }
    }

    #[test]
    fn a_second_paid_answer_fails_the_run_unless_an_answer_broke_mid_way() {
        let spec = &matrix(2)[0];
        let records = [
            Record {
                id: 0,
                ending: Ending::Answered,
                attempts: 2,
                latency: Duration::ZERO,
            },
            Record {
                id: 1,
                ending: Ending::Answered,
                attempts: 1,
                latency: Duration::ZERO,
            },
        ];
        let answers = BTreeMap::from([(0, 1), (1, 1)]);
        let outcomes = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        // Two answers and a throttled attempt: one paid answer per request.
        let row = ledger(
            spec,
            Mode::Converse,
            2,
            &records,
            &answers,
            outcomes(&[("ok", 2), ("ThrottlingException", 1)]),
        );
        assert_eq!((row.paid_answers, row.broken_answers), (2, 0));
        assert!((row.paid_per_request() - 1.0).abs() < f64::EPSILON);
        assert!(violations(&[row]).is_empty());
        // A stream that ended in an exception frame mid-answer and was finished on another
        // target: 1.5 per request, allowed because the broken answer had to be bought again.
        let row = ledger(
            spec,
            Mode::Stream,
            2,
            &records,
            &answers,
            outcomes(&[("ok", 2), ("modelStreamErrorException", 1)]),
        );
        assert_eq!((row.paid_answers, row.broken_answers), (3, 1));
        assert!(
            violations(&[row]).is_empty(),
            "a broken answer may be finished elsewhere"
        );
        let row = ledger(
            spec,
            Mode::Converse,
            2,
            &records,
            &answers,
            outcomes(&[("ok", 3)]),
        );
        assert!(row.overpaid());
        assert_eq!(violations(&[row]).len(), 1);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&v, 0.95), Duration::from_millis(95));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn parses_flags() {
        use clap::Parser as _;
        let parse = |args: &[&str]| ChaosArgs::try_parse_from(["chaos"].iter().chain(args));
        let c = parse(&["--requests=100", "--seed", "3"]).unwrap().config();
        assert_eq!((c.requests, c.seed, c.concurrency), (100, 3, 64));
        assert!(parse(&["--requests", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
