//! [`ParallelLlmManager`]: many requests at once through one [`LlmManager`].
//!
//! The engine is `bedrock-parallel`, which knows nothing of Bedrock: it asks a
//! [`ConverseService`] to answer one request with a [`Placement`] (the regions assigned to it).
//! `LlmManager` is that service: each request is tried in its assigned regions first, then, if
//! the placement allows, in the manager's other regions. Unlike a pool that only counts
//! assignments, the assignment decides where the request goes.

use std::sync::Arc;

use bedrock_messages::ConverseRequest;
use bedrock_parallel::{
    BatchRequest, ConverseService, ErrorStats, OutcomeStream, ParallelConfig, ParallelExecutor,
    ParallelResponse, Placement, ProgressCallback, RegionHealth, ResponseStats, Usage,
};
use bedrock_retry::TargetHealth;
use futures::Stream;
use futures::future::BoxFuture;

use crate::budget::{Budget, BudgetGate};
use crate::call::CallOptions;
use crate::error::Error;
use crate::manager::LlmManager;
use crate::response::Response;
use crate::structured::{StructuredAnswer, StructuredError, StructuredRequest, StructuredService};

impl ConverseService for LlmManager {
    type Request = ConverseRequest;
    type Response = Response;
    type Error = Error;

    fn call(
        &self,
        request: ConverseRequest,
        placement: Placement,
    ) -> BoxFuture<'static, Result<Response, Error>> {
        let manager = self.clone();
        Box::pin(async move {
            // The call ends by the batch's deadline itself, so a timed-out request keeps its
            // attempts; the engine's timer is only a backstop.
            let options = CallOptions::for_placement(placement);
            manager.converse_with(&request, &options).await
        })
    }
}

impl ResponseStats for Response {
    fn region(&self) -> Option<&str> {
        Some(&self.region)
    }

    fn usage(&self) -> Option<Usage> {
        let u = self.usage();
        Some(Usage::new(
            u64::from(u.input_tokens),
            u64::from(u.output_tokens),
            u64::from(u.cache_read_input_tokens.unwrap_or(0)),
            u64::from(u.cache_write_input_tokens.unwrap_or(0)),
        ))
    }

    fn attempts(&self) -> Option<u32> {
        u32::try_from(self.attempts.len()).ok()
    }
}

impl ErrorStats for Error {
    fn region(&self) -> Option<&str> {
        self.attempts().last().map(|a| a.target.region.as_str())
    }

    fn attempts(&self) -> Option<u32> {
        u32::try_from(Error::attempts(self).len()).ok()
    }
}

/// A region is healthy while at least one configured model is not cooling down there.
#[derive(Debug)]
struct ManagerHealth(LlmManager);

impl RegionHealth for ManagerHealth {
    fn is_healthy(&self, region: &str) -> bool {
        self.0.models().iter().any(|m| {
            !matches!(
                self.0.health().state(&m.id, region),
                TargetHealth::Cooling { .. }
            )
        })
    }
}

/// Runs batches of Converse requests through one [`LlmManager`], spread over its regions.
///
/// ```no_run
/// # async fn demo() -> Result<(), llmmanager::Error> {
/// use llmmanager::{ConverseRequest, LlmManager, ParallelLlmManager};
/// use llmmanager::parallel::{BatchRequest, ParallelConfig};
///
/// let manager = LlmManager::builder()
///     .model("Claude 3 Haiku")
///     .regions(["us-east-1", "us-west-2"])
///     .build()
///     .await?;
/// let parallel = ParallelLlmManager::new(manager, ParallelConfig::default().with_max_concurrency(64))?;
/// let requests = (0..100)
///     .map(|i| Ok(BatchRequest::new(format!("q{i}"), ConverseRequest::builder().user_text(format!("Question {i}")).build()?)))
///     .collect::<Result<Vec<_>, llmmanager::Error>>()?;
/// let batch = parallel.converse_parallel(requests).await?;
/// println!("{:.1}% succeeded", batch.success_rate() * 100.0);
/// # Ok(()) }
/// # let _ = demo;
/// ```
#[derive(Clone)]
pub struct ParallelLlmManager {
    manager: Arc<LlmManager>,
    config: ParallelConfig,
    progress: Option<ProgressCallback>,
    reruns: u32,
    budget: Option<Budget>,
}

impl std::fmt::Debug for ParallelLlmManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelLlmManager")
            .field("manager", &self.manager)
            .field("config", &self.config)
            .field("progress", &self.progress.as_ref().map(|_| "<callback>"))
            .field("reruns", &self.reruns)
            .field("budget", &self.budget)
            .finish()
    }
}

