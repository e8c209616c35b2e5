//! Building a catalog: cache first, then the source, then the bundled snapshot.
//!
//! The order follows the original: (1) the cache unless `force_refresh` or [`CacheMode::None`];
//! (2) the source (the AWS API by default), saving a complete result to the cache; (3) the bundled
//! snapshot when `fallback_to_bundled` is set, with the reasons in the metadata and warnings.
//! Unlike the original, step (2) has no retries, a per-region timeout and a first-answer timeout:
//! when no region answers within 1.5 s the build falls back, so an offline start takes under two
//! seconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use bedrock_retry::{Sleep, TokioSleep};

use crate::api::{
    ApiSource, DEFAULT_CONCURRENCY, DEFAULT_DEADLINE, DEFAULT_FIRST_ANSWER_TIMEOUT,
    DEFAULT_REGION_TIMEOUT,
};
use crate::cache::{self, CACHE_FILE_NAME, CacheMode};
use crate::catalog::{Catalog, DataSource, metadata_for};
use crate::error::Error;
use crate::overrides::Overrides;
use crate::snapshot::Snapshot;
use crate::source::CatalogSource;
use crate::time::{SystemClock, WallClock};

/// The 21 commercial regions the original queries.
pub const COMMERCIAL_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "ca-central-1",
    "sa-east-1",
];

/// Default maximum age of a cached catalog.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Grace added to the deadline when wrapping a custom source that might not bound itself.
const SOURCE_GRACE: Duration = Duration::from_millis(150);

/// Configures and builds a [`Catalog`]. Obtain one with [`Catalog::builder`].
#[derive(Debug)]
#[must_use]
pub struct CatalogBuilder {
    cache_mode: CacheMode,
    cache_dir: Option<PathBuf>,
    max_age: Duration,
    force_refresh: bool,
    fallback_to_bundled: bool,
    regions: Vec<String>,
    sdk_config: Option<SdkConfig>,
    source: Option<Arc<dyn CatalogSource>>,
    region_timeout: Duration,
    first_answer: Duration,
    deadline: Duration,
    concurrency: usize,
    clock: Arc<dyn WallClock>,
    sleep: Arc<dyn Sleep>,
}

impl Default for CatalogBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl CatalogBuilder {
    /// Defaults: file cache in the platform cache dir, 24 h max age, bundled fallback on, the 21
    /// commercial regions, 16 at once, 3 s per region, give up if no region answers within 1.5 s,
    /// 8 s overall.
    pub fn new() -> Self {
        Self {
            cache_mode: CacheMode::File,
            cache_dir: None,
            max_age: DEFAULT_MAX_AGE,
            force_refresh: false,
            fallback_to_bundled: true,
            regions: COMMERCIAL_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
            sdk_config: None,
            source: None,
            region_timeout: DEFAULT_REGION_TIMEOUT,
            first_answer: DEFAULT_FIRST_ANSWER_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            concurrency: DEFAULT_CONCURRENCY,
            clock: Arc::new(SystemClock),
            sleep: Arc::new(TokioSleep::new()),
        }
    }

    /// How the fetched catalog is cached.
    pub fn cache_mode(mut self, mode: CacheMode) -> Self {
        self.cache_mode = mode;
        self
    }

