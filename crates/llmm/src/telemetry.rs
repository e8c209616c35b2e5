//! Logs on stderr, and with `--otlp-endpoint URL` (feature `otel`) OpenTelemetry spans and
//! metrics exported over OTLP/HTTP (protobuf) to `URL/v1/traces` and `URL/v1/metrics`.
//!
//! The spans are the library's `tracing` spans, which carry the GenAI semantic conventions (see
//! `llmmanager`'s telemetry module): one per call, one per attempt. A `tracing-opentelemetry`
//! layer turns the `llmmanager` spans into OpenTelemetry spans; the library records its metrics
//! (call duration, token usage, attempts per call) on the global meter provider installed here.
//!
//! The exporter's HTTP client is a small one on hyper (already built for the AWS SDK) rather
//! than the exporter's default reqwest: the OpenTelemetry SDK exports from its own threads, so
//! each request is spawned on the command's tokio runtime and awaited from there. Spans and
//! metrics are flushed when the command ends ([`Telemetry::shutdown`]); metrics are also
//! exported every 30 seconds during long batches.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// What must be flushed when the command ends.
#[derive(Debug)]
pub(crate) struct Telemetry {
    #[cfg(feature = "otel")]
    otel: Option<otel::Providers>,
}

impl Telemetry {
    /// Flushes and stops the exporters, waiting for the last export (bounded by its timeout).
    /// Call it from outside the runtime, while the runtime still runs.
    pub(crate) fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(providers) = self.otel {
            providers.shutdown();
        }
    }
}

