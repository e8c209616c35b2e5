//! Cache affinity: a request whose cached prefix was last written in one region goes there first.
//!
//! Bedrock's prompt cache is kept per model and region. A conversation whose turns land in
//! different regions writes its prefix again in each, paying the cache-write price and never
//! reading it back. With affinity on
//! ([`LlmManagerBuilder::cache_affinity`](crate::LlmManagerBuilder::cache_affinity)), the manager
//! remembers, per cached prefix, the region whose answer wrote or read it, and moves that target
//! to the front of the next call with the same prefix while the cache entry lives (five minutes,
//! or one hour for `ttl: 1h` points on models that accept them, counted from the last write or
//! read on the manager's clock).
//!
//! A *prefix* is what Bedrock caches at a cache point: the model, then the tools, the system
//! prompt and the messages up to that point, in that order (cache points themselves excluded),
//! as the request is sent to the model, after the manager's cache-point placement. A request is
//! looked up at each of its cache points, the longest prefix first, so a conversation's new turn
//! finds the region that cached its earlier turns.
//!
//! Affinity only re-orders targets the call already has, and only within the first model: it
//! never adds a region outside a residency, never changes the order between models, and the
//! health check still moves a cooling affine target behind the healthy ones. A call that names
//! its own preferred regions keeps their order; a batch request placed by
//! [`ParallelLlmManager`](crate::ParallelLlmManager) (whose preferred regions are only a
//! round-robin spread) follows affinity instead.
//!
//! The trade-off: affinity concentrates the calls that share a prefix on one region, so a large
//! shared prefix (one system prompt for every call) pulls traffic towards the region that cached
//! it last, and that region's throttling quota is spent faster. The health check moves traffic
//! away when it throttles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bedrock_catalog::ModelInfo;
use bedrock_messages::{
    CachePointBlock, CacheTtl, ContentBlock, ConverseRequest, SystemBlock, TokenUsage, Tool,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::debug;

use crate::routing::Target;

/// The default lifetime of a cache entry.
const FIVE_MINUTES: Duration = Duration::from_secs(5 * 60);
/// The lifetime of a `ttl: 1h` cache entry, on models that accept it.
const ONE_HOUR: Duration = Duration::from_secs(60 * 60);
/// How many prefixes a manager remembers by default.
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 10_000;

/// A prefix's identity: the SHA-256 of the model id and the prefix's content.
pub(crate) type PrefixKey = [u8; 32];

/// One cache point of a request: its prefix and how long Bedrock keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrefixPoint {
    pub(crate) key: PrefixKey,
    pub(crate) ttl: Duration,
}

/// Where a prefix was last written or read.
#[derive(Debug, Clone)]
struct Entry {
    region: String,
    /// When, on the manager's clock.
    at: Duration,
    ttl: Duration,
}

impl Entry {
    fn alive(&self, now: Duration) -> bool {
        now < self.at.saturating_add(self.ttl)
    }
}

/// The manager's map from cached prefixes to the region holding them, bounded in size.
#[derive(Debug)]
pub(crate) struct Affinity {
    entries: Mutex<HashMap<PrefixKey, Entry>>,
    max_entries: usize,
    routed: AtomicU64,
}

impl Affinity {
    /// A map that keeps at most `max_entries` prefixes (at least one).
    pub(crate) fn new(max_entries: usize) -> Self {
        Affinity {
            entries: Mutex::default(),
            max_entries: max_entries.max(1),
            routed: AtomicU64::new(0),
        }
    }

    /// How many calls affinity sent to another target first than the routing order would have.
    pub(crate) fn routed(&self) -> u64 {
        self.routed.load(Ordering::Relaxed)
    }

