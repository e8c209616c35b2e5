//! Building catalogs: sources, cache modes, faults and fallbacks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bedrock_catalog::{
    AccessMethod, AccessPreference, ApiSource, CacheMode, Catalog, DataSource, Error, FailureKind,
    FixedClock, RegionFailure, StaticSource, parse_rfc3339,
};

use bedrock_retry::InstantSleep;

use crate::support::{Counting, Hanging, Reply, control_plane, mini_bedrock, two_region_raw};

const US: [&str; 2] = ["us-east-1", "us-west-2"];

fn clock(at: &str) -> Arc<FixedClock> {
    Arc::new(FixedClock(parse_rfc3339(at).unwrap()))
}

#[tokio::test]
async fn a_source_builds_an_api_catalog() {
    let c = Catalog::builder()
        .cache_mode(CacheMode::None)
        .regions(US)
        .source(Arc::new(StaticSource::new(two_region_raw())))
        .build()
        .await
        .unwrap();
    assert_eq!(c.metadata().source, DataSource::Api);
    assert_eq!(c.metadata().regions_queried, US);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    // Models listed only under a profile-style id are dropped, as in the original.
    assert_eq!(c.models().len(), 2);
    let haiku = c.resolve("Claude 3 Haiku").unwrap();
    assert_eq!(haiku.name, "Claude 3 Haiku");
    assert!(haiku.aliases.iter().any(|a| a == "Claude 3 Haiku 20240307"));
    assert_eq!(haiku.lifecycle, bedrock_catalog::Lifecycle::Active);
    assert!(
        haiku.capabilities.prompt_caching.is_some(),
        "overrides apply to API data"
    );
    let a = c
        .access(
            "Claude Sonnet 4.5",
            "us-west-2",
            AccessPreference::PreferDirect,
        )
        .unwrap();
    assert_eq!(
        (a.invoke_id.as_str(), a.method),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            AccessMethod::RegionalProfile
        )
    );
    let a = c
        .access(
            "Claude Sonnet 4.5",
            "us-east-1",
            AccessPreference::PreferGlobalProfile,
        )
        .unwrap();
    assert_eq!(a.method, AccessMethod::GlobalProfile);
    let sonnet = c
        .resolve("Friendly anthropic.claude-sonnet-4-5-20250929-v1:0")
        .unwrap();
    let global = sonnet
        .profile("global.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .unwrap();
    assert_eq!(
        global.member_regions,
        ["ap-northeast-1", "eu-west-1", "us-east-1", "us-west-2"]
    );
    // Where requests go: the regions of the listed model ARNs, not the regions listing the profile.
    assert_eq!(
        global.destination_regions,
        ["ap-northeast-1", "eu-west-1", "us-east-1"]
    );
    assert!(!sonnet.regions["us-east-1"].direct);
}

#[tokio::test]
async fn a_failing_region_does_not_fail_the_others() {
    let mut raw = two_region_raw();
    raw.failures.push(RegionFailure {
        region: "eu-west-1".into(),
        kind: FailureKind::AccessDenied,
        message: "denied".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::builder()
        .cache_dir(dir.path())
        .regions(["us-east-1", "eu-west-1"])
        .source(Arc::new(StaticSource::new(raw)))
        .build()
        .await
        .unwrap();
    assert_eq!(c.metadata().source, DataSource::Api);
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("eu-west-1") && w.contains("access denied")),
        "{:?}",
        c.warnings()
    );
    assert!(c.is_available("Claude 3 Haiku", "us-east-1"));
    assert!(
        !dir.path().join(bedrock_catalog::CACHE_FILE_NAME).exists(),
        "partial results are not cached"
    );
}

