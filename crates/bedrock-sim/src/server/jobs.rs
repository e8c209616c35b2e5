//! Batch inference jobs: `CreateModelInvocationJob`, `GetModelInvocationJob`,
//! `ListModelInvocationJobs` and `StopModelInvocationJob`, with a job runner that reads JSONL
//! input from S3 and writes outputs and a manifest back the way Bedrock does.
//!
//! The simulator has no S3 of its own: the job runner talks plain path-style HTTP to the
//! S3-compatible server named by [`Scenario::s3_endpoint`](crate::Scenario::s3_endpoint) (moto
//! in the tests). Each record is answered by the same Converse code path as a live call, so
//! fault rules, quotas and scripted replies apply to records too; a record whose call fails
//! gets an `error` object in the output instead of `modelOutput`.
//! Jobs whose creation number is listed in `Scenario::failed_jobs` end `Failed` without output,
//! so that callers can test resubmission; those listed in `Scenario::expired_jobs` reach their
//! timeout half-way and end `Expired` with the output of the records they finished, as a
//! stopped job ends `Stopped` with its finished records' output. `timeoutDurationInHours` is
//! checked (24 to 168, as Bedrock does) and reported, with the job's expiration time.
//!
//! This module is a child of `server` (declared there) so that it shares the server's
//! private call path without widening its visibility.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::faults::apply_decision;
use super::runtime::runtime;
use super::serve::json_response;
use super::{Body, Call, Shared};
use crate::catalog::Resolution;
use crate::engine;
use crate::scenario::{BedrockErrorKind, Operation};
use crate::wire::WireError;

/// Characters kept as-is in an S3 key path (everything else is percent-encoded).
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

const ACCOUNT: &str = "123456789012";

/// An `Authorization` header that names the simulator's fake key without a valid signature.
const FAKE_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDBEDROCKSIM/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0000";

/// All jobs the simulator knows, in creation order.
#[derive(Debug, Default)]
pub(super) struct Jobs {
    state: Mutex<JobsState>,
}

#[derive(Debug, Default)]
struct JobsState {
    created: u64,
    jobs: Vec<Job>,
}

#[derive(Debug, Clone)]
struct Job {
    arn: String,
    id: String,
    name: String,
    region: String,
    model_id: String,
    role_arn: String,
    token: Option<String>,
    invocation_type: String,
    input: Value,
    output: Value,
    input_uri: String,
    output_uri: String,
    status: &'static str,
    message: Option<String>,
    submit_time: String,
    last_modified: String,
    end_time: Option<String>,
    total: u64,
    processed: u64,
    success: u64,
    errors: u64,
    fail: bool,
    expire: bool,
    timeout_hours: i64,
    expiration_time: String,
    stop_requested: bool,
}

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, JobsState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, arn: &str, f: impl FnOnce(&mut Job)) {
        let mut st = self.lock();
        if let Some(job) = st.jobs.iter_mut().find(|j| j.arn == arn) {
            f(job);
            job.last_modified = now();
        }
    }

    fn find(&self, region: &str, ident: &str) -> Option<Job> {
        self.lock()
            .jobs
            .iter()
            .find(|j| j.region == region && (j.arn == ident || j.id == ident))
            .cloned()
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "job timestamps are wall-clock times, as Bedrock reports them"
)]
fn now() -> String {
    DateTime::from(SystemTime::now())
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

#[allow(
    clippy::disallowed_methods,
    reason = "job timestamps are wall-clock times, as Bedrock reports them"
)]
fn hours_from_now(hours: i64) -> String {
    let secs = u64::try_from(hours).unwrap_or(0).saturating_mul(3600);
    DateTime::from(SystemTime::now() + std::time::Duration::from_secs(secs))
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

/// Which job operation a path names.
pub(super) fn route(method: &Method, path: &str) -> Option<(Operation, Option<String>)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    if *method == Method::POST && path == "/model-invocation-job" {
        return Some((Operation::CreateModelInvocationJob, None));
    }
    if *method == Method::GET && path == "/model-invocation-jobs" {
        return Some((Operation::ListModelInvocationJobs, None));
    }
    let rest = path.strip_prefix("/model-invocation-job/")?;
    if *method == Method::POST
        && let Some(id) = rest.strip_suffix("/stop").filter(|s| !s.contains('/'))
    {
        return Some((Operation::StopModelInvocationJob, Some(decode(id))));
    }
    if *method == Method::GET && !rest.is_empty() && !rest.contains('/') {
        return Some((Operation::GetModelInvocationJob, Some(decode(rest))));
    }
    None
}

