//! How well the cache worked: per response and summed over a batch.
//!
//! Bedrock reports `cacheReadInputTokens` and `cacheWriteInputTokens` next to `inputTokens`,
//! which (with Anthropic models) counts only the uncached remainder. [`CacheEfficiency`] turns
//! these into a hit ratio, the tokens served from cache, and, given a [`PriceEntry`], the money
//! saved net of the cache-write premium.

use std::iter::Sum;
use std::ops::{Add, AddAssign};

use bedrock_messages::TokenUsage;
use serde::Serialize;

use crate::prices::PriceEntry;

/// Cache effectiveness of one response, or of many added together.
///
/// ```
/// use bedrock_cache::{CacheEfficiency, PriceTable};
/// use bedrock_messages::TokenUsage;
///
/// // Claude 3.7 Sonnet: input 3.0, cache read 0.3, cache write 3.75 $/M.
/// let prices = PriceTable::bundled()?;
/// let price = prices.get("anthropic.claude-3-7-sonnet-20250219-v1:0");
/// let first = TokenUsage { input_tokens: 10, output_tokens: 5, total_tokens: 2_015,
///     cache_write_input_tokens: Some(2_000), ..Default::default() };
/// let second = TokenUsage { input_tokens: 10, output_tokens: 5, total_tokens: 2_015,
///     cache_read_input_tokens: Some(2_000), ..Default::default() };
/// let batch: CacheEfficiency = [first, second]
///     .iter()
///     .map(|u| CacheEfficiency::from_usage(u, price))
///     .sum();
/// assert_eq!(batch.responses, 2);
/// assert_eq!(batch.tokens_saved(), 2_000);
/// assert!((batch.hit_ratio() - 2_000.0 / 4_020.0).abs() < 1e-12);
/// // 2,000 reads save 2.7 $/M each; 2,000 writes cost 0.75 $/M extra each.
/// assert!((batch.cost_saved_usd.unwrap() - 0.0039).abs() < 1e-12);
/// # Ok::<(), bedrock_cache::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CacheEfficiency {
    /// Responses summed.
    pub responses: u64,
    /// Uncached input tokens (`inputTokens`).
    pub input_tokens: u64,
    /// Input tokens read from the cache (`cacheReadInputTokens`).
    pub cache_read_tokens: u64,
    /// Input tokens written to the cache (`cacheWriteInputTokens`).
    pub cache_write_tokens: u64,
    /// Responses that read from the cache.
    pub responses_with_hits: u64,
    /// Net dollars saved over the responses that had the prices needed; `None` if none had.
    pub cost_saved_usd: Option<f64>,
    /// Responses summed without the prices needed for their saving.
    pub unpriced_responses: u64,
}

impl CacheEfficiency {
    /// The efficiency of one response; `prices` is the price entry of the model, region and
    /// access method that answered, if known.
    #[must_use]
    pub fn from_usage(usage: &TokenUsage, prices: Option<&PriceEntry>) -> Self {
        let read = u64::from(usage.cache_read_input_tokens.unwrap_or(0));
        let write = u64::from(usage.cache_write_input_tokens.unwrap_or(0));
        let saved = prices.and_then(|p| p.saved_usd(read, write));
        Self {
            responses: 1,
            input_tokens: u64::from(usage.input_tokens),
            cache_read_tokens: read,
            cache_write_tokens: write,
            responses_with_hits: u64::from(read > 0),
            cost_saved_usd: saved,
            unpriced_responses: u64::from(saved.is_none()),
        }
    }

    /// All input tokens: uncached, read and written.
    #[must_use]
    pub fn total_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_write_tokens)
    }

    /// Share of all input tokens that was read from the cache, 0 to 1 (0 with no input).
    #[must_use]
    pub fn hit_ratio(&self) -> f64 {
        let total = self.total_input_tokens();
        if total == 0 {
            0.0
        } else {
            self.cache_read_tokens as f64 / total as f64
        }
    }

    /// Input tokens not processed at the full input price: those read from the cache.
    #[must_use]
    pub fn tokens_saved(&self) -> u64 {
        self.cache_read_tokens
    }
}

impl Add for CacheEfficiency {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            responses: self.responses.saturating_add(o.responses),
            input_tokens: self.input_tokens.saturating_add(o.input_tokens),
            cache_read_tokens: self.cache_read_tokens.saturating_add(o.cache_read_tokens),
            cache_write_tokens: self.cache_write_tokens.saturating_add(o.cache_write_tokens),
            responses_with_hits: self
                .responses_with_hits
                .saturating_add(o.responses_with_hits),
            cost_saved_usd: match (self.cost_saved_usd, o.cost_saved_usd) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            },
            unpriced_responses: self.unpriced_responses.saturating_add(o.unpriced_responses),
        }
    }
}

impl AddAssign for CacheEfficiency {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl Sum for CacheEfficiency {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), Add::add)
    }
}

impl<'a> Sum<&'a CacheEfficiency> for CacheEfficiency {
    fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
        iter.copied().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u32, read: Option<u32>, write: Option<u32>) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            output_tokens: 1,
            total_tokens: input + 1 + read.unwrap_or(0) + write.unwrap_or(0),
            cache_read_input_tokens: read,
            cache_write_input_tokens: write,
            ..Default::default()
        }
    }

    #[test]
    fn a_write_costs_and_a_read_saves() {
        // Claude Haiku 4.5 through the global profile: input 1.0, cache read 0.1, cache write 1.25.
        let table = crate::PriceTable::bundled().unwrap();
        let p = table
            .get("global.anthropic.claude-haiku-4-5-20251001-v1:0")
            .unwrap()
            .clone();
        let w = CacheEfficiency::from_usage(&usage(10, None, Some(1_000_000)), Some(&p));
        assert!((w.cost_saved_usd.unwrap() + 0.25).abs() < 1e-12);
        assert_eq!(w.hit_ratio(), 0.0);
        let r = CacheEfficiency::from_usage(&usage(0, Some(1_000_000), None), Some(&p));
        assert!((r.cost_saved_usd.unwrap() - 0.9).abs() < 1e-12);
        assert_eq!(r.hit_ratio(), 1.0);
        let mut acc = CacheEfficiency::default();
        acc += w;
        acc += r;
        acc += CacheEfficiency::from_usage(&usage(5, None, None), None);
        assert_eq!(acc.responses, 3);
        assert_eq!(acc.responses_with_hits, 1);
        assert_eq!(acc.unpriced_responses, 1);
        assert!((acc.cost_saved_usd.unwrap() - 0.65).abs() < 1e-9);
        assert_eq!(acc.total_input_tokens(), 2_000_015);
        assert_eq!(CacheEfficiency::default().hit_ratio(), 0.0);
    }
}
