//! Data residency: keeping every request inside a geography or a list of regions.
//!
//! A cross-region inference profile sends a request from the region it is called in to any of
//! its destination regions, so a constraint on regions alone does not keep data in place: under
//! an EU constraint, a call made in `eu-west-1` through a `global.` profile may be served in the
//! United States. A [`Residency`] therefore admits a configured region only when it lies inside
//! the constraint, and an inference profile only when *every* region it may route to does.
//!
//! Where a profile routes comes from two sources, and both must agree:
//!
//! | Known                          | Geography constraint                 | Region-list constraint            |
//! |--------------------------------|--------------------------------------|-----------------------------------|
//! | the profile's prefix (`eu.`)   | its geography lies inside (`jp.` and `au.` inside APAC; `global.` inside none) | not enough on its own: a geography's regions cannot be listed |
//! | destination regions (catalog)  | all inside the geography             | all in the list                   |
//!
//! The catalog knows a profile's destination regions when it was loaded from the Bedrock control
//! plane (the model ARNs of `ListInferenceProfiles`). The bundled snapshot does not list them, so
//! with it a profile's geography is taken as its set of destinations: a conservative reading,
//! since a geographic profile never leaves its geography. Under a region list, profiles are then
//! not used at all (direct calls only) unless the catalog is loaded from the control plane.
//!
//! Residency is applied once, when the manager is built: regions outside the constraint are
//! dropped from the configuration, and each model keeps only the regions and profiles the
//! constraint admits. Every later step (target order, health, the global-profile share, the
//! fallback from a refused on-demand call to a profile) only sees what is left, so no call can
//! leave the constraint. A model with nothing left is a configuration error.

use std::fmt;
use std::str::FromStr;

use bedrock_catalog::{Geo, ModelInfo, ProfileInfo, RegionAccess};

use crate::error::Error;

/// Where requests may be processed: a geography or an explicit list of regions.
///
/// ```
/// use llmmanager::Residency;
/// use llmmanager::catalog::Geo;
///
/// let eu: Residency = "eu".parse()?;
/// assert_eq!(eu, Residency::Geography(Geo::Eu));
/// assert!(eu.admits_region("eu-central-1"));
/// assert!(!eu.admits_region("us-east-1"));
/// // A geographic profile stays in its geography; the global profile does not.
/// assert!(eu.admits_profile("eu.anthropic.claude-3-haiku-20240307-v1:0", None));
/// assert!(!eu.admits_profile("global.anthropic.claude-opus-4-6-v1", None));
///
/// let two: Residency = "eu-west-1,eu-central-1".parse()?;
/// assert!(two.admits_region("eu-west-1"));
/// assert!(!two.admits_region("eu-west-3"));
/// # Ok::<(), llmmanager::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Residency {
    /// Every region of a geography, by region name (`eu-*` for [`Geo::Eu`], `ap-*` for
    /// [`Geo::Apac`], `ap-northeast-1` and `ap-northeast-3` for [`Geo::Jp`], ...).
    Geography(Geo),
    /// Exactly these regions.
    Regions(Vec<String>),
}

/// The geographies a residency can name on the command line or in configuration.
const GEOGRAPHIES: [Geo; 8] = [
    Geo::Us,
    Geo::UsGov,
    Geo::Eu,
    Geo::Apac,
    Geo::Jp,
    Geo::Au,
    Geo::Ca,
    Geo::Sa,
];

impl Residency {
    /// A constraint to exactly these regions.
    pub fn regions<S: Into<String>>(regions: impl IntoIterator<Item = S>) -> Self {
        Residency::Regions(regions.into_iter().map(Into::into).collect())
    }

    /// Whether requests may be processed in `region`.
    pub fn admits_region(&self, region: &str) -> bool {
        match self {
            Residency::Geography(geo) => geo.contains_region(region),
            Residency::Regions(list) => list.iter().any(|r| r == region),
        }
    }

    /// Whether every region the inference profile `id` may route to lies inside.
    ///
    /// `info` is the catalog's entry for the profile, if any; its destination regions, when the
    /// catalog knows them, must all be admitted. The profile's geography (its id prefix) must lie
    /// inside a geography constraint; under a region list, where a geography's regions cannot be
    /// enumerated, the catalog's destination regions decide alone, and a profile without them is
    /// not admitted. A profile without a known geography prefix is never admitted.
    pub fn admits_profile(&self, id: &str, info: Option<&ProfileInfo>) -> bool {
        let Some(geo) = Geo::of_profile_id(id).or_else(|| info.map(|p| p.geo.clone())) else {
            return false;
        };
        if matches!(geo, Geo::Other(_)) {
            return false;
        }
        let destinations: &[String] = info.map_or(&[], |p| p.destination_regions.as_slice());
        let destinations_inside = destinations.iter().all(|r| self.admits_region(r));
        match self {
            Residency::Geography(zone) => geo_within(&geo, zone) && destinations_inside,
            Residency::Regions(_) => !destinations.is_empty() && destinations_inside,
        }
    }

