//! What the caller asks for: whether to place cache points and by which strategy.
//!
//! The configuration is independent of any model or request; the model's limits come from the
//! catalog at placement time, so one configuration serves every model of a failover list.

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
}

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
        }
    }

    /// [`CacheStrategy::Conservative`].
    #[must_use]
    pub fn conservative() -> Self {
        Self {
            enabled: true,
            strategy: CacheStrategy::Conservative,
            ttl: None,
        }
    }

    /// [`CacheStrategy::Aggressive`].
    #[must_use]
    pub fn aggressive() -> Self {
        Self {
            enabled: true,
            strategy: CacheStrategy::Aggressive,
            ttl: None,
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
    fn message_positions_resolve() {
        assert_eq!(MessagePosition::FromStart(0).resolve(3), Some(0));
        assert_eq!(MessagePosition::FromStart(3).resolve(3), None);
        assert_eq!(MessagePosition::FromEnd(1).resolve(3), Some(2));
        assert_eq!(MessagePosition::FromEnd(3).resolve(3), Some(0));
        assert_eq!(MessagePosition::FromEnd(4).resolve(3), None);
        assert_eq!(MessagePosition::FromEnd(0).resolve(3), None);
    }
}
