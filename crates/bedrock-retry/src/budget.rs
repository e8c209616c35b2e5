//! Budget: the third of the four retry parts. A token bucket shared across calls.
//!
//! When a region is down, every call would otherwise multiply its load by the number of retries.
//! The bucket follows smithy's standard retry strategy: it holds 500 tokens; a retry after a
//! throttle costs 5 and a retry after a transient failure (timeouts, 5xx) costs 10; a successful
//! first attempt adds 1 back, and a successful retry returns what it cost. When the bucket
//! is empty, calls stop retrying until successes refill it. First attempts never need tokens.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::ErrorClass;

/// A token bucket limiting retries across all calls that share it (via `Arc`).
///
/// # Example
///
/// ```
/// use bedrock_retry::{ErrorClass, RetryBudget};
///
/// let budget = RetryBudget::new(12);
/// assert_eq!(budget.try_acquire(ErrorClass::Transient), Some(10));
/// assert_eq!(budget.try_acquire(ErrorClass::Transient), None); // only 2 left
/// budget.refund(10); // the retry succeeded
/// assert_eq!(budget.available(), 12);
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_reward: u32,
    tokens: AtomicU32,
}

impl RetryBudget {
    /// smithy's standard capacity.
    pub const DEFAULT_CAPACITY: u32 = 500;
    /// smithy's standard cost of a retry after a throttle.
    pub const DEFAULT_RETRY_COST: u32 = 5;
    /// smithy's standard cost of a retry after a transient failure.
    pub const DEFAULT_TIMEOUT_COST: u32 = 10;
    /// smithy's standard reward for a successful first attempt.
    pub const DEFAULT_SUCCESS_REWARD: u32 = 1;

    /// The standard bucket: capacity 500, costs 5 and 10, reward 1. Starts full.
    pub fn standard() -> Self {
        RetryBudget::new(Self::DEFAULT_CAPACITY)
    }

    /// A full bucket of `capacity` tokens with the standard costs.
    pub fn new(capacity: u32) -> Self {
        RetryBudget {
            capacity,
            retry_cost: Self::DEFAULT_RETRY_COST,
            timeout_cost: Self::DEFAULT_TIMEOUT_COST,
            success_reward: Self::DEFAULT_SUCCESS_REWARD,
            tokens: AtomicU32::new(capacity),
        }
    }

    /// Sets the cost of a retry after a throttle.
    #[must_use]
    pub fn with_retry_cost(mut self, cost: u32) -> Self {
        self.retry_cost = cost;
        self
    }

    /// Sets the cost of a retry after a transient failure.
    #[must_use]
    pub fn with_timeout_cost(mut self, cost: u32) -> Self {
        self.timeout_cost = cost;
        self
    }

    /// Sets the reward for a successful first attempt.
    #[must_use]
    pub fn with_success_reward(mut self, reward: u32) -> Self {
        self.success_reward = reward;
        self
    }

    /// The maximum number of tokens.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The tokens currently available.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }

    /// What a retry after a failure of `class` costs. Classes that move to another target
    /// without hammering the same service ([`ErrorClass::TargetUnavailable`], and feature fallback
    /// after [`ErrorClass::BadRequest`]) cost nothing.
    pub fn cost_for(&self, class: ErrorClass) -> u32 {
        match class {
            ErrorClass::Throttled => self.retry_cost,
            ErrorClass::Transient => self.timeout_cost,
            _ => 0,
        }
    }

    /// Takes the tokens for a retry after a failure of `class`. Returns the amount taken, or
    /// `None` (taking nothing) when the bucket holds too few.
    pub fn try_acquire(&self, class: ErrorClass) -> Option<u32> {
        let cost = self.cost_for(class);
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .ok()
            .map(|_| cost)
    }

    /// Returns `tokens` to the bucket (after a successful retry), up to the capacity.
    pub fn refund(&self, tokens: u32) {
        let capacity = self.capacity;
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(tokens).min(capacity))
            });
    }

    /// Rewards a successful first attempt, up to the capacity.
    pub fn reward_success(&self) {
        self.refund(self.success_reward);
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn standard_bucket_allows_50_transient_retries() {
        let b = RetryBudget::standard();
        let taken = (0..100)
            .filter_map(|_| b.try_acquire(ErrorClass::Transient))
            .count();
        assert_eq!(taken, 50);
        assert_eq!(b.available(), 0);
        assert_eq!(b.try_acquire(ErrorClass::Throttled), None);
    }

    #[test]
    fn throttles_cost_less_than_timeouts() {
        let b = RetryBudget::new(20);
        assert_eq!(b.try_acquire(ErrorClass::Throttled), Some(5));
        assert_eq!(b.try_acquire(ErrorClass::Transient), Some(10));
        assert_eq!(b.available(), 5);
        assert_eq!(b.try_acquire(ErrorClass::Transient), None);
        assert_eq!(b.available(), 5, "a refused acquire takes nothing");
        assert_eq!(b.try_acquire(ErrorClass::TargetUnavailable), Some(0));
    }

    #[test]
    fn success_refills_up_to_capacity() {
        let b = RetryBudget::new(10);
        b.reward_success();
        assert_eq!(b.available(), 10);
        assert_eq!(b.try_acquire(ErrorClass::Transient), Some(10));
        b.reward_success();
        assert_eq!(b.available(), 1);
        b.refund(u32::MAX);
        assert_eq!(b.available(), 10);
    }

    #[test]
    fn shared_across_threads() {
        let b = Arc::new(RetryBudget::new(500));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    (0..100)
                        .filter_map(|_| b.try_acquire(ErrorClass::Throttled))
                        .count()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 100);
    }
}