    /// `model` with only the regions and inference profiles this constraint admits. Regions
    /// left with no way to call the model are removed.
    pub(crate) fn restrict(&self, model: &ModelInfo) -> ModelInfo {
        let mut kept = model.clone();
        kept.regions = model
            .regions
            .iter()
            .filter(|(region, _)| self.admits_region(region))
            .map(|(region, access)| (region.clone(), self.restrict_access(model, access)))
            .filter(|(_, access)| access.is_callable())
            .collect();
        kept.profiles
            .retain(|p| self.admits_profile(&p.id, Some(p)));
        kept
    }

    fn restrict_access(&self, model: &ModelInfo, access: &RegionAccess) -> RegionAccess {
        let admit = |id: &Option<String>| {
            id.clone()
                .filter(|id| self.admits_profile(id, model.profile(id)))
        };
        RegionAccess {
            direct: access.direct,
            regional_profile: admit(&access.regional_profile),
            global_profile: admit(&access.global_profile),
        }
    }

    /// Why `model` cannot be served inside in any of `regions`: what each configured region
    /// offers and what the constraint refuses, for the build error.
    pub(crate) fn explain(&self, model: &ModelInfo, regions: &[String]) -> String {
        let mut parts = Vec::new();
        for region in regions {
            let Some(access) = model.region_access(region) else {
                continue;
            };
            let refused: Vec<&str> = [&access.regional_profile, &access.global_profile]
                .into_iter()
                .flatten()
                .filter(|id| !self.admits_profile(id, model.profile(id)))
                .map(String::as_str)
                .collect();
            if !refused.is_empty() {
                parts.push(format!(
                    "in {region} it is offered only through {}, which may route outside it",
                    refused.join(" and ")
                ));
            }
        }
        if parts.is_empty() {
            "no configured region inside it offers the model".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// Whether every region of `geo` lies in `zone`.
fn geo_within(geo: &Geo, zone: &Geo) -> bool {
    geo == zone || *zone == Geo::Global || (*zone == Geo::Apac && matches!(geo, Geo::Jp | Geo::Au))
}

/// Whether `s` has the shape of an AWS region name (`eu-west-1`, `us-gov-west-1`).
fn looks_like_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    first.len() == 2
        && first.chars().all(|c| c.is_ascii_lowercase())
        && rest.len() >= 2
        && rest
            .last()
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        && rest[..rest.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

impl FromStr for Residency {
    type Err = Error;

    /// Parses a geography (`eu`, `us`, `us-gov`, `apac`, `jp`, `au`, `ca`, `sa`) or a
    /// comma-separated list of region names (`eu-west-1,eu-central-1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        if let Some(geo) = GEOGRAPHIES.iter().find(|g| g.as_str() == s) {
            return Ok(Residency::Geography(geo.clone()));
        }
        let regions: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        match regions.iter().find(|r| !looks_like_region(r)) {
            None if !regions.is_empty() => Ok(Residency::Regions(regions)),
            _ => Err(Error::config(format!(
                "unknown residency {s:?}; expected a geography (us, us-gov, eu, apac, jp, au, ca, \
                 sa) or a comma-separated list of regions such as eu-west-1,eu-central-1"
            ))),
        }
    }
}

impl fmt::Display for Residency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Residency::Geography(geo) => f.write_str(geo.as_str()),
            Residency::Regions(list) => f.write_str(&list.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_catalog::Catalog;

    fn model(name: &str) -> ModelInfo {
        Catalog::bundled().unwrap().resolve(name).unwrap().clone()
    }

    #[track_caller]
    fn check(residency: &str, name: &str, expected: &[(&str, bool, Option<&str>, Option<&str>)]) {
        let kept = residency
            .parse::<Residency>()
            .unwrap()
            .restrict(&model(name));
        let got: Vec<(&str, bool, Option<&str>, Option<&str>)> = kept
            .regions
            .iter()
            .map(|(r, a)| {
                (
                    r.as_str(),
                    a.direct,
                    a.regional_profile.as_deref(),
                    a.global_profile.as_deref(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{name} under {residency}");
    }

    #[test]
    fn under_eu_only_eu_regions_and_eu_profiles_remain() {
        // eu-west-2 offers the model only through global.: it drops out.
        let eu = "eu.amazon.nova-2-lite-v1:0";
        check(
            "eu",
            "amazon.nova-2-lite-v1:0",
            &[
                ("eu-central-1", false, Some(eu), None),
                ("eu-north-1", false, Some(eu), None),
                ("eu-west-1", false, Some(eu), None),
                ("eu-west-3", false, Some(eu), None),
            ],
        );
        let kept = Residency::Geography(Geo::Eu).restrict(&model("amazon.nova-2-lite-v1:0"));
        let profiles: Vec<&str> = kept.profiles.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(profiles, [eu]);
        // Direct access in an EU region stays; the global profile beside it goes.
        let opus = Residency::Geography(Geo::Eu).restrict(&model("anthropic.claude-opus-4-6-v1"));
        assert!(
            opus.regions.keys().all(|r| r.starts_with("eu-"))
                && opus
                    .regions
                    .values()
                    .all(|a| a.direct && a.global_profile.is_none()),
            "{:?}",
            opus.regions
        );
    }

    #[test]
    fn a_us_profile_callable_from_canada_stays_a_us_profile() {
        // ca-central-1 lists the us. profile but is not a US region; the profile itself is.
        let us = "us.amazon.nova-2-lite-v1:0";
        check(
            "us",
            "amazon.nova-2-lite-v1:0",
            &[
                ("us-east-1", false, Some(us), None),
                ("us-east-2", false, Some(us), None),
                ("us-west-1", false, Some(us), None),
                ("us-west-2", false, Some(us), None),
            ],
        );
        check("ca", "amazon.nova-2-lite-v1:0", &[]);
    }

    #[test]
    fn japan_and_australia_profiles_lie_inside_apac_but_not_the_reverse() {
        let apac = Residency::Geography(Geo::Apac);
        let jp = Residency::Geography(Geo::Jp);
        assert!(apac.admits_profile("jp.amazon.nova-2-lite-v1:0", None));
        assert!(apac.admits_profile("au.anthropic.claude-sonnet-4-6", None));
        assert!(!jp.admits_profile("apac.amazon.nova-lite-v1:0", None));
        assert!(!apac.admits_profile("global.amazon.nova-2-lite-v1:0", None));
        assert!(!apac.admits_profile("xx.amazon.nova-2-lite-v1:0", None));
        assert!(!Residency::Geography(Geo::Us).admits_profile("us-gov.a.b", None));
    }

    #[test]
    fn known_destinations_must_all_lie_inside() {
        let mut profile = ProfileInfo {
            id: "eu.anthropic.claude-3-haiku-20240307-v1:0".into(),
            geo: Geo::Eu,
            member_regions: vec!["eu-west-1".into()],
            destination_regions: vec!["eu-west-1".into(), "eu-west-3".into()],
        };
        let eu = Residency::Geography(Geo::Eu);
        let list = Residency::regions(["eu-west-1", "eu-west-3"]);
        let narrow = Residency::regions(["eu-west-1"]);
        assert!(eu.admits_profile(&profile.id, Some(&profile)));
        assert!(list.admits_profile(&profile.id, Some(&profile)));
        assert!(!narrow.admits_profile(&profile.id, Some(&profile)));
        // Without known destinations a region list cannot vouch for a profile.
        assert!(!list.admits_profile(&profile.id, None));
        // A destination outside the geography rules the profile out even with an eu. prefix.
        profile.destination_regions.push("us-east-1".into());
        assert!(!eu.admits_profile(&profile.id, Some(&profile)));
    }

    #[test]
    fn a_region_list_keeps_direct_access_only_with_the_bundled_catalog() {
        check(
            "eu-west-1,eu-central-1",
            "Claude 3 Haiku",
            &[
                ("eu-central-1", true, None, None),
                ("eu-west-1", true, None, None),
            ],
        );
    }

    #[test]
    fn residencies_parse_and_print() {
        for (text, expected) in [
            ("EU", Residency::Geography(Geo::Eu)),
            (" us-gov ", Residency::Geography(Geo::UsGov)),
            ("apac", Residency::Geography(Geo::Apac)),
            (
                "eu-west-1, eu-central-1",
                Residency::regions(["eu-west-1", "eu-central-1"]),
            ),
            ("us-gov-west-1", Residency::regions(["us-gov-west-1"])),
        ] {
            assert_eq!(text.parse::<Residency>().unwrap(), expected, "{text}");
        }
        for bad in [
            "",
            "mars",
            "global",
            "eu-west",
            "eu,us",
            "eu-west-1,nowhere",
        ] {
            assert!(bad.parse::<Residency>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(Residency::Geography(Geo::Eu).to_string(), "eu");
        assert_eq!(
            Residency::regions(["eu-west-1", "eu-central-1"]).to_string(),
            "eu-west-1,eu-central-1"
        );
    }
}
