//! The AWS control-plane source: `ListFoundationModels` and `ListInferenceProfiles` in every
//! requested region.
//!
//! Regions are queried concurrently up to a bound. Each region has its own timeout and the SDK's
//! own retries are switched off, so an offline start costs one timeout, not a retry storm. Two
//! deadlines bound a fetch: if no region at all has answered within the *first-answer* timeout
//! (1.5 s) the network is taken to be unreachable and the fetch stops; once one region has
//! answered, the others get until the overall deadline. Whatever answered by then is kept, and
//! failures are classified per region and returned alongside the successful listings.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_bedrock::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrock::types::InferenceProfileType;
use bedrock_retry::{Sleep, TokioSleep};
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::error::Error;
use crate::source::{
    CatalogSource, FailureKind, RawCatalog, RawModel, RawProfile, RegionFailure, RegionListing,
};

/// Default per-region timeout.
pub const DEFAULT_REGION_TIMEOUT: Duration = Duration::from_secs(3);
/// Default time within which at least one region must answer, or the fetch gives up.
pub const DEFAULT_FIRST_ANSWER_TIMEOUT: Duration = Duration::from_millis(1500);
/// Default overall deadline for one fetch.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(8);
/// Default number of regions queried at once.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Fetches listings from the Bedrock control plane with the AWS SDK.
#[derive(Debug, Clone)]
pub struct ApiSource {
    sdk: SdkConfig,
    region_timeout: Duration,
    first_answer: Duration,
    deadline: Duration,
    concurrency: usize,
    sleep: Arc<dyn Sleep>,
}

impl ApiSource {
    /// A source using `sdk` for credentials and endpoint (its region is replaced per request).
    #[must_use]
    pub fn new(sdk: SdkConfig) -> Self {
        Self {
            sdk,
            region_timeout: DEFAULT_REGION_TIMEOUT,
            first_answer: DEFAULT_FIRST_ANSWER_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            concurrency: DEFAULT_CONCURRENCY,
            sleep: Arc::new(TokioSleep::new()),
        }
    }

    /// Loads the default AWS configuration (environment, profile, ...) without consulting the
    /// instance metadata service for a region.
    pub async fn from_env() -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await;
        Self::new(sdk)
    }

    /// A source for a loopback endpoint such as `bedrock-sim`: static test credentials, no
    /// environment lookups.
    pub async fn for_endpoint(endpoint_url: &str) -> Self {
        let creds = aws_sdk_bedrock::config::Credentials::new(
            "AKIDLOCAL",
            "local-secret",
            None,
            None,
            "static",
        );
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint_url)
            .credentials_provider(creds)
            .load()
            .await;
        Self::new(sdk)
    }

    /// Per-region timeout covering both listings (default 1.5 s).
    #[must_use]
    pub fn with_region_timeout(mut self, d: Duration) -> Self {
        self.region_timeout = d;
        self
    }

    /// If no region has answered within this, the fetch stops and every pending region is reported
    /// as timed out (default 1.5 s). This is what keeps an offline start short.
    #[must_use]
    pub fn with_first_answer_timeout(mut self, d: Duration) -> Self {
        self.first_answer = d;
        self
    }

    /// Overall deadline; regions still pending then are reported as timed out (default 8 s).
    #[must_use]
    pub fn with_deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// The sleeper behind the region, first-answer and overall timeouts (default [`TokioSleep`]).
    #[must_use]
    pub fn with_sleep(mut self, sleep: Arc<dyn Sleep>) -> Self {
        self.sleep = sleep;
        self
    }

    /// Regions queried at once (default 16, minimum 1).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    fn client(&self, region: &str) -> aws_sdk_bedrock::Client {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(self.region_timeout)
            .operation_timeout(self.region_timeout)
            .build();
        let conf = aws_sdk_bedrock::config::Builder::from(&self.sdk)
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts)
            .build();
        aws_sdk_bedrock::Client::from_conf(conf)
    }

    async fn fetch_region(&self, region: String) -> Result<(String, RegionListing), RegionFailure> {
        let client = self.client(&region);
        let work = async {
            let models = async {
                let out = client
                    .list_foundation_models()
                    .send()
                    .await
                    .map_err(classify)?;
                Ok::<_, (FailureKind, String)>(
                    out.model_summaries()
                        .iter()
                        .map(raw_model)
                        .collect::<Vec<_>>(),
                )
            };
            let profiles = async {
                let mut pages = client
                    .list_inference_profiles()
                    .type_equals(InferenceProfileType::SystemDefined)
                    .into_paginator()
                    .send();
                let mut all = Vec::new();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(classify)?;
                    all.extend(page.inference_profile_summaries().iter().map(|p| {
                        RawProfile {
                            id: p.inference_profile_id().to_owned(),
                            name: Some(p.inference_profile_name().to_owned()),
                            model_arns: p
                                .models()
                                .iter()
                                .filter_map(|m| m.model_arn().map(str::to_owned))
                                .collect(),
                        }
                    }));
                }
                Ok(all)
            };
            futures::try_join!(models, profiles)
        };
        match bedrock_retry::timeout(self.sleep.as_ref(), self.region_timeout, work).await {
            Ok(Ok((models, profiles))) => Ok((region, RegionListing { models, profiles })),
            Ok(Err((kind, message))) => Err(RegionFailure {
                region,
                kind,
                message,
            }),
            Err(_) => Err(RegionFailure {
                region,
                kind: FailureKind::Timeout,
                message: format!("no answer within {:?}", self.region_timeout),
            }),
        }
    }
}

