//! The simulator's view of which models and inference profiles exist in which region.
//!
//! It is built from the same fixture the other crates use (`data/reference.json` in this crate,
//! compiled in) plus capability facts from the catalog's overrides
//! (`bedrock_catalog::BUNDLED_OVERRIDES`) and the scenario's own `model_overrides`. Keeping it in
//! one index lets Converse, ConverseStream and the control plane agree on every answer.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use crate::scenario::ModelCaps;

const REFERENCE_JSON: &str = include_str!("../data/reference.json");
const OVERRIDES_JSON: &str = bedrock_catalog::BUNDLED_OVERRIDES;

/// Account id used in system inference-profile ARNs.
pub(crate) const ACCOUNT_ID: &str = "123456789012";

const GEO_PREFIXES: [&str; 7] = ["us.", "eu.", "apac.", "global.", "jp.", "au.", "ca."];

#[derive(Debug, Deserialize)]
struct RefCatalog {
    models: BTreeMap<String, RefModel>,
}

#[derive(Debug, Deserialize)]
struct RefModel {
    model_name: String,
    provider: String,
    model_id: String,
    #[serde(default)]
    input_modalities: Vec<String>,
    #[serde(default)]
    output_modalities: Vec<String>,
    #[serde(default)]
    streaming_supported: bool,
    #[serde(default)]
    region_access: BTreeMap<String, RefAccess>,
}

#[derive(Debug, Deserialize)]
struct RefAccess {
    #[serde(default)]
    has_direct_access: bool,
    #[serde(default)]
    regional_cris_profile_id: Option<String>,
    #[serde(default)]
    global_cris_profile_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Overrides {
    #[serde(default)]
    models: BTreeMap<String, ModelCaps>,
}

/// Effective capabilities of a model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Caps {
    pub(crate) max_output_tokens: u32,
    pub(crate) tools: bool,
    pub(crate) system_prompt: bool,
    pub(crate) documents: bool,
    pub(crate) images: bool,
    pub(crate) video: bool,
    /// Minimum cacheable prefix tokens; `None` means no prompt caching.
    pub(crate) cache_min_tokens: Option<u32>,
    pub(crate) cache_ttl_1h: bool,
    /// Structured output (`outputConfig.textFormat`) accepted.
    pub(crate) structured_output: bool,
    /// Regions for batch inference jobs; `None` accepts them wherever the model is callable.
    pub(crate) batch_inference: Option<bedrock_catalog::BatchInference>,
}

/// Models that answer structured output unless a scenario says otherwise: the Claude
/// generations Bedrock documents structured outputs for (prefixes of base model ids).
const STRUCTURED_OUTPUT_MODELS: [&str; 9] = [
    "anthropic.claude-sonnet-4-5",
    "anthropic.claude-haiku-4-5",
    "anthropic.claude-opus-4-1",
    "anthropic.claude-opus-4-5",
    "anthropic.claude-opus-4-6",
    "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-7",
    "anthropic.claude-opus-4-8",
    "anthropic.claude-fable-5",
];

/// One foundation model.
#[derive(Debug, Clone)]
pub(crate) struct ModelInfo {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) provider: String,
    pub(crate) input_modalities: Vec<String>,
    pub(crate) output_modalities: Vec<String>,
    pub(crate) streaming: bool,
    pub(crate) caps: Caps,
    /// Region → has direct (on-demand) access.
    pub(crate) regions: BTreeMap<String, bool>,
}

/// One system-defined inference profile.
#[derive(Debug, Clone)]
pub(crate) struct ProfileInfo {
    pub(crate) id: String,
    pub(crate) model: usize,
    pub(crate) regions: BTreeSet<String>,
}

/// The index.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    pub(crate) models: Vec<ModelInfo>,
    by_id: HashMap<String, usize>,
    pub(crate) profiles: BTreeMap<String, ProfileInfo>,
}

/// How a model identifier resolved in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// Callable: index of the model.
    Ok(usize),
    /// The identifier is unknown or not available in that region.
    Invalid,
    /// A base id of a model that is only reachable through a profile in that region.
    ProfileOnly(String),
}

fn strip_geo(id: &str) -> &str {
    GEO_PREFIXES
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id)
}

