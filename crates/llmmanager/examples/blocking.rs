//! The blocking API, for scripts without async (the way the Python library is used): a call, a
//! stream as an iterator, and a small batch; no `#[tokio::main]` anywhere.
//!
//! ```sh
//! cargo run -p llmmanager --example blocking -- --simulate
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

#[path = "support/sim.rs"]
mod sim;

use std::io::Write as _;

use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{ConverseRequest, LlmManager, StreamEvent, blocking};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // With `--simulate` the simulator runs on background threads of its own.
    let backend = sim::Backend::from_args_blocking()?;
    let manager = blocking::LlmManager::build(
        backend
            .apply(LlmManager::builder())
            .models(["Claude 3 Haiku", "Nova Lite"])
            .regions(["us-east-1", "us-west-2"]),
    )?;

    let request = ConverseRequest::builder()
        .user_text("Why is the sky blue?")
        .max_tokens(120)
        .build()?;
    let response = manager.converse(&request)?;
    println!(
        "converse: {} ({} in {})",
        response.text(),
        response.model_id,
        response.region
    );

    print!("converse_stream: ");
    for event in manager.converse_stream(&request)? {
        match event? {
            StreamEvent::TextDelta { text, .. } => {
                print!("{text}");
                std::io::stdout().flush()?;
            }
            StreamEvent::Completed(done) => {
                println!(
                    " [{} characters, the same answer: {}]",
                    done.text.len(),
                    done.text == response.text()
                );
            }
            _ => {}
        }
    }

    let batch = ["Name a prime number.", "Name a colour.", "Name a river."]
        .iter()
        .enumerate()
        .map(|(i, question)| {
            let request = ConverseRequest::builder()
                .user_text(*question)
                .max_tokens(60)
                .build()?;
            Ok(BatchRequest::new(format!("q{}", i + 1), request))
        })
        .collect::<Result<Vec<_>, llmmanager::Error>>()?;
    let outcome = manager.converse_parallel(ParallelConfig::default(), batch)?;
    println!(
        "converse_parallel: {} of {} succeeded in {:?}",
        outcome.stats().succeeded,
        outcome.len(),
        outcome.stats().total_duration
    );
    Ok(())
}
