//! Every content limit the builder enforces, in one table with its source.
//!
//! Bedrock rejects oversized or malformed content only after the upload, with a generic
//! `ValidationException`. Checking the same rules locally turns that round trip into a typed
//! [`Error`](crate::Error) that names the offending part, the rule and the limit. The table
//! [`LIMITS`] is the single place where numbers live; [`Limits`] carries the values a request
//! builder uses and can be tightened or relaxed by the caller.
//!
//! Sources:
//! - **wire §6.5**: Bedrock API reference for `Message.content`
//!   (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html>),
//!   as summarised in the workspace's Bedrock wire reference, section 6.5.
//! - **wire §1.1** / **§1.2**: the Converse request shape constraints from the botocore model.
//! - **wire §6.4**: prompt caching, at most four checkpoints per request.
//! - **original §3.2**: the Python original's `message_builder_constants.py`.

use std::fmt;

use crate::format::FormatPolicy;

/// A rule the validator enforces; each one appears in [`LIMITS`] or is a shape rule of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Size of one image in bytes.
    ImageSize,
    /// Number of images in one request.
    ImageCount,
    /// Size of one document in bytes.
    DocumentSize,
    /// Number of documents in one request.
    DocumentCount,
    /// Size of one video in bytes.
    VideoSize,
    /// Number of content blocks in one message.
    BlocksPerMessage,
    /// Number of cache points in one request (system, messages and tools together).
    CachePoints,
    /// Total bytes of inline media in one request.
    TotalSize,
    /// Length of a document name in characters.
    DocumentNameLength,
    /// Characters allowed in a document name.
    DocumentNameCharacters,
    /// Number of `additionalModelResponseFieldPaths`.
    ResponseFieldPaths,
    /// Text blocks must contain non-whitespace text.
    EmptyText,
    /// Inline media must not be empty.
    EmptyBytes,
    /// A request needs at least one message, and a message at least one block.
    EmptyMessages,
    /// Roles alternate, starting with `user`.
    RoleOrder,
    /// Images and documents are only allowed in `user` messages.
    MediaRole,
    /// A message carrying a document also carries a text block.
    DocumentNeedsText,
    /// The bytes are not a known format of the claimed kind.
    Format,
    /// Tool and tool-use names: `[a-zA-Z0-9_-]`, 1 to 64 characters.
    ToolName,
    /// Tool-use ids: `[a-zA-Z0-9_.:-]`, 1 to 64 characters.
    ToolUseId,
    /// `maxTokens` at least 1 and representable as a 32-bit integer.
    MaxTokens,
    /// `temperature` and `topP` within 0 to 1.
    Probability,
    /// Image width or height in pixels (checked for PNG and GIF, whose headers carry it).
    ImageDimensions,
    /// A tool configuration lists at least one tool.
    EmptyTools,
    /// An S3 location: `s3://bucket/key` (bucket 3 to 63 lowercase letters, digits, `.` and
    /// `-`), and a bucket owner of 12 digits.
    S3Location,
    /// An extra request field may not be one the request model names, nor empty.
    ExtraField,
}