fn caps_for(model: &RefModel, o: Option<&ModelCaps>) -> Caps {
    let has = |m: &str| model.input_modalities.iter().any(|x| x == m);
    let o = o.cloned().unwrap_or_default();
    Caps {
        max_output_tokens: o.max_output_tokens.unwrap_or(8192),
        tools: o.tools.unwrap_or(true),
        system_prompt: o.system_prompt.unwrap_or(true),
        documents: o.documents.unwrap_or_else(|| has("TEXT")),
        images: o.images.unwrap_or_else(|| has("IMAGE")),
        video: o.video.unwrap_or_else(|| has("VIDEO")),
        cache_min_tokens: o.prompt_caching.as_ref().map(|p| p.min_tokens),
        cache_ttl_1h: o.prompt_caching.as_ref().is_some_and(|p| p.ttl_1h),
        structured_output: o.structured_output.unwrap_or_else(|| {
            let id = strip_geo(&model.model_id);
            STRUCTURED_OUTPUT_MODELS.iter().any(|p| id.starts_with(p))
        }),
        batch_inference: o.batch_inference.clone(),
    }
}

impl Catalog {
    /// Builds the catalog from the compiled-in fixtures and `extra` capability overrides.
    pub(crate) fn build(extra: &BTreeMap<String, ModelCaps>) -> Result<Catalog, serde_json::Error> {
        let reference: RefCatalog = serde_json::from_str(REFERENCE_JSON)?;
        // The overrides file belongs to the catalog data and is lenient by design.
        let overrides: Overrides = serde_json::from_str(OVERRIDES_JSON).unwrap_or_default();
        let mut models = Vec::new();
        let mut by_id = HashMap::new();
        let mut profiles: BTreeMap<String, ProfileInfo> = BTreeMap::new();
        for m in reference.models.values() {
            let id = strip_geo(&m.model_id).to_owned();
            if by_id.contains_key(&id) {
                continue;
            }
            let o = extra.get(&id).or_else(|| overrides.models.get(&id));
            let idx = models.len();
            let mut regions = BTreeMap::new();
            for (region, access) in &m.region_access {
                regions.insert(region.clone(), access.has_direct_access);
                for pid in [
                    &access.regional_cris_profile_id,
                    &access.global_cris_profile_id,
                ]
                .into_iter()
                .flatten()
                {
                    profiles
                        .entry(pid.clone())
                        .or_insert_with(|| ProfileInfo {
                            id: pid.clone(),
                            model: idx,
                            regions: BTreeSet::new(),
                        })
                        .regions
                        .insert(region.clone());
                }
            }
            by_id.insert(id.clone(), idx);
            models.push(ModelInfo {
                id,
                name: m.model_name.clone(),
                provider: m.provider.clone(),
                input_modalities: m.input_modalities.clone(),
                output_modalities: m.output_modalities.clone(),
                streaming: m.streaming_supported,
                caps: caps_for(m, o),
                regions,
            });
        }
        Ok(Catalog {
            models,
            by_id,
            profiles,
        })
    }

    /// Looks a model up by base id.
    pub(crate) fn model_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Resolves a decoded model identifier (id, profile id, or ARN) in `region`.
    pub(crate) fn resolve(&self, region: &str, raw: &str) -> Resolution {
        let mut id = raw;
        if let Some(rest) = raw.strip_prefix("arn:aws:bedrock:") {
            // arn:aws:bedrock:<region>:<account>:<resource-type>/<id>
            let mut parts = rest.splitn(3, ':');
            let arn_region = parts.next().unwrap_or_default();
            let _account = parts.next();
            let resource = parts.next().unwrap_or_default();
            if arn_region != region {
                return Resolution::Invalid;
            }
            if let Some(fm) = resource.strip_prefix("foundation-model/") {
                id = fm;
            } else if let Some(p) = resource.strip_prefix("inference-profile/") {
                return self.resolve_profile(region, p);
            } else {
                return Resolution::Invalid;
            }
        }
        if self.profiles.contains_key(id) {
            return self.resolve_profile(region, id);
        }
        let Some(idx) = self.model_index(id) else {
            return Resolution::Invalid;
        };
        match self.models.get(idx).and_then(|m| m.regions.get(region)) {
            Some(true) => Resolution::Ok(idx),
            Some(false) => Resolution::ProfileOnly(id.to_owned()),
            None => Resolution::Invalid,
        }
    }