/// Answers one job operation.
pub(super) async fn handle(
    shared: &Arc<Shared>,
    op: Operation,
    region: String,
    id: Option<String>,
    query: BTreeMap<String, String>,
    body: &[u8],
) -> Result<Response<Body>, io::Error> {
    let mut call = Call {
        seq: 0,
        request_id: String::new(),
        region,
        op,
        model_id: None,
        base_model_id: None,
    };
    let logged = match op {
        Operation::CreateModelInvocationJob => serde_json::from_slice(body).unwrap_or(Value::Null),
        _ => serde_json::to_value(&query).unwrap_or(Value::Null),
    };
    let decision = shared.decide(&mut call);
    if let Err(r) = apply_decision(shared, &call, &logged, decision).await {
        return r;
    }
    let region = call.region.clone();
    let result = match op {
        Operation::CreateModelInvocationJob => create(shared, &region, &logged),
        Operation::ListModelInvocationJobs => Ok(list(&shared.jobs, &region, &query)),
        Operation::StopModelInvocationJob => stop(&shared.jobs, &region, id.as_deref()),
        _ => shared
            .jobs
            .find(&region, id.as_deref().unwrap_or_default())
            .map(|j| summary(&j))
            .ok_or_else(not_found),
    };
    match result {
        Ok(v) => {
            shared.record(&call, logged, "ok", None);
            Ok(json_response(&v, &call.request_id))
        }
        Err(e) => Ok(shared.fail(&call, logged, &e)),
    }
}

