//! The attempt engine: the one place that decides what happens to a call after an error.
//!
//! `converse`, `converse_stream` and the parallel engine (through `converse_with`) all run their
//! attempts here, in the same steps:
//!
//! 1. **prepare**: the request is checked against Bedrock's limits and the default guardrail is
//!    applied (before any network call; a bad request is a typed error and nothing is sent);
//! 2. **plan**: the targets are ordered (strategy, preferred regions, health) and handed to
//!    [`bedrock_retry::CallPlan::run`], the one attempt loop, under the call's deadline;
//! 3. **request for the target**: features the plan disabled *for that target's model* are
//!    stripped from a copy of the request, and cache points are placed for that model;
//! 4. **send**: with the region's client, bounded by the time the call has left;
//! 5. **classify**: [`crate::classify`] maps the failure to an error class;
//! 6. **record**: the plan records the attempt and updates target health and the retry budget;
//! 7. **validate**: with response validation configured, an answer that fails it is asked for
//!    again on the same target, within the same deadline.
//!
//! What differs between a plain call and a stream is only how one attempt is sent and read; that
//! part is the closure given to [`Engine::run`].

use std::sync::Arc;
use std::time::Duration;

use bedrock_cache::CacheConfig;
use bedrock_catalog::AccessMethod;
use bedrock_catalog::{Catalog, ModelInfo};
use bedrock_messages::Feature;
use bedrock_messages::{
    ConverseRequest, ConverseResponse, GuardrailConfig, InferenceConfig, Limits,
};
use bedrock_retry::{
    Attempter, Classify, Clock, ErrorClass, GiveUpReason, HealthTracker, RetryPlanner, Sleep,
};
use tracing::{Instrument, debug};

use crate::classify::{AttemptError, BedrockClassifier};
use crate::clients::{Clients, Timeouts};
use crate::routing::{Router, Target};
use crate::validation::{ValidationAttempt, ValidationConfig, ValidationContext, ValidationResult};

/// A planned attempt of this crate's targets.
pub(crate) type Attempt = bedrock_retry::Attempt<Target>;
/// One attempt of a call, as recorded: target, class, message, duration.
pub type AttemptRecord = bedrock_retry::AttemptRecord<Target>;

/// How a stream that fails after content arrived is recovered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamRecovery {
    /// Continue with assistant prefill when the next model is known to accept it (Anthropic),
    /// otherwise restart.
    #[default]
    Auto,
    /// Always continue with assistant prefill (the model must accept a final assistant message).
    Continue,
    /// Always restart the answer.
    Restart,
}

/// Per-call options for [`crate::LlmManager::converse_with`] and
/// [`crate::LlmManager::converse_stream_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallOptions {
    /// Regions to try first, in order. Empty means the manager's configured order.
    pub preferred_regions: Vec<String>,
    /// Whether the other configured regions may be tried after the preferred ones.
    pub allow_other_regions: bool,
    /// A deadline for this call, shorter than the manager's total timeout (`None`: the manager's).
    pub deadline: Option<Duration>,
    /// Response validation for this call, instead of the manager's (`None`: the manager's).
    pub validation: Option<ValidationConfig>,
    /// How a typed-answer call shapes the request for each target (`crate::structured`).
    pub(crate) structured: Option<crate::structured::Shape>,
    /// Hedging for this call, instead of the manager's (`None`: the manager's;
    /// [`Hedging::off`](crate::Hedging::off): none). A stream hedges an attempt that has not
    /// delivered its first event.
    pub hedging: Option<crate::hedge::Hedging>,
    /// Whether the preferred regions are a batch's spread rather than the caller's choice: cache
    /// affinity may put another region first.
    pub(crate) placed: bool,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            preferred_regions: Vec::new(),
            allow_other_regions: true,
            deadline: None,
            validation: None,
            structured: None,
            hedging: None,
            placed: false,
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
            deadline: None,
            validation: None,
            structured: None,
            hedging: None,
            placed: false,
        }
    }

    /// The options of a batch request placed by `bedrock-parallel`: its assigned regions first
    /// (then the others, if the placement allows), and the batch's deadline, so the call ends a
    /// late request itself, with its attempts.
    pub(crate) fn for_placement(placement: bedrock_parallel::Placement) -> Self {
        let mut options =
            Self::prefer_regions(placement.preferred_regions, placement.allow_other_regions);
        options.deadline = placement.deadline;
        options.placed = true;
        options
    }

    /// Hedges this call with `hedging` instead of the manager's setting; the manager's share cap
    /// counts it with the others.
    ///
    /// ```
    /// use std::time::Duration;
    /// use llmmanager::{CallOptions, Hedging};
    ///
    /// let options = CallOptions::default().with_hedging(Hedging::after(Duration::from_millis(300)));
    /// let never = CallOptions::default().with_hedging(Hedging::off());
    /// # let _ = (options, never);
    /// ```
    #[must_use]
    pub fn with_hedging(mut self, hedging: crate::hedge::Hedging) -> Self {
        self.hedging = Some(hedging);
        self
    }

    /// Bounds this call by `deadline` (the manager's total timeout still applies when shorter).
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Validates this call's answers with `validation` instead of the manager's configuration.
    #[must_use]
    pub fn with_validation(mut self, validation: ValidationConfig) -> Self {
        self.validation = Some(validation);
        self
    }
}