    /// Whether a batch inference job naming `raw` (already resolved to model `idx`) may run in
    /// `region`: the model's batch regions for a base id or for a profile, when it has them.
    pub(crate) fn batch_allowed(&self, region: &str, raw: &str, idx: usize) -> bool {
        let Some(b) = self
            .models
            .get(idx)
            .and_then(|m| m.caps.batch_inference.as_ref())
        else {
            return true;
        };
        let profile = raw.contains(":inference-profile/") || self.profiles.contains_key(raw);
        let listed = if profile { &b.profile } else { &b.direct };
        listed.iter().any(|r| r == region)
    }

    fn resolve_profile(&self, region: &str, pid: &str) -> Resolution {
        match self.profiles.get(pid) {
            Some(p) if p.regions.contains(region) => Resolution::Ok(p.model),
            _ => Resolution::Invalid,
        }
    }
}

/// Foundation-model ARN.
pub(crate) fn model_arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{id}")
}

/// System inference-profile ARN.
pub(crate) fn profile_arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{ACCOUNT_ID}:inference-profile/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalog {
        Catalog::build(&BTreeMap::new()).unwrap()
    }

    #[test]
    fn batch_jobs_follow_the_catalog_batch_regions() {
        let c = cat();
        let lite = "amazon.nova-lite-v1:0";
        let idx = c.model_index(lite).unwrap();
        assert!(c.batch_allowed("us-east-1", lite, idx));
        assert!(!c.batch_allowed("us-west-2", lite, idx));
        assert!(c.batch_allowed("us-west-2", "us.amazon.nova-lite-v1:0", idx));
        let arn = profile_arn("eu-west-1", "eu.amazon.nova-lite-v1:0");
        assert!(c.batch_allowed("eu-west-1", &arn, idx));
        assert!(!c.batch_allowed("ca-central-1", "ca.amazon.nova-lite-v1:0", idx));
        // Without batch regions in the overrides, batch jobs are accepted where the model is.
        let haiku3 = "anthropic.claude-3-haiku-20240307-v1:0";
        let idx = c.model_index(haiku3).unwrap();
        assert!(c.batch_allowed("us-east-1", haiku3, idx));
    }

    #[test]
    fn resolves_ids_profiles_and_arns() {
        let c = cat();
        let haiku3 = "anthropic.claude-3-haiku-20240307-v1:0";
        assert!(matches!(c.resolve("us-east-1", haiku3), Resolution::Ok(_)));
        let h45 = "anthropic.claude-haiku-4-5-20251001-v1:0";
        assert_eq!(
            c.resolve("us-east-1", h45),
            Resolution::ProfileOnly(h45.to_owned())
        );
        assert!(matches!(
            c.resolve("us-east-1", &format!("us.{h45}")),
            Resolution::Ok(_)
        ));
        assert_eq!(
            c.resolve("eu-west-1", &format!("us.{h45}")),
            Resolution::Invalid
        );
        assert!(matches!(
            c.resolve("us-east-1", &profile_arn("us-east-1", &format!("us.{h45}"))),
            Resolution::Ok(_)
        ));
        assert!(matches!(
            c.resolve("us-east-1", &model_arn("us-east-1", haiku3)),
            Resolution::Ok(_)
        ));
        assert_eq!(c.resolve("us-east-1", "nope.model"), Resolution::Invalid);
    }

    #[test]
    fn capabilities_come_from_overrides_with_defaults() {
        let extra: BTreeMap<String, ModelCaps> = [(
            "anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
            ModelCaps {
                max_output_tokens: Some(1234),
                ..ModelCaps::default()
            },
        )]
        .into();
        let c = Catalog::build(&extra).unwrap();
        let m = &c.models[c
            .model_index("anthropic.claude-3-haiku-20240307-v1:0")
            .unwrap()];
        assert_eq!(m.caps.max_output_tokens, 1234);
        assert!(m.caps.documents, "TEXT input implies documents");
        assert!(m.caps.images, "IMAGE input implies images");
        assert_eq!(m.caps.cache_min_tokens, None, "caching only when listed");
        let file: Overrides = serde_json::from_str(OVERRIDES_JSON).unwrap();
        let unlisted = c
            .models
            .iter()
            .find(|m| !file.models.contains_key(&m.id))
            .unwrap();
        assert_eq!(unlisted.caps.max_output_tokens, 8192);
        assert!(unlisted.caps.tools);
    }
}
