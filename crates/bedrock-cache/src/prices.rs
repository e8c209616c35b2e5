//! What a call costs: a price table as data, and the cost of one response's tokens.
//!
//! Bedrock prices a model per token, per region and per way of reaching it: on demand in the
//! region, through a geographic cross-region inference profile (`us.`, `eu.`, ...) or through the
//! `global.` profile, each priced in the region the request is sent to (the *source* region).
//! Claude 4.5 models and later cost more through a regional endpoint than through the global one,
//! so a profile call must be priced as a profile call, not as its base model.
//! Batch inference takes a discount off the on-demand input and output prices.
//!
//! The table is plain data ([`BUNDLED_PRICES`], `data/prices.json`; `data/README.md` says how to
//! update it). Every price is `Option`: a price the table does not know is `None`, and a cost that
//! needs it is `None` too, never a silent 0.
//!
//! Amounts are `f64` US dollars. Prices are published as decimal dollars per million tokens with
//! up to five significant digits, and discounts (10%, 50%, 75%) make fractions of any fixed unit;
//! integer micro-dollars would round a short call on a cheap model to nothing. An `f64` keeps
//! about 15 significant digits, so a sum over millions of calls is exact to far below a cent.

use std::collections::HashMap;

use bedrock_catalog::AccessMethod;
use bedrock_messages::TokenUsage;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The price table compiled into the crate (`data/prices.json`).
pub const BUNDLED_PRICES: &str = include_str!("../data/prices.json");

/// Prefixes of inference-profile ids, each followed by the base model id.
const PROFILE_PREFIXES: [&str; 7] = ["us.", "eu.", "apac.", "global.", "jp.", "au.", "ca."];

/// Region prefixes that `"*"` does not cover: partitions priced apart from the commercial one.
const OTHER_PARTITIONS: [&str; 3] = ["us-gov-", "cn-", "us-iso"];

/// How a call is billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Billing {
    /// An on-demand call (Converse or ConverseStream).
    #[default]
    OnDemand,
    /// A record of a batch-inference job: input and output at the entry's batch discount.
    Batch,
}

impl Billing {
    /// Stable lower-case name (`on_demand`, `batch`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnDemand => "on_demand",
            Self::Batch => "batch",
        }
    }
}

/// One entry of a [`PriceTable`]: the prices of one model in some regions through some access
/// methods, in US dollars per million tokens, with where they come from.
///
/// ```
/// use bedrock_cache::{Billing, PriceTable};
/// use bedrock_catalog::AccessMethod;
///
/// let prices = PriceTable::bundled()?;
/// let haiku = "anthropic.claude-haiku-4-5-20251001-v1:0";
/// let regional = prices.lookup(haiku, "us-east-1", AccessMethod::RegionalProfile).unwrap();
/// let global = prices.lookup(haiku, "us-east-1", AccessMethod::GlobalProfile).unwrap();
/// assert!(regional.input > global.input);
/// assert_eq!(regional.rates(Billing::Batch).input, Some(0.55));
/// # Ok::<(), bedrock_cache::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PriceEntry {
    /// The base model id.
    pub model: String,
    /// Regions the prices apply in: names, or `"*"` for every commercial region (not `us-gov-*`,
    /// `cn-*` or `us-iso*`). A named region wins over `"*"`.
    pub regions: Vec<String>,
    /// Access methods the prices apply to.
    pub access: Vec<AccessMethod>,
    /// Uncached input tokens.
    pub input: Option<f64>,
    /// Output tokens.
    pub output: Option<f64>,
    /// Tokens written to the prompt cache (five-minute TTL).
    pub cache_write: Option<f64>,
    /// Tokens read from the prompt cache.
    pub cache_read: Option<f64>,
    /// Share taken off input and output prices in batch inference (0.5 is half price); `None`
    /// if batch inference is not offered or its price is not known.
    pub batch_discount: Option<f64>,
    /// Where the prices come from.
    pub source: String,
    /// When the prices were last compared with the source (`YYYY-MM-DD`).
    pub date: String,
}