impl ParallelLlmManager {
    /// Wraps `manager`. When `config.regions` is empty, the manager's regions are used.
    ///
    /// # Errors
    /// [`Error::Parallel`] for an invalid configuration (for example more regions per request
    /// than regions).
    pub fn new(manager: LlmManager, mut config: ParallelConfig) -> Result<Self, Error> {
        if config.regions.is_empty() {
            config.regions = manager.regions().to_vec();
        }
        config.validate()?;
        Ok(Self {
            manager: Arc::new(manager),
            config,
            progress: None,
            reruns: 0,
            budget: None,
        })
    }

    /// Keeps this manager's batches within `budget` (see [`Budget`]): no request starts once
    /// the actual cost of the finished requests plus the estimates of those in flight would
    /// pass it; the others end as
    /// [`RequestError::NotAdmitted`](crate::parallel::RequestError::NotAdmitted), unsent, and a
    /// later batch with a larger budget can run them. Applies to every form (vector, stream,
    /// typed answers, reruns).
    #[must_use]
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The budget, if one is set.
    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    fn gate(&self) -> Option<Arc<BudgetGate>> {
        self.budget.as_ref().map(|budget| {
            Arc::new(BudgetGate {
                budget: budget.clone(),
                manager: (*self.manager).clone(),
            })
        })
    }

    /// Runs a failed request again automatically, up to `rounds` more times, in
    /// [`ParallelLlmManager::converse_parallel`] and
    /// [`ParallelLlmManager::converse_parallel_with`] (the Python library's automatic retry of
    /// failed requests). Only failures another try may cure run again (throttling, transient
    /// failures, unavailable targets, the batch's timeout); each starts away from the regions
    /// that failed it; see [`ParallelLlmManager::retry_failed`]. Default 0.
    #[must_use]
    pub fn with_reruns(mut self, rounds: u32) -> Self {
        self.reruns = rounds;
        self
    }

    /// Runs again the requests of `previous` that failed for a reason another try may cure
    /// (throttling, a transient failure, an unavailable target, the batch's timeout, a stop
    /// before they started), taking each from `requests` by id, and returns `previous` with
    /// their new outcomes in place.
    ///
    /// Each starts in its assigned regions other than those its attempts failed in, then the
    /// manager's other regions, and the failed regions last. Its earlier attempts stay in front
    /// of the new ones, so every response or error carries the request's whole history.
    /// Requests that failed for a reason that would fail again (a bad request, blocked content,
    /// credentials) keep their outcome, as do those `requests` does not hold.
    ///
    /// # Errors
    /// [`Error::Parallel`] for an invalid configuration; once the pass starts, each request ends
    /// as a response or an error inside the result.
    pub async fn retry_failed(
        &self,
        previous: ParallelResponse<Response, Error>,
        requests: &[BatchRequest<ConverseRequest>],
    ) -> Result<ParallelResponse<Response, Error>, Error> {
        let (batch, history) = crate::rerun::plan(&previous, requests);
        if batch.is_empty() {
            return Ok(previous);
        }
        let service = Arc::new(crate::rerun::Rerun((*self.manager).clone()));
        let mut executor = ParallelExecutor::new(service, self.config.clone())?
            .with_health(Arc::new(ManagerHealth((*self.manager).clone())));
        if let Some(progress) = &self.progress {
            executor = executor.with_progress(Arc::clone(progress));
        }
        if let Some(gate) = self.gate() {
            executor = executor.with_admission(gate);
        }
        let mut rerun = executor.run(batch).await?;
        crate::rerun::prepend_history(&mut rerun, history);
        Ok(previous.merge_rerun(rerun))
    }

    /// Runs `requests` with `config`, then the automatic reruns.
    async fn run_with_reruns(
        &self,
        config: ParallelConfig,
        requests: Vec<BatchRequest<ConverseRequest>>,
    ) -> Result<ParallelResponse<Response, Error>, Error> {
        if self.reruns == 0 {
            return Ok(self.executor_with(config)?.run(requests).await?);
        }
        let mut response = self.executor_with(config)?.run(requests.clone()).await?;
        for _ in 0..self.reruns {
            if response.all_succeeded() {
                break;
            }
            response = self.retry_failed(response, &requests).await?;
        }
        Ok(response)
    }

    /// Calls `progress` as each request finishes.
    #[must_use]
    pub fn with_progress(mut self, progress: ProgressCallback) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The underlying manager.
    pub fn manager(&self) -> &LlmManager {
        &self.manager
    }

    /// The parallel configuration.
    pub fn config(&self) -> &ParallelConfig {
        &self.config
    }

    fn executor(&self) -> Result<ParallelExecutor<LlmManager>, Error> {
        self.executor_with(self.config.clone())
    }

