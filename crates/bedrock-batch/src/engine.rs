//! The engine: upload, create, poll, resubmit, download and merge.
//!
//! Every step with a side effect is recorded in the [`RunState`] file before the next one, and
//! job creation carries an idempotency token, so the engine can be stopped at any point and run
//! again over the same requests without creating (or paying for) a job twice. Collected results
//! go to the ledger before they are returned. Waiting uses the SDK config's sleeper (injected,
//! never the wall clock), with exponential backoff between polls.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig,
    ModelInvocationJobStatus, ModelInvocationType, S3InputFormat,
};
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use bedrock_retry::{Backoff, JitterMode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use crate::Error;
use crate::ledger;
use crate::plan::{BatchRequest, JobPlan, Limits, Target, hex, plan};
use crate::state::{JobState, RunState};

/// How often to ask for job status: `initial`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollConfig {
    /// First wait after submitting (at most `max`).
    pub initial: Duration,
    /// Longest wait between two polls.
    pub max: Duration,
}

impl PollConfig {
    /// The waits between polling rounds: `initial`, doubling up to `max`, without jitter (one
    /// engine polls its own jobs, so there is no herd to spread).
    fn backoff(&self) -> Backoff {
        Backoff::new(self.initial, 2.0, self.max, JitterMode::None)
    }
}

impl Default for PollConfig {
    /// 30 seconds, doubling up to 10 minutes: batch jobs take minutes to hours.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(600),
        }
    }
}

/// Where and how to run batch jobs. There is no `Default`: a bucket and a role are the
/// caller's to name.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// S3 bucket for inputs and outputs (in the jobs' region, or reachable by the role).
    pub bucket: String,
    /// Key prefix under which each run writes `<run id>/input/` and `<run id>/output/`.
    pub prefix: String,
    /// ARN of the service role Bedrock assumes to read and write the bucket.
    pub role_arn: String,
    /// The state file that makes a run resumable.
    pub state_path: PathBuf,
    /// Per-job limits (service quotas).
    pub limits: Limits,
    /// Poll interval.
    pub poll: PollConfig,
    /// How many times a `Failed` or `Expired` job is submitted again before its records are
    /// reported as failed.
    pub max_resubmits: u32,
    /// Job timeout in hours (Bedrock's default, 24, when `None`).
    pub timeout_hours: Option<i32>,
    /// Where requests without a pinned model and region may run (see [`plan`]).
    pub targets: Vec<Target>,
    /// The ledger of collected results (default: the state file's path plus `.results.jsonl`).
    pub ledger_path: PathBuf,
    /// How long job creations refused for a quota (or a transient service error) are retried
    /// while none of the run's jobs is running, before their records are reported as
    /// `quota_exceeded`. While some job of the run is running, a slot is bound to free up and
    /// the wait is not counted.
    pub max_quota_wait: Duration,
}

impl BatchConfig {
    /// A config with the default prefix (`llmm-batch`), limits, poll interval, one resubmit,
    /// no targets (every request must then be pinned), the ledger next to the state file and
    /// an hour's wait for a quota.
    pub fn new(
        bucket: impl Into<String>,
        role_arn: impl Into<String>,
        state_path: impl Into<PathBuf>,
    ) -> Self {
        let state_path: PathBuf = state_path.into();
        let mut ledger_path = state_path.clone().into_os_string();
        ledger_path.push(".results.jsonl");
        Self {
            targets: Vec::new(),
            ledger_path: ledger_path.into(),
            max_quota_wait: Duration::from_secs(3600),
            bucket: bucket.into(),
            prefix: "llmm-batch".to_owned(),
            role_arn: role_arn.into(),
            state_path,
            limits: Limits::default(),
            poll: PollConfig::default(),
            max_resubmits: 1,
            timeout_hours: None,
        }
    }
}

/// Why one record has no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordErrorKind {
    /// The model call for this record failed inside the job (`error` in the output line).
    Model,
    /// The job failed, expired or was stopped, and no resubmission is left.
    JobFailed,
    /// The job finished but wrote no line for this record.
    MissingOutput,
    /// Its (model, region) group has fewer records than a job needs.
    TooFewRecords,
    /// Bedrock refused to create its job (not for a quota: a validation or access error).
    JobRejected,
    /// Its output line cannot be read (not JSON, or cut off).
    UnreadableOutput,
    /// Its job could not be created within [`BatchConfig::max_quota_wait`] because of a quota.
    QuotaExceeded,
}

