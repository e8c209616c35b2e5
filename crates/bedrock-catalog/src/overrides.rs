//! Capability flags the Bedrock APIs do not report, from the maintained file
//! `data/overrides.json` in this crate.
//!
//! The file is compiled into the crate so that catalogs fetched from the API at run time get the
//! same flags as the bundled snapshot. Its field names are a contract shared with `bedrock-sim`.
//! Every entry names a `source` key whose citation is listed under `sources`; a flag missing from an
//! entry falls back to the derived default documented on [`Capabilities`]. Its `names` map gives
//! display names to the few models whose id-derived name ([`crate::display_name`]) reads badly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{BatchInference, Capabilities, PromptCaching, has};

/// The overrides file compiled into this build.
pub const BUNDLED_OVERRIDES: &str = include_str!("../data/overrides.json");

/// Schema version of the overrides file this build reads.
pub const OVERRIDES_SCHEMA_VERSION: u32 = 1;

/// Default number of cache checkpoints per request when an entry does not say (Bedrock allows 4).
pub const DEFAULT_MAX_CACHE_POINTS: u32 = 4;

/// The parsed overrides file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overrides {
    /// Schema version; must be [`OVERRIDES_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Citation per source key.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
    /// Flags per base model id.
    #[serde(default)]
    pub models: BTreeMap<String, ModelOverride>,
    /// Display names for model ids whose derived name ([`crate::display_name`]) reads badly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
}

/// Flags for one model; absent fields keep the derived default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOverride {
    /// Largest `maxTokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Tool use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<bool>,
    /// Document blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<bool>,
    /// Image blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<bool>,
    /// Video blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<bool>,
    /// Prompt caching limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_caching: Option<PromptCachingOverride>,
    /// Native structured output (`outputConfig.textFormat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_output: Option<bool>,
    /// Regions with batch inference (`direct`: the base model id, `profile`: its cross-region
    /// inference profile); absent means unknown, treated as no batch inference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_inference: Option<BatchInference>,
    /// Key into [`Overrides::sources`].
    pub source: String,
}

/// Prompt-caching entry of the overrides file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptCachingOverride {
    /// Minimum tokens per checkpoint.
    pub min_tokens: u32,
    /// Whether the 1-hour TTL is accepted.
    #[serde(default)]
    pub ttl_1h: bool,
    /// Maximum checkpoints per request (default [`DEFAULT_MAX_CACHE_POINTS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<u32>,
}

impl Overrides {
    /// Parses and checks an overrides file: schema version, and that every entry cites a known source.
    pub fn parse(json: &str) -> Result<Self, Error> {
        let what = "overrides";
        let o: Self = serde_json::from_str(json).map_err(|source| Error::Parse {
            what: what.into(),
            source,
        })?;
        if o.schema_version != OVERRIDES_SCHEMA_VERSION {
            return Err(Error::SchemaVersion {
                what: what.into(),
                found: o.schema_version,
                expected: OVERRIDES_SCHEMA_VERSION,
            });
        }
        for (id, m) in &o.models {
            if !o.sources.contains_key(&m.source) {
                return Err(Error::InvalidData {
                    what: what.into(),
                    message: format!("model {id} cites unknown source {:?}", m.source),
                });
            }
            if let Some(b) = &m.batch_inference
                && !o.sources.contains_key(&b.source)
            {
                return Err(Error::InvalidData {
                    what: what.into(),
                    message: format!(
                        "model {id}: batch_inference cites unknown source {:?}",
                        b.source
                    ),
                });
            }
        }
        Ok(o)
    }

    /// The overrides compiled into this build.
    pub fn bundled() -> Result<Self, Error> {
        Self::parse(BUNDLED_OVERRIDES)
    }

    /// The entry for a model id; a context-window variant (`...-v1:0:32k`) uses its base entry.
    #[must_use]
    pub fn get(&self, model_id: &str) -> Option<&ModelOverride> {
        self.models
            .get(model_id)
            .or_else(|| self.models.get(strip_context_variant(model_id)?))
    }

    /// The display name of a model: this file's `names` entry, or the name derived from the id
    /// ([`crate::display_name`]). A context-window variant is named after its base model.
    #[must_use]
    pub fn display_name(&self, model_id: &str) -> String {
        if let Some(name) = self.names.get(model_id) {
            return name.clone();
        }
        if let Some(base) = strip_context_variant(model_id)
            && let Some(name) = self.names.get(base)
        {
            let window = model_id.rsplit(':').next().unwrap_or_default();
            return format!("{name} ({})", window.to_uppercase());
        }
        crate::names::display_name(model_id)
    }

