//! Streaming: text printed as it arrives, then what the whole answer cost; the Rust twin of the
//! Python README's `converse_stream` example. A stream that fails mid-answer goes on on another
//! target and says so with a `Recovered` event.
//!
//! ```sh
//! cargo run -p llmmanager --example streaming -- --simulate
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

#[path = "support/sim.rs"]
mod sim;

use std::io::Write as _;

use llmmanager::{ConverseRequest, LlmManager, StreamEvent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = sim::Backend::from_args().await?;
    let manager = backend
        .apply(LlmManager::builder())
        .models(["Claude 3 Haiku", "Nova Lite"])
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await?;

    let request = ConverseRequest::builder()
        .user_text("Tell me a short story about a lighthouse keeper.")
        .max_tokens(300)
        .build()?;

    let mut stream = manager.converse_stream(&request).await?;
    let mut deltas = 0;
    while let Some(event) = stream.next_event().await {
        match event? {
            StreamEvent::Started { target, .. } => println!("[streaming from {target}]"),
            StreamEvent::TextDelta { text, .. } => {
                deltas += 1;
                print!("{text}");
                std::io::stdout().flush()?;
            }
            StreamEvent::Recovered(recovery) => {
                println!("\n[{:?} after: {}]", recovery.kind, recovery.reason);
            }
            StreamEvent::Completed(done) => {
                println!();
                let usage = done.usage.unwrap_or_default();
                let stop = done
                    .stop_reason
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |reason| format!("{reason:?}"));
                println!(
                    "[done: {deltas} text deltas, {} characters, stop reason {stop}, {} output tokens, \
                     first token after {:?}]",
                    done.text.chars().count(),
                    usage.output_tokens,
                    done.time_to_first_token.unwrap_or_default(),
                );
            }
            _ => {}
        }
    }
    Ok(())
}
