//! Introspection: stats, the bounded request log, reset, the HTTP mirror of both, bearer
//! tokens with region-pinned listeners, and the `sdk` feature's config.

use aws_sdk_bedrockruntime::config::Token;
use bedrock_sim::{Operation, Scenario, Simulator};

use crate::support::{HAIKU3, raw_http, runtime, sdk_config_for, user};

#[tokio::test]
async fn stats_and_request_log_track_regions_models_and_outcomes() {
    let scenario = Scenario {
        request_log_capacity: Some(2),
        ..Scenario::default()
    };
    let sim = Simulator::start(scenario).await.unwrap();
    for region in ["us-east-1", "eu-west-1", "eu-west-1"] {
        let rt = runtime(&sim, region).await;
        rt.converse()
            .model_id(HAIKU3)
            .messages(user("hello there"))
            .send()
            .await
            .unwrap();
    }
    let s = sim.stats();
    assert_eq!(s.requests, 3);
    assert_eq!(s.by_region_model["eu-west-1"][HAIKU3], 2);
    assert_eq!(s.by_operation["converse"], 3);
    assert_eq!(s.by_outcome["ok"], 3);
    assert_eq!(
        s.input_tokens,
        3 * (4 + 3 + 3),
        "framing and ceil(11 chars / 4), 3 times"
    );
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 2, "bounded ring");
    assert_eq!(reqs[0].seq, 2);
    assert_eq!(reqs[1].operation, Operation::Converse);
    assert_eq!(
        reqs[1].body["messages"][0]["content"][0]["text"],
        "hello there"
    );

    let (status, body) = raw_http(&sim.endpoint_url(), "GET", "/_sim/stats").await;
    assert_eq!(status, 200);
    let http_stats: bedrock_sim::SimStats = serde_json::from_str(&body).unwrap();
    assert_eq!(http_stats, s);
    let (_, body) = raw_http(&sim.endpoint_url(), "GET", "/_sim/requests").await;
    let http_reqs: Vec<bedrock_sim::RecordedRequest> = serde_json::from_str(&body).unwrap();
    assert_eq!(http_reqs, reqs);
    let (status, _) = raw_http(&sim.endpoint_url(), "POST", "/_sim/reset").await;
    assert_eq!(status, 200);
    assert_eq!(sim.stats().requests, 0);
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn bearer_tokens_use_the_default_or_pinned_region() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let pinned = sim.endpoint_url_for_region("ap-northeast-1").unwrap();
    assert_eq!(
        pinned,
        sim.endpoint_url_for_region("ap-northeast-1").unwrap(),
        "reused"
    );
    for endpoint in [sim.endpoint_url(), pinned] {
        let cfg = sdk_config_for(&endpoint, "us-west-2", std::time::Duration::from_secs(10)).await;
        let conf = aws_sdk_bedrockruntime::config::Builder::from(&cfg)
            .bearer_token(Token::new("bedrock-api-key", None))
            .auth_scheme_preference([
                aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
            ])
            .build();
        let rt = aws_sdk_bedrockruntime::Client::from_conf(conf);
        rt.converse()
            .model_id(HAIKU3)
            .messages(user("x"))
            .send()
            .await
            .unwrap();
    }
    let regions: Vec<String> = sim.requests().into_iter().map(|r| r.region).collect();
    assert_eq!(regions, ["us-east-1", "ap-northeast-1"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn scenario_files_in_fixtures_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            bedrock_sim::Scenario::from_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 3, "example scenarios exist");
}

#[cfg(feature = "sdk")]
#[tokio::test]
async fn sdk_feature_config_reaches_the_simulator_in_its_region() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let cfg = sim.sdk_config("eu-central-1").await;
    let rt = aws_sdk_bedrockruntime::Client::new(&cfg);
    rt.converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.requests()[0].region, "eu-central-1");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_binary_prints_its_endpoint_and_serves_a_scenario() {
    use tokio::io::AsyncBufReadExt;
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/scenarios/boto3-smoke.json"
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bedrock-sim"))
        .args([
            "--port",
            "0",
            "--scenario",
            scenario,
            "--pin-region",
            "eu-west-1",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = lines.next_line().await.unwrap().unwrap();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let pinned = lines.next_line().await.unwrap().unwrap();
    let pinned = pinned.strip_prefix("eu-west-1 ").unwrap().to_owned();
    let cfg = sdk_config_for(&endpoint, "us-east-1", std::time::Duration::from_secs(10)).await;
    let rt = aws_sdk_bedrockruntime::Client::new(&cfg);
    rt.converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    // The pinned listener is eu-west-1, where the scenario throttles the first call.
    let cfg = sdk_config_for(&pinned, "us-east-1", std::time::Duration::from_secs(10)).await;
    let eu = aws_sdk_bedrockruntime::Client::new(&cfg);
    let e = eu
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_throttling_exception());
    child.kill().await.unwrap();
}