impl CatalogSource for ApiSource {
    fn fetch<'a>(&'a self, regions: &'a [String]) -> BoxFuture<'a, Result<RawCatalog, Error>> {
        Box::pin(async move {
            let mut done: Vec<Result<(String, RegionListing), RegionFailure>> = Vec::new();
            let mut stream = futures::stream::iter(regions.iter().cloned())
                .map(|r| self.fetch_region(r))
                .buffer_unordered(self.concurrency);
            let mut first_answer_by = self.sleep.sleep(self.first_answer);
            let mut pending_reason = format!("still pending at the {:?} deadline", self.deadline);
            let collect = async {
                loop {
                    let next = if done.iter().any(Result::is_ok) {
                        stream.next().await
                    } else {
                        tokio::select! {
                            biased;
                            next = stream.next() => next,
                            () = &mut first_answer_by => {
                                pending_reason =
                                    format!("no region answered within {:?}", self.first_answer);
                                break;
                            }
                        }
                    };
                    match next {
                        Some(r) => done.push(r),
                        None => break,
                    }
                }
            };
            let _ = bedrock_retry::timeout(self.sleep.as_ref(), self.deadline, collect).await;
            let mut raw = RawCatalog::default();
            for r in done {
                match r {
                    Ok((region, listing)) => {
                        raw.listings.insert(region, listing);
                    }
                    Err(f) => raw.failures.push(f),
                }
            }
            for r in regions {
                if !raw.listings.contains_key(r) && !raw.failures.iter().any(|f| &f.region == r) {
                    raw.failures.push(RegionFailure {
                        region: r.clone(),
                        kind: FailureKind::Timeout,
                        message: pending_reason.clone(),
                    });
                }
            }
            raw.failures.sort_by(|a, b| a.region.cmp(&b.region));
            Ok(raw)
        })
    }
}

fn raw_model(s: &aws_sdk_bedrock::types::FoundationModelSummary) -> RawModel {
    RawModel {
        model_id: s.model_id().to_owned(),
        model_name: s.model_name().map(str::to_owned),
        provider_name: s.provider_name().map(str::to_owned),
        input_modalities: s
            .input_modalities()
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
        output_modalities: s
            .output_modalities()
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
        streaming: s.response_streaming_supported(),
        // INFERENCE_PROFILE is not in the SDK's enum and arrives as Unknown; as_str() keeps it.
        inference_types: s
            .inference_types_supported()
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        lifecycle: s.model_lifecycle().map(|l| l.status().as_str().to_owned()),
    }
}

fn classify<E, R>(e: SdkError<E, R>) -> (FailureKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let kind = match &e {
        SdkError::TimeoutError(_) => FailureKind::Timeout,
        SdkError::ServiceError(ctx) => match ctx.err().code() {
            Some(
                "AccessDeniedException" | "UnrecognizedClientException" | "UnauthorizedException",
            ) => FailureKind::AccessDenied,
            Some("ThrottlingException" | "TooManyRequestsException") => FailureKind::Throttled,
            _ => FailureKind::Other,
        },
        SdkError::DispatchFailure(failure) if failure.is_io() => FailureKind::Unreachable,
        _ => FailureKind::Other,
    };
    (kind, DisplayErrorContext(&e).to_string())
}
