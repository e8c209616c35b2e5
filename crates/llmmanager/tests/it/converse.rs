//! `LlmManager::converse`: failover, fallback, validation, health, deadlines, cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bedrock_messages::{DocumentFormat, Message};
use bedrock_retry::{ErrorClass, GiveUpReason, HealthConfig, RetryConfig};
use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, ModelCaps, RegionDown, Scenario};
use llmmanager::{
    AccessMethod, ConverseRequest, Error, ErrorKind, Timeouts, ValidationConfig, ValidationResult,
};

use crate::support::{HAIKU, NOVA_LITE, east_west, hello, manager, sim};

#[tokio::test]
async fn answers_from_the_first_target() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model("Claude 3 Haiku")
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await
        .unwrap();
    let r = m.converse(&hello()).await.unwrap();
    assert!(!r.text().is_empty());
    assert_eq!(
        (r.model_id.as_str(), r.region.as_str()),
        (HAIKU, "us-east-1")
    );
    assert_eq!(r.access_method, AccessMethod::Direct);
    assert_eq!(r.invoke_id, HAIKU);
    assert_eq!(r.attempts.len(), 1);
    assert!(r.usage().output_tokens > 0);
    let seen = sim.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].region, "us-east-1");
    assert_eq!(seen[0].model_id.as_deref(), Some(HAIKU));
}

#[tokio::test]
async fn a_throttled_region_falls_over_to_the_next() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).region("us-east-1"),
    );
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .model("Claude 3 Haiku")
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await
        .unwrap();
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(r.region, "us-west-2");
    assert_eq!(r.attempts.len(), 2);
    assert_eq!(r.attempts[0].class, Some(ErrorClass::Throttled));
    assert_eq!(r.attempts[0].target.region, "us-east-1");
    assert!(
        r.attempts[0]
            .message
            .as_deref()
            .unwrap_or("")
            .contains("ThrottlingException")
    );
    assert_eq!(r.attempts[1].class, None);
}

#[tokio::test]
async fn an_unavailable_target_is_skipped_without_retries() {
    // Access denied in us-east-1: that target is skipped for the rest of the call, even though
    // us-west-2 keeps failing transiently and attempts remain.
    let scenario = Scenario::default()
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::AccessDeniedException))
                .region("us-east-1"),
        )
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ServiceUnavailableException))
                .region("us-west-2"),
        );
    let sim = sim(scenario).await;
    let m = east_west(&sim).build().await.unwrap();
    let err = m.converse(&hello()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Exhausted);
    let east = err
        .attempts()
        .iter()
        .filter(|a| a.target.region == "us-east-1")
        .count();
    let west = err
        .attempts()
        .iter()
        .filter(|a| a.target.region == "us-west-2")
        .count();
    assert_eq!(east, 1, "{:#?}", err.attempts());
    assert_eq!(west, 5);
    assert_eq!(sim.stats().by_region.get("us-east-1"), Some(&1));
}

#[tokio::test]
async fn all_targets_failing_gives_every_attempt() {
    let scenario = Scenario::default().with_fault(FaultRule::new(Fault::error(
        BedrockErrorKind::InternalServerException,
    )));
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .models(["Claude 3 Haiku", "Nova Lite"])
        .regions(["us-east-1", "us-west-2"])
        .retry(crate::support::quick(
            RetryConfig::standard().with_max_attempts(4),
        ))
        .build()
        .await
        .unwrap();
    let err = m.converse(&hello()).await.unwrap_err();
    let Error::Exhausted {
        reason,
        attempts,
        last_error,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*reason, GiveUpReason::AttemptsExhausted { max_attempts: 4 });
    // Region-first: both regions of the first model, then the second model.
    let order: Vec<(&str, &str)> = attempts
        .iter()
        .map(|a| (a.target.model.as_str(), a.target.region.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (HAIKU, "us-east-1"),
            (HAIKU, "us-west-2"),
            (NOVA_LITE, "us-east-1"),
            (NOVA_LITE, "us-west-2")
        ]
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.class == Some(ErrorClass::Transient))
    );
    assert_eq!(
        last_error.as_ref().and_then(|e| e.code()),
        Some("InternalServerException")
    );
    assert_eq!(sim.stats().requests, 4);
}

