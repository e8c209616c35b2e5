//! What the caller asks for: whether to place cache points and by which strategy.
//!
//! The configuration is independent of any model or request; the model's limits come from the
//! catalog at placement time, so one configuration serves every model of a failover list.

use std::time::Duration;

use bedrock_catalog::ModelInfo;
use bedrock_messages::CacheTtl;

use crate::error::Error;

/// Bedrock's limit on cache points in one request (tools, system and messages together).
pub const MAX_CACHE_POINTS: usize = 4;

/// Which placement strategy to use; the exact rules are in the [crate docs](crate#strategies).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStrategy {
    /// At most one new point, on the most reusable prefix that meets the model's minimum.
    Conservative,
    /// Up to the model's limit: the static prefix, the whole request, the previous turn and
    /// large blocks.
    Aggressive,
    /// Points where the rules say, in the order given.
    Custom(Vec<CacheRule>),
}

/// Counts messages from the start (`FromStart(0)` is the first) or from the end
/// (`FromEnd(1)` is the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessagePosition {
    /// 0-based index from the first message.
    FromStart(usize),
    /// 1-based index from the last message: `FromEnd(1)` is the last one.
    FromEnd(usize),
}

impl MessagePosition {
    /// The 0-based index in a conversation of `len` messages, if it exists.
    #[must_use]
    pub fn resolve(self, len: usize) -> Option<usize> {
        match self {
            Self::FromStart(i) => (i < len).then_some(i),
            Self::FromEnd(n) if n >= 1 => len.checked_sub(n),
            Self::FromEnd(_) => None,
        }
    }
}

/// One rule of a [`CacheStrategy::Custom`] strategy: where a cache point should go.
///
/// Every rule still obeys Bedrock's limits (see the [crate docs](crate#bedrocks-rules)); a rule
/// whose position is missing from a request or too early for the model's minimum is skipped with
/// a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheRule {
    /// After the last tool of `toolConfig.tools`.
    AfterTools,
    /// After the last block of the system prompt.
    AfterSystem,
    /// After the last block of a message.
    AfterMessage(MessagePosition),
    /// After block `block` (0-based) of a message.
    AfterBlock {
        /// The message.
        message: MessagePosition,
        /// The block in it, 0-based.
        block: usize,
    },
    /// After every text block (system or message) whose estimate is at least this many tokens
    /// (the original's `cache_text_blocks_over`).
    TextBlocksOver(u32),
    /// After every image block (the original's `cache_all_images`).
    AllImages,
    /// After every document block.
    AllDocuments,
}

impl CacheRule {
    fn is_fixed_position(self) -> bool {
        matches!(
            self,
            Self::AfterTools | Self::AfterSystem | Self::AfterMessage(_) | Self::AfterBlock { .. }
        )
    }

    fn check(self) -> Result<(), Error> {
        let bad = |reason: &str| {
            Err(Error::InvalidRule {
                rule: format!("{self:?}"),
                reason: reason.to_owned(),
            })
        };
        match self {
            Self::AfterMessage(MessagePosition::FromEnd(0))
            | Self::AfterBlock {
                message: MessagePosition::FromEnd(0),
                ..
            } => bad("FromEnd counts from 1 (FromEnd(1) is the last message)"),
            Self::TextBlocksOver(0) => bad("the token threshold must be at least 1"),
            _ => Ok(()),
        }
    }
}

/// Prompt-cache settings.
///
/// [`Default`] is [`CacheConfig::disabled`], as in the original: caching changes billing, so it
/// is opt-in.
///
/// ```
/// use bedrock_cache::{CacheConfig, CacheRule, MessagePosition};
/// use bedrock_messages::CacheTtl;
///
/// let cfg = CacheConfig::aggressive().with_ttl(Some(CacheTtl::OneHour));
/// assert!(cfg.is_enabled());
///
/// let custom = CacheConfig::custom(vec![
///     CacheRule::AfterSystem,
///     CacheRule::AfterMessage(MessagePosition::FromEnd(1)),
/// ])?;
/// assert!(custom.is_enabled());
/// assert!(CacheConfig::custom(vec![]).is_err());
/// # Ok::<(), bedrock_cache::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    enabled: bool,
    strategy: CacheStrategy,
    ttl: Option<CacheTtl>,
    point_threshold: Option<u32>,
    auto_cache_system: bool,
    unsupported_models: Vec<String>,
    rejection_memory: Duration,
}

/// How long a model that rejected cache points is sent none, by default (the original's
/// `blacklist_duration_minutes=60`).
pub const DEFAULT_REJECTION_MEMORY: Duration = Duration::from_secs(60 * 60);

impl Default for CacheConfig {
    fn default() -> Self {
        Self::disabled()
    }
}

