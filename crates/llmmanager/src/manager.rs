//! [`LlmManager`]: one Converse call that succeeds whenever any allowed model in any allowed
//! region can answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bedrock_cache::CacheConfig;
use bedrock_catalog::{Catalog, ModelInfo};
use bedrock_messages::{ConverseRequest, ConverseResponse, GuardrailConfig, Limits};
use bedrock_retry::{
    AccessMethod, Attempt, Classify, Clock, Decision, HealthConfig, HealthTracker, RetryBudget,
    RetryConfig, RetryPlanner, Sleep, SystemClock, Target, TokioSleep,
};
use tracing::{Instrument, debug, info_span, warn};

use crate::auth::Auth;
use crate::classify::{AttemptError, BedrockClassifier};
use crate::clients::{Clients, Endpoints, Timeouts};
use crate::error::Error;
use crate::features;
use crate::response::Response;
use crate::stream::StreamRecovery;
use crate::validation::{ValidationAttempt, ValidationConfig, ValidationResult};

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
    health: HealthConfig,
    timeouts: Timeouts,
    endpoints: Endpoints,
    catalog: Option<Catalog>,
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
            health: HealthConfig::standard(),
            timeouts: Timeouts::default(),
            endpoints: Endpoints::default(),
            catalog: None,
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

    /// Sets the request limits checked before sending.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Injects the clock used for durations, deadlines and target health (tests use a manual clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Injects the sleeper used for backoff (tests use one that returns at once).
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
        let retry = self.retry.build()?;
        let health_config = self.health.build()?;
        let catalog = match self.catalog {
            Some(c) => c,
            None => Catalog::bundled()?,
        };
        let mut models: Vec<ModelInfo> = Vec::new();
        for name in &self.models {
            let info = catalog.resolve(name)?.clone();
            if !self.regions.iter().any(|r| info.region_access(r).is_some()) {
                let offered: Vec<&str> = info
                    .regions
                    .iter()
                    .filter(|(_, a)| a.is_callable())
                    .map(|(r, _)| r.as_str())
                    .collect();
                return Err(Error::config(format!(
                    "model {name:?} ({}) is not offered in any configured region {:?}; it is offered in {offered:?}",
                    info.id, self.regions
                )));
            }
            if models.iter().any(|m| m.id == info.id) {
                return Err(Error::config(format!(
                    "model {name:?} resolves to {} which is already listed",
                    info.id
                )));
            }
            models.push(info);
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock::new()));
        let sleep: Arc<dyn Sleep> = self.sleep.unwrap_or_else(|| Arc::new(TokioSleep::new()));
        let health = Arc::new(HealthTracker::new(health_config, clock.clone()));
        let retry = match retry.total_deadline() {
            Some(_) => retry,
            None => retry.with_total_deadline(Some(self.timeouts.total)),
        };
        let planner = RetryPlanner::new(retry, clock.clone())
            .with_health(Some(health.clone()))
            .with_budget(Some(Arc::new(RetryBudget::standard())));
        let clients =
            Clients::build(&self.auth, &self.regions, &self.endpoints, &self.timeouts).await;
        Ok(LlmManager {
            inner: Arc::new(Inner {
                models,
                regions: self.regions,
                clients,
                catalog,
                planner,
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
            }),
        })
    }
}

fn first_duplicate(items: &[String]) -> Option<&str> {
    items
        .iter()
        .enumerate()
        .find(|(i, a)| items[..*i].contains(a))
        .map(|(_, a)| a.as_str())
}

/// Per-call options for [`LlmManager::converse_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// Regions to try first, in order. Empty means the manager's configured order.
    pub preferred_regions: Vec<String>,
    /// Whether the other configured regions may be tried after the preferred ones.
    pub allow_other_regions: bool,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            preferred_regions: Vec::new(),
            allow_other_regions: true,
        }
    }
}