/// Logs go to stderr; they are off unless `-v` or `RUST_LOG` asks for them, so that progress
/// bars and answers stay readable. With `otlp_endpoint`, spans and metrics are also exported.
///
/// # Errors
/// A usage error for an endpoint that is not an `http://` URL, or when this build has no
/// OpenTelemetry support.
pub(crate) fn init(
    verbose: u8,
    otlp_endpoint: Option<&str>,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Telemetry> {
    let default = match verbose {
        0 => "off",
        1 => "warn,llmmanager=info,bedrock_batch=info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    #[cfg(feature = "otel")]
    {
        let providers = otlp_endpoint
            .map(|url| otel::Providers::start(url, runtime))
            .transpose()?;
        let spans = providers.as_ref().map(otel::Providers::layer);
        let _ = tracing_subscriber::registry()
            .with(logs)
            .with(spans)
            .try_init();
        Ok(Telemetry { otel: providers })
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = runtime;
        if otlp_endpoint.is_some() {
            return Err(crate::exit::usage(
                "--otlp-endpoint needs llmm built with the `otel` feature",
            ));
        }
        let _ = tracing_subscriber::registry().with(logs).try_init();
        Ok(Telemetry {})
    }
}

#[cfg(feature = "otel")]
mod otel {
    //! The OpenTelemetry SDK, the OTLP/HTTP exporters and their HTTP client.

    use std::time::Duration;

    use http_body_util::{BodyExt as _, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
    use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::Targets;

    use crate::exit::usage;

    /// How long one export may take.
    const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
    /// How often metrics are exported while a command runs (and once more at the end).
    const METRICS_INTERVAL: Duration = Duration::from_secs(30);
    /// The largest response body read from the collector.
    const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

    /// The tracer and meter providers of one run.
    #[derive(Debug)]
    pub(super) struct Providers {
        tracer: SdkTracerProvider,
        meter: SdkMeterProvider,
    }

    impl Providers {
        /// Starts the exporters for the collector at `url` and installs the global meter
        /// provider the library records its metrics on.
        pub(super) fn start(url: &str, runtime: &tokio::runtime::Handle) -> anyhow::Result<Self> {
            let base = endpoint(url)?;
            let client = HyperClient::new(runtime.clone());
            let resource = Resource::builder().with_service_name("llmm").build();
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client.clone())
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{base}/v1/traces"))
                .with_timeout(EXPORT_TIMEOUT)
                .build()
                .map_err(|e| usage(format!("cannot export spans to {base}: {e}")))?;
            let metrics = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{base}/v1/metrics"))
                .with_timeout(EXPORT_TIMEOUT)
                .build()
                .map_err(|e| usage(format!("cannot export metrics to {base}: {e}")))?;
            let tracer = SdkTracerProvider::builder()
                .with_batch_exporter(spans)
                .with_resource(resource.clone())
                .build();
            let meter = SdkMeterProvider::builder()
                .with_reader(
                    PeriodicReader::builder(metrics)
                        .with_interval(METRICS_INTERVAL)
                        .build(),
                )
                .with_resource(resource)
                .build();
            opentelemetry::global::set_meter_provider(meter.clone());
            Ok(Self { tracer, meter })
        }

        /// The layer that exports the library's spans (not the SDK's own, nor this tool's logs).
        pub(super) fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
        where
            S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
        {
            tracing_opentelemetry::layer()
                .with_tracer(self.tracer.tracer("llmm"))
                .with_location(false)
                .with_threads(false)
                .with_filter(Targets::new().with_target("llmmanager", tracing::Level::INFO))
        }

        /// Flushes what is left and stops the exporters; an export that fails is reported on
        /// stderr, not as the command's failure.
        pub(super) fn shutdown(self) {
            if let Err(error) = self.tracer.shutdown() {
                eprintln!("warning: cannot export the last spans: {error}");
            }
            if let Err(error) = self.meter.shutdown() {
                eprintln!("warning: cannot export the metrics: {error}");
            }
        }
    }

    /// The collector's base URL, checked: `http://host:port` with an optional path, no trailing
    /// slash.
    fn endpoint(url: &str) -> anyhow::Result<String> {
        let url = url.trim().trim_end_matches('/');
        match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") && !rest.is_empty() => {
                Ok(url.to_owned())
            }
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => Err(usage(format!(
                "--otlp-endpoint {url}: llmm exports over plain http, to a collector on this \
                 machine or network (for example http://localhost:4318); let the collector \
                 forward over https"
            ))),
            _ => Err(usage(format!(
                "--otlp-endpoint {url:?} is not an http:// URL (for example \
                 http://localhost:4318, the OTLP/HTTP port of an OpenTelemetry collector)"
            ))),
        }
    }

    /// An OTLP/HTTP client on hyper whose requests run on the command's runtime, so that the
    /// SDK's export threads can await them without a runtime of their own.
    #[derive(Debug, Clone)]
    struct HyperClient {
        client: Client<HttpConnector, Full<Bytes>>,
        runtime: tokio::runtime::Handle,
    }

    impl HyperClient {
        fn new(runtime: tokio::runtime::Handle) -> Self {
            let mut connector = HttpConnector::new();
            connector.set_connect_timeout(Some(EXPORT_TIMEOUT));
            Self {
                client: Client::builder(TokioExecutor::new()).build(connector),
                runtime,
            }
        }
    }

    #[async_trait::async_trait]
    impl HttpClient for HyperClient {
        async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
            let client = self.client.clone();
            let (parts, body) = request.into_parts();
            let request = Request::from_parts(parts, Full::new(body));
            let exchange = async move {
                let response = client.request(request).await?;
                let (parts, body) = response.into_parts();
                let body = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
                    .collect()
                    .await?
                    .to_bytes();
                Ok::<_, HttpError>(Response::from_parts(parts, body))
            };
            let task = self.runtime.spawn(async move {
                let sleep = llmmanager::retry::TokioSleep::new();
                llmmanager::retry::timeout(&sleep, EXPORT_TIMEOUT, exchange).await
            });
            match task.await {
                Ok(Ok(result)) => result,
                Ok(Err(_elapsed)) => Err(format!(
                    "no answer from the collector within {} s",
                    EXPORT_TIMEOUT.as_secs()
                )
                .into()),
                Err(join) => Err(Box::new(join)),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_endpoint_is_a_plain_http_base_url() {
            assert_eq!(
                endpoint("http://localhost:4318/").unwrap(),
                "http://localhost:4318"
            );
            assert_eq!(
                endpoint(" HTTP://127.0.0.1:4318/otlp ").unwrap(),
                "HTTP://127.0.0.1:4318/otlp"
            );
            for bad in ["localhost:4318", "ftp://x", "http://", ""] {
                assert!(endpoint(bad).is_err(), "{bad}");
            }
            let https = endpoint("https://collector.example.com").unwrap_err();
            assert!(https.to_string().contains("plain http"), "{https}");
        }
    }
}
