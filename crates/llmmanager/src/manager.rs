//! [`LlmManager`]: one Converse call that succeeds whenever any allowed model in any allowed
//! region can answer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bedrock_cache::CacheConfig;
use bedrock_catalog::{AccessMethod, CacheMode, Catalog, ModelInfo};
use bedrock_messages::{ConverseRequest, GuardrailConfig, InferenceConfig, Limits};
use bedrock_retry::{
    Clock, HealthConfig, HealthTracker, RetryBudget, RetryConfig, RetryPlanner, Sleep, TokioClock,
    TokioSleep,
};
use tracing::{Instrument, warn};

use crate::auth::Auth;
use crate::call::{CallOptions, ConverseExchange, Engine, StreamRecovery, dropped_features};
use crate::classify::{BedrockClassifier, ErrorRule};
use crate::clients::{Clients, Endpoints, Timeouts};
use crate::error::Error;
use crate::residency::Residency;
use crate::response::Response;
use crate::routing::{RegionOrder, RetryStrategy, Router, Target};
use crate::stats::ManagerStats;
use crate::stream::{self, ConverseStream};
use crate::telemetry;
use crate::validation::ValidationConfig;

/// Builds an [`LlmManager`].
///
/// Only the models and regions are required; everything else has a safe default: the default
/// credential chain, [`RetryConfig::standard`], [`Timeouts::default`], the bundled catalog.
#[derive(Debug)]
#[must_use]
pub struct LlmManagerBuilder {
    models: Vec<String>,
    regions: Vec<String>,
    auth: Auth,
    retry: RetryConfig,
    strategy: RetryStrategy,
    region_order: RegionOrder,
    access_preference: Option<AccessMethod>,
    global_fraction: Option<f64>,
    residency: Option<Residency>,
    hedging: Option<crate::hedge::Hedging>,
    pacing: Option<crate::pacing::Pacing>,
    #[cfg(feature = "fleet")]
    fleet: Option<crate::fleet::Fleet>,
    latency_aware: bool,
    cache_affinity: bool,
    error_rules: Vec<ErrorRule>,
    default_inference: Option<InferenceConfig>,
    model_fields: Vec<(String, serde_json::Value)>,
    health: HealthConfig,
    timeouts: Timeouts,
    endpoints: Endpoints,
    catalog: Option<Catalog>,
    catalog_options: Option<CatalogOptions>,
    guardrail: Option<GuardrailConfig>,
    validation: Option<ValidationConfig>,
    limits: Limits,
    clock: Option<Arc<dyn Clock>>,
    sleep: Option<Arc<dyn Sleep>>,
    stream_recovery: StreamRecovery,
    cache: Option<CacheConfig>,
}

impl LlmManagerBuilder {
    fn new() -> Self {
        Self {
            models: Vec::new(),
            regions: Vec::new(),
            auth: Auth::default(),
            retry: RetryConfig::standard(),
            strategy: RetryStrategy::RegionFirst,
            region_order: RegionOrder::Fixed,
            access_preference: None,
            global_fraction: None,
            residency: None,
            hedging: None,
            pacing: None,
            #[cfg(feature = "fleet")]
            fleet: None,
            latency_aware: false,
            cache_affinity: false,
            error_rules: Vec::new(),
            default_inference: None,
            model_fields: Vec::new(),
            health: HealthConfig::standard(),
            timeouts: Timeouts::default(),
            endpoints: Endpoints::default(),
            catalog: None,
            catalog_options: None,
            guardrail: None,
            validation: None,
            limits: Limits::bedrock(),
            clock: None,
            sleep: None,
            stream_recovery: StreamRecovery::default(),
            cache: None,
        }
    }

    /// Adds a model, by friendly name ("Claude 3 Haiku"), model id, profile id or ARN.
    /// Models are tried in the order added.
    pub fn model(mut self, name: impl Into<String>) -> Self {
        self.models.push(name.into());
        self
    }

