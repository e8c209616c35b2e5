//! Adaptive pacing against a request quota, on the simulator.
//!
//! The simulator allows `--rpm` requests per quota window of `--window-ms` (a compressed minute:
//! 6 s by default, so the run is short). A batch of `--rpm` times `--windows` calls arrives at
//! `--offered` times the quota (open loop), once with pacing off, once paced to the configured
//! quota, and once with pacing learning the quota from throttling. For each, the run prints the
//! calls answered and failed, the throttled attempts as a share of every attempt that reached the
//! simulator, and the goodput (answers per window, over the run's time but at least one window)
//! as a share of the quota.
//!
//! With `--fleet N --redis-url URL`, the batch is shared round-robin by N managers (as N
//! processes would run it: each its own pacing), all against the one simulator quota, each mode
//! once with every manager pacing on its own and once sharing its pacing through Redis
//! (`LlmManagerBuilder::fleet`; the bench's `fleet` feature).
//!
//! ```text
//! cargo run --release -p bench --bin pacing
//! cargo run --release -p bench --features fleet --bin pacing -- --fleet 4 --redis-url redis://127.0.0.1:6379
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bedrock_sim::{LatencyModel, Scenario, Simulator, TokenQuota};
use bench::DynError;
use clap::Parser;
#[cfg(feature = "fleet")]
use llmmanager::fleet::Fleet;

/// Built without the `fleet` feature, there is no fleet to share pacing through.
#[cfg(not(feature = "fleet"))]
#[derive(Clone)]
enum Fleet {}
use llmmanager::pacing::{Pacing, Quota};
use llmmanager::retry::HealthConfig;
use llmmanager::{Auth, ConverseRequest, LlmManager, RetryConfig, Timeouts};

/// Adaptive pacing against a request quota.
#[derive(Debug, Parser)]
struct Args {
    /// Requests per quota window.
    #[arg(long, default_value_t = 600)]
    rpm: u64,
    /// The quota window (a compressed minute).
    #[arg(long, default_value_t = 6000)]
    window_ms: u64,
    /// The batch, in windows' worth of the quota.
    #[arg(long, default_value_t = 5)]
    windows: u64,
    /// How many times the quota the batch arrives at.
    #[arg(long, default_value_t = 10)]
    offered: u64,
    /// The simulator's time to first token.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// The simulator's seed.
    #[arg(long, default_value_t = 20)]
    seed: u64,
    /// Share the batch among this many managers, without and with a fleet through Redis.
    #[arg(long)]
    fleet: Option<usize>,
    /// The Redis of the fleet (with --fleet) [env: REDIS_URL].
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
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
    answered: u64,
    failed: u64,
    attempts: u64,
    throttled: u64,
    elapsed: Duration,
}

