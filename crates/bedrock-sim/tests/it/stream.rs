//! ConverseStream: typed events in Bedrock's order, agreement with Converse, and stream faults.

use std::time::Duration;

use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput as Ev, StopReason,
};
use bedrock_sim::{Fault, FaultRule, LatencyModel, Scenario, Simulator, StreamExceptionKind};

use crate::support::{HAIKU3, reply_text, runtime, user};

/// Short names of the received events, the concatenated text, and the final result.
async fn drain(
    out: &mut aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput,
) -> (
    Vec<&'static str>,
    String,
    Result<(), ConverseStreamOutputError>,
) {
    let mut names = Vec::new();
    let mut text = String::new();
    loop {
        match out.stream.recv().await {
            Ok(Some(ev)) => names.push(match ev {
                Ev::MessageStart(_) => "messageStart",
                Ev::ContentBlockStart(_) => "contentBlockStart",
                Ev::ContentBlockDelta(d) => {
                    if let Some(ContentBlockDelta::Text(t)) = d.delta() {
                        text.push_str(t);
                    }
                    "contentBlockDelta"
                }
                Ev::ContentBlockStop(_) => "contentBlockStop",
                Ev::MessageStop(_) => "messageStop",
                Ev::Metadata(_) => "metadata",
                _ => "unknown",
            }),
            Ok(None) => return (names, text, Ok(())),
            Err(e) => return (names, text, Err(e.into_service_error())),
        }
    }
}

#[tokio::test]
async fn stream_matches_converse_and_bedrock_event_order() {
    let sim = Simulator::start(Scenario::default().with_seed(3))
        .await
        .unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let mut out = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("stream please"))
        .send()
        .await
        .unwrap();
    let mut stop = None;
    let mut usage = None;
    let mut names = Vec::new();
    let mut text = String::new();
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            Ev::MessageStart(m) => {
                assert_eq!(m.role().as_str(), "assistant");
                names.push("messageStart");
            }
            Ev::ContentBlockDelta(d) => {
                assert_eq!(d.content_block_index(), 0);
                text.push_str(d.delta().unwrap().as_text().unwrap());
                names.push("delta");
            }
            Ev::ContentBlockStop(_) => names.push("stop"),
            Ev::MessageStop(m) => {
                stop = Some(m.stop_reason().clone());
                names.push("messageStop");
            }
            Ev::Metadata(m) => {
                usage = m.usage().cloned();
                names.push("metadata");
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(names.first(), Some(&"messageStart"));
    assert_eq!(
        &names[names.len() - 3..],
        ["stop", "messageStop", "metadata"]
    );
    assert!(
        names.iter().filter(|n| **n == "delta").count() > 1,
        "text arrives in several deltas"
    );
    assert_eq!(stop, Some(StopReason::EndTurn));
    // The same request through Converse yields the same text and usage.
    let whole = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("stream please"))
        .send()
        .await
        .unwrap();
    assert_eq!(text, reply_text(&whole));
    assert_eq!(usage.as_ref(), whole.usage());
    sim.shutdown().await;
}

#[tokio::test]
async fn tool_use_streams_a_start_event_and_json_fragments() {
    let sim = Simulator::start(Scenario::default().with_tool_use_when_offered(true))
        .await
        .unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let tool = aws_sdk_bedrockruntime::types::Tool::ToolSpec(
        aws_sdk_bedrockruntime::types::ToolSpecification::builder()
            .name("lookup")
            .input_schema(aws_sdk_bedrockruntime::types::ToolInputSchema::Json(
                aws_smithy_types::Document::Object(
                    [
                        ("type".to_owned(), "object".into()),
                        (
                            "required".to_owned(),
                            aws_smithy_types::Document::Array(vec!["query".into(), "limit".into()]),
                        ),
                        (
                            "properties".to_owned(),
                            aws_smithy_types::Document::Object(
                                [
                                    (
                                        "query".to_owned(),
                                        aws_smithy_types::Document::Object(
                                            [("type".to_owned(), "string".into())].into(),
                                        ),
                                    ),
                                    (
                                        "limit".to_owned(),
                                        aws_smithy_types::Document::Object(
                                            [("type".to_owned(), "integer".into())].into(),
                                        ),
                                    ),
                                ]
                                .into(),
                            ),
                        ),
                    ]
                    .into(),
                ),
            ))
            .build()
            .unwrap(),
    );
    let cfg = aws_sdk_bedrockruntime::types::ToolConfiguration::builder()
        .tools(tool)
        .build()
        .unwrap();
    let mut out = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("find"))
        .tool_config(cfg)
        .send()
        .await
        .unwrap();
    let mut input = String::new();
    let mut started = None;
    let mut stop = None;
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            Ev::ContentBlockStart(s) => {
                let Some(ContentBlockStart::ToolUse(t)) = s.start() else {
                    panic!("toolUse start")
                };
                started = Some((s.content_block_index(), t.name().to_owned()));
            }
            Ev::ContentBlockDelta(d) => {
                input.push_str(d.delta().unwrap().as_tool_use().unwrap().input())
            }
            Ev::MessageStop(m) => stop = Some(m.stop_reason().clone()),
            _ => {}
        }
    }
    assert_eq!(started, Some((0, "lookup".to_owned())));
    assert_eq!(stop, Some(StopReason::ToolUse));
    let parsed: serde_json::Value = serde_json::from_str(&input).unwrap();
    assert!(parsed["query"].is_string(), "{parsed}");
    assert!(parsed["limit"].is_i64(), "{parsed}");
    sim.shutdown().await;
}