    /// Adds several models, in order of preference.
    pub fn models<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.models.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds a region. Regions are tried in the order added.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.regions.push(region.into());
        self
    }

    /// Adds several regions, in order of preference.
    pub fn regions<S: Into<String>>(mut self, regions: impl IntoIterator<Item = S>) -> Self {
        self.regions.extend(regions.into_iter().map(Into::into));
        self
    }

    /// Sets how to authenticate.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the retry configuration.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how models and regions are paired into targets (default region-first: every region
    /// of the first model, then the next model).
    pub fn strategy(mut self, strategy: RetryStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Adds a rule that classifies some service errors the caller's way (checked in the order
    /// added, before the built-in table): for example a gateway's own error code as throttled.
    pub fn error_rule(mut self, rule: ErrorRule) -> Self {
        self.error_rules.push(rule);
        self
    }

    /// Sampling parameters for requests that leave them unset (the original's
    /// `default_inference_config`); a request's own values win, field by field.
    pub fn default_inference_config(mut self, config: InferenceConfig) -> Self {
        self.default_inference = Some(config);
        self
    }

    /// Model-native request fields (`additionalModelRequestFields`) for one configured model
    /// only (the original's per-model `custom_fields`): merged into that model's requests, never
    /// sent to another model. Keys a request sets itself win. `model` is any name the catalog
    /// resolves.
    pub fn model_request_fields(
        mut self,
        model: impl Into<String>,
        fields: serde_json::Value,
    ) -> Self {
        self.model_fields.push((model.into(), fields));
        self
    }

    /// Sets how the region list is re-ordered per call (default: the configured order).
    pub fn region_order(mut self, order: RegionOrder) -> Self {
        self.region_order = order;
        self
    }

    /// Prefers an access method where a model offers several in a region (default: direct, then
    /// the regional, then the global inference profile).
    pub fn access_method_preference(mut self, preference: Option<AccessMethod>) -> Self {
        self.access_preference = preference;
        self
    }

    /// Sends this share of calls (0 to 1) through global inference profiles, for targets that
    /// have one (the Python library's `global_cris_fraction`). The share is exact over any run
    /// of calls, not random: with 0.25, every fourth call. Other calls follow
    /// [`LlmManagerBuilder::access_method_preference`]. A value outside 0 to 1 fails the build.
    pub fn global_profile_fraction(mut self, fraction: f64) -> Self {
        self.global_fraction = Some(fraction);
        self
    }

    /// Keeps every request inside `residency`: configured regions outside it are dropped, and
    /// each model keeps only the inference profiles whose every destination region lies inside
    /// (under [`Geo::Eu`](bedrock_catalog::Geo::Eu), `eu.` profiles but not `global.` ones).
    /// This narrows [`LlmManagerBuilder::global_profile_fraction`] and
    /// [`LlmManagerBuilder::access_method_preference`] to what is left. A model that cannot be
    /// served inside fails the build with [`Error::Residency`], before any request is sent.
    ///
    /// The trade-off: fewer regions and profiles mean less capacity to fail over to, so
    /// throttling under load is more likely than without the constraint.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmmanager::Error> {
    /// use llmmanager::catalog::Geo;
    /// use llmmanager::{LlmManager, Residency};
    ///
    /// let manager = LlmManager::builder()
    ///     .models(["Claude Sonnet 4.5", "Nova Lite"])
    ///     .regions(["eu-central-1", "eu-west-1", "us-east-1"])
    ///     .residency(Residency::Geography(Geo::Eu))
    ///     .build()
    ///     .await?;
    /// assert_eq!(manager.regions(), ["eu-central-1", "eu-west-1"]);
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub fn residency(mut self, residency: Residency) -> Self {
        self.residency = Some(residency);
        self
    }

    /// Hedges calls: an attempt that has not answered (a stream: produced its first event) after
    /// the hedging delay gets a copy on the next healthy target, and the first answer wins (the
    /// other is dropped and shows in the attempts as lost). A stream that delivered its first
    /// event is never hedged. Off unless set. Hedging costs money: a hedged call may be billed
    /// twice, so [`Hedging::max_share`](crate::Hedging::max_share) caps hedges to a share of calls
    /// (10% by default), and a cost or input-token limit keeps large requests from being copied.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmmanager::Error> {
    /// use std::time::Duration;
    /// use llmmanager::{Hedging, LlmManager};
    ///
    /// let manager = LlmManager::builder()
    ///     .models(["Claude 3 Haiku"])
    ///     .regions(["us-east-1", "us-west-2"])
    ///     .hedging(
    ///         Hedging::after(Duration::from_millis(400))
    ///             .max_share(0.05)
    ///             .max_cost_usd(0.01),
    ///     )
    ///     .build()
    ///     .await?;
    /// # drop(manager);
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub fn hedging(mut self, hedging: crate::hedge::Hedging) -> Self {
        self.hedging = Some(hedging);
        self
    }

    /// Paces calls per target (model, region) to a request rate and a token rate, seeded from
    /// configured quotas and learned from throttling, so a busy manager stays under its quotas
    /// instead of being throttled: an attempt waits for capacity on its target while its call has
    /// time left, and a target with capacity now goes before one that would wait. Off unless
    /// set. The trade-off: a paced call waits rather than failing over at once, so its latency
    /// grows with the queue on its target; a call that cannot get capacity before its deadline
    /// ends with a `NoCapacity` attempt (throttled, not held against the target's health).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmmanager::Error> {
    /// use llmmanager::LlmManager;
    /// use llmmanager::pacing::{Pacing, Quota};
    ///
    /// let manager = LlmManager::builder()
    ///     .models(["Claude 3 Haiku"])
    ///     .regions(["us-east-1", "us-west-2"])
    ///     .pacing(Pacing::adaptive().quota(
    ///         Quota::new("Claude 3 Haiku").requests_per_minute(600).tokens_per_minute(400_000),
    ///     ))
    ///     .build()
    ///     .await?;
    /// # drop(manager);
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub fn pacing(mut self, pacing: crate::pacing::Pacing) -> Self {
        self.pacing = Some(pacing);
        self
    }

    /// Shares pacing with the other processes of a fleet through Redis (feature `fleet`): the
    /// lanes of [`LlmManagerBuilder::pacing`] (adaptive pacing when it is not set) live in Redis,
    /// so managers in several processes, on one machine or many, pace to one account's quotas
    /// together. `build` fails when Redis cannot be reached then; once running, a manager that
    /// loses Redis paces per process (with one warning) until it is back, and no call fails
    /// because of it. See [`fleet`](crate::fleet).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmmanager::Error> {
    /// use llmmanager::LlmManager;
    /// use llmmanager::fleet::Fleet;
    /// use llmmanager::pacing::{Pacing, Quota};
    ///
    /// let manager = LlmManager::builder()
    ///     .models(["Claude 3 Haiku"])
    ///     .pacing(Pacing::adaptive().quota(Quota::new("Claude 3 Haiku").requests_per_minute(600)))
    ///     .fleet(Fleet::new("redis://10.0.0.5:6379").key("account-123"))
    ///     .build()
    ///     .await?;
    /// # drop(manager);
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    #[cfg(feature = "fleet")]
    pub fn fleet(mut self, fleet: crate::fleet::Fleet) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// Orders regions of the same model (and access method) by the latency observed for them,
    /// fastest first; regions not observed yet go first so each gets measured. The order between
    /// models, the health check (cooling targets go last) and a call's preferred regions are
    /// kept. Off by default.
    pub fn latency_aware(mut self, on: bool) -> Self {
        self.latency_aware = on;
        self
    }

    /// Cache affinity: a call whose cached prefix (model, tools, system prompt and messages up to
    /// a cache point) was last written or read in one region goes to that region first, while
    /// the cache entry lives (five minutes, one hour for `ttl: 1h` points), so a conversation
    /// reads its prompt cache instead of writing it again elsewhere. Only the first model's
    /// regions are re-ordered; residency, the order between models and the health check (a
    /// cooling region goes last) still hold, and a call's own preferred regions keep their
    /// order (a [`ParallelLlmManager`](crate::ParallelLlmManager) batch's round-robin regions
    /// do not). Off by default: it concentrates calls that share a prefix on one region, which
    /// spends that region's quota faster. The map holds at most 10,000 prefixes.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmmanager::Error> {
    /// use llmmanager::LlmManager;
    ///
    /// let manager = LlmManager::builder()
    ///     .models(["Claude 3.7 Sonnet"])
    ///     .regions(["us-east-1", "us-east-2", "us-west-2"])
    ///     .cache_affinity(true)
    ///     .build()
    ///     .await?;
    /// # let _ = manager;
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub fn cache_affinity(mut self, on: bool) -> Self {
        self.cache_affinity = on;
        self
    }

    /// Sets when failing targets cool down, shared by every call of this manager.
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.health = health;
        self
    }

    /// Sets the timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sends every request to `url` instead of the real regional endpoint (for example a
    /// `bedrock-sim` instance). Credentials and the region still apply.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoints.all = Some(url.into());
        self
    }

    /// Sends requests for one region to `url`.
    pub fn endpoint_url_for_region(
        mut self,
        region: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        self.endpoints.per_region.insert(region.into(), url.into());
        self
    }

    /// Uses this catalog instead of the bundled snapshot.
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Loads the catalog with these options when the manager is built: from the cache when it is
    /// fresh enough, else from the Bedrock control plane in the configured regions (with the
    /// manager's credentials and endpoint), falling back to the bundled snapshot when allowed.
    /// Without this (and without [`LlmManagerBuilder::catalog`]) the bundled snapshot is used and
    /// nothing is fetched.
    pub fn catalog_options(mut self, options: CatalogOptions) -> Self {
        self.catalog_options = Some(options);
        self
    }

    /// Applies a guardrail to every request that does not set its own.
    pub fn guardrail(mut self, guardrail: GuardrailConfig) -> Self {
        self.guardrail = Some(guardrail);
        self
    }

    /// Validates every answer.
    pub fn validation(mut self, validation: ValidationConfig) -> Self {
        self.validation = Some(validation);
        self
    }

    /// Sets the limits every request is checked against before sending (sizes, counts, and
    /// whether a stated media format wins over the content: [`bedrock_messages::FormatPolicy`]),
    /// on every way of calling: `converse`, `converse_stream`, the parallel manager and typed
    /// answers. Build requests with [`LlmManager::request_builder`] so that the request and
    /// message builders use the same limits (the Python library's `max_size_mb`, set once).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Injects the clock used for durations, deadlines and target health ([`TokioClock`] by
    /// default). Give it the same timeline as [`LlmManagerBuilder::sleep`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Injects the sleeper behind every wait of a call: backoff, the attempt and stream-idle
    /// timeouts, validation delays ([`TokioSleep`] by default). A sleeper that returns at once
    /// also ends every timeout at once; to skip backoff in tests, set zero retry delays instead.
    pub fn sleep(mut self, sleep: Arc<dyn Sleep>) -> Self {
        self.sleep = Some(sleep);
        self
    }

    /// Places prompt-cache points in every request by `cache`'s strategy, for models whose
    /// catalog entry supports caching (others get no points and a warning). Points the caller
    /// placed are kept.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Sets how streams recover from failures after content arrived.
    pub fn stream_recovery(mut self, recovery: StreamRecovery) -> Self {
        self.stream_recovery = recovery;
        self
    }

    /// Resolves the models, checks that each is offered in at least one configured region, and
    /// builds one SDK client per region.
    ///
    /// # Errors
    /// [`Error::Configuration`] for empty or duplicate models or regions, [`Error::Catalog`] for a
    /// model name that does not resolve (with suggestions) or that no configured region offers,
    /// [`Error::Retry`] for an invalid retry configuration.
    pub async fn build(self) -> Result<LlmManager, Error> {
        if self.models.is_empty() {
            return Err(Error::config("at least one model is required"));
        }
        if self.regions.is_empty() {
            return Err(Error::config("at least one region is required"));
        }
        if let Some(dup) = first_duplicate(&self.regions) {
            return Err(Error::config(format!("region {dup:?} is listed twice")));
        }
        if let Some(f) = self.global_fraction
            && !(0.0..=1.0).contains(&f)
        {
            return Err(Error::config(format!(
                "global_profile_fraction is {f}; give a share from 0 to 1"
            )));
        }
        let mut regions = self.regions;
        if let Some(residency) = &self.residency {
            let (inside, outside): (Vec<String>, Vec<String>) = regions
                .into_iter()
                .partition(|r| residency.admits_region(r));
            if inside.is_empty() {
                return Err(Error::Residency {
                    model: None,
                    residency: residency.clone(),
                    message: format!(
                        "no configured region lies inside it (configured: {outside:?})"
                    ),
                });
            }
            if !outside.is_empty() {
                tracing::info!(%residency, ?outside, "regions outside the residency are not used");
            }
            regions = inside;
        }
        let retry = self.retry.build()?;
        let health_config = self.health.build()?;
        let clients = Clients::build(&self.auth, &regions, &self.endpoints, &self.timeouts).await;
        let catalog = match (self.catalog, self.catalog_options) {
            (Some(c), _) => c,
            (None, Some(options)) => {
                options
                    .builder()
                    .regions(regions.iter().cloned())
                    .sdk_config(clients.sdk.clone())
                    .build()
                    .await?
            }
            (None, None) => Catalog::bundled()?,
        };
        let mut models: Vec<ModelInfo> = Vec::new();
        for name in &self.models {
            let info = catalog.resolve(name)?.clone();
            if !regions.iter().any(|r| info.region_access(r).is_some()) {
                let offered: Vec<&str> = info
                    .regions
                    .iter()
                    .filter(|(_, a)| a.is_callable())
                    .map(|(r, _)| r.as_str())
                    .collect();
                return Err(Error::config(format!(
                    "model {name:?} ({}) is not offered in any configured region {:?}; it is offered in {offered:?}",
                    info.id, regions
                )));
            }
            let info = match &self.residency {
                Some(residency) => {
                    let kept = residency.restrict(&info);
                    if !regions.iter().any(|r| kept.region_access(r).is_some()) {
                        return Err(Error::Residency {
                            model: Some(name.clone()),
                            residency: residency.clone(),
                            message: if *name == info.id {
                                residency.explain(&info, &regions)
                            } else {
                                format!("it is {}; {}", info.id, residency.explain(&info, &regions))
                            },
                        });
                    }
                    let admitted: Vec<String> = regions
                        .iter()
                        .filter_map(|r| Some(format!("{r}: {}", describe(kept.region_access(r)?))))
                        .collect();
                    tracing::debug!(
                        model = %kept.id,
                        %residency,
                        ?admitted,
                        "access methods inside the residency"
                    );
                    kept
                }
                None => info,
            };
            if models.iter().any(|m| m.id == info.id) {
                return Err(Error::config(format!(
                    "model {name:?} resolves to {} which is already listed",
                    info.id
                )));
            }
            models.push(info);
        }
        let mut model_fields = Vec::with_capacity(self.model_fields.len());
        for (name, fields) in self.model_fields {
            let id = catalog.resolve(&name)?.id.clone();
            if !models.iter().any(|m| m.id == id) {
                return Err(Error::config(format!(
                    "request fields are given for model {name:?} ({id}), which is not configured"
                )));
            }
            if !fields.is_object() {
                return Err(Error::config(format!(
                    "request fields for model {name:?} must be a JSON object"
                )));
            }
            model_fields.push((id, fields));
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(TokioClock::new()));
        let sleep: Arc<dyn Sleep> = self.sleep.unwrap_or_else(|| Arc::new(TokioSleep::new()));
        let health = Arc::new(HealthTracker::new(health_config, clock.clone()));
        let retry = match retry.total_deadline() {
            Some(_) => retry,
            None => retry.with_total_deadline(Some(self.timeouts.total)),
        };
        // A half-open target's probe stays reserved while the longest attempt may run.
        let probe_hold = self.timeouts.total.max(self.timeouts.per_attempt);
        let planner = RetryPlanner::new(retry, clock.clone())
            .with_health(Some(health.clone()))
            .with_budget(Some(Arc::new(RetryBudget::standard())))
            .with_probe_hold(probe_hold);
        #[cfg(feature = "fleet")]
        let pacer = match self.fleet {
            Some(fleet) => {
                let pacing = self.pacing.unwrap_or_default().resolved(&models);
                Some(
                    crate::pacing::Pacer::fleet(pacing, fleet, health.clone())
                        .await
                        .map_err(|e| Error::config(e.to_string()))?,
                )
            }
            None => self
                .pacing
                .map(|p| crate::pacing::Pacer::local(p.resolved(&models))),
        };
        #[cfg(not(feature = "fleet"))]
        let pacer = self
            .pacing
            .map(|p| crate::pacing::Pacer::local(p.resolved(&models)));
        Ok(LlmManager {
            inner: Arc::new(Engine {
                models,
                regions,
                residency: self.residency,
                clients,
                catalog,
                planner,
                router: Router::new(self.strategy, self.region_order, self.access_preference)
                    .with_global_fraction(self.global_fraction),
                classifier: BedrockClassifier::with_rules(self.error_rules),
                stats: crate::stats::Stats::default(),
                default_inference: self.default_inference,
                model_fields,
                health,
                clock,
                sleep,
                timeouts: self.timeouts,
                guardrail: self.guardrail,
                validation: self.validation,
                limits: self.limits,
                auth_kind: self.auth.kind(),
                stream_recovery: self.stream_recovery,
                cache: self.cache,
                cache_availability: bedrock_cache::CacheAvailability::new(),
                speed: crate::hedge::Speed::new(self.hedging, self.latency_aware),
                pacer,
                affinity: self
                    .cache_affinity
                    .then(|| crate::affinity::Affinity::new(crate::affinity::DEFAULT_MAX_ENTRIES)),
            }),
        })
    }
}

