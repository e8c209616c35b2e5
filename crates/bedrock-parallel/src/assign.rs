//! Choosing the regions of each request.
//!
//! The assignment is computed when a request is dispatched, not up front, so it sees the
//! current in-flight load and the current health of each region, and so a lazy stream of
//! requests never needs a table of assignments.
//! Regions are ordered in three groups: healthy regions with a free slot under the per-region
//! limit, then healthy regions at their limit (a request there waits for a slot), then
//! unhealthy regions; within each group the [`RegionStrategy`] decides the order.
//! Putting saturated regions after free ones keeps a slow region from holding global slots
//! with requests that wait for it while other regions sit idle. Unlike the original, round-robin advances by one region
//! per request, so every region is primary for the same share of requests whatever the number
//! of regions per request.

use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::RegionStrategy;

/// Tells the engine which regions are currently worth trying first.
///
/// The umbrella crate implements it over its circuit breaker; regions reported unhealthy are
/// assigned last (but still assigned, so a request can use them when nothing else works).
///
/// ```
/// use bedrock_parallel::RegionHealth;
///
/// #[derive(Debug)]
/// struct Down(&'static str);
///
/// impl RegionHealth for Down {
///     fn is_healthy(&self, region: &str) -> bool {
///         region != self.0
///     }
/// }
///
/// assert!(!Down("us-east-1").is_healthy("us-east-1"));
/// ```
pub trait RegionHealth: Send + Sync + std::fmt::Debug + 'static {
    /// Whether `region` is healthy right now.
    fn is_healthy(&self, region: &str) -> bool;
}

/// Stateful assigner of region indices to requests.
#[derive(Debug)]
pub(crate) struct RegionAssigner {
    regions: Vec<String>,
    target: usize,
    strategy: RegionStrategy,
    health: Option<Arc<dyn RegionHealth>>,
    cursor: usize,
    /// Seeded (`StdRng` is the same generator on every platform), so a seed gives the same
    /// assignment on every run.
    rng: StdRng,
    assigned: Vec<u64>,
    in_flight: Vec<usize>,
    region_limit: Option<usize>,
}

impl RegionAssigner {
    pub(crate) fn new(
        regions: Vec<String>,
        target: usize,
        strategy: RegionStrategy,
        health: Option<Arc<dyn RegionHealth>>,
        region_limit: Option<usize>,
    ) -> Self {
        let seed = match strategy {
            RegionStrategy::Random { seed } => seed,
            _ => 0,
        };
        let n = regions.len();
        Self {
            target: target.min(n),
            regions,
            strategy,
            health,
            cursor: 0,
            rng: StdRng::seed_from_u64(seed),
            assigned: vec![0; n],
            in_flight: vec![0; n],
            region_limit,
        }
    }

    pub(crate) fn region_name(&self, index: usize) -> Option<&str> {
        self.regions.get(index).map(String::as_str)
    }

    /// Chooses the regions of the next request, best first, and counts its primary as in flight.
    pub(crate) fn assign(&mut self) -> Vec<usize> {
        if self.target == 0 {
            return Vec::new();
        }
        let (healthy, mut unhealthy): (Vec<usize>, Vec<usize>) =
            (0..self.regions.len()).partition(|&i| match (&self.health, self.regions.get(i)) {
                (Some(h), Some(name)) => h.is_healthy(name),
                _ => true,
            });
        let (mut healthy, mut saturated): (Vec<usize>, Vec<usize>) =
            healthy.into_iter().partition(|&i| match self.region_limit {
                Some(limit) => self.in_flight.get(i).copied().unwrap_or(0) < limit,
                None => true,
            });
        match self.strategy {
            RegionStrategy::RoundRobin => {
                let start = self.cursor;
                self.cursor = self.cursor.wrapping_add(1);
                rotate(&mut healthy, start);
                rotate(&mut saturated, start);
                rotate(&mut unhealthy, start);
            }
            RegionStrategy::LeastLoaded => {
                let key = |i: &usize| {
                    (
                        self.in_flight.get(*i).copied().unwrap_or(0),
                        self.assigned.get(*i).copied().unwrap_or(0),
                        *i,
                    )
                };
                healthy.sort_by_key(key);
                saturated.sort_by_key(key);
                unhealthy.sort_by_key(key);
            }
            RegionStrategy::Random { .. } => {
                healthy.shuffle(&mut self.rng);
                saturated.shuffle(&mut self.rng);
                unhealthy.shuffle(&mut self.rng);
            }
        }
        healthy.extend(saturated);
        healthy.extend(unhealthy);
        healthy.truncate(self.target);
        for &i in &healthy {
            if let Some(count) = self.assigned.get_mut(i) {
                *count += 1;
            }
        }
        if let Some(count) = healthy.first().and_then(|&i| self.in_flight.get_mut(i)) {
            *count += 1;
        }
        healthy
    }