fn not_found() -> WireError {
    WireError::new(
        BedrockErrorKind::ResourceNotFoundException,
        "The specified model invocation job was not found.",
    )
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn create(shared: &Arc<Shared>, region: &str, body: &Value) -> Result<Value, WireError> {
    let required = |path: &[&str]| {
        str_at(body, path)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                WireError::validation(format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                    path.join(".")
                ))
            })
    };
    let name = required(&["jobName"])?;
    let model_id = required(&["modelId"])?;
    let role_arn = required(&["roleArn"])?;
    let input_uri = required(&["inputDataConfig", "s3InputDataConfig", "s3Uri"])?;
    let output_uri = required(&["outputDataConfig", "s3OutputDataConfig", "s3Uri"])?;
    let token = str_at(body, &["clientRequestToken"]).map(str::to_owned);
    let timeout_hours = match body.get("timeoutDurationInHours") {
        None | Some(Value::Null) => 24,
        Some(v) => match v.as_i64() {
            Some(h) if (24..=168).contains(&h) => h,
            _ => {
                return Err(WireError::validation(format!(
                    "1 validation error detected: Value {v} at 'timeoutDurationInHours' failed to satisfy constraint: Member must have value between 24 and 168"
                )));
            }
        },
    };
    let invocation_type = str_at(body, &["modelInvocationType"])
        .unwrap_or("InvokeModel")
        .to_owned();
    if invocation_type != "Converse" {
        return Err(WireError::validation(format!(
            "The simulator runs only Converse batch jobs, not {invocation_type}."
        )));
    }
    let Resolution::Ok(idx) = shared.catalog.resolve(region, &model_id) else {
        return Err(WireError::validation(
            "The provided model identifier is invalid.",
        ));
    };
    if !shared.catalog.batch_allowed(region, &model_id, idx) {
        // Bedrock's answer to a (model, region) pair without batch inference names neither.
        return Err(WireError::validation("The provided request is not valid"));
    }
    for uri in [&input_uri, &output_uri] {
        if !uri.starts_with("s3://") {
            return Err(WireError::validation(format!("Invalid S3 URI: {uri}")));
        }
    }
    let mut st = shared.jobs.lock();
    if let Some(existing) = token.as_ref().and_then(|t| {
        st.jobs
            .iter()
            .find(|j| j.region == region && j.token.as_ref() == Some(t))
    }) {
        return Ok(json!({ "jobArn": existing.arn }));
    }
    if st.jobs.iter().any(|j| j.region == region && j.name == name) {
        return Err(WireError::validation(format!(
            "A model invocation job named {name} already exists."
        )));
    }
    st.created += 1;
    let n = st.created;
    let h = engine::fnv1a(shared.scenario.seed, format!("job-{n}").as_bytes());
    let id = format!("{h:012x}").chars().take(12).collect::<String>();
    let arn = format!("arn:aws:bedrock:{region}:{ACCOUNT}:model-invocation-job/{id}");
    let t = now();
    let expiration_time = hours_from_now(timeout_hours);
    st.jobs.push(Job {
        arn: arn.clone(),
        id,
        name,
        region: region.to_owned(),
        model_id,
        role_arn,
        token,
        invocation_type,
        input: body.get("inputDataConfig").cloned().unwrap_or(Value::Null),
        output: body.get("outputDataConfig").cloned().unwrap_or(Value::Null),
        input_uri,
        output_uri,
        status: "Submitted",
        message: None,
        submit_time: t.clone(),
        last_modified: t,
        end_time: None,
        total: 0,
        processed: 0,
        success: 0,
        errors: 0,
        fail: shared.scenario.failed_jobs.contains(&n),
        expire: shared.scenario.expired_jobs.contains(&n),
        timeout_hours,
        expiration_time,
        stop_requested: false,
    });
    drop(st);
    tokio::spawn(run_job(Arc::clone(shared), arn.clone()));
    Ok(json!({ "jobArn": arn }))
}

fn stop(jobs: &Jobs, region: &str, id: Option<&str>) -> Result<Value, WireError> {
    let job = jobs
        .find(region, id.unwrap_or_default())
        .ok_or_else(not_found)?;
    match job.status {
        "Submitted" | "Validating" | "Scheduled" | "InProgress" => {
            jobs.update(&job.arn, |j| {
                j.stop_requested = true;
                j.status = "Stopping";
            });
            Ok(json!({}))
        }
        other => Err(WireError::validation(format!(
            "The job cannot be stopped in status {other}."
        ))),
    }
}

/// The job as `GetModelInvocationJob` and `ListModelInvocationJobs` describe it (the two
/// shapes carry the same members).
fn summary(j: &Job) -> Value {
    let mut v = json!({
        "jobArn": j.arn,
        "jobName": j.name,
        "modelId": j.model_id,
        "roleArn": j.role_arn,
        "status": j.status,
        "submitTime": j.submit_time,
        "lastModifiedTime": j.last_modified,
        "inputDataConfig": j.input,
        "outputDataConfig": j.output,
        "modelInvocationType": j.invocation_type,
        "timeoutDurationInHours": j.timeout_hours,
        "jobExpirationTime": j.expiration_time,
        "totalRecordCount": j.total,
        "processedRecordCount": j.processed,
        "successRecordCount": j.success,
        "errorRecordCount": j.errors,
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(t) = &j.token {
            obj.insert("clientRequestToken".into(), t.clone().into());
        }
        if let Some(m) = &j.message {
            obj.insert("message".into(), m.clone().into());
        }
        if let Some(e) = &j.end_time {
            obj.insert("endTime".into(), e.clone().into());
        }
    }
    v
}

fn list(jobs: &Jobs, region: &str, query: &BTreeMap<String, String>) -> Value {
    let st = jobs.lock();
    let mut found: Vec<Value> = st
        .jobs
        .iter()
        .filter(|j| j.region == region)
        .filter(|j| query.get("statusEquals").is_none_or(|s| s == j.status))
        .filter(|j| query.get("nameContains").is_none_or(|s| j.name.contains(s)))
        .map(summary)
        .collect();
    // Bedrock lists the newest first unless asked otherwise.
    if query.get("sortOrder").is_none_or(|o| o != "Ascending") {
        found.reverse();
    }
    json!({ "invocationJobSummaries": found })
}

/// Splits `s3://bucket/key` into its parts.
fn split_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix("s3://")?.split_once('/')
}

