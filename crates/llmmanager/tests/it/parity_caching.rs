//! Prompt-caching options of the Python library, end to end: a model that rejects cache points
//! is retried without them and sent none for a while (on `converse`, `converse_stream` and
//! `ParallelLlmManager`, with two models), caller-listed unsupported models, the cache point
//! threshold and automatic caching of the system prompt.

use std::sync::Arc;
use std::time::Duration;

use bedrock_retry::ManualClock;
use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Scenario, SimHandle};
use llmmanager::cache::{CacheRule, MessagePosition};
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{CacheConfig, ConverseRequest, LlmManager, Message, ParallelLlmManager};

use crate::support::{HAIKU, manager, sim};

/// A second model with prompt caching (minimum 2,048 tokens, like Claude 3 Haiku).
const HAIKU_35: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

/// Bedrock's answer to cache points from a model or account that does not allow them.
const NO_CACHING: &str = "You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information.";

#[derive(Debug, Clone, Copy)]
enum Way {
    Converse,
    Stream,
    Parallel,
}

/// One call: the models that were attempted and the answer's warnings.
async fn call(way: Way, m: &LlmManager, request: &ConverseRequest) -> (Vec<String>, Vec<String>) {
    let (attempts, warnings) = match way {
        Way::Converse => {
            let r = m.converse(request).await.unwrap();
            (r.attempts, r.warnings)
        }
        Way::Stream => {
            let r = m
                .converse_stream(request)
                .await
                .unwrap()
                .finish()
                .await
                .unwrap();
            (r.attempts, r.warnings)
        }
        Way::Parallel => {
            let batch = ParallelLlmManager::new(m.clone(), ParallelConfig::default())
                .unwrap()
                .converse_parallel(vec![BatchRequest::new("r1", request.clone())])
                .await
                .unwrap();
            let r = batch
                .into_outcomes()
                .into_iter()
                .next()
                .unwrap()
                .result
                .unwrap();
            (r.attempts, r.warnings)
        }
    };
    (
        attempts.into_iter().map(|a| a.target.model).collect(),
        warnings,
    )
}

fn long_system_request() -> ConverseRequest {
    ConverseRequest::builder()
        .system("You are a meticulous assistant for the shipping department. ".repeat(200))
        .user_text("Which form do I need for a parcel to Norway?")
        .max_tokens(64)
        .build()
        .unwrap()
}

/// Whether each request the simulator received for `model` carried a cache point.
fn points_sent_to(sim: &SimHandle, model: &str) -> Vec<bool> {
    sim.requests()
        .iter()
        .filter(|r| r.base_model_id.as_deref() == Some(model))
        .map(|r| r.body.to_string().contains("cachePoint"))
        .collect()
}

async fn a_cache_point_rejection_is_retried_without_points_and_remembered(way: Way) {
    let sim = sim(Scenario::default()
        .with_fault(
            FaultRule::new(Fault::error_with_message(
                BedrockErrorKind::ValidationException,
                NO_CACHING,
            ))
            .model(HAIKU)
            .calls([1]),
        )
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ServiceUnavailableException))
                .model(HAIKU)
                .calls([3]),
        ))
    .await;
    let clock = ManualClock::new();
    let m = manager(&sim)
        .models([HAIKU, HAIKU_35])
        .region("us-east-1")
        .clock(Arc::new(clock.clone()))
        .cache(CacheConfig::conservative().with_rejection_memory(Duration::from_secs(30 * 60)))
        .build()
        .await
        .unwrap();
    let request = long_system_request();

    // 1. Haiku rejects the cache point; the same target is asked again at once without it.
    let (models, warnings) = call(way, &m, &request).await;
    assert_eq!(models, [HAIKU, HAIKU], "{way:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("cache_points removed") && w.contains(HAIKU)),
        "{way:?}: {warnings:?}"
    );
    // 2. Within the memory, Haiku gets no cache point and no failed attempt; the other model,
    //    which answers when Haiku is unavailable, still gets its cache point.
    clock.advance(Duration::from_secs(29 * 60));
    let (models, warnings) = call(way, &m, &request).await;
    assert_eq!(models, [HAIKU, HAIKU_35], "{way:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("cache points not sent to") && w.contains(HAIKU)),
        "{way:?}: {warnings:?}"
    );
    // 3. Once the memory has passed, Haiku is offered cache points again.
    clock.advance(Duration::from_secs(2 * 60));
    let (models, _) = call(way, &m, &request).await;
    assert_eq!(models, [HAIKU], "{way:?}");

    assert_eq!(
        points_sent_to(&sim, HAIKU),
        [true, false, false, true],
        "{way:?}"
    );
    assert_eq!(points_sent_to(&sim, HAIKU_35), [true], "{way:?}");
    assert_eq!(request.system.len(), 1, "the caller's request is untouched");
}