/// Prices per million tokens for one way of billing, each `None` when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Rates {
    /// Uncached input tokens.
    pub input: Option<f64>,
    /// Output tokens.
    pub output: Option<f64>,
    /// Tokens written to the prompt cache.
    pub cache_write: Option<f64>,
    /// Tokens read from the prompt cache.
    pub cache_read: Option<f64>,
}

impl PriceEntry {
    /// The prices for `billing`. Batch prices are the on-demand input and output prices less
    /// [`batch_discount`](Self::batch_discount); cache prices in batch inference are not
    /// published, so they are `None`.
    #[must_use]
    pub fn rates(&self, billing: Billing) -> Rates {
        match billing {
            Billing::OnDemand => Rates {
                input: self.input,
                output: self.output,
                cache_write: self.cache_write,
                cache_read: self.cache_read,
            },
            Billing::Batch => {
                let off = |p: Option<f64>| Some(p? * (1.0 - self.batch_discount?));
                Rates {
                    input: off(self.input),
                    output: off(self.output),
                    cache_write: None,
                    cache_read: None,
                }
            }
        }
    }

    /// Net dollars saved by `read` cached tokens and `write` written tokens at on-demand prices,
    /// compared with sending all of them as uncached input: reads save `input − cache_read` per
    /// token, writes cost `cache_write − input` extra per token. Negative when writes outweigh
    /// reads; `None` when a price it needs is unknown.
    #[must_use]
    pub fn saved_usd(&self, read: u64, write: u64) -> Option<f64> {
        saved(&self.rates(Billing::OnDemand), read, write)
    }

    /// The cost of `usage` billed as `billing`, with `region` and `access` recorded as the call's;
    /// `None` if a price is unknown for a kind of token the usage has.
    #[must_use]
    pub fn cost(
        &self,
        usage: &TokenUsage,
        region: &str,
        access: AccessMethod,
        billing: Billing,
    ) -> Option<Cost> {
        let rates = self.rates(billing);
        let read = u64::from(usage.cache_read_input_tokens.unwrap_or(0));
        let write = u64::from(usage.cache_write_input_tokens.unwrap_or(0));
        let input_usd = usd(u64::from(usage.input_tokens), rates.input)?;
        let output_usd = usd(u64::from(usage.output_tokens), rates.output)?;
        let cache_read_usd = usd(read, rates.cache_read)?;
        let cache_write_usd = usd(write, rates.cache_write)?;
        Some(Cost {
            usd: input_usd + output_usd + cache_read_usd + cache_write_usd,
            input_usd,
            output_usd,
            cache_read_usd,
            cache_write_usd,
            cache_savings_usd: saved(&rates, read, write),
            price: PriceRef {
                model: self.model.clone(),
                region: region.to_owned(),
                access,
                billing,
                source: self.source.clone(),
                date: self.date.clone(),
            },
        })
    }

    fn matches_region(&self, region: &str) -> Option<RegionMatch> {
        if self.regions.iter().any(|r| r == region) {
            Some(RegionMatch::Named)
        } else if self.regions.iter().any(|r| r == "*")
            && !OTHER_PARTITIONS.iter().any(|p| region.starts_with(p))
        {
            Some(RegionMatch::Any)
        } else {
            None
        }
    }
}

/// How well an entry's regions match a region: a named region wins over `"*"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RegionMatch {
    Any,
    Named,
}

/// Dollars for `tokens` at `per_mtok`; no tokens cost nothing even at an unknown price.
fn usd(tokens: u64, per_mtok: Option<f64>) -> Option<f64> {
    if tokens == 0 {
        Some(0.0)
    } else {
        Some(tokens as f64 * per_mtok? / 1_000_000.0)
    }
}

