//! The boundary between the catalog and where its data comes from.
//!
//! [`CatalogSource`] has one required method: fetch the raw listings for a set of regions. The AWS
//! API source (`ApiSource`, feature `fetch`) is one implementation; [`StaticSource`] serves fixed
//! data for tests and offline tools. Sources report per-region failures inside [`RawCatalog`]
//! rather than failing as a whole, so one region that times out or denies access does not hide the
//! others.

use std::collections::BTreeMap;
use std::fmt::{self, Debug};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Where catalog data comes from.
///
/// # Contract
///
/// `fetch` returns one [`RegionListing`] per region that answered and one [`RegionFailure`] per
/// region that did not. It returns `Err` only when it could not try at all (for example, invalid
/// configuration). It should bound its own run time; the builder also applies an overall deadline.
///
/// # Example
///
/// ```
/// use bedrock_catalog::{CatalogSource, Error, RawCatalog};
/// use futures::future::BoxFuture;
///
/// #[derive(Debug)]
/// struct Empty;
///
/// impl CatalogSource for Empty {
///     fn fetch<'a>(&'a self, _regions: &'a [String]) -> BoxFuture<'a, Result<RawCatalog, Error>> {
///         Box::pin(async { Ok(RawCatalog::default()) })
///     }
/// }
///
/// // A source with no data; given to `Catalog::builder().source(..)` (feature `fetch`), the
/// // build falls back to the bundled snapshot.
/// let raw = futures::executor::block_on(Empty.fetch(&["us-east-1".to_owned()]))?;
/// assert!(raw.listings.is_empty());
/// # Ok::<(), Error>(())
/// ```
pub trait CatalogSource: Send + Sync + Debug + 'static {
    /// Fetches the listings of `regions`.
    fn fetch<'a>(&'a self, regions: &'a [String]) -> BoxFuture<'a, Result<RawCatalog, Error>>;
}

/// Raw listings as the control plane returns them, per region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawCatalog {
    /// Listings of the regions that answered.
    pub listings: BTreeMap<String, RegionListing>,
    /// Regions that did not answer, and why.
    #[serde(default)]
    pub failures: Vec<RegionFailure>,
}

/// What one region returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionListing {
    /// `ListFoundationModels` summaries.
    pub models: Vec<RawModel>,
    /// `ListInferenceProfiles` summaries (system-defined).
    pub profiles: Vec<RawProfile>,
}

/// One `FoundationModelSummary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawModel {
    /// `modelId`.
    pub model_id: String,
    /// `modelName`.
    #[serde(default)]
    pub model_name: Option<String>,
    /// `providerName`.
    #[serde(default)]
    pub provider_name: Option<String>,
    /// `inputModalities`.
    #[serde(default)]
    pub input_modalities: Vec<String>,
    /// `outputModalities`.
    #[serde(default)]
    pub output_modalities: Vec<String>,
    /// `responseStreamingSupported`.
    #[serde(default)]
    pub streaming: Option<bool>,
    /// `inferenceTypesSupported` (`ON_DEMAND`, `PROVISIONED`, `INFERENCE_PROFILE`).
    #[serde(default)]
    pub inference_types: Vec<String>,
    /// `modelLifecycle.status`.
    #[serde(default)]
    pub lifecycle: Option<String>,
}

/// One `InferenceProfileSummary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawProfile {
    /// `inferenceProfileId`.
    pub id: String,
    /// `inferenceProfileName`.
    #[serde(default)]
    pub name: Option<String>,
    /// `models[].modelArn`: one foundation-model ARN per destination region.
    #[serde(default)]
    pub model_arns: Vec<String>,
}

/// A region that did not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionFailure {
    /// The region.
    pub region: String,
    /// Classification.
    pub kind: FailureKind,
    /// Details for the warning.
    pub message: String,
}

impl fmt::Display for RegionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.region,
            self.kind.as_str(),
            self.message
        )
    }
}

/// Why a region did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// No answer within the per-region timeout or the overall deadline.
    Timeout,
    /// The caller may not list models there (region not enabled, missing permission).
    AccessDenied,
    /// The region throttled the request.
    Throttled,
    /// No connection to the endpoint: refused, a host name that does not resolve, a failed
    /// TLS handshake.
    Unreachable,
    /// Credentials or any other failure.
    Other,
}

impl FailureKind {
    /// Stable lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::AccessDenied => "access denied",
            Self::Throttled => "throttled",
            Self::Unreachable => "unreachable",
            Self::Other => "error",
        }
    }
}

/// A source that serves fixed listings; regions it has no listing for are reported as failures.
#[derive(Debug, Clone, Default)]
pub struct StaticSource {
    raw: RawCatalog,
}

impl StaticSource {
    /// Serves `raw`.
    #[must_use]
    pub fn new(raw: RawCatalog) -> Self {
        Self { raw }
    }
}

impl CatalogSource for StaticSource {
    fn fetch<'a>(&'a self, regions: &'a [String]) -> BoxFuture<'a, Result<RawCatalog, Error>> {
        Box::pin(async move {
            let mut out = RawCatalog::default();
            for r in regions {
                if let Some(l) = self.raw.listings.get(r) {
                    out.listings.insert(r.clone(), l.clone());
                } else if let Some(f) = self.raw.failures.iter().find(|f| &f.region == r) {
                    out.failures.push(f.clone());
                } else {
                    out.failures.push(RegionFailure {
                        region: r.clone(),
                        kind: FailureKind::Other,
                        message: "no data for this region".into(),
                    });
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _object_safe(_: &dyn CatalogSource) {}

    #[tokio::test]
    async fn static_source_reports_missing_regions() {
        let mut raw = RawCatalog::default();
        raw.listings
            .insert("us-east-1".into(), RegionListing::default());
        let got = StaticSource::new(raw)
            .fetch(&["us-east-1".into(), "eu-west-1".into()])
            .await
            .unwrap();
        assert_eq!(got.listings.keys().collect::<Vec<_>>(), ["us-east-1"]);
        assert_eq!(got.failures.len(), 1);
        assert_eq!(got.failures[0].region, "eu-west-1");
    }
}
