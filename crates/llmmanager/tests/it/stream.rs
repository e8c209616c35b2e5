//! `LlmManager::converse_stream`: failover before the first token, recovery after it.

use std::time::Duration;

use bedrock_retry::ErrorClass;
use bedrock_sim::{
    BedrockErrorKind, Fault, FaultRule, LatencyModel, LatencyRule, Operation, Scenario,
    StreamExceptionKind,
};
use futures::StreamExt;
use llmmanager::{
    ConverseStream, Error, Hedging, RecoveryKind, StreamEvent, StreamRecovery, StreamResponse,
    Timeouts,
};

use crate::support::{HAIKU, NOVA_LITE, east_west, hello, manager, sim};

/// What a consumer following the documented rules holds at the end, and every event.
async fn consume(
    mut stream: ConverseStream,
) -> (String, Vec<StreamEvent>, Result<StreamResponse, Error>) {
    let mut text = String::new();
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::Completed(response)) => return (text, events, Ok(*response)),
            Ok(event) => {
                match &event {
                    StreamEvent::TextDelta { text: t, .. } => text.push_str(t),
                    StreamEvent::Recovered(r) if r.kind == RecoveryKind::Restarted => text.clear(),
                    _ => {}
                }
                events.push(event);
            }
            Err(e) => return (text, events, Err(e)),
        }
    }
    panic!("the stream ended without Completed or an error");
}

fn stream_fault(fault: Fault) -> FaultRule {
    FaultRule::new(fault)
        .operations([Operation::ConverseStream])
        .calls([1])
}

#[tokio::test]
async fn a_clean_stream_delivers_ordered_events_and_the_aggregate() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    let (text, events, result) = consume(m.converse_stream(&hello()).await.unwrap()).await;
    let response = result.unwrap();
    assert!(!text.is_empty());
    assert_eq!(text, response.text);
    assert!(matches!(
        events.first(),
        Some(StreamEvent::Started { attempt: 1, .. })
    ));
    assert!(matches!(events.last(), Some(StreamEvent::Metadata { .. })));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::MessageStop { .. }))
    );
    assert_eq!(response.region, "us-east-1");
    assert_eq!(response.attempts.len(), 1);
    assert!(response.recoveries.is_empty());
    assert!(response.time_to_first_token.is_some());
    assert!(response.usage.unwrap().output_tokens > 0);
}

#[tokio::test]
async fn failures_before_the_first_token_fail_over_silently() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).region("us-east-1"),
    );
    let sim = sim(scenario).await;
    let m = east_west(&sim).build().await.unwrap();
    let (text, events, result) = consume(m.converse_stream(&hello()).await.unwrap()).await;
    let response = result.unwrap();
    assert_eq!(response.region, "us-west-2");
    assert_eq!(response.attempts[0].class, Some(ErrorClass::Throttled));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::Recovered(_)))
    );
    assert_eq!(text, response.text);
}