fn saved(rates: &Rates, read: u64, write: u64) -> Option<f64> {
    let read_saving = if read == 0 {
        0.0
    } else {
        read as f64 * (rates.input? - rates.cache_read?)
    };
    let write_premium = if write == 0 {
        0.0
    } else {
        write as f64 * (rates.cache_write? - rates.input?)
    };
    Some((read_saving - write_premium) / 1_000_000.0)
}

/// Which price a [`Cost`] used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PriceRef {
    /// The base model id of the entry.
    pub model: String,
    /// The region the call was priced in.
    pub region: String,
    /// The access method it was priced for.
    pub access: AccessMethod,
    /// On demand or batch.
    pub billing: Billing,
    /// The entry's source.
    pub source: String,
    /// The entry's date.
    pub date: String,
}

/// What one response cost, in US dollars, split by kind of token.
///
/// Serialises as `{"usd": .., "input_usd": .., "output_usd": .., "cache_read_usd": ..,
/// "cache_write_usd": .., "cache_savings_usd": .., "price": {"model": .., "region": ..,
/// "access": .., "billing": .., "source": .., "date": ..}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Cost {
    /// The total.
    pub usd: f64,
    /// Uncached input tokens.
    pub input_usd: f64,
    /// Output tokens.
    pub output_usd: f64,
    /// Tokens read from the prompt cache.
    pub cache_read_usd: f64,
    /// Tokens written to the prompt cache.
    pub cache_write_usd: f64,
    /// What the prompt cache saved compared with sending every cached token as uncached input
    /// (negative when writes outweighed reads); `None` if the prices it needs are unknown.
    #[serde(default)]
    pub cache_savings_usd: Option<f64>,
    /// The price entry used.
    pub price: PriceRef,
}

#[derive(Debug, Deserialize)]
struct PriceFile {
    #[serde(default)]
    notes: Option<String>,
    entries: Vec<PriceEntry>,
}

/// Prices per model, region and access method.
///
/// ```
/// use bedrock_cache::{Billing, PriceTable};
/// use bedrock_catalog::AccessMethod;
/// use bedrock_messages::TokenUsage;
///
/// let prices = PriceTable::bundled()?;
/// let usage = TokenUsage { input_tokens: 1_000, output_tokens: 200, ..Default::default() };
/// let cost = prices
///     .cost("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", AccessMethod::Direct,
///         Billing::OnDemand, &usage)
///     .unwrap();
/// // 1,000 × $0.25 + 200 × $1.25 per million tokens.
/// assert!((cost.usd - 0.0005).abs() < 1e-12);
/// assert_eq!(cost.price.date.len(), 10);
/// // No price, no cost: an unknown model is None, not free.
/// assert!(prices.cost("amazon.titan-text-express-v1", "us-east-1", AccessMethod::Direct,
///     Billing::OnDemand, &usage).is_none());
/// # Ok::<(), bedrock_cache::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable {
    entries: Vec<PriceEntry>,
    notes: Option<String>,
}

impl PriceTable {
    /// The bundled table ([`BUNDLED_PRICES`]).
    ///
    /// # Errors
    /// Only if the bundled file is malformed, which a test rules out.
    pub fn bundled() -> Result<Self, Error> {
        Self::parse(BUNDLED_PRICES, "<bundled>")
    }

    /// Parses a table in the layout of `data/prices.json`: `{"entries": [{"model": ..,
    /// "regions": [..], "access": [..], "input": .., "output": .., "cache_write": ..,
    /// "cache_read": .., "batch_discount": .., "source": .., "date": ..}]}`, prices in US dollars
    /// per million tokens, `null` for unknown.
    ///
    /// # Errors
    /// [`Error::PriceTable`] for bad JSON, [`Error::InvalidPrice`] for a negative or non-finite
    /// price, a discount outside 0 to 1, an entry without regions, access methods, source or
    /// date, or two entries claiming the same model, region and access method.
    pub fn from_json_str(json: &str) -> Result<Self, Error> {
        Self::parse(json, "<string>")
    }