impl RecordErrorKind {
    /// The stable snake_case name used in result lines.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model_error",
            Self::JobFailed => "job_failed",
            Self::MissingOutput => "missing_output",
            Self::TooFewRecords => "too_few_records",
            Self::JobRejected => "job_rejected",
            Self::UnreadableOutput => "unreadable_output",
            Self::QuotaExceeded => "quota_exceeded",
        }
    }

    /// The kind named `name` by [`RecordErrorKind::as_str`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Model,
            Self::JobFailed,
            Self::MissingOutput,
            Self::TooFewRecords,
            Self::JobRejected,
            Self::UnreadableOutput,
            Self::QuotaExceeded,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// A record's typed error.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    /// What went wrong.
    pub kind: RecordErrorKind,
    /// A readable message.
    pub message: String,
    /// Bedrock's `errorCode` for [`RecordErrorKind::Model`].
    pub code: Option<u64>,
}

/// The result of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordResult {
    /// The request id.
    pub id: String,
    /// The model id of its job.
    pub model_id: String,
    /// The region of its job.
    pub region: String,
    /// The job that answered (or last failed), if one was created.
    pub job_arn: Option<String>,
    /// The Converse response body, or why there is none.
    pub outcome: Result<Value, RecordError>,
}

/// Runs request sets as Bedrock batch inference jobs.
#[derive(Debug, Clone)]
pub struct BatchEngine {
    sdk: SdkConfig,
    s3: aws_sdk_s3::Client,
    sleep: SharedAsyncSleep,
    config: BatchConfig,
}

