//! The data model of the catalog: one [`ModelInfo`] per foundation model, with where and how it can
//! be called and what it can do.
//!
//! These types are plain data (strings, booleans, maps) so that crates without any AWS dependency,
//! such as `bedrock-retry`, can consume them. They are serialized into the bundled snapshot and the
//! cache file, so their JSON shape is a contract guarded by a snapshot test.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Everything the catalog knows about one foundation model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Base model id, for example `anthropic.claude-3-haiku-20240307-v1:0`.
    pub id: String,
    /// The name users type, derived from the id or given by the overrides file, for example
    /// `Claude 3 Haiku` or `Llama 3.1 70B Instruct` (see [`crate::display_name`]).
    pub name: String,
    /// Provider name as Bedrock reports it, for example `Anthropic`.
    pub provider: String,
    /// Further names that resolve to this model (the service's own model name, historical names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Input modalities in upper case (`TEXT`, `IMAGE`, `VIDEO`, `SPEECH`, ...).
    pub input_modalities: Vec<String>,
    /// Output modalities in upper case (`TEXT`, `IMAGE`, `EMBEDDING`, ...).
    pub output_modalities: Vec<String>,
    /// Whether `ConverseStream` / `InvokeModelWithResponseStream` are supported.
    pub streaming: bool,
    /// Inference types as reported (`ON_DEMAND`, `INFERENCE_PROFILE`, `PROVISIONED`).
    pub inference_types: Vec<String>,
    /// Lifecycle status.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Per region: how the model can be called from that region.
    pub regions: BTreeMap<String, RegionAccess>,
    /// System-defined inference profiles that route to this model, sorted by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileInfo>,
    /// Capability flags (API data plus the maintained overrides file).
    pub capabilities: Capabilities,
}

impl ModelInfo {
    /// How the model can be called from `region`, if at all.
    #[must_use]
    pub fn region_access(&self, region: &str) -> Option<&RegionAccess> {
        self.regions.get(region).filter(|a| a.is_callable())
    }

    /// The profile with this id, if it routes to this model.
    #[must_use]
    pub fn profile(&self, id: &str) -> Option<&ProfileInfo> {
        self.profiles.iter().find(|p| p.id == id)
    }

    /// Whether the model accepts and produces text (a chat or completion model).
    #[must_use]
    pub fn is_text_model(&self) -> bool {
        has(&self.input_modalities, "TEXT") && has(&self.output_modalities, "TEXT")
    }
}

pub(crate) fn has(list: &[String], item: &str) -> bool {
    list.iter().any(|m| m.eq_ignore_ascii_case(item))
}

/// How a model can be called from one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionAccess {
    /// On-demand invocation with the base model id works in this region.
    pub direct: bool,
    /// A geographic cross-region profile (`us.`, `eu.`, `apac.`, `jp.`, ...) callable from this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_profile: Option<String>,
    /// The `global.` cross-region profile, if callable from this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_profile: Option<String>,
}

impl RegionAccess {
    /// Whether any access method is available.
    #[must_use]
    pub fn is_callable(&self) -> bool {
        self.direct || self.regional_profile.is_some() || self.global_profile.is_some()
    }
}

/// A system-defined inference profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    /// Profile id, for example `us.anthropic.claude-3-haiku-20240307-v1:0`.
    pub id: String,
    /// Geography from the id prefix.
    pub geo: Geo,
    /// Regions the profile routes to or is callable from, sorted.
    pub member_regions: Vec<String>,
    /// Regions the profile sends requests to, sorted: the regions of the model ARNs the control
    /// plane lists for it. Empty when the data source does not say (the bundled snapshot lists
    /// only the regions a profile is callable from); then the profile's geography is all that is
    /// known about where it routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_regions: Vec<String>,
}

/// Lifecycle status of a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Lifecycle {
    /// Fully supported.
    Active,
    /// Deprecated; still callable until its end-of-life date.
    Legacy,
    /// Not reported by the data source.
    #[default]
    Unknown,
}