/// The access methods of one region, for logs: `direct, eu.anthropic...`.
fn describe(access: &bedrock_catalog::RegionAccess) -> String {
    let mut ways: Vec<&str> = Vec::new();
    if access.direct {
        ways.push("direct");
    }
    ways.extend(access.regional_profile.as_deref());
    ways.extend(access.global_profile.as_deref());
    ways.join(", ")
}

fn first_duplicate(items: &[String]) -> Option<&str> {
    items
        .iter()
        .enumerate()
        .find(|(i, a)| items[..*i].contains(a))
        .map(|(_, a)| a.as_str())
}

/// How the manager loads its catalog (see [`LlmManagerBuilder::catalog_options`]): the original's
/// `catalog_cache_mode`, `catalog_cache_directory`, `force_refresh` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogOptions {
    /// Where fetched catalogs are kept (default: a file in the user's cache directory).
    pub cache_mode: CacheMode,
    /// The cache directory (default: the platform's cache directory).
    pub cache_dir: Option<PathBuf>,
    /// How old a cached catalog may be (default 24 hours).
    pub max_age: Duration,
    /// Fetch even when the cache is fresh (default false).
    pub force_refresh: bool,
    /// Use the bundled snapshot when fetching fails (default true).
    pub fallback_to_bundled: bool,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        Self {
            cache_mode: CacheMode::File,
            cache_dir: None,
            max_age: bedrock_catalog::DEFAULT_MAX_AGE,
            force_refresh: false,
            fallback_to_bundled: true,
        }
    }
}

