//! The loaded catalog and its queries.
//!
//! A [`Catalog`] is immutable once built and shares its data behind an `Arc`, so cloning it is cheap
//! and lookups need no locking. Lookups borrow from the catalog; none of them does IO.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

#[cfg(feature = "fetch")]
use crate::builder::CatalogBuilder;
use crate::error::Error;
use crate::model::{AccessMethod, AccessPreference, BatchInference, Geo, ModelAccess, ModelInfo};
use crate::names::NameIndex;
use crate::snapshot::Snapshot;
use crate::time::parse_rfc3339;

/// Where the loaded data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataSource {
    /// Fetched from the Bedrock control plane (or a custom [`crate::CatalogSource`]) just now.
    Api,
    /// Read from the cache (file or process memory).
    Cache,
    /// The snapshot compiled into the crate.
    Bundled,
}

impl DataSource {
    /// Stable lower-case name (`api`, `cache`, `bundled`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Cache => "cache",
            Self::Bundled => "bundled",
        }
    }
}

/// Facts about how the catalog was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogMetadata {
    /// Where the data came from.
    pub source: DataSource,
    /// When the data was retrieved from its origin.
    pub retrieved_at: SystemTime,
    /// Regions whose listings the data contains.
    pub regions_queried: Vec<String>,
    /// The data's own version (`YYYYMMDDTHHMMSSZ` of its retrieval).
    pub data_version: String,
    /// Version of the snapshot compiled into this build.
    pub bundled_data_version: String,
    /// The cache file, when the file cache was used.
    pub cache_file: Option<PathBuf>,
    /// Why a better source was not used (set when falling back).
    pub fallback_reason: Option<String>,
}

#[derive(Debug)]
struct Inner {
    models: Vec<ModelInfo>,
    index: NameIndex,
    metadata: CatalogMetadata,
    warnings: Vec<String>,
    snapshot_meta: (String, String, String),
}

/// The model catalog. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

impl Catalog {
    /// The snapshot compiled into the crate: synchronous, no IO.
    pub fn bundled() -> Result<Self, Error> {
        let snap = Snapshot::bundled()?;
        let meta = metadata_for(&snap, DataSource::Bundled, None, None);
        Ok(Self::from_snapshot(snap, meta, Vec::new()))
    }

