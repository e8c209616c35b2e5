//! How a model is reached: a model that Bedrock invokes only through an inference profile is
//! asked again through the profile in the same region, and its later calls use the profile from
//! the start; a share of calls goes through global profiles. Each on every path.

use bedrock_parallel::{BatchRequest, ParallelConfig};
use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Operation, Scenario, SimHandle};
use llmmanager::{AccessMethod, ErrorClass, LlmManager, ParallelLlmManager, Response};

use crate::support::{HAIKU, NOVA_LITE, hello, manager, sim};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
const HAIKU_US_PROFILE: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";

/// Bedrock's answer to an on-demand call of a model served only through profiles, for the first
/// Haiku call only (the catalog says direct access works: it is out of date).
fn refuses_on_demand_once() -> Scenario {
    Scenario::default().with_fault(
        FaultRule::new(Fault::error_with_message(
            BedrockErrorKind::ValidationException,
            "Invocation of model ID anthropic.claude-3-haiku-20240307-v1:0 with on-demand \
             throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an \
             inference profile that contains this model.",
        ))
        .model(HAIKU)
        .calls([1]),
    )
}

async fn two_models(sim: &SimHandle) -> LlmManager {
    manager(sim)
        .models([HAIKU, NOVA_LITE])
        .regions([EAST, WEST])
        .build()
        .await
        .unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Path {
    Converse,
    Stream,
    Parallel,
}

/// What each path's answer says about how it was reached.
struct Answer {
    attempts: Vec<llmmanager::AttemptRecord>,
    invoke_id: String,
    region: String,
    access_method: AccessMethod,
    warnings: Vec<String>,
}

impl From<Response> for Answer {
    fn from(r: Response) -> Self {
        Answer {
            attempts: r.attempts,
            invoke_id: r.invoke_id,
            region: r.region,
            access_method: r.access_method,
            warnings: r.warnings,
        }
    }
}

async fn call(manager: &LlmManager, path: Path) -> Answer {
    match path {
        Path::Converse => manager.converse(&hello()).await.unwrap().into(),
        Path::Stream => {
            let stream = manager.converse_stream(&hello()).await.unwrap();
            let r = stream.finish().await.unwrap();
            Answer {
                attempts: r.attempts,
                invoke_id: r.invoke_id,
                region: r.region,
                access_method: r.access_method,
                warnings: r.warnings,
            }
        }
        Path::Parallel => {
            let batch = ParallelLlmManager::new(manager.clone(), ParallelConfig::default())
                .unwrap()
                .converse_parallel(vec![BatchRequest::new("r1", hello())])
                .await
                .unwrap();
            batch.into_outcomes().remove(0).result.unwrap().into()
        }
    }
}

/// The paths the simulator saw, as (model id in the path, region), runtime calls only.
fn sent(sim: &SimHandle) -> Vec<(String, String)> {
    sim.requests()
        .into_iter()
        .filter(|r| matches!(r.operation, Operation::Converse | Operation::ConverseStream))
        .map(|r| (r.model_id.unwrap_or_default(), r.region))
        .collect()
}

#[tokio::test]
async fn a_model_refused_on_demand_is_asked_again_through_its_profile_in_the_same_region() {
    for path in [Path::Converse, Path::Stream, Path::Parallel] {
        let sim = sim(refuses_on_demand_once()).await;
        let manager = two_models(&sim).await;
        let first = call(&manager, path).await;
        let classes: Vec<_> = first.attempts.iter().map(|a| a.class).collect();
        assert_eq!(
            classes,
            [Some(ErrorClass::TargetUnavailable), None],
            "{path:?}: {:?}",
            first.attempts
        );
        assert_eq!(
            sent(&sim),
            [
                (HAIKU.to_owned(), EAST.to_owned()),
                (HAIKU_US_PROFILE.to_owned(), EAST.to_owned())
            ],
            "{path:?}: the same region, through the profile, and one answer paid for"
        );
        assert_eq!(first.invoke_id, HAIKU_US_PROFILE, "{path:?}");
        assert_eq!(first.region, EAST, "{path:?}");
        assert!(
            first
                .warnings
                .iter()
                .any(|w| w.contains("inference profile")),
            "{path:?}: {:?}",
            first.warnings
        );
        // Remembered: the next call goes through the profile at once.
        let second = call(&manager, path).await;
        assert_eq!(second.attempts.len(), 1, "{path:?}: {:?}", second.attempts);
        assert_eq!(
            second.access_method,
            AccessMethod::RegionalProfile,
            "{path:?}"
        );
        assert_eq!(sent(&sim).len(), 3, "{path:?}");
        assert_eq!(sent(&sim)[2].0, HAIKU_US_PROFILE, "{path:?}");
    }
}

#[tokio::test]
async fn a_global_profile_fraction_routes_that_share_of_calls() {
    let sim = sim(Scenario::default()).await;
    let manager = crate::support::manager(&sim)
        .model("Claude Haiku 4.5")
        .region(EAST)
        .global_profile_fraction(0.25)
        .build()
        .await
        .unwrap();
    let mut global = 0;
    for _ in 0..8 {
        let response = manager.converse(&hello()).await.unwrap();
        if response.access_method == AccessMethod::GlobalProfile {
            assert!(
                response.invoke_id.starts_with("global."),
                "{}",
                response.invoke_id
            );
            global += 1;
        }
    }
    assert_eq!(global, 2);
    let sent_global = sent(&sim)
        .iter()
        .filter(|(id, _)| id.starts_with("global."))
        .count();
    assert_eq!(sent_global, 2);
}

#[tokio::test]
async fn a_global_profile_fraction_outside_zero_to_one_is_refused_at_build() {
    let sim = sim(Scenario::default()).await;
    for bad in [-0.1, 1.5, f64::NAN] {
        let err = manager(&sim)
            .model(HAIKU)
            .region(EAST)
            .global_profile_fraction(bad)
            .build()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("global_profile_fraction"), "{err}");
    }
    assert!(sim.requests().is_empty());
}
