//! Batch runs end to end: plan, upload, create, poll, resubmit, download, merge, resume.

use std::time::Duration;

use aws_sdk_bedrock::types::ModelInvocationJobStatus;
use bedrock_batch::{BatchConfig, RecordErrorKind, RunState, Target, output_text};
use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, LatencyModel, Operation, Scenario};

use crate::support::{Env, HAIKU3, ROLE, free_request, limits, requests};

#[tokio::test]
async fn runs_jobs_and_merges_results_in_input_order() {
    // The third Converse call is throttled inside its job; each
    // record takes 30 ms, so the engine polls a few times.
    let scenario = Scenario::default()
        .with_latency(LatencyModel::new(30, 0.0))
        .with_fault(
            FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException))
                .operations([Operation::Converse])
                .calls([3]),
        );
    let env = Env::start(scenario).await;
    let engine = env.engine(env.config(limits(1, 2)));
    let results = engine.run(requests(5)).await.unwrap();

    let ids: Vec<_> = results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["q0", "q1", "q2", "q3", "q4"]);
    assert_eq!(env.creates(), 3, "5 records at 2 per job");
    for r in &results {
        assert_eq!(r.model_id, HAIKU3);
        assert_eq!(r.region, "us-east-1");
        assert!(
            r.job_arn
                .as_deref()
                .unwrap()
                .contains(":model-invocation-job/")
        );
        match &r.outcome {
            Err(e) => {
                assert_eq!(e.kind, RecordErrorKind::Model);
                assert_eq!(e.code, Some(429));
            }
            Ok(out) => {
                assert!(!output_text(out).is_empty(), "{out}");
                assert_eq!(out["stopReason"], "end_turn");
            }
        }
    }
    // Jobs run concurrently, so which record gets the third call varies; exactly one does.
    assert_eq!(results.iter().filter(|r| r.outcome.is_err()).count(), 1);
    // Each record carried its own request body.
    let bodies: Vec<String> = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::Converse)
        .map(|r| {
            r.body["messages"][0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(bodies.len(), 5);
    assert!(bodies.contains(&"question 4".to_owned()));

    // Waits start at the initial interval and double up to the maximum.
    let waits = env.sleep.waits.lock().unwrap().clone();
    assert!(!waits.is_empty());
    let expected = [20u64, 40, 80, 80, 80, 80, 80, 80];
    for (w, e) in waits
        .iter()
        .zip(expected.iter().chain(std::iter::repeat(&80)))
    {
        assert_eq!(w.as_millis() as u64, *e);
    }

    // The state file records every job as done.
    let state = RunState::load(&engine.config().state_path)
        .unwrap()
        .unwrap();
    assert_eq!(state.jobs.len(), 3);
    assert!(
        state
            .jobs
            .iter()
            .all(|j| j.status.as_deref() == Some("Completed"))
    );
}

#[tokio::test]
async fn writes_bedrock_style_outputs_and_manifest() {
    let env = Env::start(Scenario::default()).await;
    let engine = env.engine(env.config(limits(1, 10)));
    engine.run(requests(3)).await.unwrap();
    let listed = env
        .s3
        .list_objects_v2()
        .bucket(&env.bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let out_key = keys.iter().find(|k| k.ends_with(".jsonl.out")).unwrap();
    let manifest_key = keys
        .iter()
        .find(|k| k.ends_with("/manifest.json.out"))
        .unwrap();
    // <output prefix>/<job id>/<input file name>.out
    assert_eq!(
        out_key.rsplit_once('/').unwrap().0,
        manifest_key.rsplit_once('/').unwrap().0
    );
    let get = |key: &str| {
        let s3 = env.s3.clone();
        let bucket = env.bucket.clone();
        let key = key.to_owned();
        async move {
            let o = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            String::from_utf8(o.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
        }
    };
    let manifest: serde_json::Value = serde_json::from_str(&get(manifest_key).await).unwrap();
    assert_eq!(manifest["totalRecordCount"], 3);
    assert_eq!(manifest["processedRecordCount"], 3);
    assert_eq!(manifest["successRecordCount"], 3);
    assert_eq!(manifest["errorRecordCount"], 0);
    assert!(manifest["outputTokenCount"].as_u64().unwrap() > 0);
    let out = get(out_key).await;
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["recordId"], "R0000000000");
    assert_eq!(first["modelInput"]["inferenceConfig"]["maxTokens"], 200);
    assert!(first["modelOutput"]["output"]["message"]["content"].is_array());
}

#[tokio::test]
async fn failed_job_is_resubmitted_once_then_reported() {
    let env = Env::start(Scenario {
        failed_jobs: vec![1],
        ..Scenario::default()
    })
    .await;
    let results = env
        .engine(env.config(limits(1, 10)))
        .run(requests(2))
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.outcome.is_ok()), "{results:?}");
    assert_eq!(env.creates(), 2);

    let env = Env::start(Scenario {
        failed_jobs: vec![1, 2],
        ..Scenario::default()
    })
    .await;
    let results = env
        .engine(env.config(limits(1, 10)))
        .run(requests(2))
        .await
        .unwrap();
    assert_eq!(results.len(), 2, "no record is dropped");
    for r in &results {
        let e = r.outcome.as_ref().unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::JobFailed);
        assert!(e.message.contains("Simulated job failure"), "{}", e.message);
        assert!(
            e.message.contains("; "),
            "both attempts are reported: {}",
            e.message
        );
    }
    assert_eq!(env.creates(), 2);
}