#[tokio::test]
async fn a_rejected_feature_is_dropped_and_reported() {
    let caps = ModelCaps {
        documents: Some(false),
        ..ModelCaps::default()
    };
    let sim = sim(Scenario::default().with_model_caps(HAIKU, caps)).await;
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    let request = ConverseRequest::builder()
        .message(
            Message::user()
                .text("Summarise the notes.")
                .document_bytes(b"Meeting at noon.".to_vec(), DocumentFormat::Txt, "notes")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let r = m.converse(&request).await.unwrap();
    assert_eq!(r.attempts.len(), 2);
    assert_eq!(r.attempts[0].class, Some(ErrorClass::BadRequest));
    assert!(
        r.warnings.iter().any(|w| w.contains("document")),
        "{:?}",
        r.warnings
    );
    let sent = sim.requests();
    assert!(sent[0].body.to_string().contains("\"document\""));
    assert!(!sent[1].body.to_string().contains("\"document\""));
    assert_eq!(
        request.messages[0].content.len(),
        2,
        "the caller's request is untouched"
    );
}

#[tokio::test]
async fn a_bad_request_without_fallback_fails_fast() {
    let caps = ModelCaps {
        documents: Some(false),
        ..ModelCaps::default()
    };
    let sim = sim(Scenario::default().with_model_caps(HAIKU, caps)).await;
    let m = east_west(&sim)
        .retry(crate::support::quick(
            RetryConfig::standard().with_feature_fallback(false),
        ))
        .build()
        .await
        .unwrap();
    let request = ConverseRequest::builder()
        .message(
            Message::user()
                .text("Summarise.")
                .document_bytes(b"x".to_vec(), DocumentFormat::Txt, "notes")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let err = m.converse(&request).await.unwrap_err();
    assert_eq!(err.attempts().len(), 1);
    assert_eq!(err.last_class(), Some(ErrorClass::BadRequest));
}

#[tokio::test]
async fn a_rejected_answer_is_asked_again_with_feedback() {
    let sim = sim(Scenario::default()).await;
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let validation = ValidationConfig::new(move |_r| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            ValidationResult::invalid("answer must be JSON")
        } else {
            ValidationResult::Valid
        }
    })
    .with_feedback(true);
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .validation(validation)
        .build()
        .await
        .unwrap();
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(r.validations.len(), 2);
    assert_eq!(
        r.validations[0].result,
        ValidationResult::invalid("answer must be JSON")
    );
    assert_eq!(r.validations[1].result, ValidationResult::Valid);
    let sent = sim.requests();
    assert_eq!(
        sent.len(),
        2,
        "the model was asked again, not the same answer re-checked"
    );
    let second = sent[1].body["messages"].as_array().unwrap();
    assert_eq!(second.len(), 3);
    assert!(second[2].to_string().contains("answer must be JSON"));
}

#[tokio::test]
async fn validation_failures_move_to_the_next_target() {
    let sim = sim(Scenario::default()).await;
    let validation =
        ValidationConfig::new(|_r| ValidationResult::invalid("never good")).with_retries(1);
    let m = east_west(&sim)
        .retry(crate::support::quick(
            RetryConfig::standard().with_max_attempts(2),
        ))
        .validation(validation)
        .build()
        .await
        .unwrap();
    let err = m.converse(&hello()).await.unwrap_err();
    assert_eq!(err.attempts().len(), 2);
    assert_eq!(sim.stats().requests, 4, "two answers per target");
}

#[tokio::test]
async fn after_cool_down_calls_go_straight_to_a_healthy_region() {
    let sim = sim(Scenario::default().with_region_down(RegionDown::always("us-east-1"))).await;
    let m = east_west(&sim)
        .health(
            HealthConfig::standard()
                .with_failure_threshold(2)
                .with_cool_down(Duration::from_secs(600)),
        )
        .build()
        .await
        .unwrap();
    let mut wasted = Vec::new();
    for _ in 0..5 {
        let r = m.converse(&hello()).await.unwrap();
        assert_eq!(r.region, "us-west-2");
        wasted.push(r.attempts.len() - 1);
    }
    assert_eq!(
        wasted,
        [1, 1, 0, 0, 0],
        "after two failures us-east-1 cools down"
    );
    assert_eq!(m.targets()[0].region, "us-west-2");
}