#[tokio::test]
async fn file_cache_is_used_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (source, calls) = Counting::new(two_region_raw());
    let builder = || {
        Catalog::builder()
            .cache_dir(dir.path())
            .regions(US)
            .source(Arc::clone(&source) as Arc<dyn bedrock_catalog::CatalogSource>)
    };
    let first = builder()
        .clock(clock("2026-01-01T00:00:00Z"))
        .build()
        .await
        .unwrap();
    assert_eq!(first.metadata().source, DataSource::Api);
    assert_eq!(
        first.metadata().cache_file.as_deref(),
        Some(dir.path().join("bedrock_catalog.json").as_path())
    );
    let second = builder()
        .clock(clock("2026-01-01T23:00:00Z"))
        .build()
        .await
        .unwrap();
    assert_eq!(second.metadata().source, DataSource::Cache);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(second.models(), first.models());
    let forced = builder()
        .clock(clock("2026-01-01T23:00:00Z"))
        .force_refresh(true)
        .build()
        .await
        .unwrap();
    assert_eq!(forced.metadata().source, DataSource::Api);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let expired = builder()
        .clock(clock("2026-01-03T00:00:00Z"))
        .build()
        .await
        .unwrap();
    assert_eq!(expired.metadata().source, DataSource::Api);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // A cache that covers other regions is not used.
    let other = builder()
        .clock(clock("2026-01-03T00:00:01Z"))
        .regions(["us-east-1", "eu-west-1"])
        .build()
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(other.metadata().source, DataSource::Api);
}

/// A cache file written by a build with older overrides gets this build's capabilities, batch
/// regions included.
#[tokio::test]
async fn a_cached_catalog_gets_the_capabilities_of_this_build() {
    let dir = tempfile::tempdir().unwrap();
    let builder = || {
        Catalog::builder()
            .cache_dir(dir.path())
            .regions(US)
            .source(Arc::new(StaticSource::new(two_region_raw())))
            .clock(clock("2026-01-01T00:00:00Z"))
    };
    let first = builder().build().await.unwrap();
    assert!(first.batch_access("Claude 3 Haiku", "us-east-1").is_ok());
    let path = dir.path().join(bedrock_catalog::CACHE_FILE_NAME);
    let mut old =
        bedrock_catalog::Snapshot::parse(&std::fs::read_to_string(&path).unwrap(), "cache")
            .unwrap();
    for m in &mut old.models {
        m.capabilities.batch_inference = None;
        m.capabilities.tools = !m.capabilities.tools;
    }
    std::fs::write(&path, old.to_json().unwrap()).unwrap();
    let cached = builder().build().await.unwrap();
    assert_eq!(cached.metadata().source, DataSource::Cache);
    assert_eq!(cached.models(), first.models());
    assert!(cached.batch_access("Claude 3 Haiku", "us-east-1").is_ok());
}

#[tokio::test]
async fn corrupt_truncated_or_old_cache_files_are_replaced() {
    for bad in [
        "{not json",
        "{\"schema_version\":1,\"data_version\":\"x\",\"gene",
        "{\"schema_version\":0,\"models\":[]}",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(bedrock_catalog::CACHE_FILE_NAME);
        std::fs::write(&path, bad).unwrap();
        let c = Catalog::builder()
            .cache_dir(dir.path())
            .regions(US)
            .source(Arc::new(StaticSource::new(two_region_raw())))
            .build()
            .await
            .unwrap();
        assert_eq!(c.metadata().source, DataSource::Api);
        assert!(
            c.warnings()
                .iter()
                .any(|w| w.starts_with("ignoring cache file")),
            "{bad}: {:?}",
            c.warnings()
        );
        let rewritten =
            bedrock_catalog::Snapshot::parse(&std::fs::read_to_string(&path).unwrap(), "cache")
                .unwrap();
        assert_eq!(rewritten.models, c.models());
    }
}

#[tokio::test]
async fn unwritable_cache_dir_falls_back_to_memory() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let regions = ["us-east-1", "us-west-2", "us-west-1"];
    let mut raw = two_region_raw();
    let listing = raw.listings["us-east-1"].clone();
    raw.listings.insert("us-west-1".into(), listing);
    let (source, calls) = Counting::new(raw);
    let c = Catalog::builder()
        .cache_dir(blocker.join("sub"))
        .regions(regions)
        .source(source)
        .build()
        .await
        .unwrap();
    assert_eq!(c.metadata().source, DataSource::Api);
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("keeping the catalog in memory")),
        "{:?}",
        c.warnings()
    );
    // The memory copy serves later builds, in file mode as in memory mode.
    let file_again = Catalog::builder()
        .cache_dir(blocker.join("sub"))
        .regions(regions)
        .source(Arc::new(Hanging))
        .build()
        .await
        .unwrap();
    assert_eq!(file_again.metadata().source, DataSource::Cache);
    let again = Catalog::builder()
        .cache_mode(CacheMode::Memory)
        .regions(regions)
        .source(Arc::new(Hanging))
        .build()
        .await
        .unwrap();
    assert_eq!(again.metadata().source, DataSource::Cache);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_source_falls_back_to_bundled() {
    let c = Catalog::builder()
        .cache_mode(CacheMode::None)
        .regions(US)
        .source(Arc::new(Hanging))
        .build()
        .await
        .unwrap();
    assert_eq!(c.metadata().source, DataSource::Bundled);
    let reason = c.metadata().fallback_reason.clone().unwrap();
    assert!(reason.contains("timed out"), "{reason}");
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("using the bundled catalog")),
        "{:?}",
        c.warnings()
    );
    assert!(c.resolve("Claude 3 Haiku").is_ok());
}