#[tokio::test]
async fn restarted_run_reuses_its_jobs() {
    let env = Env::start(Scenario::default()).await;
    let config = env.config(limits(1, 2));
    let first = env.engine(config.clone()).run(requests(3)).await.unwrap();
    assert_eq!(env.creates(), 2);

    // Same requests: answered from the ledger, nothing is created again.
    let again = env.engine(config.clone()).run(requests(3)).await.unwrap();
    assert_eq!(env.creates(), 2);
    assert_eq!(first, again);

    // Without the ledger, and after a crash between CreateModelInvocationJob and the state
    // write: the job is asked for again with the same client token, and the service answers
    // with the same job.
    std::fs::remove_file(&config.ledger_path).unwrap();
    let mut state = RunState::load(&config.state_path).unwrap().unwrap();
    let arn = state.jobs[0].job_arn.take();
    state.save(&config.state_path).unwrap();
    let third = env.engine(config.clone()).run(requests(3)).await.unwrap();
    assert_eq!(env.creates(), 3);
    let state = RunState::load(&config.state_path).unwrap().unwrap();
    assert_eq!(state.jobs[0].job_arn, arn);
    assert_eq!(first, third);
    let listed = aws_sdk_bedrock::Client::new(&env.sdk)
        .list_model_invocation_jobs()
        .send()
        .await
        .unwrap();
    assert_eq!(listed.invocation_job_summaries().len(), 2);

    // A lost state file and ledger: the jobs are found again by the requests they hold.
    std::fs::remove_file(&config.state_path).unwrap();
    std::fs::remove_file(&config.ledger_path).unwrap();
    let fourth = env.engine(config.clone()).run(requests(3)).await.unwrap();
    assert_eq!(env.creates(), 3);
    assert_eq!(first, fourth);

    // One more request: only it goes into a new job.
    let fifth = env.engine(config).run(requests(4)).await.unwrap();
    assert_eq!(env.creates(), 4);
    assert_eq!(fifth[..3], first[..]);
    assert!(fifth[3].outcome.is_ok());
}

#[tokio::test]
async fn groups_below_the_minimum_are_reported_not_submitted() {
    let env = Env::start(Scenario::default()).await;
    let results = env
        .engine(env.config(limits(3, 10)))
        .run(requests(2))
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    for r in &results {
        let e = r.outcome.as_ref().unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::TooFewRecords);
        assert!(e.message.contains("at least 3"), "{}", e.message);
    }
    assert_eq!(env.creates(), 0);
}