impl CallOptions {
    /// Try `regions` first, then (if `allow_other_regions`) the rest.
    pub fn prefer_regions<S: Into<String>>(
        regions: impl IntoIterator<Item = S>,
        allow_other_regions: bool,
    ) -> Self {
        Self {
            preferred_regions: regions.into_iter().map(Into::into).collect(),
            allow_other_regions,
        }
    }
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
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    models: Vec<ModelInfo>,
    regions: Vec<String>,
    clients: Clients,
    catalog: Catalog,
    planner: RetryPlanner,
    health: Arc<HealthTracker>,
    clock: Arc<dyn Clock>,
    sleep: Arc<dyn Sleep>,
    timeouts: Timeouts,
    guardrail: Option<GuardrailConfig>,
    validation: Option<ValidationConfig>,
    limits: Limits,
    auth_kind: &'static str,
    stream_recovery: StreamRecovery,
    cache: Option<CacheConfig>,
}

impl LlmManager {
    /// Starts building a manager.
    pub fn builder() -> LlmManagerBuilder {
        LlmManagerBuilder::new()
    }

    /// The resolved models, in order of preference.
    pub fn models(&self) -> &[ModelInfo] {
        &self.inner.models
    }

    /// The configured regions, in order of preference.
    pub fn regions(&self) -> &[String] {
        &self.inner.regions
    }

    /// The catalog the manager resolves names with.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Target health, shared by every call of this manager.
    pub fn health(&self) -> &HealthTracker {
        &self.inner.health
    }

    /// The targets a call would try now, in order (health applied).
    pub fn targets(&self) -> Vec<Target> {
        let mut targets = self.ordered_targets(&CallOptions::default());
        targets.sort_by_cached_key(|t| self.inner.health.rank(&t.model, &t.region));
        targets
    }

    /// Targets in strategy order, with `options.preferred_regions` first (in their order) and the
    /// other regions after them, or dropped when `allow_other_regions` is off.
    fn ordered_targets(&self, options: &CallOptions) -> Vec<Target> {
        let ids: Vec<&str> = self.inner.models.iter().map(|m| m.id.as_str()).collect();
        let targets = self
            .inner
            .planner
            .order_targets(&ids, &self.inner.regions, |m, r| self.methods(m, r));
        if options.preferred_regions.is_empty() {
            return targets;
        }
        let rank = |t: &Target| {
            options
                .preferred_regions
                .iter()
                .position(|r| *r == t.region)
        };
        let (mut preferred, others): (Vec<Target>, Vec<Target>) =
            targets.into_iter().partition(|t| rank(t).is_some());
        preferred.sort_by_key(|t| rank(t));
        if options.allow_other_regions {
            preferred.extend(others);
        }
        preferred
    }

    fn model(&self, id: &str) -> Option<&ModelInfo> {
        self.inner.models.iter().find(|m| m.id == id)
    }

    fn methods(&self, model_id: &str, region: &str) -> Vec<AccessMethod> {
        let Some(access) = self.model(model_id).and_then(|m| m.region_access(region)) else {
            return Vec::new();
        };
        let mut methods = Vec::with_capacity(3);
        if access.direct {
            methods.push(AccessMethod::Direct);
        }
        if access.regional_profile.is_some() {
            methods.push(AccessMethod::RegionalProfile);
        }
        if access.global_profile.is_some() {
            methods.push(AccessMethod::GlobalProfile);
        }
        methods
    }

    pub(crate) fn invoke_id(&self, target: &Target) -> Option<String> {
        let access = self.model(&target.model)?.region_access(&target.region)?;
        match target.access_method {
            AccessMethod::Direct => access.direct.then(|| target.model.clone()),
            AccessMethod::RegionalProfile => access.regional_profile.clone(),
            AccessMethod::GlobalProfile => access.global_profile.clone(),
            _ => None,
        }
    }