/// How one attempt, ready to send, is sent and read: a plain Converse call or a stream.
pub(crate) trait Exchange {
    /// What a successful attempt gives.
    type Output;

    /// Whether an attempt's duration is the time to its whole answer, so it feeds the latencies
    /// the manager observes per target.
    const TIMES_ANSWERS: bool = false;

    /// Sends the attempt and reads its answer, by `ready.ends_at` at the latest.
    async fn send(&mut self, ready: Ready) -> Result<Self::Output, AttemptError>;

    /// A second exchange for a hedge racing this one; `None`: this exchange is not hedged.
    fn fork(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// The token usage of a successful attempt's output, when known (it feeds cache affinity).
    fn usage(&self, output: &Self::Output) -> Option<bedrock_messages::TokenUsage> {
        let _ = output;
        None
    }

    /// The tokens (input plus output) a successful attempt used, when known; pacing gives back
    /// the rest of what it reserved.
    fn used_tokens(output: &Self::Output) -> Option<u64> {
        let _ = output;
        None
    }

    /// For a stream: which attempt delivers events to the caller, so a hedged race ends at the
    /// first event rather than at the end of an attempt. `None`: a race ends when an attempt
    /// does.
    fn first_event(&self) -> Option<Arc<crate::hedge::FirstEvent>> {
        None
    }

    /// Takes back what a forked exchange collected.
    fn join(&mut self, other: Self)
    where
        Self: Sized,
    {
        let _ = other;
    }
}

/// The attempt step of the engine: readies each planned attempt, then hands it to the exchange.
struct Attempts<'a, X> {
    engine: &'a Engine,
    prepared: &'a ConverseRequest,
    options: &'a CallOptions,
    warnings: &'a mut Vec<String>,
    exchange: &'a mut X,
}

impl<X: Exchange> Attempter<(X::Output, String), AttemptError, Target> for Attempts<'_, X> {
    async fn attempt(&mut self, mut attempt: Attempt) -> Result<(X::Output, String), AttemptError> {
        let span = crate::telemetry::attempt_span(self.engine, &attempt);
        let target = attempt.target.clone();
        // Dropped unsettled (the attempt lost a hedged race, or failed before it was sent), the
        // reservation is reported to pacing as abandoned.
        let mut paced = self.engine.pace(self.prepared, &mut attempt).await?;
        let mut ready = self.engine.ready(self.prepared, attempt, self.warnings)?;
        if let Some(shape) = &self.options.structured {
            shape.apply(self.engine, &mut ready);
        }
        let invoke_id = ready.invoke_id.clone();
        if let Some(ticket) = &mut paced {
            ticket.sent = true;
        }
        let result = self.exchange.send(ready).instrument(span.clone()).await;
        if let Some(mut ticket) = paced {
            let used = result.as_ref().ok().and_then(X::used_tokens);
            ticket.settled = true;
            self.engine.paced(&target, ticket.tokens, &result, used);
        }
        crate::telemetry::attempt_outcome(&span, &target, &result);
        if let Err(error) = &result {
            debug!(%error, "attempt failed");
        }
        result.map(|value| (value, invoke_id))
    }
}

/// A plain Converse call: one request per attempt, checked by response validation.
pub(crate) struct ConverseExchange<'a> {
    pub(crate) engine: &'a Engine,
    /// The validation in force for this call (the call's own, else the manager's).
    pub(crate) validation: Option<&'a ValidationConfig>,
    /// Every validation of an answer, in order.
    pub(crate) validations: Vec<ValidationAttempt>,
    /// Warnings about answers (unmodelled blocks).
    pub(crate) warnings: Vec<String>,
    /// How many answers the call validated so far, shared with a hedge's exchange so the numbers
    /// count across both.
    validated: Arc<std::sync::atomic::AtomicU32>,
}

impl<'a> ConverseExchange<'a> {
    /// A plain call's exchange, validating with `validation`.
    pub(crate) fn new(engine: &'a Engine, validation: Option<&'a ValidationConfig>) -> Self {
        Self {
            engine,
            validation,
            validations: Vec::new(),
            warnings: Vec::new(),
            validated: Arc::default(),
        }
    }
}