impl Rule {
    /// A short human-readable statement of the rule.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::ImageSize => "image size",
            Self::ImageCount => "images per request",
            Self::DocumentSize => "document size",
            Self::DocumentCount => "documents per request",
            Self::VideoSize => "video size",
            Self::BlocksPerMessage => "content blocks per message",
            Self::CachePoints => "cache points per request",
            Self::TotalSize => "total inline media size",
            Self::DocumentNameLength => "document name length",
            Self::DocumentNameCharacters => {
                "document name characters (alphanumerics, single spaces, - ( ) [ ])"
            }
            Self::ResponseFieldPaths => "additionalModelResponseFieldPaths entries",
            Self::EmptyText => "text must contain non-whitespace characters",
            Self::EmptyBytes => "media must not be empty",
            Self::EmptyMessages => "a request needs messages and a message needs content",
            Self::RoleOrder => "roles alternate, starting with user",
            Self::MediaRole => "images and documents only in user messages",
            Self::DocumentNeedsText => "a message with a document also needs a text block",
            Self::Format => "bytes must be a supported format of the claimed kind",
            Self::ToolName => "tool names are [a-zA-Z0-9_-], 1 to 64 characters",
            Self::ToolUseId => "tool-use ids are [a-zA-Z0-9_.:-], 1 to 64 characters",
            Self::MaxTokens => "maxTokens is at least 1 and at most 2147483647",
            Self::Probability => "temperature and topP are within 0 and 1",
            Self::ImageDimensions => "image width and height in pixels",
            Self::EmptyTools => "a tool configuration lists at least one tool",
            Self::ExtraField => {
                "extra request fields must be non-empty and not a field the request model names"
            }
            Self::S3Location => {
                "S3 locations are s3://bucket/key with a 12-digit bucket owner account id"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One row of the limit table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitEntry {
    /// The rule this number bounds.
    pub rule: Rule,
    /// The maximum allowed value (inclusive).
    pub max: u64,
    /// The unit of `max`.
    pub unit: &'static str,
    /// Where the number comes from.
    pub source: &'static str,
}

/// Every numeric limit, with its source. [`Limits::bedrock`] is built from this table.
pub const LIMITS: &[LimitEntry] = &[
    LimitEntry {
        rule: Rule::ImageSize,
        max: 3_750_000,
        unit: "bytes",
        source: "wire §6.5 (3.75 MB); original §3.2 (3,750,000 bytes)",
    },
    LimitEntry {
        rule: Rule::ImageCount,
        max: 20,
        unit: "images",
        source: "wire §6.5",
    },
    LimitEntry {
        rule: Rule::ImageDimensions,
        max: 8_000,
        unit: "pixels",
        source: "wire §6.5 (8000 px wide and high)",
    },
    LimitEntry {
        rule: Rule::DocumentSize,
        max: 4_500_000,
        unit: "bytes",
        source: "wire §6.5 (4.5 MB); original §3.2 (4,500,000 bytes)",
    },
    LimitEntry {
        rule: Rule::DocumentCount,
        max: 5,
        unit: "documents",
        source: "wire §6.5",
    },
    LimitEntry {
        rule: Rule::VideoSize,
        max: 100_000_000,
        unit: "bytes",
        source: "original §3.2 (max_size_mb=100.0 for video)",
    },
    LimitEntry {
        rule: Rule::BlocksPerMessage,
        max: 100,
        unit: "blocks",
        source: "original §3.2",
    },
    LimitEntry {
        rule: Rule::CachePoints,
        max: 4,
        unit: "cache points",
        source: "wire §6.4 (max checkpoints 4 per request)",
    },
    LimitEntry {
        rule: Rule::TotalSize,
        max: 100_000_000,
        unit: "bytes",
        source: "original §3.2 (largest max_size_mb, 100 MB); configurable",
    },
    LimitEntry {
        rule: Rule::DocumentNameLength,
        max: 200,
        unit: "characters",
        source: "wire §1.2 and §6.5 (1 to 200)",
    },
    LimitEntry {
        rule: Rule::ResponseFieldPaths,
        max: 10,
        unit: "paths",
        source: "wire §1.1 (0 to 10)",
    },
    LimitEntry {
        rule: Rule::ToolName,
        max: 64,
        unit: "characters",
        source: "wire §1.1",
    },
    LimitEntry {
        rule: Rule::ToolUseId,
        max: 64,
        unit: "characters",
        source: "wire §1.1",
    },
];

/// Looks up the table value for `rule`, or `u64::MAX` when the rule has no number.
#[must_use]
pub fn table_max(rule: Rule) -> u64 {
    LIMITS
        .iter()
        .find(|e| e.rule == rule)
        .map_or(u64::MAX, |e| e.max)
}

/// The limits a builder enforces. Start from [`Limits::bedrock`] and adjust with the `with_*` setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Maximum bytes of one image.
    pub max_image_bytes: u64,
    /// Maximum images per request.
    pub max_images: usize,
    /// Maximum image width and height in pixels.
    pub max_image_pixels: u64,
    /// Maximum bytes of one document.
    pub max_document_bytes: u64,
    /// Maximum documents per request.
    pub max_documents: usize,
    /// Maximum bytes of one video.
    pub max_video_bytes: u64,
    /// Maximum content blocks per message.
    pub max_blocks_per_message: usize,
    /// Maximum cache points per request.
    pub max_cache_points: usize,
    /// Maximum total bytes of inline media per request (the original's `max_size_mb`, request-wide).
    pub max_total_bytes: u64,
    /// Whether a format the caller states wins over the content ([`FormatPolicy::ContentWins`]
    /// by default).
    pub format_policy: FormatPolicy,
}

fn as_usize(rule: Rule) -> usize {
    usize::try_from(table_max(rule)).unwrap_or(usize::MAX)
}

impl Limits {
    /// The limits Bedrock documents, taken from [`LIMITS`].
    #[must_use]
    pub fn bedrock() -> Self {
        Self {
            max_image_bytes: table_max(Rule::ImageSize),
            max_images: as_usize(Rule::ImageCount),
            max_image_pixels: table_max(Rule::ImageDimensions),
            max_document_bytes: table_max(Rule::DocumentSize),
            max_documents: as_usize(Rule::DocumentCount),
            max_video_bytes: table_max(Rule::VideoSize),
            max_blocks_per_message: as_usize(Rule::BlocksPerMessage),
            max_cache_points: as_usize(Rule::CachePoints),
            max_total_bytes: table_max(Rule::TotalSize),
            format_policy: FormatPolicy::ContentWins,
        }
    }