    fn parse(json: &str, origin: &str) -> Result<Self, Error> {
        let file: PriceFile = serde_json::from_str(json).map_err(|source| Error::PriceTable {
            origin: origin.to_owned(),
            source,
        })?;
        let invalid = |e: &PriceEntry, reason: String| Error::InvalidPrice {
            origin: origin.to_owned(),
            model_id: e.model.clone(),
            reason,
        };
        let mut claimed = HashMap::new();
        for (i, e) in file.entries.iter().enumerate() {
            for (name, v) in [
                ("input", e.input),
                ("output", e.output),
                ("cache_write", e.cache_write),
                ("cache_read", e.cache_read),
            ] {
                if let Some(v) = v.filter(|v| !v.is_finite() || *v < 0.0) {
                    return Err(invalid(e, format!("{name} is {v}")));
                }
            }
            if let Some(d) = e.batch_discount.filter(|d| !(0.0..=1.0).contains(d)) {
                return Err(invalid(e, format!("batch_discount is {d}, not 0 to 1")));
            }
            for (name, empty) in [
                ("regions", e.regions.is_empty()),
                ("access", e.access.is_empty()),
                ("source", e.source.trim().is_empty()),
                ("date", e.date.trim().is_empty()),
            ] {
                if empty {
                    return Err(invalid(e, format!("{name} is empty")));
                }
            }
            for region in &e.regions {
                for access in &e.access {
                    let key = (e.model.as_str(), region.as_str(), *access);
                    if let Some(first) = claimed.insert(key, i) {
                        return Err(invalid(
                            e,
                            format!("entries {first} and {i} both price {region} through {access}"),
                        ));
                    }
                }
            }
        }
        Ok(Self {
            entries: file.entries,
            notes: file.notes,
        })
    }

    /// The entry pricing `model_id` (a base model id, an inference-profile id or an ARN ending in
    /// one; a profile id names its base model) called in `region` through `access`; a named
    /// region wins over `"*"`.
    #[must_use]
    pub fn lookup(
        &self,
        model_id: &str,
        region: &str,
        access: AccessMethod,
    ) -> Option<&PriceEntry> {
        let base = base_model_id(model_id);
        self.entries
            .iter()
            .filter(|e| e.model == base && e.access.contains(&access))
            .filter_map(|e| e.matches_region(region).map(|m| (m, e)))
            .max_by_key(|(m, _)| *m)
            .map(|(_, e)| e)
    }

    /// The cost of `usage` for `model_id` called in `region` through `access`, billed as
    /// `billing`; `None` if the table has no entry or lacks a price the usage needs.
    #[must_use]
    pub fn cost(
        &self,
        model_id: &str,
        region: &str,
        access: AccessMethod,
        billing: Billing,
        usage: &TokenUsage,
    ) -> Option<Cost> {
        self.lookup(model_id, region, access)?
            .cost(usage, region, access, billing)
    }

    /// The entry for a model or profile id in any commercial region (`"*"`), through the access
    /// method the id implies ([`access_of_id`]).
    #[must_use]
    pub fn get(&self, model_id: &str) -> Option<&PriceEntry> {
        let access = access_of_id(model_id);
        let base = base_model_id(model_id);
        self.entries.iter().find(|e| {
            e.model == base && e.access.contains(&access) && e.regions.iter().any(|r| r == "*")
        })
    }

    /// Every entry, in the table's order.
    pub fn entries(&self) -> impl Iterator<Item = &PriceEntry> {
        self.entries.iter()
    }

    /// Base model ids with at least one entry.
    pub fn model_ids(&self) -> impl Iterator<Item = &str> {
        let mut ids: Vec<&str> = self.entries.iter().map(|e| e.model.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
    }

    /// The table's own notes (scope, currency, units).
    #[must_use]
    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }
}

/// The base model id of a model id, inference-profile id or ARN.
fn base_model_id(model_id: &str) -> &str {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    PROFILE_PREFIXES
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id)
}

