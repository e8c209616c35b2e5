//! Backoff: the last of the four retry parts. How long to wait before an attempt.
//!
//! The delay before the `n`-th backed-off retry (1-based) is
//! `min(retry_delay * backoff_multiplier^(n-1), max_retry_delay)`, as in the original, then
//! jittered by [`JitterMode`]. The arithmetic saturates: a huge `n` yields the cap, never a panic,
//! an infinity or a NaN. A server-provided retry-after delay wins over the computed one.
//! Randomness comes from an injected [`RandomSource`], so tests can fix the sequence.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::Error;

/// How the computed delay is randomised, so that many clients do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum JitterMode {
    /// No jitter: exactly the exponential delay (the original's behaviour).
    None,
    /// Full jitter: uniform in `[0, delay]` (AWS's recommended default).
    #[default]
    Full,
    /// Equal jitter: uniform in `[delay / 2, delay]`.
    Equal,
}

impl FromStr for JitterMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(JitterMode::None),
            "full" => Ok(JitterMode::Full),
            "equal" => Ok(JitterMode::Equal),
            _ => Err(Error::UnknownVariant {
                kind: "jitter mode",
                value: s.to_owned(),
                expected: "none, full, equal",
            }),
        }
    }
}

/// A source of uniform random numbers in `[0, 1)`, injected for jitter and region shuffling.
///
/// # Example
///
/// ```
/// use bedrock_retry::{RandomSource, SeededRandom};
///
/// let a = SeededRandom::new(7);
/// let b = SeededRandom::new(7);
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// assert_eq!(x, b.next_f64());
/// ```
pub trait RandomSource: Send + Sync + fmt::Debug + 'static {
    /// The next number, uniform in `[0, 1)`.
    fn next_f64(&self) -> f64;
}

/// A seeded generator (rand's `StdRng`, the same on every platform), shared behind a mutex.
/// Deterministic for a given seed.
#[derive(Debug)]
pub struct SeededRandom {
    rng: Mutex<StdRng>,
}

