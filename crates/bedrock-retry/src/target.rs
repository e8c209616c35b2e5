//! What an attempt is sent to.
//!
//! The plan works over any target type that names a model and a region ([`PlanTarget`]): target
//! health is kept per (model, region), and feature fallback per model. [`Target`] is the plain
//! (model, region) pair; a caller that needs more per target (how the model is reached, say)
//! uses its own type.

use std::fmt;

/// A place an attempt can be sent to: a model in a region, plus whatever the caller needs.
pub trait PlanTarget:
    Clone + PartialEq + fmt::Debug + fmt::Display + Send + Sync + 'static
{
    /// The model, as the caller names it.
    fn model(&self) -> &str;
    /// The region.
    fn region(&self) -> &str;
}

/// A model in a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Target {
    /// The model, as the caller names it (a catalog name or a model id).
    pub model: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
}

impl Target {
    /// Creates a target.
    pub fn new(model: impl Into<String>, region: impl Into<String>) -> Self {
        Target {
            model: model.into(),
            region: region.into(),
        }
    }
}

impl PlanTarget for Target {
    fn model(&self) -> &str {
        &self.model
    }

    fn region(&self) -> &str {
        &self.region
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.model, self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_displays_model_at_region() {
        let t = Target::new("claude", "us-east-1");
        assert_eq!(t.to_string(), "claude@us-east-1");
        assert_eq!((t.model(), t.region()), ("claude", "us-east-1"));
    }
}