    /// A builder for catalogs from the API, a cache or a custom source.
    #[cfg(feature = "fetch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::new()
    }

    pub(crate) fn from_snapshot(
        snap: Snapshot,
        metadata: CatalogMetadata,
        warnings: Vec<String>,
    ) -> Self {
        let index = NameIndex::build(&snap.models);
        let snapshot_meta = (snap.data_version, snap.generated_at, snap.source);
        Self {
            inner: Arc::new(Inner {
                models: snap.models,
                index,
                metadata,
                warnings,
                snapshot_meta,
            }),
        }
    }

    /// The catalog's data as a snapshot (what the cache file stores).
    #[must_use]
    pub fn to_snapshot(&self) -> Snapshot {
        let (data_version, generated_at, source) = self.inner.snapshot_meta.clone();
        Snapshot {
            schema_version: crate::snapshot::SNAPSHOT_SCHEMA_VERSION,
            data_version,
            generated_at,
            source,
            regions_queried: self.inner.metadata.regions_queried.clone(),
            models: self.inner.models.clone(),
        }
    }

    /// Resolves a friendly name, model id, profile id or ARN to its model.
    ///
    /// # Errors
    /// [`Error::UnknownModel`] with the closest names, or [`Error::AmbiguousModel`] with the candidates.
    pub fn resolve(&self, name: &str) -> Result<&ModelInfo, Error> {
        let hit = self.inner.index.resolve(name)?;
        self.model_at(hit.model, name)
    }

    fn model_at(&self, i: u32, name: &str) -> Result<&ModelInfo, Error> {
        self.inner
            .models
            .get(i as usize)
            .ok_or_else(|| Error::UnknownModel {
                name: name.to_owned(),
                suggestions: Vec::new(),
            })
    }

    /// How to call a model from `region`, choosing among the available methods by `pref`.
    ///
    /// When `name_or_id` is itself an inference-profile id or ARN callable from `region`, that
    /// profile is used whatever the preference.
    ///
    /// # Errors
    /// Name errors as for [`Catalog::resolve`], or [`Error::NotAvailableInRegion`].
    pub fn access(
        &self,
        name_or_id: &str,
        region: &str,
        pref: AccessPreference,
    ) -> Result<ModelAccess, Error> {
        let hit = self.inner.index.resolve(name_or_id)?;
        let m = self.model_at(hit.model, name_or_id)?;
        let not_available = || Error::NotAvailableInRegion {
            model_id: m.id.clone(),
            region: region.to_owned(),
            available_regions: m
                .regions
                .iter()
                .filter(|(_, a)| a.is_callable())
                .map(|(r, _)| r.clone())
                .collect(),
        };
        let a = m.region_access(region).ok_or_else(not_available)?;
        let make = |invoke_id: &str, method| ModelAccess {
            model_id: m.id.clone(),
            invoke_id: invoke_id.to_owned(),
            region: region.to_owned(),
            method,
        };
        if let Some(p) = hit.profile.and_then(|p| m.profiles.get(p as usize)) {
            if a.regional_profile.as_deref() == Some(p.id.as_str()) {
                return Ok(make(&p.id, AccessMethod::RegionalProfile));
            }
            if a.global_profile.as_deref() == Some(p.id.as_str()) {
                return Ok(make(&p.id, AccessMethod::GlobalProfile));
            }
        }
        for method in pref.order() {
            let id = match method {
                AccessMethod::Direct => a.direct.then_some(m.id.as_str()),
                AccessMethod::RegionalProfile => a.regional_profile.as_deref(),
                AccessMethod::GlobalProfile => a.global_profile.as_deref(),
            };
            if let Some(id) = id {
                return Ok(make(id, method));
            }
        }
        Err(not_available())
    }

    /// Every way to call a model from `region`, best first by `pref` (for failover between methods).
    ///
    /// # Errors
    /// Name errors as for [`Catalog::resolve`], or [`Error::NotAvailableInRegion`].
    pub fn accesses(
        &self,
        name_or_id: &str,
        region: &str,
        pref: AccessPreference,
    ) -> Result<Vec<ModelAccess>, Error> {
        let first = self.access(name_or_id, region, pref)?;
        let m = self.resolve(name_or_id)?;
        let mut out = vec![first];
        if let Some(a) = m.region_access(region) {
            for method in pref.order() {
                let id = match method {
                    AccessMethod::Direct => a.direct.then_some(m.id.as_str()),
                    AccessMethod::RegionalProfile => a.regional_profile.as_deref(),
                    AccessMethod::GlobalProfile => a.global_profile.as_deref(),
                };
                if let Some(id) = id
                    && !out.iter().any(|x| x.invoke_id == id)
                {
                    out.push(ModelAccess {
                        model_id: m.id.clone(),
                        invoke_id: id.to_owned(),
                        region: region.to_owned(),
                        method,
                    });
                }
            }
        }
        Ok(out)
    }

    /// How a batch inference job (`CreateModelInvocationJob`) runs the model in `region`: the base
    /// model id where AWS lists the region for the foundation model, otherwise the model's
    /// cross-region inference profile where AWS lists the region for the profile. A model without
    /// batch data ([`Capabilities::batch_inference`](crate::Capabilities)) runs batch jobs nowhere.
    ///
    /// ```
    /// use bedrock_catalog::Catalog;
    ///
    /// let catalog = Catalog::bundled()?;
    /// let job = catalog.batch_access("Nova Lite", "us-east-1")?;
    /// assert_eq!(job.invoke_id, "amazon.nova-lite-v1:0");
    /// # Ok::<(), bedrock_catalog::Error>(())
    /// ```
    ///
    /// # Errors
    /// Name errors as for [`Catalog::resolve`], or [`Error::NoBatchInference`].
    pub fn batch_access(&self, name_or_id: &str, region: &str) -> Result<ModelAccess, Error> {
        let m = self.resolve(name_or_id)?;
        let batch = m.capabilities.batch_inference.as_ref();
        let refused = || Error::NoBatchInference {
            model_id: m.id.clone(),
            region: region.to_owned(),
            batch_regions: batch.map(BatchInference::regions).unwrap_or_default(),
        };
        let Some(batch) = batch else {
            return Err(refused());
        };
        let make = |invoke_id: &str, method| ModelAccess {
            model_id: m.id.clone(),
            invoke_id: invoke_id.to_owned(),
            region: region.to_owned(),
            method,
        };
        if batch.direct.iter().any(|r| r == region) {
            return Ok(make(&m.id, AccessMethod::Direct));
        }
        if batch.profile.iter().any(|r| r == region)
            && let Some(a) = m.region_access(region)
        {
            if let Some(p) = &a.regional_profile {
                return Ok(make(p, AccessMethod::RegionalProfile));
            }
            if let Some(p) = &a.global_profile {
                return Ok(make(p, AccessMethod::GlobalProfile));
            }
        }
        Err(refused())
    }

    /// Whether the named model can be called from `region` by any method (`false` for unknown names).
    #[must_use]
    pub fn is_available(&self, name: &str, region: &str) -> bool {
        self.resolve(name)
            .is_ok_and(|m| m.region_access(region).is_some())
    }

    /// All models, sorted by id.
    #[must_use]
    pub fn models(&self) -> &[ModelInfo] {
        &self.inner.models
    }

    /// Models callable from `region`.
    pub fn models_in_region<'a>(
        &'a self,
        region: &'a str,
    ) -> impl Iterator<Item = &'a ModelInfo> + 'a {
        self.inner
            .models
            .iter()
            .filter(move |m| m.region_access(region).is_some())
    }

    /// Models of a provider (case-insensitive).
    pub fn models_by_provider<'a>(
        &'a self,
        provider: &'a str,
    ) -> impl Iterator<Item = &'a ModelInfo> + 'a {
        self.inner
            .models
            .iter()
            .filter(move |m| m.provider.eq_ignore_ascii_case(provider))
    }

    /// Regions from which the model can be called, sorted, optionally only those in `geo`.
    ///
    /// # Errors
    /// Name errors as for [`Catalog::resolve`].
    pub fn regions_for(&self, name: &str, geo: Option<Geo>) -> Result<Vec<String>, Error> {
        let m = self.resolve(name)?;
        Ok(m.regions
            .iter()
            .filter(|(r, a)| a.is_callable() && geo.as_ref().is_none_or(|g| g.contains_region(r)))
            .map(|(r, _)| r.clone())
            .collect())
    }

    /// The regions where Bedrock serves at least one model, sorted, optionally only those in
    /// `geo`: region discovery (the Python library's `BedrockRegionDiscovery`). The answer is as
    /// fresh as the catalog: from the control plane with the catalog's file cache and its
    /// maximum age when built with [`Catalog::builder`], from the bundled snapshot otherwise (and
    /// when the API cannot be reached).
    ///
    /// ```
    /// use bedrock_catalog::{Catalog, Geo};
    ///
    /// let catalog = Catalog::bundled()?;
    /// let eu = catalog.regions(Some(&Geo::Eu));
    /// assert!(eu.iter().any(|r| r == "eu-west-1"));
    /// assert!(eu.iter().all(|r| r.starts_with("eu-")));
    /// # Ok::<(), bedrock_catalog::Error>(())
    /// ```
    #[must_use]
    pub fn regions(&self, geo: Option<&Geo>) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .models
            .iter()
            .flat_map(|m| m.regions.iter())
            .filter(|(r, a)| a.is_callable() && geo.is_none_or(|g| g.contains_region(r)))
            .map(|(r, _)| r.clone())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// All providers, sorted and deduplicated.
    #[must_use]
    pub fn providers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .inner
            .models
            .iter()
            .map(|m| m.provider.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// How the catalog was obtained.
    #[must_use]
    pub fn metadata(&self) -> &CatalogMetadata {
        &self.inner.metadata
    }

    /// Problems met while building it (failed regions, ignored cache files, fallbacks).
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }
}