impl Exchange for ConverseExchange<'_> {
    type Output = ConverseResponse;

    const TIMES_ANSWERS: bool = true;

    fn fork(&self) -> Option<Self> {
        Some(ConverseExchange {
            engine: self.engine,
            validation: self.validation,
            validations: Vec::new(),
            warnings: Vec::new(),
            validated: Arc::clone(&self.validated),
        })
    }

    fn usage(&self, output: &ConverseResponse) -> Option<bedrock_messages::TokenUsage> {
        Some(output.usage)
    }

    fn used_tokens(output: &ConverseResponse) -> Option<u64> {
        Some(u64::from(output.usage.input_tokens) + u64::from(output.usage.output_tokens))
    }

    fn join(&mut self, other: Self) {
        self.validations.extend(other.validations);
        self.validations.sort_by_key(|v| v.number);
        push_unique(&mut self.warnings, other.warnings);
    }

    async fn send(&mut self, ready: Ready) -> Result<ConverseResponse, AttemptError> {
        self.engine
            .converse_attempt(
                ready,
                self.validation,
                (&mut self.validations, &self.validated),
                &mut self.warnings,
            )
            .await
    }
}

/// Everything a call needs, shared by every call of one manager.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) models: Vec<ModelInfo>,
    pub(crate) regions: Vec<String>,
    /// The residency constraint `models` and `regions` were narrowed to at build time.
    pub(crate) residency: Option<crate::residency::Residency>,
    pub(crate) clients: Clients,
    pub(crate) catalog: Catalog,
    pub(crate) planner: RetryPlanner,
    pub(crate) router: Router,
    pub(crate) classifier: BedrockClassifier,
    pub(crate) stats: crate::stats::Stats,
    pub(crate) health: Arc<HealthTracker>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sleep: Arc<dyn Sleep>,
    pub(crate) timeouts: Timeouts,
    pub(crate) guardrail: Option<GuardrailConfig>,
    pub(crate) validation: Option<ValidationConfig>,
    pub(crate) limits: Limits,
    pub(crate) auth_kind: &'static str,
    pub(crate) stream_recovery: StreamRecovery,
    pub(crate) cache: Option<CacheConfig>,
    /// Models that rejected cache points recently, on `clock`: they are sent none for a while.
    pub(crate) cache_availability: bedrock_cache::CacheAvailability,
    /// Sampling parameters for requests that do not set them.
    pub(crate) default_inference: Option<InferenceConfig>,
    /// Model-native request fields per base model id, merged into that model's requests only.
    pub(crate) model_fields: Vec<(String, serde_json::Value)>,
    /// Hedging and latency-aware order.
    pub(crate) speed: crate::hedge::Speed,
    /// Adaptive pacing per target (`None`: off).
    pub(crate) pacer: Option<crate::pacing::Pacer>,
    /// Where cached prefixes were last written (`None`: cache affinity off).
    pub(crate) affinity: Option<crate::affinity::Affinity>,
}

/// A place reserved in a pacing lane for one attempt. Reported back once: by the engine when the
/// attempt ends, or, dropped unsettled (a hedged race's loser, an attempt that failed before it
/// was sent), as abandoned: unsent, it gives its place back; sent, it keeps it, since Bedrock
/// counted the request and may still finish it.
pub(crate) struct PaceTicket<'a> {
    pacer: &'a crate::pacing::Pacer,
    clock: &'a dyn Clock,
    model: String,
    region: String,
    /// The tokens reserved.
    pub(crate) tokens: u64,
    place: crate::pacing::Reservation,
    /// Whether the request was handed to the client.
    pub(crate) sent: bool,
    /// Whether the outcome was reported (or there is nothing to report).
    pub(crate) settled: bool,
}

impl Drop for PaceTicket<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.pacer.abandoned(
                &self.model,
                &self.region,
                self.tokens,
                self.sent,
                &self.place,
                self.clock.now(),
            );
        }
    }
}

/// One attempt, ready to send: the request for its target, the client and the time it may take.
#[derive(Debug)]
pub(crate) struct Ready {
    /// The planned attempt.
    pub(crate) attempt: Attempt,
    /// The request as sent to this target.
    pub(crate) request: ConverseRequest,
    /// The region's client.
    pub(crate) client: aws_sdk_bedrockruntime::Client,
    /// The id or inference profile in the request path.
    pub(crate) invoke_id: String,
    /// When this attempt must be over, on the engine's clock.
    pub(crate) ends_at: Duration,
    /// Whether `ends_at` is the call's deadline rather than the per-attempt timeout.
    pub(crate) deadline_bound: bool,
    /// When the call's deadline falls, on the engine's clock (`None`: no deadline). A stream is
    /// read until then.
    pub(crate) call_ends_at: Option<Duration>,
}

