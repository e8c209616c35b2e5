//! Routing: which targets a call has, and in which order they are tried.
//!
//! A [`Target`] is a configured model in a configured region, reached through one
//! [`AccessMethod`] (the model id itself, a regional or the global inference profile). The order
//! is the caller's policy: region-first or model-first pairing ([`RetryStrategy`]), the region
//! list re-ordered per call or not ([`RegionOrder`]), an optional preferred access method, and
//! an optional share of calls sent through global profiles. A model that Bedrock refused to
//! invoke on demand is remembered and reached through a profile from then on.
//! Target health is applied afterwards, when the call is planned.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bedrock_catalog::AccessMethod;
use bedrock_retry::{PlanTarget, RandomSource, SeededRandom};

use crate::error::Error;

/// One place an attempt can be sent: a model in a region through an access method.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Target {
    /// The base model id.
    pub model: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// How the model is reached in that region.
    pub access_method: AccessMethod,
}

impl Target {
    /// Creates a target.
    pub fn new(
        model: impl Into<String>,
        region: impl Into<String>,
        access_method: AccessMethod,
    ) -> Self {
        Target {
            model: model.into(),
            region: region.into(),
            access_method,
        }
    }
}

impl PlanTarget for Target {
    fn model(&self) -> &str {
        &self.model
    }

    fn region(&self) -> &str {
        &self.region
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} ({})", self.model, self.region, self.access_method)
    }
}

/// The order in which (model, region) targets are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RetryStrategy {
    /// All regions of the first model, then all regions of the next model (`for model: for region`).
    #[default]
    RegionFirst,
    /// All models in the first region, then all models in the next region (`for region: for model`).
    ModelFirst,
}

impl FromStr for RetryStrategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "region_first" => Ok(RetryStrategy::RegionFirst),
            "model_first" => Ok(RetryStrategy::ModelFirst),
            _ => Err(Error::config(format!(
                "unknown retry strategy {s:?}; expected region_first or model_first"
            ))),
        }
    }
}

impl fmt::Display for RetryStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RetryStrategy::RegionFirst => "region_first",
            RetryStrategy::ModelFirst => "model_first",
        })
    }
}

/// How the configured region list is re-ordered for each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RegionOrder {
    /// The configured order, every call.
    #[default]
    Fixed,
    /// Rotated by one position per call (call `k` starts at region `k mod n`), spreading load.
    Rotate,
    /// A random permutation per call.
    Shuffle,
}

impl FromStr for RegionOrder {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fixed" => Ok(RegionOrder::Fixed),
            "rotate" => Ok(RegionOrder::Rotate),
            "shuffle" => Ok(RegionOrder::Shuffle),
            _ => Err(Error::config(format!(
                "unknown region order {s:?}; expected fixed, rotate or shuffle"
            ))),
        }
    }
}

impl fmt::Display for RegionOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegionOrder::Fixed => "fixed",
            RegionOrder::Rotate => "rotate",
            RegionOrder::Shuffle => "shuffle",
        })
    }
}

/// The default preference between access methods: direct, then the regional, then the global
/// profile.
const DEFAULT_ACCESS_ORDER: [AccessMethod; 3] = [
    AccessMethod::Direct,
    AccessMethod::RegionalProfile,
    AccessMethod::GlobalProfile,
];

/// The routing policy of one manager, and what it remembers across calls (the rotation).
pub(crate) struct Router {
    pub(crate) strategy: RetryStrategy,
    pub(crate) region_order: RegionOrder,
    pub(crate) access_preference: Option<AccessMethod>,
    /// The share of calls whose targets use global profiles where they can (`None`: off).
    pub(crate) global_fraction: Option<f64>,
    random: Arc<dyn RandomSource>,
    calls: AtomicUsize,
    global_calls: AtomicUsize,
    /// Models Bedrock refused to invoke on demand: reached through a profile from then on.
    needs_profile: Mutex<HashSet<String>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("strategy", &self.strategy)
            .field("region_order", &self.region_order)
            .field("access_preference", &self.access_preference)
            .field("global_fraction", &self.global_fraction)
            .finish_non_exhaustive()
    }
}

impl Router {
    pub(crate) fn new(
        strategy: RetryStrategy,
        region_order: RegionOrder,
        access_preference: Option<AccessMethod>,
    ) -> Self {
        Router {
            strategy,
            region_order,
            access_preference,
            global_fraction: None,
            random: Arc::new(SeededRandom::from_entropy()),
            calls: AtomicUsize::new(0),
            global_calls: AtomicUsize::new(0),
            needs_profile: Mutex::default(),
        }
    }

    /// Sends this share of calls (0 to 1) through global profiles where a target has one: call
    /// `k` (from 0) does when `floor((k + 1) f) > floor(k f)`, so the share holds exactly over
    /// any run of calls, with no randomness.
    pub(crate) fn with_global_fraction(mut self, fraction: Option<f64>) -> Self {
        self.global_fraction = fraction;
        self
    }

