//! Hedged requests against a region with a long latency tail, on the simulator.
//!
//! The first region answers with a log-normal time to first token (median `--p50-ms`, 99th
//! percentile `--p99-ms`), the second with a short one. The same calls run without hedging, with
//! a fixed hedge delay and with the adaptive (p95) delay, each against a fresh simulator with the
//! same seed; for each the run prints the latency percentiles of the calls and the share of extra
//! requests (requests the simulator received beyond one per call).
//!
//! With `--stream` the calls are streams (answers at `--tokens-per-second`), hedged on their first
//! event, and the percentiles are of the time to the first text the caller receives.
//!
//! ```text
//! cargo run --release -p bench --bin hedging -- --calls 2000 --concurrency 32
//! cargo run --release -p bench --bin hedging -- --calls 2000 --concurrency 32 --stream
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bedrock_sim::{LatencyModel, LatencyRule, Scenario, Simulator};
use bench::DynError;
use clap::Parser;
use llmmanager::retry::HealthConfig;
use llmmanager::{Auth, ConverseRequest, Hedging, LlmManager, RetryConfig, StreamEvent, Timeouts};

/// Hedged requests against a region with a long latency tail.
#[derive(Debug, Parser)]
struct Args {
    /// Calls per mode.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Median time to first token of the slow-tailed region.
    #[arg(long, default_value_t = 50)]
    p50_ms: u64,
    /// 99th percentile of the slow-tailed region.
    #[arg(long, default_value_t = 5000)]
    p99_ms: u64,
    /// The fixed hedge delay.
    #[arg(long, default_value_t = 800)]
    hedge_after_ms: u64,
    /// The share of calls that may hedge.
    #[arg(long, default_value_t = 0.1)]
    share: f64,
    /// The simulator's seed.
    #[arg(long, default_value_t = 21)]
    seed: u64,
    /// Streams instead of Converse calls: hedged on the first event, timed to the first text.
    #[arg(long)]
    stream: bool,
    /// Output speed of the simulated models (0: unlimited).
    #[arg(long, default_value_t = 0.0)]
    tokens_per_second: f64,
}

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return bench::exit(Err(e.into())),
    };
    bench::exit(runtime.block_on(run(&args)))
}

/// One mode's figures.
struct Figures {
    p50: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
    requests: usize,
    hedges: u64,
    hedges_won: u64,
    discarded: u64,
}

async fn run(args: &Args) -> Result<(), DynError> {
    let modes: [(&str, Option<Hedging>); 3] = [
        ("no hedging", None),
        (
            "fixed delay",
            Some(Hedging::after(Duration::from_millis(args.hedge_after_ms)).max_share(args.share)),
        ),
        (
            "adaptive p95",
            Some(Hedging::adaptive().max_share(args.share)),
        ),
    ];
    let mut lines = vec![format!(
        "{} {}, concurrency {}, us-east-1 ttft log-normal p50 {} ms p99 {} ms, us-west-2 p50 50 ms p99 150 ms, {} tokens/s, share cap {}{}",
        args.calls,
        if args.stream { "streams" } else { "calls" },
        args.concurrency,
        args.p50_ms,
        args.p99_ms,
        args.tokens_per_second,
        args.share,
        if args.stream {
            "; percentiles of the time to first text"
        } else {
            ""
        },
    )];
    lines.push(
        "mode            p50 ms  p95 ms  p99 ms  max ms  requests  extra  hedges  won  discarded"
            .to_owned(),
    );
    let mut baseline = None;
    for (name, hedging) in modes {
        let f = one_mode(args, hedging).await?;
        #[allow(clippy::cast_precision_loss)]
        let extra = (f.requests.saturating_sub(args.calls)) as f64 / args.calls as f64;
        let p99 = f.p99.as_secs_f64();
        let base = *baseline.get_or_insert(p99);
        lines.push(format!(
            "{name:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>5.1}% {:>7} {:>4} {:>10}   p99 {:.2}x lower",
            f.p50.as_millis(),
            f.p95.as_millis(),
            f.p99.as_millis(),
            f.max.as_millis(),
            f.requests,
            extra * 100.0,
            f.hedges,
            f.hedges_won,
            f.discarded,
            if p99 > 0.0 { base / p99 } else { 0.0 },
        ));
    }
    #[allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn scenario(args: &Args) -> Scenario {
    Scenario::default()
        .with_seed(args.seed)
        .with_latency(LatencyModel::tail(50, 150, args.tokens_per_second))
        .with_latency_rule(
            LatencyRule::new(LatencyModel::tail(
                args.p50_ms,
                args.p99_ms,
                args.tokens_per_second,
            ))
            .region("us-east-1"),
        )
}

