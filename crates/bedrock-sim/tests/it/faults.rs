//! Faults: every modeled error shape, call-number and probabilistic rules, region outages,
//! token quotas, connection resets, slow headers and hangs, as the SDK sees them.

use std::time::Duration;

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::InferenceConfiguration;
use bedrock_sim::{
    BedrockErrorKind, Fault, FaultRule, RegionDown, Scenario, ScriptedReply, Simulator, TokenQuota,
};

use crate::support::{HAIKU3, runtime, sdk_config_for, user};

fn converse_variant(e: &ConverseError) -> &'static str {
    match e {
        ConverseError::AccessDeniedException(_) => "AccessDeniedException",
        ConverseError::InternalServerException(_) => "InternalServerException",
        ConverseError::ModelErrorException(_) => "ModelErrorException",
        ConverseError::ModelNotReadyException(_) => "ModelNotReadyException",
        ConverseError::ModelTimeoutException(_) => "ModelTimeoutException",
        ConverseError::ResourceNotFoundException(_) => "ResourceNotFoundException",
        ConverseError::ServiceUnavailableException(_) => "ServiceUnavailableException",
        ConverseError::ThrottlingException(_) => "ThrottlingException",
        ConverseError::ValidationException(_) => "ValidationException",
        _ => "Unhandled",
    }
}

fn stream_variant(e: &ConverseStreamError) -> &'static str {
    match e {
        ConverseStreamError::AccessDeniedException(_) => "AccessDeniedException",
        ConverseStreamError::InternalServerException(_) => "InternalServerException",
        ConverseStreamError::ModelErrorException(_) => "ModelErrorException",
        ConverseStreamError::ModelNotReadyException(_) => "ModelNotReadyException",
        ConverseStreamError::ModelTimeoutException(_) => "ModelTimeoutException",
        ConverseStreamError::ResourceNotFoundException(_) => "ResourceNotFoundException",
        ConverseStreamError::ServiceUnavailableException(_) => "ServiceUnavailableException",
        ConverseStreamError::ThrottlingException(_) => "ThrottlingException",
        ConverseStreamError::ValidationException(_) => "ValidationException",
        _ => "Unhandled",
    }
}

#[tokio::test]
async fn every_modeled_error_reaches_the_sdk_typed_with_status_and_message() {
    let mut scenario = Scenario::default();
    for kind in BedrockErrorKind::ALL {
        scenario = scenario.with_fault(
            FaultRule::new(Fault::Error {
                error: kind,
                message: Some(format!("sim says {}", kind.name())),
            })
            .region(format!("r-{}", kind.name())),
        );
    }
    let sim = Simulator::start(scenario).await.unwrap();
    for kind in BedrockErrorKind::ALL {
        let rt = runtime(&sim, &format!("r-{}", kind.name())).await;
        let err = rt
            .converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .unwrap_err();
        let SdkError::ServiceError(ctx) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(ctx.raw().status().as_u16(), kind.status(), "{kind:?}");
        let e = err.into_service_error();
        let expected = match kind {
            // Not modeled for Converse: the SDK keeps the code but cannot type it.
            BedrockErrorKind::ServiceQuotaExceededException
            | BedrockErrorKind::UnrecognizedClientException
            | BedrockErrorKind::ExpiredTokenException => "Unhandled",
            k => k.name(),
        };
        assert_eq!(converse_variant(&e), expected);
        assert_eq!(e.code(), Some(kind.name()));
        assert_eq!(
            e.message(),
            Some(format!("sim says {}", kind.name()).as_str())
        );

        let err = rt
            .converse_stream()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .unwrap_err();
        let e = err.into_service_error();
        assert_eq!(stream_variant(&e), expected, "stream {kind:?}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_first_and_third_call_to_a_region_throttle() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
            .region("us-east-1")
            .calls([1, 3]),
    );
    let sim = Simulator::start(scenario).await.unwrap();
    let east = runtime(&sim, "us-east-1").await;
    let west = runtime(&sim, "us-west-2").await;
    let mut pattern = Vec::new();
    for _ in 0..4 {
        pattern.push(
            east.converse()
                .model_id(HAIKU3)
                .messages(user("x"))
                .send()
                .await
                .is_ok(),
        );
        assert!(
            west.converse()
                .model_id(HAIKU3)
                .messages(user("x"))
                .send()
                .await
                .is_ok()
        );
    }
    assert_eq!(pattern, [false, true, false, true]);
    let s = sim.stats();
    assert_eq!(s.by_outcome["ThrottlingException"], 2);
    assert_eq!(s.by_region["us-east-1"], 4);
    assert_eq!(s.by_region["us-west-2"], 4);
    sim.shutdown().await;
}

async fn probabilistic_pattern(seed: u64) -> Vec<bool> {
    let scenario = Scenario::default().with_seed(seed).with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::InternalServerException)).probability(0.5),
    );
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let mut v = Vec::new();
    for _ in 0..40 {
        v.push(
            rt.converse()
                .model_id(HAIKU3)
                .messages(user("x"))
                .send()
                .await
                .is_ok(),
        );
    }
    sim.shutdown().await;
    v
}