#[tokio::test]
async fn the_total_deadline_holds_when_every_target_hangs() {
    let sim = sim(Scenario::default().with_fault(FaultRule::new(Fault::Hang))).await;
    let m = east_west(&sim)
        .timeouts(
            Timeouts::default()
                .with_per_attempt(Duration::from_millis(150))
                .with_total(Duration::from_millis(400)),
        )
        .retry(crate::support::quick(
            RetryConfig::standard().with_max_attempts(50),
        ))
        .build()
        .await
        .unwrap();
    let err = m.converse(&hello()).await.unwrap_err();
    assert!(err.attempts().len() <= 4, "{:#?}", err.attempts());
    assert!(
        err.attempts()
            .iter()
            .all(|a| a.class == Some(ErrorClass::Transient))
    );
    assert!(
        matches!(
            &err,
            Error::Exhausted {
                reason: GiveUpReason::DeadlineExceeded { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn dropping_the_call_stops_further_attempts() {
    let sim = sim(Scenario::default().with_fault(FaultRule::new(Fault::Hang))).await;
    let m = east_west(&sim).build().await.unwrap();
    let request = hello();
    let mut call = Box::pin(m.converse(&request));
    // Drive the call until the simulator has seen the first attempt, then drop it.
    loop {
        tokio::select! {
            _ = &mut call => panic!("a hanging target cannot answer"),
            () = tokio::task::yield_now() => {}
        }
        if sim.stats().requests >= 1 {
            break;
        }
    }
    drop(call);
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(sim.stats().requests, 1);
}

#[tokio::test]
async fn invalid_requests_fail_before_any_network_call() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    let mut request = hello();
    request.messages.clear();
    let err = m.converse(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(sim.stats().requests, 0);
}

#[tokio::test]
async fn configuration_errors_name_the_problem() {
    let sim = sim(Scenario::default()).await;
    let err = manager(&sim)
        .model("Claude 3 Haiku")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("region"), "{err}");
    let err = manager(&sim)
        .model("Llama 3.1 70B Instruct")
        .region("eu-west-1")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not offered"), "{err}");
    let err = manager(&sim)
        .model("Claude 9 Sonnet Ultra")
        .region("us-east-1")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
}

#[tokio::test]
async fn preferred_regions_are_tried_first_and_can_be_exclusive() {
    let sim = sim(Scenario::default().with_region_down(RegionDown::always("eu-west-1"))).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(["us-east-1", "us-west-2", "eu-west-1"])
        .build()
        .await
        .unwrap();
    let r = m
        .converse_with(
            &hello(),
            &llmmanager::CallOptions::prefer_regions(["us-west-2"], true),
        )
        .await
        .unwrap();
    assert_eq!(r.region, "us-west-2");
    let r = m
        .converse_with(
            &hello(),
            &llmmanager::CallOptions::prefer_regions(["eu-west-1"], true),
        )
        .await
        .unwrap();
    assert_eq!(r.attempts[0].target.region, "eu-west-1");
    assert_eq!(r.region, "us-east-1");
    let err = m
        .converse_with(
            &hello(),
            &llmmanager::CallOptions::prefer_regions(["eu-west-1"], false),
        )
        .await
        .unwrap_err();
    assert!(
        err.attempts()
            .iter()
            .all(|a| a.target.region == "eu-west-1"),
        "{err}"
    );
}

#[tokio::test]
async fn the_cache_strategy_places_points_and_the_second_call_reads_the_cache() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .cache(llmmanager::CacheConfig::conservative())
        .build()
        .await
        .unwrap();
    let long_system = "You are a meticulous assistant for the shipping department. ".repeat(200);
    let request = ConverseRequest::builder()
        .system(long_system)
        .user_text("Which form do I need for a parcel to Norway?")
        .max_tokens(64)
        .build()
        .unwrap();
    let first = m.converse(&request).await.unwrap();
    let second = m.converse(&request).await.unwrap();
    assert!(
        first.usage().cache_write_input_tokens.unwrap_or(0) > 2048,
        "{:?}",
        first.usage()
    );
    assert_eq!(
        second.usage().cache_read_input_tokens,
        first.usage().cache_write_input_tokens
    );
    let efficiency = second.cache_efficiency();
    assert!(efficiency.hit_ratio() > 0.9, "{efficiency:?}");
    assert!(
        efficiency.cost_saved_usd.unwrap_or(0.0) > 0.0,
        "{efficiency:?}"
    );
    assert!(
        request.system.len() == 1,
        "the caller's request is untouched"
    );
    let sent = &sim.requests()[0].body;
    assert!(sent["system"].to_string().contains("cachePoint"), "{sent}");
}

#[tokio::test]
async fn a_model_without_caching_gets_no_points_and_a_warning() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .model("meta.llama3-8b-instruct-v1:0")
        .region("us-east-1")
        .cache(llmmanager::CacheConfig::aggressive())
        .build()
        .await
        .unwrap();
    let request = ConverseRequest::builder()
        .system("Be brief. ".repeat(1000))
        .user_text("Hi")
        .build()
        .unwrap();
    let r = m.converse(&request).await.unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("cach")),
        "{:?}",
        r.warnings
    );
    assert!(!sim.requests()[0].body.to_string().contains("cachePoint"));
}

