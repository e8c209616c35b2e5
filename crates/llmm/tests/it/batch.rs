//! `llmm batch`: one line per request, resume, region spreading, summary and exit codes.

use std::collections::BTreeSet;

use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, RegionDown, Scenario};
use serde_json::Value;

use crate::support::{fixture, llmm, llmm_with_stdin, parse_lines, sim};

/// `n` shorthand lines `q1..qn`, with a full-form line every third.
fn input(n: usize) -> String {
    (1..=n)
        .map(|i| {
            if i % 3 == 0 {
                format!(
                    "{{\"id\":\"q{i}\",\"messages\":[{{\"role\":\"user\",\"content\":[{{\"text\":\"Question {i}\"}}]}}],\"system\":[{{\"text\":\"Be brief.\"}}],\"inferenceConfig\":{{\"maxTokens\":40}}}}\n"
                )
            } else {
                format!("{{\"id\":\"q{i}\",\"prompt\":\"Question {i}\",\"max_tokens\":40}}\n")
            }
        })
        .collect()
}

fn ids(lines: &[Value]) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn writes_one_line_per_request_with_progress_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("in.jsonl");
    std::fs::write(&input_path, input(12)).unwrap();
    let out = dir.path().join("nested/out.jsonl");
    let run = llmm(&[
        "--simulate",
        "batch",
        &input_path.display().to_string(),
        "--output",
        &out.display().to_string(),
        "--concurrency",
        "4",
    ])
    .await;
    run.assert_code(0);
    let lines = parse_lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(lines.len(), 12);
    assert_eq!(ids(&lines), (1..=12).map(|i| format!("q{i}")).collect());
    for line in &lines {
        assert_eq!(line["ok"], true, "{line}");
        assert!(!line["text"].as_str().unwrap().is_empty());
        assert!(line["usage"]["output_tokens"].as_u64().unwrap() > 0);
        assert!(line["duration_ms"].is_u64());
        assert_eq!(line["attempts"].as_array().unwrap().len(), 1);
    }
    // Not a terminal: plain progress lines, then the summary.
    assert!(
        run.stderr.contains("progress: 12/12 (100%), 0 failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("12 of 12 request(s) run, 12 succeeded, 0 failed (100.0% success)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("duration: p50 "), "{}", run.stderr);
    assert!(run.stderr.contains("region us-east-1"), "{}", run.stderr);
    assert!(
        run.stderr.contains("cache read 0, cache write 0"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "results go to the file");
}

#[tokio::test]
async fn resumes_by_skipping_ids_already_written() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("in.jsonl");
    std::fs::write(&input_path, input(6)).unwrap();
    let out = dir.path().join("out.jsonl");
    // Two finished lines and a line cut short by an interrupted run.
    std::fs::write(
        &out,
        "{\"id\":\"q2\",\"ok\":true}\n{\"id\":\"q5\",\"ok\":false}\n{\"id\":\"q6\",\"ok\"",
    )
    .unwrap();
    let run = llmm(&[
        "--endpoint-url",
        &url,
        "batch",
        &input_path.display().to_string(),
        "--output",
        &out.display().to_string(),
    ])
    .await;
    run.assert_code(0);
    assert!(
        run.stderr.contains("resuming: 2 request(s)"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.stats().requests, 4, "only the missing ids are sent");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(ids(&lines), (1..=6).map(|i| format!("q{i}")).collect());
    assert_eq!(
        text.lines().count(),
        7,
        "the cut line stays on its own line"
    );

    // Running again has nothing left to do.
    let again = llmm(&[
        "--endpoint-url",
        &url,
        "batch",
        &input_path.display().to_string(),
        "--output",
        &out.display().to_string(),
    ])
    .await;
    again.assert_code(0);
    assert!(again.stderr.contains("nothing to do"), "{}", again.stderr);
    assert_eq!(sim.stats().requests, 4);

    // --overwrite starts afresh.
    let fresh = llmm(&[
        "--endpoint-url",
        &url,
        "batch",
        &input_path.display().to_string(),
        "--output",
        &out.display().to_string(),
        "--overwrite",
    ])
    .await;
    fresh.assert_code(0);
    assert_eq!(sim.stats().requests, 10);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines = parse_lines(&text);
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        lines
            .iter()
            .all(|l| l["ok"] == true && l["text"].is_string())
    );
}

