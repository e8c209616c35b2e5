//! Typed answers: a Rust type in, a value of that type out, through the best mechanism each
//! model has (native structured output, a forced tool call, or a prompted JSON answer), validated
//! against the type's schema before it is returned.
//!
//! ```sh
//! cargo run -p llmmanager --example structured -- --simulate
//! ```
//!
//! With `--measure N` (simulator only) it makes N typed calls to `--models` (comma-separated,
//! default Claude Haiku 4.5) against a simulator whose structured answers are malformed
//! `--malformed-share` of the time (default 0.3), and reports the share of returned values that
//! are valid and how many answers and attempts a call took:
//!
//! ```sh
//! cargo run -p llmmanager --example structured -- --simulate --measure 1000
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

#[path = "support/sim.rs"]
mod sim;

use std::error::Error;

use futures::StreamExt as _;
use llmmanager::messages::OutputConfig;
use llmmanager::structured::StructuredEvent;
use llmmanager::{CallOptions, ConverseRequest, LlmManager, Schema};
use serde_json::{Value, json};

/// What the model must answer with. The schema comes from the type.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct City {
    /// The city's name.
    name: String,
    /// The country it is in.
    country: String,
    /// How many people live there.
    population: u32,
    /// Whether it lies on a coast.
    coastal: bool,
}

fn arg_after(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

fn question(i: usize) -> Result<ConverseRequest, llmmanager::messages::Error> {
    ConverseRequest::builder()
        .user_text(format!("Name a large city (number {i}) and describe it."))
        .max_tokens(300)
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    if let Some(n) = arg_after("--measure") {
        let share = arg_after("--malformed-share").map_or(Ok(0.3), |s| s.parse::<f64>())?;
        let models = arg_after("--models").unwrap_or_else(|| "Claude Haiku 4.5".to_owned());
        return measure(n.parse()?, share, &models).await;
    }
    let backend = sim::Backend::from_args().await?;
    println!("Asking {}", backend.describe());
    let manager = backend
        .apply(LlmManager::builder())
        .models(["Claude Haiku 4.5", "Nova Lite"])
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await?;

    // 1. A Rust type: the value comes back typed, with the mechanism and every attempt.
    let city = manager.converse_structured::<City>(&question(1)?).await?;
    println!(
        "{} ({}), {} people, coastal: {}; from {} through {}, {} answer(s) rejected",
        city.value.name,
        city.value.country,
        city.value.population,
        city.value.coastal,
        city.response.model_id,
        city.mechanism,
        city.response.validation_failures().count()
    );

    // 2. A raw JSON Schema, for callers without a Rust type.
    let schema = Schema::new(json!({
        "title": "Primes",
        "type": "array",
        "items": {"type": "integer", "minimum": 2},
        "minItems": 3,
        "maxItems": 3
    }))?;
    let primes = manager
        .converse_structured_value(
            &ConverseRequest::builder()
                .user_text("The first three primes.")
                .build()?,
            &schema,
            &CallOptions::default(),
        )
        .await?;
    println!("Primes: {} (through {})", primes.value, primes.mechanism);

    // 3. A stream: the JSON text as it arrives, the typed value at the end.
    let mut stream = manager
        .converse_structured_stream::<City>(&question(2)?)
        .await?;
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event? {
            StructuredEvent::JsonDelta(delta) => text.push_str(&delta),
            StructuredEvent::Restarted { reason } => {
                println!("  (asked again: {reason})");
                text.clear();
            }
            StructuredEvent::Completed(done) => {
                println!(
                    "Streamed {} characters of JSON: {}",
                    text.len(),
                    done.value.name
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// N typed calls to `models` (comma-separated) against a simulator that malforms `share` of its
/// structured answers.
async fn measure(n: usize, share: f64, models: &str) -> Result<(), Box<dyn Error>> {
    if !sim::simulate() {
        return Err("--measure needs --simulate".into());
    }
    let scenario = bedrock_sim::Scenario {
        malformed_structured_share: share,
        ..bedrock_sim::Scenario::default()
    };
    let backend = sim::Backend::from_args_with(scenario).await?;
    let manager = backend
        .apply(LlmManager::builder())
        .models(models.split(','))
        .region("us-east-1")
        .build()
        .await?;
    let schema = Schema::of::<City>()?;

    // Without validation: the share of raw structured answers that are valid.
    let raw = futures::stream::iter(0..n)
        .map(|i| {
            let manager = &manager;
            let schema = &schema;
            async move {
                let request = ConverseRequest::builder()
                    .user_text(format!("Name a large city (number {i}) and describe it."))
                    .output_config(OutputConfig::json_schema(schema.json(), Some("City")))
                    .max_tokens(300)
                    .build()
                    .ok()?;
                let response = manager.converse(&request).await.ok()?;
                let value: Value = serde_json::from_str(&response.text()).ok()?;
                Some(schema.check(&value).is_ok())
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let raw_valid = raw.iter().filter(|v| **v == Some(true)).count();

    // With typed answers.
    let results = futures::stream::iter(0..n)
        .map(|i| {
            let manager = &manager;
            async move {
                let request = question(i).ok()?;
                Some(manager.converse_structured::<City>(&request).await)
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let (mut returned, mut valid, mut failed, mut answers, mut attempts) = (0, 0, 0, 0, 0);
    for result in results.into_iter().flatten() {
        match result {
            Ok(city) => {
                returned += 1;
                answers += city.response.validations.len();
                attempts += city.response.attempts.len();
                let checks = schema.check(&city.json).is_ok()
                    && serde_json::from_value::<City>(city.json.clone()).is_ok();
                if checks {
                    valid += 1;
                }
            }
            Err(error) => {
                failed += 1;
                answers += error.invalid_answers().len();
                attempts += error.attempts().len();
            }
        }
    }
    let calls = returned + failed;
    let per_call = |x: usize| x as f64 / calls.max(1) as f64;
    println!("{n} calls to {models}, malformed share {share}");
    println!(
        "without validation: {raw_valid}/{n} answers valid ({:.1}%)",
        100.0 * raw_valid as f64 / n.max(1) as f64
    );
    println!(
        "typed answers: {returned} returned, {failed} failed; {valid}/{returned} returned values valid ({:.1}%)",
        100.0 * valid as f64 / returned.max(1) as f64
    );
    println!(
        "mean answers per call {:.3}, mean attempts per call {:.3}",
        per_call(answers),
        per_call(attempts)
    );
    Ok(())
}