#[track_caller]
fn assert_recovered(events: &[StreamEvent], response: &StreamResponse, kind: RecoveryKind) {
    let recoveries: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Recovered(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(recoveries.len(), 1, "{events:#?}");
    assert_eq!(recoveries[0].kind, kind);
    assert!(recoveries[0].chars > 0, "the failure came after some text");
    assert_eq!(response.recoveries.len(), 1);
    assert_eq!(response.attempts.len(), 2);
}

/// Every mid-stream fault kind, recovered by continuing (Anthropic accepts prefill).
#[tokio::test]
async fn mid_stream_faults_are_continued_on_the_next_target() {
    let faults = [
        Fault::StreamCut {
            after_events: 4,
            abrupt: false,
        },
        Fault::StreamCut {
            after_events: 4,
            abrupt: true,
        },
        Fault::StreamException {
            after_events: 4,
            exception: StreamExceptionKind::ModelStreamErrorException,
            message: None,
            original_status_code: Some(500),
        },
        Fault::StreamException {
            after_events: 4,
            exception: StreamExceptionKind::ThrottlingException,
            message: None,
            original_status_code: None,
        },
        Fault::Stall { after_events: 4 },
    ];
    for fault in faults {
        let sim = sim(Scenario::default().with_fault(stream_fault(fault.clone()))).await;
        let m = east_west(&sim)
            .timeouts(Timeouts::default().with_stream_idle(Duration::from_millis(300)))
            .build()
            .await
            .unwrap();
        let request = hello();
        let (text, events, result) = consume(m.converse_stream(&request).await.unwrap()).await;
        let response = result.unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_recovered(&events, &response, RecoveryKind::Continued);
        assert_eq!(
            text, response.text,
            "{fault:?}: the consumer holds exactly the answer"
        );
        let partial: String = text.chars().take(response.recoveries[0].chars).collect();
        assert!(text.starts_with(&partial));
        // The second request carried the partial answer as an assistant prefill.
        let sent = sim.requests();
        let messages = sent[1].body["messages"].as_array().unwrap();
        let last = messages.last().unwrap();
        assert_eq!(last["role"], "assistant", "{fault:?}");
        assert_eq!(
            last["content"][0]["text"].as_str().unwrap(),
            partial.trim_end()
        );
        assert_eq!(request, hello(), "the caller's request is never modified");
        // The simulator continues a prefilled answer exactly: the recovered answer reads like the
        // uninterrupted one.
        let uninterrupted = m.converse(&hello()).await.unwrap();
        assert_eq!(response.text, uninterrupted.text(), "{fault:?}");
    }
}

#[tokio::test]
async fn models_without_prefill_restart_and_say_so() {
    let fault = Fault::StreamCut {
        after_events: 4,
        abrupt: true,
    };
    let sim = sim(Scenario::default().with_fault(stream_fault(fault))).await;
    let m = manager(&sim)
        .model(NOVA_LITE)
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await
        .unwrap();
    let (text, events, result) = consume(m.converse_stream(&hello()).await.unwrap()).await;
    let response = result.unwrap();
    assert_recovered(&events, &response, RecoveryKind::Restarted);
    assert_eq!(text, response.text);
    let sent = sim.requests();
    assert_eq!(
        sent[1].body["messages"].as_array().unwrap().len(),
        1,
        "a restart sends the original request"
    );
}

#[tokio::test]
async fn restart_can_be_forced() {
    let fault = Fault::StreamCut {
        after_events: 4,
        abrupt: false,
    };
    let sim = sim(Scenario::default().with_fault(stream_fault(fault))).await;
    let m = east_west(&sim)
        .stream_recovery(StreamRecovery::Restart)
        .build()
        .await
        .unwrap();
    let (text, events, result) = consume(m.converse_stream(&hello()).await.unwrap()).await;
    let response = result.unwrap();
    assert_recovered(&events, &response, RecoveryKind::Restarted);
    assert_eq!(text, response.text);
}

#[tokio::test]
async fn an_unrecoverable_stream_ends_with_the_partial_text_and_every_attempt() {
    let fault = Fault::StreamCut {
        after_events: 4,
        abrupt: true,
    };
    let sim = sim(Scenario::default()
        .with_fault(FaultRule::new(fault).operations([Operation::ConverseStream])))
    .await;
    let m = east_west(&sim)
        .stream_recovery(StreamRecovery::Restart)
        .retry(crate::support::quick(
            llmmanager::RetryConfig::standard().with_max_attempts(3),
        ))
        .build()
        .await
        .unwrap();
    let (text, _events, result) = consume(m.converse_stream(&hello()).await.unwrap()).await;
    let Err(Error::StreamFailed {
        attempts,
        partial_text,
        ..
    }) = result
    else {
        panic!("{result:?}")
    };
    assert_eq!(attempts.len(), 3);
    assert!(!partial_text.is_empty());
    assert_eq!(
        partial_text, text,
        "the error carries what the consumer holds"
    );
}

#[tokio::test]
async fn dropping_the_stream_stops_the_call() {
    let sim = sim(Scenario::default().with_fault(FaultRule::new(Fault::Hang))).await;
    let m = east_west(&sim).build().await.unwrap();
    let mut stream = m.converse_stream(&hello()).await.unwrap();
    // The call runs as the stream is polled: poll until the simulator has seen the first attempt.
    while sim.stats().requests == 0 {
        tokio::select! {
            item = stream.next() => panic!("a hanging target cannot answer: {item:?}"),
            () = tokio::task::yield_now() => {}
        }
    }
    drop(stream);
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(sim.stats().requests, 1);
}

#[tokio::test]
async fn a_continuation_never_gets_whitespace_the_model_did_not_send() {
    // us-east-1 sends "Hello world " (one delta of 12 characters) and is cut; the prefill sent to
    // us-west-2 is "Hello world" (Bedrock rejects trailing whitespace), and us-west-2 continues
    // without a leading space. The consumer already holds the space: nothing is added.
    let scenario = Scenario::from_json_str(
        r#"{"latency": {"time_to_first_token_ms": 0, "tokens_per_second": 0, "tokens_per_delta": 3},
            "faults": [{"region": "us-east-1", "operations": ["converse_stream"], "calls": [1],
                        "fault": {"kind": "stream_cut", "after_events": 2}}],
            "replies": [{"region": "us-east-1", "text": "Hello world and more"},
                        {"region": "us-west-2", "text": "Hello worldand more"}]}"#,
    )
    .unwrap();
    let sim = sim(scenario).await;
    let m = east_west(&sim).build().await.unwrap();
    let (text, events, result) = consume(m.converse_stream(&hello()).await.unwrap()).await;
    let response = result.unwrap();
    assert_eq!(response.recoveries.len(), 1, "{events:?}");
    assert_eq!(response.recoveries[0].kind, RecoveryKind::Continued);
    assert_eq!(response.text, "Hello world and more");
    assert_eq!(text, response.text, "the consumer holds exactly the answer");
}

