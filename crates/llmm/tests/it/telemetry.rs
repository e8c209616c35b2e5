//! `--otlp-endpoint`: the spans and metrics of a call, received by a local OTLP/HTTP receiver.

use std::sync::{Arc, Mutex};

use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, LatencyModel, LatencyRule, Scenario};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, metric};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

use crate::support::{llmm, llmm_with_env, sim};

/// A local OTLP/HTTP receiver: keeps every request's path and body.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(String, Bytes)>>>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
        let store = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let store = Arc::clone(&store);
                        async move {
                            let path = request.uri().path().to_owned();
                            let body = request.into_body().collect().await?.to_bytes();
                            store.lock().unwrap().push((path, body));
                            let mut response = Response::new(Full::new(Bytes::new()));
                            response
                                .headers_mut()
                                .insert("content-type", "application/x-protobuf".parse().unwrap());
                            Ok::<_, hyper::Error>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, received }
    }

    /// Every span received.
    fn spans(&self) -> Vec<Span> {
        self.bodies("/v1/traces")
            .iter()
            .flat_map(|body| {
                ExportTraceServiceRequest::decode(body.clone())
                    .unwrap()
                    .resource_spans
            })
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    /// The data points of the histogram `name`, from every export.
    fn histogram(&self, name: &str) -> Vec<HistogramDataPoint> {
        self.bodies("/v1/metrics")
            .iter()
            .flat_map(|body| {
                ExportMetricsServiceRequest::decode(body.clone())
                    .unwrap()
                    .resource_metrics
            })
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics)
            .filter(|m| m.name == name)
            .flat_map(|m| match m.data {
                Some(metric::Data::Histogram(h)) => h.data_points,
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .collect()
    }

    fn bodies(&self, path: &str) -> Vec<Bytes> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// The value of attribute `key`, as text.
fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

#[track_caller]
fn assert_attr(attributes: &[KeyValue], key: &str, expected: &str) {
    assert_eq!(
        attr(attributes, key).as_deref(),
        Some(expected),
        "{key} in {attributes:#?}"
    );
}

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

#[tokio::test]
async fn a_call_that_needed_a_retry_exports_genai_spans_and_metrics() {
    // The first call is throttled; the retry in the same region answers.
    let scenario = Scenario::default()
        .with_fault(FaultRule::new(Fault::error(BedrockErrorKind::ThrottlingException)).calls([1]));
    let sim = sim(scenario).await;
    let receiver = Receiver::start().await;
    let sim_url = sim.endpoint_url();
    let port = sim_url.rsplit(':').next().unwrap().to_owned();
    let run = llmm(&[
        "--endpoint-url",
        &sim_url,
        "--otlp-endpoint",
        &receiver.url,
        "-r",
        "us-east-1",
        "chat",
        "hi",
    ])
    .await;
    run.assert_code(0);
    assert_eq!(sim.stats().requests, 2);

    let spans = receiver.spans();
    assert_eq!(
        spans.len(),
        3,
        "one call span, two attempt spans: {spans:#?}"
    );
    let name = format!("chat {MODEL}");
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(names.iter().all(|n| *n == name), "{names:?}");
    // SpanKind::Client.
    assert!(spans.iter().all(|s| s.kind == 3), "{spans:#?}");
    let call = spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .expect("a root span");
    let attempts: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == call.span_id)
        .collect();
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    assert!(attempts.iter().all(|a| a.trace_id == call.trace_id));

    let a = &call.attributes;
    assert_attr(a, "gen_ai.system", "aws.bedrock");
    assert_attr(a, "gen_ai.provider.name", "aws.bedrock");
    assert_attr(a, "gen_ai.operation.name", "chat");
    assert_attr(a, "gen_ai.request.model", MODEL);
    assert_attr(a, "gen_ai.response.model", MODEL);
    assert_attr(a, "server.address", "127.0.0.1");
    assert_attr(a, "server.port", &port);
    assert_attr(a, "cloud.region", "us-east-1");
    assert_attr(a, "attempts", "2");
    let input: u64 = attr(a, "gen_ai.usage.input_tokens")
        .unwrap()
        .parse()
        .unwrap();
    let output: u64 = attr(a, "gen_ai.usage.output_tokens")
        .unwrap()
        .parse()
        .unwrap();
    assert!(input > 0 && output > 0, "{a:#?}");
    assert_eq!(attr(a, "error.type"), None, "the call succeeded");

    let (failed, answered): (Vec<&Span>, Vec<&Span>) = attempts
        .iter()
        .partition(|s| attr(&s.attributes, "error.type").is_some());
    assert_eq!((failed.len(), answered.len()), (1, 1), "{attempts:#?}");
    assert_eq!(failed[0].status.as_ref().map(|s| s.code), Some(2), "ERROR");
    let failed = &failed[0].attributes;
    assert_attr(failed, "error.type", "ThrottlingException");
    assert_attr(failed, "gen_ai.request.model", MODEL);
    assert_attr(failed, "server.address", "127.0.0.1");
    assert_attr(failed, "n", "1");
    assert_attr(failed, "route", "order");
    let answered = &answered[0].attributes;
    assert_attr(answered, "gen_ai.response.model", MODEL);
    assert_attr(answered, "n", "2");
    assert_attr(answered, "route", "order");

    let durations = receiver.histogram("gen_ai.client.operation.duration");
    assert_eq!(durations.len(), 1, "{durations:#?}");
    assert_eq!(durations[0].count, 1);
    assert!(durations[0].sum.unwrap() > 0.0);
    let d = &durations[0].attributes;
    assert_attr(d, "gen_ai.system", "aws.bedrock");
    assert_attr(d, "gen_ai.operation.name", "chat");
    assert_attr(d, "gen_ai.request.model", MODEL);
    assert_attr(d, "gen_ai.response.model", MODEL);
    assert_attr(d, "server.address", "127.0.0.1");
    assert_eq!(attr(d, "error.type"), None);

    let tokens = receiver.histogram("gen_ai.client.token.usage");
    let sum_of = |kind: &str| -> f64 {
        tokens
            .iter()
            .filter(|p| attr(&p.attributes, "gen_ai.token.type").as_deref() == Some(kind))
            .map(|p| p.sum.unwrap())
            .sum()
    };
    assert_eq!(tokens.len(), 2, "input and output: {tokens:#?}");
    assert_eq!(sum_of("input"), input as f64);
    assert_eq!(sum_of("output"), output as f64);

    let attempts = receiver.histogram("llmmanager.client.attempts");
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_eq!((attempts[0].count, attempts[0].sum), (1, Some(2.0)));
}

#[tokio::test]
async fn a_hedged_call_marks_its_hedge_attempt_span() {
    // us-east-1 answers after 2 s; its hedge in us-west-2 at once.
    let scenario = Scenario::default()
        .with_latency_rule(LatencyRule::new(LatencyModel::new(2000, 0.0)).region("us-east-1"));
    let sim = sim(scenario).await;
    let receiver = Receiver::start().await;
    let run = llmm(&[
        "--endpoint-url",
        &sim.endpoint_url(),
        "--otlp-endpoint",
        &receiver.url,
        "-r",
        "us-east-1",
        "-r",
        "us-west-2",
        "--hedge-after",
        "100",
        "--hedge-share",
        "1",
        "chat",
        "hi",
    ])
    .await;
    run.assert_code(0);
    let spans = receiver.spans();
    let routes: Vec<(String, String)> = spans
        .iter()
        .filter(|s| !s.parent_span_id.is_empty())
        .map(|s| {
            (
                attr(&s.attributes, "cloud.region").unwrap_or_default(),
                attr(&s.attributes, "route").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(routes.len(), 2, "{spans:#?}");
    assert!(
        routes.contains(&("us-east-1".into(), "order".into()))
            && routes.contains(&("us-west-2".into(), "hedge".into())),
        "{routes:?}"
    );
}

#[tokio::test]
async fn a_failed_call_has_its_error_type_on_the_call_span_and_the_duration() {
    let scenario = Scenario::default().with_fault(FaultRule::new(Fault::error(
        BedrockErrorKind::AccessDeniedException,
    )));
    let sim = sim(scenario).await;
    let receiver = Receiver::start().await;
    // The endpoint from the environment, as a deployment would set it.
    let run = llmm_with_env(
        &[
            "--endpoint-url",
            &sim.endpoint_url(),
            "-r",
            "us-east-1",
            "chat",
            "hi",
        ],
        "",
        &[("LLMM_OTLP_ENDPOINT", receiver.url.as_str())],
    )
    .await;
    run.assert_code(3);
    let spans = receiver.spans();
    let call = spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .expect("a root span");
    assert_attr(&call.attributes, "error.type", "AccessDeniedException");
    assert_eq!(call.status.as_ref().map(|s| s.code), Some(2), "ERROR");
    let durations = receiver.histogram("gen_ai.client.operation.duration");
    assert_eq!(durations.len(), 1, "{durations:#?}");
    assert_attr(
        &durations[0].attributes,
        "error.type",
        "AccessDeniedException",
    );
    assert!(receiver.histogram("gen_ai.client.token.usage").is_empty());
}

#[tokio::test]
async fn an_endpoint_that_is_not_an_http_url_is_a_usage_error() {
    let run = llmm(&[
        "--simulate",
        "--otlp-endpoint",
        "localhost:4318",
        "chat",
        "hi",
    ])
    .await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("http://localhost:4318"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_streamed_call_exports_the_same_attributes() {
    let sim = sim(Scenario::default()).await;
    let receiver = Receiver::start().await;
    let run = llmm(&[
        "--endpoint-url",
        &sim.endpoint_url(),
        "--otlp-endpoint",
        &receiver.url,
        "-r",
        "us-west-2",
        "chat",
        "--stream",
        "hi",
    ])
    .await;
    run.assert_code(0);
    let spans = receiver.spans();
    assert_eq!(
        spans.len(),
        2,
        "one call span, one attempt span: {spans:#?}"
    );
    let call = spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .expect("a root span");
    assert_eq!(call.name, format!("chat {MODEL}"));
    let a = &call.attributes;
    assert_attr(a, "gen_ai.system", "aws.bedrock");
    assert_attr(a, "gen_ai.response.model", MODEL);
    assert_attr(a, "cloud.region", "us-west-2");
    assert!(attr(a, "gen_ai.usage.output_tokens").is_some(), "{a:#?}");
    assert_eq!(receiver.histogram("gen_ai.client.token.usage").len(), 2);
}