impl CatalogOptions {
    /// Sets the cache mode.
    #[must_use]
    pub fn with_cache_mode(mut self, mode: CacheMode) -> Self {
        self.cache_mode = mode;
        self
    }

    /// Sets the cache directory.
    #[must_use]
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Sets the maximum age of a cached catalog.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Fetches even when the cache is fresh.
    #[must_use]
    pub fn with_force_refresh(mut self, yes: bool) -> Self {
        self.force_refresh = yes;
        self
    }

    /// Whether to fall back to the bundled snapshot when fetching fails.
    #[must_use]
    pub fn with_fallback_to_bundled(mut self, yes: bool) -> Self {
        self.fallback_to_bundled = yes;
        self
    }

    fn builder(&self) -> bedrock_catalog::CatalogBuilder {
        let mut b = bedrock_catalog::CatalogBuilder::new()
            .cache_mode(self.cache_mode)
            .max_age(self.max_age)
            .force_refresh(self.force_refresh)
            .fallback_to_bundled(self.fallback_to_bundled);
        if let Some(dir) = &self.cache_dir {
            b = b.cache_dir(dir.clone());
        }
        b
    }
}

/// One target of a planned call (see [`LlmManager::plan_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedTarget {
    /// The model, region and access method.
    pub target: Target,
    /// The model id or inference profile id that would be in the request path.
    pub invoke_id: String,
    /// The target's health now.
    pub health: bedrock_retry::TargetHealth,
}