/// Capability flags that the rest of the workspace needs.
///
/// Flags the Bedrock APIs do not report come from `data/overrides.json` (compiled in). Without an
/// override the defaults are derived: `images` iff the model takes `IMAGE` input, `video` iff it takes
/// `VIDEO` input, `system_prompt` iff it takes and produces `TEXT`; `tools`, `documents` and
/// `structured_output` are `false` (unknown is treated as unsupported); no prompt caching; no
/// known output limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Tool use through Converse `toolConfig`.
    pub tools: bool,
    /// Image content blocks.
    pub images: bool,
    /// Document content blocks (document chat).
    pub documents: bool,
    /// Video content blocks.
    pub video: bool,
    /// A `system` prompt.
    pub system_prompt: bool,
    /// Explicit prompt caching with `cachePoint` blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_caching: Option<PromptCaching>,
    /// Largest `maxTokens` the model accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Bedrock's native structured output (`outputConfig.textFormat` of type `json_schema`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub structured_output: bool,
    /// Where the model runs batch inference jobs (`CreateModelInvocationJob`); `None` when the
    /// overrides file does not say, which is treated as unsupported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_inference: Option<BatchInference>,
    /// Key into the overrides file's `sources` for the flags that came from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Regions where a model runs batch inference jobs, from AWS's table "Supported Regions and
/// models for batch inference".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInference {
    /// Regions where a job may name the base model id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub direct: Vec<String>,
    /// Regions where a job may name the model's cross-region inference profile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
    /// Key into the overrides file's `sources` for these regions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// When the regions were read from the source (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date: String,
}

impl BatchInference {
    /// Every region listed, sorted and without repeats.
    #[must_use]
    pub fn regions(&self) -> Vec<String> {
        let mut all: Vec<String> = self.direct.iter().chain(&self.profile).cloned().collect();
        all.sort();
        all.dedup();
        all
    }
}

/// Prompt-caching limits of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptCaching {
    /// Minimum tokens before a checkpoint (cumulative: the n-th checkpoint needs n × this).
    pub min_tokens: u32,
    /// Maximum checkpoints per request.
    pub max_points: u32,
    /// Whether `ttl: "1h"` is accepted on cache points.
    pub ttl_1h: bool,
}

/// How a call reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessMethod {
    /// The base model id, on demand, in the calling region.
    Direct,
    /// A geographic cross-region inference profile (`us.`, `eu.`, ...).
    RegionalProfile,
    /// The `global.` cross-region inference profile.
    GlobalProfile,
}

impl AccessMethod {
    /// Stable lower-case name (`direct`, `regional_profile`, `global_profile`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::RegionalProfile => "regional_profile",
            Self::GlobalProfile => "global_profile",
        }
    }
}

impl fmt::Display for AccessMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which access method to choose when several work in a region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccessPreference {
    /// Direct, then the regional profile, then the global profile.
    #[default]
    PreferDirect,
    /// Regional profile (data stays in its geography), then direct, then global.
    PreferRegionalProfile,
    /// Global profile (most capacity), then regional, then direct.
    PreferGlobalProfile,
}

impl AccessPreference {
    /// The order in which methods are tried.
    #[must_use]
    pub fn order(self) -> [AccessMethod; 3] {
        use AccessMethod::{Direct, GlobalProfile, RegionalProfile};
        match self {
            Self::PreferDirect => [Direct, RegionalProfile, GlobalProfile],
            Self::PreferRegionalProfile => [RegionalProfile, Direct, GlobalProfile],
            Self::PreferGlobalProfile => [GlobalProfile, RegionalProfile, Direct],
        }
    }
}

/// The answer to "how do I call this model from this region".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelAccess {
    /// Base model id.
    pub model_id: String,
    /// Id to put in the request URL: the base id or an inference-profile id.
    pub invoke_id: String,
    /// Region the call is sent to.
    pub region: String,
    /// How the call reaches the model.
    pub method: AccessMethod,
}

/// A geography, from an inference-profile prefix or a region name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
#[non_exhaustive]
pub enum Geo {
    /// United States (`us`, regions `us-*`).
    Us,
    /// AWS GovCloud (US) (`us-gov`, regions `us-gov-*`).
    UsGov,
    /// Europe (`eu`, regions `eu-*`).
    Eu,
    /// Asia Pacific (`apac`, regions `ap-*`).
    Apac,
    /// Japan (`jp`, regions `ap-northeast-1`, `ap-northeast-3`).
    Jp,
    /// Australia (`au`, regions `ap-southeast-2`, `ap-southeast-4`).
    Au,
    /// Canada (`ca`, regions `ca-*`).
    Ca,
    /// South America (`sa`, regions `sa-*`).
    Sa,
    /// The `global` profile geography: every commercial region.
    Global,
    /// Any other prefix, kept verbatim.
    Other(String),
}