/// An S3 client from `sdk`; with `endpoint_url`, path-style requests to that endpoint (for
/// S3-compatible servers such as moto or MinIO).
#[must_use]
pub fn s3_client(sdk: &SdkConfig, endpoint_url: Option<&str>) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(url) = endpoint_url {
        b = b.endpoint_url(url).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

fn s3_err(operation: &'static str, key: &str, e: impl std::error::Error) -> Error {
    Error::S3 {
        operation,
        key: key.to_owned(),
        message: aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

fn bedrock_err(operation: &'static str, region: &str, e: impl std::error::Error) -> Error {
    Error::Bedrock {
        operation,
        region: region.to_owned(),
        message: aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// The content key of a planned job: a hash of its model, region and requests.
fn job_key(job: &JobPlan) -> String {
    let mut h = Sha256::new();
    h.update(job.model_id.as_bytes());
    h.update([0]);
    h.update(job.region.as_bytes());
    h.update([0]);
    for r in &job.records {
        h.update(r.request_id.as_bytes());
        h.update([0]);
        h.update(r.hash.as_bytes());
        h.update([b'\n']);
    }
    hex(&h.finalize()[..8])
}

/// `s3://bucket/key` into its parts.
fn split_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// The `recordId` of an output line that is not valid JSON, if it can still be found.
fn salvage_record_id(line: &str) -> Option<&str> {
    let start = line.find("\"recordId\"")? + "\"recordId\"".len();
    let rest = line[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    rest.split_once('"').map(|(id, _)| id)
}

/// What one round did with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poll {
    /// The job runs (or was just created).
    Running,
    /// Its creation was refused for a quota or a transient error; try again later.
    Deferred,
    /// Its records have results.
    Done,
}

/// The outcome of a creation attempt.
enum Created {
    Yes,
    Deferred,
    Rejected(String),
}

/// One run's bookkeeping: which job answers which request, and the results so far.
struct Run {
    /// Request id to content hash, for every request of the run.
    hashes: HashMap<String, String>,
    /// Request id to the index (in the state) of the job that answers it.
    owner: HashMap<String, usize>,
    /// Inputs of jobs planned by this run, by state index (until uploaded).
    inputs: HashMap<usize, JobPlan>,
    /// Results by request id.
    results: HashMap<String, RecordResult>,
}

impl Run {
    /// Whether request `id` (of job `i`) is one this run answers through job `i`.
    fn owns(&self, i: usize, id: &str) -> bool {
        self.owner.get(id) == Some(&i)
    }
}

impl BatchEngine {
    /// An engine using `sdk` for Bedrock (one client per job region) and `s3` for the bucket.
    ///
    /// # Errors
    /// [`Error::Config`] when `sdk` has no sleep implementation (the engine waits between polls),
    /// or the bucket or role is empty.
    pub fn new(
        sdk: &SdkConfig,
        s3: aws_sdk_s3::Client,
        config: BatchConfig,
    ) -> Result<Self, Error> {
        if config.bucket.is_empty() || config.role_arn.is_empty() {
            return Err(Error::Config {
                message: "a bucket and a role ARN are required".to_owned(),
            });
        }
        let sleep = sdk.sleep_impl().ok_or_else(|| Error::Config {
            message: "the SDK config has no sleep implementation".to_owned(),
        })?;
        Ok(Self {
            sdk: sdk.clone(),
            s3,
            sleep,
            config,
        })
    }

    /// Replaces the sleeper used between polls (tests record the waits with it).
    #[must_use]
    pub fn with_sleep(mut self, sleep: SharedAsyncSleep) -> Self {
        self.sleep = sleep;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    fn bedrock(&self, region: &str) -> aws_sdk_bedrock::Client {
        let conf = aws_sdk_bedrock::config::Builder::from(&self.sdk)
            .region(aws_sdk_bedrock::config::Region::new(region.to_owned()))
            .build();
        aws_sdk_bedrock::Client::from_conf(conf)
    }

    /// The one place the engine waits between polling rounds.
    async fn wait(&self, delay: Duration) {
        self.sleep.sleep(delay).await;
    }

    fn prefix(&self) -> &str {
        self.config.prefix.trim_end_matches('/')
    }

    /// Runs `requests` to completion and returns one result per request, in input order.
    ///
    /// Requests with a result in the ledger are answered from it. Requests held by a job of an
    /// earlier run (same id and content hash; found in the state file, or without one through
    /// the jobs' index objects in S3) are answered by that job. The rest are planned into new
    /// jobs, uploaded and submitted. Jobs are then polled until each ends; failed or expired
    /// jobs are resubmitted, and every record ends with a response or a typed error.
    ///
    /// # Errors
    /// Planning errors ([`Error::DuplicateId`], [`Error::RecordTooLarge`], [`Error::NoTarget`]),
    /// S3 and Bedrock errors that a retry may cure, and state-file or ledger errors; what was
    /// done is recorded, so calling again resumes.
    pub async fn run(&self, requests: Vec<BatchRequest>) -> Result<Vec<RecordResult>, Error> {
        let order: Vec<String> = requests.iter().map(|r| r.id.clone()).collect();
        let mut hashes = HashMap::with_capacity(requests.len());
        for r in &requests {
            if hashes.insert(r.id.clone(), r.content_hash()).is_some() {
                return Err(Error::DuplicateId { id: r.id.clone() });
            }
        }
        let results = ledger::load(&self.config.ledger_path, &hashes)?;
        if !results.is_empty() {
            info!(
                results = results.len(),
                "answering requests from the ledger of collected results"
            );
        }
        let path = &self.config.state_path;
        let mut state = match RunState::load(path)? {
            Some(s) => s,
            None => {
                let mut s = RunState::default();
                self.adopt_listed_jobs(&mut s, &requests, &hashes, &results)
                    .await?;
                s
            }
        };
        // A job whose input never reached S3 created nothing: its requests are planned again.
        state.jobs.retain(|j| j.uploaded);
        let mut run = Run {
            hashes,
            owner: HashMap::new(),
            inputs: HashMap::new(),
            results,
        };
        let mut active = Vec::new();
        for (i, js) in state.jobs.iter_mut().enumerate() {
            let mut claims = false;
            for (id, h) in js.request_ids.iter().zip(&js.request_hashes) {
                if run.hashes.get(id) == Some(h)
                    && !run.results.contains_key(id)
                    && !run.owner.contains_key(id)
                {
                    run.owner.insert(id.clone(), i);
                    claims = true;
                }
            }
            if claims {
                if js.status.as_deref() == Some("Rejected") {
                    // Refused for good last time; the cause (a role, a permission) may be fixed.
                    js.status = None;
                }
                active.push(i);
            }
        }
        let fresh: Vec<BatchRequest> = requests
            .into_iter()
            .filter(|r| !run.results.contains_key(&r.id) && !run.owner.contains_key(&r.id))
            .collect();
        if !active.is_empty() {
            info!(
                jobs = active.len(),
                requests = run.owner.len(),
                "reusing batch jobs of an earlier run"
            );
        }
        let plan = plan(fresh, &self.config.targets, &self.config.limits)?;
        for u in &plan.undersized {
            for rid in &u.request_ids {
                run.results.insert(
                    rid.clone(),
                    RecordResult {
                        id: rid.clone(),
                        model_id: u.model_id.clone(),
                        region: u.region.clone(),
                        job_arn: None,
                        outcome: Err(RecordError {
                            kind: RecordErrorKind::TooFewRecords,
                            message: format!(
                                "{} request(s) for {} in {}; a batch job needs at least {}",
                                u.request_ids.len(),
                                u.model_id,
                                u.region,
                                self.config.limits.min_records_per_job
                            ),
                            code: None,
                        }),
                    },
                );
            }
        }
        for job in plan.jobs {
            let key = job_key(&job);
            let i = state.jobs.len();
            for r in &job.records {
                run.owner.insert(r.request_id.clone(), i);
            }
            state.jobs.push(JobState {
                input_key: format!("{}/{key}/input.jsonl", self.prefix()),
                key,
                model_id: job.model_id.clone(),
                region: job.region.clone(),
                request_ids: job.records.iter().map(|r| r.request_id.clone()).collect(),
                request_hashes: job.records.iter().map(|r| r.hash.clone()).collect(),
                ..JobState::default()
            });
            run.inputs.insert(i, job);
            active.push(i);
        }
        state.save(path)?;

        let backoff = self.config.poll.backoff();
        let mut round: u32 = 0;
        let mut starved = Duration::ZERO;
        while !active.is_empty() {
            let mut still = Vec::new();
            let mut deferred = Vec::new();
            for i in active {
                match self.poll_one(&mut state, i, &mut run).await? {
                    Poll::Running => still.push(i),
                    Poll::Deferred => deferred.push(i),
                    Poll::Done => {}
                }
            }
            if deferred.is_empty() || !still.is_empty() {
                starved = Duration::ZERO;
            } else if starved >= self.config.max_quota_wait {
                for i in deferred.drain(..) {
                    self.give_up_on_quota(&state, i, &mut run);
                }
            }
            let nothing_runs = still.is_empty();
            still.append(&mut deferred);
            active = still;
            if !active.is_empty() {
                round = round.saturating_add(1);
                let delay = backoff.base_delay(round);
                debug!(
                    waiting_ms = delay.as_millis() as u64,
                    jobs = active.len(),
                    "waiting for batch jobs"
                );
                if nothing_runs {
                    starved = starved.saturating_add(delay);
                }
                self.wait(delay).await;
            }
        }
        let mut results = run.results;
        Ok(order.iter().filter_map(|id| results.remove(id)).collect())
    }

    /// Without a state file, finds jobs created earlier for any of `requests`: every job named
    /// `llmm-<key>-<attempt>` whose input lies under this engine's bucket and prefix, whose
    /// index object (`<prefix>/<key>/index.json`) names a request of this run with the same
    /// content hash. The latest attempt of each is adopted, so a lost state file does not mean
    /// paying twice.
    async fn adopt_listed_jobs(
        &self,
        state: &mut RunState,
        requests: &[BatchRequest],
        hashes: &HashMap<String, String>,
        done: &HashMap<String, RecordResult>,
    ) -> Result<(), Error> {
        let mut regions: Vec<String> = self
            .config
            .targets
            .iter()
            .map(|t| t.region.clone())
            .chain(requests.iter().filter_map(|r| r.region.clone()))
            .collect();
        regions.sort();
        regions.dedup();
        let under = format!("s3://{}/{}/", self.config.bucket, self.prefix());
        // Job key to (attempt, ARN, status, region), the latest attempt of each.
        let mut found: BTreeMap<String, (u32, String, Option<String>, String)> = BTreeMap::new();
        for region in regions {
            let mut token = None;
            loop {
                let page = self
                    .bedrock(&region)
                    .list_model_invocation_jobs()
                    .name_contains("llmm-")
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| bedrock_err("ListModelInvocationJobs", &region, e))?;
                for job in page.invocation_job_summaries() {
                    let Some((key, attempt)) = job
                        .job_name()
                        .strip_prefix("llmm-")
                        .and_then(|rest| rest.rsplit_once('-'))
                        .and_then(|(k, a)| Some((k.to_owned(), a.parse::<u32>().ok()?)))
                    else {
                        continue;
                    };
                    let input = match job.input_data_config() {
                        Some(ModelInvocationJobInputDataConfig::S3InputDataConfig(c)) => c.s3_uri(),
                        _ => continue,
                    };
                    if !input.starts_with(&format!("{under}{key}/")) {
                        continue;
                    }
                    if found.get(&key).is_none_or(|(a, ..)| attempt > *a) {
                        found.insert(
                            key,
                            (
                                attempt,
                                job.job_arn().to_owned(),
                                job.status().map(|s| s.as_str().to_owned()),
                                region.clone(),
                            ),
                        );
                    }
                }
                match page.next_token() {
                    Some(t) => token = Some(t.to_owned()),
                    None => break,
                }
            }
        }
        for (key, (attempt, arn, status, region)) in found {
            let index_key = format!("{}/{key}/index.json", self.prefix());
            let Some(index) = self.read_index(&index_key).await? else {
                continue;
            };
            let wanted = index
                .request_ids
                .iter()
                .zip(&index.request_hashes)
                .any(|(id, h)| hashes.get(id) == Some(h) && !done.contains_key(id));
            if !wanted || index.region != region {
                continue;
            }
            info!(job_arn = %arn, "adopting a batch job created by an earlier run");
            state.jobs.push(JobState {
                input_key: format!("{}/{key}/input.jsonl", self.prefix()),
                key,
                attempt,
                uploaded: true,
                job_arn: Some(arn),
                status,
                ..index
            });
        }
        Ok(())
    }

    /// Reads a job's index object; `None` when it does not exist or cannot be parsed.
    async fn read_index(&self, key: &str) -> Result<Option<JobState>, Error> {
        let got = self
            .s3
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await;
        let obj = match got {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(s3_err("GetObject", key, e)),
        };
        let bytes = obj
            .body
            .collect()
            .await
            .map_err(|e| s3_err("GetObject", key, e))?
            .into_bytes();
        Ok(serde_json::from_slice::<JobState>(&bytes).ok())
    }

    /// Uploads job `i`'s input (and its index object) when this run planned it.
    async fn upload(&self, state: &mut RunState, i: usize, run: &mut Run) -> Result<(), Error> {
        let Some(js) = state.jobs.get_mut(i) else {
            return Ok(());
        };
        if js.uploaded {
            return Ok(());
        }
        let Some(job) = run.inputs.get(&i) else {
            return Err(Error::Config {
                message: format!("job {} has no uploaded input and no plan", js.key),
            });
        };
        self.s3
            .put_object()
            .bucket(&self.config.bucket)
            .key(&js.input_key)
            .content_type("application/jsonl")
            .body(job.input_file().into_bytes().into())
            .send()
            .await
            .map_err(|e| s3_err("PutObject", &js.input_key, e))?;
        let index_key = format!("{}/{}/index.json", self.prefix(), js.key);
        let index = JobState {
            key: js.key.clone(),
            model_id: js.model_id.clone(),
            region: js.region.clone(),
            input_key: js.input_key.clone(),
            request_ids: js.request_ids.clone(),
            request_hashes: js.request_hashes.clone(),
            ..JobState::default()
        };
        let body = serde_json::to_vec(&index).map_err(|e| Error::Config {
            message: e.to_string(),
        })?;
        self.s3
            .put_object()
            .bucket(&self.config.bucket)
            .key(&index_key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| s3_err("PutObject", &index_key, e))?;
        js.uploaded = true;
        run.inputs.remove(&i);
        state.save(&self.config.state_path)
    }

    /// The S3 URI of job `js`'s output for its current attempt.
    fn output_uri(&self, js: &JobState) -> String {
        format!(
            "s3://{}/{}/{}/output/a{}/",
            self.config.bucket,
            self.prefix(),
            js.key,
            js.attempt
        )
    }

    /// Creates job `i` (its input is uploaded). A creation refused for a quota
    /// (`ServiceQuotaExceededException`, for example too many jobs in progress), throttled, or
    /// failed for a transient reason is deferred; any other refusal rejects the job.
    async fn create(&self, state: &mut RunState, i: usize) -> Result<Created, Error> {
        let Some(js) = state.jobs.get(i) else {
            return Ok(Created::Rejected("no such job".to_owned()));
        };
        let bucket = &self.config.bucket;
        let tag = format!("{}-{}", js.key, js.attempt);
        let input = ModelInvocationJobS3InputDataConfig::builder()
            .s3_uri(format!("s3://{bucket}/{}", js.input_key))
            .s3_input_format(S3InputFormat::Jsonl)
            .build()
            .map_err(|e| bedrock_err("CreateModelInvocationJob", &js.region, e))?;
        let output = ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(self.output_uri(js))
            .build()
            .map_err(|e| bedrock_err("CreateModelInvocationJob", &js.region, e))?;
        let created = self
            .bedrock(&js.region)
            .create_model_invocation_job()
            .job_name(format!("llmm-{tag}"))
            .client_request_token(tag)
            .role_arn(&self.config.role_arn)
            .model_id(&js.model_id)
            .model_invocation_type(ModelInvocationType::Converse)
            .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(input))
            .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
                output,
            ))
            .set_timeout_duration_in_hours(self.config.timeout_hours)
            .send()
            .await;
        let created = match created {
            Ok(c) => c,
            Err(e) => {
                let message = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
                let deferred = match e.as_service_error() {
                    Some(s) => {
                        s.is_service_quota_exceeded_exception()
                            || s.is_throttling_exception()
                            || s.is_internal_server_exception()
                    }
                    // No answer from the service (a timeout, a connection error): try again.
                    None => true,
                };
                if deferred {
                    debug!(job = %js.key, error = %message, "job creation deferred");
                    return Ok(Created::Deferred);
                }
                warn!(job = %js.key, error = %message, "job creation refused");
                let message = format!("CreateModelInvocationJob in {}: {message}", js.region);
                if let Some(js) = state.jobs.get_mut(i) {
                    js.status = Some("Rejected".to_owned());
                    js.failures.push(message.clone());
                }
                state.save(&self.config.state_path)?;
                return Ok(Created::Rejected(message));
            }
        };
        info!(
            job_arn = created.job_arn(),
            records = js.request_ids.len(),
            "created batch job"
        );
        if let Some(js) = state.jobs.get_mut(i) {
            js.job_arn = Some(created.job_arn().to_owned());
            js.status = Some("Submitted".to_owned());
        }
        state.save(&self.config.state_path)?;
        Ok(Created::Yes)
    }

    /// Results for the records of job `i` that this run owns and that have none yet, all with
    /// the same error.
    fn fail_records(&self, state: &RunState, i: usize, run: &mut Run, error: &RecordError) {
        let Some(js) = state.jobs.get(i) else {
            return;
        };
        for id in &js.request_ids {
            if run.owns(i, id) && !run.results.contains_key(id) {
                run.results.insert(
                    id.clone(),
                    RecordResult {
                        id: id.clone(),
                        model_id: js.model_id.clone(),
                        region: js.region.clone(),
                        job_arn: js.job_arn.clone(),
                        outcome: Err(error.clone()),
                    },
                );
            }
        }
    }

    fn give_up_on_quota(&self, state: &RunState, i: usize, run: &mut Run) {
        warn!(
            job = i,
            "job creation still refused after the quota wait; its records are reported as failed"
        );
        let error = RecordError {
            kind: RecordErrorKind::QuotaExceeded,
            message: format!(
                "Bedrock refused to create the batch job for {:?} (a quota or throttling) for longer than {:?} while no other job of the run was running",
                state.jobs.get(i).map(|j| j.model_id.as_str()),
                self.config.max_quota_wait
            ),
            code: None,
        };
        self.fail_records(state, i, run, &error);
    }

    /// One round for job `i`: upload and create it if needed, otherwise poll it and, once it
    /// ended, collect, resubmit or fail its records.
    async fn poll_one(&self, state: &mut RunState, i: usize, run: &mut Run) -> Result<Poll, Error> {
        let path = &self.config.state_path;
        self.upload(state, i, run).await?;
        let Some(js) = state.jobs.get(i) else {
            return Ok(Poll::Done);
        };
        let Some(arn) = js.job_arn.clone() else {
            return Ok(match self.create(state, i).await? {
                Created::Yes => Poll::Running,
                Created::Deferred => Poll::Deferred,
                Created::Rejected(message) => {
                    let error = RecordError {
                        kind: RecordErrorKind::JobRejected,
                        message,
                        code: None,
                    };
                    self.fail_records(state, i, run, &error);
                    Poll::Done
                }
            });
        };
        let region = js.region.clone();
        let got = self
            .bedrock(&region)
            .get_model_invocation_job()
            .job_identifier(&arn)
            .send()
            .await;
        let got = match got {
            Ok(g) => g,
            Err(e)
                if e.as_service_error().is_none_or(|s| {
                    s.is_throttling_exception() || s.is_internal_server_exception()
                }) =>
            {
                // A status poll is safe to repeat: ask again on the next round.
                warn!(job_arn = %arn, error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "status poll failed; retrying on the next round");
                return Ok(Poll::Running);
            }
            Err(e) => return Err(bedrock_err("GetModelInvocationJob", &region, e)),
        };
        let status = got.status().cloned();
        let name = status
            .as_ref()
            .map_or("Unknown", ModelInvocationJobStatus::as_str);
        let Some(js) = state.jobs.get_mut(i) else {
            return Ok(Poll::Done);
        };
        if js.status.as_deref() != Some(name) {
            info!(job_arn = %arn, status = name, "batch job status");
            js.status = Some(name.to_owned());
            state.save(path)?;
        }
        match status {
            Some(
                ModelInvocationJobStatus::Completed | ModelInvocationJobStatus::PartiallyCompleted,
            ) => {
                let missing = RecordError {
                    kind: RecordErrorKind::MissingOutput,
                    message: format!("batch job {arn} wrote no output line for this request"),
                    code: None,
                };
                self.collect(state, i, &arn, run, Some(&missing)).await?;
                Ok(Poll::Done)
            }
            Some(
                ModelInvocationJobStatus::Failed
                | ModelInvocationJobStatus::Expired
                | ModelInvocationJobStatus::Stopped,
            ) => {
                let Some(js) = state.jobs.get_mut(i) else {
                    return Ok(Poll::Done);
                };
                let message = format!(
                    "batch job {arn} ended {name}: {}",
                    got.message().unwrap_or("no message")
                );
                js.failures.push(message.clone());
                let resubmit = name != "Stopped" && js.attempt < self.config.max_resubmits;
                if resubmit {
                    warn!(%message, attempt = js.attempt + 1, "resubmitting batch job");
                    if name == "Expired" {
                        // The records it finished keep their results; only the rest run again.
                        self.collect(state, i, &arn, run, None).await?;
                        if !self.narrow_input(state, i, run).await? {
                            return Ok(Poll::Done);
                        }
                    }
                    let Some(js) = state.jobs.get_mut(i) else {
                        return Ok(Poll::Done);
                    };
                    js.attempt += 1;
                    js.job_arn = None;
                    js.status = None;
                    state.save(path)?;
                    return Ok(match self.create(state, i).await? {
                        Created::Yes | Created::Deferred => Poll::Running,
                        Created::Rejected(message) => {
                            let error = RecordError {
                                kind: RecordErrorKind::JobRejected,
                                message,
                                code: None,
                            };
                            self.fail_records(state, i, run, &error);
                            Poll::Done
                        }
                    });
                }
                warn!(%message, "batch job ended without resubmission; records without output are reported as failed");
                let failed = RecordError {
                    kind: RecordErrorKind::JobFailed,
                    message: js.failures.join("; "),
                    code: None,
                };
                // A stopped or expired job keeps the output of the records it finished.
                self.collect(state, i, &arn, run, Some(&failed)).await?;
                Ok(Poll::Done)
            }
            _ => Ok(Poll::Running),
        }
    }

    /// Reads job `i`'s output files, turns each line into a result (records without a line get
    /// `missing`, or stay open without it), appends the results to the ledger and then
    /// records them in `run`. Records that already have a result (from an earlier attempt)
    /// keep it.
    async fn collect(
        &self,
        state: &RunState,
        i: usize,
        arn: &str,
        run: &mut Run,
        missing: Option<&RecordError>,
    ) -> Result<(), Error> {
        let Some(js) = state.jobs.get(i) else {
            return Ok(());
        };
        let out_uri = self.output_uri(js);
        let (bucket, prefix) = split_s3_uri(&out_uri).ok_or_else(|| Error::Output {
            key: out_uri.clone(),
            message: "not an s3:// URI".to_owned(),
        })?;
        let job_id = arn.rsplit('/').next().unwrap_or(arn);
        let prefix = format!("{prefix}{job_id}/");
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| s3_err("ListObjectsV2", &prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| k.ends_with(".jsonl.out"))
                    .map(str::to_owned),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        let by_record: HashMap<String, &String> = js
            .request_ids
            .iter()
            .enumerate()
            .map(|(n, id)| (crate::plan::record_id(n), id))
            .collect();
        let base = |id: &str, outcome| RecordResult {
            id: id.to_owned(),
            model_id: js.model_id.clone(),
            region: js.region.clone(),
            job_arn: Some(arn.to_owned()),
            outcome,
        };
        let mut got: HashMap<String, RecordResult> = HashMap::new();
        let mut unreadable = 0usize;
        let mut lines = 0usize;
        for key in keys {
            let obj = self
                .s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| s3_err("GetObject", &key, e))?;
            let mut body = obj.body;
            let mut buf: Vec<u8> = Vec::new();
            let mut handle = |line: &[u8], got: &mut HashMap<String, RecordResult>| {
                let text = String::from_utf8_lossy(line);
                if text.trim().is_empty() {
                    return;
                }
                lines += 1;
                let (record, outcome) = match serde_json::from_str::<Value>(&text) {
                    Ok(v) => {
                        let record = v.get("recordId").and_then(Value::as_str).map(str::to_owned);
                        let outcome = match (v.get("modelOutput"), v.get("error")) {
                            (Some(out), _) => Ok(out.clone()),
                            (None, err) => Err(RecordError {
                                kind: RecordErrorKind::Model,
                                message: err
                                    .and_then(|e| e.get("errorMessage"))
                                    .and_then(Value::as_str)
                                    .unwrap_or("the record has neither modelOutput nor error")
                                    .to_owned(),
                                code: err.and_then(|e| e.get("errorCode")).and_then(Value::as_u64),
                            }),
                        };
                        (record, outcome)
                    }
                    Err(e) => {
                        unreadable += 1;
                        (
                            salvage_record_id(&text).map(str::to_owned),
                            Err(RecordError {
                                kind: RecordErrorKind::UnreadableOutput,
                                message: format!("the output line in {key} is not JSON: {e}"),
                                code: None,
                            }),
                        )
                    }
                };
                let Some(id) = record.as_deref().and_then(|r| by_record.get(r)) else {
                    warn!(%key, "output line without a known recordId ignored");
                    return;
                };
                if run.owns(i, id) && !run.results.contains_key(*id) {
                    got.insert((*id).clone(), base(id, outcome));
                }
            };
            loop {
                let chunk = body
                    .try_next()
                    .await
                    .map_err(|e| s3_err("GetObject", &key, e))?;
                let Some(chunk) = chunk else {
                    break;
                };
                buf.extend_from_slice(&chunk);
                let mut start = 0;
                while let Some(n) = buf[start..].iter().position(|&b| b == b'\n') {
                    handle(&buf[start..start + n], &mut got);
                    start += n + 1;
                }
                buf.drain(..start);
            }
            handle(&buf, &mut got);
        }
        if unreadable > 0 {
            warn!(job_arn = arn, unreadable, "unreadable output lines");
        }
        let mut missing_n = 0usize;
        for id in &js.request_ids {
            let Some(missing) = missing else {
                break;
            };
            if run.owns(i, id) && !got.contains_key(id) && !run.results.contains_key(id) {
                missing_n += 1;
                let mut e = missing.clone();
                if unreadable > 0 {
                    e.message
                        .push_str(&format!(" ({unreadable} output line(s) could not be read)"));
                }
                got.insert(id.clone(), base(id, Err(e)));
            }
        }
        ledger::append(
            &self.config.ledger_path,
            js.request_ids
                .iter()
                .zip(&js.request_hashes)
                .filter_map(|(id, h)| got.get(id).map(|r| (h.as_str(), r))),
        )?;
        info!(
            job_arn = arn,
            lines,
            missing = missing_n,
            records = js.request_ids.len(),
            "merged batch job output"
        );
        run.results.extend(got);
        Ok(())
    }

    /// Writes job `i`'s next input: the lines of its current input whose records have no
    /// result yet, and points the job at it. Returns `false` when no record is left.
    async fn narrow_input(&self, state: &mut RunState, i: usize, run: &Run) -> Result<bool, Error> {
        let Some(js) = state.jobs.get(i) else {
            return Ok(false);
        };
        let open: std::collections::HashSet<String> = js
            .request_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| run.owns(i, id) && !run.results.contains_key(*id))
            .map(|(n, _)| crate::plan::record_id(n))
            .collect();
        if open.is_empty() {
            return Ok(false);
        }
        let obj = self
            .s3
            .get_object()
            .bucket(&self.config.bucket)
            .key(&js.input_key)
            .send()
            .await
            .map_err(|e| s3_err("GetObject", &js.input_key, e))?;
        let bytes = obj
            .body
            .collect()
            .await
            .map_err(|e| s3_err("GetObject", &js.input_key, e))?
            .into_bytes();
        let mut next = Vec::new();
        for line in bytes.split(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            if salvage_record_id(&text).is_some_and(|r| open.contains(r)) {
                next.extend_from_slice(line);
                next.push(b'\n');
            }
        }
        let key = format!(
            "{}/{}/input-a{}.jsonl",
            self.prefix(),
            js.key,
            js.attempt + 1
        );
        self.s3
            .put_object()
            .bucket(&self.config.bucket)
            .key(&key)
            .content_type("application/jsonl")
            .body(next.into())
            .send()
            .await
            .map_err(|e| s3_err("PutObject", &key, e))?;
        info!(job = %js.key, records = open.len(), "resubmitting the records an expired job did not finish");
        if let Some(js) = state.jobs.get_mut(i) {
            js.input_key = key;
        }
        state.save(&self.config.state_path)?;
        Ok(true)
    }

    /// Stops every job of the state file that is still running (for example on Ctrl-C, when
    /// the caller does not mean to resume); returns how many were stopped.
    ///
    /// # Errors
    /// State-file errors, or the first `StopModelInvocationJob` error other than "already
    /// ended".
    pub async fn stop_all(&self) -> Result<usize, Error> {
        let Some(state) = RunState::load(&self.config.state_path)? else {
            return Ok(0);
        };
        let mut stopped = 0;
        for js in &state.jobs {
            let running = matches!(
                js.status.as_deref(),
                Some("Submitted" | "Validating" | "Scheduled" | "InProgress")
            );
            if let (true, Some(arn)) = (running, &js.job_arn) {
                let r = self
                    .bedrock(&js.region)
                    .stop_model_invocation_job()
                    .job_identifier(arn)
                    .send()
                    .await;
                match r {
                    Ok(_) => stopped += 1,
                    // It ended between the last poll and now.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_validation_exception()) => {}
                    Err(e) => return Err(bedrock_err("StopModelInvocationJob", &js.region, e)),
                }
            }
        }
        Ok(stopped)
    }
}