/// Sends Converse requests to the first model and region that can answer.
///
/// Cheap to clone: clones share clients, the catalog and target health.
///
/// ```no_run
/// # async fn demo() -> Result<(), llmmanager::Error> {
/// use llmmanager::{ConverseRequest, LlmManager};
///
/// let manager = LlmManager::builder()
///     .models(["Claude 3 Haiku", "Nova Lite"])
///     .regions(["us-east-1", "us-west-2"])
///     .build()
///     .await?;
/// let request = ConverseRequest::builder().user_text("Hello").max_tokens(200).build()?;
/// let response = manager.converse(&request).await?;
/// println!("{} (from {} in {})", response.text(), response.model_id, response.region);
/// # Ok(()) }
/// # let _ = demo;
/// ```
#[derive(Debug, Clone)]
pub struct LlmManager {
    pub(crate) inner: Arc<Engine>,
}

impl LlmManager {
    /// Starts building a manager.
    pub fn builder() -> LlmManagerBuilder {
        LlmManagerBuilder::new()
    }

    /// The resolved models, in order of preference. Under a [`Residency`], each lists only the
    /// regions and inference profiles the constraint admits.
    pub fn models(&self) -> &[ModelInfo] {
        &self.inner.models
    }

    /// The configured regions, in order of preference (under a [`Residency`], those inside it).
    pub fn regions(&self) -> &[String] {
        &self.inner.regions
    }