#[tokio::test]
async fn huge_timeouts_saturate_instead_of_panicking() {
    let sim = sim(Scenario::default()).await;
    let m = east_west(&sim)
        .timeouts(
            Timeouts::default()
                .with_stream_idle(Duration::MAX)
                .with_per_attempt(Duration::MAX)
                .with_total(Duration::MAX),
        )
        .build()
        .await
        .unwrap();
    let streamed = m.converse_stream(&hello()).await.unwrap().finish().await;
    assert!(streamed.is_ok(), "{streamed:?}");
    let answered = m.converse(&hello()).await;
    assert!(answered.is_ok(), "{answered:?}");
}

#[tokio::test]
async fn a_later_attempt_may_read_its_stream_until_the_calls_deadline() {
    // us-east-1 never answers: its attempt ends at the 600 ms attempt timeout. us-west-2 then
    // streams for about 950 ms, ending about 1.55 s into the call, inside its 1.8 s deadline
    // (and after 1.2 s, where a read window that counted the first attempt twice would end).
    let scenario = Scenario::from_json_str(
        r#"{"latency": {"time_to_first_token_ms": 50, "tokens_per_second": 60},
            "output_tokens": {"min": 54, "max": 54},
            "faults": [{"region": "us-east-1", "fault": {"kind": "hang"}}]}"#,
    )
    .unwrap();
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .timeouts(
            Timeouts::default()
                .with_per_attempt(Duration::from_millis(600))
                .with_total(Duration::from_millis(1800))
                .with_stream_idle(Duration::from_secs(5)),
        )
        .build()
        .await
        .unwrap();
    let response = m
        .converse_stream(&hello())
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(response.region, "us-west-2");
    assert_eq!(response.attempts.len(), 2);
}

/// Reads `stream` up to its first text delta; the stream must still be running then.
async fn read_to_first_text(stream: &mut ConverseStream) {
    while let Some(event) = stream.next_event().await {
        match event.unwrap() {
            StreamEvent::TextDelta { .. } => return,
            StreamEvent::Completed(_) => panic!("the stream ended before the test dropped it"),
            _ => {}
        }
    }
    panic!("the stream ended without text");
}

