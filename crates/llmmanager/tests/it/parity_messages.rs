//! Message features of the Python library, end to end: limits set once on the manager, a stated
//! format that wins when the caller insists, media from S3 with a bucket owner, qualified guard
//! text and redacted reasoning.

use bedrock_sim::{Scenario, ScriptedReply, SimHandle};
use llmmanager::messages::{
    DocumentFormat, FormatPolicy, GuardQualifier, ImageFormat, Limits, Rule, VideoFormat,
};
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{
    CallOptions, ConverseRequest, Error, LlmManager, Message, ParallelLlmManager, Schema,
};
use serde_json::{Value, json};

use crate::support::{HAIKU, manager, sim};

/// A PNG of `len` bytes: the signature, padding and the `IEND` trailer (no `IHDR`, so no
/// dimensions to check).
fn png_of(len: usize) -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    b.resize(len - 8, 0);
    b.extend_from_slice(&[0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]);
    b
}

/// Over Bedrock's documented 3.75 MB for one image.
const BIG_IMAGE: usize = 4_000_000;

async fn haiku(sim: &SimHandle, limits: Option<Limits>) -> LlmManager {
    let mut b = manager(sim).model(HAIKU).region("us-east-1");
    if let Some(limits) = limits {
        b = b.limits(limits);
    }
    b.build().await.unwrap()
}

/// The request sent once through each way of calling, in the order converse, stream,
/// parallel, structured; each result is the answer's text or the error's display.
async fn every_way(m: &LlmManager, request: &ConverseRequest) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    out.push(
        m.converse(request)
            .await
            .map(|r| r.text())
            .map_err(|e| e.to_string()),
    );
    let stream = match m.converse_stream(request).await {
        Ok(s) => s.finish().await.map(|r| r.text),
        Err(e) => Err(e),
    };
    out.push(stream.map_err(|e| e.to_string()));
    let batch = ParallelLlmManager::new(m.clone(), ParallelConfig::default())
        .unwrap()
        .converse_parallel(vec![BatchRequest::new("r1", request.clone())])
        .await
        .unwrap();
    let outcome = batch.into_outcomes().into_iter().next().unwrap();
    out.push(
        outcome
            .result
            .map(|r| r.text())
            .map_err(|e| format!("{:?}", e.service_error().map(ToString::to_string))),
    );
    let schema = Schema::new(json!({
        "type": "object",
        "properties": {"colour": {"type": "string"}},
        "required": ["colour"]
    }))
    .unwrap();
    out.push(
        m.converse_structured_value(request, &schema, &CallOptions::default())
            .await
            .map(|s| s.json.to_string())
            .map_err(|e| chain(&e)),
    );
    out
}

/// An error and its sources, joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

fn big_image_request(builder: llmmanager::messages::ConverseRequestBuilder) -> ConverseRequest {
    builder
        .message_builder(
            Message::user()
                .text("What colour is this image?")
                .image_bytes(png_of(BIG_IMAGE), ImageFormat::Png),
        )
        .max_tokens(64)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_size_limit_raised_on_the_manager_applies_to_every_way_of_calling() {
    let sim = sim(Scenario::default()).await;
    let raised = Limits::bedrock().with_max_image_bytes(5_000_000);
    let m = haiku(&sim, Some(raised)).await;
    assert_eq!(m.limits(), raised);
    // The manager's request builder carries the raised limit into the message builder.
    let request = big_image_request(m.request_builder());
    for (way, result) in every_way(&m, &request).await.into_iter().enumerate() {
        assert!(result.is_ok(), "way {way}: {result:?}");
    }
    let sent = sim.requests();
    assert_eq!(sent.len(), 4, "one request per way of calling");
    for r in &sent {
        let b64 = r.body["messages"][0]["content"][1]["image"]["source"]["bytes"]
            .as_str()
            .unwrap_or_default();
        assert!(b64.len() > BIG_IMAGE, "the image was sent whole");
    }
    // The same request built without the manager fails at once: the default limit.
    let e = ConverseRequest::builder()
        .message_builder(
            Message::user()
                .text("x")
                .image_bytes(png_of(BIG_IMAGE), ImageFormat::Png),
        )
        .build()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::ImageSize));
}

