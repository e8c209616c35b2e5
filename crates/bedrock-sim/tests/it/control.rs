//! Control plane: ListFoundationModels filters, ListInferenceProfiles paging, Get* and the
//! per-region catalog, through `aws-sdk-bedrock`.

use aws_sdk_bedrock::types::{InferenceProfileType, InferenceType, ModelModality};
use bedrock_sim::{Scenario, Simulator};

use crate::support::{HAIKU3, HAIKU45, control, runtime, user};

#[tokio::test]
async fn list_foundation_models_filters_per_region() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let cp = control(&sim, "us-east-1").await;
    let all = cp.list_foundation_models().send().await.unwrap();
    let all = all.model_summaries();
    assert!(all.len() > 50);
    let haiku = all.iter().find(|m| m.model_id() == HAIKU3).unwrap();
    assert_eq!(
        haiku.model_arn(),
        format!("arn:aws:bedrock:us-east-1::foundation-model/{HAIKU3}")
    );
    assert_eq!(haiku.provider_name(), Some("Anthropic"));
    assert_eq!(haiku.inference_types_supported(), [InferenceType::OnDemand]);
    let h45 = all.iter().find(|m| m.model_id() == HAIKU45).unwrap();
    assert_eq!(
        h45.inference_types_supported()[0].as_str(),
        "INFERENCE_PROFILE"
    );

    let anthropic = cp
        .list_foundation_models()
        .by_provider("anthropic")
        .send()
        .await
        .unwrap();
    assert!(
        anthropic
            .model_summaries()
            .iter()
            .all(|m| m.provider_name() == Some("Anthropic"))
    );
    assert!(!anthropic.model_summaries().is_empty());
    let images = cp
        .list_foundation_models()
        .by_output_modality(ModelModality::Image)
        .send()
        .await
        .unwrap();
    assert!(
        images
            .model_summaries()
            .iter()
            .all(|m| m.output_modalities().contains(&ModelModality::Image))
    );
    assert!(!images.model_summaries().is_empty());
    let on_demand = cp
        .list_foundation_models()
        .by_inference_type(InferenceType::OnDemand)
        .send()
        .await
        .unwrap();
    assert!(
        on_demand
            .model_summaries()
            .iter()
            .any(|m| m.model_id() == HAIKU3)
    );
    assert!(
        !on_demand
            .model_summaries()
            .iter()
            .any(|m| m.model_id() == HAIKU45)
    );

    // A smaller region lists fewer models.
    let sa = control(&sim, "sa-east-1")
        .await
        .list_foundation_models()
        .send()
        .await
        .unwrap();
    assert!(sa.model_summaries().len() < all.len());
    sim.shutdown().await;
}

#[tokio::test]
async fn inference_profile_paginator_walks_every_page() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let cp = control(&sim, "us-east-1").await;
    let whole = cp.list_inference_profiles().send().await.unwrap();
    assert!(whole.next_token().is_none());
    let n = whole.inference_profile_summaries().len();
    assert!(n > 10);
    let pages: Vec<_> = cp
        .list_inference_profiles()
        .max_results(7)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), n.div_ceil(7));
    let ids: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.unwrap().inference_profile_summaries().to_vec())
        .map(|s| s.inference_profile_id().to_owned())
        .collect();
    let whole_ids: Vec<String> = whole
        .inference_profile_summaries()
        .iter()
        .map(|s| s.inference_profile_id().to_owned())
        .collect();
    assert_eq!(ids, whole_ids);

    let p = whole
        .inference_profile_summaries()
        .iter()
        .find(|s| s.inference_profile_id() == format!("us.{HAIKU45}"))
        .unwrap();
    assert_eq!(p.r#type(), &InferenceProfileType::SystemDefined);
    assert_eq!(
        p.inference_profile_arn(),
        format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{HAIKU45}")
    );
    assert!(p.models().iter().any(|m| m.model_arn()
        == Some(&*format!(
            "arn:aws:bedrock:us-west-2::foundation-model/{HAIKU45}"
        ))));
    assert!(p.created_at().is_some());

    let apps = cp
        .list_inference_profiles()
        .type_equals(InferenceProfileType::Application)
        .send()
        .await
        .unwrap();
    assert!(apps.inference_profile_summaries().is_empty());
    let got = cp
        .get_inference_profile()
        .inference_profile_identifier(format!("us.{HAIKU45}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.inference_profile_id(), format!("us.{HAIKU45}"));
    let missing = cp
        .get_inference_profile()
        .inference_profile_identifier("eu.nothing")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception()
    );
    let fm = cp
        .get_foundation_model()
        .model_identifier(HAIKU3)
        .send()
        .await
        .unwrap();
    assert_eq!(fm.model_details().unwrap().model_id(), HAIKU3);
    let arn = format!("arn:aws:bedrock:us-east-1::foundation-model/{HAIKU3}");
    let by_arn = cp
        .get_foundation_model()
        .model_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.model_details().unwrap().model_id(), HAIKU3);
    assert_eq!(by_arn.model_details().unwrap().model_arn(), arn);
    for other in [
        format!("arn:aws:bedrock:eu-west-1::foundation-model/{HAIKU3}"),
        format!("arn:aws:bedrock:us-east-1:123456789012:custom-model/{HAIKU3}"),
    ] {
        let err = cp
            .get_foundation_model()
            .model_identifier(other)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_validation_exception(), "{err:?}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn models_absent_from_a_region_are_invalid_there() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    // Claude 3 Haiku is not offered in sa-east-1 by the catalog fixture unless listed there.
    let listed = control(&sim, "eu-north-1")
        .await
        .list_foundation_models()
        .send()
        .await
        .unwrap()
        .model_summaries()
        .iter()
        .any(|m| m.model_id() == "meta.llama3-8b-instruct-v1:0");
    let rt = runtime(&sim, "eu-north-1").await;
    let res = rt
        .converse()
        .model_id("meta.llama3-8b-instruct-v1:0")
        .messages(user("x"))
        .send()
        .await;
    assert_eq!(
        res.is_ok(),
        listed,
        "a call succeeds exactly where the model is listed"
    );
    if let Err(e) = res {
        let e = e.into_service_error();
        assert_eq!(
            aws_sdk_bedrockruntime::error::ProvideErrorMetadata::message(&e),
            Some("The provided model identifier is invalid.")
        );
    }
    sim.shutdown().await;
}
