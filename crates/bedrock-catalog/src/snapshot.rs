//! The serialized catalog: the bundled snapshot compiled into the crate, the cache file, and what
//! `cargo xtask refresh-catalog` writes.
//!
//! A [`Snapshot`] is built from raw API listings ([`Snapshot::from_raw`]) or from the Python
//! original's bundled data ([`Snapshot::from_reference`]), and written with [`Snapshot::to_json`],
//! which sorts everything so a regenerated file diffs cleanly.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{Geo, Lifecycle, ModelInfo, ProfileInfo};
use crate::overrides::Overrides;
use crate::source::RawCatalog;
use crate::time::{format_rfc3339, parse_rfc3339};

/// Schema version of snapshots and cache files written by this build.
pub const SNAPSHOT_SCHEMA_VERSION: u32 = 1;

/// The bundled snapshot's JSON, compiled in.
pub const BUNDLED_JSON: &str = include_str!("../data/bundled.json");

/// A complete catalog as stored on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Must equal [`SNAPSHOT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Identifies the data (derived from the generation time, `YYYYMMDDTHHMMSSZ`).
    pub data_version: String,
    /// When the data was retrieved, RFC 3339 UTC.
    pub generated_at: String,
    /// Where the data came from: `api` or `reference`.
    pub source: String,
    /// Regions whose listings went into the data, sorted.
    pub regions_queried: Vec<String>,
    /// Models sorted by id.
    pub models: Vec<ModelInfo>,
}

