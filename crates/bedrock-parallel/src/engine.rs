//! The scheduler: pulls requests lazily, assigns regions, bounds concurrency, and turns every
//! way a request can end into exactly one [`RequestOutcome`].
//!
//! One driver serves both entry points. It is a [`Stream`] that pulls the next request from
//! its input only while fewer than `max_concurrency` requests are in flight, so memory is
//! bounded by the concurrency, not by the batch. Each request runs on its own Tokio task:
//! a panic in the service is caught twice (around `call` and its future with `catch_unwind`,
//! and by the task's `JoinHandle` as a last resort), a timeout drops the service future, and a
//! stop (fail-fast) turns every request that has not reached the service into
//! [`RequestError::Cancelled`]. An [`Admission`] hook, when given, is asked before each
//! request starts: a refused request waits while others are in flight (their end may leave
//! room) and ends as [`RequestError::NotAdmitted`] once none is. Dropping the stream aborts the
//! tasks still in flight.
//! The vector form is the stream collected back into input order.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bedrock_retry::{Clock, Sleep, TokioClock, TokioSleep};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::assign::RegionAssigner;
use crate::{
    Admission, BatchRequest, ConverseService, Error, ErrorStats, FailurePolicy, ParallelConfig,
    ParallelResponse, Placement, RegionHealth, RequestError, RequestId, RequestOutcome,
    Reservation, ResponseStats, StreamDuplicateIds,
};

/// Progress of a batch, reported once per finished request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Requests finished so far, this one included.
    pub completed: usize,
    /// Requests in the batch, when known (the vector form).
    pub total: Option<usize>,
    /// Successful requests so far.
    pub succeeded: usize,
    /// Requests that reached the service and failed so far.
    pub failed: usize,
    /// Requests that never ran so far (stopped batch, duplicate id).
    pub not_run: usize,
    /// Id of the request that just finished.
    pub id: RequestId,
    /// Input index of the request that just finished.
    pub index: usize,
    /// Whether it succeeded.
    pub success: bool,
}

/// Callback receiving [`Progress`] as requests finish.
///
/// It runs on the task that drives the batch, so it should be quick (and a panic in it reaches
/// the caller of `run` or the poller of the stream); to hand progress to another task, send it
/// into a channel:
///
/// ```
/// use std::sync::Arc;
/// use bedrock_parallel::{Progress, ProgressCallback};
///
/// let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
/// let progress: ProgressCallback = Arc::new(move |p: &Progress| {
///     let _ = tx.send(p.clone());
/// });
/// # let _ = progress;
/// ```
pub type ProgressCallback = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Runs batches of requests against one service with one configuration.
///
/// ```
/// use std::sync::Arc;
/// use bedrock_parallel::{BatchRequest, ConverseService, ParallelConfig, ParallelExecutor, Placement, ResponseStats};
/// use futures::future::{BoxFuture, FutureExt};
///
/// #[derive(Debug)]
/// struct Upper;
///
/// struct Text(String);
/// impl ResponseStats for Text {}
///
/// impl ConverseService for Upper {
///     type Request = String;
///     type Response = Text;
///     type Error = std::io::Error;
///     fn call(&self, request: String, _placement: Placement) -> BoxFuture<'static, Result<Text, std::io::Error>> {
///         async move { Ok(Text(request.to_uppercase())) }.boxed()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bedrock_parallel::Error> {
/// let config = ParallelConfig::default().with_regions(["us-east-1", "us-west-2"]);
/// let executor = ParallelExecutor::new(Arc::new(Upper), config)?;
/// let batch = vec![BatchRequest::new("a", "hello".to_owned()), BatchRequest::new("b", "world".to_owned())];
/// let response = executor.run(batch).await?;
/// assert_eq!(response.response("b").map(|t| t.0.as_str()), Some("WORLD"));
/// assert_eq!(response.success_rate(), 1.0);
/// # Ok(())
/// # }
/// ```
pub struct ParallelExecutor<S> {
    service: Arc<S>,
    config: ParallelConfig,
    health: Option<Arc<dyn RegionHealth>>,
    progress: Option<ProgressCallback>,
    admission: Option<Arc<dyn Admission<S>>>,
    time: Time,
}

