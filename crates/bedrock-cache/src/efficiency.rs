//! How well the cache worked: per response and summed over a batch.
//!
//! Bedrock reports `cacheReadInputTokens` and `cacheWriteInputTokens` next to `inputTokens`,
//! which (with Anthropic models) counts only the uncached remainder. [`CacheEfficiency`] turns
//! these into a hit ratio, the tokens served from cache, and, given a [`ModelPrice`], the money
//! saved net of the cache-write premium.

use std::collections::BTreeMap;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use bedrock_messages::TokenUsage;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The price table compiled into the crate (`data/prices.json`).
pub const BUNDLED_PRICES: &str = include_str!("../data/prices.json");

/// Input prices of one model, in US dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input_per_mtok: f64,
    /// Tokens read from the cache.
    pub cache_read_per_mtok: f64,
    /// Tokens written to the cache (five-minute TTL).
    pub cache_write_per_mtok: f64,
    /// Where the prices come from (URL and date).
    pub source: String,
}

impl ModelPrice {
    /// Net dollars saved by `read` cached tokens and `write` written tokens, compared with
    /// sending all of them as uncached input: reads save `input − cache_read` per token, writes
    /// cost `cache_write − input` extra per token. Negative when writes outweigh reads.
    #[must_use]
    pub fn saved_usd(&self, read: u64, write: u64) -> f64 {
        let read_saving = read as f64 * (self.input_per_mtok - self.cache_read_per_mtok);
        let write_premium = write as f64 * (self.cache_write_per_mtok - self.input_per_mtok);
        (read_saving - write_premium) / 1_000_000.0
    }
}

#[derive(Debug, Deserialize)]
struct PriceFile {
    #[serde(default)]
    notes: Option<String>,
    models: BTreeMap<String, ModelPrice>,
}

/// Prices per model id.
///
/// ```
/// use bedrock_cache::PriceTable;
///
/// let prices = PriceTable::bundled()?;
/// // Inference-profile ids resolve to their base model.
/// let p = prices.get("us.anthropic.claude-3-7-sonnet-20250219-v1:0").unwrap();
/// assert!(p.cache_read_per_mtok < p.input_per_mtok);
/// # Ok::<(), bedrock_cache::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
    notes: Option<String>,
}

const GEO_PREFIXES: [&str; 7] = ["us.", "eu.", "apac.", "global.", "jp.", "au.", "ca."];

impl PriceTable {
    /// The bundled table ([`BUNDLED_PRICES`]).
    ///
    /// # Errors
    /// Only if the bundled file is malformed, which a test rules out.
    pub fn bundled() -> Result<Self, Error> {
        Self::parse(BUNDLED_PRICES, "<bundled>")
    }

    /// Parses a table from JSON: `{"models": {"<model id>": {"input_per_mtok": .., "cache_read_per_mtok": ..,
    /// "cache_write_per_mtok": .., "source": ".."}}}`.
    ///
    /// # Errors
    /// [`Error::PriceTable`] for bad JSON, [`Error::InvalidPrice`] for a negative or non-finite
    /// price.
    pub fn from_json_str(json: &str) -> Result<Self, Error> {
        Self::parse(json, "<string>")
    }

    fn parse(json: &str, origin: &str) -> Result<Self, Error> {
        let file: PriceFile = serde_json::from_str(json).map_err(|source| Error::PriceTable {
            origin: origin.to_owned(),
            source,
        })?;
        for (id, p) in &file.models {
            for (name, v) in [
                ("input_per_mtok", p.input_per_mtok),
                ("cache_read_per_mtok", p.cache_read_per_mtok),
                ("cache_write_per_mtok", p.cache_write_per_mtok),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(Error::InvalidPrice {
                        origin: origin.to_owned(),
                        model_id: id.clone(),
                        reason: format!("{name} is {v}"),
                    });
                }
            }
        }
        Ok(Self {
            models: file.models,
            notes: file.notes,
        })
    }

    /// The price of a model id, inference-profile id (`us.…`, `global.…`) or ARN ending in one.
    #[must_use]
    pub fn get(&self, model_id: &str) -> Option<&ModelPrice> {
        let id = model_id.rsplit('/').next().unwrap_or(model_id);
        self.models.get(id).or_else(|| {
            GEO_PREFIXES
                .iter()
                .find_map(|p| id.strip_prefix(p))
                .and_then(|base| self.models.get(base))
        })
    }

    /// Model ids with a price.
    pub fn model_ids(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// The table's own notes (scope, currency, date).
    #[must_use]
    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }
}

