//! Data residency: under a constraint, no request leaves it, whatever the routing policy asks
//! for, and a model that cannot be served inside fails the build before anything is sent.

use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Operation, Scenario, SimHandle};
use llmmanager::catalog::{CacheMode, Geo};
use llmmanager::{AccessMethod, CatalogOptions, Error, ErrorKind, Residency};

use crate::support::{HAIKU, hello, manager, sim};

const HAIKU_45: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
const NOVA_2_LITE: &str = "amazon.nova-2-lite-v1:0";

/// Every runtime call the simulator saw, as (model id in the path, region).
fn sent(sim: &SimHandle) -> Vec<(String, String)> {
    sim.requests()
        .into_iter()
        .filter(|r| r.operation.is_runtime())
        .map(|r| (r.model_id.unwrap_or_default(), r.region))
        .collect()
}

/// Whether a call to `model_id` in `region` keeps the data in the EU.
fn stays_in_eu((model_id, region): &(String, String)) -> bool {
    let geo = Geo::of_profile_id(model_id);
    region.starts_with("eu-") && (geo.is_none() || geo == Some(Geo::Eu))
}

/// Throttles every call in eu-west-1, so calls fail over to the next target.
fn eu_west_1_throttles() -> Scenario {
    Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).region("eu-west-1"),
    )
}

#[tokio::test]
async fn under_eu_no_request_leaves_eu_regions_and_eu_profiles() {
    let regions = ["us-east-1", "eu-west-1", "eu-west-2", "eu-central-1"];
    // Without the constraint, this policy sends calls to us-east-1 and through global profiles.
    let sim = sim(eu_west_1_throttles()).await;
    let open = manager(&sim)
        .models([HAIKU_45, NOVA_2_LITE])
        .regions(regions)
        .global_profile_fraction(1.0)
        .access_method_preference(Some(AccessMethod::GlobalProfile))
        .build()
        .await
        .unwrap();
    open.converse(&hello()).await.unwrap();
    assert!(
        !sent(&sim).iter().all(stays_in_eu),
        "the unconstrained policy must leave the EU for this test to mean anything: {:?}",
        sent(&sim)
    );

    let sim = crate::support::sim(eu_west_1_throttles()).await;
    let eu = manager(&sim)
        .models([HAIKU_45, NOVA_2_LITE])
        .regions(regions)
        .global_profile_fraction(1.0)
        .access_method_preference(Some(AccessMethod::GlobalProfile))
        .residency(Residency::Geography(Geo::Eu))
        .build()
        .await
        .unwrap();
    assert_eq!(eu.regions(), ["eu-west-1", "eu-west-2", "eu-central-1"]);
    assert_eq!(eu.residency(), Some(&Residency::Geography(Geo::Eu)));
    for _ in 0..3 {
        let r = eu.converse(&hello()).await.unwrap();
        assert!(r.invoke_id.starts_with("eu."), "{}", r.invoke_id);
        assert_eq!(r.access_method, AccessMethod::RegionalProfile);
        assert!(
            r.attempts
                .iter()
                .all(|a| a.target.region.starts_with("eu-")),
            "{:?}",
            r.attempts
        );
        let stream = eu.converse_stream(&hello()).await.unwrap();
        let s = stream.finish().await.unwrap();
        assert!(s.invoke_id.starts_with("eu."), "{}", s.invoke_id);
    }
    let sent = sent(&sim);
    assert!(
        sent.iter().any(|(_, region)| region == "eu-west-1"),
        "the throttled region was tried: {sent:?}"
    );
    assert!(sent.len() > 6, "failover happened: {sent:?}");
    assert!(sent.iter().all(stays_in_eu), "{sent:?}");
    // Every planned target lies inside, whatever this call's global-profile turn.
    assert!(
        eu.targets()
            .iter()
            .all(|t| t.region.starts_with("eu-") && t.access_method != AccessMethod::GlobalProfile)
    );
}

#[tokio::test]
async fn a_model_offered_only_through_global_in_the_eu_regions_fails_the_build_under_eu() {
    let sim = sim(Scenario::default()).await;
    // In eu-west-2 the catalog offers Nova 2 Lite only through its global. profile.
    let Err(err) = manager(&sim)
        .models([HAIKU, NOVA_2_LITE])
        .regions(["eu-west-2"])
        .residency("eu".parse().unwrap())
        .build()
        .await
    else {
        panic!("the build must fail");
    };
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let Error::Residency {
        model, residency, ..
    } = &err
    else {
        panic!("expected a residency error, got {err:?}");
    };
    assert_eq!(model.as_deref(), Some(NOVA_2_LITE));
    assert_eq!(residency, &Residency::Geography(Geo::Eu));
    let message = err.to_string();
    for part in [
        NOVA_2_LITE,
        "residency eu",
        "global.amazon.nova-2-lite-v1:0",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    // The same model builds without the constraint, through the global profile.
    manager(&sim)
        .model(NOVA_2_LITE)
        .region("eu-west-2")
        .build()
        .await
        .unwrap();

    // No configured region inside the constraint at all.
    let Err(err) = manager(&sim)
        .model(HAIKU)
        .regions(["us-east-1", "us-west-2"])
        .residency(Residency::Geography(Geo::Eu))
        .build()
        .await
    else {
        panic!("the build must fail");
    };
    assert!(
        matches!(&err, Error::Residency { model: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("residency eu"), "{err}");
    assert!(
        sim.requests().is_empty(),
        "nothing is sent before the build fails"
    );
}

#[tokio::test]
async fn a_region_list_admits_a_profile_when_the_control_plane_says_where_it_routes() {
    let sim = sim(Scenario::default()).await;
    let live = || {
        CatalogOptions::default()
            .with_cache_mode(CacheMode::None)
            .with_fallback_to_bundled(false)
    };
    // The simulator's eu. Claude 3 Haiku profile routes to eu-central-1, eu-west-1 and eu-west-3.
    let wide = manager(&sim)
        .model(HAIKU)
        .regions(["eu-west-1", "eu-central-1", "eu-west-3"])
        .catalog_options(live())
        .access_method_preference(Some(AccessMethod::RegionalProfile))
        .residency(Residency::regions([
            "eu-west-1",
            "eu-central-1",
            "eu-west-3",
        ]))
        .build()
        .await
        .unwrap();
    let r = wide.converse(&hello()).await.unwrap();
    assert_eq!(r.invoke_id, "eu.anthropic.claude-3-haiku-20240307-v1:0");
    assert_eq!(r.region, "eu-west-1");

    // A narrower list leaves a destination of the profile outside: direct calls only.
    let narrow = manager(&sim)
        .model(HAIKU)
        .regions(["eu-west-1", "eu-central-1"])
        .catalog_options(live())
        .access_method_preference(Some(AccessMethod::RegionalProfile))
        .residency(Residency::regions(["eu-west-1", "eu-central-1"]))
        .build()
        .await
        .unwrap();
    let r = narrow.converse(&hello()).await.unwrap();
    assert_eq!(
        (r.invoke_id.as_str(), r.access_method),
        (HAIKU, AccessMethod::Direct)
    );
    assert!(
        narrow.models()[0]
            .regions
            .values()
            .all(|a| a.regional_profile.is_none() && a.global_profile.is_none())
    );
    let runtime: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|q| matches!(q.operation, Operation::Converse))
        .map(|q| q.region)
        .collect();
    assert_eq!(runtime, ["eu-west-1", "eu-west-1"]);
}
