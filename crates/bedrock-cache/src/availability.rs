//! Which models rejected cache points recently.
//!
//! The catalog says which models support prompt caching, but an account, a region or a model
//! version can still refuse a request with cache points (a `ValidationException` about them).
//! The manager then retries the same target without them at once; this memory makes later calls
//! skip the failed attempt too, for a while ([`CacheConfig::rejection_memory`](crate::CacheConfig::rejection_memory),
//! an hour by default), after which the model is offered cache points again.
//!
//! Time is whatever monotonic clock the caller reads (a `Duration` since some fixed start, as
//! `bedrock_retry::Clock` gives): the crate reads no clock itself.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Models that rejected cache points, each until a moment on the caller's clock. Shared by
/// every call of a manager; cheap to query.
///
/// ```
/// use std::time::Duration;
/// use bedrock_cache::CacheAvailability;
///
/// let memory = CacheAvailability::new();
/// let hour = Duration::from_secs(3600);
/// memory.record_rejection("amazon.nova-lite-v1:0", Duration::ZERO, hour);
/// assert!(memory.is_rejected("amazon.nova-lite-v1:0", Duration::from_secs(60)));
/// assert!(!memory.is_rejected("amazon.nova-lite-v1:0", hour));
/// assert!(!memory.is_rejected("anthropic.claude-3-haiku-20240307-v1:0", Duration::ZERO));
/// ```
#[derive(Debug, Default)]
pub struct CacheAvailability {
    until: Mutex<HashMap<String, Duration>>,
}

impl CacheAvailability {
    /// An empty memory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers that `model_id` rejected cache points at `now`, for `memory`.
    pub fn record_rejection(&self, model_id: &str, now: Duration, memory: Duration) {
        let until = now.saturating_add(memory);
        let mut map = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, u| *u > now);
        let entry = map.entry(model_id.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Whether `model_id` rejected cache points less than its memory ago.
    #[must_use]
    pub fn is_rejected(&self, model_id: &str, now: Duration) -> bool {
        self.rejected_until(model_id, now).is_some()
    }

    /// Until when `model_id` is sent no cache points, if it is now.
    #[must_use]
    pub fn rejected_until(&self, model_id: &str, now: Duration) -> Option<Duration> {
        let map = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(model_id).copied().filter(|u| *u > now)
    }

    /// Forgets every model.
    pub fn clear(&self) {
        self.until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_rejection_is_remembered_for_its_duration_only() {
        let m = CacheAvailability::new();
        m.record_rejection("a", MIN, 10 * MIN);
        assert!(m.is_rejected("a", MIN));
        assert!(m.is_rejected("a", 10 * MIN));
        assert_eq!(m.rejected_until("a", 2 * MIN), Some(11 * MIN));
        assert!(!m.is_rejected("a", 11 * MIN));
        assert!(!m.is_rejected("b", MIN));
    }

    #[test]
    fn a_later_rejection_extends_and_an_earlier_memory_never_shortens() {
        let m = CacheAvailability::new();
        m.record_rejection("a", Duration::ZERO, 10 * MIN);
        m.record_rejection("a", 5 * MIN, 10 * MIN);
        assert_eq!(m.rejected_until("a", 6 * MIN), Some(15 * MIN));
        m.record_rejection("a", 6 * MIN, MIN);
        assert_eq!(m.rejected_until("a", 6 * MIN), Some(15 * MIN));
        m.clear();
        assert!(!m.is_rejected("a", 6 * MIN));
    }

    #[test]
    fn expired_entries_are_dropped_and_huge_durations_saturate() {
        let m = CacheAvailability::new();
        m.record_rejection("old", Duration::ZERO, MIN);
        m.record_rejection("new", 2 * MIN, Duration::MAX);
        assert_eq!(
            m.until.lock().unwrap().len(),
            1,
            "the expired entry is gone"
        );
        assert!(m.is_rejected("new", 1_000_000 * MIN));
    }
}