/// A call that ended without an answer.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) reason: GiveUpReason,
    pub(crate) attempts: Vec<AttemptRecord>,
    pub(crate) last_error: Option<Box<AttemptError>>,
}

/// A call that ended with an answer.
#[derive(Debug)]
pub(crate) struct Done<T> {
    pub(crate) value: T,
    pub(crate) attempt: Attempt,
    pub(crate) invoke_id: String,
    pub(crate) attempts: Vec<AttemptRecord>,
}

impl Engine {
    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    pub(crate) fn model(&self, id: &str) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.id == id)
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

    /// Targets in strategy order. Preferred regions are moved to the front of the region list
    /// (in their order) *before* models and regions are paired, so region-first stays
    /// region-first: every region of the first model, then the next model.
    pub(crate) fn ordered_targets(&self, options: &CallOptions) -> Vec<Target> {
        let ids: Vec<&str> = self.models.iter().map(|m| m.id.as_str()).collect();
        let mut regions: Vec<&str> = options
            .preferred_regions
            .iter()
            .filter(|r| self.regions.contains(r))
            .map(String::as_str)
            .collect();
        if options.preferred_regions.is_empty() || options.allow_other_regions {
            for r in &self.regions {
                if !regions.contains(&r.as_str()) {
                    regions.push(r);
                }
            }
        }
        // Preferred regions keep their order; the configured region order applies otherwise.
        let reorder = options.preferred_regions.is_empty();
        let mut targets = self
            .router
            .order_targets(&ids, &regions, reorder, |m, r| self.methods(m, r));
        if reorder && self.speed.latency_aware {
            crate::hedge::order_by_latency(&mut targets, |t| {
                self.stats.mean_latency(&t.model, &t.region)
            });
        }
        targets
    }

    pub(crate) fn invoke_id(&self, target: &Target) -> Option<String> {
        let access = self.model(&target.model)?.region_access(&target.region)?;
        match target.access_method {
            AccessMethod::Direct => access.direct.then(|| target.model.clone()),
            AccessMethod::RegionalProfile => access.regional_profile.clone(),
            AccessMethod::GlobalProfile => access.global_profile.clone(),
        }
    }

    /// The id an attempt sends to: its target's, except that a direct target of a model Bedrock
    /// refused to invoke on demand goes through the region's inference profile (regional, else
    /// global), and the router remembers the model for later calls.
    fn attempt_invoke_id(&self, attempt: &Attempt) -> Option<String> {
        let target = &attempt.target;
        if target.access_method == AccessMethod::Direct
            && attempt
                .disabled_features
                .contains(&crate::classify::ON_DEMAND)
        {
            let access = self.model(&target.model)?.region_access(&target.region)?;
            let profile = access
                .regional_profile
                .clone()
                .or_else(|| access.global_profile.clone());
            if let Some(profile) = profile {
                self.router.learn_needs_profile(&target.model);
                return Some(profile);
            }
        }
        self.invoke_id(target)
    }

    /// How an attempt actually reached its model: its target's method, or the profile that
    /// [`Engine::attempt_invoke_id`] put in its place.
    pub(crate) fn access_used(&self, attempt: &Attempt, invoke_id: &str) -> AccessMethod {
        let target = &attempt.target;
        if target.access_method != AccessMethod::Direct || invoke_id == target.model {
            return target.access_method;
        }
        let global = self
            .model(&target.model)
            .and_then(|m| m.region_access(&target.region))
            .and_then(|a| a.global_profile.as_deref())
            .is_some_and(|g| g == invoke_id);
        if global {
            AccessMethod::GlobalProfile
        } else {
            AccessMethod::RegionalProfile
        }
    }

    /// Whether the model accepts a final assistant message as the start of its answer.
    pub(crate) fn accepts_prefill(&self, model_id: &str) -> bool {
        self.model(model_id)
            .is_some_and(|m| m.provider.eq_ignore_ascii_case("anthropic"))
    }

    /// Prepares the request for sending: limits checked, default guardrail applied.
    pub(crate) fn prepare(
        &self,
        request: &ConverseRequest,
    ) -> Result<ConverseRequest, bedrock_messages::Error> {
        request.validate(&self.limits)?;
        let mut request = request.clone();
        if request.guardrail_config.is_none() {
            request.guardrail_config.clone_from(&self.guardrail);
        }
        if let Some(default) = &self.default_inference {
            let config = request
                .inference_config
                .get_or_insert_with(InferenceConfig::default);
            config.max_tokens = config.max_tokens.or(default.max_tokens);
            config.temperature = config.temperature.or(default.temperature);
            config.top_p = config.top_p.or(default.top_p);
            if config.stop_sequences.is_none() {
                config.stop_sequences.clone_from(&default.stop_sequences);
            }
        }
        Ok(request)
    }

    /// The request as sent to one target: features the plan disabled for this target's model are
    /// removed, then cache points are placed for that model. Placement warnings are added to
    /// `warnings` once.
    pub(crate) fn request_for_target(
        &self,
        prepared: &ConverseRequest,
        attempt: &Attempt,
        warnings: &mut Vec<String>,
    ) -> ConverseRequest {
        // Copied only when changed here: placing cache points makes the copy sent.
        let mut request = std::borrow::Cow::Borrowed(prepared);
        for (model, fields) in &self.model_fields {
            if *model == attempt.target.model {
                merge_fields(
                    &mut request.to_mut().additional_model_request_fields,
                    fields,
                );
            }
        }
        for feature in features_of(attempt) {
            request.to_mut().remove(feature);
        }
        if attempt
            .disabled_features
            .contains(&Feature::CachePoints.as_str())
        {
            // The model rejected cache points in this call; later calls send it none for a while.
            let memory = self.cache.as_ref().map_or(
                bedrock_cache::DEFAULT_REJECTION_MEMORY,
                CacheConfig::rejection_memory,
            );
            self.cache_availability
                .record_rejection(&attempt.target.model, self.now(), memory);
            return request.into_owned();
        }
        let Some(model) = self.model(&attempt.target.model) else {
            return request.into_owned();
        };
        let placement = bedrock_cache::place_for_model(
            &request,
            model,
            self.cache.as_ref(),
            &self.cache_availability,
            self.now(),
        );
        push_unique(warnings, placement.warnings);
        placement.request
    }

    /// The cache points of `prepared` as sent to `model_id`, for cache affinity.
    fn prefix_points(
        &self,
        prepared: &ConverseRequest,
        model_id: &str,
    ) -> Vec<crate::affinity::PrefixPoint> {
        let Some(model) = self.model(model_id) else {
            return Vec::new();
        };
        if model.capabilities.prompt_caching.is_none() {
            return Vec::new();
        }
        let placement = bedrock_cache::place_for_model(
            prepared,
            model,
            self.cache.as_ref(),
            &self.cache_availability,
            self.now(),
        );
        crate::affinity::prefix_points(model, &placement.request)
    }

    /// Cache affinity: moves the target holding the longest live cached prefix of `prepared` to
    /// the front, unless the caller chose the preferred regions. Returns the target it moved.
    fn apply_affinity(
        &self,
        prepared: &ConverseRequest,
        targets: &mut [Target],
        options: &CallOptions,
    ) -> Option<Target> {
        let affinity = self.affinity.as_ref()?;
        if !options.preferred_regions.is_empty() && !options.placed {
            return None;
        }
        let model = targets.first().map(|t| t.model.clone())?;
        let points = self.prefix_points(prepared, &model);
        let region = affinity.region_for(&points, self.now())?;
        affinity
            .prefer(targets, &region)
            .then(|| targets.first().cloned())
            .flatten()
    }

    /// The targets for one call, or `None` when the options leave none.
    pub(crate) fn call_targets(&self, options: &CallOptions) -> Option<Vec<Target>> {
        let targets = self.ordered_targets(options);
        (!targets.is_empty()).then_some(targets)
    }

    /// The call's deadline: the manager's total timeout, or the call's own when shorter.
    pub(crate) fn deadline(&self, options: &CallOptions) -> Duration {
        let total = self
            .planner
            .config()
            .total_deadline()
            .unwrap_or(self.timeouts.total);
        options.deadline.map_or(total, |d| d.min(total))
    }

    /// The tokens pacing reserves for `prepared` on `model_id`: its estimated input and its
    /// `maxTokens` (else the model's maximum), as Bedrock reserves them when a request starts.
    fn paced_tokens(&self, prepared: &ConverseRequest, model_id: &str) -> u64 {
        let output = prepared
            .inference_config
            .as_ref()
            .and_then(|c| c.max_tokens)
            .or_else(|| {
                self.model(model_id)
                    .and_then(|m| m.capabilities.max_output_tokens)
            })
            .map_or(0, u64::from);
        bedrock_cache::estimate_request_tokens(prepared).saturating_add(output)
    }

    /// Pacing, when on: moves the targets with capacity now ahead of those that would wait (the
    /// order among each kept).
    fn by_capacity(&self, prepared: &ConverseRequest, targets: Vec<Target>) -> Vec<Target> {
        let Some(pacer) = &self.pacer else {
            return targets;
        };
        let mut keyed: Vec<(bool, Target)> = targets
            .into_iter()
            .map(|t| {
                let tokens = self.paced_tokens(prepared, &t.model);
                let waits = !pacer
                    .wait(&t.model, &t.region, tokens, self.clock.as_ref())
                    .is_zero();
                (waits, t)
            })
            .collect();
        keyed.sort_by_key(|(waits, _)| *waits);
        keyed.into_iter().map(|(_, t)| t).collect()
    }

    /// Pacing, when on: reserves capacity for the attempt on its target and waits for it, at most
    /// nine tenths of the time the attempt has left (which shrinks by the wait); a place voided
    /// by a throttle while waiting is reserved again. Returns the reservation, or fails the
    /// attempt with [`AttemptError::NoCapacity`] when the wait would be longer; nothing is
    /// reserved then.
    async fn pace(
        &self,
        prepared: &ConverseRequest,
        attempt: &mut Attempt,
    ) -> Result<Option<PaceTicket<'_>>, AttemptError> {
        let Some(pacer) = &self.pacer else {
            return Ok(None);
        };
        let target = &attempt.target;
        let tokens = self.paced_tokens(prepared, &target.model);
        let time_left = attempt.time_left.unwrap_or(self.timeouts.per_attempt);
        let max_wait = time_left.saturating_sub(time_left / 10);
        let started = self.now();
        let ticket = loop {
            let waited = self.now().saturating_sub(started);
            let place = pacer
                .reserve(
                    &target.model,
                    &target.region,
                    tokens,
                    self.now(),
                    max_wait.saturating_sub(waited),
                )
                .await;
            let place = match place {
                Ok(place) => place,
                Err(wait) => {
                    return Err(AttemptError::NoCapacity {
                        target: target.to_string(),
                        wait,
                        time_left,
                    });
                }
            };
            let mut ticket = PaceTicket {
                pacer,
                clock: self.clock.as_ref(),
                model: target.model.clone(),
                region: target.region.clone(),
                tokens,
                place,
                sent: false,
                settled: false,
            };
            if place.wait.is_zero() {
                break ticket;
            }
            debug!(wait = ?place.wait, %target, "paced: waiting for capacity");
            self.sleep.sleep(place.wait).await;
            if pacer
                .still_stands(&target.model, &target.region, &place, self.now())
                .await
            {
                break ticket;
            }
            // A throttle cleared the queue while this attempt waited: its place is void.
            ticket.settled = true;
        };
        let waited = self.now().saturating_sub(started);
        attempt.time_left = attempt.time_left.map(|left| left.saturating_sub(waited));
        Ok(Some(ticket))
    }

    /// Tells pacing how a paced attempt ended: a throttle cuts its target's rate, an answer gives
    /// back the reserved tokens it did not use and grows the rate.
    fn paced<T>(
        &self,
        target: &Target,
        reserved: u64,
        result: &Result<T, AttemptError>,
        used: Option<u64>,
    ) {
        let Some(pacer) = &self.pacer else {
            return;
        };
        let now = self.now();
        match result {
            Ok(_) => pacer.succeeded(&target.model, &target.region, reserved, used, now),
            Err(error @ AttemptError::Service { message, .. })
                if self.classifier.classify(error).class() == ErrorClass::Throttled =>
            {
                let limit = crate::pacing::Pacer::limit_of(message);
                pacer.throttled(&target.model, &target.region, limit, now);
            }
            Err(_) => {}
        }
    }

    /// Turns a planned attempt into one ready to send.
    fn ready(
        &self,
        prepared: &ConverseRequest,
        attempt: Attempt,
        warnings: &mut Vec<String>,
    ) -> Result<Ready, AttemptError> {
        let invoke_id =
            self.attempt_invoke_id(&attempt)
                .ok_or_else(|| AttemptError::Construction {
                    message: format!(
                        "no {} access for {}",
                        attempt.target.access_method, attempt.target
                    ),
                })?;
        let client = self
            .clients
            .get(&attempt.target.region)
            .cloned()
            .ok_or_else(|| AttemptError::Construction {
                message: format!("no client for region {}", attempt.target.region),
            })?;
        let request = self.request_for_target(prepared, &attempt, warnings);
        let per_attempt = self.timeouts.per_attempt;
        let (budget, deadline_bound) = match attempt.time_left {
            Some(left) if left < per_attempt => (left, true),
            _ => (per_attempt, false),
        };
        let now = self.now();
        Ok(Ready {
            ends_at: now.saturating_add(budget),
            call_ends_at: attempt.time_left.map(|left| now.saturating_add(left)),
            attempt,
            request,
            client,
            invoke_id,
            deadline_bound,
        })
    }

    /// Runs one call: plans the targets and hands each attempt, ready to send, to `exchange`,
    /// until one succeeds or the plan gives up. Warnings of the preparation steps go to
    /// `warnings`.
    pub(crate) async fn run<X: Exchange>(
        &self,
        prepared: &ConverseRequest,
        targets: Vec<Target>,
        options: &CallOptions,
        warnings: &mut Vec<String>,
        exchange: &mut X,
    ) -> Result<Done<X::Output>, Failed> {
        let mut targets = targets;
        let affine = self.apply_affinity(prepared, &mut targets, options);
        let targets = self.by_capacity(prepared, targets);
        let deadline = self.deadline(options);
        let plan = match self.planner.plan(targets) {
            Ok(plan) => {
                let plan = plan.with_total_deadline(deadline);
                match affine {
                    Some(target) => plan.with_first_route(target, bedrock_retry::Route::Affinity),
                    None => plan,
                }
            }
            Err(_) => {
                return Err(Failed {
                    reason: GiveUpReason::TargetsExhausted { targets: 0 },
                    attempts: Vec::new(),
                    last_error: None,
                });
            }
        };
        let hedging = options
            .hedging
            .as_ref()
            .or(self.speed.hedging.as_ref())
            .filter(|h| h.is_on());
        let spare = hedging.and_then(|_| exchange.fork());
        let first_event = exchange.first_event();
        let outcome = match (hedging, spare) {
            (Some(hedging), Some(mut spare)) => {
                self.speed.count_call();
                let policy = crate::hedge::CallHedge {
                    engine: self,
                    hedging,
                    request: prepared,
                    first_event: first_event.clone(),
                };
                let mut spare_warnings = Vec::new();
                let outcome = {
                    let first = Attempts {
                        engine: self,
                        prepared,
                        options,
                        warnings: &mut *warnings,
                        exchange: &mut *exchange,
                    };
                    let second = Attempts {
                        engine: self,
                        prepared,
                        options,
                        warnings: &mut spare_warnings,
                        exchange: &mut spare,
                    };
                    plan.run_hedged(
                        self.sleep.as_ref(),
                        &self.classifier,
                        &policy,
                        first,
                        second,
                    )
                    .await
                };
                exchange.join(spare);
                push_unique(warnings, spare_warnings);
                outcome
            }
            _ => {
                let attempter = Attempts {
                    engine: self,
                    prepared,
                    options,
                    warnings,
                    exchange,
                };
                plan.run(self.sleep.as_ref(), &self.classifier, attempter)
                    .await
            }
        };
        if let (Some(affinity), Ok(done)) = (&self.affinity, &outcome)
            && let Some(usage) = exchange.usage(&done.value.0)
        {
            let target = &done.attempt.target;
            let points = self.prefix_points(prepared, &target.model);
            affinity.record(target, &points, &usage, self.now());
        }
        let records = match &outcome {
            Ok(done) => {
                self.stats.record(true, &done.records);
                &done.records
            }
            Err(failed) => {
                if !failed.records.is_empty() {
                    self.stats.record(false, &failed.records);
                }
                &failed.records
            }
        };
        if X::TIMES_ANSWERS {
            // Answers, and attempts cancelled by a hedge (they took at least that long).
            for r in records.iter().filter(|r| {
                (r.class.is_none() && r.lost.is_none())
                    || r.lost == Some(bedrock_retry::HedgeLoss::Cancelled)
            }) {
                self.stats
                    .observe_latency(&r.target.model, &r.target.region, r.duration);
            }
        } else if first_event.is_some() {
            // A stream attempt cancelled by its hedge went at least this long without an event.
            for r in records
                .iter()
                .filter(|r| r.lost == Some(bedrock_retry::HedgeLoss::Cancelled))
            {
                self.speed.observe_first_token(&r.target, r.duration);
            }
        }
        match outcome {
            Ok(done) => {
                let (value, invoke_id) = done.value;
                Ok(Done {
                    value,
                    invoke_id,
                    attempt: done.attempt,
                    attempts: done.records,
                })
            }
            Err(failed) => Err(Failed {
                reason: failed.reason,
                attempts: failed.records,
                last_error: failed.last_error.map(Box::new),
            }),
        }
    }

    /// Sends one Converse request and checks the answer, asking again on the same target while
    /// validation rejects it (each ask bounded by the attempt's end). Each validation is pushed
    /// to `validations`, numbered by `validated`, the call's count of validated answers.
    pub(crate) async fn converse_attempt(
        &self,
        ready: Ready,
        validation: Option<&ValidationConfig>,
        (validations, validated): (&mut Vec<ValidationAttempt>, &std::sync::atomic::AtomicU32),
        warnings: &mut Vec<String>,
    ) -> Result<ConverseResponse, AttemptError> {
        let mut request = ready.request;
        let mut asks = 0u32;
        loop {
            let timeout = ready.ends_at.saturating_sub(self.now());
            let output = send_converse(
                self.sleep.as_ref(),
                &ready.client,
                &ready.invoke_id,
                &request,
                timeout,
                ready.deadline_bound,
            )
            .await?;
            push_unique(warnings, unmodelled_warnings(&output));
            let Some(validation) = validation else {
                return Ok(output);
            };
            asks += 1;
            let number = validated
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .saturating_add(1);
            let context = ValidationContext {
                model_id: &ready.attempt.target.model,
                region: &ready.attempt.target.region,
                number,
            };
            let result = validation.check(&output, &context);
            let message = match &result {
                ValidationResult::Valid => None,
                ValidationResult::Invalid { message, .. } => Some(message.clone()),
            };
            validations.push(ValidationAttempt {
                target: ready.attempt.target.clone(),
                number,
                result,
                rejected_text: message.as_ref().map(|_| output.text()),
            });
            let Some(message) = message else {
                return Ok(output);
            };
            if asks > validation.retries() {
                return Err(AttemptError::ValidationFailed {
                    attempts: asks,
                    message,
                });
            }
            request = validation.next_request(&request, &output, &message);
            let delay = validation.delay();
            if self.now().saturating_add(delay) >= ready.ends_at {
                return Err(AttemptError::Timeout {
                    after: timeout,
                    deadline: ready.deadline_bound,
                });
            }
            if !delay.is_zero() {
                self.sleep.sleep(delay).await;
            }
        }
    }
}