async fn run(args: &Args) -> Result<(), DynError> {
    let window = Duration::from_millis(args.window_ms.max(1));
    let seeded = Pacing::fixed()
        .window(window)
        .quota(Quota::new(MODEL).requests_per_minute(args.rpm));
    let learned = Pacing::adaptive().window(window);
    let managers = args.fleet.unwrap_or(1).max(1);
    let modes: Vec<(&str, Option<Pacing>, Option<Fleet>)> = match (args.fleet, &args.redis_url) {
        (None, _) => vec![
            ("pacing off", None, None),
            ("seeded quota", Some(seeded), None),
            ("learned", Some(learned), None),
        ],
        (Some(_), None) => return Err("--fleet needs --redis-url (or REDIS_URL)".into()),
        #[cfg(not(feature = "fleet"))]
        (Some(_), Some(_)) => {
            return Err("--fleet needs the fleet feature: cargo run --release -p bench --features fleet --bin pacing -- --fleet ...".into());
        }
        #[cfg(feature = "fleet")]
        (Some(_), Some(url)) => {
            let fleet = |name: &str| {
                #[allow(clippy::disallowed_methods, reason = "a unique key per run")]
                let run = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                Some(Fleet::new(url).key(format!("bench-{name}-{run}")))
            };
            vec![
                ("seeded, own", Some(seeded.clone()), None),
                ("seeded, fleet", Some(seeded), fleet("seeded")),
                ("learned, own", Some(learned.clone()), None),
                ("learned, fleet", Some(learned), fleet("learned")),
            ]
        }
    };
    let calls = args.rpm * args.windows;
    let mut lines = vec![format!(
        "quota {} requests per {} ms window, batch of {calls} calls offered at {}x the quota over {managers} manager(s), ttft {} ms",
        args.rpm, args.window_ms, args.offered, args.latency_ms
    )];
    lines.push(
        "mode           answered  failed  attempts  throttled  throttled%  elapsed s  goodput/quota"
            .to_owned(),
    );
    for (name, pacing, fleet) in modes {
        let f = one_mode(args, window, pacing, fleet, managers).await?;
        #[allow(clippy::cast_precision_loss, reason = "counts are small")]
        let throttled = f.throttled as f64 / f.attempts.max(1) as f64;
        #[allow(clippy::cast_precision_loss, reason = "counts are small")]
        let goodput = f.answered as f64
            / (f.elapsed.max(window).as_secs_f64() / window.as_secs_f64())
            / args.rpm as f64;
        lines.push(format!(
            "{name:<14} {:>8} {:>7} {:>9} {:>10} {:>10.2}% {:>10.1} {:>13.1}%",
            f.answered,
            f.failed,
            f.attempts,
            f.throttled,
            throttled * 100.0,
            f.elapsed.as_secs_f64(),
            goodput * 100.0,
        ));
    }
    #[allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

#[allow(
    clippy::disallowed_methods,
    reason = "the benchmark measures real time against the simulator's real-time windows"
)]
async fn one_mode(
    args: &Args,
    window: Duration,
    pacing: Option<Pacing>,
    fleet: Option<Fleet>,
    managers: usize,
) -> Result<Figures, DynError> {
    let quota = TokenQuota {
        region: None,
        model: None,
        tokens_per_minute: u64::MAX / 2,
        requests_per_minute: Some(args.rpm),
    };
    let scenario = Scenario::default()
        .with_seed(args.seed)
        .with_latency(LatencyModel::new(args.latency_ms, 0.0))
        .with_quota(quota)
        .with_quota_window(window);
    let sim = Simulator::start(scenario).await?;
    let mut fleet_of = Vec::with_capacity(managers);
    for _ in 0..managers {
        let mut builder = LlmManager::builder()
            .model(MODEL)
            .region("us-east-1")
            .auth(Auth::static_keys("AKIDPACING", "pacing-secret"))
            .endpoint_url(sim.endpoint_url())
            .retry(RetryConfig::standard())
            .health(HealthConfig::standard())
            .timeouts(
                Timeouts::default()
                    .with_per_attempt(Duration::from_secs(60))
                    .with_total(Duration::from_secs(600)),
            );
        if let Some(p) = &pacing {
            builder = builder.pacing(p.clone());
        }
        if let Some(f) = &fleet {
            #[cfg(feature = "fleet")]
            {
                builder = builder.fleet(f.clone());
            }
            #[cfg(not(feature = "fleet"))]
            match *f {}
        }
        fleet_of.push(builder.build().await?);
    }
    let request = ConverseRequest::builder()
        .user_text("Say hello.")
        .max_tokens(64)
        .build()?;
    let calls = args.rpm * args.windows;
    // Open loop: one call every `gap`, whatever the answers do.
    #[allow(clippy::cast_precision_loss, reason = "counts are small")]
    let gap = window.div_f64((args.rpm * args.offered.max(1)) as f64);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..calls {
        #[allow(clippy::cast_precision_loss, reason = "counts are small")]
        let due = started + gap.mul_f64(i as f64);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        #[allow(
            clippy::cast_possible_truncation,
            reason = "the index is below `managers`"
        )]
        let m = fleet_of[(i % managers as u64) as usize].clone();
        let r = request.clone();
        set.spawn(async move { m.converse(&r).await.is_ok() });
    }
    let (mut answered, mut failed) = (0, 0);
    while let Some(done) = set.join_next().await {
        if done? {
            answered += 1;
        } else {
            failed += 1;
        }
    }
    let elapsed = started.elapsed();
    let stats = sim.stats();
    let throttled = stats
        .by_outcome
        .get("ThrottlingException")
        .copied()
        .unwrap_or(0);
    let attempts = stats.by_operation.get("converse").copied().unwrap_or(0);
    sim.shutdown().await;
    Ok(Figures {
        answered,
        failed,
        attempts,
        throttled,
        elapsed,
    })
}