pub(crate) fn metadata_for(
    snap: &Snapshot,
    source: DataSource,
    cache_file: Option<PathBuf>,
    fallback_reason: Option<String>,
) -> CatalogMetadata {
    let bundled_data_version = crate::snapshot::bundled_data_version();
    CatalogMetadata {
        source,
        retrieved_at: parse_rfc3339(&snap.generated_at).unwrap_or(SystemTime::UNIX_EPOCH),
        regions_queried: snap.regions_queried.clone(),
        data_version: snap.data_version.clone(),
        bundled_data_version,
        cache_file,
        fallback_reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _is_send_sync<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn catalog_is_shareable_and_cheap_to_clone() {
        _is_send_sync::<Catalog>();
        let a = Catalog::bundled().unwrap();
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert_eq!(a.to_snapshot(), Snapshot::bundled().unwrap());
    }

    #[test]
    fn batch_jobs_run_where_the_batch_table_lists_the_region() {
        let c = Catalog::bundled().unwrap();
        let direct = c.batch_access("Nova Lite", "us-east-1").unwrap();
        assert_eq!(
            (direct.invoke_id.as_str(), direct.method),
            ("amazon.nova-lite-v1:0", AccessMethod::Direct)
        );
        let profile = c.batch_access("Nova Lite", "eu-west-1").unwrap();
        assert_eq!(
            (profile.invoke_id.as_str(), profile.method),
            ("eu.amazon.nova-lite-v1:0", AccessMethod::RegionalProfile)
        );
        let premier = c
            .batch_access("amazon.nova-premier-v1:0", "us-east-1")
            .unwrap();
        assert_eq!(premier.invoke_id, "us.amazon.nova-premier-v1:0");
        // Nova Premier is callable on demand from more regions than it runs batch jobs in.
        let e = c
            .batch_access("amazon.nova-premier-v1:0", "eu-west-1")
            .unwrap_err();
        assert!(
            matches!(&e, Error::NoBatchInference { batch_regions, .. } if batch_regions.len() == 3),
            "{e}"
        );
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        // Without a batch row, no region.
        let e = c
            .batch_access("Claude 3.7 Sonnet", "eu-west-2")
            .unwrap_err();
        assert!(
            matches!(&e, Error::NoBatchInference { batch_regions, .. } if batch_regions.is_empty()),
            "{e}"
        );
        assert!(
            c.access(
                "Claude 3.7 Sonnet",
                "eu-west-2",
                AccessPreference::default()
            )
            .is_ok()
        );
    }
}
