//! The API source against `bedrock-sim`, which serves the same reference data as the bundled
//! snapshot: a catalog fetched over the wire must agree with it.

use std::sync::Arc;
use std::time::Duration;

use bedrock_catalog::{AccessMethod, AccessPreference, ApiSource, CacheMode, Catalog, DataSource};
use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Operation, Scenario, Simulator};

const REGIONS: [&str; 5] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-northeast-1",
    "sa-east-1",
];

async fn fetch(scenario: Scenario) -> Catalog {
    let sim = Simulator::start(scenario).await.unwrap();
    let source = ApiSource::for_endpoint(&sim.endpoint_url())
        .await
        .with_region_timeout(Duration::from_secs(10))
        .with_deadline(Duration::from_secs(30));
    let catalog = Catalog::builder()
        .cache_mode(CacheMode::None)
        .regions(REGIONS)
        .source(Arc::new(source))
        .fetch_deadline(Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    sim.shutdown().await;
    catalog
}

#[tokio::test]
async fn api_catalog_from_the_simulator_agrees_with_the_bundled_one() {
    let api = fetch(Scenario::default()).await;
    assert_eq!(
        api.metadata().source,
        DataSource::Api,
        "{:?}",
        api.warnings()
    );
    let bundled = Catalog::bundled().unwrap();
    for name in [
        "Claude 3 Haiku",
        "Claude Haiku 4.5",
        "Nova Pro",
        "Llama 3.1 70B Instruct",
        "Claude Sonnet 4.5",
    ] {
        for region in REGIONS {
            for pref in [
                AccessPreference::PreferDirect,
                AccessPreference::PreferRegionalProfile,
                AccessPreference::PreferGlobalProfile,
            ] {
                let a = api.access(name, region, pref).ok();
                let b = bundled.access(name, region, pref).ok();
                assert_eq!(a, b, "{name} in {region} with {pref:?}");
            }
        }
    }
    let haiku45 = api
        .access(
            "Claude Haiku 4.5",
            "ap-northeast-1",
            AccessPreference::PreferDirect,
        )
        .unwrap();
    assert_eq!(haiku45.method, AccessMethod::RegionalProfile);
    assert!(haiku45.invoke_id.starts_with("jp."), "{haiku45:?}");
    let caps = &api.resolve("Claude Haiku 4.5").unwrap().capabilities;
    assert_eq!(caps.prompt_caching.map(|p| p.min_tokens), Some(4096));
}

#[tokio::test]
async fn a_denied_region_is_reported_and_the_rest_kept() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::AccessDeniedException))
            .region("eu-west-1")
            .operations([
                Operation::ListFoundationModels,
                Operation::ListInferenceProfiles,
            ]),
    );
    let c = fetch(scenario).await;
    assert_eq!(c.metadata().source, DataSource::Api);
    assert!(
        !c.metadata()
            .regions_queried
            .contains(&"eu-west-1".to_owned())
    );
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("eu-west-1") && w.contains("access denied")),
        "{:?}",
        c.warnings()
    );
    assert!(c.is_available("Claude 3 Haiku", "us-east-1"));
    assert!(!c.is_available("Claude 3 Haiku", "eu-west-1"));
}