/// The access method an id implies: `global.…` the global profile, another geographic prefix
/// (`us.`, `eu.`, ...) a regional profile, anything else the model itself.
///
/// ```
/// use bedrock_cache::access_of_id;
/// use bedrock_catalog::AccessMethod;
///
/// assert_eq!(access_of_id("global.anthropic.claude-haiku-4-5-20251001-v1:0"), AccessMethod::GlobalProfile);
/// assert_eq!(access_of_id("eu.amazon.nova-lite-v1:0"), AccessMethod::RegionalProfile);
/// assert_eq!(access_of_id("amazon.nova-lite-v1:0"), AccessMethod::Direct);
/// ```
#[must_use]
pub fn access_of_id(model_id: &str) -> AccessMethod {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    if id.starts_with("global.") {
        AccessMethod::GlobalProfile
    } else if PROFILE_PREFIXES.iter().any(|p| id.starts_with(p)) {
        AccessMethod::RegionalProfile
    } else {
        AccessMethod::Direct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HAIKU3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
    const HAIKU45: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";

    fn usage(input: u32, output: u32, read: Option<u32>, write: Option<u32>) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input + output + read.unwrap_or(0) + write.unwrap_or(0),
            cache_read_input_tokens: read,
            cache_write_input_tokens: write,
            ..Default::default()
        }
    }

    #[track_caller]
    fn check_usd(cost: Option<Cost>, expected: f64) {
        let cost = cost.expect("a cost");
        assert!(
            (cost.usd - expected).abs() < 1e-12,
            "{} != {expected}",
            cost.usd
        );
    }

    #[test]
    fn bundled_prices_parse_and_every_entry_has_a_source_and_a_date() {
        let t = PriceTable::bundled().unwrap();
        assert!(t.model_ids().count() >= 8);
        for e in t.entries() {
            assert!(
                e.source.starts_with("https://"),
                "{}: {}",
                e.model,
                e.source
            );
            let d = e.date.as_bytes();
            assert!(
                d.len() == 10 && d[4] == b'-' && d[7] == b'-',
                "{}: {}",
                e.model,
                e.date
            );
            if let (Some(input), Some(read)) = (e.input, e.cache_read) {
                assert!(read < input, "{}", e.model);
            }
            if let (Some(input), Some(write)) = (e.input, e.cache_write) {
                assert!(write > input, "{}", e.model);
            }
        }
    }

    #[test]
    fn an_unknown_price_is_none_never_zero() {
        let t = PriceTable::bundled().unwrap();
        let u = usage(1_000, 100, None, None);
        // An unknown model.
        assert!(
            t.lookup(
                "amazon.titan-text-express-v1",
                "us-east-1",
                AccessMethod::Direct
            )
            .is_none()
        );
        assert!(
            t.cost(
                "amazon.titan-text-express-v1",
                "us-east-1",
                AccessMethod::Direct,
                Billing::OnDemand,
                &u
            )
            .is_none()
        );
        assert!(t.get("amazon.titan-text-express-v1").is_none());
        // A known model through an access method the table does not price.
        assert!(
            t.lookup(HAIKU3, "us-east-1", AccessMethod::GlobalProfile)
                .is_none()
        );
        // A region outside the commercial partition.
        assert!(
            t.lookup(HAIKU3, "us-gov-west-1", AccessMethod::Direct)
                .is_none()
        );
        assert!(
            t.lookup(HAIKU3, "cn-north-1", AccessMethod::Direct)
                .is_none()
        );
        // A region the entry does not name.
        assert!(
            t.lookup("amazon.nova-lite-v1:0", "eu-west-1", AccessMethod::Direct)
                .is_none()
        );
        // A kind of token without a price: Nova lists no cache-write price.
        let nova = t
            .lookup("amazon.nova-lite-v1:0", "us-east-1", AccessMethod::Direct)
            .unwrap();
        assert_eq!(nova.cache_write, None);
        assert!(
            nova.cost(
                &usage(10, 10, None, Some(2_000)),
                "us-east-1",
                AccessMethod::Direct,
                Billing::OnDemand
            )
            .is_none()
        );
        assert_eq!(nova.saved_usd(0, 2_000), None);
        // ...but a usage without such tokens is priced.
        check_usd(
            nova.cost(&u, "us-east-1", AccessMethod::Direct, Billing::OnDemand),
            (1_000.0 * 0.06 + 100.0 * 0.24) / 1e6,
        );
        // Batch prices of cache tokens are not published.
        let haiku = t.lookup(HAIKU3, "us-east-1", AccessMethod::Direct).unwrap();
        assert!(
            haiku
                .cost(
                    &usage(10, 10, Some(5), None),
                    "us-east-1",
                    AccessMethod::Direct,
                    Billing::Batch
                )
                .is_none()
        );
    }

    #[test]
    fn a_profile_is_priced_as_the_profile_where_the_data_says_so() {
        let t = PriceTable::bundled().unwrap();
        let u = usage(1_000_000, 1_000_000, None, None);
        let price = |id: &str, access| {
            t.cost(id, "us-east-1", access, Billing::OnDemand, &u)
                .unwrap()
                .usd
        };
        // Claude Haiku 4.5: the regional profile costs 10% more than the global one.
        let regional = price(HAIKU45, AccessMethod::RegionalProfile);
        let global = price(HAIKU45, AccessMethod::GlobalProfile);
        assert!((regional - 6.6).abs() < 1e-9, "{regional}");
        assert!((global - 6.0).abs() < 1e-9, "{global}");
        // A profile id names its base model.
        assert_eq!(
            t.lookup(
                "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                "us-east-1",
                AccessMethod::RegionalProfile
            ),
            t.lookup(HAIKU45, "us-east-1", AccessMethod::RegionalProfile)
        );
        assert_eq!(
            t.get("global.anthropic.claude-haiku-4-5-20251001-v1:0")
                .and_then(|e| e.input),
            Some(1.0)
        );
        assert_eq!(
            t.get("us.anthropic.claude-haiku-4-5-20251001-v1:0")
                .and_then(|e| e.input),
            Some(1.1)
        );
        // Claude 3 Haiku: a geographic profile costs what the model costs in the source region.
        assert_eq!(
            price(HAIKU3, AccessMethod::RegionalProfile),
            price(HAIKU3, AccessMethod::Direct)
        );
        let cost = t
            .cost(
                HAIKU45,
                "eu-west-1",
                AccessMethod::GlobalProfile,
                Billing::OnDemand,
                &u,
            )
            .unwrap();
        assert_eq!(cost.price.access, AccessMethod::GlobalProfile);
        assert_eq!(cost.price.region, "eu-west-1");
        assert_eq!(cost.price.model, HAIKU45);
    }

    #[test]
    fn a_named_region_wins_over_the_wildcard() {
        let json = r#"{"entries": [
            {"model": "m", "regions": ["*"], "access": ["direct"], "input": 1.0, "output": 2.0,
             "cache_write": null, "cache_read": null, "batch_discount": null, "source": "s", "date": "2026-01-01"},
            {"model": "m", "regions": ["ap-south-1"], "access": ["direct"], "input": 1.5, "output": 2.5,
             "cache_write": null, "cache_read": null, "batch_discount": null, "source": "t", "date": "2026-01-02"}
        ]}"#;
        let t = PriceTable::from_json_str(json).unwrap();
        assert_eq!(
            t.lookup("m", "ap-south-1", AccessMethod::Direct)
                .unwrap()
                .source,
            "t"
        );
        assert_eq!(
            t.lookup("m", "us-east-1", AccessMethod::Direct)
                .unwrap()
                .source,
            "s"
        );
        // No batch discount known: no batch price.
        let e = t.lookup("m", "us-east-1", AccessMethod::Direct).unwrap();
        assert_eq!(e.rates(Billing::Batch), Rates::default());
    }

    #[test]
    fn cost_is_tokens_times_price_and_batch_takes_the_discount() {
        let t = PriceTable::bundled().unwrap();
        let u = usage(1_200, 340, Some(2_000), Some(500));
        let cost = t
            .cost(
                HAIKU3,
                "us-west-2",
                AccessMethod::Direct,
                Billing::OnDemand,
                &u,
            )
            .unwrap();
        let expected = (1_200.0 * 0.25 + 340.0 * 1.25 + 2_000.0 * 0.03 + 500.0 * 0.30) / 1e6;
        assert!((cost.usd - expected).abs() < 1e-15);
        assert!((cost.output_usd - 340.0 * 1.25 / 1e6).abs() < 1e-15);
        let savings = (2_000.0 * (0.25 - 0.03) - 500.0 * (0.30 - 0.25)) / 1e6;
        assert!((cost.cache_savings_usd.unwrap() - savings).abs() < 1e-15);
        assert_eq!(cost.price.billing, Billing::OnDemand);

        let plain = usage(1_200, 340, None, None);
        let on_demand = t
            .cost(
                HAIKU3,
                "us-west-2",
                AccessMethod::Direct,
                Billing::OnDemand,
                &plain,
            )
            .unwrap();
        let batch = t
            .cost(
                HAIKU3,
                "us-west-2",
                AccessMethod::Direct,
                Billing::Batch,
                &plain,
            )
            .unwrap();
        assert!((batch.usd - on_demand.usd / 2.0).abs() < 1e-15);
        assert_eq!(batch.price.billing, Billing::Batch);
        assert_eq!(batch.cache_savings_usd, Some(0.0));
    }

    #[test]
    fn the_cost_serialises_with_its_price_entry() {
        let t = PriceTable::bundled().unwrap();
        let cost = t
            .cost(
                HAIKU3,
                "us-east-1",
                AccessMethod::RegionalProfile,
                Billing::OnDemand,
                &usage(4, 2, None, None),
            )
            .unwrap();
        let json = serde_json::to_value(&cost).unwrap();
        assert_eq!(json["price"]["access"], "regional_profile");
        assert_eq!(json["price"]["billing"], "on_demand");
        assert_eq!(json["price"]["date"], cost.price.date.as_str());
        assert!(
            json["price"]["source"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
        let back: Cost = serde_json::from_value(json).unwrap();
        assert_eq!(back, cost);
    }

    #[test]
    fn bad_tables_are_errors() {
        assert!(matches!(
            PriceTable::from_json_str("{"),
            Err(Error::PriceTable { .. })
        ));
        let good = serde_json::json!({"model": "m", "regions": ["*"], "access": ["direct"],
            "input": 1.0, "output": 1.0, "batch_discount": 0.5, "source": "s", "date": "2026-01-01"});
        let table = |entry: &serde_json::Value| {
            PriceTable::from_json_str(&serde_json::json!({ "entries": [entry] }).to_string())
        };
        assert!(table(&good).is_ok());
        for (field, bad) in [
            ("input", serde_json::json!(-1.0)),
            ("batch_discount", serde_json::json!(1.5)),
            ("regions", serde_json::json!([])),
            ("access", serde_json::json!([])),
            ("date", serde_json::json!(" ")),
            ("source", serde_json::json!("")),
        ] {
            let mut entry = good.clone();
            entry[field] = bad;
            assert!(
                matches!(table(&entry), Err(Error::InvalidPrice { .. })),
                "{field}"
            );
        }
        let twice = r#"{"entries": [
            {"model": "m", "regions": ["*"], "access": ["direct"], "input": 1, "output": 1, "cache_write": null,
             "cache_read": null, "batch_discount": null, "source": "s", "date": "d"},
            {"model": "m", "regions": ["*"], "access": ["direct", "global_profile"], "input": 2, "output": 2,
             "cache_write": null, "cache_read": null, "batch_discount": null, "source": "s", "date": "d"}
        ]}"#;
        assert!(matches!(
            PriceTable::from_json_str(twice),
            Err(Error::InvalidPrice { .. })
        ));
    }
}