    /// The region holding the longest of `points` still alive at `now`.
    pub(crate) fn region_for(&self, points: &[PrefixPoint], now: Duration) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        points.iter().rev().find_map(|p| {
            entries
                .get(&p.key)
                .filter(|e| e.alive(now))
                .map(|e| e.region.clone())
        })
    }

    /// Moves the target of the first model in `region` to the front; the others keep their
    /// order. Returns whether anything moved.
    pub(crate) fn prefer(&self, targets: &mut [Target], region: &str) -> bool {
        let Some(model) = targets.first().map(|t| t.model.clone()) else {
            return false;
        };
        let Some(at) = targets
            .iter()
            .position(|t| t.model == model && t.region == region)
        else {
            return false;
        };
        if at == 0 {
            return false;
        }
        if let Some(head) = targets.get_mut(..=at) {
            head.rotate_right(1);
        }
        self.routed.fetch_add(1, Ordering::Relaxed);
        debug!(
            target: "llmmanager::affinity",
            model = %model,
            region,
            "cache affinity: the region holding the cached prefix goes first"
        );
        true
    }

    /// Remembers that an answer from `target` at `now` wrote or read the cache for `points`
    /// (nothing is remembered when `usage` shows neither).
    pub(crate) fn record(
        &self,
        target: &Target,
        points: &[PrefixPoint],
        usage: &TokenUsage,
        now: Duration,
    ) {
        let touched = usage.cache_read_input_tokens.unwrap_or(0) > 0
            || usage.cache_write_input_tokens.unwrap_or(0) > 0;
        if !touched || points.is_empty() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for p in points {
            if !entries.contains_key(&p.key) && entries.len() >= self.max_entries {
                evict(&mut entries, self.max_entries, now);
            }
            entries.insert(
                p.key,
                Entry {
                    region: target.region.clone(),
                    at: now,
                    ttl: p.ttl,
                },
            );
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Makes room in a full map: expired entries go first, then the oldest, down to three quarters
/// of `max`, so a full map is not scanned on every insert.
fn evict(entries: &mut HashMap<PrefixKey, Entry>, max: usize, now: Duration) {
    entries.retain(|_, e| e.alive(now));
    let keep = max - max / 4;
    if entries.len() < max {
        return;
    }
    let mut ages: Vec<(Duration, PrefixKey)> = entries.iter().map(|(k, e)| (e.at, *k)).collect();
    ages.sort_unstable();
    let drop = entries.len().saturating_sub(keep.saturating_sub(1));
    for (_, key) in ages.into_iter().take(drop) {
        entries.remove(&key);
    }
}

/// The cache points of `request` as sent to `model`, in prefix order (tools, system, messages),
/// each with the key of the content before it and its time to live.
pub(crate) fn prefix_points(model: &ModelInfo, request: &ConverseRequest) -> Vec<PrefixPoint> {
    let ttl_1h = model.capabilities.prompt_caching.is_some_and(|p| p.ttl_1h);
    let ttl = |point: &CachePointBlock| {
        if ttl_1h && point.ttl == Some(CacheTtl::OneHour) {
            ONE_HOUR
        } else {
            FIVE_MINUTES
        }
    };
    let mut hasher = Sha256::new();
    absorb(&mut hasher, b"model", &model.id);
    let mut points = Vec::new();
    let mut point = |hasher: &Sha256, block: &CachePointBlock| {
        points.push(PrefixPoint {
            key: hasher.clone().finalize().into(),
            ttl: ttl(block),
        });
    };
    for tool in request.tool_config.iter().flat_map(|c| &c.tools) {
        match tool {
            Tool::CachePoint(block) => point(&hasher, block),
            other => absorb(&mut hasher, b"tool", other),
        }
    }
    for block in &request.system {
        match block {
            SystemBlock::CachePoint(p) => point(&hasher, p),
            other => absorb(&mut hasher, b"system", other),
        }
    }
    for message in &request.messages {
        absorb(&mut hasher, b"role", &message.role);
        for block in &message.content {
            match block {
                ContentBlock::CachePoint(p) => point(&hasher, p),
                other => absorb(&mut hasher, b"block", other),
            }
        }
    }
    points
}

/// Adds one tagged, length-delimited item to the hash.
fn absorb(hasher: &mut Sha256, tag: &[u8], item: &impl Serialize) {
    // Serialising a request's own blocks does not fail; an item that would is hashed as empty,
    // which only makes affinity miss.
    let bytes = serde_json::to_vec(item).unwrap_or_default();
    hasher.update(tag);
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_catalog::{AccessMethod, Catalog};
    use bedrock_messages::{ConverseRequest, Message};

    fn haiku() -> ModelInfo {
        Catalog::bundled()
            .expect("bundled catalog")
            .resolve("Claude 3 Haiku")
            .expect("haiku")
            .clone()
    }

    fn target(region: &str) -> Target {
        Target::new("m", region, AccessMethod::Direct)
    }

    fn usage(read: u32, write: u32) -> TokenUsage {
        TokenUsage {
            cache_read_input_tokens: Some(read),
            cache_write_input_tokens: Some(write),
            ..TokenUsage::default()
        }
    }

    fn turn(texts: &[&str]) -> ConverseRequest {
        let mut b = ConverseRequest::builder()
            .system("a long system prompt")
            .system_cache_point();
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                b = b.assistant_text("ok");
            }
            b = b.message_builder(Message::user().text(*t).cache_point());
        }
        b.build().expect("request")
    }

    #[test]
    fn a_longer_turn_finds_the_prefix_of_the_shorter_one() {
        let model = haiku();
        let first = prefix_points(&model, &turn(&["one"]));
        let second = prefix_points(&model, &turn(&["one", "two"]));
        assert_eq!(first.len(), 2);
        assert_eq!(second.len(), 3);
        assert_eq!(first, second[..2]);
        let affinity = Affinity::new(10);
        affinity.record(
            &target("eu-west-1"),
            &first,
            &usage(0, 3000),
            Duration::ZERO,
        );
        assert_eq!(
            affinity
                .region_for(&second, Duration::from_secs(60))
                .as_deref(),
            Some("eu-west-1")
        );
        // Five minutes after the write the entry is gone.
        assert_eq!(affinity.region_for(&second, FIVE_MINUTES), None);
    }

    #[test]
    fn nothing_is_remembered_without_cache_tokens() {
        let model = haiku();
        let points = prefix_points(&model, &turn(&["one"]));
        let affinity = Affinity::new(10);
        affinity.record(
            &target("r"),
            &points,
            &TokenUsage::default(),
            Duration::ZERO,
        );
        assert_eq!(affinity.region_for(&points, Duration::ZERO), None);
    }

    #[test]
    fn the_map_stays_bounded_and_keeps_the_newest() {
        let model = haiku();
        let affinity = Affinity::new(8);
        let mut last = Vec::new();
        for i in 0..100u64 {
            let text = format!("turn {i}");
            last = prefix_points(&model, &turn(&[text.as_str()]));
            affinity.record(&target("r"), &last, &usage(1, 0), Duration::from_millis(i));
            assert!(affinity.len() <= 8, "{} entries", affinity.len());
        }
        assert_eq!(
            affinity
                .region_for(&last, Duration::from_millis(100))
                .as_deref(),
            Some("r")
        );
    }

    #[test]
    fn a_one_hour_point_lives_an_hour_only_where_the_model_accepts_it() {
        let request = ConverseRequest::builder()
            .system("a long system prompt")
            .system_block(SystemBlock::CachePoint(CachePointBlock::with_ttl(
                CacheTtl::OneHour,
            )))
            .user_text("one")
            .build()
            .expect("request");
        let mut model = haiku();
        let caching = model.capabilities.prompt_caching.as_mut().expect("caching");
        caching.ttl_1h = false;
        let points = prefix_points(&model, &request);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].ttl, FIVE_MINUTES);
        if let Some(caching) = model.capabilities.prompt_caching.as_mut() {
            caching.ttl_1h = true;
        }
        let points = prefix_points(&model, &request);
        assert_eq!(points[0].ttl, ONE_HOUR);
        let affinity = Affinity::new(4);
        affinity.record(&target("r"), &points, &usage(0, 3000), Duration::ZERO);
        let later = Duration::from_secs(59 * 60);
        assert_eq!(affinity.region_for(&points, later).as_deref(), Some("r"));
        assert_eq!(affinity.region_for(&points, ONE_HOUR), None);
    }

    #[test]
    fn prefer_moves_only_within_the_first_model() {
        let affinity = Affinity::new(4);
        let mut targets = vec![
            Target::new("a", "r1", AccessMethod::Direct),
            Target::new("a", "r2", AccessMethod::Direct),
            Target::new("b", "r3", AccessMethod::Direct),
        ];
        assert!(!affinity.prefer(&mut targets, "r3"));
        assert!(affinity.prefer(&mut targets, "r2"));
        let regions: Vec<&str> = targets.iter().map(|t| t.region.as_str()).collect();
        assert_eq!(regions, ["r2", "r1", "r3"]);
        assert_eq!(affinity.routed(), 1);
    }
}