/// The clock and sleeper behind every duration and timeout of a batch.
#[derive(Debug, Clone)]
struct Time {
    clock: Arc<dyn Clock>,
    sleep: Arc<dyn Sleep>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ParallelExecutor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelExecutor")
            .field("service", &self.service)
            .field("config", &self.config)
            .field("health", &self.health)
            .field("progress", &self.progress.as_ref().map(|_| "<callback>"))
            .field("admission", &self.admission.as_ref().map(|_| "<hook>"))
            .field("time", &self.time)
            .finish()
    }
}

impl<S: ConverseService> ParallelExecutor<S> {
    /// An executor over `service`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `config` does not validate.
    pub fn new(service: Arc<S>, config: ParallelConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            service,
            config,
            health: None,
            progress: None,
            admission: None,
            time: Time {
                clock: Arc::new(TokioClock::new()),
                sleep: Arc::new(TokioSleep::new()),
            },
        })
    }

    /// Times requests on `clock` and bounds them with timers from `sleep` ([`TokioClock`] and
    /// [`TokioSleep`] by default, which follow tokio's paused time in tests). Give the service
    /// the same timeline.
    #[must_use]
    pub fn with_time(mut self, clock: Arc<dyn Clock>, sleep: Arc<dyn Sleep>) -> Self {
        self.time = Time { clock, sleep };
        self
    }

    /// Consults `health` when assigning regions: unhealthy regions are assigned last.
    #[must_use]
    pub fn with_health(mut self, health: Arc<dyn RegionHealth>) -> Self {
        self.health = Some(health);
        self
    }

    /// Reports progress to `progress` as requests finish.
    #[must_use]
    pub fn with_progress(mut self, progress: ProgressCallback) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Asks `admission` before each request starts (see [`Admission`]): a refused request
    /// waits while others are in flight, and ends as [`RequestError::NotAdmitted`] when it is
    /// still refused with none in flight.
    #[must_use]
    pub fn with_admission(mut self, admission: Arc<dyn Admission<S>>) -> Self {
        self.admission = Some(admission);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ParallelConfig {
        &self.config
    }

    /// The service.
    pub fn service(&self) -> &Arc<S> {
        &self.service
    }

    /// Runs a batch and returns every outcome in input order.
    ///
    /// Must be awaited inside a Tokio runtime. Dropping the future aborts the requests in
    /// flight.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateRequestId`] when two requests share an id; nothing runs then.
    /// Once the batch starts, failures are reported per request, never here.
    pub async fn run(
        &self,
        requests: Vec<BatchRequest<S::Request>>,
    ) -> Result<ParallelResponse<S::Response, S::Error>, Error>
    where
        S::Response: ResponseStats,
        S::Error: ErrorStats,
    {
        check_unique_ids(&requests)?;
        let start = self.time.clock.now();
        let total = requests.len();
        let mut slots: Vec<Option<RequestOutcome<S::Response, S::Error>>> =
            std::iter::repeat_with(|| None).take(total).collect();
        let mut stream = self.start(
            futures::stream::iter(requests),
            Some(total),
            StreamDuplicateIds::Allow,
        );
        while let Some(outcome) = stream.next().await {
            if let Some(slot) = slots.get_mut(outcome.index) {
                *slot = Some(outcome);
            }
        }
        let outcomes: Vec<_> = slots.into_iter().flatten().collect();
        debug_assert_eq!(outcomes.len(), total, "every request ends exactly once");
        let stop_reason = stream.stop_reason().map(str::to_owned);
        let mut response = ParallelResponse::new(
            outcomes,
            self.time.clock.now().saturating_sub(start),
            stop_reason,
        );
        response.stats_mut().peak_concurrency = stream.peak_in_flight();
        Ok(response)
    }

    /// Runs requests pulled lazily from `requests` and yields outcomes as they finish.
    ///
    /// At most `max_concurrency` requests are held at once, so an endless or huge input runs
    /// in bounded memory (plus one id per request when
    /// [`ParallelConfig::stream_duplicate_ids`] is `Reject`). An iterator becomes a stream with
    /// [`futures::stream::iter`]. The stream must be polled inside a Tokio runtime; dropping it
    /// aborts the requests in flight.
    pub fn stream<St>(&self, requests: St) -> OutcomeStream<S>
    where
        St: Stream<Item = BatchRequest<S::Request>> + Send + 'static,
    {
        self.start(requests, None, self.config.stream_duplicate_ids)
    }

    fn start<St>(
        &self,
        requests: St,
        total: Option<usize>,
        duplicates: StreamDuplicateIds,
    ) -> OutcomeStream<S>
    where
        St: Stream<Item = BatchRequest<S::Request>> + Send + 'static,
    {
        let config = &self.config;
        let assigner = RegionAssigner::new(
            config.regions.clone(),
            config.effective_target_regions(),
            config.distribution,
            self.health.clone(),
            config.per_region_concurrency,
        );
        let region_limits = match config.per_region_concurrency {
            Some(limit) => config
                .regions
                .iter()
                .map(|_| Arc::new(Semaphore::new(limit)))
                .collect(),
            None => Vec::new(),
        };
        let (stop_tx, _) = watch::channel(None);
        OutcomeStream {
            service: Arc::clone(&self.service),
            input: Some(Box::pin(requests)),
            in_flight: FuturesUnordered::new(),
            assigner,
            region_limits,
            seen: match duplicates {
                StreamDuplicateIds::Reject => Some(HashMap::new()),
                StreamDuplicateIds::Allow => None,
            },
            max_concurrency: config.max_concurrency.max(1),
            request_timeout: config.request_timeout,
            allow_other_regions: config.allow_other_regions,
            failure: config.failure,
            stop_tx,
            stop_reason: None,
            next_index: 0,
            peak_in_flight: 0,
            counts: Counts::default(),
            total,
            progress: self.progress.clone(),
            admission: self.admission.clone(),
            held: None,
            time: self.time.clone(),
        }
    }
}