    /// The residency constraint every request is kept inside, if one is set.
    pub fn residency(&self) -> Option<&Residency> {
        self.inner.residency.as_ref()
    }

    /// The catalog the manager resolves names with.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The limits every request is checked against ([`LlmManagerBuilder::limits`]).
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// A request builder with this manager's limits, which also apply to the message builders
    /// appended to it: a size limit (or format policy) set once on the manager applies when the
    /// request is built and when it is sent.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmmanager::Error> {
    /// use llmmanager::messages::{ImageFormat, Limits};
    /// use llmmanager::{LlmManager, Message};
    ///
    /// let manager = LlmManager::builder()
    ///     .model("Claude 3 Haiku")
    ///     .region("us-east-1")
    ///     .limits(Limits::bedrock().with_max_image_bytes(10_000_000))
    ///     .build()
    ///     .await?;
    /// # let big_png: Vec<u8> = Vec::new();
    /// let request = manager
    ///     .request_builder()
    ///     .message_builder(Message::user().text("Describe it.").image_bytes(big_png, ImageFormat::Png))
    ///     .build()?;
    /// let answer = manager.converse(&request).await?;
    /// println!("{}", answer.text());
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub fn request_builder(&self) -> bedrock_messages::ConverseRequestBuilder {
        ConverseRequest::builder().limits(self.inner.limits)
    }