async fn run_job(shared: Arc<Shared>, arn: String) {
    let jobs = &shared.jobs;
    let Some(job) = jobs.lock().jobs.iter().find(|j| j.arn == arn).cloned() else {
        return;
    };
    jobs.update(&arn, |j| {
        if !j.stop_requested {
            j.status = "InProgress";
        }
    });
    let finish = |status: &'static str, message: Option<String>| {
        jobs.update(&arn, |j| {
            j.status = status;
            j.message = message;
            j.end_time = Some(now());
        });
    };
    if job.fail {
        finish("Failed", Some("Simulated job failure.".to_owned()));
        return;
    }
    let Some(endpoint) = shared.scenario.s3_endpoint.clone() else {
        finish(
            "Failed",
            Some("The simulator has no s3_endpoint in its scenario.".to_owned()),
        );
        return;
    };
    let s3 = S3 { endpoint };
    let input = match load_inputs(&s3, &job.input_uri).await {
        Ok(v) => v,
        Err(e) => {
            finish("Failed", Some(e));
            return;
        }
    };
    let total = input.iter().map(|(_, lines)| lines.len() as u64).sum();
    jobs.update(&arn, |j| j.total = total);
    let (out_bucket, out_prefix) = match split_uri(&job.output_uri) {
        Some((b, p)) => (b.to_owned(), p.trim_end_matches('/').to_owned()),
        None => match job.output_uri.strip_prefix("s3://") {
            Some(b) => (b.trim_end_matches('/').to_owned(), String::new()),
            None => {
                finish("Failed", Some("Invalid output S3 URI.".to_owned()));
                return;
            }
        },
    };
    let dir = if out_prefix.is_empty() {
        job.id.clone()
    } else {
        format!("{out_prefix}/{}", job.id)
    };
    let (mut input_tokens, mut output_tokens) = (0u64, 0u64);
    for (file, lines) in input {
        let name = file.rsplit('/').next().unwrap_or(&file).to_owned();
        let out_key = format!("{dir}/{name}.out");
        let mut out = String::new();
        for line in lines {
            let halt = match jobs.find(&job.region, &arn) {
                Some(j) if j.stop_requested => Some(("Stopped", None)),
                Some(j) if j.expire && j.processed >= j.total / 2 => Some((
                    "Expired",
                    Some(format!(
                        "The job did not finish within its timeout of {} hours.",
                        j.timeout_hours
                    )),
                )),
                _ => None,
            };
            if let Some((status, message)) = halt {
                // The records finished so far keep their output.
                if !out.is_empty()
                    && let Err(e) = s3.put(&out_bucket, &out_key, out.into_bytes()).await
                {
                    finish("Failed", Some(e));
                    return;
                }
                finish(status, message);
                return;
            }
            let record: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            let record_id = record.get("recordId").cloned().unwrap_or(Value::Null);
            let model_input = record.get("modelInput").cloned().unwrap_or(Value::Null);
            let body = serde_json::to_vec(&model_input).unwrap_or_default();
            let answer = runtime(
                &shared,
                Operation::Converse,
                job.region.clone(),
                job.model_id.clone(),
                &body,
            )
            .await;
            let mut entry = json!({ "recordId": record_id, "modelInput": model_input });
            let ok = match answer {
                Ok(resp) => {
                    let status = resp.status();
                    let bytes = resp
                        .into_body()
                        .collect()
                        .await
                        .map(http_body_util::Collected::to_bytes)
                        .unwrap_or_default();
                    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if status.is_success() {
                        input_tokens += v["usage"]["inputTokens"].as_u64().unwrap_or(0);
                        output_tokens += v["usage"]["outputTokens"].as_u64().unwrap_or(0);
                        entry["modelOutput"] = v;
                        true
                    } else {
                        entry["error"] = json!({
                            "errorCode": status.as_u16(),
                            "errorMessage": v["message"].as_str().unwrap_or("error"),
                        });
                        false
                    }
                }
                Err(e) => {
                    entry["error"] = json!({ "errorCode": 500, "errorMessage": e.to_string() });
                    false
                }
            };
            out.push_str(&entry.to_string());
            out.push('\n');
            jobs.update(&arn, |j| {
                j.processed += 1;
                if ok {
                    j.success += 1;
                } else {
                    j.errors += 1;
                }
            });
        }
        if let Err(e) = s3.put(&out_bucket, &out_key, out.into_bytes()).await {
            finish("Failed", Some(e));
            return;
        }
    }
    let Some(done) = jobs.find(&job.region, &arn) else {
        return;
    };
    let manifest = json!({
        "totalRecordCount": done.total,
        "processedRecordCount": done.processed,
        "successRecordCount": done.success,
        "errorRecordCount": done.errors,
        "inputTokenCount": input_tokens,
        "outputTokenCount": output_tokens,
    });
    if let Err(e) = s3
        .put(
            &out_bucket,
            &format!("{dir}/manifest.json.out"),
            manifest.to_string().into_bytes(),
        )
        .await
    {
        finish("Failed", Some(e));
        return;
    }
    finish("Completed", None);
}

