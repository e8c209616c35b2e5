//! `llmm batch --engine bedrock-batch`: the simulator's job API over a real S3-compatible server
//! (moto, from `MOTO_ENDPOINT` or started with `.ci/moto.sh`), with the local engine's lines.

use std::io::{Read as _, Write as _};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{llmm, parse_lines, root};

/// The moto endpoint: `MOTO_ENDPOINT`, or a server started once with `.ci/moto.sh` (stopped
/// when this test process exits). Fails with a clear message when neither is possible.
fn moto_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(url) = std::env::var("MOTO_ENDPOINT")
                && !url.is_empty()
            {
                return url;
            }
            let python = Command::new("python3").arg("--version").output();
            assert!(
                python.is_ok_and(|o| o.status.success()),
                "these tests need an S3-compatible server: set MOTO_ENDPOINT to a running moto \
                 server, or install python3 so that .ci/moto.sh can start one"
            );
            let out = Command::new("bash")
                .arg(root().join(".ci/moto.sh"))
                .env("MOTO_PARENT_PID", std::process::id().to_string())
                .output()
                .expect(".ci/moto.sh runs");
            assert!(
                out.status.success(),
                ".ci/moto.sh failed (set MOTO_ENDPOINT to a running moto server instead):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .clone()
}

/// Creates a bucket with one plain HTTP request (moto checks no signature).
fn create_bucket(endpoint: &str, bucket: &str) {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential=AKIDTEST/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, \
         Signature=0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[tokio::test]
async fn batch_engine_writes_the_local_engines_lines_and_resumes() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: String = (1..=6)
        .map(|i| format!("{{\"id\":\"q{i}\",\"prompt\":\"Question {i}\",\"max_tokens\":200}}\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let out = dir.path().join("out.jsonl");
    let args = [
        "--simulate",
        "batch",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--engine",
        "bedrock-batch",
        "--bucket",
        &bucket,
        "--role-arn",
        "arn:aws:iam::123456789012:role/batch",
        "--s3-endpoint-url",
        &moto,
        "--min-records-per-job",
        "1",
        "--max-records-per-job",
        "4",
        "--poll-seconds",
        "0.05",
    ];
    let run = llmm(&args).await;
    run.assert_code(0);
    assert!(
        run.stderr.contains("Bedrock batch inference"),
        "{}",
        run.stderr
    );
    // Lines come in completion order, as with the local engine.
    let mut results = parse_lines(&std::fs::read_to_string(&out).unwrap());
    results.sort_by_key(|l| l["id"].as_str().unwrap().to_owned());
    let ids: Vec<_> = results.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["q1", "q2", "q3", "q4", "q5", "q6"]);
    for line in &results {
        assert_eq!(line["ok"], true, "{line}");
        assert!(!line["text"].as_str().unwrap().is_empty());
        assert_eq!(line["model"], "anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(line["access_method"], "batch_job");
        assert!(line["usage"]["output_tokens"].as_u64().unwrap() > 0);
    }
    // Spread over the configured regions (the default three), one job in each.
    let regions: Vec<_> = results
        .iter()
        .map(|l| l["region"].as_str().unwrap())
        .collect();
    assert_eq!(
        regions,
        [
            "us-east-1",
            "us-east-1",
            "us-west-2",
            "us-west-2",
            "eu-west-1",
            "eu-west-1"
        ]
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out.jsonl.jobs.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["jobs"].as_array().unwrap().len(),
        3,
        "6 records over three regions"
    );

    // Everything is in the output: a rerun has nothing to do.
    let again = llmm(&args).await;
    again.assert_code(0);
    assert!(again.stderr.contains("nothing to do"), "{}", again.stderr);
}

#[tokio::test]
async fn batch_engine_options_are_checked_before_anything_runs() {
    let input = root().join("fixtures/batch/demo.jsonl");
    let input = input.to_str().unwrap();
    let no_bucket = llmm(&["--simulate", "batch", input, "--engine", "bedrock-batch"]).await;
    no_bucket.assert_code(2);
    assert!(
        no_bucket.stderr.contains("--bucket"),
        "{}",
        no_bucket.stderr
    );
    let no_s3 = llmm(&[
        "--simulate",
        "batch",
        input,
        "--engine",
        "bedrock-batch",
        "--bucket",
        "b",
        "--role-arn",
        "arn:aws:iam::123456789012:role/batch",
    ])
    .await;
    no_s3.assert_code(2);
    assert!(
        no_s3.stderr.contains("--s3-endpoint-url"),
        "{}",
        no_s3.stderr
    );
}

#[tokio::test]
async fn failed_jobs_are_resubmitted_then_reported_line_by_line() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-fail-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    // Jobs are created in order: job 0 (1st), job 1 (2nd), job 0 again (3rd).
    let scenario = dir.path().join("scenario.json");
    std::fs::write(&scenario, r#"{"failed_jobs": [1, 3]}"#).unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: String = (1..=4)
        .map(|i| format!("{{\"id\":\"q{i}\",\"prompt\":\"Question {i}\",\"max_tokens\":200}}\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let out = dir.path().join("out.jsonl");
    let run = llmm(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "--region",
        "us-east-1",
        "batch",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--engine",
        "bedrock-batch",
        "--bucket",
        &bucket,
        "--role-arn",
        "arn:aws:iam::123456789012:role/batch",
        "--s3-endpoint-url",
        &moto,
        "--min-records-per-job",
        "1",
        "--max-records-per-job",
        "2",
        "--poll-seconds",
        "0.05",
    ])
    .await;
    run.assert_code(1);
    let mut results = parse_lines(&std::fs::read_to_string(&out).unwrap());
    results.sort_by_key(|l| l["id"].as_str().unwrap().to_owned());
    assert_eq!(results.len(), 4, "no request is dropped");
    for line in &results[..2] {
        assert_eq!(line["ok"], false, "{line}");
        assert_eq!(line["error"]["kind"], "job_failed");
        assert!(
            line["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Simulated job failure")
        );
    }
    for line in &results[2..] {
        assert_eq!(line["ok"], true, "{line}");
    }
}

/// The output was cut off while being written (a kill, a full disk), even inside a multi-byte
/// character: the rerun writes the missing lines from results already collected, with no new
/// job, although the requests left are fewer than a job's minimum.
#[tokio::test]
async fn batch_engine_resumes_a_cut_off_output_without_losing_results() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-cut-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: String = (1..=6)
        .map(|i| format!("{{\"id\":\"q{i}\",\"prompt\":\"Question {i}\",\"max_tokens\":200}}\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let out = dir.path().join("out.jsonl");
    let args = [
        "--simulate",
        "batch",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--engine",
        "bedrock-batch",
        "--bucket",
        &bucket,
        "--role-arn",
        "arn:aws:iam::123456789012:role/batch",
        "--s3-endpoint-url",
        &moto,
        "--min-records-per-job",
        "3",
        "--poll-seconds",
        "0.05",
    ];
    llmm(&args).await.assert_code(0);
    let full = std::fs::read_to_string(&out).unwrap();
    let kept: Vec<&str> = full.lines().take(4).collect();
    let mut cut = kept.join("\n").into_bytes();
    cut.extend_from_slice(b"\n{\"id\":\"q5\",\"ok\":true,\"text\":\"caf");
    cut.push("é".as_bytes()[0]);
    std::fs::write(&out, &cut).unwrap();

    let again = llmm(&args).await;
    again.assert_code(0);
    assert!(again.stderr.contains("resuming"), "{}", again.stderr);
    let bytes = std::fs::read(&out).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let done: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut ids: Vec<_> = done.iter().map(|l| l["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["q1", "q2", "q3", "q4", "q5", "q6"]);
    for line in &done {
        assert_eq!(line["ok"], true, "{line}");
    }
}

/// Lines may name their model and region; a model that cannot run in the named region runs in a
/// configured one, and a line that fits nowhere stops the batch before anything is uploaded.
#[tokio::test]
async fn batch_engine_honours_model_and_region_on_lines() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-place-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines = [
        r#"{"id":"q1","prompt":"One","max_tokens":50}"#,
        r#"{"id":"q2","prompt":"Two","max_tokens":50}"#,
        r#"{"id":"q3","prompt":"Three","max_tokens":50,"region":"us-west-2"}"#,
        r#"{"id":"q4","prompt":"Four","max_tokens":50,"model":"Nova Lite"}"#,
        r#"{"id":"q5","prompt":"Five","max_tokens":50,"model":"Claude 3 Haiku","region":"xx-nowhere-1"}"#,
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("out.jsonl");
    let args = |input: &str| {
        vec![
            "--simulate".to_owned(),
            "--region".to_owned(),
            "us-east-1".to_owned(),
            "batch".to_owned(),
            input.to_owned(),
            "--output".to_owned(),
            out.to_str().unwrap().to_owned(),
            "--engine".to_owned(),
            "bedrock-batch".to_owned(),
            "--bucket".to_owned(),
            bucket.clone(),
            "--role-arn".to_owned(),
            "arn:aws:iam::123456789012:role/batch".to_owned(),
            "--s3-endpoint-url".to_owned(),
            moto.clone(),
            "--min-records-per-job".to_owned(),
            "1".to_owned(),
            "--poll-seconds".to_owned(),
            "0.05".to_owned(),
        ]
    };
    let a = args(input.to_str().unwrap());
    let run = llmm(&a.iter().map(String::as_str).collect::<Vec<_>>()).await;
    run.assert_code(0);
    assert!(
        run.stderr.contains("cannot run in xx-nowhere-1"),
        "{}",
        run.stderr
    );
    let results = parse_lines(&std::fs::read_to_string(&out).unwrap());
    let by_id = |id: &str| results.iter().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(results.len(), 5);
    for id in ["q1", "q2", "q5"] {
        let l = by_id(id);
        assert_eq!(l["region"], "us-east-1", "{l}");
        assert_eq!(l["model"], "anthropic.claude-3-haiku-20240307-v1:0", "{l}");
    }
    assert_eq!(by_id("q3")["region"], "us-west-2");
    let q4 = by_id("q4");
    assert!(q4["model"].as_str().unwrap().contains("nova-lite"), "{q4}");
    assert_eq!(q4["region"], "us-east-1");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, r#"{"id":"z","prompt":"Hi","model":"No Such Model"}"#).unwrap();
    let b = args(bad.to_str().unwrap());
    let run = llmm(&b.iter().map(String::as_str).collect::<Vec<_>>()).await;
    run.assert_code(2);
    assert!(run.stderr.contains("No Such Model"), "{}", run.stderr);
}

/// Jobs go only where the catalog lists batch inference for the model: Nova Lite is callable on
/// demand in us-west-2 and eu-west-2, but runs batch jobs in us-west-2 only through its `us.`
/// profile and in eu-west-2 not at all (the simulator refuses such a job as Bedrock does).
#[tokio::test]
async fn batch_engine_sends_jobs_only_where_the_model_runs_batch_inference() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-batchregions-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines = [
        r#"{"id":"q1","prompt":"One","max_tokens":50}"#,
        r#"{"id":"q2","prompt":"Two","max_tokens":50}"#,
        r#"{"id":"q3","prompt":"Three","max_tokens":50,"model":"Nova Lite","region":"eu-west-2"}"#,
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("out.jsonl");
    let run = llmm(&[
        "--simulate",
        "--model",
        "Nova Lite",
        "--region",
        "us-west-2",
        "--region",
        "eu-west-2",
        "batch",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--engine",
        "bedrock-batch",
        "--bucket",
        &bucket,
        "--role-arn",
        "arn:aws:iam::123456789012:role/batch",
        "--s3-endpoint-url",
        &moto,
        "--min-records-per-job",
        "1",
        "--poll-seconds",
        "0.05",
    ])
    .await;
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("not used for batch jobs: Nova Lite in eu-west-2"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("cannot run in eu-west-2"),
        "{}",
        run.stderr
    );
    let results = parse_lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(results.len(), 3);
    for l in &results {
        assert_eq!(l["ok"], true, "{l}");
        assert_eq!(l["region"], "us-west-2", "{l}");
        assert_eq!(l["model"], "amazon.nova-lite-v1:0", "{l}");
        assert_eq!(l["access_method"], "batch_job", "{l}");
    }
}

/// The arguments of a `--simulate` bedrock-batch run with `global` options before `batch`.
fn batch_args(global: &[&str], input: &str, out: &str, bucket: &str, moto: &str) -> Vec<String> {
    let mut a: Vec<String> = ["--simulate"]
        .iter()
        .chain(global)
        .map(|s| (*s).to_owned())
        .collect();
    a.extend(
        [
            "batch",
            input,
            "--output",
            out,
            "--engine",
            "bedrock-batch",
            "--bucket",
            bucket,
            "--role-arn",
            "arn:aws:iam::123456789012:role/batch",
            "--s3-endpoint-url",
            moto,
            "--min-records-per-job",
            "1",
            "--poll-seconds",
            "0.05",
        ]
        .map(str::to_owned),
    );
    a
}

/// Claude 3.5 Haiku is callable on demand in us-east-2 but runs batch jobs only by its base id
/// in us-west-2 and by its `us.` profile in us-east-1 and us-west-2: its requests, a line pinned
/// to us-east-2 included, go to us-west-2, and a line pinned to us-east-1 runs there.
#[tokio::test]
async fn batch_engine_places_claude_requests_where_it_runs_batch_inference() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-claude-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines = [
        r#"{"id":"q1","prompt":"One","max_tokens":50}"#,
        r#"{"id":"q2","prompt":"Two","max_tokens":50}"#,
        r#"{"id":"q3","prompt":"Three","max_tokens":50,"model":"Claude 3.5 Haiku","region":"us-east-2"}"#,
        r#"{"id":"q4","prompt":"Four","max_tokens":50,"model":"Claude 3.5 Haiku","region":"us-east-1"}"#,
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("out.jsonl");
    let a = batch_args(
        &[
            "--model",
            "Claude 3.5 Haiku",
            "--region",
            "us-east-2",
            "--region",
            "us-west-2",
        ],
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        &bucket,
        &moto,
    );
    let run = llmm(&a.iter().map(String::as_str).collect::<Vec<_>>()).await;
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("not used for batch jobs: Claude 3.5 Haiku in us-east-2"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("cannot run in us-east-2"),
        "{}",
        run.stderr
    );
    let results = parse_lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(results.len(), 4);
    for l in &results {
        assert_eq!(l["ok"], true, "{l}");
        assert_eq!(
            l["model"], "anthropic.claude-3-5-haiku-20241022-v1:0",
            "{l}"
        );
        assert_eq!(l["access_method"], "batch_job", "{l}");
        let region = if l["id"] == "q4" {
            "us-east-1"
        } else {
            "us-west-2"
        };
        assert_eq!(l["region"], region, "{l}");
    }
    let keys = object_keys(&moto, &bucket);
    assert!(keys.iter().any(|k| k.ends_with(".jsonl")), "{keys:?}");
}

/// A model the catalog has no batch-inference data for is still tried when no configured model
/// has any, with one warning that names it and says what to do.
#[tokio::test]
async fn a_model_without_batch_data_is_tried_with_a_warning_naming_it() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-nodata-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, r#"{"id":"q1","prompt":"One","max_tokens":50}"#).unwrap();
    let out = dir.path().join("out.jsonl");
    let a = batch_args(
        &["--model", "Claude 3.7 Sonnet", "--region", "eu-west-2"],
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        &bucket,
        &moto,
    );
    let run = llmm(&a.iter().map(String::as_str).collect::<Vec<_>>()).await;
    run.assert_code(0);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("no batch-inference data"))
        .unwrap_or_else(|| panic!("no warning:\n{}", run.stderr));
    for part in [
        "Claude 3.7 Sonnet (anthropic.claude-3-7-sonnet-20250219-v1:0)",
        "in eu-west-2 may be refused",
        "batch-inference-supported.html",
        "--model",
        "Claude 3 Haiku",
    ] {
        assert!(warning.contains(part), "{part:?} not in {warning}");
    }
    let results = parse_lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ok"], true, "{}", results[0]);
}

/// The object keys in `bucket` (one plain HTTP request; moto checks no signature).
fn object_keys(endpoint: &str, bucket: &str) -> Vec<String> {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    write!(
        s,
        "GET /{bucket}?list-type=2 HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential=AKIDTEST/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, \
         Signature=0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    reply
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

/// A model the catalog lists for batch inference, but in no configured region, stops the batch
/// before anything is uploaded, with the regions where it runs batch jobs: configured, or on a
/// line.
#[tokio::test]
async fn a_model_with_batch_regions_outside_the_configured_ones_stops_before_upload() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-outside-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let out = dir.path().join("out.jsonl");
    let (input_s, out_s) = (input.to_str().unwrap(), out.to_str().unwrap());

    // Configured: Claude 3.5 Haiku runs batch jobs in us-east-1 and us-west-2, not eu-west-1.
    std::fs::write(&input, r#"{"id":"q1","prompt":"One","max_tokens":50}"#).unwrap();
    let a = batch_args(
        &["--model", "Claude 3.5 Haiku", "--region", "eu-west-1"],
        input_s,
        out_s,
        &bucket,
        &moto,
    );
    let run = llmm(&a.iter().map(String::as_str).collect::<Vec<_>>()).await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("no configured model can run batch inference jobs")
            && run.stderr.contains("us-east-1, us-west-2"),
        "{}",
        run.stderr
    );

    // On a line: Llama 3.1 405B Instruct runs batch jobs in us-west-2 only.
    let lines = [
        r#"{"id":"q1","prompt":"One","max_tokens":50}"#,
        r#"{"id":"q2","prompt":"Two","max_tokens":50,"model":"Llama 3.1 405B Instruct"}"#,
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let a = batch_args(&["--region", "us-east-1"], input_s, out_s, &bucket, &moto);
    let run = llmm(&a.iter().map(String::as_str).collect::<Vec<_>>()).await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("Llama 3.1 405B Instruct cannot run in any configured region (us-east-1)")
            && run
                .stderr
                .contains("it runs batch inference jobs in us-west-2"),
        "{}",
        run.stderr
    );
    assert_eq!(object_keys(&moto, &bucket), Vec::<String>::new());
}

/// `--engine auto` runs batch jobs when they can be formed and waited for, locally otherwise,
/// and says which with both estimated costs.
#[tokio::test]
async fn engine_auto_chooses_by_size_wait_and_setup() {
    let moto = moto_endpoint();
    let bucket = format!("llmm-auto-{}", std::process::id());
    create_bucket(&moto, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: String = (1..=4)
        .map(|i| format!("{{\"id\":\"q{i}\",\"prompt\":\"Question {i}\",\"max_tokens\":100}}\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let run = |extra: &'static [&'static str], out: &str| {
        let mut a: Vec<String> = [
            "--simulate",
            "--region",
            "us-east-1",
            "batch",
            input.to_str().unwrap(),
            "--output",
            dir.path().join(out).to_str().unwrap(),
            "--engine",
            "auto",
            "--s3-endpoint-url",
            &moto,
            "--poll-seconds",
            "0.05",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        async move { llmm(&a.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let role = "arn:aws:iam::123456789012:role/batch";
    let bucket: &'static str = Box::leak(bucket.into_boxed_str());
    let setup: &'static [&'static str] =
        Box::leak(vec!["--bucket", bucket, "--role-arn", role].into_boxed_slice());

    // Four requests below the default minimum of 100 per job: local.
    let small = run(setup, "a.jsonl").await;
    small.assert_code(0);
    assert!(
        small.stderr.contains("chose local: fewer requests"),
        "{}",
        small.stderr
    );
    assert!(small.stderr.contains("as batch jobs"), "{}", small.stderr);
    assert!(small.stderr.contains("$"), "{}", small.stderr);

    // Enough for a job, no limit on the wait: batch jobs, at the lower estimated cost.
    let mut with_min = setup.to_vec();
    with_min.extend(["--min-records-per-job", "1"]);
    let with_min: &'static [&'static str] = Box::leak(with_min.into_boxed_slice());
    let big = run(with_min, "b.jsonl").await;
    big.assert_code(0);
    assert!(big.stderr.contains("chose bedrock-batch"), "{}", big.stderr);
    let lines = parse_lines(&std::fs::read_to_string(dir.path().join("b.jsonl")).unwrap());
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l["access_method"] == "batch_job"));

    // A wait shorter than a job may take: local.
    let mut hurried = with_min.to_vec();
    hurried.extend(["--max-wait", "2h"]);
    let hurried: &'static [&'static str] = Box::leak(hurried.into_boxed_slice());
    let quick = run(hurried, "c.jsonl").await;
    quick.assert_code(0);
    assert!(
        quick.stderr.contains("more than --max-wait"),
        "{}",
        quick.stderr
    );

    // Without a bucket: local.
    let plain = run(&[], "d.jsonl").await;
    plain.assert_code(0);
    assert!(plain.stderr.contains("need --bucket"), "{}", plain.stderr);
}
