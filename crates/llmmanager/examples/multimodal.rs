//! A multimodal message: an image and a PDF document with a question about both, built with
//! the fluent message builder; the Rust twin of the Python README's `ConverseMessageBuilder`
//! example (`create_user_message().add_text(..).add_local_image(..).add_local_document(..)`).
//!
//! ```sh
//! cargo run -p llmmanager --example multimodal -- --simulate
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

#[path = "support/sim.rs"]
mod sim;

use std::path::Path;

use llmmanager::{ConverseRequest, LlmManager, Message};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = sim::Backend::from_args().await?;
    let manager = backend
        .apply(LlmManager::builder())
        .models(["Claude 3 Haiku", "Nova Lite"])
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await?;

    // The workspace's test media, found wherever the example is started from.
    let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media");
    let message = Message::user()
        .text("Describe the picture, then summarise the report in one sentence.")
        .image_file(media.join("sample.png")) // format detected from the bytes
        .document_file_named(media.join("sample.pdf"), "Quarterly report")
        .build()?; // every Bedrock limit (sizes, counts, names) checked here
    let request = ConverseRequest::builder()
        .system("You describe pictures precisely and summarise documents briefly.")
        .message(message)
        .max_tokens(512)
        .build()?;
    println!(
        "Sending 1 text, 1 image and 1 document block to {}",
        backend.describe()
    );

    let response = manager.converse(&request).await?;
    println!("Answer: {}", response.text());
    println!(
        "Model {} in {}: {} input tokens (the image and the PDF's page included), {} output",
        response.model_id,
        response.region,
        response.usage().input_tokens,
        response.usage().output_tokens,
    );
    for warning in &response.warnings {
        println!("Warning: {warning}");
    }
    Ok(())
}