async fn send_converse(
    sleep: &dyn Sleep,
    client: &aws_sdk_bedrockruntime::Client,
    invoke_id: &str,
    request: &ConverseRequest,
    timeout: Duration,
    deadline: bool,
) -> Result<ConverseResponse, AttemptError> {
    let builder =
        bedrock_messages::sdk::apply_to_converse(request, client.converse().model_id(invoke_id))
            .map_err(|e| AttemptError::Construction {
                message: e.to_string(),
            })?;
    // The SDK's send future is several kilobytes. Boxed where it is made, so that the futures
    // wrapping it (timeout, extra fields, body capture, the attempt, the plan's loop, the call)
    // hold a pointer and are not copied, kilobytes at a time, each time one is moved.
    let send = Box::pin(builder.send());
    let (sent, body) = crate::raw::capture(crate::raw::with_extra_fields(
        &request.extra_fields,
        bedrock_retry::timeout(sleep, timeout, send),
    ))
    .await;
    let output = match sent {
        Err(_elapsed) => {
            return Err(AttemptError::Timeout {
                after: timeout,
                deadline,
            });
        }
        Ok(Err(e)) => return Err(AttemptError::from_sdk(&e, timeout)),
        Ok(Ok(output)) => output,
    };
    let mut response =
        ConverseResponse::try_from(output).map_err(|e| AttemptError::Unreadable {
            message: e.to_string(),
        })?;
    crate::raw::restore(body, &mut response);
    Ok(response)
}