    fn executor_with(&self, config: ParallelConfig) -> Result<ParallelExecutor<LlmManager>, Error> {
        let mut executor = ParallelExecutor::new(Arc::clone(&self.manager), config)?
            .with_health(Arc::new(ManagerHealth((*self.manager).clone())));
        if let Some(progress) = &self.progress {
            executor = executor.with_progress(Arc::clone(progress));
        }
        if let Some(gate) = self.gate() {
            executor = executor.with_admission(gate);
        }
        Ok(executor)
    }

    /// Batch requests whose ids are derived from their content, for callers without ids of their
    /// own (the original's automatic request ids): `req-` and the first 16 hex digits of the
    /// SHA-256 of the request's JSON, so the same request always gets the same id (which is what
    /// makes a later run resume it). A request repeated in `requests` gets `-2`, `-3`, ... on its
    /// later copies.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] if a request cannot be serialised.
    pub fn keyed_requests(
        requests: impl IntoIterator<Item = ConverseRequest>,
    ) -> Result<Vec<BatchRequest<ConverseRequest>>, Error> {
        use sha2::{Digest, Sha256};
        use std::collections::HashMap;
        use std::fmt::Write as _;
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut out = Vec::new();
        for request in requests {
            let json = request.to_json()?;
            let digest = Sha256::digest(json.to_string().as_bytes());
            let mut id = String::from("req-");
            for byte in digest.iter().take(8) {
                let _ = write!(id, "{byte:02x}");
            }
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                let _ = write!(id, "-{n}");
            }
            out.push(BatchRequest::new(id, request));
        }
        Ok(out)
    }

    /// [`ParallelLlmManager::converse_parallel`] with this call's number of regions per request
    /// (the original's per-call `target_regions_per_request`) instead of the configuration's.
    ///
    /// # Errors
    /// [`Error::Parallel`] for an invalid value (more regions than configured) or duplicate ids.
    pub async fn converse_parallel_with(
        &self,
        requests: Vec<BatchRequest<ConverseRequest>>,
        target_regions_per_request: Option<usize>,
    ) -> Result<ParallelResponse<Response, Error>, Error> {
        let config = self
            .config
            .clone()
            .with_target_regions_per_request(target_regions_per_request);
        config.validate()?;
        self.run_with_reruns(config, requests).await
    }

    /// Runs every request and returns every outcome, by id and in input order, with statistics.
    ///
    /// # Errors
    /// [`Error::Parallel`] before anything runs, for duplicate ids. Once the batch starts, each
    /// request ends as a response or an error inside the result; none is lost.
    pub async fn converse_parallel(
        &self,
        requests: Vec<BatchRequest<ConverseRequest>>,
    ) -> Result<ParallelResponse<Response, Error>, Error> {
        self.run_with_reruns(self.config.clone(), requests).await
    }

    /// Runs a batch whose requests may each ask for a typed answer (a [`StructuredRequest`] with
    /// a schema), every outcome by id and in input order: the validated JSON value, or an error
    /// listing every rejected answer.
    ///
    /// # Errors
    /// [`Error::Parallel`] before anything runs, for duplicate ids.
    pub async fn converse_structured_parallel(
        &self,
        requests: Vec<BatchRequest<StructuredRequest>>,
    ) -> Result<ParallelResponse<StructuredAnswer, StructuredError>, Error> {
        Ok(self.structured_executor()?.run(requests).await?)
    }

    /// [`ParallelLlmManager::converse_structured_parallel`] pulling requests lazily, yielding
    /// outcomes as they finish.
    ///
    /// # Errors
    /// [`Error::Parallel`] for an invalid configuration.
    pub fn converse_structured_parallel_stream<St>(
        &self,
        requests: St,
    ) -> Result<OutcomeStream<StructuredService>, Error>
    where
        St: Stream<Item = BatchRequest<StructuredRequest>> + Send + 'static,
    {
        Ok(self.structured_executor()?.stream(requests))
    }

    fn structured_executor(&self) -> Result<ParallelExecutor<StructuredService>, Error> {
        let service = Arc::new(StructuredService((*self.manager).clone()));
        let mut executor = ParallelExecutor::new(service, self.config.clone())?
            .with_health(Arc::new(ManagerHealth((*self.manager).clone())));
        if let Some(progress) = &self.progress {
            executor = executor.with_progress(Arc::clone(progress));
        }
        if let Some(gate) = self.gate() {
            executor = executor.with_admission(gate);
        }
        Ok(executor)
    }

    /// Runs requests pulled lazily from `requests`, yielding outcomes as they finish, so a batch
    /// of any size runs in bounded memory.
    ///
    /// # Errors
    /// [`Error::Parallel`] for an invalid configuration.
    pub fn converse_parallel_stream<St>(
        &self,
        requests: St,
    ) -> Result<OutcomeStream<LlmManager>, Error>
    where
        St: Stream<Item = BatchRequest<ConverseRequest>> + Send + 'static,
    {
        Ok(self.executor()?.stream(requests))
    }
}