#[tokio::test]
async fn a_cache_point_rejection_is_remembered_on_converse() {
    a_cache_point_rejection_is_retried_without_points_and_remembered(Way::Converse).await;
}

#[tokio::test]
async fn a_cache_point_rejection_is_remembered_on_converse_stream() {
    a_cache_point_rejection_is_retried_without_points_and_remembered(Way::Stream).await;
}

#[tokio::test]
async fn a_cache_point_rejection_is_remembered_on_the_parallel_manager() {
    a_cache_point_rejection_is_retried_without_points_and_remembered(Way::Parallel).await;
}

#[tokio::test]
async fn a_listed_unsupported_model_gets_no_cache_points_not_even_the_callers() {
    let sim = sim(Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ServiceUnavailableException))
            .model(HAIKU)
            .calls([1]),
    ))
    .await;
    let m = manager(&sim)
        .models([HAIKU, HAIKU_35])
        .region("us-east-1")
        .cache(CacheConfig::conservative().with_unsupported_models(["Claude 3 Haiku"]))
        .build()
        .await
        .unwrap();
    // The caller's own cache point after the system prompt.
    let request = ConverseRequest::builder()
        .system("You are a meticulous assistant for the shipping department. ".repeat(200))
        .system_cache_point()
        .user_text("Which form do I need for a parcel to Norway?")
        .max_tokens(64)
        .build()
        .unwrap();
    let first = m.converse(&request).await.unwrap();
    assert_eq!(first.model_id, HAIKU_35);
    let second = m.converse(&request).await.unwrap();
    assert_eq!(second.model_id, HAIKU);
    assert!(
        second
            .warnings
            .iter()
            .any(|w| w.contains("listed as not supporting prompt caching")),
        "{:?}",
        second.warnings
    );
    assert_eq!(points_sent_to(&sim, HAIKU), [false, false]);
    assert_eq!(points_sent_to(&sim, HAIKU_35), [true]);
}

#[tokio::test]
async fn the_point_threshold_and_automatic_system_caching_apply_through_the_manager() {
    let sim = sim(Scenario::default()).await;
    let request = ConverseRequest::builder()
        .system("You are a meticulous assistant for the shipping department. ".repeat(200))
        .message_builder(Message::user().text("Here is the manifest: ".repeat(800)))
        .message_builder(Message::assistant().text("Noted."))
        .user_text("Which form do I need for a parcel to Norway?")
        .max_tokens(64)
        .build()
        .unwrap();
    let build = |cache: CacheConfig| {
        manager(&sim)
            .model(HAIKU)
            .region("us-east-1")
            .cache(cache)
            .build()
    };
    let sent_points = |sim: &SimHandle| {
        let body = sim.requests().last().unwrap().body.clone();
        let system = body["system"].to_string().matches("cachePoint").count();
        let messages = body["messages"].to_string().matches("cachePoint").count();
        (system, messages)
    };
    let rules = || vec![CacheRule::AfterMessage(MessagePosition::FromStart(0))];

    // Custom rules alone: only the first message's end.
    let m = build(CacheConfig::custom(rules()).unwrap()).await.unwrap();
    m.converse(&request).await.unwrap();
    assert_eq!(sent_points(&sim), (0, 1));

    // With automatic system caching, the system prompt first.
    let m = build(
        CacheConfig::custom(rules())
            .unwrap()
            .with_auto_cache_system(true),
    )
    .await
    .unwrap();
    m.converse(&request).await.unwrap();
    assert_eq!(sent_points(&sim), (1, 1));

    // A threshold above both prefixes: no point at all, and a warning saying why.
    let m = build(CacheConfig::aggressive().with_point_threshold(Some(50_000)))
        .await
        .unwrap();
    let r = m.converse(&request).await.unwrap();
    assert_eq!(sent_points(&sim), (0, 0));
    assert!(
        r.warnings.iter().any(|w| w.contains("50000")),
        "{:?}",
        r.warnings
    );
}
