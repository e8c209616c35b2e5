//! Response validation: the answer must be JSON with the fields asked for; a rejected answer is
//! shown to the model with the reason, and it is asked again. The Rust twin of the Python
//! README's `ResponseValidationConfig` example (there, a rejected response is re-checked; here
//! the model gives a fresh answer).
//!
//! The request also asks for JSON natively (Bedrock structured output), so the model that
//! supports it usually gets it right the first time; the validator is the guarantee.
//!
//! ```sh
//! cargo run -p llmmanager --example validation -- --simulate
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

#[path = "support/sim.rs"]
mod sim;

use llmmanager::messages::OutputConfig;
use llmmanager::{CallOptions, ConverseRequest, LlmManager, ValidationConfig, ValidationResult};
use serde_json::{Value, json};

/// Accepts an answer that is a JSON object with a string `city` and a numeric `population`.
fn is_city_json(text: &str) -> ValidationResult {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return ValidationResult::invalid("The answer must be valid JSON and nothing else.");
    };
    let mut missing = Vec::new();
    if !value["city"].is_string() {
        missing.push("city (a string)");
    }
    if !value["population"].is_number() {
        missing.push("population (a number)");
    }
    if missing.is_empty() {
        ValidationResult::Valid
    } else {
        ValidationResult::invalid_with_details(
            format!("The JSON lacks {}.", missing.join(" and ")),
            json!({ "missing": missing }),
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = sim::Backend::from_args().await?;
    let manager = backend
        .apply(LlmManager::builder())
        .models(["Claude Haiku 4.5", "Claude Sonnet 4.5"]) // both take structured output
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await?;

    let schema = json!({
        "type": "object",
        "properties": {
            "city": { "type": "string" },
            "population": { "type": "integer", "minimum": 0 }
        },
        "required": ["city", "population"]
    });
    let request = ConverseRequest::builder()
        .system("Answer with a JSON object only.")
        .user_text("Which is the largest city of Norway, and how many people live there?")
        .output_config(OutputConfig::json_schema(&schema, Some("city")))
        .max_tokens(200)
        .build()?;
    let validation = ValidationConfig::new(|answer| is_city_json(&answer.text()))
        .with_retries(2) // two fresh answers per target before moving on
        .with_feedback(true); // tell the model what was wrong

    let response = manager
        .converse_with(
            &request,
            &CallOptions::default().with_validation(validation),
        )
        .await?;

    let answer: Value = serde_json::from_str(&response.text())?;
    println!("Validated JSON from {}: {answer}", response.model_id);
    println!(
        "{} validation(s), {} rejected",
        response.validations.len(),
        response.validation_failures().count()
    );
    for rejected in response.validation_failures() {
        println!(
            "  rejected #{} from {}: {:?}",
            rejected.number, rejected.target, rejected.result
        );
    }
    Ok(())
}