impl Geo {
    /// The prefix as used in profile ids.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Us => "us",
            Self::UsGov => "us-gov",
            Self::Eu => "eu",
            Self::Apac => "apac",
            Self::Jp => "jp",
            Self::Au => "au",
            Self::Ca => "ca",
            Self::Sa => "sa",
            Self::Global => "global",
            Self::Other(s) => s,
        }
    }

    /// Whether `region` lies in this geography.
    #[must_use]
    pub fn contains_region(&self, region: &str) -> bool {
        match self {
            Self::Global => true,
            Self::UsGov => region.starts_with("us-gov-"),
            Self::Us => region.starts_with("us-") && !region.starts_with("us-gov-"),
            Self::Eu => region.starts_with("eu-"),
            Self::Apac => region.starts_with("ap-"),
            Self::Jp => matches!(region, "ap-northeast-1" | "ap-northeast-3"),
            Self::Au => matches!(region, "ap-southeast-2" | "ap-southeast-4"),
            Self::Ca => region.starts_with("ca-"),
            Self::Sa => region.starts_with("sa-"),
            Self::Other(p) => region.starts_with(p.as_str()),
        }
    }

    /// The geography of a profile id (`us.anthropic...` → `Us`), if it has a known prefix.
    #[must_use]
    pub fn of_profile_id(id: &str) -> Option<Self> {
        let (prefix, rest) = id.split_once('.')?;
        // A base model id also contains dots ("amazon.nova-pro-v1:0"); a profile id has a geography
        // prefix followed by a full base id, which itself contains a dot.
        if !rest.contains('.') {
            return None;
        }
        match prefix {
            "us" | "us-gov" | "eu" | "apac" | "jp" | "au" | "ca" | "sa" | "global" => {
                Some(Self::from(prefix.to_owned()))
            }
            _ => None,
        }
    }
}

impl From<String> for Geo {
    fn from(s: String) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "us" => Self::Us,
            "us-gov" | "usgov" => Self::UsGov,
            "eu" => Self::Eu,
            "apac" | "ap" => Self::Apac,
            "jp" => Self::Jp,
            "au" => Self::Au,
            "ca" => Self::Ca,
            "sa" => Self::Sa,
            "global" => Self::Global,
            _ => Self::Other(s),
        }
    }
}

impl From<Geo> for String {
    fn from(g: Geo) -> Self {
        g.as_str().to_owned()
    }
}

impl FromStr for Geo {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(s.to_owned()))
    }
}

impl fmt::Display for Geo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geo_of_profile_ids() {
        assert_eq!(
            Geo::of_profile_id("us.anthropic.claude-3-haiku-20240307-v1:0"),
            Some(Geo::Us)
        );
        assert_eq!(
            Geo::of_profile_id("global.anthropic.claude-opus-4-6-v1"),
            Some(Geo::Global)
        );
        assert_eq!(Geo::of_profile_id("jp.x.y"), Some(Geo::Jp));
        assert_eq!(Geo::of_profile_id("amazon.nova-pro-v1:0"), None);
        assert_eq!(
            Geo::of_profile_id("anthropic.claude-3-haiku-20240307-v1:0"),
            None
        );
    }

    #[test]
    fn geo_contains_regions() {
        assert!(Geo::Us.contains_region("us-east-1"));
        assert!(!Geo::Us.contains_region("us-gov-west-1"));
        assert!(Geo::Apac.contains_region("ap-southeast-2"));
        assert!(Geo::Au.contains_region("ap-southeast-2"));
        assert!(!Geo::Jp.contains_region("ap-southeast-2"));
        assert!(!Geo::Eu.contains_region("us-east-1"));
        assert!(Geo::Global.contains_region("sa-east-1"));
    }

    #[test]
    fn preference_orders() {
        assert_eq!(
            AccessPreference::PreferGlobalProfile.order()[0],
            AccessMethod::GlobalProfile
        );
        assert_eq!(
            AccessPreference::PreferRegionalProfile.order()[1],
            AccessMethod::Direct
        );
        assert_eq!(AccessPreference::default().order()[0], AccessMethod::Direct);
    }
}