#[tokio::test]
async fn spreads_requests_over_the_assigned_regions() {
    let sim = sim(Scenario::default()).await;
    let url = sim.endpoint_url();
    let run = llmm_with_stdin(
        &[
            "--endpoint-url",
            &url,
            "-r",
            "us-east-1",
            "-r",
            "us-west-2",
            "-r",
            "eu-west-1",
            "batch",
            "-",
            "--regions-per-request",
            "1",
            "--quiet",
        ],
        &input(9),
    )
    .await;
    run.assert_code(0);
    let lines = parse_lines(&run.stdout);
    assert_eq!(lines.len(), 9, "results go to stdout without --output");
    let by_region = sim.stats().by_region;
    for region in ["us-east-1", "us-west-2", "eu-west-1"] {
        assert_eq!(by_region.get(region), Some(&3), "{by_region:?}");
    }
    assert!(!run.stderr.contains("progress:"), "--quiet hides progress");
    assert!(run.stderr.contains("summary:"), "{}", run.stderr);
}

#[tokio::test]
async fn exits_1_when_some_requests_fail_and_reports_them() {
    // The 2nd and 4th calls are rejected as invalid, which is not retried.
    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ValidationException)).calls([2, 4]),
    );
    let sim = sim(scenario).await;
    let url = sim.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let summary_path = dir.path().join("summary.json");
    let summary_arg = summary_path.display().to_string();
    let run = llmm_with_stdin(
        &[
            "--endpoint-url",
            &url,
            "-r",
            "us-east-1",
            "batch",
            "-",
            "--concurrency",
            "1",
            "--summary-json",
            &summary_arg,
        ],
        &input(4),
    )
    .await;
    run.assert_code(1);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    insta::assert_json_snapshot!("batch_summary", summary, {
        ".elapsed_ms" => "[ms]",
        ".requests_per_second" => "[rate]",
        ".duration_ms.p50" => "[ms]",
        ".duration_ms.p95" => "[ms]",
        ".duration_ms.max" => "[ms]",
    });
    let mut lines = parse_lines(&run.stdout);
    lines.sort_by_key(|l| l["id"].as_str().unwrap().to_owned());
    assert_eq!(
        lines
            .iter()
            .map(|l| l["ok"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [true, false, true, false]
    );
    assert!(
        run.stderr.contains("2 succeeded, 2 failed (50.0% success)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("failures: exhausted 2"),
        "{}",
        run.stderr
    );
    insta::assert_json_snapshot!("batch_lines", lines, {
        "[].duration_ms" => "[ms]",
        "[].attempts[].duration_ms" => "[ms]",
        "[].text" => "[text]",
    });
}

#[tokio::test]
async fn exits_3_when_every_request_fails() {
    let sim = sim(Scenario::default().with_region_down(RegionDown::always("us-east-1"))).await;
    let url = sim.endpoint_url();
    let run = llmm_with_stdin(
        &[
            "--endpoint-url",
            &url,
            "-r",
            "us-east-1",
            "--max-attempts",
            "1",
            "batch",
            "-",
        ],
        &input(3),
    )
    .await;
    run.assert_code(3);
    let lines = parse_lines(&run.stdout);
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l["ok"] == false && l["error"]["kind"] == "exhausted")
    );
}

#[tokio::test]
async fn simulate_and_scenario_after_the_subcommand_leave_the_input_alone() {
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("in.jsonl");
    std::fs::write(&input_path, input(3)).unwrap();
    let input_path = input_path.display().to_string();
    let scenario = fixture("scenarios/default.json");
    for args in [
        &["batch", "--simulate", &input_path, "-q"][..],
        &["batch", &input_path, "--simulate", "-q"],
        &["batch", "--scenario", &scenario, &input_path, "-q"],
    ] {
        let run = llmm(args).await;
        run.assert_code(0);
        assert_eq!(parse_lines(&run.stdout).len(), 3, "{args:?}");
    }
}