/// Runs a batch once: validates `config`, then [`ParallelExecutor::run`].
///
/// # Errors
///
/// [`Error::InvalidConfig`] or [`Error::DuplicateRequestId`], before anything runs.
pub async fn converse_parallel<S>(
    service: &Arc<S>,
    requests: Vec<BatchRequest<S::Request>>,
    config: &ParallelConfig,
    progress: Option<ProgressCallback>,
) -> Result<ParallelResponse<S::Response, S::Error>, Error>
where
    S: ConverseService,
    S::Response: ResponseStats,
    S::Error: ErrorStats,
{
    let mut executor = ParallelExecutor::new(Arc::clone(service), config.clone())?;
    executor.progress = progress;
    executor.run(requests).await
}

/// Streams a batch once: validates `config`, then [`ParallelExecutor::stream`].
///
/// # Errors
///
/// [`Error::InvalidConfig`], before anything runs.
pub fn converse_parallel_stream<S, St>(
    service: &Arc<S>,
    requests: St,
    config: &ParallelConfig,
) -> Result<OutcomeStream<S>, Error>
where
    S: ConverseService,
    St: Stream<Item = BatchRequest<S::Request>> + Send + 'static,
{
    Ok(ParallelExecutor::new(Arc::clone(service), config.clone())?.stream(requests))
}

fn check_unique_ids<Req>(requests: &[BatchRequest<Req>]) -> Result<(), Error> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        if let Some(&first_index) = seen.get(request.id.as_str()) {
            return Err(Error::DuplicateRequestId {
                id: request.id.clone(),
                first_index,
                duplicate_index: index,
            });
        }
        seen.insert(request.id.as_str(), index);
    }
    Ok(())
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    completed: usize,
    succeeded: usize,
    failed: usize,
    not_run: usize,
}

type StopSignal = Option<Arc<str>>;
type InputStream<Req> = Pin<Box<dyn Stream<Item = BatchRequest<Req>> + Send>>;
type TaskOutput<S> = (
    Result<<S as ConverseService>::Response, RequestError<<S as ConverseService>::Error>>,
    Duration,
    Option<OwnedSemaphorePermit>,
);

struct Finished<S: ConverseService> {
    outcome: RequestOutcome<S::Response, S::Error>,
    primary: Option<usize>,
    /// The region slot, released only after the failure policy has seen the outcome, so a
    /// request waiting for the slot observes a stop caused by this one.
    permit: Option<OwnedSemaphorePermit>,
    /// What the admission hook reserved for the request.
    reservation: Option<Reservation>,
}

