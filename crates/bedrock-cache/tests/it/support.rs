//! Shared helpers: the fixture requests, the model used against the simulator and an SDK
//! client for it.

use std::path::{Path, PathBuf};

use bedrock_catalog::{Catalog, PromptCaching};
use bedrock_messages::ConverseRequest;
use bedrock_sim::SimHandle;

/// Claude 3 Haiku: prompt caching with a 2,048-token minimum, direct access in us-east-1.
pub(crate) const HAIKU3: &str = "anthropic.claude-3-haiku-20240307-v1:0";

pub(crate) fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cache")
}

/// Every fixture request, by file stem, sorted.
pub(crate) fn fixtures() -> Vec<(String, ConverseRequest)> {
    let mut out: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, load(&p))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 4,
        "fixtures/cache holds the representative requests"
    );
    out
}

pub(crate) fn load(path: &Path) -> ConverseRequest {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub(crate) fn fixture(name: &str) -> ConverseRequest {
    load(&fixture_dir().join(format!("{name}.json")))
}

/// The model's caching limits from the bundled catalog, the same facts the simulator uses.
pub(crate) fn haiku_caching() -> PromptCaching {
    let catalog = Catalog::bundled().unwrap();
    catalog
        .resolve(HAIKU3)
        .unwrap()
        .capabilities
        .prompt_caching
        .expect("Claude 3 Haiku supports prompt caching in the catalog")
}

pub(crate) async fn client(sim: &SimHandle) -> aws_sdk_bedrockruntime::Client {
    aws_sdk_bedrockruntime::Client::new(&sim.sdk_config("us-east-1").await)
}

/// Sends `request` to `model` and returns the usage the simulator reported.
pub(crate) async fn send(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
    request: &ConverseRequest,
) -> bedrock_messages::TokenUsage {
    let call = bedrock_messages::sdk::apply_to_converse(request, client.converse().model_id(model))
        .unwrap();
    let out = call.send().await.unwrap();
    bedrock_messages::TokenUsage::try_from(out.usage().unwrap()).unwrap()
}
