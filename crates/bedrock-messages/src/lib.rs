//! Amazon Bedrock Converse messages: a serde model of the wire JSON, fluent builders, format
//! detection and local limit checks.
//!
//! Everything here is plain data: no network, no async runtime. The only IO is reading local
//! files in the `*_file` builder methods.
//!
//! Main types:
//! - [`ConverseRequest`] (built with [`ConverseRequest::builder`]) serialises to exactly the
//!   Converse request body; [`ConverseResponse`] parses the response body.
//! - [`Message`], [`ContentBlock`], [`SystemBlock`], [`InferenceConfig`], [`ToolConfig`],
//!   [`GuardrailConfig`] mirror the wire shapes.
//! - [`MessageBuilder`] adds text, images, documents, videos, cache points and tool blocks.
//! - [`format`](mod@format) recognises media formats from names and bytes; [`limits`] holds every limit with
//!   its source; [`Error`] names the offending part, the rule and the limit.
//! - `sdk` (feature `sdk`) converts both ways to `aws-sdk-bedrockruntime` types and fills SDK
//!   fluent builders.
//!
//! Builder setters never fail: a file that cannot be read, or bytes that are no known format,
//! are remembered and returned by `build()`, which also checks every rule of [`Limits`] before
//! anything is sent. When a claimed format and the content disagree, the content wins and the
//! built request keeps a [`Warning`] ([`ConverseRequest::warnings`]), unless the limits say
//! [`FormatPolicy::ClaimWins`]: then the caller's format is sent, with a warning. Limits given
//! to a request builder apply to the message builders appended to it.
//! [`ConverseRequest::to_json_vec`] writes the body with media encoded straight into the buffer.
//!
//! ```
//! use bedrock_messages::{ConverseRequest, ImageFormat, Message};
//!
//! # fn main() -> Result<(), bedrock_messages::Error> {
//! let png: &[u8] = &[
//!     0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0,
//!     b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82,
//! ];
//! let request = ConverseRequest::builder()
//!     .system("You describe images.")
//!     .message_builder(Message::user().text("What is this?").image_bytes(png.to_vec(), ImageFormat::Png))
//!     .max_tokens(256)
//!     .build()?;
//! let body = request.to_json()?;
//! assert_eq!(body["messages"][0]["content"][1]["image"]["format"], "png");
//! assert_eq!(body["inferenceConfig"]["maxTokens"], 256);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `sdk` (off by default): the `sdk` module, conversion to and from `aws-sdk-bedrockruntime`
//!   types. Without it the crate depends on no async runtime, HTTP stack or AWS crate.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod builder;
mod error;
mod feature;
pub mod format;
pub mod limits;
mod model;
mod response;
#[cfg(feature = "sdk")]
#[cfg_attr(docsrs, doc(cfg(feature = "sdk")))]
pub mod sdk;
mod trace;
mod validate;

pub use builder::{ConverseRequestBuilder, MessageBuilder};
pub use error::{Error, ErrorKind};
pub use feature::Feature;
pub use format::{DocumentFormat, FormatPolicy, ImageFormat, MediaKind, VideoFormat, Warning};
pub use limits::{Limits, Rule};
pub use model::REQUEST_FIELDS;
pub use model::{
    CachePointBlock, CachePointType, CacheTtl, Citation, CitationLocation, CitationText,
    CitationsConfig, CitationsContentBlock, ContentBlock, ConverseRequest, DocumentBlock,
    DocumentContentBlock, DocumentRange, DocumentSource, GuardContentBlock, GuardImage,
    GuardImageFormat, GuardImageSource, GuardQualifier, GuardText, GuardrailConfig, GuardrailTrace,
    ImageBlock, InferenceConfig, JsonSchemaDefinition, Latency, MediaSource, Message, OutputConfig,
    OutputFormat, OutputStructure, PerformanceConfig, PromptVariable, RawBlock,
    ReasoningContentBlock, ReasoningText, Role, S3Location, SearchResultRange, ServiceTier,
    ServiceTierType, StreamProcessingMode, SystemBlock, SystemTool, Tool, ToolChoice, ToolConfig,
    ToolInputSchema, ToolResultBlock, ToolResultContent, ToolResultStatus, ToolSpec, ToolUseBlock,
    VideoBlock, WebLocation,
};
pub use response::{ConverseOutput, ConverseResponse, Metrics, StopReason, TokenUsage};
pub use trace::{
    CacheDetails, ContentFilter, ContentPolicy, ContextualGroundingPolicy, GroundingFilter,
    GuardrailAssessment, GuardrailTopic, GuardrailTraceAssessment, GuardrailWord, PiiEntity,
    RegexMatch, SensitiveInformationPolicy, TopicPolicy, WordPolicy,
};