/// A fetch's timeouts come from the injected sleeper, not from tokio's timer: this runtime's time
/// is real, yet the hanging source is given up on at once, after the sleeper was asked for the
/// overall deadline plus the source's grace.
#[tokio::test]
async fn the_injected_sleeper_times_the_fetch() {
    let sleep = InstantSleep::new();
    let c = Catalog::builder()
        .cache_mode(CacheMode::None)
        .regions(US)
        .source(Arc::new(Hanging))
        .fetch_deadline(Duration::from_secs(30))
        .sleep(Arc::new(sleep.clone()))
        .build()
        .await
        .unwrap();
    assert_eq!(c.metadata().source, DataSource::Bundled);
    let asked = sleep.requested();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0] >= Duration::from_secs(30), "{asked:?}");
}

#[tokio::test(start_paused = true)]
async fn without_fallback_the_reasons_are_returned() {
    let err = Catalog::builder()
        .cache_mode(CacheMode::None)
        .fallback_to_bundled(false)
        .regions(US)
        .source(Arc::new(StaticSource::default()))
        .build()
        .await
        .unwrap_err();
    match &err {
        Error::Unavailable { reasons } => assert!(
            reasons.iter().any(|r| r.contains("all 2 regions failed")),
            "{reasons:?}"
        ),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(err.kind(), bedrock_catalog::ErrorKind::Transient);
    let err = Catalog::builder()
        .regions(Vec::<String>::new())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
}

#[tokio::test]
async fn concurrent_refreshes_never_tear_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let path = dir.path().to_path_buf();
        tasks.push(tokio::spawn(async move {
            Catalog::builder()
                .cache_dir(path)
                .force_refresh(true)
                .regions(US)
                .source(Arc::new(StaticSource::new(two_region_raw())))
                .build()
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let text = std::fs::read_to_string(dir.path().join(bedrock_catalog::CACHE_FILE_NAME)).unwrap();
    assert_eq!(
        bedrock_catalog::Snapshot::parse(&text, "cache")
            .unwrap()
            .models
            .len(),
        2
    );
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "temporary files are renamed or removed");
}

#[tokio::test]
async fn api_source_over_loopback() {
    let url = mini_bedrock(control_plane).await;
    let source = ApiSource::for_endpoint(&url)
        .await
        .with_region_timeout(Duration::from_secs(5))
        .with_deadline(Duration::from_secs(10));
    let c = Catalog::builder()
        .cache_mode(CacheMode::None)
        .regions(US)
        .source(Arc::new(source))
        .build()
        .await
        .unwrap();
    assert_eq!(c.metadata().source, DataSource::Api, "{:?}", c.warnings());
    let sonnet = c.resolve("Claude Sonnet 4.5").unwrap();
    assert_eq!(sonnet.inference_types, ["INFERENCE_PROFILE"]);
    assert!(
        !sonnet.regions["us-east-1"].direct,
        "INFERENCE_PROFILE-only models are not direct"
    );
    assert_eq!(sonnet.profiles.len(), 2, "second page of profiles was read");
    let a = c
        .access(
            "Claude 3 Haiku",
            "us-west-2",
            AccessPreference::PreferDirect,
        )
        .unwrap();
    assert_eq!(a.method, AccessMethod::Direct);
}

fn eu_hangs_ap_denied(region: &str, target: &str) -> Reply {
    match region {
        "eu-west-1" => Reply::Hang,
        "ap-northeast-1" => Reply::Status(403, r#"{"message":"You don't have access"}"#.into()),
        _ => control_plane(region, target),
    }
}

#[tokio::test]
async fn api_source_keeps_regions_that_answer() {
    let url = mini_bedrock(eu_hangs_ap_denied).await;
    let source = ApiSource::for_endpoint(&url)
        .await
        .with_region_timeout(Duration::from_millis(300))
        .with_deadline(Duration::from_secs(10));
    let raw = bedrock_catalog::CatalogSource::fetch(
        &source,
        &[
            "us-east-1".into(),
            "eu-west-1".into(),
            "ap-northeast-1".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(raw.listings.keys().collect::<Vec<_>>(), ["us-east-1"]);
    let kinds: Vec<(&str, FailureKind)> = raw
        .failures
        .iter()
        .map(|f| (f.region.as_str(), f.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ap-northeast-1", FailureKind::Other),
            ("eu-west-1", FailureKind::Timeout)
        ]
    );
}

#[tokio::test]
async fn offline_api_source_falls_back_to_bundled() {
    // Nothing listens on port 9 of the loopback address: every region fails at once.
    let source = ApiSource::for_endpoint("http://127.0.0.1:9").await;
    let raw = bedrock_catalog::CatalogSource::fetch(&source, &["us-east-1".into()])
        .await
        .unwrap();
    let kinds: Vec<FailureKind> = raw.failures.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FailureKind::Unreachable], "{:?}", raw.failures);
    let c = Catalog::builder()
        .cache_mode(CacheMode::None)
        .source(Arc::new(source))
        .build()
        .await
        .unwrap();
    assert_eq!(c.metadata().source, DataSource::Bundled);
    assert!(
        c.metadata()
            .fallback_reason
            .as_deref()
            .unwrap_or("")
            .contains("all 21 regions failed"),
        "{:?}",
        c.metadata()
    );
    assert!(
        c.warnings().len() > 21,
        "one warning per region plus the fallback"
    );
}

fn always_hang(_region: &str, _target: &str) -> Reply {
    Reply::Hang
}

#[tokio::test]
async fn unreachable_network_gives_up_after_the_first_answer_timeout() {
    let url = mini_bedrock(always_hang).await;
    let source = ApiSource::for_endpoint(&url).await;
    let sdk_free = Catalog::builder()
        .cache_mode(CacheMode::None)
        .source(Arc::new(
            source.with_first_answer_timeout(Duration::from_millis(200)),
        ))
        .build()
        .await
        .unwrap();
    assert_eq!(sdk_free.metadata().source, DataSource::Bundled);
    assert!(
        sdk_free
            .warnings()
            .iter()
            .any(|w| w.contains("no region answered within 200ms")),
        "{:?}",
        sdk_free.warnings()
    );
}

/// Region discovery follows the control plane: a region that does not answer is not a Bedrock
/// region of this catalog, and the geography filter keeps only its own regions.
#[tokio::test]
async fn discovered_regions_are_those_that_answered_filtered_by_geography() {
    let url = mini_bedrock(eu_hangs_ap_denied).await;
    let source = ApiSource::for_endpoint(&url)
        .await
        .with_region_timeout(Duration::from_millis(300))
        .with_deadline(Duration::from_secs(10));
    let c = Catalog::builder()
        .cache_mode(CacheMode::None)
        .regions(["us-east-1", "eu-west-1", "ap-northeast-1"])
        .source(Arc::new(source))
        .build()
        .await
        .unwrap();
    assert_eq!(c.metadata().source, DataSource::Api);
    assert_eq!(c.regions(None), ["us-east-1"]);
    assert_eq!(c.regions(Some(&bedrock_catalog::Geo::Us)), ["us-east-1"]);
    assert!(c.regions(Some(&bedrock_catalog::Geo::Eu)).is_empty());
    // The bundled snapshot, the fallback, knows many.
    let bundled = Catalog::bundled().unwrap();
    assert!(bundled.regions(None).len() > 10);
    assert!(
        bundled
            .regions(Some(&bedrock_catalog::Geo::Eu))
            .iter()
            .all(|r| r.starts_with("eu-"))
    );
}