/// Outcomes of a batch, yielded as requests finish (in completion order).
///
/// Every request pulled from the input yields exactly one outcome; the stream ends when the
/// input is exhausted and every request has finished.
#[must_use = "streams do nothing unless polled"]
pub struct OutcomeStream<S: ConverseService> {
    service: Arc<S>,
    input: Option<InputStream<S::Request>>,
    in_flight: FuturesUnordered<BoxFuture<'static, Finished<S>>>,
    assigner: RegionAssigner,
    region_limits: Vec<Arc<Semaphore>>,
    seen: Option<HashMap<RequestId, usize>>,
    max_concurrency: usize,
    request_timeout: Option<Duration>,
    allow_other_regions: bool,
    failure: FailurePolicy,
    stop_tx: watch::Sender<StopSignal>,
    stop_reason: Option<Arc<str>>,
    next_index: usize,
    /// The most requests ever in flight at once.
    peak_in_flight: usize,
    counts: Counts,
    total: Option<usize>,
    progress: Option<ProgressCallback>,
    admission: Option<Arc<dyn Admission<S>>>,
    /// A request the admission hook refused while others were in flight, asked again as they
    /// end.
    /// (Boxed, so the stream stays `Unpin` whatever the request type.)
    held: Option<Box<(BatchRequest<S::Request>, usize)>>,
    time: Time,
}

impl<S: ConverseService> std::fmt::Debug for OutcomeStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeStream")
            .field("in_flight", &self.in_flight.len())
            .field("next_index", &self.next_index)
            .field("input_done", &self.input.is_none())
            .field("stop_reason", &self.stop_reason)
            .field("held", &self.held.as_ref().map(|h| &h.0.id))
            .finish_non_exhaustive()
    }
}

impl<S: ConverseService> OutcomeStream<S> {
    /// Why the batch stopped early, once it has.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.as_deref()
    }

    /// Requests currently running or waiting for a region slot.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The most requests in flight at once so far: the concurrency the batch reached.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight
    }

    /// Admits one request: dispatches it, holds it (see [`OutcomeStream::gate`]), or returns
    /// the outcome of not running it.
    fn admit(
        &mut self,
        request: BatchRequest<S::Request>,
        index: usize,
    ) -> Option<RequestOutcome<S::Response, S::Error>> {
        if let Some(seen) = &mut self.seen {
            let id = &request.id;
            if let Some(&first_index) = seen.get(id) {
                return Some(not_run(
                    id.clone(),
                    index,
                    RequestError::DuplicateId {
                        id: id.clone(),
                        first_index,
                    },
                ));
            }
            seen.insert(id.clone(), index);
        }
        self.gate(request, index)
    }

    /// Dispatches a request the batch's stop and admission hook let start; ends it when the
    /// batch stopped, or when the hook refuses it with nothing in flight; holds it in
    /// `self.held` when the hook refuses it while other requests are in flight.
    fn gate(
        &mut self,
        request: BatchRequest<S::Request>,
        index: usize,
    ) -> Option<RequestOutcome<S::Response, S::Error>> {
        if let Some(reason) = &self.stop_reason {
            return Some(not_run(
                request.id,
                index,
                RequestError::Cancelled {
                    reason: reason.to_string(),
                },
            ));
        }
        let reservation = match &self.admission {
            None => None,
            Some(admission) => match admission.admit(&request.id, &request.request) {
                Ok(reservation) => Some(reservation),
                Err(refusal) if self.in_flight.is_empty() => {
                    return Some(not_run(
                        request.id,
                        index,
                        RequestError::NotAdmitted {
                            reason: refusal.reason().to_owned(),
                        },
                    ));
                }
                Err(_) => {
                    self.held = Some(Box::new((request, index)));
                    return None;
                }
            },
        };
        self.dispatch(request, index, reservation);
        None
    }

    /// Starts a request on its own task.
    fn dispatch(
        &mut self,
        request: BatchRequest<S::Request>,
        index: usize,
        reservation: Option<Reservation>,
    ) {
        let BatchRequest { id, request } = request;
        let assigned = self.assigner.assign();
        let primary = assigned.first().copied();
        let assigned_regions: Vec<String> = assigned
            .iter()
            .filter_map(|&i| self.assigner.region_name(i).map(str::to_owned))
            .collect();
        let placement = Placement::new(assigned_regions.clone(), self.allow_other_regions)
            .with_deadline(self.request_timeout);
        let limit = primary.and_then(|i| self.region_limits.get(i).cloned());
        let task = tokio::spawn(run_one(
            Arc::clone(&self.service),
            request,
            placement,
            limit,
            self.stop_tx.subscribe(),
            self.request_timeout,
            self.time.clone(),
        ));
        let handle = AbortOnDrop(task);
        let clock = Arc::clone(&self.time.clock);
        let dispatched = clock.now();
        self.in_flight.push(
            async move {
                let (result, duration, permit) = match handle.await {
                    Ok(output) => output,
                    Err(join) if join.is_panic() => (
                        Err(RequestError::Panicked {
                            message: panic_message(join.into_panic().as_ref()),
                        }),
                        clock.now().saturating_sub(dispatched),
                        None,
                    ),
                    Err(_) => (
                        Err(RequestError::Cancelled {
                            reason: "the request's task was aborted".to_owned(),
                        }),
                        Duration::ZERO,
                        None,
                    ),
                };
                Finished {
                    outcome: RequestOutcome {
                        id,
                        index,
                        result,
                        duration,
                        assigned_regions,
                    },
                    primary,
                    permit,
                    reservation,
                }
            }
            .boxed(),
        );
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight.len());
    }

    fn apply_failure_policy(&mut self, outcome: &RequestOutcome<S::Response, S::Error>) {
        if self.stop_reason.is_some() {
            return;
        }
        let started = self.counts.succeeded + self.counts.failed;
        let failed = self.counts.failed;
        let reason = match self.failure {
            FailurePolicy::Continue => None,
            FailurePolicy::StopOnFirst => {
                let is_failure = outcome.error().is_some_and(RequestError::is_failure);
                is_failure.then(|| {
                    format!(
                        "request {} failed and the batch stops on the first failure",
                        outcome.id
                    )
                })
            }
            FailurePolicy::StopAboveRate { rate, min_requests } => {
                let observed = failed as f64 / started.max(1) as f64;
                (started >= min_requests && observed > rate).then(|| {
                    format!("failure rate {observed:.3} after {started} requests is above {rate}")
                })
            }
        };
        if let Some(reason) = reason {
            tracing::debug!(%reason, "parallel batch stopping");
            let reason: Arc<str> = reason.into();
            self.stop_reason = Some(Arc::clone(&reason));
            self.stop_tx.send_replace(Some(reason));
        }
    }

    fn emit(
        &mut self,
        outcome: RequestOutcome<S::Response, S::Error>,
    ) -> RequestOutcome<S::Response, S::Error> {
        self.counts.completed += 1;
        match &outcome.result {
            Ok(_) => self.counts.succeeded += 1,
            Err(e) if e.is_failure() => self.counts.failed += 1,
            Err(_) => self.counts.not_run += 1,
        }
        self.apply_failure_policy(&outcome);
        if let Some(progress) = &self.progress {
            progress(&Progress {
                completed: self.counts.completed,
                total: self.total,
                succeeded: self.counts.succeeded,
                failed: self.counts.failed,
                not_run: self.counts.not_run,
                id: outcome.id.clone(),
                index: outcome.index,
                success: outcome.is_success(),
            });
        }
        outcome
    }
}