/// The text of a Converse response body: its text blocks, joined.
#[must_use]
pub fn output_text(output: &Value) -> String {
    output
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<String>()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_text_joins_text_blocks() {
        let v =
            json!({"output":{"message":{"content":[{"text":"a"},{"toolUse":{}},{"text":"b"}]}}});
        assert_eq!(output_text(&v), "ab");
        assert_eq!(output_text(&json!({})), "");
    }

    #[test]
    fn salvages_record_ids_from_broken_lines() {
        assert_eq!(
            salvage_record_id(r#"{"recordId": "R0000000003", "modelOutput": {"x": "\xc3"#),
            Some("R0000000003")
        );
        assert_eq!(salvage_record_id("garbage"), None);
    }

    #[test]
    fn splits_s3_uris() {
        assert_eq!(split_s3_uri("s3://b/p/q/"), Some(("b", "p/q/")));
        assert_eq!(split_s3_uri("s3://b"), Some(("b", "")));
        assert_eq!(split_s3_uri("https://b"), None);
    }

    #[test]
    fn record_error_kinds_have_stable_names() {
        let names: Vec<_> = [
            RecordErrorKind::Model,
            RecordErrorKind::JobFailed,
            RecordErrorKind::MissingOutput,
            RecordErrorKind::TooFewRecords,
            RecordErrorKind::JobRejected,
            RecordErrorKind::UnreadableOutput,
            RecordErrorKind::QuotaExceeded,
        ]
        .map(RecordErrorKind::as_str)
        .to_vec();
        for n in &names {
            assert_eq!(RecordErrorKind::from_name(n).unwrap().as_str(), *n);
        }
        assert_eq!(
            names,
            [
                "model_error",
                "job_failed",
                "missing_output",
                "too_few_records",
                "job_rejected",
                "unreadable_output",
                "quota_exceeded"
            ]
        );
    }
}