#[tokio::test]
async fn job_api_lists_filters_and_stops() {
    let env = Env::start(Scenario::default().with_latency(LatencyModel::new(200, 0.0))).await;
    let config = env.config(limits(1, 50));
    let engine = env.engine(config.clone());
    let run = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run(requests(20)).await }
    });
    let client = aws_sdk_bedrock::Client::new(&env.sdk);
    // Wait until the job exists and runs.
    let mut arn = None;
    for _ in 0..200 {
        let listed = client
            .list_model_invocation_jobs()
            .name_contains("llmm-")
            .send()
            .await
            .unwrap();
        if let Some(j) = listed.invocation_job_summaries().first()
            && *j.status().unwrap() == ModelInvocationJobStatus::InProgress
        {
            assert_eq!(j.role_arn(), ROLE);
            assert_eq!(j.model_id(), HAIKU3);
            arn = Some(j.job_arn().to_owned());
            break;
        }
        bedrock_retry::Sleep::sleep(&bedrock_retry::TokioSleep::new(), Duration::from_millis(20))
            .await;
    }
    let arn = arn.expect("the job reached InProgress");
    let none = client
        .list_model_invocation_jobs()
        .status_equals(ModelInvocationJobStatus::Completed)
        .send()
        .await
        .unwrap();
    assert!(none.invocation_job_summaries().is_empty());
    assert_eq!(engine.stop_all().await.unwrap(), 1);
    let results = run.await.unwrap().unwrap();
    let got = client
        .get_model_invocation_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(*got.status().unwrap(), ModelInvocationJobStatus::Stopped);
    let processed = got.processed_record_count().unwrap();
    assert!(processed < 20);
    assert_eq!(results.len(), 20);
    // The records the stopped job finished keep their answers; the others failed with it.
    let ok = results.iter().filter(|r| r.outcome.is_ok()).count();
    assert_eq!(ok as i64, processed);
    assert!(
        results
            .iter()
            .filter_map(|r| r.outcome.as_ref().err())
            .all(|e| e.kind == RecordErrorKind::JobFailed && e.message.contains("Stopped"))
    );
    let missing = client
        .get_model_invocation_job()
        .job_identifier("nosuchjob")
        .send()
        .await;
    assert!(
        missing
            .unwrap_err()
            .into_service_error()
            .is_resource_not_found_exception()
    );
}

#[tokio::test]
async fn creation_refused_for_a_quota_is_retried_on_a_later_poll() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(
            BedrockErrorKind::ServiceQuotaExceededException,
        ))
        .operations([Operation::CreateModelInvocationJob])
        .calls([2]),
    );
    let env = Env::start(scenario).await;
    let results = env
        .engine(env.config(limits(1, 2)))
        .run(requests(4))
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.outcome.is_ok()), "{results:?}");
    let stats = env.sim.stats();
    assert_eq!(env.creates(), 3, "two jobs, one creation refused once");
    assert_eq!(
        stats.by_outcome.get("ServiceQuotaExceededException"),
        Some(&1)
    );
}