#[tokio::test]
async fn in_stream_exceptions_are_typed() {
    let scenario = Scenario::default()
        .with_fault(
            FaultRule::new(Fault::StreamException {
                after_events: 2,
                exception: StreamExceptionKind::ModelStreamErrorException,
                message: Some("model broke".into()),
                original_status_code: Some(500),
            })
            .calls([1]),
        )
        .with_fault(
            FaultRule::new(Fault::StreamException {
                after_events: 1,
                exception: StreamExceptionKind::ThrottlingException,
                message: None,
                original_status_code: None,
            })
            .calls([2]),
        );
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let send = || {
        rt.converse_stream()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
    };
    let mut out = send().await.unwrap();
    let (names, _, res) = drain(&mut out).await;
    assert_eq!(names, ["messageStart", "contentBlockDelta"]);
    match res {
        Err(ConverseStreamOutputError::ModelStreamErrorException(e)) => {
            assert_eq!(e.message(), Some("model broke"));
            assert_eq!(e.original_status_code(), Some(500));
        }
        other => panic!("expected ModelStreamErrorException, got {other:?}"),
    }
    let mut out = send().await.unwrap();
    let (names, _, res) = drain(&mut out).await;
    assert_eq!(names, ["messageStart"]);
    match res {
        Err(ConverseStreamOutputError::ThrottlingException(e)) => {
            assert_eq!(
                e.message(),
                Some("Too many requests, please wait before trying again.")
            );
        }
        other => panic!("expected ThrottlingException, got {other:?}"),
    }
    assert_eq!(sim.stats().by_outcome["modelStreamErrorException"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn clean_and_abrupt_stream_cuts() {
    let scenario = Scenario::default()
        .with_fault(
            FaultRule::new(Fault::StreamCut {
                after_events: 3,
                abrupt: false,
            })
            .calls([1]),
        )
        .with_fault(
            FaultRule::new(Fault::StreamCut {
                after_events: 3,
                abrupt: true,
            })
            .calls([2]),
        );
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let send = || {
        rt.converse_stream()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
    };
    let mut out = send().await.unwrap();
    let (names, _, res) = drain(&mut out).await;
    assert_eq!(names.len(), 3);
    assert!(
        res.is_ok(),
        "clean cut ends the stream without error: {res:?}"
    );
    let mut out = send().await.unwrap();
    let mut n = 0;
    let err = loop {
        match out.stream.recv().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("abrupt cut must not end cleanly"),
            Err(e) => break e,
        }
    };
    assert_eq!(n, 3);
    assert!(
        matches!(
            err,
            aws_sdk_bedrockruntime::error::SdkError::DispatchFailure(_)
        ),
        "an IO error mid-body: {err:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stall_sends_no_bytes_but_keeps_the_connection() {
    let scenario = Scenario::default().with_fault(FaultRule::new(Fault::Stall { after_events: 1 }));
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let mut out = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        out.stream.recv().await,
        Ok(Some(Ev::MessageStart(_)))
    ));
    let next = tokio::time::timeout(Duration::from_millis(300), out.stream.recv()).await;
    assert!(next.is_err(), "no further event while stalled");
    assert_eq!(sim.stats().by_outcome["stall"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_model_paces_the_stream() {
    let scenario = Scenario::default().with_latency(LatencyModel::new(20, 1000.0));
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let mut out = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    let mut latency = None;
    let mut output_tokens = 0;
    while let Some(ev) = out.stream.recv().await.unwrap() {
        if let Ev::Metadata(m) = ev {
            latency = Some(m.metrics().unwrap().latency_ms());
            output_tokens = m.usage().unwrap().output_tokens();
        }
    }
    assert_eq!(
        latency,
        Some(20 + i64::from(output_tokens)),
        "metrics report the modeled latency"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn paced_streams_carry_faults_too() {
    let scenario = Scenario::default()
        .with_latency(LatencyModel {
            tokens_per_delta: Some(1),
            ..LatencyModel::new(1, 10_000.0)
        })
        .with_fault(FaultRule::new(Fault::StreamException {
            after_events: 4,
            exception: StreamExceptionKind::InternalServerException,
            message: None,
            original_status_code: None,
        }));
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let mut out = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    let (names, text, res) = drain(&mut out).await;
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta"
        ]
    );
    assert_eq!(
        text.chars().count(),
        12,
        "three deltas of one token (4 chars) each"
    );
    assert!(
        matches!(
            res,
            Err(ConverseStreamOutputError::InternalServerException(_))
        ),
        "{res:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn stream_faults_counted_from_the_end() {
    let scenario = Scenario::default()
        .with_fault(FaultRule::new(Fault::stream_cut_from_end(1, false)).calls([1]))
        .with_fault(FaultRule::new(Fault::stream_cut_from_end(2, true)).calls([2]))
        .with_fault(
            FaultRule::new(
                Fault::stream_exception_from_end(1, StreamExceptionKind::ThrottlingException)
                    .with_message("late throttle"),
            )
            .calls([3]),
        )
        .with_fault(FaultRule::new(Fault::stall_from_end(1)).calls([4]))
        .with_fault(FaultRule::new(Fault::stream_cut_from_end(100, false)).calls([5]));
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let send = || {
        rt.converse_stream()
            .model_id(HAIKU3)
            .messages(user("count from the end"))
            .send()
    };
    let full = {
        let expected = rt
            .converse()
            .model_id(HAIKU3)
            .messages(user("count from the end"))
            .send()
            .await
            .unwrap();
        reply_text(&expected)
    };

    // Everything up to and including messageStop, then a clean end before metadata.
    let mut out = send().await.unwrap();
    let (names, text, res) = drain(&mut out).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(names.last(), Some(&"messageStop"));
    assert!(!names.contains(&"metadata"));
    assert_eq!(text, full);

    // Abrupt, two from the end: contentBlockStop arrives, messageStop does not.
    let mut out = send().await.unwrap();
    let (names, _, res) = drain(&mut out).await;
    assert_eq!(names.last(), Some(&"contentBlockStop"));
    assert!(res.is_err());

    // An exception frame in place of metadata.
    let mut out = send().await.unwrap();
    let (names, _, res) = drain(&mut out).await;
    assert_eq!(names.last(), Some(&"messageStop"));
    let err = res.unwrap_err();
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(
        aws_sdk_bedrockruntime::error::ProvideErrorMetadata::message(&err),
        Some("late throttle")
    );

    // A stall before metadata.
    let mut out = send().await.unwrap();
    let mut last = None;
    loop {
        match tokio::time::timeout(Duration::from_millis(300), out.stream.recv()).await {
            Ok(Ok(Some(ev))) => last = Some(ev),
            Ok(other) => panic!("a stalled stream must not end: {other:?}"),
            Err(_) => break,
        }
    }
    assert!(matches!(last, Some(Ev::MessageStop(_))), "{last:?}");

    // Holding back more events than there are sends nothing.
    let mut out = send().await.unwrap();
    let (names, _, res) = drain(&mut out).await;
    assert!(names.is_empty() && res.is_ok(), "{names:?} {res:?}");

    let outcomes = sim.stats().by_outcome;
    assert_eq!(outcomes["stream_cut"], 2);
    assert_eq!(outcomes["stream_cut_abrupt"], 1);
    assert_eq!(outcomes["throttlingException"], 1);
    assert_eq!(outcomes["stall"], 1);
}

#[test]
fn from_end_faults_in_scenario_json() {
    let s = Scenario::from_json_str(
        r#"{"faults":[
            {"fault":{"kind":"stream_cut","after_events":1,"from_end":true}},
            {"fault":{"kind":"stall","after_events":2,"from_end":true}},
            {"fault":{"kind":"stream_exception","after_events":1,"from_end":true,"exception":"modelStreamErrorException","original_status_code":503}},
            {"fault":{"kind":"stream_cut","after_events":3,"abrupt":true}}
        ]}"#,
    )
    .unwrap();
    let faults: Vec<Fault> = s.faults.iter().map(|r| r.fault.clone()).collect();
    assert_eq!(
        faults,
        [
            Fault::stream_cut_from_end(1, false),
            Fault::stall_from_end(2),
            Fault::stream_exception_from_end(1, StreamExceptionKind::ModelStreamErrorException)
                .with_original_status_code(503),
            Fault::stream_cut(3, true),
        ]
    );
    let again = Scenario::from_json_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(again, s);
}