#[tokio::test]
async fn probabilistic_faults_are_seeded() {
    let a = probabilistic_pattern(11).await;
    let b = probabilistic_pattern(11).await;
    assert_eq!(a, b, "same seed, same faults");
    let failures = a.iter().filter(|ok| !**ok).count();
    assert!((8..=32).contains(&failures), "about half fail: {failures}");
}

#[tokio::test]
async fn region_down_by_call_count_and_by_time() {
    let scenario = Scenario::default()
        .with_region_down(RegionDown {
            from_call: Some(2),
            until_call: Some(4),
            ..RegionDown::always("us-east-1")
        })
        .with_region_down(RegionDown {
            until_ms: Some(3_600_000),
            ..RegionDown::always("eu-west-1")
        });
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let mut pattern = Vec::new();
    for _ in 0..5 {
        pattern.push(
            rt.converse()
                .model_id(HAIKU3)
                .messages(user("x"))
                .send()
                .await
                .is_ok(),
        );
    }
    assert_eq!(pattern, [true, false, false, true, true]);
    let eu = runtime(&sim, "eu-west-1").await;
    let e = eu
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(e, ConverseError::ServiceUnavailableException(_)),
        "{e:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn token_quota_throttles_when_exceeded() {
    let scenario = Scenario::default()
        .with_quota(TokenQuota {
            region: Some("us-east-1".into()),
            model: None,
            tokens_per_minute: 250,
            requests_per_minute: None,
        })
        .with_reply(ScriptedReply::text("abcd".repeat(100)));
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let send = || {
        rt.converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .inference_config(InferenceConfiguration::builder().max_tokens(100).build())
            .send()
    };
    // Each call reserves 1 input + 100 max tokens, then uses 1 + 100: 101, 202, then 303 > 250.
    assert!(send().await.is_ok());
    assert!(send().await.is_ok());
    let e = send().await.unwrap_err().into_service_error();
    match e {
        ConverseError::ThrottlingException(t) => {
            assert_eq!(
                t.message(),
                Some("Too many tokens, please wait before trying again.")
            );
        }
        other => panic!("{other:?}"),
    }
    // Another region has its own window.
    let west = runtime(&sim, "us-west-2").await;
    assert!(
        west.converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .is_ok()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn connection_reset_is_a_dispatch_or_response_failure() {
    let scenario =
        Scenario::default().with_fault(FaultRule::new(Fault::ConnectionReset).calls([1]));
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let err = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "{err:?}"
    );
    assert!(
        rt.converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .is_ok(),
        "next call succeeds"
    );
    assert_eq!(sim.stats().by_outcome["connection_reset"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_headers_still_answer_and_hang_trips_the_client_timeout() {
    let scenario = Scenario::default()
        .with_fault(FaultRule::new(Fault::SlowHeaders { delay_ms: 50 }).calls([1]))
        .with_fault(FaultRule::new(Fault::Hang).calls([2]));
    let sim = Simulator::start(scenario).await.unwrap();
    let cfg = sdk_config_for(&sim.endpoint_url(), "us-east-1", Duration::from_millis(300)).await;
    let rt = aws_sdk_bedrockruntime::Client::new(&cfg);
    assert!(
        rt.converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .is_ok()
    );
    let err = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    assert_eq!(sim.stats().by_outcome["hang"], 1);
    // Shutdown drops the hung connection instead of waiting for it.
    sim.shutdown().await;
}

#[tokio::test]
async fn rules_filter_by_model_and_operation_and_rpm_quotas_count_requests() {
    let scenario = Scenario::default()
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ModelNotReadyException))
                .model("anthropic.claude-haiku-4-5-20251001-v1:0"),
        )
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
                .operations([bedrock_sim::Operation::ListInferenceProfiles])
                .calls([1]),
        )
        .with_quota(TokenQuota {
            region: Some("ca-central-1".into()),
            model: None,
            tokens_per_minute: 1_000_000,
            requests_per_minute: Some(1),
        });
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    // The rule names the base id; a call through its profile resolves to it.
    let e = rt
        .converse()
        .model_id("us.anthropic.claude-haiku-4-5-20251001-v1:0")
        .messages(user("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(e, ConverseError::ModelNotReadyException(_)),
        "{e:?}"
    );
    assert!(
        rt.converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .is_ok()
    );

    let cp = crate::support::control(&sim, "us-east-1").await;
    let e = cp
        .list_inference_profiles()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_throttling_exception(), "{e:?}");
    assert!(cp.list_inference_profiles().send().await.is_ok());

    let ca = runtime(&sim, "ca-central-1").await;
    assert!(
        ca.converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .is_ok()
    );
    let e = ca
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        e.message(),
        Some("Too many requests, please wait before trying again.")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn credential_errors_surface_unhandled_with_their_codes() {
    let scenario = Scenario::default()
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::UnrecognizedClientException))
                .region("us-east-1"),
        )
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ExpiredTokenException))
                .region("us-west-2")
                .operations([
                    bedrock_sim::Operation::Converse,
                    bedrock_sim::Operation::ListFoundationModels,
                ]),
        );
    let sim = Simulator::start(scenario).await.unwrap();
    for (region, code, message) in [
        (
            "us-east-1",
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            "us-west-2",
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
    ] {
        let err = runtime(&sim, region)
            .await
            .converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .unwrap_err();
        let SdkError::ServiceError(ctx) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(ctx.raw().status().as_u16(), 403);
        let e = err.into_service_error();
        assert_eq!(converse_variant(&e), "Unhandled");
        assert_eq!(e.code(), Some(code));
        assert_eq!(e.message(), Some(message));
    }
    let err = crate::support::control(&sim, "us-west-2")
        .await
        .list_foundation_models()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ExpiredTokenException"));
    assert_eq!(sim.stats().by_outcome["ExpiredTokenException"], 2);
}