    /// Remembers that Bedrock refused to invoke `model` on demand: its targets use an inference
    /// profile from now on, where one exists.
    pub(crate) fn learn_needs_profile(&self, model: &str) {
        let mut learned = self
            .needs_profile
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !learned.contains(model) {
            tracing::info!(
                model,
                "on-demand invocation refused: using its inference profile"
            );
            learned.insert(model.to_owned());
        }
    }

    /// Whether this call is one of the global-profile share.
    fn global_turn(&self) -> bool {
        let Some(f) = self.global_fraction else {
            return false;
        };
        let k = self.global_calls.fetch_add(1, Ordering::Relaxed);
        // Exact for every k below 2^53, far beyond any process's call count.
        #[allow(
            clippy::cast_precision_loss,
            reason = "call counts stay far below 2^53"
        )]
        let (k, next) = (k as f64, (k as f64) + 1.0);
        (next * f).floor() > (k * f).floor()
    }

    /// Replaces the randomness of [`RegionOrder::Shuffle`].
    #[cfg(test)]
    fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Orders (model, region) pairs into targets, following the strategy and the region order,
    /// and picks each pair's access method.
    ///
    /// `models` are in preference order. `access(model, region)` returns the access methods
    /// available for the pair; an empty answer drops the pair. The preferred method is used when
    /// available, otherwise the first of direct, regional profile, global profile. With
    /// `reorder_regions` off (the caller gave preferred regions), the region order is kept.
    pub(crate) fn order_targets<F>(
        &self,
        models: &[&str],
        regions: &[&str],
        reorder_regions: bool,
        mut access: F,
    ) -> Vec<Target>
    where
        F: FnMut(&str, &str) -> Vec<AccessMethod>,
    {
        let mut regions: Vec<&str> = regions.to_vec();
        let order = if reorder_regions {
            self.region_order
        } else {
            RegionOrder::Fixed
        };
        match order {
            RegionOrder::Fixed => {}
            RegionOrder::Rotate => {
                let call = self.calls.fetch_add(1, Ordering::Relaxed);
                if !regions.is_empty() {
                    let by = call % regions.len();
                    regions.rotate_left(by);
                }
            }
            RegionOrder::Shuffle => shuffle(&mut regions, self.random.as_ref()),
        }
        let pairs: Vec<(&str, &str)> = match self.strategy {
            RetryStrategy::RegionFirst => models
                .iter()
                .flat_map(|m| regions.iter().map(move |r| (*m, *r)))
                .collect(),
            RetryStrategy::ModelFirst => regions
                .iter()
                .flat_map(|r| models.iter().map(move |m| (*m, *r)))
                .collect(),
        };
        let preference = if self.global_turn() {
            Some(AccessMethod::GlobalProfile)
        } else {
            self.access_preference
        };
        // Read once per call: usually empty, and then no model is looked up in it.
        let learned = self
            .needs_profile
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let needs_profile = |model: &str| !learned.is_empty() && learned.contains(model);
        pairs
            .into_iter()
            .filter_map(|(model, region)| {
                let mut available = access(model, region);
                if needs_profile(model) && available.iter().copied().any(is_profile) {
                    available.retain(|m| is_profile(*m));
                }
                let chosen = preference
                    .filter(|p| available.contains(p))
                    .or(self.access_preference.filter(|p| available.contains(p)))
                    .or_else(|| {
                        DEFAULT_ACCESS_ORDER
                            .into_iter()
                            .find(|m| available.contains(m))
                    })?;
                Some(Target::new(model, region, chosen))
            })
            .collect()
    }
}

/// Whether `method` goes through an inference profile.
fn is_profile(method: AccessMethod) -> bool {
    matches!(
        method,
        AccessMethod::RegionalProfile | AccessMethod::GlobalProfile
    )
}