impl Snapshot {
    /// Parses a snapshot and checks its schema version. `what` names the data in errors.
    pub fn parse(json: &str, what: &str) -> Result<Self, Error> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let v: Version = serde_json::from_str(json).map_err(|source| Error::Parse {
            what: what.into(),
            source,
        })?;
        if v.schema_version != SNAPSHOT_SCHEMA_VERSION {
            return Err(Error::SchemaVersion {
                what: what.into(),
                found: v.schema_version,
                expected: SNAPSHOT_SCHEMA_VERSION,
            });
        }
        let s: Self = serde_json::from_str(json).map_err(|source| Error::Parse {
            what: what.into(),
            source,
        })?;
        if parse_rfc3339(&s.generated_at).is_none() {
            return Err(Error::InvalidData {
                what: what.into(),
                message: format!("bad generated_at {:?}", s.generated_at),
            });
        }
        Ok(s)
    }

    /// The snapshot compiled into this build.
    pub fn bundled() -> Result<Self, Error> {
        Self::parse(BUNDLED_JSON, "bundled snapshot")
    }

    /// When the data was retrieved.
    #[must_use]
    pub fn generated_time(&self) -> Option<SystemTime> {
        parse_rfc3339(&self.generated_at)
    }

    /// Pretty JSON with a trailing newline; the content is already sorted, so output is stable.
    pub fn to_json(&self) -> Result<String, Error> {
        let mut s = serde_json::to_string_pretty(self).map_err(|source| Error::Parse {
            what: "snapshot serialization".into(),
            source,
        })?;
        s.push('\n');
        Ok(s)
    }

    /// Sorts and deduplicates every list so equal data serializes identically.
    pub fn normalize(&mut self) {
        self.regions_queried.sort();
        self.regions_queried.dedup();
        for m in &mut self.models {
            for v in [
                &mut m.aliases,
                &mut m.input_modalities,
                &mut m.output_modalities,
                &mut m.inference_types,
            ] {
                v.sort();
                v.dedup();
            }
            m.aliases.retain(|a| a != &m.name);
            m.regions.retain(|_, a| a.is_callable());
            m.profiles.sort_by(|a, b| a.id.cmp(&b.id));
            m.profiles.dedup_by(|a, b| a.id == b.id);
            for p in &mut m.profiles {
                p.member_regions.sort();
                p.member_regions.dedup();
                p.destination_regions.sort();
                p.destination_regions.dedup();
            }
        }
        self.models.retain(|m| !m.regions.is_empty());
        self.models.sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// Builds a snapshot from raw control-plane listings.
    ///
    /// Models are merged across regions by id; direct access in a region means the model is listed
    /// there with `ON_DEMAND` (or with no inference types at all); profiles attach to the base model
    /// named in their `modelArn`s and are callable from the regions that listed them. Models listed
    /// only under a profile-style id, and profiles whose model no region listed, are dropped and
    /// reported in the returned warnings.
    pub fn from_raw(
        raw: &RawCatalog,
        overrides: &Overrides,
        generated_at: SystemTime,
    ) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut models: BTreeMap<String, ModelInfo> = BTreeMap::new();
        for (region, listing) in &raw.listings {
            for rm in &listing.models {
                if Geo::of_profile_id(&rm.model_id).is_some() {
                    continue;
                }
                let m = models
                    .entry(rm.model_id.clone())
                    .or_insert_with(|| ModelInfo {
                        id: rm.model_id.clone(),
                        name: canonical_name(&rm.model_id),
                        provider: rm.provider_name.clone().unwrap_or_default(),
                        aliases: Vec::new(),
                        input_modalities: Vec::new(),
                        output_modalities: Vec::new(),
                        streaming: false,
                        inference_types: Vec::new(),
                        lifecycle: Lifecycle::Unknown,
                        regions: BTreeMap::new(),
                        profiles: Vec::new(),
                        capabilities: Default::default(),
                    });
                if let Some(n) = &rm.model_name {
                    m.aliases.push(n.clone());
                }
                m.input_modalities
                    .extend(rm.input_modalities.iter().map(|s| s.to_ascii_uppercase()));
                m.output_modalities
                    .extend(rm.output_modalities.iter().map(|s| s.to_ascii_uppercase()));
                m.streaming |= rm.streaming.unwrap_or(false);
                m.inference_types.extend(rm.inference_types.iter().cloned());
                if m.lifecycle == Lifecycle::Unknown {
                    m.lifecycle = match rm.lifecycle.as_deref() {
                        Some("ACTIVE") => Lifecycle::Active,
                        Some("LEGACY") => Lifecycle::Legacy,
                        _ => Lifecycle::Unknown,
                    };
                }
                let direct = rm.inference_types.is_empty()
                    || rm.inference_types.iter().any(|t| t == "ON_DEMAND");
                m.regions.entry(region.clone()).or_default().direct |= direct;
            }
        }
        // Profiles: source region = the region that listed the profile; destinations from the ARNs.
        let mut profiles: BTreeMap<String, (String, BTreeSet<String>, BTreeSet<String>)> =
            BTreeMap::new();
        for (region, listing) in &raw.listings {
            for p in &listing.profiles {
                let targets: BTreeSet<(String, String)> = p
                    .model_arns
                    .iter()
                    .filter_map(|a| parse_foundation_model_arn(a))
                    .collect();
                let base_ids: BTreeSet<&String> = targets.iter().map(|(_, id)| id).collect();
                let base = match base_ids.iter().next() {
                    Some(b) if base_ids.len() == 1 => (*b).clone(),
                    _ => match Geo::of_profile_id(&p.id).and_then(|_| p.id.split_once('.')) {
                        Some((_, rest)) => rest.to_owned(),
                        None => continue,
                    },
                };
                attach_profile(&mut models, &p.id, &base, region);
                let e = profiles
                    .entry(p.id.clone())
                    .or_insert_with(|| (base, BTreeSet::new(), BTreeSet::new()));
                e.1.insert(region.clone());
                e.1.extend(targets.iter().map(|(r, _)| r.clone()));
                e.2.extend(targets.into_iter().map(|(r, _)| r));
            }
        }
        for (pid, (base, members, destinations)) in profiles {
            let Some(m) = models.get_mut(&base) else {
                warnings.push(format!(
                    "inference profile {pid} routes to {base}, which no queried region lists"
                ));
                continue;
            };
            let geo = Geo::of_profile_id(&pid)
                .unwrap_or_else(|| Geo::Other(pid.split('.').next().unwrap_or("").to_owned()));
            m.profiles.push(ProfileInfo {
                id: pid,
                geo,
                member_regions: members.into_iter().collect(),
                destination_regions: destinations.into_iter().collect(),
            });
        }
        let mut snap = Self {
            schema_version: SNAPSHOT_SCHEMA_VERSION,
            data_version: data_version_of(generated_at),
            generated_at: format_rfc3339(generated_at),
            source: "api".into(),
            regions_queried: raw.listings.keys().cloned().collect(),
            models: models.into_values().collect(),
        };
        snap.apply_overrides(overrides);
        snap.apply_names(overrides);
        snap.normalize();
        (snap, warnings)
    }

    /// Gives every model the name users type ([`Overrides::display_name`]); a previous name (the
    /// id-derived canonical name, or the original's) that is more than a different spelling of
    /// the new one is kept as an alias, so it still resolves.
    pub fn apply_names(&mut self, overrides: &Overrides) {
        for m in &mut self.models {
            let name = overrides.display_name(&m.id);
            if name != m.name {
                let old = std::mem::replace(&mut m.name, name);
                if crate::names::key(&old) != crate::names::key(&m.name) {
                    m.aliases.push(old);
                }
            }
        }
    }

    /// Recomputes every model's capabilities from its modalities and `overrides`.
    pub fn apply_overrides(&mut self, overrides: &Overrides) {
        for m in &mut self.models {
            m.capabilities =
                overrides.capabilities(&m.id, &m.input_modalities, &m.output_modalities);
        }
    }

    /// Builds a snapshot from the Python original's bundled catalog (see `original-api.md` §4).
    ///
    /// Entries whose model id carries a profile prefix (`us.twelvelabs...`) are merged into their
    /// base model, keeping their name as an alias; modalities are upper-cased and provider spellings
    /// that differ only in case are unified.
    pub fn from_reference(json: &str, overrides: &Overrides) -> Result<Self, Error> {
        #[derive(Deserialize)]
        struct Ref {
            models: BTreeMap<String, RefModel>,
            metadata: RefMeta,
        }
        #[derive(Deserialize)]
        struct RefMeta {
            retrieval_timestamp: String,
            api_regions_queried: Vec<String>,
        }
        #[derive(Deserialize)]
        struct RefModel {
            model_name: String,
            provider: String,
            model_id: String,
            input_modalities: Vec<String>,
            output_modalities: Vec<String>,
            streaming_supported: bool,
            region_access: BTreeMap<String, RefAccess>,
        }
        #[derive(Deserialize)]
        struct RefAccess {
            has_direct_access: bool,
            regional_cris_profile_id: Option<String>,
            global_cris_profile_id: Option<String>,
        }
        let what = "reference catalog";
        let r: Ref = serde_json::from_str(json).map_err(|source| Error::Parse {
            what: what.into(),
            source,
        })?;
        let generated =
            parse_rfc3339(&r.metadata.retrieval_timestamp).ok_or_else(|| Error::InvalidData {
                what: what.into(),
                message: format!(
                    "bad retrieval_timestamp {:?}",
                    r.metadata.retrieval_timestamp
                ),
            })?;
        // Provider spelling: the one used by entries with a plain model id wins.
        let mut providers: BTreeMap<String, String> = BTreeMap::new();
        for m in r
            .models
            .values()
            .filter(|m| Geo::of_profile_id(&m.model_id).is_none())
        {
            providers
                .entry(m.provider.to_lowercase())
                .or_insert_with(|| m.provider.clone());
        }
        let mut entries: Vec<(&String, &RefModel)> = r.models.iter().collect();
        // Plain ids first so prefixed duplicates merge into them.
        entries.sort_by_key(|(_, m)| {
            (
                Geo::of_profile_id(&m.model_id).is_some(),
                m.model_id.clone(),
            )
        });
        let mut models: BTreeMap<String, ModelInfo> = BTreeMap::new();
        let mut profile_members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (key, rm) in entries {
            let prefixed = Geo::of_profile_id(&rm.model_id).is_some();
            let id = match rm.model_id.split_once('.') {
                Some((_, rest)) if prefixed => rest.to_owned(),
                _ => rm.model_id.clone(),
            };
            let provider = providers
                .get(&rm.provider.to_lowercase())
                .cloned()
                .unwrap_or_else(|| rm.provider.clone());
            let upper = |v: &[String]| v.iter().map(|s| s.to_ascii_uppercase()).collect::<Vec<_>>();
            let m = models.entry(id.clone()).or_insert_with(|| ModelInfo {
                id: id.clone(),
                name: rm.model_name.clone(),
                provider,
                aliases: Vec::new(),
                input_modalities: upper(&rm.input_modalities),
                output_modalities: upper(&rm.output_modalities),
                streaming: rm.streaming_supported,
                inference_types: Vec::new(),
                lifecycle: Lifecycle::Unknown,
                regions: BTreeMap::new(),
                profiles: Vec::new(),
                capabilities: Default::default(),
            });
            if key != &m.name {
                m.aliases.push(key.clone());
            }
            if rm.model_name != m.name {
                m.aliases.push(rm.model_name.clone());
            }
            for (region, a) in &rm.region_access {
                let e = m.regions.entry(region.clone()).or_default();
                e.direct |= a.has_direct_access;
                if e.regional_profile.is_none() {
                    e.regional_profile.clone_from(&a.regional_cris_profile_id);
                }
                if e.global_profile.is_none() {
                    e.global_profile.clone_from(&a.global_cris_profile_id);
                }
                for p in [&a.regional_cris_profile_id, &a.global_cris_profile_id]
                    .into_iter()
                    .flatten()
                {
                    profile_members
                        .entry(p.clone())
                        .or_default()
                        .insert(region.clone());
                }
            }
        }
        for m in models.values_mut() {
            let mut ids: BTreeSet<&String> = BTreeSet::new();
            for a in m.regions.values() {
                ids.extend(a.regional_profile.iter().chain(a.global_profile.iter()));
            }
            m.profiles = ids
                .into_iter()
                .map(|pid| ProfileInfo {
                    id: pid.clone(),
                    geo: Geo::of_profile_id(pid).unwrap_or(Geo::Other(String::new())),
                    member_regions: profile_members
                        .get(pid)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default(),
                    destination_regions: Vec::new(),
                })
                .collect();
            if m.regions.values().any(|a| a.direct) {
                m.inference_types.push("ON_DEMAND".into());
            }
            if !m.profiles.is_empty() {
                m.inference_types.push("INFERENCE_PROFILE".into());
            }
        }
        let mut snap = Self {
            schema_version: SNAPSHOT_SCHEMA_VERSION,
            data_version: data_version_of(generated),
            generated_at: format_rfc3339(generated),
            source: "reference".into(),
            regions_queried: r.metadata.api_regions_queried,
            models: models.into_values().collect(),
        };
        snap.apply_overrides(overrides);
        snap.apply_names(overrides);
        snap.normalize();
        Ok(snap)
    }
}