#[tokio::test]
async fn job_api_validates_and_honours_client_tokens() {
    use aws_sdk_bedrock::types::{
        ModelInvocationJobInputDataConfig as In, ModelInvocationJobOutputDataConfig as Out,
        ModelInvocationJobS3InputDataConfig as S3In, ModelInvocationJobS3OutputDataConfig as S3Out,
        ModelInvocationType,
    };
    let env = Env::start(Scenario::default()).await;
    let client = aws_sdk_bedrock::Client::new(&env.sdk);
    let create = |name: &str, model: &str, token: &str, kind: ModelInvocationType| {
        client
            .create_model_invocation_job()
            .job_name(name)
            .client_request_token(token)
            .role_arn(ROLE)
            .model_id(model)
            .model_invocation_type(kind)
            .input_data_config(In::S3InputDataConfig(
                S3In::builder()
                    .s3_uri(format!("s3://{}/missing.jsonl", env.bucket))
                    .build()
                    .unwrap(),
            ))
            .output_data_config(Out::S3OutputDataConfig(
                S3Out::builder()
                    .s3_uri(format!("s3://{}/out/", env.bucket))
                    .build()
                    .unwrap(),
            ))
            .send()
    };
    let bad_model = create("a", "no.such-model", "t1", ModelInvocationType::Converse).await;
    assert!(
        bad_model
            .unwrap_err()
            .into_service_error()
            .is_validation_exception()
    );
    let invoke = create("a", HAIKU3, "t1", ModelInvocationType::InvokeModel).await;
    assert!(
        invoke
            .unwrap_err()
            .into_service_error()
            .is_validation_exception()
    );

    let first = create("a", HAIKU3, "t1", ModelInvocationType::Converse)
        .await
        .unwrap();
    let again = create("a", HAIKU3, "t1", ModelInvocationType::Converse)
        .await
        .unwrap();
    assert_eq!(first.job_arn(), again.job_arn(), "same token, same job");
    let clash = create("a", HAIKU3, "t2", ModelInvocationType::Converse).await;
    assert!(
        clash
            .unwrap_err()
            .into_service_error()
            .is_validation_exception()
    );

    // The input object does not exist: the job fails with S3's answer in its message.
    let mut status = None;
    for _ in 0..100 {
        let got = client
            .get_model_invocation_job()
            .job_identifier(first.job_arn())
            .send()
            .await
            .unwrap();
        if *got.status().unwrap() == ModelInvocationJobStatus::Failed {
            assert!(
                got.message().unwrap().contains("missing.jsonl"),
                "{:?}",
                got.message()
            );
            assert_eq!(got.client_request_token(), Some("t1"));
            assert!(got.end_time().is_some());
            status = got.status().cloned();
            break;
        }
        bedrock_retry::Sleep::sleep(&bedrock_retry::TokioSleep::new(), Duration::from_millis(20))
            .await;
    }
    assert_eq!(status, Some(ModelInvocationJobStatus::Failed));
    let stop = client
        .stop_model_invocation_job()
        .job_identifier(first.job_arn())
        .send()
        .await;
    assert!(
        stop.unwrap_err()
            .into_service_error()
            .is_validation_exception()
    );
}

/// A run over the requests still missing from a half-written output (the caller died while
/// writing it) answers them without new jobs, whatever is left of the local files.
#[tokio::test]
async fn a_half_written_output_loses_no_result() {
    let env = Env::start(Scenario::default()).await;
    let config = env.config(limits(3, 10));
    let first = env.engine(config.clone()).run(requests(6)).await.unwrap();
    assert!(first.iter().all(|r| r.outcome.is_ok()), "{first:?}");
    assert_eq!(env.creates(), 1);
    let rest = || requests(6).split_off(4);

    // With the ledger: the two requests (fewer than a job's minimum) come from it.
    let again = env.engine(config.clone()).run(rest()).await.unwrap();
    assert_eq!(again[..], first[4..]);

    // Without the ledger: the state file's job holds them; its output is read again.
    std::fs::remove_file(&config.ledger_path).unwrap();
    let again = env.engine(config.clone()).run(rest()).await.unwrap();
    assert_eq!(again[..], first[4..]);

    // Without either: the job is found in Bedrock by the requests its index names.
    std::fs::remove_file(&config.ledger_path).unwrap();
    std::fs::remove_file(&config.state_path).unwrap();
    let again = env.engine(config.clone()).run(rest()).await.unwrap();
    assert_eq!(again[..], first[4..]);
    assert_eq!(env.creates(), 1, "no job was created again");

    // An edited request is not answered by its old version.
    let mut edited = rest();
    edited[0].body["messages"][0]["content"][0]["text"] = "changed".into();
    let got = env.engine(config).run(edited).await.unwrap();
    assert_eq!(got[1], first[5]);
    assert_eq!(
        got[0].outcome.as_ref().unwrap_err().kind,
        RecordErrorKind::TooFewRecords
    );
}