/// `(model region, attempts, successes, lost, dropped)` of every target in `m`'s statistics.
fn target_counts(m: &llmmanager::LlmManager) -> Vec<(String, u64, u64, u64, u64)> {
    m.stats()
        .targets
        .iter()
        .map(|t| {
            assert!(t.failures.is_empty(), "{t:?}");
            (t.region.clone(), t.attempts, t.successes, t.lost, t.dropped)
        })
        .collect()
}

#[tokio::test]
async fn a_stream_dropped_mid_answer_counts_as_a_dropped_call_and_a_completed_one_does_not() {
    // The first text comes at once, the next after 600 ms.
    let sim = sim(Scenario::default().with_latency(LatencyModel::new(10, 5.0))).await;
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    let mut stream = m.converse_stream(&hello()).await.unwrap();
    read_to_first_text(&mut stream).await;
    drop(stream);
    let stats = m.stats();
    assert_eq!(
        (
            stats.calls_succeeded,
            stats.calls_failed,
            stats.calls_dropped
        ),
        (0, 0, 1)
    );
    assert_eq!(
        target_counts(&m),
        [("us-east-1".to_owned(), 1, 0, 0, 1)],
        "the attempt was sent, and was running when the stream was dropped"
    );

    // A stream read to its end and then dropped is counted once, as the call it was.
    let stream = m.converse_stream(&hello()).await.unwrap();
    stream.finish().await.unwrap();
    let stats = m.stats();
    assert_eq!(
        (
            stats.calls_succeeded,
            stats.calls_failed,
            stats.calls_dropped
        ),
        (1, 0, 1)
    );
    assert_eq!(target_counts(&m), [("us-east-1".to_owned(), 2, 1, 0, 1)]);

    // A stream dropped before it was polled sent nothing and counts nowhere.
    drop(m.converse_stream(&hello()).await.unwrap());
    assert_eq!(m.stats().calls_dropped, 1);
    assert_eq!(sim.requests().len(), 2);
}

#[tokio::test]
async fn a_hedged_stream_dropped_mid_race_counts_both_attempts() {
    // us-east-1 is slow to its first token, us-west-2 less so: after the 100 ms hedge both run.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(1_500, 0.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(3_000, 0.0)).region("us-east-1"));
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .hedging(Hedging::after(Duration::from_millis(100)).max_share(1.0))
        .build()
        .await
        .unwrap();
    let sleep = bedrock_retry::TokioSleep::new();
    let mut stream = m.converse_stream(&hello()).await.unwrap();
    let waited =
        bedrock_retry::timeout(&sleep, Duration::from_millis(400), stream.next_event()).await;
    assert!(waited.is_err(), "nothing reaches the consumer mid-race");
    drop(stream);
    assert_eq!(sim.requests().len(), 2, "Bedrock got both requests");
    let stats = m.stats();
    assert_eq!(
        (
            stats.calls_succeeded,
            stats.calls_failed,
            stats.calls_dropped
        ),
        (0, 0, 1)
    );
    assert_eq!((stats.hedges, stats.hedges_won), (1, 0));
    assert_eq!(
        target_counts(&m),
        [
            ("us-east-1".to_owned(), 1, 0, 0, 1),
            ("us-west-2".to_owned(), 1, 0, 0, 1)
        ]
    );
}

#[tokio::test]
async fn a_hedged_stream_dropped_after_the_race_counts_the_loser_as_lost() {
    // The hedge on us-west-2 wins the race and answers slowly; the consumer drops it mid-answer.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(10, 5.0))
        .with_latency_rule(LatencyRule::new(LatencyModel::new(3_000, 5.0)).region("us-east-1"));
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .hedging(Hedging::after(Duration::from_millis(100)).max_share(1.0))
        .build()
        .await
        .unwrap();
    let mut stream = m.converse_stream(&hello()).await.unwrap();
    read_to_first_text(&mut stream).await;
    drop(stream);
    let stats = m.stats();
    assert_eq!(stats.calls_dropped, 1);
    assert_eq!((stats.hedges, stats.hedges_won), (1, 0));
    assert_eq!(
        target_counts(&m),
        [
            ("us-east-1".to_owned(), 1, 0, 1, 0),
            ("us-west-2".to_owned(), 1, 0, 0, 1)
        ]
    );
}
