//! Throughput and memory benchmark of the parallel engine against an in-process fake service.
//!
//! Run with `cargo run --release -p bedrock-parallel --example bench_parallel`.
//!
//! 1. Vector form: 2,000 requests at concurrency 200 against a service with a fixed 100 ms
//!    latency; the ideal wall time is 2,000 / 200 × 100 ms = 1.0 s.
//! 2. Streaming form: 100,000 requests (1 KiB payload each) pulled lazily from an iterator,
//!    outcomes counted and dropped; prints the peak resident set size (VmHWM).
//! 3. For contrast, the same 100,000 requests built as a `Vec` and run in the vector form.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "a benchmark binary prints its figures (JSON lines on stdout, readable lines on \
              stderr) and measures wall time"
)]

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_parallel::{
    BatchRequest, ConverseService, ParallelConfig, ParallelExecutor, Placement, ResponseStats,
};
use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt};

#[derive(Debug)]
struct FixedLatency(Duration);

struct Reply(usize);

impl ResponseStats for Reply {}

impl ConverseService for FixedLatency {
    type Request = String;
    type Response = Reply;
    type Error = std::io::Error;

    fn call(
        &self,
        request: String,
        _placement: Placement,
    ) -> BoxFuture<'static, Result<Reply, std::io::Error>> {
        let latency = self.0;
        async move {
            tokio::time::sleep(latency).await;
            Ok(Reply(request.len()))
        }
        .boxed()
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Prints the peak RSS so far and returns it in MB (10^6 bytes).
fn show_rss(label: &str) -> Option<f64> {
    match peak_rss_kib() {
        Some(kib) => {
            eprintln!("{label}: peak RSS (VmHWM) {:.1} MiB", kib as f64 / 1024.0);
            Some(kib as f64 * 1024.0 / 1e6)
        }
        None => {
            eprintln!("{label}: peak RSS unavailable (no /proc/self/status)");
            None
        }
    }
}

fn regions() -> [&'static str; 4] {
    ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    show_rss("start");

    // 1. Vector form: 2,000 × 100 ms at concurrency 200.
    let service = Arc::new(FixedLatency(Duration::from_millis(100)));
    let config = ParallelConfig::default()
        .with_regions(regions())
        .with_max_concurrency(200);
    let executor = ParallelExecutor::new(Arc::clone(&service), config)?;
    let requests: Vec<_> = (0..2_000)
        .map(|i| BatchRequest::new(format!("req-{i}"), format!("prompt {i}")))
        .collect();
    let started = Instant::now();
    let response = executor.run(requests).await?;
    let wall = started.elapsed();
    let stats = response.stats();
    eprintln!(
        "vector: {} requests, concurrency 200, 100 ms latency: wall {:.3} s (ideal 1.000 s, overhead {:+.1}%), \
         succeeded {}, per-request p50 {:?} p95 {:?} max {:?}",
        stats.total,
        wall.as_secs_f64(),
        (wall.as_secs_f64() / 1.0 - 1.0) * 100.0,
        stats.succeeded,
        stats.durations.p50,
        stats.durations.p95,
        stats.durations.max,
    );
    emit("vector_wall_over_ideal", wall.as_secs_f64() / 1.0, "×");
    drop(response);
    show_rss("after vector run");

    // 2. Streaming form: 100,000 requests pulled lazily, 10 ms latency, concurrency 500.
    let n = 100_000;
    let service = Arc::new(FixedLatency(Duration::from_millis(10)));
    let config = ParallelConfig::default()
        .with_regions(regions())
        .with_max_concurrency(500);
    let executor = ParallelExecutor::new(service, config)?;
    let payload = "x".repeat(1024);
    let input = {
        let payload = payload.clone();
        futures::stream::iter(
            (0..n).map(move |i| BatchRequest::new(format!("req-{i}"), payload.clone())),
        )
    };
    let started = Instant::now();
    let mut stream = executor.stream(input);
    let (mut ok, mut total, mut bytes) = (0_usize, 0_usize, 0_usize);
    while let Some(outcome) = stream.next().await {
        total += 1;
        ok += usize::from(outcome.is_success());
        bytes += outcome.response().map_or(0, |reply| reply.0);
    }
    let wall = started.elapsed();
    eprintln!(
        "stream: {total} requests ({ok} ok, {bytes} payload bytes echoed), concurrency 500, 10 ms latency: wall {:.3} s (ideal {:.3} s)",
        wall.as_secs_f64(),
        n as f64 / 500.0 * 0.010,
    );
    if let Some(mb) = show_rss("after streaming run") {
        emit("streaming_peak_rss", mb, "MB");
    }

    // 3. Contrast: the same batch held in memory as a Vec.
    let requests: Vec<_> = (0..n)
        .map(|i| BatchRequest::new(format!("req-{i}"), payload.clone()))
        .collect();
    let started = Instant::now();
    let response = executor.run(requests).await?;
    eprintln!(
        "vector: {} requests, 1 KiB payload, concurrency 500, 10 ms latency: wall {:.3} s",
        response.len(),
        started.elapsed().as_secs_f64()
    );
    show_rss("after vector run of the same batch");
    Ok(())
}

/// One measurement as a JSON line on stdout, the form `cargo xtask bench` reads; the readable
/// lines go to stderr.
fn emit(measure: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({ "measure": measure, "value": value, "unit": unit })
    );
}