#[tokio::test]
async fn a_rejected_job_fails_only_its_records_and_is_tried_again_on_rerun() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ValidationException))
            .operations([Operation::CreateModelInvocationJob])
            .calls([1]),
    );
    let env = Env::start(scenario).await;
    let config = env.config(limits(1, 2));
    let results = env.engine(config.clone()).run(requests(4)).await.unwrap();
    assert_eq!(results.len(), 4);
    let rejected: Vec<_> = results
        .iter()
        .filter_map(|r| r.outcome.as_ref().err())
        .collect();
    assert_eq!(rejected.len(), 2, "{results:?}");
    for e in rejected {
        assert_eq!(e.kind, RecordErrorKind::JobRejected);
        assert!(e.message.contains("ValidationException"), "{}", e.message);
    }
    assert_eq!(results.iter().filter(|r| r.outcome.is_ok()).count(), 2);

    // The rejected job's records are not in the ledger: a rerun creates that job again.
    let again = env.engine(config).run(requests(4)).await.unwrap();
    assert!(again.iter().all(|r| r.outcome.is_ok()), "{again:?}");
    assert_eq!(env.creates(), 3);
}

#[tokio::test]
async fn creation_refused_for_a_quota_ends_after_a_bounded_wait() {
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(
            BedrockErrorKind::ServiceQuotaExceededException,
        ))
        .operations([Operation::CreateModelInvocationJob]),
    );
    let env = Env::start(scenario).await;
    let config = BatchConfig {
        max_quota_wait: Duration::from_millis(100),
        ..env.config(limits(1, 2))
    };
    let results = env.engine(config).run(requests(3)).await.unwrap();
    assert_eq!(results.len(), 3);
    for r in &results {
        let e = r.outcome.as_ref().unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::QuotaExceeded, "{e:?}");
    }
    // 20 + 40 + 80 ms of recorded waits reach the 100 ms bound.
    let waits: Vec<u64> = env
        .sleep
        .waits
        .lock()
        .unwrap()
        .iter()
        .map(|w| w.as_millis() as u64)
        .collect();
    assert_eq!(waits, [20, 40, 80]);
}

