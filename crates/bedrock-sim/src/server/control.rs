//! The control plane: the model and inference-profile listings and their `Get*` siblings.

use std::collections::BTreeMap;
use std::io;

use http::Response;
use serde_json::{Value, json};

use crate::catalog::{self, Catalog};
use crate::scenario::{BedrockErrorKind, Operation};
use crate::wire::WireError;

use super::faults::apply_decision;
use super::serve::json_response;
use super::{Body, Call, Shared};
const PROFILE_DATE: &str = "2024-08-01T00:00:00Z";

pub(super) async fn control(
    shared: &Shared,
    op: Operation,
    region: String,
    id: Option<String>,
    query: BTreeMap<String, String>,
) -> Result<Response<Body>, io::Error> {
    let cat = &shared.catalog;
    let mut call = Call {
        seq: 0,
        request_id: String::new(),
        region,
        op,
        model_id: id.clone(),
        base_model_id: None,
    };
    let qv = serde_json::to_value(&query).unwrap_or(Value::Null);
    let decision = shared.decide(&mut call);
    if let Err(r) = apply_decision(shared, &call, &qv, decision).await {
        return r;
    }
    let region = call.region.clone();
    let result = match op {
        Operation::ListFoundationModels => list_models(cat, &region, &query),
        Operation::GetFoundationModel => {
            let id = id.unwrap_or_default();
            // A foundation-model ARN names its region; it must be the caller's.
            let id = match id.strip_prefix("arn:aws:bedrock:") {
                Some(rest) => match rest.split_once("::foundation-model/") {
                    Some((arn_region, model)) if arn_region == region => model.to_owned(),
                    _ => String::new(),
                },
                None => id,
            };
            cat.model_index(&id)
                .and_then(|i| cat.models.get(i))
                .filter(|m| m.regions.contains_key(&region))
                .map(|m| json!({"modelDetails": model_summary(m, &region)}))
                .ok_or_else(|| WireError::validation("The provided model identifier is invalid."))
        }
        Operation::ListInferenceProfiles => list_profiles(cat, &region, &query),
        _ => {
            let id = id.unwrap_or_default();
            let pid = id
                .rsplit_once("inference-profile/")
                .map_or(id.as_str(), |(_, p)| p);
            cat.profiles
                .get(pid)
                .filter(|p| p.regions.contains(&region))
                .map(|p| profile_summary(cat, p, &region))
                .ok_or_else(|| {
                    WireError::new(
                        BedrockErrorKind::ResourceNotFoundException,
                        format!("Inference profile {pid} not found."),
                    )
                })
        }
    };
    match result {
        Ok(v) => {
            shared.record(&call, qv, "ok", None);
            Ok(json_response(&v, &call.request_id))
        }
        Err(e) => Ok(shared.fail(&call, qv, &e)),
    }
}

fn enum_error(value: &str, field: &str, allowed: &str) -> WireError {
    WireError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
    ))
}

fn model_summary(m: &catalog::ModelInfo, region: &str) -> Value {
    let direct = m.regions.get(region).copied().unwrap_or(false);
    json!({
        "modelArn": catalog::model_arn(region, &m.id),
        "modelId": m.id,
        "modelName": m.name,
        "providerName": m.provider,
        "inputModalities": m.input_modalities,
        "outputModalities": m.output_modalities,
        "responseStreamingSupported": m.streaming,
        "customizationsSupported": [],
        "inferenceTypesSupported": [if direct { "ON_DEMAND" } else { "INFERENCE_PROFILE" }],
        "modelLifecycle": {"status": "ACTIVE"},
    })
}