#[tokio::test]
async fn the_demo_batch_is_valid_and_runs_with_failover() {
    // The README's demo, on a slice of the batch: the throttled region fails over.
    let demo = std::fs::read_to_string(fixture("batch/demo.jsonl")).unwrap();
    assert_eq!(demo.lines().count(), 200);
    // One request at a time, so the scenario's seeded faults fall on the same calls every run.
    let slice: String = demo.lines().take(20).map(|l| format!("{l}\n")).collect();
    let scenario = fixture("batch/demo-scenario.json");
    let run = llmm_with_stdin(
        &[
            "--scenario",
            &scenario,
            "batch",
            "-",
            "-q",
            "--concurrency",
            "1",
        ],
        &slice,
    )
    .await;
    run.assert_code(0);
    let lines = parse_lines(&run.stdout);
    assert_eq!(lines.len(), 20);
    let throttled = lines
        .iter()
        .flat_map(|l| l["attempts"].as_array().unwrap())
        .filter(|a| a["outcome"] == "throttled")
        .count();
    assert!(throttled > 0, "the demo scenario throttles us-east-1");
    assert!(run.stderr.contains("throttled"), "{}", run.stderr);
}

#[tokio::test]
async fn the_full_demo_batch_parses_and_uses_the_prompt_cache() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo-results.jsonl");
    let run = llmm(&[
        "--simulate",
        "batch",
        &fixture("batch/demo.jsonl"),
        "--output",
        &out.display().to_string(),
    ])
    .await;
    run.assert_code(0);
    let lines = parse_lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(lines.len(), 200);
    assert!(lines.iter().all(|l| l["ok"] == true));
    let cache_reads: u64 = lines
        .iter()
        .map(|l| l["usage"]["cache_read_tokens"].as_u64().unwrap())
        .sum();
    assert!(
        cache_reads > 0,
        "the shared system prompt is read from the cache"
    );
    assert!(!run.stderr.contains("cache read 0,"), "{}", run.stderr);
}

#[tokio::test]
async fn assigned_regions_only_keeps_requests_in_their_regions() {
    let sim = sim(Scenario::default().with_region_down(RegionDown::always("us-east-1"))).await;
    let url = sim.endpoint_url();
    let args = |only: bool| {
        let mut v = vec![
            "--endpoint-url".to_owned(),
            url.clone(),
            "-r".to_owned(),
            "us-east-1".to_owned(),
            "-r".to_owned(),
            "us-west-2".to_owned(),
            "--max-attempts".to_owned(),
            "2".to_owned(),
            "batch".to_owned(),
            "-".to_owned(),
            "--regions-per-request".to_owned(),
            "1".to_owned(),
            "--concurrency".to_owned(),
            "1".to_owned(),
        ];
        if only {
            v.push("--assigned-regions-only".to_owned());
        }
        v
    };
    // Round-robin: q1 and q3 are assigned us-east-1, which is down.
    let only = args(true);
    let only: Vec<&str> = only.iter().map(String::as_str).collect();
    let run = llmm_with_stdin(&only, &input(4)).await;
    run.assert_code(1);
    let mut lines = parse_lines(&run.stdout);
    lines.sort_by_key(|l| l["id"].as_str().unwrap().to_owned());
    assert_eq!(
        lines
            .iter()
            .map(|l| l["ok"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [false, true, false, true]
    );
    assert!(
        lines
            .iter()
            .flat_map(|l| l["attempts"].as_array().unwrap())
            .all(|a| {
                let region = a["region"].as_str().unwrap();
                let ok = a["outcome"] == "ok";
                (region == "us-east-1" && !ok) || (region == "us-west-2" && ok)
            })
    );

    // Without the flag, the same requests fail over to us-west-2.
    let free = args(false);
    let free: Vec<&str> = free.iter().map(String::as_str).collect();
    let run = llmm_with_stdin(&free, &input(4)).await;
    run.assert_code(0);
}
