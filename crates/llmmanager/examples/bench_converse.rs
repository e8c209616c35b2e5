//! Benchmarks of `LlmManager` against a bare SDK client, both on the loopback simulator at zero
//! latency, measured side by side in one run:
//!
//! - per-call overhead of `converse` (median ratio, target at most 1.10x);
//! - wasted attempts per call with one of three regions down, after health learning (target
//!   under 0.05);
//! - time-to-first-token overhead of `converse_stream` (target at most 1 ms median);
//! - stream event processing rate (target at least 200,000 events/s).
//!
//! Run with `cargo run --release -p llmmanager --example bench_converse [-- CALLS]`.
#![allow(
    clippy::disallowed_methods,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss,
    reason = "a benchmark measures wall time and prints its results (JSON lines on stdout, readable \
              lines on stderr)"
)]

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use bedrock_retry::{HealthConfig, RetryConfig};
use bedrock_sim::{RegionDown, Scenario, ScriptedReply, Simulator};
use llmmanager::{Auth, ConverseRequest, LlmManager, StreamEvent};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let sdk = aws_sdk_bedrockruntime::Client::new(&sim.sdk_config("us-east-1").await);
    let manager = LlmManager::builder()
        .model(MODEL)
        .region("us-east-1")
        .auth(Auth::static_keys("AKIDBENCH", "bench-secret"))
        .endpoint_url(sim.endpoint_url())
        .build()
        .await
        .unwrap();
    let request = ConverseRequest::builder()
        .user_text("Benchmark me.")
        .max_tokens(16)
        .build()
        .unwrap();
    let sdk_message = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("Benchmark me.".into()))
        .build()
        .unwrap();
    // The bare call sends what the managed call sends (`maxTokens` included), so both ask the
    // simulator for the same answer and the difference is the manager's own work.
    let sdk_inference = InferenceConfiguration::builder().max_tokens(16).build();

    // Warm up both paths (connections, lazy initialisation).
    for _ in 0..200 {
        sdk.converse()
            .model_id(MODEL)
            .messages(sdk_message.clone())
            .inference_config(sdk_inference.clone())
            .send()
            .await
            .unwrap();
        manager.converse(&request).await.unwrap();
    }
    // Interleave the two paths so both see the same machine state.
    let (mut bare, mut managed) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..calls {
        let t = Instant::now();
        sdk.converse()
            .model_id(MODEL)
            .messages(sdk_message.clone())
            .inference_config(sdk_inference.clone())
            .send()
            .await
            .unwrap();
        bare.push(t.elapsed());
        let t = Instant::now();
        manager.converse(&request).await.unwrap();
        managed.push(t.elapsed());
    }
    let (b, m) = (median(bare), median(managed));
    eprintln!(
        "converse overhead: bare SDK median {b:?}, LlmManager median {m:?}, ratio {:.3}x (target <= 1.10x), {calls} calls each",
        m.as_secs_f64() / b.as_secs_f64()
    );
    emit(
        "converse_overhead_ratio",
        m.as_secs_f64() / b.as_secs_f64(),
        "×",
    );

    // Streaming: time to first token, bare versus managed.
    let (mut bare, mut managed) = (Vec::new(), Vec::new());
    for _ in 0..(calls / 4).max(50) {
        let t = Instant::now();
        let mut out = sdk
            .converse_stream()
            .model_id(MODEL)
            .messages(sdk_message.clone())
            .send()
            .await
            .unwrap();
        loop {
            match out.stream.recv().await.unwrap() {
                Some(aws_sdk_bedrockruntime::types::ConverseStreamOutput::ContentBlockDelta(_)) => {
                    break;
                }
                Some(_) => {}
                None => panic!("no delta"),
            }
        }
        bare.push(t.elapsed());
        while out.stream.recv().await.unwrap().is_some() {}
        let t = Instant::now();
        let mut s = manager.converse_stream(&request).await.unwrap();
        while let Some(e) = s.next_event().await {
            if matches!(e.unwrap(), StreamEvent::TextDelta { .. }) {
                break;
            }
        }
        managed.push(t.elapsed());
        s.finish().await.unwrap();
    }
    let (b, m) = (median(bare), median(managed));
    eprintln!(
        "stream time to first token: bare SDK median {b:?}, LlmManager median {m:?}, overhead {:.3} ms (target <= 1 ms)",
        (m.as_secs_f64() - b.as_secs_f64()) * 1000.0
    );
    emit(
        "stream_ttft_overhead",
        (m.as_secs_f64() - b.as_secs_f64()) * 1000.0,
        "ms",
    );

    // Event processing rate on one long answer.
    let long = "word ".repeat(3_000);
    let long_request = ConverseRequest::builder()
        .user_text("Benchmark me at length.")
        .max_tokens(4096)
        .build()
        .unwrap();
    let sim_long = Simulator::start(Scenario::default().with_reply(ScriptedReply::text(long)))
        .await
        .unwrap();
    let manager_long = LlmManager::builder()
        .model(MODEL)
        .region("us-east-1")
        .auth(Auth::static_keys("AKIDBENCH", "bench-secret"))
        .endpoint_url(sim_long.endpoint_url())
        .build()
        .await
        .unwrap();
    let t = Instant::now();
    let mut events = 0u64;
    for _ in 0..20 {
        let mut s = manager_long.converse_stream(&long_request).await.unwrap();
        while let Some(e) = s.next_event().await {
            e.unwrap();
            events += 1;
        }
    }
    let rate = events as f64 / t.elapsed().as_secs_f64();
    // The same streams read with the bare SDK, to separate the simulator's and the SDK's cost
    // from the manager's.
    let sdk_long = aws_sdk_bedrockruntime::Client::new(&sim_long.sdk_config("us-east-1").await);
    let long_message = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("Benchmark me at length.".into()))
        .build()
        .unwrap();
    let t = Instant::now();
    let mut bare_events = 0u64;
    for _ in 0..20 {
        let mut out = sdk_long
            .converse_stream()
            .model_id(MODEL)
            .messages(long_message.clone())
            .inference_config(
                aws_sdk_bedrockruntime::types::InferenceConfiguration::builder()
                    .max_tokens(4096)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        while out.stream.recv().await.unwrap().is_some() {
            bare_events += 1;
        }
    }
    let bare_rate = bare_events as f64 / t.elapsed().as_secs_f64();
    eprintln!(
        "stream events: LlmManager {rate:.0} events/s, bare SDK {bare_rate:.0} events/s on the same streams ({events} and {bare_events} events), ratio {:.2} (target >= 200,000/s)",
        rate / bare_rate
    );
    emit("stream_events_rate", rate, "events/s");

    // Wasted attempts with one of three regions down, after health learning.
    let sim_down =
        Simulator::start(Scenario::default().with_region_down(RegionDown::always("us-west-2")))
            .await
            .unwrap();
    let manager_down = LlmManager::builder()
        .model(MODEL)
        .regions(["us-west-2", "us-east-1", "eu-west-1"])
        .auth(Auth::static_keys("AKIDBENCH", "bench-secret"))
        .endpoint_url(sim_down.endpoint_url())
        // No backoff: the figure is about attempts, not waiting.
        .retry(
            RetryConfig::standard()
                .with_retry_delay(Duration::ZERO)
                .with_max_retry_delay(Duration::ZERO),
        )
        .health(HealthConfig::standard())
        .build()
        .await
        .unwrap();
    let n = 1000;
    let mut wasted = Vec::with_capacity(n);
    for _ in 0..n {
        let r = manager_down.converse(&request).await.unwrap();
        wasted.push(r.attempts.len() - 1);
    }
    let first10: usize = wasted[..10].iter().sum();
    let after: f64 = wasted[10..].iter().sum::<usize>() as f64 / (n - 10) as f64;
    eprintln!(
        "one region of three down: {first10} wasted attempts in the first 10 calls, then {after:.4} per call over {} calls (target < 0.05)",
        n - 10
    );
    emit("wasted_attempts_after_learning", after, "per call");
}

/// One measurement as a JSON line on stdout, the form `cargo xtask bench` reads; the readable
/// lines go to stderr.
fn emit(measure: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({ "measure": measure, "value": value, "unit": unit })
    );
}