/// Cache effectiveness of one response, or of many added together.
///
/// ```
/// use bedrock_cache::{CacheEfficiency, ModelPrice};
/// use bedrock_messages::TokenUsage;
///
/// let price = ModelPrice {
///     input_per_mtok: 3.0,
///     cache_read_per_mtok: 0.3,
///     cache_write_per_mtok: 3.75,
///     source: "example".into(),
/// };
/// let first = TokenUsage { input_tokens: 10, output_tokens: 5, total_tokens: 2_015,
///     cache_read_input_tokens: None, cache_write_input_tokens: Some(2_000) };
/// let second = TokenUsage { input_tokens: 10, output_tokens: 5, total_tokens: 2_015,
///     cache_read_input_tokens: Some(2_000), cache_write_input_tokens: None };
/// let batch: CacheEfficiency = [first, second]
///     .iter()
///     .map(|u| CacheEfficiency::from_usage(u, Some(&price)))
///     .sum();
/// assert_eq!(batch.responses, 2);
/// assert_eq!(batch.tokens_saved(), 2_000);
/// assert!((batch.hit_ratio() - 2_000.0 / 4_020.0).abs() < 1e-12);
/// // 2,000 reads save 2.7 $/M each; 2,000 writes cost 0.75 $/M extra each.
/// assert!((batch.cost_saved_usd.unwrap() - 0.0039).abs() < 1e-12);
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
    /// Net dollars saved over the responses that had a price; `None` if none had one.
    pub cost_saved_usd: Option<f64>,
    /// Responses summed without a price.
    pub unpriced_responses: u64,
}

impl CacheEfficiency {
    /// The efficiency of one response; `prices` is the model's price, if known.
    #[must_use]
    pub fn from_usage(usage: &TokenUsage, prices: Option<&ModelPrice>) -> Self {
        let read = u64::from(usage.cache_read_input_tokens.unwrap_or(0));
        let write = u64::from(usage.cache_write_input_tokens.unwrap_or(0));
        Self {
            responses: 1,
            input_tokens: u64::from(usage.input_tokens),
            cache_read_tokens: read,
            cache_write_tokens: write,
            responses_with_hits: u64::from(read > 0),
            cost_saved_usd: prices.map(|p| p.saved_usd(read, write)),
            unpriced_responses: u64::from(prices.is_none()),
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
        }
    }

    #[test]
    fn bundled_prices_parse_and_every_entry_has_a_source() {
        let t = PriceTable::bundled().unwrap();
        assert!(t.model_ids().count() >= 5);
        for id in t.model_ids() {
            let p = t.get(id).unwrap();
            assert!(p.source.starts_with("https://"), "{id}: {}", p.source);
            assert!(p.cache_read_per_mtok < p.input_per_mtok, "{id}");
            assert!(p.cache_write_per_mtok > p.input_per_mtok, "{id}");
        }
        assert!(
            t.get("global.anthropic.claude-sonnet-4-5-20250929-v1:0")
                .is_some()
        );
        assert!(t.get("amazon.titan-text-express-v1").is_none());
    }

    #[test]
    fn bad_tables_are_errors() {
        assert!(matches!(
            PriceTable::from_json_str("{"),
            Err(Error::PriceTable { .. })
        ));
        let neg = r#"{"models":{"m":{"input_per_mtok":-1,"cache_read_per_mtok":0,"cache_write_per_mtok":0,"source":"s"}}}"#;
        assert!(matches!(
            PriceTable::from_json_str(neg),
            Err(Error::InvalidPrice { .. })
        ));
    }

    #[test]
    fn a_write_costs_and_a_read_saves() {
        let p = ModelPrice {
            input_per_mtok: 1.0,
            cache_read_per_mtok: 0.1,
            cache_write_per_mtok: 1.25,
            source: "t".into(),
        };
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