#[tokio::test]
async fn a_size_limit_lowered_on_the_manager_rejects_on_every_way_of_calling_before_sending() {
    let sim = sim(Scenario::default()).await;
    let m = haiku(&sim, Some(Limits::bedrock().with_max_image_bytes(1_000))).await;
    // Built elsewhere with the default limits, the request is checked again by the manager.
    let request = ConverseRequest::builder()
        .message_builder(
            Message::user()
                .text("What colour is this image?")
                .image_bytes(png_of(2_000), ImageFormat::Png),
        )
        .build()
        .unwrap();
    for (way, result) in every_way(&m, &request).await.into_iter().enumerate() {
        let e = result.unwrap_err();
        assert!(e.contains("image size"), "way {way}: {e}");
    }
    assert!(sim.requests().is_empty(), "nothing was sent");
    // Typed as an invalid request, naming the part and the rule.
    match m.converse(&request).await.unwrap_err() {
        Error::InvalidRequest { source: inner } => {
            assert_eq!(inner.rule(), Some(Rule::ImageSize));
            assert_eq!(inner.part(), Some("messages[0].content[1]"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_explicit_format_wins_over_detection_when_the_manager_insists() {
    let notes = std::env::temp_dir().join(format!("llmm-parity-{}-notes.md", std::process::id()));
    std::fs::write(
        &notes,
        "<html><body>Release notes: version 2 is out.</body></html>",
    )
    .unwrap();
    let sim = sim(Scenario::default()).await;
    let sent_format = |sim: &SimHandle| {
        sim.requests().last().unwrap().body["messages"][0]["content"][1]["document"]["format"]
            .clone()
    };

    // By default the content wins, with a mismatch warning.
    let m = haiku(&sim, None).await;
    let request = m
        .request_builder()
        .message_builder(
            Message::user()
                .text("Summarise the notes.")
                .document_file_as(&notes, DocumentFormat::Md, "notes"),
        )
        .build()
        .unwrap();
    let r = m.converse(&request).await.unwrap();
    assert_eq!(sent_format(&sim), json!("html"));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("claimed md but content is html")),
        "{:?}",
        r.warnings
    );

    // Insisting once on the manager: the stated format is sent, with a warning.
    let insist = Limits::bedrock().with_format_policy(FormatPolicy::ClaimWins);
    let m = haiku(&sim, Some(insist)).await;
    let request = m
        .request_builder()
        .message_builder(
            Message::user()
                .text("Summarise the notes.")
                .document_file_as(&notes, DocumentFormat::Md, "notes"),
        )
        .build()
        .unwrap();
    let r = m.converse(&request).await.unwrap();
    assert_eq!(sent_format(&sim), json!("md"));
    assert!(
        r.warnings.iter().any(|w| w.contains("insisted on md")),
        "{:?}",
        r.warnings
    );
    let streamed = m.converse_stream(&request).await.unwrap().finish().await;
    assert!(streamed.is_ok(), "{streamed:?}");
    assert_eq!(sent_format(&sim), json!("md"));

    // A manager that does not insist refuses the insisted request before sending it.
    let before = sim.requests().len();
    let e = haiku(&sim, None)
        .await
        .converse(&request)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidRequest { source } if source.rule() == Some(Rule::Format)),
        "{e:?}"
    );
    assert_eq!(sim.requests().len(), before);
    let _ = std::fs::remove_file(&notes);
}

#[tokio::test]
async fn media_from_s3_with_a_bucket_owner_reach_bedrock() {
    let sim = sim(Scenario::default()).await;
    let m = haiku(&sim, None).await;
    let request = m
        .request_builder()
        .message_builder(
            Message::user()
                .text("Compare the report with the chart.")
                .document_s3(
                    "s3://reports-bucket/2026/q3.pdf",
                    DocumentFormat::Pdf,
                    "q3 report",
                )
                .with_bucket_owner("111122223333")
                .with_citations()
                .image_s3("s3://reports-bucket/2026/chart.png", ImageFormat::Png)
                .with_bucket_owner("111122223333"),
        )
        .max_tokens(64)
        .build()
        .unwrap();
    m.converse(&request).await.unwrap();
    m.converse_stream(&request)
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    for sent in sim.requests() {
        let content = &sent.body["messages"][0]["content"];
        assert_eq!(
            content[1]["document"]["source"],
            json!({"s3Location": {"uri": "s3://reports-bucket/2026/q3.pdf", "bucketOwner": "111122223333"}})
        );
        assert_eq!(
            content[1]["document"]["citations"],
            json!({"enabled": true})
        );
        assert_eq!(
            content[2]["image"]["source"]["s3Location"]["bucketOwner"],
            json!("111122223333")
        );
    }
    // A malformed location is refused before sending.
    let e = m
        .request_builder()
        .message_builder(
            Message::user()
                .text("x")
                .video_s3("s3:/no-bucket", VideoFormat::Mp4),
        )
        .build()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::S3Location));
}

#[tokio::test]
async fn guard_qualifiers_and_redacted_reasoning_go_out_and_come_back() {
    let sim = sim(Scenario::default().with_reply(ScriptedReply::content(vec![
        json!({"reasoningContent": {"redactedContent": "AQID"}}),
        json!({"text": "Thirty days."}),
    ])))
    .await;
    let m = haiku(&sim, None).await;
    let request = m
        .request_builder()
        .system_guard_text(
            "Answer from the handbook only.",
            [GuardQualifier::GuardContent],
        )
        .message_builder(
            Message::user()
                .guard_text_qualified(
                    "Leave is 30 days a year.",
                    [GuardQualifier::GroundingSource],
                )
                .guard_text_qualified("How long is leave?", [GuardQualifier::Query]),
        )
        .message_builder(
            Message::assistant()
                .redacted_reasoning(vec![9u8, 9, 9])
                .text("Let me check."),
        )
        .user_text("Go on.")
        .max_tokens(64)
        .build()
        .unwrap();
    let r = m.converse(&request).await.unwrap();
    let redacted: Vec<Vec<u8>> = r.output.redacted_reasoning().map(|b| b.to_vec()).collect();
    assert_eq!(redacted, [vec![1u8, 2, 3]]);
    assert_eq!(r.text(), "Thirty days.");

    let body: Value = sim.requests()[0].body.clone();
    assert_eq!(
        body["system"][0]["guardContent"]["text"]["qualifiers"],
        json!(["guard_content"])
    );
    assert_eq!(
        body["messages"][0]["content"][0]["guardContent"]["text"]["qualifiers"],
        json!(["grounding_source"])
    );
    assert_eq!(
        body["messages"][0]["content"][1]["guardContent"]["text"],
        json!({"text": "How long is leave?", "qualifiers": ["query"]})
    );
    assert_eq!(
        body["messages"][1]["content"][0],
        json!({"reasoningContent": {"redactedContent": "CQkJ"}})
    );
}