    /// Capabilities for a model from its modalities and this file.
    #[must_use]
    pub fn capabilities(
        &self,
        model_id: &str,
        input: &[String],
        output: &[String],
    ) -> Capabilities {
        let mut c = derived_capabilities(input, output);
        if let Some(o) = self.get(model_id) {
            c.tools = o.tools.unwrap_or(c.tools);
            c.images = o.images.unwrap_or(c.images);
            c.documents = o.documents.unwrap_or(c.documents);
            c.video = o.video.unwrap_or(c.video);
            c.system_prompt = o.system_prompt.unwrap_or(c.system_prompt);
            c.max_output_tokens = o.max_output_tokens.or(c.max_output_tokens);
            c.structured_output = o.structured_output.unwrap_or(c.structured_output);
            c.prompt_caching = o.prompt_caching.map(|p| PromptCaching {
                min_tokens: p.min_tokens,
                max_points: p.max_points.unwrap_or(DEFAULT_MAX_CACHE_POINTS),
                ttl_1h: p.ttl_1h,
            });
            c.batch_inference = o.batch_inference.clone();
            c.source = Some(o.source.clone());
        }
        c
    }
}

/// Capabilities without any override (see [`Capabilities`] for the rules).
#[must_use]
pub fn derived_capabilities(input: &[String], output: &[String]) -> Capabilities {
    let text = has(input, "TEXT") && has(output, "TEXT");
    Capabilities {
        tools: false,
        images: has(input, "IMAGE"),
        documents: false,
        video: has(input, "VIDEO"),
        system_prompt: text,
        prompt_caching: None,
        max_output_tokens: None,
        structured_output: false,
        batch_inference: None,
        source: None,
    }
}

/// `amazon.nova-premier-v1:0:8k` → `amazon.nova-premier-v1:0`.
pub(crate) fn strip_context_variant(id: &str) -> Option<&str> {
    let (base, last) = id.rsplit_once(':')?;
    let digits = last.strip_suffix('k')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && base.contains(':'))
        .then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn bundled_file_parses_and_cites_sources() {
        let o = Overrides::bundled().unwrap();
        assert!(o.models.len() > 20, "overrides cover the major text models");
    }

    #[test]
    fn defaults_follow_modalities() {
        let c = derived_capabilities(&s(&["TEXT", "IMAGE"]), &s(&["TEXT"]));
        assert!(c.images && c.system_prompt && !c.tools && !c.documents && !c.video);
        let c = derived_capabilities(&s(&["TEXT"]), &s(&["EMBEDDING"]));
        assert!(!c.system_prompt);
    }

    #[test]
    fn variants_use_base_entry() {
        assert_eq!(
            strip_context_variant("amazon.nova-premier-v1:0:8k"),
            Some("amazon.nova-premier-v1:0")
        );
        assert_eq!(strip_context_variant("amazon.nova-premier-v1:0"), None);
        assert_eq!(strip_context_variant("anthropic.claude-opus-4-6-v1"), None);
        let o = Overrides::parse(
            r#"{"schema_version":1,"sources":{"a":"x"},"models":{"m.x-v1:0":{"tools":true,"prompt_caching":{"min_tokens":1024},"source":"a"}}}"#,
        )
        .unwrap();
        let c = o.capabilities("m.x-v1:0:32k", &s(&["TEXT"]), &s(&["TEXT"]));
        assert!(c.tools);
        assert_eq!(
            c.prompt_caching,
            Some(PromptCaching {
                min_tokens: 1024,
                max_points: 4,
                ttl_1h: false
            })
        );
        assert_eq!(c.source.as_deref(), Some("a"));
    }

    #[test]
    fn batch_inference_regions_are_read_and_cite_a_known_source() {
        let o = Overrides::parse(
            r#"{"schema_version":1,"sources":{"a":"x","b":"y"},"models":{"m.x-v1:0":{"batch_inference":{"direct":["us-east-1"],"profile":["eu-west-1","us-east-1"],"source":"b","date":"2026-12-02"},"source":"a"}}}"#,
        )
        .unwrap();
        let b = o
            .capabilities("m.x-v1:0", &s(&["TEXT"]), &s(&["TEXT"]))
            .batch_inference
            .unwrap();
        assert_eq!(b.direct, ["us-east-1"]);
        assert_eq!(b.regions(), ["eu-west-1", "us-east-1"]);
        assert_eq!((b.source.as_str(), b.date.as_str()), ("b", "2026-12-02"));
        let e = Overrides::parse(
            r#"{"schema_version":1,"sources":{"a":"x"},"models":{"m":{"batch_inference":{"direct":["us-east-1"],"source":"zz"},"source":"a"}}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("batch_inference"), "{e}");
        let bundled = Overrides::bundled().unwrap();
        let lite = bundled.get("amazon.nova-lite-v1:0").unwrap();
        assert!(lite.batch_inference.is_some());
        let sonnet37 = bundled
            .get("anthropic.claude-3-7-sonnet-20250219-v1:0")
            .unwrap();
        assert_eq!(sonnet37.batch_inference, None, "no batch row could be read");
    }

    #[test]
    fn rejects_unknown_source_and_schema() {
        let e =
            Overrides::parse(r#"{"schema_version":1,"sources":{},"models":{"m":{"source":"zz"}}}"#)
                .unwrap_err();
        assert!(matches!(e, Error::InvalidData { .. }), "{e}");
        let e = Overrides::parse(r#"{"schema_version":2}"#).unwrap_err();
        assert!(matches!(e, Error::SchemaVersion { found: 2, .. }), "{e}");
    }
}
