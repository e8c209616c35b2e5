//! The token estimate measured against the simulator's counts on the fixture prompts, sent
//! through an SDK client. The table is pinned in a snapshot and quoted in the crate docs.

use bedrock_cache::estimate_request_tokens;
use bedrock_messages::{ContentBlock, DocumentSource};
use bedrock_sim::{Scenario, Simulator};
use serde_json::json;

use crate::support::{HAIKU3, client, fixture, fixtures, send};

/// The original's estimate (`cache_point_manager.py`), for comparison: per message block, text
/// `len // 4`, image 450, document 1,000, video 2,000, anything else 10; the system prompt and
/// tools are not counted.
fn original_estimate(request: &bedrock_messages::ConverseRequest) -> u64 {
    request
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .map(|b| match b {
            ContentBlock::Text(t) => t.chars().count() as u64 / 4,
            ContentBlock::Image(_) => 450,
            ContentBlock::Document(_) => 1_000,
            ContentBlock::Video(_) => 2_000,
            _ => 10,
        })
        .sum()
}

/// Whether the request carries an image or a document.
fn has_media(request: &bedrock_messages::ConverseRequest) -> bool {
    request
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .any(|b| matches!(b, ContentBlock::Image(_) | ContentBlock::Document(_)))
}

fn pct(estimate: u64, counted: u64) -> f64 {
    (estimate as f64 - counted as f64) / counted as f64 * 100.0
}

#[tokio::test]
async fn estimate_vs_simulator() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = client(&sim).await;
    let mut cases = fixtures();
    // The same document sent as UTF-8 bytes instead of inline text.
    let mut as_bytes = fixture("tools-and-document");
    if let Some(ContentBlock::Document(d)) = as_bytes.messages[0].content.first_mut()
        && let DocumentSource::Text(t) = &d.source
    {
        d.source = DocumentSource::Bytes(t.clone().into_bytes().into());
    }
    cases.push((
        "tools-and-document (txt document as bytes)".into(),
        as_bytes,
    ));

    let mut rows = Vec::new();
    let mut text_only_worst = 0.0f64;
    let mut checked = 0;
    for (name, request) in &cases {
        let estimate = estimate_request_tokens(request);
        let u = send(&rt, HAIKU3, request).await;
        let counted = u64::from(u.input_tokens)
            + u64::from(u.cache_read_input_tokens.unwrap_or(0))
            + u64::from(u.cache_write_input_tokens.unwrap_or(0));
        let error_pct = pct(estimate, counted);
        let original = original_estimate(request);
        let original_pct = pct(original, counted);
        // Requests made only of what the estimate sees exactly (text, tool specs): it never
        // exceeds the simulator's count, so a point it places is cached; past a cache minimum's
        // size it is within 1% (the rest is the per-request and per-message framing the
        // simulator adds). Images and documents are a known disagreement: the estimate's flat
        // 1,600 per image and 1,000 per document against the simulator's count from the
        // image's size and the document's text.
        if !has_media(request) {
            assert!(
                estimate <= counted,
                "{name}: estimate {estimate} > {counted}"
            );
            if counted >= 1_000 {
                text_only_worst = text_only_worst.max(error_pct.abs());
                checked += 1;
            }
        }
        println!(
            "{name:<45} estimate {estimate:>6}  simulator {counted:>6}  error {error_pct:+.2}%  original rule {original:>6} ({original_pct:+.2}%)"
        );
        rows.push(json!({
            "request": name,
            "estimate": estimate,
            "simulator": counted,
            "error_pct": (error_pct * 100.0).round() / 100.0,
            "original_rule_estimate": original,
            "original_rule_error_pct": (original_pct * 100.0).round() / 100.0,
        }));
    }
    assert!(checked >= 2, "the text-only fixtures are measured");
    assert!(text_only_worst <= 1.0, "worst error {text_only_worst}%");
    insta::assert_json_snapshot!(rows);
    sim.shutdown().await;
}
