//! One Bedrock runtime client per region, built once and reused for every call.
//!
//! Building an SDK client resolves configuration and sets up connection pools; doing that per
//! attempt (as naive wrappers do) costs milliseconds per call. The pool is built when the manager
//! is built. The SDK's own retries are turned off here: the manager's retry loop owns retries, so
//! one attempt in the manager is exactly one HTTP request.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::config::{Credentials, Region, Token};

use crate::auth::Auth;
use crate::telemetry::Server;

/// The longest timeout handed to the SDK, which does float arithmetic on its timeouts and cannot
/// take `Duration::MAX`: 30 days, as good as no limit for one request.
const SDK_TIMEOUT_CAP: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Network timeouts applied to every attempt. Any value may be given, `Duration::MAX` included
/// (meaning no limit in practice); values beyond 30 days saturate there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Time allowed to open a TCP/TLS connection.
    pub connect: Duration,
    /// Time allowed for one attempt, from sending the request to the end of the response
    /// (for streams: until the response headers arrive).
    pub per_attempt: Duration,
    /// Time allowed for one whole call across every attempt, backoff included.
    pub total: Duration,
    /// For streams: the longest gap between two events before the stream counts as stalled.
    pub stream_idle: Duration,
}

impl Default for Timeouts {
    /// 5 s to connect, 120 s per attempt, 300 s per call (the original's default), 30 s stream idle.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            per_attempt: Duration::from_secs(120),
            total: Duration::from_secs(300),
            stream_idle: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// Sets the connect timeout.
    #[must_use]
    pub fn with_connect(mut self, d: Duration) -> Self {
        self.connect = d;
        self
    }

    /// Sets the per-attempt timeout.
    #[must_use]
    pub fn with_per_attempt(mut self, d: Duration) -> Self {
        self.per_attempt = d;
        self
    }

    /// Sets the total per-call deadline.
    #[must_use]
    pub fn with_total(mut self, d: Duration) -> Self {
        self.total = d;
        self
    }

    /// Sets the stream idle timeout.
    #[must_use]
    pub fn with_stream_idle(mut self, d: Duration) -> Self {
        self.stream_idle = d;
        self
    }
}

/// Where requests go: real Bedrock endpoints, or an explicit endpoint such as a simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Endpoints {
    /// Applies to every region unless overridden.
    pub(crate) all: Option<String>,
    /// Per-region overrides.
    pub(crate) per_region: BTreeMap<String, String>,
}

impl Endpoints {
    fn for_region(&self, region: &str) -> Option<&str> {
        self.per_region
            .get(region)
            .or(self.all.as_ref())
            .map(String::as_str)
    }
}

/// The per-region client pool.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    by_region: BTreeMap<String, aws_sdk_bedrockruntime::Client>,
    /// The loaded shared configuration (credentials, timeouts), with the endpoint override when
    /// one applies to every region; the catalog's control-plane fetch uses it.
    pub(crate) sdk: aws_config::SdkConfig,
    /// Where each region's requests go, for `server.address` and `server.port` in telemetry:
    /// worked out once here rather than for every call.
    servers: BTreeMap<String, Server>,
}

impl Clients {
    /// Builds one client per region from a single loaded SDK configuration.
    pub(crate) async fn build(
        auth: &Auth,
        regions: &[String],
        endpoints: &Endpoints,
        timeouts: &Timeouts,
    ) -> Self {
        // The shared configuration's region only seeds credential loading (SSO, STS); each client
        // below gets its own region. The builder guarantees at least one region.
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(first) = regions.first() {
            loader = loader.region(Region::new(first.clone()));
        }
        let mut loader = loader.retry_config(RetryConfig::disabled()).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.connect.min(SDK_TIMEOUT_CAP))
                .operation_attempt_timeout(timeouts.per_attempt.min(SDK_TIMEOUT_CAP))
                .build(),
        );
        match auth {
            Auth::DefaultChain | Auth::BearerToken(_) => {}
            Auth::Profile { name } => loader = loader.profile_name(name),
            Auth::StaticKeys {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                loader = loader.credentials_provider(Credentials::new(
                    access_key_id,
                    secret_access_key.expose(),
                    session_token.as_ref().map(|t| t.expose().to_owned()),
                    None,
                    "llmmanager-static",
                ));
            }
        }
        let sdk = loader.load().await;
        let mut by_region = BTreeMap::new();
        let mut servers = BTreeMap::new();
        for region in regions {
            servers.insert(
                region.clone(),
                Server::for_region(endpoints.for_region(region), region),
            );
            let mut builder = aws_sdk_bedrockruntime::config::Builder::from(&sdk)
                .region(Region::new(region.clone()))
                .interceptor(crate::raw::KeepUnknownBlocks);
            if let Some(url) = endpoints.for_region(region) {
                builder = builder.endpoint_url(url);
            }
            if let Auth::BearerToken(token) = auth {
                builder = builder
                    .bearer_token(Token::new(token.expose(), None))
                    .auth_scheme_preference([
                        aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
                    ]);
            }
            by_region.insert(
                region.clone(),
                aws_sdk_bedrockruntime::Client::from_conf(builder.build()),
            );
        }
        let sdk = match &endpoints.all {
            Some(url) => sdk.into_builder().endpoint_url(url.clone()).build(),
            None => sdk,
        };
        Self {
            by_region,
            sdk,
            servers,
        }
    }

    /// Where a configured region's requests go (`None`: the region is not configured).
    pub(crate) fn server(&self, region: &str) -> Option<&Server> {
        self.servers.get(region)
    }

    /// The client for a region, if that region is configured.
    pub(crate) fn get(&self, region: &str) -> Option<&aws_sdk_bedrockruntime::Client> {
        self.by_region.get(region)
    }
}