    /// Sets who decides a media format when the caller states one ([`FormatPolicy`]).
    #[must_use]
    pub fn with_format_policy(mut self, policy: FormatPolicy) -> Self {
        self.format_policy = policy;
        self
    }

    /// Sets the request-wide total of inline media bytes.
    #[must_use]
    pub fn with_max_total_bytes(mut self, bytes: u64) -> Self {
        self.max_total_bytes = bytes;
        self
    }

    /// Sets the total in decimal megabytes, like the original's `max_size_mb` (1 MB = 1,000,000 bytes).
    /// Negative or non-finite values are treated as zero.
    #[must_use]
    pub fn with_max_total_mb(self, mb: f64) -> Self {
        let bytes = if mb.is_finite() && mb > 0.0 {
            // Truncation is intended: the value is a byte count.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "clamped to a non-negative finite value"
            )]
            let b = (mb * 1_000_000.0) as u64;
            b
        } else {
            0
        };
        self.with_max_total_bytes(bytes)
    }

    /// Sets the maximum bytes of one image.
    #[must_use]
    pub fn with_max_image_bytes(mut self, bytes: u64) -> Self {
        self.max_image_bytes = bytes;
        self
    }

    /// Sets the maximum bytes of one document.
    #[must_use]
    pub fn with_max_document_bytes(mut self, bytes: u64) -> Self {
        self.max_document_bytes = bytes;
        self
    }

    /// Sets the maximum bytes of one video.
    #[must_use]
    pub fn with_max_video_bytes(mut self, bytes: u64) -> Self {
        self.max_video_bytes = bytes;
        self
    }

    /// Sets the maximum number of cache points per request.
    #[must_use]
    pub fn with_max_cache_points(mut self, n: usize) -> Self {
        self.max_cache_points = n;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::bedrock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_limits_come_from_the_table() {
        let l = Limits::bedrock();
        assert_eq!(l.max_image_bytes, 3_750_000);
        assert_eq!(l.max_images, 20);
        assert_eq!(l.max_document_bytes, 4_500_000);
        assert_eq!(l.max_documents, 5);
        assert_eq!(l.max_cache_points, 4);
        assert_eq!(l.max_video_bytes, 100_000_000);
    }

    #[test]
    fn every_row_cites_a_source_and_rules_are_unique() {
        for (i, e) in LIMITS.iter().enumerate() {
            assert!(!e.source.is_empty());
            assert!(
                LIMITS.iter().skip(i + 1).all(|o| o.rule != e.rule),
                "{:?}",
                e.rule
            );
        }
    }

    #[test]
    fn max_total_mb_converts_decimal_megabytes() {
        assert_eq!(
            Limits::bedrock().with_max_total_mb(3.75).max_total_bytes,
            3_750_000
        );
        assert_eq!(Limits::bedrock().with_max_total_mb(-1.0).max_total_bytes, 0);
        assert_eq!(
            Limits::bedrock()
                .with_max_total_mb(f64::NAN)
                .max_total_bytes,
            0
        );
    }
}