    /// Marks a request whose primary region was `primary` as finished.
    pub(crate) fn release(&mut self, primary: Option<usize>) {
        if let Some(count) = primary.and_then(|i| self.in_flight.get_mut(i)) {
            *count = count.saturating_sub(1);
        }
    }
}

fn rotate(v: &mut [usize], by: usize) {
    if !v.is_empty() {
        let by = by % v.len();
        v.rotate_left(by);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("r{i}")).collect()
    }

    #[derive(Debug)]
    struct Unhealthy(Vec<&'static str>);

    impl RegionHealth for Unhealthy {
        fn is_healthy(&self, region: &str) -> bool {
            !self.0.contains(&region)
        }
    }

    #[test]
    fn round_robin_spreads_primaries_evenly() {
        let mut a = RegionAssigner::new(regions(4), 2, RegionStrategy::RoundRobin, None, None);
        let got: Vec<Vec<usize>> = (0..5).map(|_| a.assign()).collect();
        assert_eq!(
            got,
            vec![vec![0, 1], vec![1, 2], vec![2, 3], vec![3, 0], vec![0, 1]]
        );
    }

    #[test]
    fn unhealthy_regions_come_last() {
        let health: Arc<dyn RegionHealth> = Arc::new(Unhealthy(vec!["r0"]));
        let mut a = RegionAssigner::new(
            regions(3),
            3,
            RegionStrategy::RoundRobin,
            Some(health),
            None,
        );
        assert_eq!(a.assign(), vec![1, 2, 0]);
        assert_eq!(a.assign(), vec![2, 1, 0]);
        let health: Arc<dyn RegionHealth> = Arc::new(Unhealthy(vec!["r0", "r1", "r2"]));
        let mut a = RegionAssigner::new(
            regions(3),
            1,
            RegionStrategy::LeastLoaded,
            Some(health),
            None,
        );
        assert_eq!(a.assign().len(), 1, "all unhealthy still assigns");
    }

    #[test]
    fn saturated_regions_come_after_free_ones() {
        let mut a = RegionAssigner::new(regions(3), 3, RegionStrategy::RoundRobin, None, Some(1));
        assert_eq!(a.assign(), vec![0, 1, 2]);
        // r0 is at its limit: it moves behind the free regions (rotated by the cursor).
        assert_eq!(a.assign(), vec![2, 1, 0]);
        // r0 and r2 are full; r1 is free.
        assert_eq!(a.assign(), vec![1, 0, 2]);
        // All full: plain rotation among them.
        assert_eq!(a.assign(), vec![0, 1, 2]);
        a.release(Some(1));
        a.release(Some(1));
        assert_eq!(a.assign(), vec![1, 0, 2]);
    }

    #[test]
    fn least_loaded_prefers_fewest_in_flight() {
        let mut a = RegionAssigner::new(regions(3), 1, RegionStrategy::LeastLoaded, None, None);
        assert_eq!(a.assign(), vec![0]);
        assert_eq!(a.assign(), vec![1]);
        assert_eq!(a.assign(), vec![2]);
        a.release(Some(1));
        assert_eq!(a.assign(), vec![1]);
        a.release(Some(0));
        a.release(Some(2));
        // r0 and r2 are idle; r0 was assigned once, r2 once: list order breaks the tie.
        assert_eq!(a.assign(), vec![0]);
    }

    #[test]
    fn random_is_reproducible_and_covers_regions() {
        let run = |seed| {
            let mut a =
                RegionAssigner::new(regions(5), 2, RegionStrategy::Random { seed }, None, None);
            (0..50).map(|_| a.assign()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let all = run(7);
        for r in 0..5 {
            assert!(
                all.iter().any(|v| v.first() == Some(&r)),
                "r{r} never primary"
            );
        }
        assert!(all.iter().all(|v| v.len() == 2 && v[0] != v[1]));
    }

    #[test]
    fn no_regions_means_no_assignment() {
        let mut a = RegionAssigner::new(Vec::new(), 0, RegionStrategy::RoundRobin, None, None);
        assert!(a.assign().is_empty());
        a.release(None);
    }
}