#[tokio::test]
async fn latency_per_region_and_model_with_a_tail() {
    use bedrock_sim::{LatencyModel, LatencyRule};
    let scenario = Scenario::default()
        .with_latency_rule(LatencyRule::new(LatencyModel::new(40, 0.0)).region("us-west-2"))
        .with_latency_rule(
            LatencyRule::new(LatencyModel::tail(5, 60, 0.0))
                .region("eu-west-1")
                .model(HAIKU3),
        );
    let sim = Simulator::start(scenario).await.unwrap();
    let latency = |out: &aws_sdk_bedrockruntime::operation::converse::ConverseOutput| {
        out.metrics().unwrap().latency_ms()
    };
    let send = |region: &'static str| {
        let sim = &sim;
        async move {
            runtime(sim, region)
                .await
                .converse()
                .model_id(HAIKU3)
                .messages(user("same request"))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(latency(&send("us-east-1").await), 0);
    assert_eq!(latency(&send("us-west-2").await), 40);
    let rt = runtime(&sim, "eu-west-1").await;
    let mut draws = Vec::new();
    for _ in 0..40 {
        let out = rt
            .converse()
            .model_id(HAIKU3)
            .messages(user("same request"))
            .send()
            .await
            .unwrap();
        draws.push(latency(&out));
    }
    draws.sort_unstable();
    draws.dedup();
    assert!(
        draws.len() > 5,
        "each call draws its own latency: {draws:?}"
    );
    assert!(draws[draws.len() - 1] > 3 * draws[0], "a tail: {draws:?}");
}