#[tokio::test]
async fn per_call_validation_sees_who_answered_and_reports_details() {
    let sim = sim(Scenario::default()).await;
    // The manager's own validation accepts everything; this call's rejects us-east-1's answers.
    let m = manager(&sim)
        .model(HAIKU)
        .regions(["us-east-1", "us-west-2"])
        .validation(ValidationConfig::new(|_| ValidationResult::Valid))
        .build()
        .await
        .unwrap();
    let strict = ValidationConfig::with_context(|_, who| {
        if who.region == "us-east-1" {
            ValidationResult::invalid_with_details(
                "answers from us-east-1 are not accepted",
                serde_json::json!({"model": who.model_id, "number": who.number}),
            )
        } else {
            ValidationResult::Valid
        }
    })
    .with_retries(0);
    let options = llmmanager::CallOptions::default().with_validation(strict);
    let r = m.converse_with(&hello(), &options).await.unwrap();
    assert_eq!(r.region, "us-west-2");
    assert!(r.had_validation_failures());
    let failures: Vec<_> = r.validation_failures().collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].result,
        ValidationResult::invalid_with_details(
            "answers from us-east-1 are not accepted",
            serde_json::json!({"model": HAIKU, "number": 1}),
        )
    );
    // Without the per-call validation, the manager's own applies.
    let plain = m.converse(&hello()).await.unwrap();
    assert_eq!(plain.region, "us-east-1");
    assert!(!plain.had_validation_failures());
}

#[tokio::test]
async fn plan_for_says_where_a_call_would_go_without_sending() {
    let sim = sim(Scenario::default()).await;
    let m = manager(&sim)
        .models([HAIKU, NOVA_LITE])
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await
        .unwrap();
    let plan = m.plan_for(&llmmanager::CallOptions::prefer_regions(
        ["us-west-2"],
        true,
    ));
    let order: Vec<(String, String, String)> = plan
        .iter()
        .map(|p| {
            (
                p.target.model.clone(),
                p.target.region.clone(),
                p.invoke_id.clone(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (HAIKU.into(), "us-west-2".into(), HAIKU.into()),
            (HAIKU.into(), "us-east-1".into(), HAIKU.into()),
            (NOVA_LITE.into(), "us-west-2".into(), NOVA_LITE.into()),
            (NOVA_LITE.into(), "us-east-1".into(), NOVA_LITE.into()),
        ]
    );
    assert_eq!(sim.stats().requests, 0, "planning sends nothing");
}

#[tokio::test]
async fn stats_count_attempts_per_target_and_error_rules_classify_the_callers_way() {
    // us-east-1 answers with an error code Bedrock does not have; a rule makes it throttling.
    let scenario = Scenario::from_json_str(
        r#"{"faults": [{"region": "us-east-1", "calls": [1],
                        "fault": {"kind": "error", "error": "ValidationException",
                                  "message": "UpstreamBusy: the gateway is busy"}}]}"#,
    )
    .unwrap();
    let sim = sim(scenario).await;
    let m = east_west(&sim)
        .error_rule(llmmanager::classify::ErrorRule::message_contains(
            "upstreambusy",
            ErrorClass::Throttled,
        ))
        .build()
        .await
        .unwrap();
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(r.attempts[0].class, Some(ErrorClass::Throttled));
    assert_eq!(r.region, "us-west-2");
    m.converse(&hello()).await.unwrap();
    let stats = m.stats();
    assert_eq!((stats.calls_succeeded, stats.calls_failed), (2, 0));
    let east = stats
        .targets
        .iter()
        .find(|t| t.region == "us-east-1")
        .unwrap();
    assert_eq!((east.attempts, east.successes), (2, 1));
    assert_eq!(east.failures.get("throttled"), Some(&1));
    assert_eq!(east.health, "healthy");
    let west = stats
        .targets
        .iter()
        .find(|t| t.region == "us-west-2")
        .unwrap();
    assert_eq!((west.attempts, west.successes), (1, 1));
}