/// Replaces the output of a finished job with `edit(text)`.
async fn edit_output(env: &Env, edit: impl Fn(&str) -> Vec<u8>) {
    let listed = env
        .s3
        .list_objects_v2()
        .bucket(&env.bucket)
        .send()
        .await
        .unwrap();
    let key = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.ends_with(".jsonl.out"))
        .unwrap()
        .to_owned();
    let o = env
        .s3
        .get_object()
        .bucket(&env.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(o.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    env.s3
        .put_object()
        .bucket(&env.bucket)
        .key(&key)
        .body(edit(&text).into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn unreadable_output_lines_fail_only_their_records() {
    let env = Env::start(Scenario::default()).await;
    let config = env.config(limits(1, 10));
    let first = env.engine(config.clone()).run(requests(4)).await.unwrap();
    assert!(first.iter().all(|r| r.outcome.is_ok()));
    // The second line is garbage and the last one is cut off inside a two-byte character.
    edit_output(&env, |text| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines[1] = "{not json".to_owned();
        let last = lines.pop().unwrap();
        let cut = last.find("\"modelOutput\"").unwrap();
        let mut out = lines.join("\n").into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&last.as_bytes()[..cut]);
        out.extend_from_slice(&"é".as_bytes()[..1]);
        out
    })
    .await;
    std::fs::remove_file(&config.ledger_path).unwrap();
    let got = env.engine(config).run(requests(4)).await.unwrap();
    assert_eq!(got[0], first[0]);
    assert_eq!(got[2], first[2]);
    let e1 = got[1].outcome.as_ref().unwrap_err();
    assert_eq!(e1.kind, RecordErrorKind::MissingOutput, "{e1:?}");
    assert!(e1.message.contains("could not be read"), "{}", e1.message);
    let e3 = got[3].outcome.as_ref().unwrap_err();
    assert_eq!(e3.kind, RecordErrorKind::UnreadableOutput, "{e3:?}");
}

#[tokio::test]
async fn free_requests_spread_over_models_and_regions() {
    let env = Env::start(Scenario::default()).await;
    let config = BatchConfig {
        targets: vec![
            Target::new(HAIKU3, "us-east-1"),
            Target::new(HAIKU3, "us-west-2"),
        ],
        ..env.config(limits(2, 10))
    };
    let mut reqs: Vec<_> = (0..6).map(free_request).collect();
    // A pinned request runs where it is pinned.
    reqs.push(free_request(6).on(HAIKU3, "us-west-2"));
    let results = env.engine(config).run(reqs).await.unwrap();
    assert!(results.iter().all(|r| r.outcome.is_ok()), "{results:?}");
    let regions: Vec<&str> = results.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(
        regions,
        [
            "us-east-1",
            "us-east-1",
            "us-east-1",
            "us-west-2",
            "us-west-2",
            "us-west-2",
            "us-west-2"
        ]
    );
    assert_eq!(env.creates(), 2, "one job per (model, region)");
}

#[tokio::test]
async fn an_expired_job_keeps_its_finished_records_and_resubmits_the_rest() {
    let env = Env::start(Scenario {
        expired_jobs: vec![1],
        ..Scenario::default()
    })
    .await;
    let config = BatchConfig {
        timeout_hours: Some(48),
        ..env.config(limits(1, 10))
    };
    let results = env.engine(config.clone()).run(requests(4)).await.unwrap();
    assert!(results.iter().all(|r| r.outcome.is_ok()), "{results:?}");
    assert_eq!(env.creates(), 2);
    let converse = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.operation == Operation::Converse)
        .count();
    assert_eq!(
        converse, 4,
        "two records in the expired job, two in the resubmission"
    );
    let client = aws_sdk_bedrock::Client::new(&env.sdk);
    let state = RunState::load(&config.state_path).unwrap().unwrap();
    assert!(state.jobs[0].input_key.ends_with("/input-a1.jsonl"));
    let got = client
        .get_model_invocation_job()
        .job_identifier(state.jobs[0].job_arn.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.timeout_duration_in_hours(), Some(48));
    assert!(got.job_expiration_time().is_some());

    // Without resubmissions the unfinished records fail, the finished ones keep their answers.
    let env = Env::start(Scenario {
        expired_jobs: vec![1],
        ..Scenario::default()
    })
    .await;
    let config = BatchConfig {
        max_resubmits: 0,
        ..env.config(limits(1, 10))
    };
    let results = env.engine(config).run(requests(4)).await.unwrap();
    assert!(
        results[..2].iter().all(|r| r.outcome.is_ok()),
        "{results:?}"
    );
    for r in &results[2..] {
        let e = r.outcome.as_ref().unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::JobFailed);
        assert!(e.message.contains("Expired"), "{}", e.message);
    }

    // Bedrock's bounds on the timeout.
    let env = Env::start(Scenario::default()).await;
    let config = BatchConfig {
        timeout_hours: Some(12),
        ..env.config(limits(1, 10))
    };
    let results = env.engine(config).run(requests(1)).await.unwrap();
    let e = results[0].outcome.as_ref().unwrap_err();
    assert_eq!(e.kind, RecordErrorKind::JobRejected);
    assert!(
        e.message.contains("timeoutDurationInHours"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn large_inputs_are_streamed_in_parts() {
    let env = Env::start(Scenario::default()).await;
    let config = BatchConfig {
        upload_part_bytes: 5 << 20,
        ..env.config(limits(1, 100))
    };
    // 60 records of about 100 kB: two parts of at least 5 MiB and one more.
    let big = "x".repeat(100_000);
    let reqs: Vec<_> = (0..60)
        .map(|i| {
            let mut r = requests(1).remove(0);
            r.id = format!("q{i}");
            r.body["messages"][0]["content"][0]["text"] = format!("{i} {big}").into();
            r
        })
        .collect();
    let results = env.engine(config).run(reqs).await.unwrap();
    assert_eq!(results.len(), 60);
    assert!(
        results.iter().all(|r| r.outcome.is_ok()),
        "{:?}",
        results[0]
    );
    let listed = env
        .s3
        .list_objects_v2()
        .bucket(&env.bucket)
        .send()
        .await
        .unwrap();
    let input = listed
        .contents()
        .iter()
        .find(|o| o.key().is_some_and(|k| k.ends_with("job-00000.jsonl")))
        .unwrap();
    assert!(input.size().unwrap() > 6_000_000);
    assert!(
        input.e_tag().unwrap().trim_matches('"').ends_with("-2"),
        "a multipart upload of two parts: {:?}",
        input.e_tag()
    );
}

/// The same requests under another prefix (another output, another state file) are other
/// jobs: a client token shared with the first run would make Bedrock answer with the first
/// run's job, whose output is elsewhere.
#[tokio::test]
async fn the_same_requests_under_another_prefix_are_other_jobs() {
    let env = Env::start(Scenario::default()).await;
    let first = env
        .engine(env.config(limits(1, 10)))
        .run(requests(3))
        .await
        .unwrap();
    assert!(first.iter().all(|r| r.outcome.is_ok()));
    let other = tempfile::tempdir().unwrap();
    let config = BatchConfig {
        prefix: "elsewhere".to_owned(),
        ..BatchConfig::new(&env.bucket, ROLE, other.path().join("state.json"))
    };
    let config = BatchConfig {
        limits: limits(1, 10),
        poll: env.config(limits(1, 10)).poll,
        ..config
    };
    let second = env.engine(config).run(requests(3)).await.unwrap();
    assert!(second.iter().all(|r| r.outcome.is_ok()), "{second:?}");
    assert_eq!(env.creates(), 2);
    let listed = aws_sdk_bedrock::Client::new(&env.sdk)
        .list_model_invocation_jobs()
        .send()
        .await
        .unwrap();
    assert_eq!(listed.invocation_job_summaries().len(), 2);
}

/// Bedrock runs batch jobs for a model only in the regions AWS lists for it: Nova Lite by its
/// base id in us-east-1, by its `us.` profile in us-west-2, and not by its base id in us-west-2
/// (though it is callable there on demand). The simulator refuses that job as Bedrock does, and
/// only its records fail.
#[tokio::test]
async fn a_model_outside_its_batch_regions_is_refused_and_fails_only_its_records() {
    const LITE: &str = "amazon.nova-lite-v1:0";
    let env = Env::start(Scenario::default()).await;
    let config = BatchConfig {
        targets: vec![
            Target::new(LITE, "us-east-1"),
            Target::new("us.amazon.nova-lite-v1:0", "us-west-2"),
        ],
        ..env.config(limits(1, 10))
    };
    let mut reqs: Vec<_> = (0..4).map(free_request).collect();
    reqs.push(free_request(4).on(LITE, "us-west-2"));
    let results = env.engine(config).run(reqs).await.unwrap();
    assert_eq!(results.len(), 5);
    for r in &results {
        if r.id == "q4" {
            let e = r.outcome.as_ref().unwrap_err();
            assert_eq!(e.kind, RecordErrorKind::JobRejected, "{e:?}");
            assert!(
                e.message.contains("ValidationException")
                    && e.message.contains("The provided request is not valid"),
                "{}",
                e.message
            );
        } else {
            assert!(r.outcome.is_ok(), "{r:?}");
        }
    }
    let regions: Vec<&str> = results
        .iter()
        .filter(|r| r.id != "q4")
        .map(|r| r.region.as_str())
        .collect();
    assert_eq!(
        regions,
        ["us-east-1", "us-east-1", "us-west-2", "us-west-2"]
    );
}