async fn one_mode(args: &Args, hedging: Option<Hedging>) -> Result<Figures, DynError> {
    let sim = Simulator::start(scenario(args)).await?;
    let mut builder = LlmManager::builder()
        .model(MODEL)
        .regions(["us-east-1", "us-west-2"])
        .auth(Auth::static_keys("AKIDHEDGE", "hedge-secret"))
        .endpoint_url(sim.endpoint_url())
        .retry(RetryConfig::standard())
        .health(HealthConfig::standard())
        .timeouts(
            Timeouts::default()
                .with_per_attempt(Duration::from_secs(120))
                .with_total(Duration::from_secs(300)),
        );
    if let Some(h) = hedging {
        builder = builder.hedging(h);
    }
    let manager = builder.build().await?;
    let request = ConverseRequest::builder()
        .user_text("Say hello.")
        .max_tokens(64)
        .build()?;
    let mut latencies = Vec::with_capacity(args.calls);
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < args.calls || !set.is_empty() {
        while next < args.calls && set.len() < args.concurrency.max(1) {
            let m = manager.clone();
            let r = request.clone();
            let stream = args.stream;
            set.spawn(async move {
                if stream {
                    timed_stream(&m, &r).await
                } else {
                    timed(&m, &r).await
                }
            });
            next += 1;
        }
        if let Some(done) = set.join_next().await {
            latencies.push(done?.map_err(DynError::from)?);
        }
    }
    latencies.sort_unstable();
    let requests = sim.stats().by_outcome.values().copied().sum::<u64>();
    let stats = manager.stats();
    sim.shutdown().await;
    Ok(Figures {
        p50: quantile(&latencies, 0.50),
        p95: quantile(&latencies, 0.95),
        p99: quantile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        requests: usize::try_from(requests).unwrap_or(usize::MAX),
        hedges: stats.hedges,
        hedges_won: stats.hedges_won,
        discarded: stats.discarded_answers,
    })
}

#[allow(
    clippy::disallowed_methods,
    reason = "the benchmark measures real latency"
)]
async fn timed(manager: &LlmManager, request: &ConverseRequest) -> Result<Duration, String> {
    let started = Instant::now();
    manager.converse(request).await.map_err(|e| e.to_string())?;
    Ok(started.elapsed())
}

/// The time from the call to the first text the caller receives; the stream is read to its end.
#[allow(
    clippy::disallowed_methods,
    reason = "the benchmark measures real latency"
)]
async fn timed_stream(manager: &LlmManager, request: &ConverseRequest) -> Result<Duration, String> {
    let started = Instant::now();
    let mut stream = manager
        .converse_stream(request)
        .await
        .map_err(|e| e.to_string())?;
    let mut first = None;
    while let Some(event) = stream.next_event().await {
        match event.map_err(|e| e.to_string())? {
            StreamEvent::TextDelta { .. } if first.is_none() => first = Some(started.elapsed()),
            StreamEvent::Completed(_) => break,
            _ => {}
        }
    }
    first.ok_or_else(|| "the stream delivered no text".to_owned())
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or_default()
}
