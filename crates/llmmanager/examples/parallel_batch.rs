//! A parallel batch: several questions at once, spread over regions with bounded concurrency,
//! every outcome reported by id; the Rust twin of the Python README's `ParallelLLMManager`
//! example.
//!
//! ```sh
//! cargo run -p llmmanager --example parallel_batch -- --simulate
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

#[path = "support/sim.rs"]
mod sim;

use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{ConverseRequest, LlmManager, ParallelLlmManager};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = sim::Backend::from_args().await?;
    let manager = backend
        .apply(LlmManager::builder())
        .models(["Claude 3 Haiku", "Nova Lite"])
        .regions(["us-east-1", "us-west-2", "eu-west-1"])
        .build()
        .await?;
    let parallel = ParallelLlmManager::new(
        manager,
        ParallelConfig::default()
            .with_max_concurrency(5)
            .with_target_regions_per_request(Some(2)), // each request may fail over once
    )?;

    let questions = [
        ("capital-fr", "What is the capital of France?"),
        ("capital-jp", "What is the capital of Japan?"),
        ("capital-br", "What is the capital of Brazil?"),
        ("capital-ke", "What is the capital of Kenya?"),
        ("capital-au", "What is the capital of Australia?"),
        ("capital-ca", "What is the capital of Canada?"),
    ];
    let requests = questions
        .iter()
        .map(|(id, question)| {
            let request = ConverseRequest::builder()
                .user_text(*question)
                .max_tokens(100)
                .build()?;
            Ok(BatchRequest::new(*id, request))
        })
        .collect::<Result<Vec<_>, llmmanager::Error>>()?;

    let batch = parallel.converse_parallel(requests).await?;
    for outcome in batch.outcomes() {
        match &outcome.result {
            Ok(response) => {
                let text = response.text();
                let preview: String = text.chars().take(60).collect();
                println!(
                    "{:<10} {:<9} {:>5} ms  {preview}...",
                    outcome.id.to_string(),
                    response.region,
                    outcome.duration.as_millis()
                );
            }
            Err(error) => println!("{:<10} failed: {error}", outcome.id.to_string()),
        }
    }
    let stats = batch.stats();
    println!(
        "{} of {} succeeded ({:.0}%), {} attempts, {} output tokens, in {:?}",
        stats.succeeded,
        stats.total,
        batch.success_rate() * 100.0,
        stats.attempts,
        stats.usage.output_tokens,
        stats.total_duration,
    );
    let regions: Vec<String> = stats
        .per_region
        .iter()
        .map(|(region, counts)| {
            format!(
                "{region} {} assigned first, {} answered",
                counts.primary, counts.succeeded
            )
        })
        .collect();
    println!("Per region: {}", regions.join("; "));
    if !batch.all_succeeded() {
        println!("Failed ids: {:?}", batch.failed_ids());
    }
    Ok(())
}
