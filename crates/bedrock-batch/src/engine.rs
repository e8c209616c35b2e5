//! The engine: upload, create, poll, resubmit, download and merge.
//!
//! Every step with a side effect is recorded in the [`RunState`] file before the next one, and
//! job creation carries an idempotency token, so the engine can be stopped at any point and run
//! again over the same requests without creating (or paying for) a job twice. Waiting uses the
//! SDK config's sleeper (injected, never the wall clock), with exponential backoff between polls.

use std::collections::HashMap;
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
use crate::plan::{BatchRequest, JobPlan, Limits, Plan, plan};
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
}

impl BatchConfig {
    /// A config with the default prefix (`llmm-batch`), limits, poll interval and one resubmit.
    pub fn new(
        bucket: impl Into<String>,
        role_arn: impl Into<String>,
        state_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: "llmm-batch".to_owned(),
            role_arn: role_arn.into(),
            state_path: state_path.into(),
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
        }
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

/// The run id: a hash of every job's model, region and input.
fn run_id(plan: &Plan) -> String {
    let mut h = Sha256::new();
    for j in &plan.jobs {
        h.update(j.model_id.as_bytes());
        h.update([0]);
        h.update(j.region.as_bytes());
        h.update([0]);
        for r in &j.records {
            h.update(r.request_id.as_bytes());
            h.update([0]);
            h.update(r.line.as_bytes());
            h.update([b'\n']);
        }
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `s3://bucket/key` into its parts.
fn split_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
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

    /// Runs `requests` to completion: plans jobs, submits those the state file does not know
    /// yet, polls until every job ends, resubmits failed or expired jobs, and returns one result
    /// per request in input order.
    ///
    /// # Errors
    /// Planning errors ([`Error::DuplicateId`], [`Error::RecordTooLarge`]), and S3, Bedrock or
    /// state-file errors; the state file keeps what was done, so calling again resumes.
    pub async fn run(&self, requests: Vec<BatchRequest>) -> Result<Vec<RecordResult>, Error> {
        let order: Vec<String> = requests.iter().map(|r| r.id.clone()).collect();
        let plan = plan(requests, &self.config.limits)?;
        let id = run_id(&plan);
        let path = &self.config.state_path;
        let mut state = match RunState::load(path)? {
            Some(s) if s.run_id == id && s.jobs.len() == plan.jobs.len() => {
                info!(run_id = %id, "resuming batch run from its state file");
                s
            }
            _ => {
                let mut fresh = self.fresh_state(&plan, id);
                self.adopt_listed_jobs(&mut fresh).await?;
                fresh
            }
        };
        state.save(path)?;

        let mut results: HashMap<String, RecordResult> = HashMap::new();
        for u in &plan.undersized {
            for rid in &u.request_ids {
                results.insert(
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

        for (i, job) in plan.jobs.iter().enumerate() {
            self.submit(&mut state, i, job).await?;
        }
        let mut active: Vec<usize> = (0..plan.jobs.len()).collect();
        let backoff = self.config.poll.backoff();
        let mut round: u32 = 0;
        while !active.is_empty() {
            let mut still = Vec::new();
            for i in active {
                let Some(job) = plan.jobs.get(i) else {
                    continue;
                };
                if self.poll_one(&mut state, i, job, &mut results).await? {
                    still.push(i);
                }
            }
            active = still;
            if !active.is_empty() {
                round = round.saturating_add(1);
                let delay = backoff.base_delay(round);
                debug!(
                    waiting_ms = delay.as_millis() as u64,
                    jobs = active.len(),
                    "waiting for batch jobs"
                );
                self.sleep.sleep(delay).await;
            }
        }
        Ok(order.iter().filter_map(|id| results.remove(id)).collect())
    }

    fn fresh_state(&self, plan: &Plan, run_id: String) -> RunState {
        let prefix = self.config.prefix.trim_end_matches('/');
        let jobs = plan
            .jobs
            .iter()
            .enumerate()
            .map(|(n, j)| JobState {
                model_id: j.model_id.clone(),
                region: j.region.clone(),
                input_key: format!("{prefix}/{run_id}/input/job-{n:05}.jsonl"),
                request_ids: j.records.iter().map(|r| r.request_id.clone()).collect(),
                ..JobState::default()
            })
            .collect();
        RunState { run_id, jobs }
    }

    /// Without a usable state file, finds jobs this run created earlier by their names
    /// (`llmm-<run id>-<job>-<attempt>`, via `ListModelInvocationJobs`) and adopts the latest
    /// attempt of each, so that a lost state file does not mean paying twice.
    async fn adopt_listed_jobs(&self, state: &mut RunState) -> Result<(), Error> {
        let mut regions: Vec<String> = state.jobs.iter().map(|j| j.region.clone()).collect();
        regions.sort();
        regions.dedup();
        let stem = format!("llmm-{}-", state.run_id);
        for region in regions {
            let mut token = None;
            loop {
                let page = self
                    .bedrock(&region)
                    .list_model_invocation_jobs()
                    .name_contains(&stem)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| bedrock_err("ListModelInvocationJobs", &region, e))?;
                for job in page.invocation_job_summaries() {
                    let Some((i, attempt)) = job
                        .job_name()
                        .strip_prefix(&stem)
                        .and_then(|rest| rest.split_once('-'))
                        .and_then(|(i, a)| {
                            Some((i.parse::<usize>().ok()?, a.parse::<u32>().ok()?))
                        })
                    else {
                        continue;
                    };
                    if let Some(js) = state.jobs.get_mut(i)
                        && js.region == region
                        && (js.job_arn.is_none() || attempt > js.attempt)
                    {
                        info!(
                            job_arn = job.job_arn(),
                            "adopting a batch job created by an earlier run"
                        );
                        js.attempt = attempt;
                        js.uploaded = true;
                        js.job_arn = Some(job.job_arn().to_owned());
                        js.status = job.status().map(|s| s.as_str().to_owned());
                    }
                }
                match page.next_token() {
                    Some(t) => token = Some(t.to_owned()),
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Uploads the input and creates the job, unless the state says it was done. A creation
    /// refused for a quota (`ServiceQuotaExceededException`, for example too many jobs in
    /// progress) or throttled leaves the job without an ARN, to be created on a later poll.
    async fn submit(&self, state: &mut RunState, i: usize, job: &JobPlan) -> Result<(), Error> {
        let path = &self.config.state_path;
        let run_id = state.run_id.clone();
        let Some(js) = state.jobs.get_mut(i) else {
            return Ok(());
        };
        if !js.uploaded {
            self.s3
                .put_object()
                .bucket(&self.config.bucket)
                .key(&js.input_key)
                .content_type("application/jsonl")
                .body(job.input_file().into_bytes().into())
                .send()
                .await
                .map_err(|e| s3_err("PutObject", &js.input_key, e))?;
            js.uploaded = true;
            state.save(path)?;
        }
        let Some(js) = state.jobs.get_mut(i) else {
            return Ok(());
        };
        if js.job_arn.is_some() {
            return Ok(());
        }
        let prefix = self.config.prefix.trim_end_matches('/');
        let bucket = &self.config.bucket;
        let tag = format!("{run_id}-{i}-{}", js.attempt);
        let input = ModelInvocationJobS3InputDataConfig::builder()
            .s3_uri(format!("s3://{bucket}/{}", js.input_key))
            .s3_input_format(S3InputFormat::Jsonl)
            .build()
            .map_err(|e| bedrock_err("CreateModelInvocationJob", &js.region, e))?;
        let output = ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(format!(
                "s3://{bucket}/{prefix}/{run_id}/output/job-{i:05}/a{}/",
                js.attempt
            ))
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
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_service_quota_exceeded_exception() || s.is_throttling_exception()
                }) =>
            {
                // Too many jobs in flight (or too many calls): create it on a later poll.
                debug!(job = i, error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "job creation deferred");
                return Ok(());
            }
            Err(e) => return Err(bedrock_err("CreateModelInvocationJob", &js.region, e)),
        };
        info!(
            job_arn = created.job_arn(),
            records = js.request_ids.len(),
            "created batch job"
        );
        js.job_arn = Some(created.job_arn().to_owned());
        js.status = Some("Submitted".to_owned());
        state.save(path)
    }

    /// Polls one job; returns whether it is still running.
    async fn poll_one(
        &self,
        state: &mut RunState,
        i: usize,
        job: &JobPlan,
        results: &mut HashMap<String, RecordResult>,
    ) -> Result<bool, Error> {
        let path = &self.config.state_path;
        let Some(js) = state.jobs.get_mut(i) else {
            return Ok(false);
        };
        let Some(arn) = js.job_arn.clone() else {
            // Creation was deferred by a quota: try again, and keep waiting either way.
            self.submit(state, i, job).await?;
            return Ok(true);
        };
        let got = self
            .bedrock(&js.region)
            .get_model_invocation_job()
            .job_identifier(&arn)
            .send()
            .await;
        let got = match got {
            Ok(g) => g,
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_throttling_exception() || s.is_internal_server_exception()
                }) =>
            {
                // A status poll is safe to repeat: ask again on the next round.
                warn!(job_arn = %arn, error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "status poll failed; retrying on the next round");
                return Ok(true);
            }
            Err(e) => return Err(bedrock_err("GetModelInvocationJob", &js.region, e)),
        };
        let status = got.status().cloned();
        let name = status
            .as_ref()
            .map_or("Unknown", ModelInvocationJobStatus::as_str);
        if js.status.as_deref() != Some(name) {
            info!(job_arn = %arn, status = name, "batch job status");
            js.status = Some(name.to_owned());
            state.save(path)?;
        }
        let Some(js) = state.jobs.get_mut(i) else {
            return Ok(false);
        };
        match status {
            Some(
                ModelInvocationJobStatus::Completed | ModelInvocationJobStatus::PartiallyCompleted,
            ) => {
                let out_uri = match got.output_data_config() {
                    Some(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(c)) => {
                        c.s3_uri().to_owned()
                    }
                    _ => {
                        return Err(Error::Output {
                            key: arn,
                            message: "the job reports no S3 output location".to_owned(),
                        });
                    }
                };
                self.collect(js, &arn, &out_uri, results).await?;
                Ok(false)
            }
            Some(
                ModelInvocationJobStatus::Failed
                | ModelInvocationJobStatus::Expired
                | ModelInvocationJobStatus::Stopped,
            ) => {
                let message = format!(
                    "batch job {arn} ended {name}: {}",
                    got.message().unwrap_or("no message")
                );
                js.failures.push(message.clone());
                let resubmit = name != "Stopped" && js.attempt < self.config.max_resubmits;
                if resubmit {
                    warn!(%message, attempt = js.attempt + 1, "resubmitting batch job");
                    js.attempt += 1;
                    js.job_arn = None;
                    js.status = None;
                    state.save(path)?;
                    self.submit(state, i, job).await?;
                    return Ok(true);
                }
                warn!(%message, "batch job failed; its records are reported as failed");
                for rid in &js.request_ids {
                    results.insert(
                        rid.clone(),
                        RecordResult {
                            id: rid.clone(),
                            model_id: js.model_id.clone(),
                            region: js.region.clone(),
                            job_arn: Some(arn.clone()),
                            outcome: Err(RecordError {
                                kind: RecordErrorKind::JobFailed,
                                message: js.failures.join("; "),
                                code: None,
                            }),
                        },
                    );
                }
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// Downloads a finished job's output files and turns each line into a result.
    async fn collect(
        &self,
        js: &JobState,
        arn: &str,
        out_uri: &str,
        results: &mut HashMap<String, RecordResult>,
    ) -> Result<(), Error> {
        let (bucket, prefix) = split_s3_uri(out_uri).ok_or_else(|| Error::Output {
            key: out_uri.to_owned(),
            message: "not an s3:// URI".to_owned(),
        })?;
        let job_id = arn.rsplit('/').next().unwrap_or(arn);
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            format!("{prefix}{job_id}/")
        } else {
            format!("{prefix}/{job_id}/")
        };
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
        let base = |id: &str| RecordResult {
            id: id.to_owned(),
            model_id: js.model_id.clone(),
            region: js.region.clone(),
            job_arn: Some(arn.to_owned()),
            outcome: Ok(Value::Null),
        };
        let mut seen = 0usize;
        for key in keys {
            let obj = self
                .s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| s3_err("GetObject", &key, e))?;
            let bytes = obj
                .body
                .collect()
                .await
                .map_err(|e| s3_err("GetObject", &key, e))?
                .into_bytes();
            for line in String::from_utf8_lossy(&bytes).lines() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line).map_err(|e| Error::Output {
                    key: key.clone(),
                    message: e.to_string(),
                })?;
                let Some(id) = v
                    .get("recordId")
                    .and_then(Value::as_str)
                    .and_then(|r| by_record.get(r))
                else {
                    warn!(%key, "output line with an unknown recordId ignored");
                    continue;
                };
                let mut r = base(id);
                r.outcome = match (v.get("modelOutput"), v.get("error")) {
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
                seen += 1;
                results.insert((*id).clone(), r);
            }
        }
        for id in &js.request_ids {
            if !results.contains_key(id) {
                let mut r = base(id);
                r.outcome = Err(RecordError {
                    kind: RecordErrorKind::MissingOutput,
                    message: format!("batch job {arn} wrote no output line for this request"),
                    code: None,
                });
                results.insert(id.clone(), r);
            }
        }
        info!(
            job_arn = arn,
            lines = seen,
            records = js.request_ids.len(),
            "merged batch job output"
        );
        Ok(())
    }

    /// Stops every job of the state file that is still running (for example on Ctrl-C, when
    /// the caller does not mean to resume).
    ///
    /// # Errors
    /// State-file errors, or the first `StopModelInvocationJob` error.
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
                self.bedrock(&js.region)
                    .stop_model_invocation_job()
                    .job_identifier(arn)
                    .send()
                    .await
                    .map_err(|e| bedrock_err("StopModelInvocationJob", &js.region, e))?;
                stopped += 1;
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
        ]
        .map(RecordErrorKind::as_str)
        .to_vec();
        assert_eq!(
            names,
            [
                "model_error",
                "job_failed",
                "missing_output",
                "too_few_records"
            ]
        );
    }
}