    /// Directory of the cache file (default [`cache::default_cache_dir`]).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Maximum age of a cached catalog (default 24 h).
    pub fn max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
    }

    /// Skip the cache and fetch (the result is still written to the cache).
    pub fn force_refresh(mut self, yes: bool) -> Self {
        self.force_refresh = yes;
        self
    }

    /// Fall back to the bundled snapshot when nothing else works (default `true`).
    pub fn fallback_to_bundled(mut self, yes: bool) -> Self {
        self.fallback_to_bundled = yes;
        self
    }

    /// Regions to query (default [`COMMERCIAL_REGIONS`]).
    pub fn regions<I, S>(mut self, regions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// AWS configuration for the API source (credentials, endpoint URL). Without it the default
    /// chain is loaded.
    pub fn sdk_config(mut self, sdk: SdkConfig) -> Self {
        self.sdk_config = Some(sdk);
        self
    }

    /// A custom data source instead of the AWS API.
    pub fn source(mut self, source: Arc<dyn CatalogSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// If no region answers within this, the API source gives up and the build falls back
    /// (default 1.5 s): the bound on an offline start.
    pub fn first_answer_timeout(mut self, d: Duration) -> Self {
        self.first_answer = d;
        self
    }

    /// Per-region timeout of the API source (default 3 s).
    pub fn region_timeout(mut self, d: Duration) -> Self {
        self.region_timeout = d;
        self
    }

    /// Overall deadline of one fetch (default 8 s); regions pending then count as timed out.
    pub fn fetch_deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// Regions queried at once by the API source (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// The sleeper behind every timeout of a fetch (default [`TokioSleep`]; give the catalog the
    /// timeline the rest of the program uses).
    pub fn sleep(mut self, sleep: Arc<dyn Sleep>) -> Self {
        self.sleep = sleep;
        self
    }

    /// Clock for cache ages and timestamps (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.clock = clock;
        self
    }

    /// The cache file this builder would use in [`CacheMode::File`].
    #[must_use]
    pub fn cache_file(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(cache::default_cache_dir)
            .join(CACHE_FILE_NAME)
    }

    /// Builds the catalog.
    ///
    /// # Errors
    /// [`Error::Config`] for invalid settings; [`Error::Unavailable`] when no source works and the
    /// bundled fallback is off; data errors of the bundled snapshot.
    pub async fn build(self) -> Result<Catalog, Error> {
        if self.regions.is_empty() {
            return Err(Error::Config {
                message: "no regions to query".into(),
            });
        }
        if self.concurrency == 0 {
            return Err(Error::Config {
                message: "concurrency must be at least 1".into(),
            });
        }
        let now = self.clock.now();
        let file = self.cache_file();
        let mut warnings: Vec<String> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();

        // 1. Cache.
        if !self.force_refresh {
            match self.cache_mode {
                CacheMode::File => {
                    match cache::read_file(&file, now, self.max_age, &self.regions) {
                        Ok(mut snap) => {
                            // The file may come from a build with older overrides (capability
                            // flags, batch-inference regions): this build's apply.
                            snap.apply_overrides(&Overrides::bundled()?);
                            let meta = metadata_for(&snap, DataSource::Cache, Some(file), None);
                            return Ok(Catalog::from_snapshot(snap, meta, warnings));
                        }
                        Err(miss) => {
                            if miss.present {
                                warnings.push(format!(
                                    "ignoring cache file {}: {}",
                                    file.display(),
                                    miss.reason
                                ));
                            }
                            reasons.push(format!("cache: {}", miss.reason));
                            // A copy kept in memory because the directory was not writable.
                            if let Ok(snap) = cache::read_memory(now, self.max_age, &self.regions) {
                                let meta = metadata_for(&snap, DataSource::Cache, None, None);
                                return Ok(Catalog::from_snapshot(
                                    Snapshot::clone(&snap),
                                    meta,
                                    warnings,
                                ));
                            }
                        }
                    }
                }
                CacheMode::Memory => match cache::read_memory(now, self.max_age, &self.regions) {
                    Ok(snap) => {
                        let meta = metadata_for(&snap, DataSource::Cache, None, None);
                        return Ok(Catalog::from_snapshot(
                            Snapshot::clone(&snap),
                            meta,
                            warnings,
                        ));
                    }
                    Err(miss) => reasons.push(format!("cache: {}", miss.reason)),
                },
                CacheMode::None => {}
            }
        }

        // 2. Source.
        match self.fetch(now, &mut warnings).await {
            Ok((snap, complete)) => {
                let mut cache_file = None;
                match self.cache_mode {
                    _ if !complete => {
                        warnings
                            .push("some regions failed; the partial catalog is not cached".into());
                    }
                    CacheMode::File => match cache::write_file(&file, &snap) {
                        Ok(()) => cache_file = Some(file),
                        Err(e) => {
                            warnings.push(format!(
                                "cannot write the cache ({e}); keeping the catalog in memory"
                            ));
                            cache::write_memory(&self.regions, Arc::new(snap.clone()));
                        }
                    },
                    CacheMode::Memory => cache::write_memory(&self.regions, Arc::new(snap.clone())),
                    CacheMode::None => {}
                }
                let meta = metadata_for(&snap, DataSource::Api, cache_file, None);
                for w in &warnings {
                    tracing::warn!(target: "bedrock_catalog", "{w}");
                }
                return Ok(Catalog::from_snapshot(snap, meta, warnings));
            }
            Err(e) => reasons.push(format!("source: {e}")),
        }

        // 3. Bundled.
        if !self.fallback_to_bundled {
            return Err(Error::Unavailable { reasons });
        }
        let snap = Snapshot::bundled()?;
        let reason = reasons.join("; ");
        warnings.push(format!(
            "using the bundled catalog {}: {reason}",
            snap.data_version
        ));
        for w in &warnings {
            tracing::warn!(target: "bedrock_catalog", "{w}");
        }
        let meta = metadata_for(&snap, DataSource::Bundled, None, Some(reason));
        Ok(Catalog::from_snapshot(snap, meta, warnings))
    }

    /// Fetches and transforms; `Ok((snapshot, every region answered))`.
    async fn fetch(
        &self,
        now: std::time::SystemTime,
        warnings: &mut Vec<String>,
    ) -> Result<(Snapshot, bool), Error> {
        let source: Arc<dyn CatalogSource> = match &self.source {
            Some(s) => Arc::clone(s),
            None => {
                let api = match &self.sdk_config {
                    Some(sdk) => ApiSource::new(sdk.clone()),
                    None => {
                        let load = ApiSource::from_env();
                        bedrock_retry::timeout(self.sleep.as_ref(), self.deadline, load)
                            .await
                            .map_err(|_| Error::Timeout {
                                after: self.deadline,
                            })?
                    }
                };
                Arc::new(
                    api.with_region_timeout(self.region_timeout)
                        .with_first_answer_timeout(self.first_answer)
                        .with_deadline(self.deadline)
                        .with_concurrency(self.concurrency)
                        .with_sleep(Arc::clone(&self.sleep)),
                )
            }
        };
        let limit = self.deadline + SOURCE_GRACE;
        let raw = bedrock_retry::timeout(self.sleep.as_ref(), limit, source.fetch(&self.regions))
            .await
            .map_err(|_| Error::Timeout { after: limit })??;
        for f in &raw.failures {
            warnings.push(format!("region {f}"));
        }
        if raw.listings.is_empty() {
            let detail: Vec<String> = raw
                .failures
                .iter()
                .take(3)
                .map(ToString::to_string)
                .collect();
            return Err(Error::Source {
                message: format!(
                    "all {} regions failed ({}{})",
                    self.regions.len(),
                    detail.join(", "),
                    if raw.failures.len() > 3 { ", ..." } else { "" }
                ),
            });
        }
        let overrides = Overrides::bundled()?;
        let (snap, more) = Snapshot::from_raw(&raw, &overrides, now);
        warnings.extend(more);
        if snap.models.is_empty() {
            return Err(Error::Source {
                message: "the source listed no callable models".into(),
            });
        }
        let complete = raw.failures.is_empty();
        Ok((snap, complete))
    }
}