/// Reads the input: one `.jsonl` object, or every `.jsonl` object under a prefix.
async fn load_inputs(s3: &S3, uri: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let (bucket, key) = split_uri(uri).ok_or_else(|| format!("Invalid input S3 URI: {uri}"))?;
    let keys = if key.ends_with(".jsonl") {
        vec![key.to_owned()]
    } else {
        s3.list(bucket, key)
            .await?
            .into_iter()
            .filter(|k| k.ends_with(".jsonl"))
            .collect()
    };
    if keys.is_empty() {
        return Err(format!("No .jsonl input found at {uri}."));
    }
    let mut out = Vec::new();
    for k in keys {
        let bytes = s3.get(bucket, &k).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        out.push((k, lines));
    }
    Ok(out)
}

/// A minimal path-style S3 client without request signing (enough for moto and other local
/// S3 servers, which do not verify signatures).
#[derive(Debug)]
struct S3 {
    endpoint: String,
}

impl S3 {
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<Bytes, String> {
        let base = self.endpoint.trim_end_matches('/');
        let uri: http::Uri = format!("{base}{path_and_query}")
            .parse()
            .map_err(|e| format!("bad S3 URL: {e}"))?;
        let host = uri.host().unwrap_or("127.0.0.1").to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot reach S3 at {base}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("S3 handshake: {e}"))?;
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(http::header::HOST, format!("{host}:{port}"))
            .header(http::header::CONTENT_LENGTH, body.len())
            // Local S3 servers do not check signatures but treat requests without any
            // credentials as anonymous (and deny them on private objects).
            .header(http::header::AUTHORIZATION, FAKE_AUTH)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("S3 request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("S3 call failed: {e}"))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("S3 body: {e}"))?
            .to_bytes();
        if status == StatusCode::OK || status == StatusCode::NO_CONTENT {
            Ok(bytes)
        } else {
            Err(format!(
                "S3 answered {status} for {path_and_query}: {}",
                String::from_utf8_lossy(&bytes)
            ))
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Bytes, String> {
        let key = utf8_percent_encode(key, KEY_SET);
        self.send(Method::GET, &format!("/{bucket}/{key}"), Vec::new())
            .await
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), String> {
        let key = utf8_percent_encode(key, KEY_SET);
        self.send(Method::PUT, &format!("/{bucket}/{key}"), body)
            .await
            .map(|_| ())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
        let prefix = utf8_percent_encode(prefix, NON_ALPHANUMERIC);
        let xml = self
            .send(
                Method::GET,
                &format!("/{bucket}?list-type=2&prefix={prefix}"),
                Vec::new(),
            )
            .await?;
        let xml = String::from_utf8_lossy(&xml);
        Ok(xml
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_owned()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_job_operations() {
        let arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-invocation-job%2Fabc";
        assert!(matches!(
            route(&Method::POST, "/model-invocation-job"),
            Some((Operation::CreateModelInvocationJob, None))
        ));
        assert!(matches!(
            route(&Method::GET, "/model-invocation-jobs"),
            Some((Operation::ListModelInvocationJobs, None))
        ));
        let get = route(&Method::GET, &format!("/model-invocation-job/{arn}"));
        assert!(
            matches!(&get, Some((Operation::GetModelInvocationJob, Some(id))) if id.ends_with("model-invocation-job/abc"))
        );
        let stop = route(&Method::POST, "/model-invocation-job/abc/stop");
        assert!(
            matches!(&stop, Some((Operation::StopModelInvocationJob, Some(id))) if id == "abc")
        );
        assert!(route(&Method::DELETE, "/model-invocation-job/abc").is_none());
    }

    fn job(n: u64, name: &str, status: &'static str) -> Job {
        Job {
            arn: format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:model-invocation-job/j{n}"),
            id: format!("j{n}"),
            name: name.to_owned(),
            region: "us-east-1".to_owned(),
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
            role_arn: "arn:aws:iam::123456789012:role/batch".to_owned(),
            token: Some(format!("token-{n}")),
            invocation_type: "Converse".to_owned(),
            input: json!({"s3InputDataConfig": {"s3Uri": "s3://b/in/x.jsonl", "s3InputFormat": "JSONL"}}),
            output: json!({"s3OutputDataConfig": {"s3Uri": "s3://b/out/"}}),
            input_uri: "s3://b/in/x.jsonl".to_owned(),
            output_uri: "s3://b/out/".to_owned(),
            status,
            message: None,
            submit_time: "2026-01-01T00:00:00Z".to_owned(),
            last_modified: "2026-01-01T00:00:01Z".to_owned(),
            end_time: Some("2026-01-01T00:00:02Z".to_owned()),
            total: 3,
            processed: 3,
            success: 2,
            errors: 1,
            fail: false,
            expire: false,
            timeout_hours: 24,
            expiration_time: "2026-01-02T00:00:00Z".to_owned(),
            stop_requested: false,
        }
    }

    #[test]
    fn job_shapes_snapshot() {
        insta::assert_json_snapshot!("job_summary", summary(&job(1, "llmm-a", "Completed")));
    }

    #[test]
    fn lists_newest_first_and_filters() {
        let jobs = Jobs::default();
        jobs.lock().jobs = vec![
            job(1, "llmm-a", "Completed"),
            job(2, "other", "InProgress"),
            job(3, "llmm-b", "InProgress"),
        ];
        let names = |q: &[(&str, &str)]| {
            let q = q
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            list(&jobs, "us-east-1", &q)["invocationJobSummaries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["jobName"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&[]), ["llmm-b", "other", "llmm-a"]);
        assert_eq!(
            names(&[("sortOrder", "Ascending")]),
            ["llmm-a", "other", "llmm-b"]
        );
        assert_eq!(names(&[("nameContains", "llmm-")]), ["llmm-b", "llmm-a"]);
        assert_eq!(
            names(&[("statusEquals", "InProgress")]),
            ["llmm-b", "other"]
        );
        assert!(
            list(&jobs, "eu-west-1", &BTreeMap::new())["invocationJobSummaries"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn splits_s3_uris() {
        assert_eq!(split_uri("s3://b/in/x.jsonl"), Some(("b", "in/x.jsonl")));
        assert_eq!(split_uri("http://b/x"), None);
    }
}
