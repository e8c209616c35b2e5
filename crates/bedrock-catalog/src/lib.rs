//! The Amazon Bedrock model catalog: which models exist, where and how they can be called, and
//! what they can do.
//!
//! # Main types
//!
//! - [`Catalog`]: the loaded catalog. [`Catalog::bundled`] loads the snapshot compiled into the
//!   crate (synchronous, no IO); [`Catalog::builder`] fetches from the Bedrock control plane with a
//!   file or memory cache and falls back to the bundled snapshot.
//! - [`ModelInfo`]: one model with its regions, inference profiles and [`Capabilities`].
//! - [`Catalog::resolve`] turns friendly names, model ids, profile ids and ARNs into a model, or into
//!   an error listing the closest names; [`Catalog::access`] says which id to call from a region
//!   and how ([`AccessMethod`]).
//! - [`CatalogSource`]: the boundary trait for data sources; [`ApiSource`] is the AWS one and
//!   [`StaticSource`] serves fixed data.
//! - [`Snapshot`]: the serialized form (bundled file, cache file, `cargo xtask refresh-catalog`).
//!
//! # Example
//!
//! ```
//! use bedrock_catalog::{AccessMethod, AccessPreference, Catalog};
//!
//! let catalog = Catalog::bundled()?;
//! let haiku = catalog.resolve("Claude 3 Haiku")?;
//! assert_eq!(haiku.id, "anthropic.claude-3-haiku-20240307-v1:0");
//!
//! let access = catalog.access("claude-3-haiku", "us-east-1", AccessPreference::PreferDirect)?;
//! assert_eq!(access.method, AccessMethod::Direct);
//! assert_eq!(access.invoke_id, haiku.id);
//! # Ok::<(), bedrock_catalog::Error>(())
//! ```
//!
//! Building from the API (falls back to the bundled data when offline):
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bedrock_catalog::Error> {
//! use bedrock_catalog::{CacheMode, Catalog};
//! let catalog = Catalog::builder().cache_mode(CacheMode::File).regions(["us-east-1", "eu-west-1"]).build().await?;
//! println!("{} models from {:?}", catalog.models().len(), catalog.metadata().source);
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! None: the crate always includes the AWS API source.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod api;
mod builder;
mod cache;
mod catalog;
mod error;
mod model;
mod names;
mod overrides;
mod snapshot;
mod source;
mod time;

pub use api::{
    ApiSource, DEFAULT_CONCURRENCY, DEFAULT_DEADLINE, DEFAULT_FIRST_ANSWER_TIMEOUT,
    DEFAULT_REGION_TIMEOUT,
};
pub use builder::{COMMERCIAL_REGIONS, CatalogBuilder, DEFAULT_MAX_AGE};
pub use cache::{CACHE_FILE_NAME, CacheMode, default_cache_dir};
pub use catalog::{Catalog, CatalogMetadata, DataSource};
pub use error::{Error, ErrorKind};
pub use model::{
    AccessMethod, AccessPreference, Capabilities, Geo, Lifecycle, ModelAccess, ModelInfo,
    ProfileInfo, PromptCaching, RegionAccess,
};
pub use overrides::{
    BUNDLED_OVERRIDES, DEFAULT_MAX_CACHE_POINTS, ModelOverride, OVERRIDES_SCHEMA_VERSION,
    Overrides, PromptCachingOverride, derived_capabilities,
};
pub use snapshot::{
    BUNDLED_JSON, SNAPSHOT_SCHEMA_VERSION, Snapshot, bundled_data_version, canonical_name,
    data_version_of, diff_summary,
};
pub use source::{
    CatalogSource, FailureKind, RawCatalog, RawModel, RawProfile, RegionFailure, RegionListing,
    StaticSource,
};
pub use time::{FixedClock, SystemClock, WallClock, format_rfc3339, parse_rfc3339};
