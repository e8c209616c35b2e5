//! Shared helpers: small raw listings for the source-driven tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bedrock_catalog::{CatalogSource, Error, RawCatalog, RawModel, RawProfile, RegionListing};
use futures::future::BoxFuture;

pub(crate) fn model(id: &str, provider: &str, types: &[&str]) -> RawModel {
    RawModel {
        model_id: id.into(),
        model_name: Some(format!("Friendly {id}")),
        provider_name: Some(provider.into()),
        input_modalities: vec!["TEXT".into(), "IMAGE".into()],
        output_modalities: vec!["TEXT".into()],
        streaming: Some(true),
        inference_types: types.iter().map(|t| (*t).to_owned()).collect(),
        lifecycle: Some("ACTIVE".into()),
    }
}

pub(crate) fn profile(id: &str, base: &str, regions: &[&str]) -> RawProfile {
    RawProfile {
        id: id.into(),
        name: Some(id.into()),
        model_arns: regions
            .iter()
            .map(|r| format!("arn:aws:bedrock:{r}::foundation-model/{base}"))
            .collect(),
    }
}

/// us-east-1 and us-west-2: Claude 3 Haiku direct + us. profile; a profile-only model with us./global.
pub(crate) fn two_region_raw() -> RawCatalog {
    let haiku = "anthropic.claude-3-haiku-20240307-v1:0";
    let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let mut raw = RawCatalog::default();
    for r in ["us-east-1", "us-west-2"] {
        raw.listings.insert(
            r.into(),
            RegionListing {
                models: vec![
                    model(haiku, "Anthropic", &["ON_DEMAND"]),
                    model(sonnet, "Anthropic", &["INFERENCE_PROFILE"]),
                    model("us.deepseek.r1-v1:0", "DeepSeek", &["INFERENCE_PROFILE"]),
                ],
                profiles: vec![
                    profile(&format!("us.{haiku}"), haiku, &["us-east-1", "us-west-2"]),
                    profile(
                        &format!("us.{sonnet}"),
                        sonnet,
                        &["us-east-1", "us-east-2", "us-west-2"],
                    ),
                    profile(
                        &format!("global.{sonnet}"),
                        sonnet,
                        &["us-east-1", "eu-west-1", "ap-northeast-1"],
                    ),
                ],
            },
        );
    }
    raw
}

/// A source that counts its calls and serves fixed data.
#[derive(Debug)]
pub(crate) struct Counting {
    pub(crate) raw: RawCatalog,
    pub(crate) calls: Arc<AtomicUsize>,
}

impl Counting {
    pub(crate) fn new(raw: RawCatalog) -> (Arc<Self>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        (
            Arc::new(Self {
                raw,
                calls: Arc::clone(&calls),
            }),
            calls,
        )
    }
}

impl CatalogSource for Counting {
    fn fetch<'a>(&'a self, regions: &'a [String]) -> BoxFuture<'a, Result<RawCatalog, Error>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            bedrock_catalog::StaticSource::new(self.raw.clone())
                .fetch(regions)
                .await
        })
    }
}

/// A source that never answers.
#[derive(Debug)]
pub(crate) struct Hanging;

impl CatalogSource for Hanging {
    fn fetch<'a>(&'a self, _regions: &'a [String]) -> BoxFuture<'a, Result<RawCatalog, Error>> {
        Box::pin(futures::future::pending())
    }
}

/// What the loopback control plane answers.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Json(String),
    Status(u16, String),
    Hang,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 standing in for the Bedrock control plane; the handler
/// gets the SigV4 region and the request target.
pub(crate) async fn mini_bedrock(handler: fn(&str, &str) -> Reply) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let region = head
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                        .and_then(|l| l.split("Credential=").nth(1))
                        .and_then(|c| c.split('/').nth(2))
                        .unwrap_or("")
                        .to_owned();
                    let (status, body) = match handler(&region, &target) {
                        Reply::Json(b) => (200, b),
                        Reply::Status(s, b) => (s, b),
                        Reply::Hang => {
                            futures::future::pending::<()>().await;
                            return;
                        }
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-amzn-requestid: r\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// ListFoundationModels / ListInferenceProfiles bodies in the service's JSON shape.
pub(crate) fn control_plane(region: &str, target: &str) -> Reply {
    let haiku = "anthropic.claude-3-haiku-20240307-v1:0";
    let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    if target.starts_with("/foundation-models") {
        let summary = |id: &str, name: &str, types: &str| {
            format!(
                r#"{{"modelArn":"arn:aws:bedrock:{region}::foundation-model/{id}","modelId":"{id}","modelName":"{name}",
                "providerName":"Anthropic","inputModalities":["TEXT","IMAGE"],"outputModalities":["TEXT"],
                "responseStreamingSupported":true,"customizationsSupported":[],"inferenceTypesSupported":[{types}],
                "modelLifecycle":{{"status":"ACTIVE"}}}}"#
            )
        };
        return Reply::Json(format!(
            r#"{{"modelSummaries":[{},{}]}}"#,
            summary(haiku, "Claude 3 Haiku", r#""ON_DEMAND""#),
            summary(sonnet, "Claude Sonnet 4.5", r#""INFERENCE_PROFILE""#)
        ));
    }
    if target.starts_with("/inference-profiles") {
        let profile = |pid: &str, base: &str, dests: &[&str]| {
            let arns: Vec<String> = dests
                .iter()
                .map(|d| {
                    format!(r#"{{"modelArn":"arn:aws:bedrock:{d}::foundation-model/{base}"}}"#)
                })
                .collect();
            format!(
                r#"{{"inferenceProfileName":"{pid}","inferenceProfileArn":"arn:aws:bedrock:{region}:123456789012:inference-profile/{pid}",
                "models":[{}],"inferenceProfileId":"{pid}","status":"ACTIVE","type":"SYSTEM_DEFINED"}}"#,
                arns.join(",")
            )
        };
        // Two pages, to exercise pagination.
        return if target.contains("nextToken=") {
            Reply::Json(format!(
                r#"{{"inferenceProfileSummaries":[{}]}}"#,
                profile(
                    &format!("global.{sonnet}"),
                    sonnet,
                    &["us-east-1", "eu-west-1"]
                )
            ))
        } else {
            Reply::Json(format!(
                r#"{{"inferenceProfileSummaries":[{},{}],"nextToken":"page2"}}"#,
                profile(&format!("us.{haiku}"), haiku, &["us-east-1", "us-west-2"]),
                profile(
                    &format!("us.{sonnet}"),
                    sonnet,
                    &["us-east-1", "us-east-2", "us-west-2"]
                )
            ))
        };
    }
    Reply::Status(404, r#"{"message":"not found"}"#.into())
}