#[tokio::test]
async fn catalog_options_fetch_the_catalog_with_the_managers_credentials_and_endpoint() {
    let sim = sim(Scenario::default()).await;
    let m = east_west(&sim)
        .catalog_options(
            llmmanager::CatalogOptions::default()
                .with_cache_mode(llmmanager::catalog::CacheMode::None)
                .with_fallback_to_bundled(false),
        )
        .build()
        .await
        .unwrap();
    assert_eq!(
        m.catalog().metadata().source,
        llmmanager::catalog::DataSource::Api
    );
    let control_plane = sim.stats().by_operation;
    assert!(
        control_plane
            .keys()
            .any(|op| op.contains("list_foundation_models") || op.contains("ListFoundationModels")),
        "{control_plane:?}"
    );
    assert!(!m.converse(&hello()).await.unwrap().text().is_empty());
}

#[tokio::test]
async fn responses_and_their_attempts_serialise_in_one_call() {
    let sim = sim(Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).region("us-east-1"),
    ))
    .await;
    let m = east_west(&sim).build().await.unwrap();
    let r = m.converse(&hello()).await.unwrap();
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["region"], "us-west-2");
    assert_eq!(json["access_method"], "direct");
    assert_eq!(json["attempts"][0]["class"], "throttled");
    assert_eq!(json["attempts"][0]["target"]["region"], "us-east-1");
    assert!(json["attempts"][1]["class"].is_null());
    assert!(json["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(json["output"]["stopReason"], r.stop_reason().as_str());
    let streamed = m
        .converse_stream(&hello())
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    let json = serde_json::to_value(&streamed).unwrap();
    assert_eq!(json["text"], streamed.text);
    assert!(json["time_to_first_token_ms"].is_number());
}

#[tokio::test]
async fn per_model_fields_reach_only_their_model_and_defaults_fill_unset_sampling() {
    // Haiku fails in us-east-1 so the call moves on to Nova Lite there.
    let sim = sim(Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ServiceUnavailableException)).model(HAIKU),
    ))
    .await;
    let m = manager(&sim)
        .models([HAIKU, NOVA_LITE])
        .region("us-east-1")
        .model_request_fields("Claude 3 Haiku", serde_json::json!({"top_k": 40}))
        .default_inference_config(llmmanager::messages::InferenceConfig {
            temperature: Some(0.2),
            max_tokens: Some(999),
            ..Default::default()
        })
        .build()
        .await
        .unwrap();
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(r.model_id, NOVA_LITE);
    let sent = sim.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body["additionalModelRequestFields"]["top_k"], 40);
    assert!(
        sent[1].body.get("additionalModelRequestFields").is_none(),
        "Nova Lite never sees Haiku's fields: {}",
        sent[1].body
    );
    for s in &sent {
        let t = s.body["inferenceConfig"]["temperature"].as_f64().unwrap();
        assert!((t - 0.2).abs() < 1e-6);
        assert_eq!(
            s.body["inferenceConfig"]["maxTokens"], 64,
            "the request's own value wins"
        );
    }
    let unknown = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .model_request_fields("Nova Lite", serde_json::json!({}))
        .build()
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("not configured"), "{unknown}");
}