/// One warning per kind of content block the library does not model, kept as raw JSON.
pub(crate) fn unmodelled_warnings(response: &ConverseResponse) -> Vec<String> {
    let mut warnings = Vec::new();
    push_unique(
        &mut warnings,
        response.unmodelled_blocks().map(|raw| {
            format!(
                "the answer holds a {} block, which this library does not model; it is kept as raw JSON",
                raw.kind()
            )
        }),
    );
    warnings
}

pub(crate) fn push_unique(warnings: &mut Vec<String>, new: impl IntoIterator<Item = String>) {
    for warning in new {
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }
}

/// Merges a model's configured fields into a request's `additionalModelRequestFields`; keys the
/// request sets itself win.
fn merge_fields(target: &mut Option<serde_json::Value>, fields: &serde_json::Value) {
    let serde_json::Value::Object(extra) = fields else {
        return;
    };
    match target {
        Some(serde_json::Value::Object(own)) => {
            for (k, v) in extra {
                own.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Some(_) => {}
        None => *target = Some(fields.clone()),
    }
}

/// The features the plan disabled for this attempt's model.
fn features_of(attempt: &Attempt) -> impl Iterator<Item = Feature> + '_ {
    attempt
        .disabled_features
        .iter()
        .filter_map(|name| name.parse::<Feature>().ok())
}

/// One warning per feature that feature fallback removed during the call, naming the model that
/// rejected it (the feature was removed for that model only).
pub(crate) fn dropped_features(attempts: &[AttemptRecord]) -> Vec<String> {
    let mut warnings = Vec::new();
    push_unique(
        &mut warnings,
        attempts.iter().flat_map(|record| {
            record.disabled_features.iter().map(move |feature| {
                if *feature == crate::classify::ON_DEMAND {
                    format!(
                        "{} is invoked only through an inference profile: sent through its profile",
                        record.target.model
                    )
                } else {
                    format!(
                        "{feature} removed from the request for {}: it rejected them",
                        record.target.model
                    )
                }
            })
        }),
    );
    warnings
}
