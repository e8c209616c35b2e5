//! HTTP/2: the same port answers cleartext HTTP/2 with prior knowledge, for Converse,
//! ConverseStream, typed errors and every fault, as an HTTP/2-only client sees them.
//!
//! The SDK is given a connector built on hyper-util's client with `http2_only(true)`, so a
//! request only succeeds if the simulator speaks HTTP/2; the connector records the protocol
//! version of every response to prove it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput as Ev};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bedrock_sim::{
    BedrockErrorKind, Fault, FaultRule, Scenario, SimHandle, Simulator, StreamExceptionKind,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;

use crate::support::{HAIKU3, reply_text, runtime, sdk_config_for, user};

/// An SDK HTTP client that only speaks HTTP/2 (prior knowledge) and records response versions.
#[derive(Debug, Clone)]
struct H2Only {
    client: Client<TcpConnector, SdkBody>,
    versions: Arc<Mutex<Vec<http::Version>>>,
}

impl H2Only {
    fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build_http(),
            versions: Arc::default(),
        }
    }
}

impl HttpConnector for H2Only {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(async move {
            let req = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let resp = this
                .client
                .request(req)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            this.versions.lock().unwrap().push(resp.version());
            HttpResponse::try_from(resp.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for H2Only {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

async fn h2_runtime(
    sim: &SimHandle,
    attempt_timeout: Duration,
) -> (aws_sdk_bedrockruntime::Client, H2Only) {
    let cfg = sdk_config_for(&sim.endpoint_url(), "us-east-1", attempt_timeout).await;
    let h2 = H2Only::new();
    let conf = aws_sdk_bedrockruntime::config::Builder::from(&cfg)
        .http_client(h2.clone())
        .build();
    (aws_sdk_bedrockruntime::Client::from_conf(conf), h2)
}

fn all_http2(h2: &H2Only) -> bool {
    let v = h2.versions.lock().unwrap();
    !v.is_empty() && v.iter().all(|v| *v == http::Version::HTTP_2)
}

#[tokio::test]
async fn converse_over_http2_matches_http1() {
    let sim = Simulator::start(Scenario::default().with_seed(5))
        .await
        .unwrap();
    let (rt2, h2) = h2_runtime(&sim, Duration::from_secs(30)).await;
    let over_h2 = rt2
        .converse()
        .model_id(HAIKU3)
        .messages(user("same question"))
        .send()
        .await
        .unwrap();
    let rt1 = runtime(&sim, "us-east-1").await;
    let over_h1 = rt1
        .converse()
        .model_id(HAIKU3)
        .messages(user("same question"))
        .send()
        .await
        .unwrap();
    assert!(all_http2(&h2));
    assert!(!reply_text(&over_h2).is_empty());
    assert_eq!(reply_text(&over_h2), reply_text(&over_h1));
    assert_eq!(over_h2.usage(), over_h1.usage());
}

#[tokio::test]
async fn converse_stream_over_http2_decodes_every_event() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let (rt, h2) = h2_runtime(&sim, Duration::from_secs(30)).await;
    let expected = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("stream it"))
        .send()
        .await
        .unwrap();
    let mut out = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("stream it"))
        .send()
        .await
        .unwrap();
    let (names, text, end) = drain(&mut out).await;
    end.unwrap();
    assert!(all_http2(&h2));
    assert_eq!(names.first(), Some(&"messageStart"));
    assert_eq!(names[names.len() - 2..], ["messageStop", "metadata"]);
    assert_eq!(text, reply_text(&expected));
}

#[tokio::test]
async fn typed_errors_over_http2() {
    let scenario = Scenario::default()
        .with_fault(FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).calls([1]));
    let sim = Simulator::start(scenario).await.unwrap();
    let (rt, h2) = h2_runtime(&sim, Duration::from_secs(30)).await;
    let err = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err();
    let SdkError::ServiceError(ctx) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(ctx.raw().status().as_u16(), 429);
    let e = err.into_service_error();
    assert!(matches!(e, ConverseError::ThrottlingException(_)), "{e:?}");
    assert_eq!(
        e.message(),
        Some("Too many requests, please wait before trying again.")
    );
    // Model resolution errors travel the same way.
    let err = rt
        .converse()
        .model_id("no.such-model-v1:0")
        .messages(user("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(err, ConverseError::ValidationException(_)));
    assert!(all_http2(&h2));
}

/// Short names of the received events, the concatenated text, and the final result.
async fn drain(
    out: &mut aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput,
) -> (
    Vec<&'static str>,
    String,
    Result<(), SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>>,
) {
    let mut names = Vec::new();
    let mut text = String::new();
    loop {
        match out.stream.recv().await {
            Ok(Some(ev)) => names.push(match ev {
                Ev::MessageStart(_) => "messageStart",
                Ev::ContentBlockStart(_) => "contentBlockStart",
                Ev::ContentBlockDelta(d) => {
                    if let Some(ContentBlockDelta::Text(t)) = d.delta() {
                        text.push_str(t);
                    }
                    "contentBlockDelta"
                }
                Ev::ContentBlockStop(_) => "contentBlockStop",
                Ev::MessageStop(_) => "messageStop",
                Ev::Metadata(_) => "metadata",
                _ => "unknown",
            }),
            Ok(None) => return (names, text, Ok(())),
            Err(e) => return (names, text, Err(e)),
        }
    }
}

#[tokio::test]
async fn connection_faults_over_http2() {
    let scenario = Scenario::default()
        .with_fault(FaultRule::new(Fault::ConnectionReset).calls([1]))
        .with_fault(FaultRule::new(Fault::Hang).calls([2]))
        .with_fault(FaultRule::new(Fault::SlowHeaders { delay_ms: 150 }).calls([3]));
    let sim = Simulator::start(scenario).await.unwrap();
    let (rt, h2) = h2_runtime(&sim, Duration::from_millis(800)).await;
    let send = || rt.converse().model_id(HAIKU3).messages(user("x")).send();

    // Reset: the stream is refused (RST_STREAM), with no response.
    let err = send().await.unwrap_err();
    assert!(
        matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "{err:?}"
    );
    // Hang: no headers ever, so the attempt times out.
    let err = send().await.unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    // Slow headers: answered, after the delay.
    let started = tokio::time::Instant::now();
    let ok = send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(!reply_text(&ok).is_empty());
    assert!(all_http2(&h2));
    let outcomes = sim.stats().by_outcome;
    assert_eq!(outcomes.get("connection_reset"), Some(&1));
    assert_eq!(outcomes.get("hang"), Some(&1));
}

#[tokio::test]
async fn stream_faults_over_http2() {
    let scenario = Scenario::default()
        .with_fault(
            FaultRule::new(Fault::StreamCut {
                after_events: 2,
                abrupt: false,
            })
            .calls([1]),
        )
        .with_fault(
            FaultRule::new(Fault::StreamCut {
                after_events: 2,
                abrupt: true,
            })
            .calls([2]),
        )
        .with_fault(FaultRule::new(Fault::Stall { after_events: 1 }).calls([3]))
        .with_fault(
            FaultRule::new(Fault::StreamException {
                after_events: 2,
                exception: StreamExceptionKind::ModelStreamErrorException,
                message: Some("boom".into()),
                original_status_code: Some(500),
            })
            .calls([4]),
        );
    let sim = Simulator::start(scenario).await.unwrap();
    let (rt, h2) = h2_runtime(&sim, Duration::from_secs(5)).await;
    let open = || async {
        rt.converse_stream()
            .model_id(HAIKU3)
            .messages(user("stream faults"))
            .send()
            .await
            .unwrap()
    };

    // Clean cut: the stream ends early without an error.
    let mut out = open().await;
    let (names, _, end) = drain(&mut out).await;
    assert_eq!(names, ["messageStart", "contentBlockDelta"]);
    assert!(end.is_ok(), "{end:?}");

    // Abrupt cut: the events sent arrive, then the stream is reset.
    let mut out = open().await;
    let (names, _, end) = drain(&mut out).await;
    assert_eq!(names, ["messageStart", "contentBlockDelta"]);
    assert!(end.is_err(), "an abrupt cut must surface as an error");

    // Stall: one event, then nothing while the stream stays open.
    let mut out = open().await;
    assert!(matches!(
        out.stream.recv().await,
        Ok(Some(Ev::MessageStart(_)))
    ));
    let next = tokio::time::timeout(Duration::from_millis(300), out.stream.recv()).await;
    assert!(next.is_err(), "a stalled stream must not end: {next:?}");

    // Exception frame: typed, after the events before it.
    let mut out = open().await;
    let (names, _, end) = drain(&mut out).await;
    assert_eq!(names, ["messageStart", "contentBlockDelta"]);
    let err = end.unwrap_err().into_service_error();
    let ConverseStreamOutputError::ModelStreamErrorException(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.message(), Some("boom"));
    assert_eq!(e.original_status_code(), Some(500));
    assert!(all_http2(&h2));
}

#[tokio::test]
async fn raw_http2_prior_knowledge_client_reads_event_frames() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let client: Client<TcpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let body = r#"{"messages":[{"role":"user","content":[{"text":"raw h2"}]}]}"#;
    let req = http::Request::post(format!(
        "{}/model/{}/converse-stream",
        sim.endpoint_url(),
        HAIKU3.replace(':', "%3A")
    ))
    .header("content-type", "application/json")
    .header(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/bedrock/aws4_request, SignedHeaders=host, Signature=x",
    )
    .body(Full::new(Bytes::from(body)))
    .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let mut bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let mut types = Vec::new();
    while !bytes.is_empty() {
        let msg = aws_smithy_eventstream::frame::read_message_from(&mut bytes).unwrap();
        let t = msg
            .headers()
            .iter()
            .find(|h| h.name().as_str() == ":event-type")
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str().to_owned())
            .unwrap();
        types.push(t);
    }
    assert_eq!(types.first().map(String::as_str), Some("messageStart"));
    assert_eq!(types.last().map(String::as_str), Some("metadata"));
    assert_eq!(sim.stats().by_region.get("eu-west-1"), Some(&1));

    // A typed error over raw HTTP/2: status, x-amzn-errortype and the JSON message.
    let req = http::Request::post(format!("{}/model/nope/converse", sim.endpoint_url()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 400);
    assert!(
        resp.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("ValidationException:")
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["message"], "The provided model identifier is invalid.");
}