impl<S: ConverseService> Stream for OutcomeStream<S> {
    type Item = RequestOutcome<S::Response, S::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Pull input while there is room; once stopped, drain it (requests end as cancelled
        // without taking a slot).
        while this.in_flight.len() < this.max_concurrency || this.stop_reason.is_some() {
            // A held request goes first, in input order; while it is still refused, nothing
            // more is pulled.
            if let Some(held) = this.held.take() {
                let (request, index) = *held;
                if let Some(outcome) = this.gate(request, index) {
                    return Poll::Ready(Some(this.emit(outcome)));
                }
                if this.held.is_some() {
                    break;
                }
                continue;
            }
            let Some(input) = this.input.as_mut() else {
                break;
            };
            match input.as_mut().poll_next(cx) {
                Poll::Ready(Some(request)) => {
                    let index = this.next_index;
                    this.next_index += 1;
                    if let Some(outcome) = this.admit(request, index) {
                        return Poll::Ready(Some(this.emit(outcome)));
                    }
                    if this.held.is_some() {
                        break;
                    }
                }
                Poll::Ready(None) => this.input = None,
                Poll::Pending => break,
            }
        }
        match this.in_flight.poll_next_unpin(cx) {
            Poll::Ready(Some(Finished {
                outcome,
                primary,
                permit,
                reservation,
            })) => {
                this.assigner.release(primary);
                if let (Some(admission), Some(reservation)) = (&this.admission, reservation) {
                    admission.settle(reservation, &outcome.result);
                }
                let outcome = this.emit(outcome);
                drop(permit);
                Poll::Ready(Some(outcome))
            }
            Poll::Ready(None) if this.input.is_none() && this.held.is_none() => Poll::Ready(None),
            // Nothing in flight but the input is pending: its waker is registered.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let in_flight = self.in_flight.len() + usize::from(self.held.is_some());
        match &self.input {
            None => (in_flight, Some(in_flight)),
            Some(input) => {
                let (lo, hi) = input.size_hint();
                (
                    in_flight.saturating_add(lo),
                    hi.and_then(|h| h.checked_add(in_flight)),
                )
            }
        }
    }
}

fn not_run<R, E>(id: RequestId, index: usize, error: RequestError<E>) -> RequestOutcome<R, E> {
    RequestOutcome {
        id,
        index,
        result: Err(error),
        duration: Duration::ZERO,
        assigned_regions: Vec::new(),
    }
}

/// Aborts the task when dropped, so dropping the stream cancels requests in flight.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// When the engine's own timer fires for a request allowed `after`: a little later than the
/// deadline the service was given ([`Placement::deadline`]), so a service that honours it ends the
/// request itself, with its own error and what it knows. A tenth of the time, at most one second,
/// saturating for huge values.
fn backstop(after: Duration) -> Duration {
    after.saturating_add((after / 10).min(Duration::from_secs(1)))
}

/// Runs one request on its own task: waits for a region slot (or a stop), then calls the
/// service with a timeout and catches panics.
async fn run_one<S: ConverseService>(
    service: Arc<S>,
    request: S::Request,
    placement: Placement,
    limit: Option<Arc<Semaphore>>,
    mut stop: watch::Receiver<StopSignal>,
    timeout: Option<Duration>,
    time: Time,
) -> TaskOutput<S> {
    let cancelled = |reason: Option<Arc<str>>| {
        let reason = reason.map_or_else(|| "the batch was dropped".to_owned(), |r| r.to_string());
        (
            Err(RequestError::Cancelled { reason }),
            Duration::ZERO,
            None,
        )
    };
    let permit = match limit {
        Some(semaphore) => {
            tokio::select! {
                biased;
                permit = semaphore.acquire_owned() => permit.ok(),
                stopped = stop.wait_for(Option::is_some) => {
                    let reason = stopped.ok().and_then(|r| r.clone());
                    return cancelled(reason);
                }
            }
        }
        None => None,
    };
    let stopped = stop.borrow().clone();
    if stopped.is_some() {
        return cancelled(stopped);
    }
    let start = time.clock.now();
    let elapsed = || time.clock.now().saturating_sub(start);
    let future =
        match std::panic::catch_unwind(AssertUnwindSafe(|| service.call(request, placement))) {
            Ok(future) => AssertUnwindSafe(future).catch_unwind(),
            Err(payload) => {
                return (
                    Err(RequestError::Panicked {
                        message: panic_message(payload.as_ref()),
                    }),
                    elapsed(),
                    permit,
                );
            }
        };
    let caught = match timeout {
        Some(after) => {
            match bedrock_retry::timeout(time.sleep.as_ref(), backstop(after), future).await {
                Ok(caught) => caught,
                Err(_) => {
                    return (Err(RequestError::Timeout { after }), elapsed(), permit);
                }
            }
        }
        None => future.await,
    };
    let result = match caught {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(source)) => Err(RequestError::Service { source }),
        Err(payload) => Err(RequestError::Panicked {
            message: panic_message(payload.as_ref()),
        }),
    };
    (result, elapsed(), permit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_ids_are_found_with_both_indices() {
        let requests = vec![
            BatchRequest::new("a", ()),
            BatchRequest::new("b", ()),
            BatchRequest::new("a", ()),
        ];
        match check_unique_ids(&requests) {
            Err(Error::DuplicateRequestId {
                id,
                first_index,
                duplicate_index,
            }) => {
                assert_eq!((id.as_str(), first_index, duplicate_index), ("a", 0, 2));
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
        assert!(check_unique_ids(&requests[..2]).is_ok());
    }

    #[test]
    fn panic_messages_are_extracted() {
        let s: Box<dyn Any + Send> = Box::new("boom");
        assert_eq!(panic_message(s.as_ref()), "boom");
        let s: Box<dyn Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_message(s.as_ref()), "bang");
        let s: Box<dyn Any + Send> = Box::new(3_u8);
        assert_eq!(panic_message(s.as_ref()), "panic with a non-string payload");
    }
}