fn attach_profile(models: &mut BTreeMap<String, ModelInfo>, pid: &str, base: &str, region: &str) {
    let Some(geo) = Geo::of_profile_id(pid) else {
        return;
    };
    let Some(m) = models.get_mut(base) else {
        return;
    };
    let e = m.regions.entry(region.to_owned()).or_default();
    let slot = if geo == Geo::Global {
        &mut e.global_profile
    } else {
        &mut e.regional_profile
    };
    let replace = match slot.as_deref() {
        None => true,
        // Prefer the narrower geography (jp over apac), then the smaller id, so output is stable.
        Some(cur) => {
            let rank = |id: &str| match Geo::of_profile_id(id) {
                Some(Geo::Us | Geo::Eu | Geo::Apac) => 1,
                _ => 0,
            };
            (rank(pid), pid) < (rank(cur), cur)
        }
    };
    if replace {
        *slot = Some(pid.to_owned());
    }
}

/// `arn:aws:bedrock:us-west-2::foundation-model/anthropic.x-v1:0` → (`us-west-2`, `anthropic.x-v1:0`).
pub(crate) fn parse_foundation_model_arn(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (arn_lit, _partition, service, region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn_lit != "arn" || service != "bedrock" {
        return None;
    }
    let id = resource.strip_prefix("foundation-model/")?;
    Some((region.to_owned(), id.to_owned()))
}

/// The `data_version` of the bundled snapshot, read without parsing the whole file.
#[must_use]
pub fn bundled_data_version() -> String {
    let marker = "\"data_version\": \"";
    BUNDLED_JSON
        .find(marker)
        .and_then(|i| BUNDLED_JSON.get(i + marker.len()..))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// The identifier a snapshot gets from its generation time: `YYYYMMDDTHHMMSSZ`.
#[must_use]
pub fn data_version_of(t: SystemTime) -> String {
    format_rfc3339(t).replace(['-', ':'], "")
}

/// The original's canonical display name for a model id:
/// `anthropic.claude-3-haiku-20240307-v1:0` → `Claude 3 Haiku 20240307`.
///
/// Drops the provider prefix, the last `:` suffix and a trailing `-vN[.M]`, then capitalises each
/// `-`-separated word.
#[must_use]
pub fn canonical_name(model_id: &str) -> String {
    let s = model_id.split_once('.').map_or(model_id, |(_, rest)| rest);
    let s = s.rsplit_once(':').map_or(s, |(head, _)| head);
    let s = strip_version_suffix(s);
    s.split('-')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn strip_version_suffix(s: &str) -> &str {
    let Some((head, tail)) = s.rsplit_once("-v") else {
        return s;
    };
    let mut parts = tail.splitn(2, '.');
    let major_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let minor_ok = parts
        .next()
        .is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if major_ok && minor_ok { head } else { s }
}

/// Human-readable summary of what changed between two snapshots (one line per change).
#[must_use]
pub fn diff_summary(old: &Snapshot, new: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let old_models: BTreeMap<&str, &ModelInfo> =
        old.models.iter().map(|m| (m.id.as_str(), m)).collect();
    let new_models: BTreeMap<&str, &ModelInfo> =
        new.models.iter().map(|m| (m.id.as_str(), m)).collect();
    for (id, m) in &new_models {
        match old_models.get(id) {
            None => out.push(format!("+ {id} ({}, {} regions)", m.name, m.regions.len())),
            Some(o) if o != m => {
                let mut what = Vec::new();
                let (or, nr): (BTreeSet<&String>, BTreeSet<&String>) =
                    (o.regions.keys().collect(), m.regions.keys().collect());
                let added: Vec<&str> = nr.difference(&or).map(|s| s.as_str()).collect();
                let removed: Vec<&str> = or.difference(&nr).map(|s| s.as_str()).collect();
                if !added.is_empty() {
                    what.push(format!("regions +{}", added.join(",")));
                }
                if !removed.is_empty() {
                    what.push(format!("regions -{}", removed.join(",")));
                }
                if o.regions != m.regions && added.is_empty() && removed.is_empty() {
                    what.push("access methods".into());
                }
                if o.profiles != m.profiles {
                    what.push("profiles".into());
                }
                if o.capabilities != m.capabilities {
                    what.push("capabilities".into());
                }
                if what.is_empty() {
                    what.push("metadata".into());
                }
                out.push(format!("~ {id}: {}", what.join("; ")));
            }
            Some(_) => {}
        }
    }
    for id in old_models.keys().filter(|id| !new_models.contains_key(*id)) {
        out.push(format!("- {id}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_match_the_original() {
        for (id, name) in [
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                "Claude 3 Haiku 20240307",
            ),
            ("amazon.nova-premier-v1:0:8k", "Nova Premier V1:0"),
            ("moonshotai.kimi-k2.5", "Kimi K2.5"),
            ("openai.gpt-oss-120b-1:0", "Gpt Oss 120b 1"),
            ("deepseek.v3-v1:0", "V3"),
            ("cohere.embed-v4:0", "Embed"),
            ("cohere.rerank-v3-5:0", "Rerank V3 5"),
            ("anthropic.claude-opus-4-6-v1", "Claude Opus 4 6"),
            ("meta.llama3-1-70b-instruct-v1:0", "Llama3 1 70b Instruct"),
        ] {
            assert_eq!(canonical_name(id), name, "{id}");
        }
    }

    #[test]
    fn arns_parse() {
        assert_eq!(
            parse_foundation_model_arn(
                "arn:aws:bedrock:us-west-2::foundation-model/anthropic.x-v1:0"
            ),
            Some(("us-west-2".into(), "anthropic.x-v1:0".into()))
        );
        assert_eq!(parse_foundation_model_arn("arn:aws:s3:::bucket"), None);
    }
}