    /// Target health, shared by every call of this manager.
    pub fn health(&self) -> &HealthTracker {
        &self.inner.health
    }

    /// The targets a call would try now, in order (health applied).
    pub fn targets(&self) -> Vec<Target> {
        self.plan_for(&CallOptions::default())
            .into_iter()
            .map(|p| p.target)
            .collect()
    }

    /// Where a call with `options` would go, without sending anything: its targets in the order
    /// they would be tried now (strategy, preferred regions and health applied), each with the
    /// model id or inference profile that would be put in the request path.
    pub fn plan_for(&self, options: &CallOptions) -> Vec<PlannedTarget> {
        let mut targets = self.inner.ordered_targets(options);
        targets.sort_by_cached_key(|t| self.inner.health.rank(&t.model, &t.region));
        targets
            .into_iter()
            .map(|target| PlannedTarget {
                invoke_id: self.inner.invoke_id(&target).unwrap_or_default(),
                health: self.inner.health.state(&target.model, &target.region),
                target,
            })
            .collect()
    }

    /// What this manager's calls did so far: calls succeeded and failed, and per target the
    /// attempts, their outcomes by error class, and the target's health now.
    pub fn stats(&self) -> ManagerStats {
        let mut stats = self
            .inner
            .stats
            .snapshot(|model, region| self.inner.health.state(model, region));
        stats.affinity_routed = self
            .inner
            .affinity
            .as_ref()
            .map_or(0, crate::affinity::Affinity::routed);
        stats
    }

    /// The targets of one call with `options`, or a configuration error when they leave none.
    pub(crate) fn call_targets(&self, options: &CallOptions) -> Result<Vec<Target>, Error> {
        self.inner.call_targets(options).ok_or_else(|| {
            Error::config(format!(
                "no configured model is offered in the requested regions {:?}",
                options.preferred_regions
            ))
        })
    }