/// A uniform random permutation (Fisher–Yates) drawn from `random`.
fn shuffle<T>(items: &mut [T], random: &dyn RandomSource) {
    for i in (1..items.len()).rev() {
        let x = random.next_f64();
        let x = if x.is_finite() {
            x.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Truncation is the intent: a uniform index in 0..=i.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "x is in [0, 1] and i is small"
        )]
        let j = ((x * (i + 1) as f64) as usize).min(i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(strategy: RetryStrategy, order: RegionOrder) -> Router {
        Router::new(strategy, order, None).with_random(Arc::new(SeededRandom::new(7)))
    }

    fn direct(_: &str, _: &str) -> Vec<AccessMethod> {
        vec![AccessMethod::Direct]
    }

    fn names(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| format!("{}@{}", t.model, t.region))
            .collect()
    }

    #[test]
    fn a_global_fraction_sends_exactly_that_share_of_calls_through_global_profiles() {
        let both = |_: &str, _: &str| vec![AccessMethod::Direct, AccessMethod::GlobalProfile];
        for (fraction, expected) in [(0.3, 3), (0.0, 0), (1.0, 10), (0.5, 5)] {
            let r = router(RetryStrategy::RegionFirst, RegionOrder::Fixed)
                .with_global_fraction(Some(fraction));
            let global = (0..10)
                .filter(|_| {
                    let t = r.order_targets(&["a"], &["r1"], true, both);
                    t[0].access_method == AccessMethod::GlobalProfile
                })
                .count();
            assert_eq!(global, expected, "fraction {fraction}");
        }
        // A target without a global profile keeps its usual method on a global turn.
        let r =
            router(RetryStrategy::RegionFirst, RegionOrder::Fixed).with_global_fraction(Some(1.0));
        let t = r.order_targets(&["a"], &["r1"], true, direct);
        assert_eq!(t[0].access_method, AccessMethod::Direct);
    }

    #[test]
    fn a_model_refused_on_demand_is_reached_through_a_profile_afterwards() {
        let all = |_: &str, r: &str| {
            if r == "r2" {
                vec![AccessMethod::Direct]
            } else {
                vec![AccessMethod::Direct, AccessMethod::RegionalProfile]
            }
        };
        let r = router(RetryStrategy::RegionFirst, RegionOrder::Fixed);
        r.learn_needs_profile("a");
        let t = r.order_targets(&["a", "b"], &["r1", "r2"], true, all);
        let methods: Vec<_> = t.iter().map(|t| t.access_method).collect();
        // Where no profile exists, the direct target stays: it may still be the only way.
        assert_eq!(
            methods,
            [
                AccessMethod::RegionalProfile,
                AccessMethod::Direct,
                AccessMethod::Direct,
                AccessMethod::Direct
            ]
        );
    }

    #[test]
    fn region_first_tries_every_region_of_a_model_first() {
        let r = router(RetryStrategy::RegionFirst, RegionOrder::Fixed);
        let t = r.order_targets(&["a", "b"], &["r1", "r2", "r3"], true, direct);
        assert_eq!(names(&t), ["a@r1", "a@r2", "a@r3", "b@r1", "b@r2", "b@r3"]);
    }

    #[test]
    fn model_first_tries_every_model_in_a_region_first() {
        let r = router(RetryStrategy::ModelFirst, RegionOrder::Fixed);
        let t = r.order_targets(&["a", "b"], &["r1", "r2", "r3"], true, direct);
        assert_eq!(names(&t), ["a@r1", "b@r1", "a@r2", "b@r2", "a@r3", "b@r3"]);
    }

    #[test]
    fn access_methods_filter_and_prefer() {
        let access = |m: &str, r: &str| match (m, r) {
            ("a", "r1") => vec![AccessMethod::GlobalProfile, AccessMethod::RegionalProfile],
            ("a", "r2") => vec![],
            _ => vec![AccessMethod::Direct, AccessMethod::GlobalProfile],
        };
        let r = router(RetryStrategy::RegionFirst, RegionOrder::Fixed);
        let t = r.order_targets(&["a"], &["r1", "r2", "r3"], true, access);
        assert_eq!(names(&t), ["a@r1", "a@r3"]);
        assert_eq!(t[0].access_method, AccessMethod::RegionalProfile);
        assert_eq!(t[1].access_method, AccessMethod::Direct);

        let r = Router::new(
            RetryStrategy::RegionFirst,
            RegionOrder::Fixed,
            Some(AccessMethod::GlobalProfile),
        );
        let t = r.order_targets(&["a"], &["r1", "r3"], true, access);
        assert!(
            t.iter()
                .all(|t| t.access_method == AccessMethod::GlobalProfile)
        );
    }

    #[test]
    fn rotate_moves_the_first_region_per_call() {
        let r = router(RetryStrategy::RegionFirst, RegionOrder::Rotate);
        let firsts: Vec<String> = (0..4)
            .map(|_| {
                r.order_targets(&["a"], &["r1", "r2", "r3"], true, direct)[0]
                    .region
                    .clone()
            })
            .collect();
        assert_eq!(firsts, ["r1", "r2", "r3", "r1"]);
        let kept = r.order_targets(&["a"], &["r2", "r1", "r3"], false, direct);
        assert_eq!(
            names(&kept),
            ["a@r2", "a@r1", "a@r3"],
            "preferred regions keep their order"
        );
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let regions = ["r1", "r2", "r3", "r4", "r5"];
        let order = |seed| {
            let r = Router::new(RetryStrategy::RegionFirst, RegionOrder::Shuffle, None)
                .with_random(Arc::new(SeededRandom::new(seed)));
            names(&r.order_targets(&["a"], &regions, true, direct))
        };
        let first = order(1);
        assert_eq!(first, order(1), "same seed, same order");
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, ["a@r1", "a@r2", "a@r3", "a@r4", "a@r5"]);
        assert!(
            (2..20).any(|seed| order(seed) != first),
            "seeds change the order"
        );
    }

    #[test]
    fn strategies_and_orders_parse() {
        assert_eq!(
            "REGION_FIRST".parse::<RetryStrategy>().unwrap(),
            RetryStrategy::RegionFirst
        );
        assert_eq!(
            "model-first".parse::<RetryStrategy>().unwrap(),
            RetryStrategy::ModelFirst
        );
        assert_eq!(
            "rotate".parse::<RegionOrder>().unwrap(),
            RegionOrder::Rotate
        );
        assert!("sideways".parse::<RegionOrder>().is_err());
        assert_eq!(RetryStrategy::ModelFirst.to_string(), "model_first");
    }
}