#[tokio::test]
async fn reasoning_citations_and_unmodelled_blocks_are_read_from_the_answer() {
    let scenario = Scenario::from_json_str(
        r#"{"replies": [{"content": [
            {"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "sig-1"}}},
            {"text": "Rivers flow downhill."},
            {"citationsContent": {"content": [{"text": " Gravity."}],
                                  "citations": [{"title": "Physics", "location": {"documentChar": {"documentIndex": 0, "start": 0, "end": 7}}}]}},
            {"searchResult": {"source": "https://e.x", "title": "t", "content": [{"text": "found"}]}}
        ]}]}"#,
    )
    .unwrap();
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .model(HAIKU)
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    let r = m.converse(&hello()).await.unwrap();
    assert_eq!(r.output.reasoning_text().as_deref(), Some("Let me think."));
    assert_eq!(r.output.reasoning_signature(), Some("sig-1"));
    let titles: Vec<_> = r.output.citations().map(|c| c.title.clone()).collect();
    assert_eq!(titles, [Some("Physics".to_owned())]);
    assert_eq!(r.text(), "Rivers flow downhill. Gravity.");
    let raw: Vec<_> = r
        .output
        .unmodelled_blocks()
        .map(|b| b.kind().to_owned())
        .collect();
    assert_eq!(raw, ["searchResult"]);
    assert!(
        r.warnings.iter().any(|w| w.contains("searchResult")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.attempts.len(), 1);
}

/// The guardrail's trace, which the SDK's types drop, reaches the caller typed; cache writes come
/// with their time to live.
#[tokio::test]
async fn a_guardrail_trace_and_cache_details_reach_the_caller() {
    use bedrock_messages::{GuardrailConfig, GuardrailTrace};
    let sim = sim(Scenario::default()).await;
    let m = east_west(&sim).build().await.unwrap();
    let long_system = "You answer in one word. ".repeat(400);
    let request = ConverseRequest::builder()
        .system(long_system)
        .system_cache_point()
        .user_text("Say hello.")
        .max_tokens(64)
        .guardrail(GuardrailConfig {
            guardrail_identifier: "gr-policy".to_owned(),
            guardrail_version: "DRAFT".to_owned(),
            trace: Some(GuardrailTrace::Enabled),
            stream_processing_mode: None,
        })
        .build()
        .unwrap();
    let response = m.converse(&request).await.unwrap();
    let trace = response
        .output
        .guardrail_trace()
        .expect("the guardrail trace is kept");
    assert!(
        trace.input_assessment.contains_key("gr-policy"),
        "{trace:?}"
    );
    assert_eq!(trace.output_assessments["gr-policy"].len(), 1);
    assert!(
        trace.interventions().is_empty(),
        "the simulator's guardrail passes everything"
    );
    let usage = response.usage();
    let written = usage.cache_write_input_tokens.unwrap_or(0);
    assert!(written > 0, "{usage:?}");
    let details = usage.cache_details.expect("cache details");
    assert_eq!((details.five_minutes, details.one_hour), (written, 0));
    // Without a trace asked for, there is none.
    let mut plain = request.clone();
    plain.guardrail_config = None;
    let response = m.converse(&plain).await.unwrap();
    assert!(response.output.guardrail_trace().is_none());
}

/// A field of the request body newer than the request model goes out verbatim at the top level
/// of the body, on every path; one the model names is refused before anything is sent.
#[tokio::test]
async fn extra_request_fields_are_sent_at_the_top_of_the_body() {
    let sim = sim(Scenario::default()).await;
    let m = east_west(&sim).build().await.unwrap();
    let request = ConverseRequest::builder()
        .user_text("Say hello.")
        .max_tokens(32)
        .extra_field("futureSetting", serde_json::json!({"level": 2}))
        .build()
        .unwrap();
    m.converse(&request).await.unwrap();
    let stream = m.converse_stream(&request).await.unwrap();
    stream.finish().await.unwrap();
    let sent = sim.requests();
    assert_eq!(sent.len(), 2);
    for r in &sent {
        assert_eq!(
            r.body["futureSetting"],
            serde_json::json!({"level": 2}),
            "{r:?}"
        );
        assert_eq!(r.body["inferenceConfig"]["maxTokens"], 32);
        assert_eq!(r.outcome, "ok");
    }
    let refused = ConverseRequest::builder()
        .user_text("Say hello.")
        .extra_field("inferenceConfig", serde_json::json!({"maxTokens": 5}))
        .build()
        .unwrap_err();
    assert_eq!(refused.rule(), Some(bedrock_messages::Rule::ExtraField));
    assert!(refused.to_string().contains("inferenceConfig"), "{refused}");
}