    pub(crate) fn auth_kind(&self) -> &'static str {
        self.inner.auth_kind
    }

    pub(crate) fn clock_now(&self) -> Duration {
        self.inner.clock.now()
    }

    /// Sleeps for `delay` on the injected sleeper; a zero delay returns at once.
    pub(crate) async fn sleep_for(&self, delay: Duration) {
        if !delay.is_zero() {
            self.inner.sleep.sleep(delay).await;
        }
    }

    pub(crate) fn plan(&self, targets: Vec<Target>) -> Result<bedrock_retry::CallPlan, Error> {
        Ok(self.inner.planner.plan(targets)?)
    }

    /// The targets for one call, or a configuration error when the options leave none.
    pub(crate) fn call_targets(&self, options: &CallOptions) -> Result<Vec<Target>, Error> {
        let targets = self.ordered_targets(options);
        if targets.is_empty() {
            return Err(Error::config(format!(
                "no configured model is offered in the requested regions {:?}",
                options.preferred_regions
            )));
        }
        Ok(targets)
    }

    pub(crate) fn client_for(
        &self,
        target: &Target,
    ) -> Option<(&aws_sdk_bedrockruntime::Client, String)> {
        Some((
            self.inner.clients.get(&target.region)?,
            self.invoke_id(target)?,
        ))
    }

    /// The time allowed for the next attempt of a call that started at `started`.
    pub(crate) fn attempt_timeout(&self, started: Duration) -> Duration {
        let t = &self.inner.timeouts;
        t.total
            .saturating_sub(self.clock_now().saturating_sub(started))
            .min(t.per_attempt)
    }

    pub(crate) fn stream_idle(&self) -> Duration {
        self.inner.timeouts.stream_idle
    }

    pub(crate) fn stream_recovery(&self) -> StreamRecovery {
        self.inner.stream_recovery
    }

    /// Whether the model accepts a final assistant message as the start of its answer.
    pub(crate) fn accepts_prefill(&self, model_id: &str) -> bool {
        self.model(model_id)
            .is_some_and(|m| m.provider.eq_ignore_ascii_case("anthropic"))
    }

    /// The request as sent to one target: features the plan disabled are removed, then cache
    /// points are placed for that target's model. Placement warnings are added to `warnings` once.
    pub(crate) fn request_for_target(
        &self,
        prepared: &ConverseRequest,
        attempt: &Attempt,
        warnings: &mut Vec<String>,
    ) -> ConverseRequest {
        let mut request = prepared.clone();
        for feature in &attempt.disabled_features {
            features::strip(&mut request, *feature);
        }
        let Some(cache) = self.inner.cache.as_ref().filter(|c| c.is_enabled()) else {
            return request;
        };
        if attempt
            .disabled_features
            .contains(&bedrock_retry::Feature::CachePoints)
        {
            return request;
        }
        let caching = self
            .model(&attempt.target.model)
            .and_then(|m| m.capabilities.prompt_caching);
        let placement = bedrock_cache::place_cache_points(&request, caching.as_ref(), cache);
        for warning in placement.warnings {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        placement.request
    }

    /// Prepares the request for sending: limits checked, default guardrail applied.
    pub(crate) fn prepare(&self, request: &ConverseRequest) -> Result<ConverseRequest, Error> {
        request.validate(&self.inner.limits)?;
        let mut request = request.clone();
        if request.guardrail_config.is_none() {
            request.guardrail_config.clone_from(&self.inner.guardrail);
        }
        Ok(request)
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
        let span = info_span!(
            "converse",
            auth = self.inner.auth_kind,
            attempts = tracing::field::Empty
        );
        self.converse_inner(request, options).instrument(span).await
    }

    async fn converse_inner(
        &self,
        request: &ConverseRequest,
        options: &CallOptions,
    ) -> Result<Response, Error> {
        let prepared = self.prepare(request)?;
        let inner = &*self.inner;
        let started = inner.clock.now();
        let mut plan = inner.planner.plan(self.call_targets(options)?)?;
        let classifier = BedrockClassifier;
        let mut warnings: Vec<String> =
            request.warnings().iter().map(ToString::to_string).collect();
        let mut validations: Vec<ValidationAttempt> = Vec::new();
        let mut last_error: Option<Box<AttemptError>> = None;
        loop {
            match plan.next_decision() {
                Decision::Attempt(attempt) => {
                    self.sleep_for(attempt.delay).await;
                    let span = info_span!(
                        "attempt",
                        n = attempt.attempt_number,
                        model = %attempt.target.model,
                        region = %attempt.target.region,
                        access = %attempt.target.access_method,
                    );
                    let outcome = self
                        .attempt(
                            &prepared,
                            &attempt,
                            started,
                            &mut validations,
                            &mut warnings,
                        )
                        .instrument(span)
                        .await;
                    match outcome {
                        Ok((output, invoke_id)) => {
                            warnings.extend(dropped_features(&attempt));
                            plan.record_success();
                            let attempts = plan.into_records();
                            tracing::Span::current().record("attempts", attempts.len());
                            return Ok(Response {
                                output,
                                model_id: attempt.target.model.clone(),
                                invoke_id,
                                region: attempt.target.region.clone(),
                                access_method: attempt.target.access_method,
                                attempts,
                                duration: inner.clock.now().saturating_sub(started),
                                warnings,
                                validations,
                            });
                        }
                        Err(error) => {
                            let classification = classifier.classify(&error);
                            debug!(class = %classification.class(), %error, "attempt failed");
                            plan.record_failure(classification, error.to_string());
                            last_error = Some(Box::new(error));
                        }
                    }
                }
                Decision::GiveUp(reason) => {
                    let attempts = plan.into_records();
                    warn!(%reason, attempts = attempts.len(), "converse failed");
                    return Err(Error::Exhausted {
                        reason,
                        attempts,
                        last_error,
                    });
                }
                Decision::Succeeded => {
                    // `record_success` returns above, so the plan cannot report success here.
                    let attempts = plan.into_records();
                    return Err(Error::Exhausted {
                        reason: bedrock_retry::GiveUpReason::TargetsExhausted {
                            targets: attempts.len(),
                        },
                        attempts,
                        last_error,
                    });
                }
            }
        }
    }

    /// One attempt on one target, including validation re-asks on that target.
    async fn attempt(
        &self,
        prepared: &ConverseRequest,
        attempt: &Attempt,
        started: Duration,
        validations: &mut Vec<ValidationAttempt>,
        warnings: &mut Vec<String>,
    ) -> Result<(ConverseResponse, String), AttemptError> {
        let inner = &*self.inner;
        let invoke_id =
            self.invoke_id(&attempt.target)
                .ok_or_else(|| AttemptError::Construction {
                    message: format!(
                        "no {} access for {}",
                        attempt.target.access_method, attempt.target
                    ),
                })?;
        let client = inner.clients.get(&attempt.target.region).ok_or_else(|| {
            AttemptError::Construction {
                message: format!("no client for region {}", attempt.target.region),
            }
        })?;
        let mut request = self.request_for_target(prepared, attempt, warnings);
        let mut asks = 0u32;
        loop {
            let output = send(client, &invoke_id, &request, self.attempt_timeout(started)).await?;
            let Some(validation) = &inner.validation else {
                return Ok((output, invoke_id));
            };
            asks += 1;
            let number = u32::try_from(validations.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            let result = validation.check(&output);
            let message = match &result {
                ValidationResult::Valid => None,
                ValidationResult::Invalid { message } => Some(message.clone()),
            };
            validations.push(ValidationAttempt {
                target: attempt.target.clone(),
                number,
                result,
                rejected_text: message.as_ref().map(|_| output.text()),
            });
            let Some(message) = message else {
                return Ok((output, invoke_id));
            };
            if asks > validation.retries() {
                return Err(AttemptError::ValidationFailed {
                    attempts: asks,
                    message,
                });
            }
            request = validation.next_request(&request, &output, &message);
            self.sleep_for(validation.delay()).await;
        }
    }
}

async fn send(
    client: &aws_sdk_bedrockruntime::Client,
    invoke_id: &str,
    request: &ConverseRequest,
    timeout: Duration,
) -> Result<ConverseResponse, AttemptError> {
    let builder =
        bedrock_messages::sdk::apply_to_converse(request, client.converse().model_id(invoke_id))
            .map_err(|e| AttemptError::Construction {
                message: e.to_string(),
            })?;
    let output = match tokio::time::timeout(timeout, builder.send()).await {
        Err(_elapsed) => return Err(AttemptError::Timeout { after: timeout }),
        Ok(Err(e)) => return Err(AttemptError::from_sdk(&e, timeout)),
        Ok(Ok(output)) => output,
    };
    ConverseResponse::try_from(output).map_err(|e| AttemptError::Response {
        message: e.to_string(),
    })
}

#[allow(
    dead_code,
    reason = "compile-time check that the manager can be shared across tasks"
)]
fn assert_send_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<LlmManager>();
    let _ = BTreeMap::<String, String>::new();
}

/// The warnings a successful attempt carries for the features feature fallback removed.
pub(crate) fn dropped_features(attempt: &Attempt) -> impl Iterator<Item = String> + '_ {
    attempt.disabled_features.iter().map(move |feature| {
        format!(
            "{feature} removed from the request: {} rejected it",
            attempt.target.model
        )
    })
}
