//! Prompt caching: a long system prompt gets a cache point from the conservative strategy, the
//! first call writes it to the cache and the second reads it; the Rust twin of the Python
//! README's `CacheConfig(enabled=True, strategy=CacheStrategy.CONSERVATIVE)` example.
//!
//! ```sh
//! cargo run -p llmmanager --example caching -- --simulate
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

#[path = "support/sim.rs"]
mod sim;

use llmmanager::{CacheConfig, ConverseRequest, LlmManager, Response};

fn report(label: &str, response: &Response) {
    let usage = response.usage();
    println!(
        "{label}: {} input tokens, {} written to the cache, {} read from it ({} in {})",
        usage.input_tokens,
        usage.cache_write_input_tokens.unwrap_or(0),
        usage.cache_read_input_tokens.unwrap_or(0),
        response.model_id,
        response.region,
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = sim::Backend::from_args().await?;
    let manager = backend
        .apply(LlmManager::builder())
        .model("Claude 3 Haiku")
        .region("us-east-1") // a cache lives in one region
        .cache(CacheConfig::conservative())
        .build()
        .await?;

    // Caching pays off for a long prefix shared by many calls (Claude 3 Haiku caches from 2,048
    // tokens on).
    let handbook = "Parcels to Norway need a customs declaration (form CN22 up to 300 SDR, CN23 \
                    above), the sender's and the recipient's phone numbers, and an invoice in \
                    English for goods. "
        .repeat(60);
    let system = format!("You answer questions for the shipping department.\n\n{handbook}");
    let questions = [
        "Which form do I need for a parcel to Norway worth 100 SDR?",
        "Which form do I need for a parcel to Norway worth 500 SDR?",
    ];

    let mut responses = Vec::new();
    for question in questions {
        let request = ConverseRequest::builder()
            .system(system.clone())
            .user_text(question)
            .max_tokens(100)
            .build()?;
        responses.push(manager.converse(&request).await?);
    }
    for (label, response) in ["First call ", "Second call"].iter().zip(&responses) {
        report(label, response);
    }
    if let Some(second) = responses.last() {
        let efficiency = second.cache_efficiency();
        println!(
            "Second call: {:.0}% of its input came from the cache, ${:.6} saved",
            efficiency.hit_ratio() * 100.0,
            efficiency.cost_saved_usd.unwrap_or(0.0),
        );
    }
    Ok(())
}
