//! The engine: upload, create, poll, resubmit, download and merge.
//!
//! Every step with a side effect is recorded in the [`RunState`] file before the next one, and
//! job creation carries an idempotency token, so the engine can be stopped at any point and run
//! again over the same requests without creating (or paying for) a job twice. Collected results
//! go to the ledger before they are returned. Waiting uses an injected `bedrock_retry::Sleep` (the
//! workspace's one model of time; never the wall clock), with exponential backoff between polls.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig,
    ModelInvocationJobStatus, ModelInvocationType, S3InputFormat,
};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bedrock_retry::{Backoff, JitterMode, Sleep, TokioSleep};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use crate::Error;
use crate::ledger;
use crate::plan::{
    Assigned, BatchRequest, Item, Limits, Target, assign, check_limits, hex, item, record_id,
    record_line,
};
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
    /// Where requests without a pinned model and region may run (see [`crate::plan()`]).
    pub targets: Vec<Target>,
    /// The ledger of collected results (default: the state file's path plus `.results.jsonl`).
    pub ledger_path: PathBuf,
    /// How long job creations refused for a quota (or a transient service error) are retried
    /// while none of the run's jobs is running, before their records are reported as
    /// `quota_exceeded`. While some job of the run is running, a slot is bound to free up and
    /// the wait is not counted.
    pub max_quota_wait: Duration,
    /// Size of the parts in which job inputs are uploaded (multipart upload; S3 needs at least
    /// 5 MiB per part but the last). Inputs are streamed: at most one part per job being
    /// written is held in memory.
    pub upload_part_bytes: usize,
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
            upload_part_bytes: 8 << 20,
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
    sleep: Arc<dyn Sleep>,
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

/// The content key of a job: a hash of where its files go (bucket and prefix), its model,
/// region and requests. The same requests under another prefix are another job: the client
/// request token derived from this key makes Bedrock answer with an existing job, whose output
/// is under that job's prefix.
fn job_key(location: &str, model_id: &str, region: &str, ids: &[String], hashes: &[u64]) -> String {
    let mut h = Sha256::new();
    h.update(location.as_bytes());
    h.update([0]);
    h.update(model_id.as_bytes());
    h.update([0]);
    h.update(region.as_bytes());
    h.update([0]);
    for (id, hash) in ids.iter().zip(hashes) {
        h.update(id.as_bytes());
        h.update([0]);
        h.update(hash.to_be_bytes());
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

/// No job (in [`Entry::owner`]) or no planned job (in the position maps).
const NONE: u32 = u32::MAX;

/// Results handed to the sink and the ledger at once, at most.
const EMIT_BATCH: usize = 1000;

/// What the engine knows about one request of the run.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Position in the input.
    pos: u32,
    /// Content hash.
    hash: u64,
    /// Index (in the state) of the job that answers it, or [`NONE`].
    owner: u32,
    /// Whether its result was handed to the sink.
    done: bool,
}

/// Every request of the run by id: a vector sorted by id, about half the memory of a hash
/// map (a million requests are some 70 MB here).
#[derive(Debug, Default)]
struct Index {
    entries: Vec<(Box<str>, Entry)>,
}

impl Index {
    fn push(&mut self, id: &str, entry: Entry) {
        self.entries.push((id.into(), entry));
    }

    /// Sorts the entries for lookups; returns an id that occurs twice, if any.
    fn seal(&mut self) -> Option<String> {
        self.entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.entries
            .iter()
            .zip(self.entries.iter().skip(1))
            .find(|(a, b)| a.0 == b.0)
            .map(|(a, _)| a.0.to_string())
    }

    fn get(&self, id: &str) -> Option<&Entry> {
        let i = self.entries.binary_search_by(|(k, _)| (**k).cmp(id)).ok()?;
        self.entries.get(i).map(|(_, e)| e)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Entry> {
        let i = self.entries.binary_search_by(|(k, _)| (**k).cmp(id)).ok()?;
        self.entries.get_mut(i).map(|(_, e)| e)
    }

    fn values(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map(|(_, e)| e)
    }
}

/// A record result on its way out.
type Sink<'s> = &'s mut (dyn FnMut(RecordResult) -> Result<(), Error> + Send);

/// One run's bookkeeping: every request's hash and job, and where results go.
struct Run<'s> {
    index: Index,
    sink: Sink<'s>,
}

impl Run<'_> {
    /// Whether request `id` is answered by job `i` and has no result yet.
    fn owns(&self, i: usize, id: &str) -> bool {
        self.index
            .get(id)
            .is_some_and(|e| !e.done && e.owner != NONE && e.owner as usize == i)
    }

    /// Hands `batch` to the ledger (when given) and then to the sink, leaving out results for
    /// requests that already have one.
    fn emit(&mut self, ledger: Option<&Path>, batch: Vec<RecordResult>) -> Result<(), Error> {
        let batch: Vec<RecordResult> = batch
            .into_iter()
            .filter(|r| self.index.get(&r.id).is_some_and(|e| !e.done))
            .collect();
        if let Some(path) = ledger {
            ledger::append(
                path,
                batch
                    .iter()
                    .filter_map(|r| self.index.get(&r.id).map(|e| (e.hash, r))),
            )?;
        }
        for r in batch {
            match self.index.get_mut(&r.id) {
                Some(e) if !e.done => e.done = true,
                _ => continue,
            }
            (self.sink)(r)?;
        }
        Ok(())
    }
}