fn list_models(
    cat: &Catalog,
    region: &str,
    q: &BTreeMap<String, String>,
) -> Result<Value, WireError> {
    if let Some(m) = q.get("byOutputModality")
        && !["TEXT", "IMAGE", "EMBEDDING"].contains(&m.as_str())
    {
        return Err(enum_error(m, "byOutputModality", "TEXT, IMAGE, EMBEDDING"));
    }
    if let Some(t) = q.get("byInferenceType")
        && !["ON_DEMAND", "PROVISIONED"].contains(&t.as_str())
    {
        return Err(enum_error(t, "byInferenceType", "ON_DEMAND, PROVISIONED"));
    }
    if let Some(c) = q.get("byCustomizationType")
        && !["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"].contains(&c.as_str())
    {
        return Err(enum_error(
            c,
            "byCustomizationType",
            "FINE_TUNING, CONTINUED_PRE_TRAINING, DISTILLATION",
        ));
    }
    let summaries: Vec<Value> = cat
        .models
        .iter()
        .filter(|m| {
            let Some(direct) = m.regions.get(region) else {
                return false;
            };
            q.get("byProvider")
                .is_none_or(|p| p.eq_ignore_ascii_case(&m.provider))
                && q.get("byOutputModality")
                    .is_none_or(|o| m.output_modalities.contains(o))
                && q.get("byInferenceType")
                    .is_none_or(|t| t == "ON_DEMAND" && *direct)
                && !q.contains_key("byCustomizationType")
        })
        .map(|m| model_summary(m, region))
        .collect();
    Ok(json!({"modelSummaries": summaries}))
}

fn profile_summary(cat: &Catalog, p: &catalog::ProfileInfo, region: &str) -> Value {
    let model = cat.models.get(p.model);
    let model_id = model.map(|m| m.id.as_str()).unwrap_or_default();
    let model_name = model.map(|m| m.name.as_str()).unwrap_or_default();
    let geo = p.id.split('.').next().unwrap_or_default().to_uppercase();
    let mut name = format!("{geo} {model_name}");
    name.truncate(64);
    let members: Vec<Value> = p
        .regions
        .iter()
        .map(|r| json!({"modelArn": catalog::model_arn(r, model_id)}))
        .collect();
    json!({
        "inferenceProfileName": name,
        "description": format!("Routes requests to {model_name} across {} regions.", p.regions.len()),
        "createdAt": PROFILE_DATE,
        "updatedAt": PROFILE_DATE,
        "inferenceProfileArn": catalog::profile_arn(region, &p.id),
        "models": members,
        "inferenceProfileId": p.id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    })
}

fn list_profiles(
    cat: &Catalog,
    region: &str,
    q: &BTreeMap<String, String>,
) -> Result<Value, WireError> {
    let type_filter = q.get("type").map(String::as_str);
    if let Some(t) = type_filter
        && t != "SYSTEM_DEFINED"
        && t != "APPLICATION"
    {
        return Err(enum_error(t, "typeEquals", "SYSTEM_DEFINED, APPLICATION"));
    }
    let max = match q.get("maxResults") {
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(WireError::validation(format!(
                    "1 validation error detected: Value '{s}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                )));
            }
        },
        None => 1000,
    };
    let start = match q.get("nextToken") {
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| WireError::validation("The provided pagination token is invalid."))?,
        None => 0,
    };
    let all: Vec<&catalog::ProfileInfo> = if type_filter == Some("APPLICATION") {
        Vec::new()
    } else {
        cat.profiles
            .values()
            .filter(|p| p.regions.contains(region))
            .collect()
    };
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|p| profile_summary(cat, p, region))
        .collect();
    let mut out = json!({"inferenceProfileSummaries": page});
    if start + max < all.len() {
        out["nextToken"] = format!("page-{}", start + max).into();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_plane_shapes_snapshot() {
        let cat = Catalog::build(&BTreeMap::new()).unwrap();
        let m = &cat.models[cat
            .model_index("anthropic.claude-3-haiku-20240307-v1:0")
            .unwrap()];
        insta::assert_json_snapshot!("model_summary_direct", model_summary(m, "us-east-1"));
        let p = &cat.profiles["eu.anthropic.claude-3-haiku-20240307-v1:0"];
        insta::assert_json_snapshot!("profile_summary", profile_summary(&cat, p, "eu-west-1"));
        let e = WireError::new(BedrockErrorKind::ModelErrorException, "boom");
        insta::assert_snapshot!("model_error_body", String::from_utf8_lossy(&e.body()));
    }
}
