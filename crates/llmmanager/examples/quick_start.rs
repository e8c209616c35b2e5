//! Quick start: one question to the first of two models that answers, in the first of two
//! regions that works; the Rust twin of the Python README's quick start.
//!
//! ```sh
//! cargo run -p llmmanager --example quick_start -- --simulate   # embedded simulator, no AWS
//! cargo run -p llmmanager --example quick_start                 # real Bedrock
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

#[path = "support/sim.rs"]
mod sim;

use llmmanager::{ConverseRequest, LlmManager, Message};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = sim::Backend::from_args().await?; // `--simulate`: a loopback Bedrock
    println!("Sending to {}", backend.describe());

    let manager = backend
        .apply(LlmManager::builder())
        .models(["Claude 3 Haiku", "Nova Lite"]) // fallback order
        .regions(["us-east-1", "us-west-2"]) // failover order
        .build()
        .await?;

    let request = ConverseRequest::builder()
        .message(Message::user().text("Hello! How are you?").build()?)
        .max_tokens(200)
        .build()?;
    let response = manager.converse(&request).await?;

    println!("Answer: {}", response.text());
    println!(
        "Model {} in {} via {:?}, {} attempt(s), {} input + {} output tokens",
        response.model_id,
        response.region,
        response.access_method,
        response.attempt_count(),
        response.usage().input_tokens,
        response.usage().output_tokens,
    );
    Ok(())
}