    /// Sends `request` to the first target that answers, following the retry configuration.
    ///
    /// The request is checked before anything is sent. The caller's request is never modified:
    /// feature fallback and validation feedback work on copies.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] before any network call; [`Error::Exhausted`] with every attempt
    /// when no target answered acceptably.
    pub async fn converse(&self, request: &ConverseRequest) -> Result<Response, Error> {
        self.converse_with(request, &CallOptions::default()).await
    }

    /// [`LlmManager::converse`] with per-call options, such as regions to try first.
    ///
    /// # Errors
    /// As for [`LlmManager::converse`]; [`Error::Configuration`] when the options leave no target.
    pub async fn converse_with(
        &self,
        request: &ConverseRequest,
        options: &CallOptions,
    ) -> Result<Response, Error> {
        // The first configured model: ordering the targets here would advance the router's
        // per-call rotation and global-profile share a second time.
        let model = self.inner.models.first().map_or("", |m| m.id.as_str());
        let span = telemetry::call_span(false, self.inner.auth_kind, model);
        // Boxed so that callers nesting many calls in one future keep its type shallow.
        Box::pin(self.converse_inner(request, options).instrument(span)).await
    }

    /// Starts a managed stream for `request`. The request is checked before anything is sent;
    /// the call starts when the stream is first polled. See [`crate::StreamEvent`] for what the
    /// stream yields and how it recovers from failures mid-answer.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a request that breaks Bedrock's rules;
    /// [`Error::Configuration`] when the call options leave no target. Failures of the call itself
    /// arrive through the stream.
    pub async fn converse_stream(
        &self,
        request: &ConverseRequest,
    ) -> Result<ConverseStream, Error> {
        self.converse_stream_with(request, &CallOptions::default())
            .await
    }

    /// [`LlmManager::converse_stream`] with per-call options.
    ///
    /// # Errors
    /// As for [`LlmManager::converse_stream`].
    pub async fn converse_stream_with(
        &self,
        request: &ConverseRequest,
        options: &CallOptions,
    ) -> Result<ConverseStream, Error> {
        let prepared = self.inner.prepare(request)?;
        let targets = self.call_targets(options)?;
        let warnings: Vec<String> = request.warnings().iter().map(ToString::to_string).collect();
        Ok(stream::start(
            Arc::clone(&self.inner),
            prepared,
            targets,
            options.clone(),
            warnings,
        ))
    }

    async fn converse_inner(
        &self,
        request: &ConverseRequest,
        options: &CallOptions,
    ) -> Result<Response, Error> {
        let engine = &*self.inner;
        let prepared = engine.prepare(request)?;
        let targets = self.call_targets(options)?;
        let telemetry = telemetry::Call::begin(engine, tracing::Span::current(), &targets);
        let started = engine.now();
        let mut warnings: Vec<String> =
            request.warnings().iter().map(ToString::to_string).collect();
        let mut exchange = ConverseExchange::new(
            engine,
            options.validation.as_ref().or(engine.validation.as_ref()),
        );
        let outcome = engine
            .run(&prepared, targets, options, &mut warnings, &mut exchange)
            .await;
        let validations = exchange.validations;
        match outcome {
            Ok(done) => {
                warnings.extend(exchange.warnings);
                warnings.extend(dropped_features(&done.attempts));
                let access_method = engine.access_used(&done.attempt, &done.invoke_id);
                let response = Response {
                    output: done.value,
                    model_id: done.attempt.target.model.clone(),
                    invoke_id: done.invoke_id,
                    region: done.attempt.target.region.clone(),
                    access_method,
                    attempts: done.attempts,
                    duration: engine.now().saturating_sub(started),
                    warnings,
                    validations,
                };
                telemetry.finish(
                    engine,
                    telemetry::Outcome::Answered {
                        model: &response.model_id,
                        region: &response.region,
                        usage: Some(response.usage()),
                        attempts: response.attempts.len(),
                    },
                );
                Ok(response)
            }
            Err(failed) => {
                warn!(reason = %failed.reason, attempts = failed.attempts.len(), "converse failed");
                let error = Error::Exhausted {
                    reason: failed.reason,
                    attempts: failed.attempts,
                    last_error: failed.last_error,
                };
                telemetry.finish(engine, telemetry::Outcome::Failed(&error));
                Err(error)
            }
        }
    }
}

#[allow(
    dead_code,
    reason = "compile-time check that the manager can be shared across tasks"
)]
fn assert_send_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<LlmManager>();
}