impl CacheConfig {
    /// No cache points are added (the user's own are kept). The strategy, used once enabled
    /// with [`CacheConfig::with_enabled`], is conservative, as in the original.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            strategy: CacheStrategy::Conservative,
            ttl: None,
            point_threshold: None,
            auto_cache_system: false,
            unsupported_models: Vec::new(),
            rejection_memory: DEFAULT_REJECTION_MEMORY,
        }
    }

    /// [`CacheStrategy::Conservative`].
    #[must_use]
    pub fn conservative() -> Self {
        Self {
            enabled: true,
            strategy: CacheStrategy::Conservative,
            ttl: None,
            point_threshold: None,
            auto_cache_system: false,
            unsupported_models: Vec::new(),
            rejection_memory: DEFAULT_REJECTION_MEMORY,
        }
    }

    /// [`CacheStrategy::Aggressive`].
    #[must_use]
    pub fn aggressive() -> Self {
        Self {
            enabled: true,
            strategy: CacheStrategy::Aggressive,
            ttl: None,
            point_threshold: None,
            auto_cache_system: false,
            unsupported_models: Vec::new(),
            rejection_memory: DEFAULT_REJECTION_MEMORY,
        }
    }

    /// [`CacheStrategy::Custom`] with `rules`, applied in the order given.
    ///
    /// # Errors
    /// [`Error::EmptyCustomRules`] for no rules (unlike the original, which silently used the
    /// conservative strategy), [`Error::InvalidRule`] for a position that cannot exist or a zero
    /// threshold, [`Error::DuplicateRule`], and [`Error::TooManyPositions`] for more than
    /// [`MAX_CACHE_POINTS`] fixed positions.
    pub fn custom(rules: Vec<CacheRule>) -> Result<Self, Error> {
        if rules.is_empty() {
            return Err(Error::EmptyCustomRules);
        }
        for (i, r) in rules.iter().enumerate() {
            r.check()?;
            if rules.iter().take(i).any(|earlier| earlier == r) {
                return Err(Error::DuplicateRule {
                    rule: format!("{r:?}"),
                });
            }
        }
        let fixed = rules.iter().filter(|r| r.is_fixed_position()).count();
        if fixed > MAX_CACHE_POINTS {
            return Err(Error::TooManyPositions {
                count: fixed,
                max: MAX_CACHE_POINTS,
            });
        }
        Ok(Self {
            enabled: true,
            strategy: CacheStrategy::Custom(rules),
            ttl: None,
            point_threshold: None,
            auto_cache_system: false,
            unsupported_models: Vec::new(),
            rejection_memory: DEFAULT_REJECTION_MEMORY,
        })
    }

    /// Sets the TTL of added points. `None` (the default) and five minutes are written as no
    /// TTL, which Bedrock reads as five minutes; one hour is written as `"1h"` on models that
    /// accept it and dropped with a warning elsewhere.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Option<CacheTtl>) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the cache point threshold (the original's `cache_point_threshold`): the fewest
    /// estimated tokens a prefix needs before an added point. The model's own minimum from the
    /// catalog still applies, so the threshold can only raise it: a point is placed after at
    /// least `max(model minimum, threshold)` tokens (cumulatively, per point). `None` (the
    /// default) uses the model's minimum alone. The original's default of 100 is below every
    /// caching model's minimum (1,024 or more), which is why this is `None` here.
    #[must_use]
    pub fn with_point_threshold(mut self, tokens: Option<u32>) -> Self {
        self.point_threshold = tokens;
        self
    }

    /// Always tries the end of the system prompt first, before the strategy's own positions
    /// (the original's `auto_cache_system_messages`). The conservative and aggressive
    /// strategies start there anyway; this makes custom rules do so too. Off by default, so a
    /// custom strategy places exactly what its rules say.
    #[must_use]
    pub fn with_auto_cache_system(mut self, on: bool) -> Self {
        self.auto_cache_system = on;
        self
    }

    /// Lists models that get no cache points at all, whatever the catalog says (the original's
    /// `custom_unsupported_models`): not added ones, and the caller's own are removed too,
    /// with a warning. Each entry is a model id, a display name or an alias, matched without
    /// regard to case.
    #[must_use]
    pub fn with_unsupported_models<S: Into<String>>(
        mut self,
        models: impl IntoIterator<Item = S>,
    ) -> Self {
        self.unsupported_models = models.into_iter().map(Into::into).collect();
        self
    }

    /// How long a model that rejected cache points (Bedrock answered with a validation error
    /// about them) is sent none (the original's `blacklist_duration_minutes`; default
    /// [`DEFAULT_REJECTION_MEMORY`], one hour). See [`CacheAvailability`](crate::CacheAvailability).
    #[must_use]
    pub fn with_rejection_memory(mut self, duration: Duration) -> Self {
        self.rejection_memory = duration;
        self
    }

    /// The cache point threshold, if set.
    #[must_use]
    pub fn point_threshold(&self) -> Option<u32> {
        self.point_threshold
    }

    /// Whether the end of the system prompt is tried first.
    #[must_use]
    pub fn auto_cache_system(&self) -> bool {
        self.auto_cache_system
    }

    /// The models listed as not supporting caching.
    #[must_use]
    pub fn unsupported_models(&self) -> &[String] {
        &self.unsupported_models
    }

    /// How long a model that rejected cache points is sent none.
    #[must_use]
    pub fn rejection_memory(&self) -> Duration {
        self.rejection_memory
    }

    /// Whether `model` is listed by [`with_unsupported_models`](Self::with_unsupported_models),
    /// by id, display name or alias.
    #[must_use]
    pub fn lists_unsupported(&self, model: &ModelInfo) -> bool {
        self.unsupported_models.iter().any(|listed| {
            listed.eq_ignore_ascii_case(&model.id)
                || listed.eq_ignore_ascii_case(&model.name)
                || model.aliases.iter().any(|a| listed.eq_ignore_ascii_case(a))
        })
    }

    /// Turns placement on or off, keeping the strategy and TTL.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether points are placed at all.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The strategy used when enabled.
    #[must_use]
    pub fn strategy(&self) -> &CacheStrategy {
        &self.strategy
    }

    /// The TTL written on added points.
    #[must_use]
    pub fn ttl(&self) -> Option<CacheTtl> {
        self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_disabled() {
        assert!(!CacheConfig::default().is_enabled());
        assert_eq!(CacheConfig::default(), CacheConfig::disabled());
        let off = CacheConfig::aggressive().with_enabled(false);
        assert!(!off.is_enabled());
        let on = off.with_enabled(true);
        assert!(on.is_enabled());
        assert_eq!(on.strategy(), &CacheStrategy::Aggressive);
        assert_eq!(
            CacheConfig::disabled().strategy(),
            &CacheStrategy::Conservative
        );
    }

    #[test]
    fn custom_rules_are_validated() {
        let empty = CacheConfig::custom(vec![]).unwrap_err();
        assert!(matches!(empty, Error::EmptyCustomRules));
        assert_eq!(empty.kind(), crate::ErrorKind::Config);
        assert!(matches!(
            CacheConfig::custom(vec![CacheRule::AfterMessage(MessagePosition::FromEnd(0))]),
            Err(Error::InvalidRule { .. })
        ));
        assert!(matches!(
            CacheConfig::custom(vec![CacheRule::TextBlocksOver(0)]),
            Err(Error::InvalidRule { .. })
        ));
        assert!(matches!(
            CacheConfig::custom(vec![CacheRule::AllImages, CacheRule::AllImages]),
            Err(Error::DuplicateRule { .. })
        ));
        let five: Vec<_> = (0..5)
            .map(|i| CacheRule::AfterMessage(MessagePosition::FromStart(i)))
            .collect();
        assert!(matches!(
            CacheConfig::custom(five),
            Err(Error::TooManyPositions { count: 5, max: 4 })
        ));
        let ok = CacheConfig::custom(vec![CacheRule::AfterSystem, CacheRule::AllImages]).unwrap();
        assert_eq!(
            ok.strategy(),
            &CacheStrategy::Custom(vec![CacheRule::AfterSystem, CacheRule::AllImages])
        );
    }

    #[test]
    fn parity_options_default_and_match_models_by_id_name_or_alias() {
        let c = CacheConfig::conservative();
        assert_eq!(c.point_threshold(), None);
        assert!(!c.auto_cache_system());
        assert!(c.unsupported_models().is_empty());
        assert_eq!(c.rejection_memory(), DEFAULT_REJECTION_MEMORY);
        let custom = CacheConfig::custom(vec![CacheRule::AllImages])
            .unwrap()
            .with_point_threshold(Some(3000))
            .with_auto_cache_system(true)
            .with_rejection_memory(Duration::from_secs(600));
        assert_eq!(custom.point_threshold(), Some(3000));
        assert!(custom.auto_cache_system());
        assert_eq!(custom.rejection_memory(), Duration::from_secs(600));

        let catalog = bedrock_catalog::Catalog::bundled().unwrap();
        let haiku = catalog.resolve("Claude 3 Haiku").unwrap();
        let nova = catalog.resolve("Nova Lite").unwrap();
        for listed in [haiku.id.as_str(), "CLAUDE 3 HAIKU", haiku.name.as_str()] {
            let c = CacheConfig::aggressive().with_unsupported_models([listed]);
            assert!(c.lists_unsupported(haiku), "{listed}");
            assert!(!c.lists_unsupported(nova), "{listed}");
        }
        if let Some(alias) = haiku.aliases.first() {
            assert!(
                CacheConfig::aggressive()
                    .with_unsupported_models([alias.to_uppercase()])
                    .lists_unsupported(haiku)
            );
        }
    }

    #[test]
    fn message_positions_resolve() {
        assert_eq!(MessagePosition::FromStart(0).resolve(3), Some(0));
        assert_eq!(MessagePosition::FromStart(3).resolve(3), None);
        assert_eq!(MessagePosition::FromEnd(1).resolve(3), Some(2));
        assert_eq!(MessagePosition::FromEnd(3).resolve(3), Some(0));
        assert_eq!(MessagePosition::FromEnd(4).resolve(3), None);
        assert_eq!(MessagePosition::FromEnd(0).resolve(3), None);
    }
}