/// A job input being uploaded: one `PutObject` when it is small, a multipart upload otherwise.
struct Upload {
    key: String,
    upload_id: Option<String>,
    buf: Vec<u8>,
    parts: Vec<CompletedPart>,
}

impl BatchEngine {
    /// An engine using `sdk` for Bedrock (one client per job region) and `s3` for the bucket.
    ///
    /// # Errors
    /// [`Error::Config`] when the bucket or role is empty.
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
        Ok(Self {
            sdk: sdk.clone(),
            s3,
            sleep: Arc::new(TokioSleep::new()),
            config,
        })
    }

    /// Replaces the sleeper used between polls ([`TokioSleep`] by default; tests record the
    /// waits with their own).
    #[must_use]
    pub fn with_sleep(mut self, sleep: Arc<dyn Sleep>) -> Self {
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
    /// This is [`BatchEngine::run_with`] over a vector; see there.
    ///
    /// # Errors
    /// As [`BatchEngine::run_with`].
    pub async fn run(&self, requests: Vec<BatchRequest>) -> Result<Vec<RecordResult>, Error> {
        let mut results: HashMap<String, RecordResult> = HashMap::with_capacity(requests.len());
        self.run_with(
            || Ok(requests.iter().cloned()),
            |r| {
                results.insert(r.id.clone(), r);
                Ok(())
            },
        )
        .await?;
        Ok(requests
            .iter()
            .filter_map(|r| results.remove(&r.id))
            .collect())
    }

    /// Runs the requests that `source` yields (it is called twice and must yield the same
    /// requests each time) and hands each result to `sink` as soon as it is known, so neither
    /// the requests nor the results are ever all in memory.
    ///
    /// Requests with a result in the ledger are answered from it first. Requests held by a job
    /// of an earlier run (same id and content hash; found in the state file, or without one
    /// through the jobs' index objects in S3) are answered by that job. The rest are planned
    /// into new jobs whose inputs are streamed to S3 (multipart uploads) while `source` is read
    /// the second time. Jobs are then polled until each ends; failed or expired jobs are
    /// resubmitted, outputs are read line by line, and every request gets exactly one result:
    /// a response or a typed error. Results from jobs reach the ledger before the sink.
    ///
    /// # Errors
    /// Planning errors ([`Error::DuplicateId`], [`Error::RecordTooLarge`], [`Error::NoTarget`]),
    /// S3 and Bedrock errors that a retry may cure, state-file or ledger errors, and the
    /// sink's or the source's errors; what was done is recorded, so calling again resumes.
    pub async fn run_with<S, I, F>(&self, source: S, mut sink: F) -> Result<(), Error>
    where
        S: Fn() -> Result<I, Error> + Sync,
        I: Iterator<Item = BatchRequest> + Send,
        F: FnMut(RecordResult) -> Result<(), Error> + Send,
    {
        let limits = &self.config.limits;
        let targets = &self.config.targets;
        check_limits(limits)?;
        // Pass 1: ids, hashes and what planning needs; no bodies are kept.
        let mut index = Index::default();
        let mut items: Vec<Option<Item>> = Vec::new();
        let mut regions: BTreeSet<String> = targets.iter().map(|t| t.region.clone()).collect();
        let mut digest = Sha256::new();
        for r in source()? {
            let hash = r.content_key();
            let pos = u32::try_from(items.len()).map_err(|_| Error::Config {
                message: "more than 4 billion requests in one run".to_owned(),
            })?;
            let entry = Entry {
                pos,
                hash,
                owner: NONE,
                done: false,
            };
            index.push(&r.id, entry);
            if let Some(g) = &r.region {
                regions.insert(g.clone());
            }
            items.push(Some(item(&r, targets, limits)?));
            digest.update(r.id.as_bytes());
            digest.update(hash.to_be_bytes());
        }
        let digest = hex(&digest.finalize()[..8]);
        if let Some(id) = index.seal() {
            return Err(Error::DuplicateId { id });
        }
        let mut run = Run {
            index,
            sink: &mut sink,
        };
        let mut from_ledger = 0usize;
        ledger::replay(&self.config.ledger_path, |hash, result| {
            let known = run
                .index
                .get(&result.id)
                .is_some_and(|e| e.hash == hash && !e.done);
            if known {
                from_ledger += 1;
                run.emit(None, vec![result])?;
            }
            Ok(())
        })?;
        if from_ledger > 0 {
            info!(
                results = from_ledger,
                "answered requests from the ledger of collected results"
            );
        }

        let path = &self.config.state_path;
        let mut state = match RunState::load(path)? {
            Some(s) => s,
            None => {
                let mut s = RunState::default();
                self.adopt_listed_jobs(&mut s, &regions, &run.index).await?;
                s
            }
        };
        // A job whose input never reached S3 created nothing: its requests are planned again.
        state.jobs.retain(|j| j.uploaded);
        let mut active = Vec::new();
        let mut reused = 0usize;
        for (i, js) in state.jobs.iter_mut().enumerate() {
            let mut claims = false;
            for (id, h) in js.request_ids.iter().zip(&js.request_hashes) {
                if let Some(e) = run.index.get_mut(id)
                    && e.hash == *h
                    && !e.done
                    && e.owner == NONE
                {
                    e.owner = u32::try_from(i).unwrap_or(NONE);
                    claims = true;
                    reused += 1;
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
        if !active.is_empty() {
            info!(
                jobs = active.len(),
                requests = reused,
                "reusing batch jobs of an earlier run"
            );
        }
        for e in run.index.values() {
            if (e.done || e.owner != NONE)
                && let Some(slot) = items.get_mut(e.pos as usize)
            {
                *slot = None;
            }
        }
        let assigned = assign(&items, targets, limits);
        let n_items = items.len();
        drop(items);
        if !assigned.jobs.is_empty() || !assigned.undersized.is_empty() {
            let first = state.jobs.len();
            self.upload_new_jobs(&source, &digest, n_items, assigned, &mut state, &mut run)
                .await?;
            active.extend(first..state.jobs.len());
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
                    self.give_up_on_quota(&state, i, &mut run)?;
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
        Ok(())
    }

    /// Pass 2: reads `source` again and streams each new job's records to its input object,
    /// reports the requests of groups below the minimum, then writes each job's index object
    /// and records the jobs (uploaded) in the state.
    async fn upload_new_jobs<S, I>(
        &self,
        source: &S,
        digest: &str,
        n_items: usize,
        assigned: Assigned,
        state: &mut RunState,
        run: &mut Run<'_>,
    ) -> Result<(), Error>
    where
        S: Fn() -> Result<I, Error> + Sync,
        I: Iterator<Item = BatchRequest> + Send,
    {
        let mut job_of = vec![NONE; n_items];
        let mut record_of = vec![0u32; n_items];
        let mut fresh: Vec<JobState> = Vec::with_capacity(assigned.jobs.len());
        for (j, (model_id, region, positions)) in assigned.jobs.into_iter().enumerate() {
            let j32 = u32::try_from(j).unwrap_or(NONE);
            for (n, pos) in positions.iter().enumerate() {
                if let Some(slot) = job_of.get_mut(*pos as usize) {
                    *slot = j32;
                }
                if let Some(slot) = record_of.get_mut(*pos as usize) {
                    *slot = u32::try_from(n).unwrap_or(NONE);
                }
            }
            fresh.push(JobState {
                input_key: format!("{}/{digest}/job-{j:05}.jsonl", self.prefix()),
                model_id,
                region,
                request_ids: vec![String::new(); positions.len()],
                request_hashes: vec![0; positions.len()],
                ..JobState::default()
            });
        }
        let mut small: HashMap<u32, usize> = HashMap::new();
        for (g, (_, _, positions)) in assigned.undersized.iter().enumerate() {
            for pos in positions {
                small.insert(*pos, g);
            }
        }
        let mut uploads: Vec<Option<Upload>> = (0..fresh.len()).map(|_| None).collect();
        let mut too_few = Vec::new();
        for r in source()? {
            let Some(e) = run.index.get(&r.id).copied() else {
                continue;
            };
            if e.hash != r.content_key() {
                return Err(Error::Config {
                    message: format!("request {:?} changed while the batch was planned", r.id),
                });
            }
            let pos = e.pos as usize;
            let j = job_of.get(pos).copied().unwrap_or(NONE);
            if j == NONE {
                if let Some((model_id, region, positions)) =
                    small.get(&e.pos).and_then(|g| assigned.undersized.get(*g))
                {
                    too_few.push(RecordResult {
                        id: r.id.clone(),
                        model_id: model_id.clone(),
                        region: region.clone(),
                        job_arn: None,
                        outcome: Err(RecordError {
                            kind: RecordErrorKind::TooFewRecords,
                            message: format!(
                                "{} request(s) for {model_id} in {region}; a batch job needs at least {}",
                                positions.len(),
                                self.config.limits.min_records_per_job
                            ),
                            code: None,
                        }),
                    });
                }
                continue;
            }
            let n = record_of.get(pos).copied().unwrap_or(0) as usize;
            let (Some(js), Some(upload)) = (fresh.get_mut(j as usize), uploads.get_mut(j as usize))
            else {
                continue;
            };
            if let (Some(id), Some(h)) = (js.request_ids.get_mut(n), js.request_hashes.get_mut(n)) {
                id.clone_from(&r.id);
                *h = e.hash;
            }
            let upload = upload.get_or_insert_with(|| Upload {
                key: js.input_key.clone(),
                upload_id: None,
                buf: Vec::new(),
                parts: Vec::new(),
            });
            upload
                .buf
                .extend_from_slice(record_line(&record_id(n), &r.body).as_bytes());
            upload.buf.push(b'\n');
            if upload.buf.len() >= self.config.upload_part_bytes {
                self.upload_part(upload).await?;
            }
        }
        run.emit(None, too_few)?;
        if fresh
            .iter()
            .any(|js| js.request_ids.iter().any(String::is_empty))
        {
            return Err(Error::Config {
                message: "the requests changed between the two readings of the input".to_owned(),
            });
        }
        for (js, upload) in fresh.iter_mut().zip(uploads) {
            let Some(mut upload) = upload else {
                continue;
            };
            self.finish_upload(&mut upload).await?;
            js.key = job_key(
                &format!("s3://{}/{}/", self.config.bucket, self.prefix()),
                &js.model_id,
                &js.region,
                &js.request_ids,
                &js.request_hashes,
            );
            let index_key = format!("{}/{}/index.json", self.prefix(), js.key);
            let body = serde_json::to_vec(&*js).map_err(|e| Error::Config {
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
            let i = u32::try_from(state.jobs.len()).unwrap_or(NONE);
            for id in &js.request_ids {
                if let Some(e) = run.index.get_mut(id) {
                    e.owner = i;
                }
            }
            state.jobs.push(std::mem::take(js));
        }
        state.save(&self.config.state_path)
    }

    /// Sends the buffered bytes of `u` as its next part, starting the multipart upload first.
    async fn upload_part(&self, u: &mut Upload) -> Result<(), Error> {
        let bucket = &self.config.bucket;
        let upload_id = match &u.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .s3
                    .create_multipart_upload()
                    .bucket(bucket)
                    .key(&u.key)
                    .content_type("application/jsonl")
                    .send()
                    .await
                    .map_err(|e| s3_err("CreateMultipartUpload", &u.key, e))?;
                let id = created.upload_id().unwrap_or_default().to_owned();
                u.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(u.parts.len() + 1).unwrap_or(i32::MAX);
        let body = std::mem::take(&mut u.buf);
        let part = self
            .s3
            .upload_part()
            .bucket(bucket)
            .key(&u.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(body.into())
            .send()
            .await
            .map_err(|e| s3_err("UploadPart", &u.key, e))?;
        u.parts.push(
            CompletedPart::builder()
                .set_e_tag(part.e_tag().map(str::to_owned))
                .part_number(number)
                .build(),
        );
        Ok(())
    }

    /// Completes an input upload: one `PutObject` when no part was sent yet.
    async fn finish_upload(&self, u: &mut Upload) -> Result<(), Error> {
        if u.upload_id.is_none() {
            let body = std::mem::take(&mut u.buf);
            self.s3
                .put_object()
                .bucket(&self.config.bucket)
                .key(&u.key)
                .content_type("application/jsonl")
                .body(body.into())
                .send()
                .await
                .map_err(|e| s3_err("PutObject", &u.key, e))?;
            return Ok(());
        }
        if !u.buf.is_empty() {
            self.upload_part(u).await?;
        }
        let done = self
            .s3
            .complete_multipart_upload()
            .bucket(&self.config.bucket)
            .key(&u.key)
            .set_upload_id(u.upload_id.clone())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut u.parts)))
                    .build(),
            )
            .send()
            .await;
        match done {
            Ok(_) => Ok(()),
            // Some S3-compatible servers (moto) name the answer's root element differently;
            // the SDK cannot parse it, but a 200 answer means the object is complete.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => Ok(()),
            Err(e) => Err(s3_err("CompleteMultipartUpload", &u.key, e)),
        }
    }

    /// Without a state file, finds jobs created earlier for any open request: every job named
    /// `llmm-<key>-<attempt>` in `regions` whose input lies under this engine's bucket and
    /// prefix, whose index object (`<prefix>/<key>/index.json`) names a request of this run
    /// with the same content hash. The latest attempt of each is adopted, so a lost state file
    /// does not mean paying twice.
    async fn adopt_listed_jobs(
        &self,
        state: &mut RunState,
        regions: &BTreeSet<String>,
        index: &Index,
    ) -> Result<(), Error> {
        let under = format!("s3://{}/{}/", self.config.bucket, self.prefix());
        // Job key to (attempt, ARN, status, region, input URI), the latest attempt of each.
        let mut found: BTreeMap<String, (u32, String, Option<String>, String, String)> =
            BTreeMap::new();
        for region in regions {
            let mut token = None;
            loop {
                let page = self
                    .bedrock(region)
                    .list_model_invocation_jobs()
                    .name_contains("llmm-")
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| bedrock_err("ListModelInvocationJobs", region, e))?;
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
                        Some(ModelInvocationJobInputDataConfig::S3InputDataConfig(c)) => {
                            c.s3_uri().to_owned()
                        }
                        _ => continue,
                    };
                    if !input.starts_with(&under) {
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
                                input,
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
        for (key, (attempt, arn, status, region, input)) in found {
            let index_key = format!("{}/{key}/index.json", self.prefix());
            let Some(job) = self.read_index(&index_key).await? else {
                continue;
            };
            let wanted = job
                .request_ids
                .iter()
                .zip(&job.request_hashes)
                .any(|(id, h)| index.get(id).is_some_and(|e| e.hash == *h && !e.done));
            if !wanted || job.region != region || job.key != key {
                continue;
            }
            info!(job_arn = %arn, "adopting a batch job created by an earlier run");
            let input_key = split_s3_uri(&input)
                .map(|(_, k)| k.to_owned())
                .unwrap_or(job.input_key.clone());
            state.jobs.push(JobState {
                input_key,
                attempt,
                uploaded: true,
                job_arn: Some(arn),
                status,
                ..job
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
    /// the same error (in the ledger too when `final_` : the job ran and will not run again).
    fn fail_records(
        &self,
        state: &RunState,
        i: usize,
        run: &mut Run<'_>,
        error: &RecordError,
        final_: bool,
    ) -> Result<(), Error> {
        let Some(js) = state.jobs.get(i) else {
            return Ok(());
        };
        let mut batch = Vec::new();
        for id in &js.request_ids {
            if run.owns(i, id) {
                batch.push(RecordResult {
                    id: id.clone(),
                    model_id: js.model_id.clone(),
                    region: js.region.clone(),
                    job_arn: js.job_arn.clone(),
                    outcome: Err(error.clone()),
                });
                if batch.len() >= EMIT_BATCH {
                    let ledger = final_.then_some(self.config.ledger_path.as_path());
                    run.emit(ledger, std::mem::take(&mut batch))?;
                }
            }
        }
        run.emit(final_.then_some(self.config.ledger_path.as_path()), batch)
    }

    fn give_up_on_quota(&self, state: &RunState, i: usize, run: &mut Run<'_>) -> Result<(), Error> {
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
        self.fail_records(state, i, run, &error, false)
    }

    /// One round for job `i`: upload and create it if needed, otherwise poll it and, once it
    /// ended, collect, resubmit or fail its records.
    async fn poll_one(
        &self,
        state: &mut RunState,
        i: usize,
        run: &mut Run<'_>,
    ) -> Result<Poll, Error> {
        let path = &self.config.state_path;
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
                    self.fail_records(state, i, run, &error, false)?;
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
        let reported = match got.output_data_config() {
            Some(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(c)) => {
                Some(c.s3_uri().to_owned())
            }
            _ => None,
        };
        let job = (arn.as_str(), reported.as_deref());
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
                self.collect(state, i, job, run, Some(&missing)).await?;
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
                        self.collect(state, i, job, run, None).await?;
                        let open = state.jobs.get(i).map_or_else(HashSet::new, |js| {
                            js.request_ids
                                .iter()
                                .enumerate()
                                .filter(|(_, id)| run.owns(i, id))
                                .map(|(n, _)| record_id(n))
                                .collect()
                        });
                        if !self.narrow_input(state, i, open).await? {
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
                            self.fail_records(state, i, run, &error, false)?;
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
                self.collect(state, i, job, run, Some(&failed)).await?;
                self.fail_records(state, i, run, &failed, true)?;
                Ok(Poll::Done)
            }
            _ => Ok(Poll::Running),
        }
    }

    /// Reads job `i`'s output files line by line and hands each line's result to the ledger
    /// and the sink (in batches); with `missing`, records without a line then get that error.
    /// Records that already have a result (from an earlier attempt) keep it.
    async fn collect(
        &self,
        state: &RunState,
        i: usize,
        job: (&str, Option<&str>),
        run: &mut Run<'_>,
        missing: Option<&RecordError>,
    ) -> Result<(), Error> {
        let Some(js) = state.jobs.get(i) else {
            return Ok(());
        };
        // Where the job says its output is; where this engine would have put it otherwise.
        let (arn, reported) = job;
        let out_uri = reported.map_or_else(|| self.output_uri(js), str::to_owned);
        let out_uri = if out_uri.ends_with('/') {
            out_uri
        } else {
            format!("{out_uri}/")
        };
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
        let ledger = Some(self.config.ledger_path.as_path());
        let mut seen = vec![false; js.request_ids.len()];
        let mut unreadable = 0usize;
        let mut lines = 0usize;
        let mut batch: Vec<RecordResult> = Vec::new();
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
            let mut eof = false;
            while !eof {
                match body
                    .try_next()
                    .await
                    .map_err(|e| s3_err("GetObject", &key, e))?
                {
                    Some(chunk) => buf.extend_from_slice(&chunk),
                    None => {
                        eof = true;
                        buf.push(b'\n');
                    }
                }
                let mut start = 0;
                while let Some(n) = buf
                    .get(start..)
                    .and_then(|b| b.iter().position(|&c| c == b'\n'))
                {
                    let line = buf.get(start..start + n).unwrap_or_default();
                    start += n + 1;
                    let Some((n, outcome)) = parse_output_line(line, &key, &mut unreadable) else {
                        continue;
                    };
                    lines += 1;
                    let (Some(id), Some(flag)) = (js.request_ids.get(n), seen.get_mut(n)) else {
                        warn!(%key, "output line with an unknown recordId ignored");
                        continue;
                    };
                    if *flag || !run.owns(i, id) {
                        continue;
                    }
                    *flag = true;
                    batch.push(RecordResult {
                        id: id.clone(),
                        model_id: js.model_id.clone(),
                        region: js.region.clone(),
                        job_arn: Some(arn.to_owned()),
                        outcome,
                    });
                    if batch.len() >= EMIT_BATCH {
                        run.emit(ledger, std::mem::take(&mut batch))?;
                    }
                }
                buf.drain(..start);
            }
        }
        run.emit(ledger, std::mem::take(&mut batch))?;
        if unreadable > 0 {
            warn!(job_arn = arn, unreadable, "unreadable output lines");
        }
        let mut missing_n = 0usize;
        if let Some(missing) = missing {
            let mut e = missing.clone();
            if unreadable > 0 {
                e.message
                    .push_str(&format!(" ({unreadable} output line(s) could not be read)"));
            }
            for (n, id) in js.request_ids.iter().enumerate() {
                if run.owns(i, id) && !seen.get(n).copied().unwrap_or(true) {
                    missing_n += 1;
                    batch.push(RecordResult {
                        id: id.clone(),
                        model_id: js.model_id.clone(),
                        region: js.region.clone(),
                        job_arn: Some(arn.to_owned()),
                        outcome: Err(e.clone()),
                    });
                    if batch.len() >= EMIT_BATCH {
                        run.emit(ledger, std::mem::take(&mut batch))?;
                    }
                }
            }
            run.emit(ledger, batch)?;
        }
        info!(
            job_arn = arn,
            lines,
            missing = missing_n,
            records = js.request_ids.len(),
            "merged batch job output"
        );
        Ok(())
    }

    /// Writes job `i`'s next input: the lines of its current input whose records have no
    /// result yet, and points the job at it. Returns `false` when no record is left.
    async fn narrow_input(
        &self,
        state: &mut RunState,
        i: usize,
        open: HashSet<String>,
    ) -> Result<bool, Error> {
        let Some(js) = state.jobs.get(i) else {
            return Ok(false);
        };
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
        let mut body = obj.body;
        let key = format!(
            "{}/{}/input-a{}.jsonl",
            self.prefix(),
            js.key,
            js.attempt + 1
        );
        let mut upload = Upload {
            key: key.clone(),
            upload_id: None,
            buf: Vec::new(),
            parts: Vec::new(),
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut eof = false;
        while !eof {
            match body
                .try_next()
                .await
                .map_err(|e| s3_err("GetObject", &js.input_key, e))?
            {
                Some(chunk) => buf.extend_from_slice(&chunk),
                None => {
                    eof = true;
                    buf.push(b'\n');
                }
            }
            let mut start = 0;
            while let Some(n) = buf
                .get(start..)
                .and_then(|b| b.iter().position(|&c| c == b'\n'))
            {
                let line = buf.get(start..start + n).unwrap_or_default();
                start += n + 1;
                let text = String::from_utf8_lossy(line);
                if salvage_record_id(&text).is_some_and(|r| open.contains(r)) {
                    upload.buf.extend_from_slice(line);
                    upload.buf.push(b'\n');
                }
            }
            buf.drain(..start);
            if upload.buf.len() >= self.config.upload_part_bytes {
                self.upload_part(&mut upload).await?;
            }
        }
        self.finish_upload(&mut upload).await?;
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

/// The record number and outcome of one output line; `None` for a blank line or one whose
/// record cannot be told (counted in `unreadable` when it is not JSON).
fn parse_output_line(
    line: &[u8],
    key: &str,
    unreadable: &mut usize,
) -> Option<(usize, Result<Value, RecordError>)> {
    let text = String::from_utf8_lossy(line);
    if text.trim().is_empty() {
        return None;
    }
    let number = |r: &str| r.strip_prefix('R').and_then(|n| n.parse::<usize>().ok());
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => {
            let n = v.get("recordId").and_then(Value::as_str).and_then(number)?;
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
            Some((n, outcome))
        }
        Err(e) => {
            *unreadable += 1;
            let n = salvage_record_id(&text).and_then(number)?;
            Some((
                n,
                Err(RecordError {
                    kind: RecordErrorKind::UnreadableOutput,
                    message: format!("the output line in {key} is not JSON: {e}"),
                    code: None,
                }),
            ))
        }
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
