//! Shared helpers: small raw listings for the source-driven tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bedrock_catalog::{CatalogSource, Error, RawCatalog, RawModel, RawProfile, RegionListing};
use futures::future::BoxFuture;

pub fn model(id: &str, provider: &str, types: &[&str]) -> RawModel {
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

pub fn profile(id: &str, base: &str, regions: &[&str]) -> RawProfile {
    RawProfile {
        id: id.into(),
        name: Some(id.into()),
        model_arns: regions.iter().map(|r| format!("arn:aws:bedrock:{r}::foundation-model/{base}")).collect(),
    }
}

/// us-east-1 and us-west-2: Claude 3 Haiku direct + us. profile; a profile-only model with us./global.
pub fn two_region_raw() -> RawCatalog {
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
                    profile(&format!("us.{sonnet}"), sonnet, &["us-east-1", "us-east-2", "us-west-2"]),
                    profile(&format!("global.{sonnet}"), sonnet, &["us-east-1", "eu-west-1", "ap-northeast-1"]),
                ],
            },
        );
    }
    raw
}

/// A source that counts its calls and serves fixed data.
#[derive(Debug)]
pub struct Counting {
    pub raw: RawCatalog,
    pub calls: Arc<AtomicUsize>,
}

impl Counting {
    pub fn new(raw: RawCatalog) -> (Arc<Self>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        (Arc::new(Self { raw, calls: Arc::clone(&calls) }), calls)
    }
}

impl CatalogSource for Counting {
    fn fetch<'a>(&'a self, regions: &'a [String]) -> BoxFuture<'a, Result<RawCatalog, Error>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { bedrock_catalog::StaticSource::new(self.raw.clone()).fetch(regions).await })
    }
}

/// A source that never answers.
#[derive(Debug)]
pub struct Hanging;

impl CatalogSource for Hanging {
    fn fetch<'a>(&'a self, _regions: &'a [String]) -> BoxFuture<'a, Result<RawCatalog, Error>> {
        Box::pin(futures::future::pending())
    }
}