impl SeededRandom {
    /// Creates a generator from a fixed seed (for tests and reproducible runs).
    pub fn new(seed: u64) -> Self {
        SeededRandom {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// Creates a generator seeded from the process's hash randomness (no clock involved).
    pub fn from_entropy() -> Self {
        SeededRandom::new(RandomState::new().hash_one(0x5EED_u64))
    }

    /// The next raw 64-bit value.
    pub fn next_u64(&self) -> u64 {
        self.generator().next_u64()
    }

    /// The generator. A panic while it was held cannot leave it in a bad state, so a poisoned
    /// lock is used as is.
    fn generator(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RandomSource for SeededRandom {
    fn next_f64(&self) -> f64 {
        // rand's standard f64: a multiple of 2^-53 in [0, 1).
        self.generator().random::<f64>()
    }
}

/// Exponential backoff with a cap and jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: JitterMode,
}

impl Backoff {
    /// Creates a backoff. Values are clamped rather than rejected: a multiplier below 1 or not
    /// finite is treated as 1, and an initial delay above `max` is capped. Use
    /// [`RetryConfig::validate`](crate::RetryConfig::validate) to reject such values instead.
    pub fn new(initial: Duration, multiplier: f64, max: Duration, jitter: JitterMode) -> Self {
        let multiplier = if multiplier.is_finite() && multiplier >= 1.0 {
            multiplier
        } else {
            1.0
        };
        Backoff {
            initial: initial.min(max),
            multiplier,
            max,
            jitter,
        }
    }

    /// The cap on any delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay before the `retry`-th backed-off retry (1-based), before jitter.
    ///
    /// `retry` 0 and 1 both give the initial delay.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        let max = self.max.as_secs_f64();
        if secs.is_nan() || secs >= max {
            // Also catches infinity and NaN.
            return self.max;
        }
        Duration::try_from_secs_f64(secs).map_or(self.max, |d| d.min(self.max))
    }

    /// The jittered delay before the `retry`-th backed-off retry (1-based).
    pub fn delay(&self, retry: u32, random: &dyn RandomSource) -> Duration {
        let base = self.base_delay(retry);
        let factor = match self.jitter {
            JitterMode::None => return base,
            JitterMode::Full => unit(random.next_f64()),
            JitterMode::Equal => 0.5 + 0.5 * unit(random.next_f64()),
        };
        base.mul_f64(factor).min(self.max)
    }

    /// The delay to use when the server asked for `retry_after`: the explicit value wins over the
    /// computed backoff, capped at [`Backoff::max`]; without it, [`Backoff::delay`].
    pub fn delay_with_hint(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        random: &dyn RandomSource,
    ) -> Duration {
        match retry_after {
            Some(explicit) => explicit.min(self.max),
            None => self.delay(retry, random),
        }
    }
}

/// Clamps a random sample into `[0, 1]` so a misbehaving source cannot produce a bad delay.
fn unit(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[allow(dead_code, reason = "compile-only object safety check")]
    fn assert_object_safe(_: &dyn RandomSource) {}

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().copied().map(Duration::from_millis).collect()
    }

    fn original() -> Backoff {
        Backoff::new(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(60),
            JitterMode::None,
        )
    }

    #[test]
    fn exact_sequence_without_jitter() {
        let b = original();
        let r = SeededRandom::new(1);
        let got: Vec<_> = (1..=8).map(|n| b.delay(n, &r)).collect();
        assert_eq!(
            got,
            ms(&[1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000])
        );
        assert_eq!(b.base_delay(0), Duration::from_secs(1));
    }

    #[test]
    fn exact_sequence_with_seeded_full_jitter() {
        let b = Backoff::new(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(60),
            JitterMode::Full,
        );
        let r = SeededRandom::new(42);
        let got: Vec<u128> = (1..=5).map(|n| b.delay(n, &r).as_millis()).collect();
        assert_eq!(got, vec![526, 1085, 2545, 3247, 549]);
    }

    #[test]
    fn exact_sequence_with_seeded_equal_jitter() {
        let b = Backoff::new(
            Duration::from_millis(100),
            3.0,
            Duration::from_secs(2),
            JitterMode::Equal,
        );
        let r = SeededRandom::new(42);
        let got: Vec<u128> = (1..=5).map(|n| b.delay(n, &r).as_millis()).collect();
        for (n, d) in (1..=5).zip(&got) {
            let base = b.base_delay(n).as_millis();
            assert!(*d >= base / 2 && *d <= base, "{n}: {d} vs {base}");
        }
        assert_eq!(got, vec![76, 231, 736, 1405, 1034]);
    }

    #[test]
    fn huge_attempt_numbers_saturate() {
        let b = Backoff::new(
            Duration::from_secs(1),
            10.0,
            Duration::from_secs(60),
            JitterMode::None,
        );
        assert_eq!(b.base_delay(u32::MAX), Duration::from_secs(60));
        assert_eq!(b.base_delay(400), Duration::from_secs(60));
    }

    #[test]
    fn explicit_retry_after_wins_but_is_capped() {
        let b = original();
        let r = SeededRandom::new(1);
        assert_eq!(
            b.delay_with_hint(5, Some(Duration::from_millis(300)), &r),
            Duration::from_millis(300)
        );
        assert_eq!(
            b.delay_with_hint(1, Some(Duration::from_secs(600)), &r),
            Duration::from_secs(60)
        );
        assert_eq!(b.delay_with_hint(2, None, &r), Duration::from_secs(2));
    }

    #[test]
    fn bad_values_are_clamped() {
        let b = Backoff::new(
            Duration::from_secs(90),
            f64::NAN,
            Duration::from_secs(60),
            JitterMode::None,
        );
        assert_eq!(b.base_delay(3), Duration::from_secs(60));
        let b = Backoff::new(
            Duration::from_secs(1),
            0.5,
            Duration::from_secs(60),
            JitterMode::None,
        );
        assert_eq!(b.base_delay(3), Duration::from_secs(1));
    }

    #[test]
    fn seeded_random_is_uniform_enough() {
        let r = SeededRandom::new(3);
        let xs: Vec<f64> = (0..1000).map(|_| r.next_f64()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / 1000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }

    proptest! {
        #[test]
        fn delay_is_within_zero_and_max(
            initial_ms in 0u64..10_000_000,
            multiplier in 1.0f64..1.0e6,
            max_ms in 0u64..100_000_000,
            retry in any::<u32>(),
            seed in any::<u64>(),
            jitter in prop_oneof![Just(JitterMode::None), Just(JitterMode::Full), Just(JitterMode::Equal)],
        ) {
            let max = Duration::from_millis(max_ms);
            let b = Backoff::new(Duration::from_millis(initial_ms), multiplier, max, jitter);
            let d = b.delay(retry, &SeededRandom::new(seed));
            prop_assert!(d <= max);
            prop_assert!(d.as_secs_f64().is_finite());
            prop_assert!(b.base_delay(retry) <= max);
        }

        #[test]
        fn base_delay_never_decreases(
            initial_ms in 0u64..100_000,
            multiplier in 1.0f64..100.0,
            retry in 0u32..10_000,
        ) {
            let b = Backoff::new(Duration::from_millis(initial_ms), multiplier, Duration::from_secs(3600), JitterMode::None);
            prop_assert!(b.base_delay(retry) <= b.base_delay(retry.saturating_add(1)));
        }
    }
}
