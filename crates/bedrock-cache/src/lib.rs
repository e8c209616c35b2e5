//! Amazon Bedrock prompt caching: where to put `cachePoint` blocks, how many tokens a prefix
//! holds, and what the cache saved.
//!
//! # Main types
//!
//! - [`place_cache_points`] adds cache points to a [`ConverseRequest`](bedrock_messages::ConverseRequest)
//!   by a [`CacheConfig`] strategy, within the model's limits from the catalog
//!   ([`bedrock_catalog::PromptCaching`]), and returns a [`Placement`]: the new request, every
//!   point with its estimated prefix ([`PointLocation`]) and warnings.
//! - [`place_for_model`] does the same for one model of a failover list: no cache points at all
//!   (the caller's removed too) for a model the configuration lists as unsupported
//!   ([`CacheConfig::with_unsupported_models`]) or that rejected cache points recently, as a
//!   [`CacheAvailability`] remembers for [`CacheConfig::rejection_memory`] (an hour by default).
//! - [`CacheConfig::with_point_threshold`] raises the model's minimum tokens before a point;
//!   [`CacheConfig::with_auto_cache_system`] makes every strategy try the end of the system
//!   prompt first.
//! - [`estimate_request_tokens`] and the per-block functions in [`estimate`] give the token
//!   estimate placement relies on.
//! - [`CacheEfficiency`] reads a response's [`TokenUsage`](bedrock_messages::TokenUsage):
//!   cache reads and writes, hit ratio, tokens saved, and money saved from a [`PriceTable`];
//!   it adds up over a batch (`+`, `+=`, `Sum`).
//! - [`PriceTable`] is the price list as data ([`BUNDLED_PRICES`], `data/prices.json`): per
//!   model, region and access method (direct, geographic or global inference profile), the
//!   on-demand input, output, cache-write and cache-read prices and the batch discount, each
//!   entry with its source and date, an unknown price `None`. [`PriceTable::cost`] turns a
//!   response's [`TokenUsage`](bedrock_messages::TokenUsage) into a [`Cost`] in US dollars that
//!   names the [`PriceEntry`] it used ([`prices`] explains the choices).
//!
//! ```
//! use bedrock_cache::{CacheConfig, CacheEfficiency, PriceTable, place_cache_points};
//! use bedrock_catalog::Catalog;
//! use bedrock_messages::{ConverseRequest, Message, TokenUsage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let catalog = Catalog::bundled()?;
//! let model = catalog.resolve("Claude 3 Haiku")?;
//! let request = ConverseRequest::builder()
//!     .system("You answer questions about the attached handbook. ".repeat(200))
//!     .message_builder(Message::user().text("What is the leave policy?"))
//!     .build()?;
//!
//! let placed = place_cache_points(
//!     &request,
//!     model.capabilities.prompt_caching.as_ref(),
//!     &CacheConfig::conservative(),
//! );
//! assert_eq!(placed.added(), 1);
//! assert!(placed.warnings.is_empty());
//!
//! // After the call: how well did the cache work?
//! let usage = TokenUsage { input_tokens: 7, output_tokens: 40, total_tokens: 2_597,
//!     cache_read_input_tokens: Some(2_550), ..Default::default() };
//! let prices = PriceTable::bundled()?;
//! let eff = CacheEfficiency::from_usage(&usage, prices.get(&model.id));
//! assert!(eff.hit_ratio() > 0.99);
//! assert!(eff.cost_saved_usd.unwrap() > 0.0);
//! # Ok(())
//! # }
//! ```
//!
//! # Bedrock's rules
//!
//! Bedrock reads the cacheable prefix in the order tools (`toolConfig.tools`), system prompt,
//! messages, and accepts `cachePoint` blocks in all three. Every placement keeps these rules
//! (bedrock-wire.md §6.4; AWS user guide "Prompt caching"):
//!
//! 1. Only models whose catalog entry has `capabilities.prompt_caching` get points. Any other
//!    model gets none and a warning, never an error.
//! 2. At most `max_points` points per request (never more than [`MAX_CACHE_POINTS`] = 4),
//!    counting the caller's own points. The caller's points are never moved or removed; if the
//!    request already has the maximum, nothing is added.
//! 3. Thresholds are cumulative: the n-th point of the request (the caller's points included,
//!    in prefix order) needs at least n × `min_tokens` estimated tokens before it, and a new point
//!    must not push a later point below its threshold. So a prompt shorter than the minimum gets
//!    no point, and a second point needs twice the minimum. A configured
//!    [point threshold](CacheConfig::with_point_threshold) above the model's minimum takes its
//!    place.
//! 4. A point closes the prefix that ends with the block before it, so it always follows a
//!    text, image, document, video, tool-use or tool-result block (in the tools list: the last
//!    tool). It is therefore never the first block of the system prompt, of a message or of the
//!    tools, never follows another point, and never follows a guard-content or reasoning block
//!    (Anthropic does not cache-mark reasoning blocks).
//! 5. Added points carry the configured TTL only if the model accepts it (`ttl_1h`) and no
//!    shorter-lived point of the caller precedes them (Anthropic requires longer TTLs first);
//!    otherwise they carry none (five minutes), with a warning.
//!
//! # Strategies
//!
//! All strategies rank positions and accept each in turn if it keeps the rules above.
//! The *static end* is the end of the system prompt, or of the tools when there is no system
//! prompt.
//!
//! - **Conservative** (one point at most; the fewest cache writes): the static end if it
//!   qualifies, because tools and system prompt are the prefix most often repeated. Otherwise the
//!   latest qualifying position among the end of each message but the last, and the blocks of
//!   the last message after which less than the model's minimum, or at most a fifth of that
//!   message's tokens, follow (the original's "80% of the message is before the point" rule) —
//!   never after the request's last block. In a growing conversation this point moves with
//!   every turn, so a turn reads only what the same prefix wrote before; the aggressive strategy
//!   also marks the previous turn's end so that each turn reads the last one.
//! - **Aggressive** (up to the limit): in this order, the static end; the end of the request
//!   (so the next turn of the conversation can read it); the end of the last user message
//!   before the final message (what the previous turn wrote); then, latest first, the end of
//!   every section and message and every image, document or text block of at least the
//!   minimum.
//! - **Custom** ([`CacheRule`]s, in the order given): fixed positions (after the tools, the
//!   system prompt, a message, or a message block) and the original's rules (text blocks over
//!   N tokens, all images, all documents). A fixed position missing from the request or too
//!   early for the minimum is skipped with a warning.
//!
//! Unlike the original, which placed points message by message with a fixed 100-token
//! threshold and no notion of which models cache, the threshold is the model's own minimum and
//! the whole request is considered at once.
//!
//! # Token estimate
//!
//! See [`estimate`] for the rules (`ceil(chars / 4)` for text and JSON, fixed sizes for media).
//! Measured against the simulator's counts (`bedrock-sim`, which reports `usage.inputTokens`
//! plus cache reads and writes) on the fixture prompts in `fixtures/cache/`, through an
//! `aws-sdk-bedrockruntime` client (test `it::estimate`, snapshot
//! `tests/it/snapshots/it__estimate__estimate_vs_simulator.snap`):
//!
//! | Fixture request | Estimate | Simulator | Error | Original's rule (for comparison) |
//! |---|---:|---:|---:|---:|
//! | `images-and-text` | 3,939 | 3,939 | 0.00% | 1,622 (−58.8%) |
//! | `long-system` | 3,043 | 3,043 | 0.00% | 10 (−99.7%) |
//! | `multi-turn` | 4,133 | 4,133 | 0.00% | 3,490 (−15.6%) |
//! | `short-prompt` | 13 | 13 | 0.00% | 8 (−38.5%) |
//! | `tools-and-document` | 6,331 | 6,331 | 0.00% | 1,015 (−84.0%) |
//! | `user-points` | 7,039 | 7,039 | 0.00% | 1,916 (−72.8%) |
//! | `tools-and-document`, document as `txt` bytes | 6,331 | 1,321 | +379% | 1,015 (−23.2%) |
//!
//! Measured error: 0.00% on all six fixture requests (worst case; the test fails above 1%).
//! The last row is a known disagreement, not an estimate error: the simulator charges a
//! document sent as bytes a flat 1,000 tokens whatever its text, while Bedrock tokenizes the
//! text of a `txt`/`md`/`csv`/`html` document, which the estimate counts. The original's rule
//! (per-message text `len // 4`, images 450, documents 1,000, system prompt and tools not
//! counted) is shown for comparison.
//!
//! The simulator counts with the same `chars / 4` rule, so this measures the bookkeeping (which
//! blocks count, JSON as the SDK serialises it), not a real tokenizer. Against Bedrock itself
//! the error has not been measured: English prose often tokenizes at 3.5 to 4 characters per
//! token, so the estimate is expected to run somewhat low on text, which is the safe side for
//! the minimum-token rule (a missed point rather than a wasted one).
//!
//! # Features
//!
//! None.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod availability;
mod config;
mod efficiency;
mod error;
pub mod estimate;
mod place;
pub mod prices;

pub use availability::CacheAvailability;
pub use config::{
    CacheConfig, CacheRule, CacheStrategy, DEFAULT_REJECTION_MEMORY, MAX_CACHE_POINTS,
    MessagePosition,
};
pub use efficiency::CacheEfficiency;
pub use error::{Error, ErrorKind};
pub use estimate::estimate_request_tokens;
pub use place::{
    Placement, PointLocation, PointPosition, cache_points, place_cache_points, place_for_model,
};
pub use prices::{
    BUNDLED_PRICES, Billing, Cost, PriceEntry, PriceRef, PriceTable, Rates, access_of_id,
};
