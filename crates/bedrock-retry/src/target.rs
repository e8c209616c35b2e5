//! What an attempt is sent to.
//!
//! A [`Target`] is a (model, region, access method) triple made of plain strings, so that this
//! crate stays free of AWS types: the caller maps a target onto a concrete model or inference
//! profile id.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// How a model is reached in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AccessMethod {
    /// The plain model id, invoked in the region itself.
    Direct,
    /// A regional cross-region inference profile (e.g. `us.`, `eu.`, `apac.` prefixes).
    RegionalProfile,
    /// The global cross-region inference profile (`global.` prefix).
    GlobalProfile,
}

impl AccessMethod {
    /// Every access method, in the default preference order (direct first).
    pub const DEFAULT_ORDER: [AccessMethod; 3] = [
        AccessMethod::Direct,
        AccessMethod::RegionalProfile,
        AccessMethod::GlobalProfile,
    ];

    /// The configuration spelling: `direct`, `regional_cris` or `global_cris`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMethod::Direct => "direct",
            AccessMethod::RegionalProfile => "regional_cris",
            AccessMethod::GlobalProfile => "global_cris",
        }
    }
}

impl fmt::Display for AccessMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "direct" => Ok(AccessMethod::Direct),
            "regional_cris" | "regional" | "regional_profile" => Ok(AccessMethod::RegionalProfile),
            "global_cris" | "global" | "global_profile" => Ok(AccessMethod::GlobalProfile),
            _ => Err(Error::UnknownVariant {
                kind: "access method",
                value: s.to_owned(),
                expected: "direct, regional_cris, global_cris",
            }),
        }
    }
}

/// One place an attempt can be sent: a model in a region through an access method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The model, as the caller names it (a catalog name or a model id).
    pub model: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// How the model is reached in that region.
    pub access_method: AccessMethod,
}

impl Target {
    /// Creates a target.
    pub fn new(
        model: impl Into<String>,
        region: impl Into<String>,
        access_method: AccessMethod,
    ) -> Self {
        Target {
            model: model.into(),
            region: region.into(),
            access_method,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} ({})", self.model, self.region, self.access_method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_method_round_trips_through_strings() {
        for m in AccessMethod::DEFAULT_ORDER {
            assert_eq!(m.as_str().parse::<AccessMethod>().unwrap(), m);
        }
        assert!(matches!(
            "telepathy".parse::<AccessMethod>(),
            Err(Error::UnknownVariant { .. })
        ));
    }

    #[test]
    fn target_displays_all_parts() {
        let t = Target::new("claude", "us-east-1", AccessMethod::GlobalProfile);
        assert_eq!(t.to_string(), "claude@us-east-1 (global_cris)");
    }
}
