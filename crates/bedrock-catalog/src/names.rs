//! Model-name resolution: friendly names, case and punctuation variants, model ids, profile ids and
//! ARNs map to one model, or to an error listing the closest names.
//!
//! Every name is reduced to a token key: lower case, split on anything that is not a letter or
//! digit and between a letter and a following digit, so `Llama 3.1 70B`, `llama3-1-70b` and
//! `Llama3 1 70b` share the key `llama 3 1 70b`. Keys come in tiers, and the lowest tier that
//! knows a key decides; two models in that tier make the name ambiguous:
//!
//! | Tier | Names |
//! |------|-------|
//! | 0 | model ids, inference-profile ids (and the ids inside ARNs) |
//! | 1 | canonical names and aliases carried by the data (the service's own model names) |
//! | 2 | the original's legacy names (`Claude 3.5 Sonnet`, `Llama 3.1 70B Instruct`, ...) |
//! | 3 | generated aliases: name without its date, `Claude 4.5 Haiku` / `Claude Haiku 4.5`, provider prefix |
//!
//! A name no key matches is looked up as a whole-token run inside the known names (`Haiku 4.5`);
//! only a single matching model is accepted. Fuzzy similarity (strsim) is used for suggestions only:
//! a lookup never silently picks a different model.

use std::collections::{BTreeSet, HashMap};

use crate::error::Error;
use crate::model::ModelInfo;
use crate::overrides::strip_context_variant;

/// Names the original accepted for models it no longer derives from the API (legacy
/// `UnifiedModelManager` names). Applied only when the target model is in the catalog.
const LEGACY_NAMES: &[(&str, &str)] = &[
    ("Claude 3 Haiku", "anthropic.claude-3-haiku-20240307-v1:0"),
    ("Claude 3 Sonnet", "anthropic.claude-3-sonnet-20240229-v1:0"),
    ("Claude 3 Opus", "anthropic.claude-3-opus-20240229-v1:0"),
    (
        "Claude 3.5 Sonnet",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    (
        "Claude 3.5 Sonnet v2",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    ("Claude Instant", "anthropic.claude-instant-v1"),
    ("Claude 2", "anthropic.claude-v2"),
    ("Claude 2.1", "anthropic.claude-v2:1"),
    ("Titan Text G1 - Lite", "amazon.titan-text-lite-v1"),
    ("Titan Text G1 - Express", "amazon.titan-text-express-v1"),
    ("Titan Text G1 - Premier", "amazon.titan-text-premier-v1:0"),
    ("Titan Embeddings G1 - Text", "amazon.titan-embed-text-v1"),
    (
        "Titan Embeddings G1 - Text v2",
        "amazon.titan-embed-text-v2:0",
    ),
    (
        "Titan Image Generator G1",
        "amazon.titan-image-generator-v1",
    ),
    (
        "Titan Image Generator G1 v2",
        "amazon.titan-image-generator-v2:0",
    ),
    (
        "Titan Multimodal Embeddings G1",
        "amazon.titan-embed-image-v1",
    ),
    ("Llama 2 13B Chat", "meta.llama2-13b-chat-v1"),
    ("Llama 2 70B Chat", "meta.llama2-70b-chat-v1"),
    ("Llama 3 8B Instruct", "meta.llama3-8b-instruct-v1:0"),
    ("Llama 3 70B Instruct", "meta.llama3-70b-instruct-v1:0"),
    ("Llama 3.1 8B Instruct", "meta.llama3-1-8b-instruct-v1:0"),
    ("Llama 3.1 70B Instruct", "meta.llama3-1-70b-instruct-v1:0"),
    (
        "Llama 3.1 405B Instruct",
        "meta.llama3-1-405b-instruct-v1:0",
    ),
    ("Llama 3.2 1B Instruct", "meta.llama3-2-1b-instruct-v1:0"),
    ("Llama 3.2 3B Instruct", "meta.llama3-2-3b-instruct-v1:0"),
    (
        "Llama 3.2 11B Vision Instruct",
        "meta.llama3-2-11b-instruct-v1:0",
    ),
    (
        "Llama 3.2 90B Vision Instruct",
        "meta.llama3-2-90b-instruct-v1:0",
    ),
    ("Cohere Command", "cohere.command-text-v14"),
    ("Cohere Command Light", "cohere.command-light-text-v14"),
    ("Cohere Command R", "cohere.command-r-v1:0"),
    ("Cohere Command R+", "cohere.command-r-plus-v1:0"),
    ("Cohere Embed English", "cohere.embed-english-v3"),
    ("Cohere Embed Multilingual", "cohere.embed-multilingual-v3"),
    ("AI21 Jamba Instruct", "ai21.jamba-instruct-v1:0"),
    ("AI21 Jamba 1.5 Mini", "ai21.jamba-1-5-mini-v1:0"),
    ("AI21 Jamba 1.5 Large", "ai21.jamba-1-5-large-v1:0"),
    ("AI21 Jurassic-2 Mid", "ai21.j2-mid-v1"),
    ("AI21 Jurassic-2 Ultra", "ai21.j2-ultra-v1"),
    ("Mistral 7B Instruct", "mistral.mistral-7b-instruct-v0:2"),
    (
        "Mistral 8x7B Instruct",
        "mistral.mixtral-8x7b-instruct-v0:1",
    ),
    ("Mistral Large", "mistral.mistral-large-2402-v1:0"),
    ("Mistral Large 2", "mistral.mistral-large-2407-v1:0"),
    ("Mistral Small", "mistral.mistral-small-2402-v1:0"),
    ("Stable Diffusion XL", "stability.stable-diffusion-xl-v1"),
    ("Stable Image Core", "stability.stable-image-core-v1:0"),
    ("Stable Image Ultra", "stability.stable-image-ultra-v1:0"),
    (
        "APAC Anthropic Claude 3 Haiku",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ),
    (
        "APAC Anthropic Claude 3 Sonnet",
        "anthropic.claude-3-sonnet-20240229-v1:0",
    ),
    (
        "APAC Anthropic Claude 3 Opus",
        "anthropic.claude-3-opus-20240229-v1:0",
    ),
    (
        "APAC Anthropic Claude 3.5 Sonnet",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    (
        "APAC Claude 3 Haiku",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ),
    (
        "APAC Claude 3 Sonnet",
        "anthropic.claude-3-sonnet-20240229-v1:0",
    ),
    (
        "APAC Claude 3 Opus",
        "anthropic.claude-3-opus-20240229-v1:0",
    ),
    (
        "APAC Claude 3.5 Sonnet",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    (
        "EU Anthropic Claude 3 Haiku",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ),
    (
        "EU Anthropic Claude 3 Sonnet",
        "anthropic.claude-3-sonnet-20240229-v1:0",
    ),
    (
        "EU Claude 3 Haiku",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ),
    (
        "EU Claude 3 Sonnet",
        "anthropic.claude-3-sonnet-20240229-v1:0",
    ),
    (
        "US Anthropic Claude 3 Haiku",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ),
    (
        "US Anthropic Claude 3 Sonnet",
        "anthropic.claude-3-sonnet-20240229-v1:0",
    ),
    (
        "US Claude 3 Haiku",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ),
    (
        "US Claude 3 Sonnet",
        "anthropic.claude-3-sonnet-20240229-v1:0",
    ),
];

/// Words of model ids spelled as their makers spell them.
const BRAND_CASING: &[(&str, &str)] = &[
    ("deepseek", "DeepSeek"),
    ("glm", "GLM"),
    ("gpt", "GPT"),
    ("it", "IT"),
    ("minimax", "MiniMax"),
    ("oss", "OSS"),
    ("vl", "VL"),
];

/// The name users type for a model id, derived from the id:
/// `anthropic.claude-haiku-4-5-20251001-v1:0` → `Claude Haiku 4.5`,
/// `meta.llama3-1-70b-instruct-v1:0` → `Llama 3.1 70B Instruct`.
///
/// The rule: drop the provider prefix, the `:N` revision, a trailing `-v0`/`-v1` and dates
/// (8 digits); join version digits with dots (`3-5` → `3.5`, `llama3-1` → `Llama 3.1`); keep a
/// later major version as `v2`; write sizes as `70B`, short codes as `K2`/`A22B` and brands as
/// their makers do (`GPT OSS`, `DeepSeek`); name a context-window variant after its base with the
/// window in parentheses (`Nova Premier (8K)`); put the provider in front of a name that would
/// otherwise start with a one-letter code (`deepseek.r1-v1:0` → `DeepSeek R1`). Models whose ids do not
/// follow the pattern get explicit names in the overrides file (`names`).
#[must_use]
pub fn display_name(model_id: &str) -> String {
    if let Some(base) = strip_context_variant(model_id) {
        let window = model_id.rsplit(':').next().unwrap_or_default();
        return format!("{} ({})", display_name(base), window.to_uppercase());
    }
    let (provider, rest) = model_id.split_once('.').unwrap_or(("", model_id));
    let rest = rest.split_once(':').map_or(rest, |(head, _)| head);
    let mut words: Vec<String> = rest
        .split('-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    // A trailing `-vN`: the first revisions are noise, a later major version tells models apart.
    let mut major = None;
    if words.len() > 1
        && let Some(n) = words
            .last()
            .and_then(|w| w.strip_prefix('v'))
            .and_then(|n| n.parse::<u32>().ok())
    {
        words.pop();
        major = (n >= 2).then_some(n);
    }
    let mut joined: Vec<String> = Vec::new();
    for w in words {
        if is_date(&w) {
            continue;
        }
        let minor = !w.is_empty()
            && w.len() <= 2
            && w.bytes().all(|b| b.is_ascii_digit())
            && (w == "0" || !w.starts_with('0'));
        match joined.last_mut() {
            Some(prev) if minor && prev.ends_with(|c: char| c.is_ascii_digit()) => {
                prev.push('.');
                prev.push_str(&w);
            }
            _ => joined.push(w),
        }
    }
    let mut out: Vec<String> = joined
        .iter()
        .enumerate()
        .map(|(i, w)| display_word(w, i == 0))
        .collect();
    let bare_code = |w: &String| {
        let mut c = w.chars();
        c.next().is_some_and(|c| c.is_ascii_alphabetic())
            && c.next().is_some_and(|c| c.is_ascii_digit())
    };
    if out.first().is_some_and(bare_code) && !provider.is_empty() {
        out.insert(0, display_word(provider, true));
    }
    if let Some(n) = major {
        out.push(format!("v{n}"));
    }
    out.join(" ")
}

/// A short code such as `K2`, `R1`, `V3.2`, `A22B`.
fn is_code(w: &str) -> bool {
    let letters = w.chars().filter(char::is_ascii_alphabetic).count();
    (1..=2).contains(&letters)
        && w.starts_with(|c: char| c.is_ascii_alphabetic())
        && w.contains(|c: char| c.is_ascii_digit())
}

/// One word of a display name, spelled as users write it.
fn display_word(w: &str, first: bool) -> String {
    if let Some((_, brand)) = BRAND_CASING.iter().find(|(k, _)| *k == w) {
        return (*brand).to_owned();
    }
    if let Some(version) = w.strip_prefix("llama")
        && version.starts_with(|c: char| c.is_ascii_digit())
    {
        return format!("Llama {version}");
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Sizes: `70b` → `70B`, `8x7b` → `8x7B`.
    if let Some(n) = w.strip_suffix('b')
        && (digits(n)
            || n.split_once('x')
                .is_some_and(|(a, b)| digits(a) && digits(b)))
    {
        return format!("{n}B");
    }
    // A later version inside a name stays lower case (`Rerank v3.5`), except as the first word.
    if !first
        && let Some(v) = w.strip_prefix('v')
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return w.to_owned();
    }
    if is_code(w) {
        return w.to_uppercase();
    }
    let mut c = w.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

const MAX_SUGGESTIONS: usize = 5;
const SUGGESTION_CUTOFF: f64 = 0.75;

/// Splits a name into lower-case tokens (see the module docs).
pub(crate) fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_alpha = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if c.is_ascii_digit() && prev_alpha && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_alpha = c.is_alphabetic();
            cur.extend(c.to_lowercase());
        } else {
            if c == '+' {
                // "Command R+" and "Command R Plus" name the same model.
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push("plus".into());
            } else if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_alpha = false;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The lookup key of a name.
pub(crate) fn key(s: &str) -> String {
    // Same rules as `tokens`, written straight into one string: this is the lookup hot path.
    let mut out = String::with_capacity(s.len() + 8);
    let mut in_token = false;
    let mut prev_alpha = false;
    let sep = |out: &mut String| {
        if !out.is_empty() {
            out.push(' ');
        }
    };
    for c in s.chars() {
        if c.is_alphanumeric() {
            if !in_token || (c.is_ascii_digit() && prev_alpha) {
                sep(&mut out);
            }
            in_token = true;
            prev_alpha = c.is_alphabetic();
            out.extend(c.to_lowercase());
        } else {
            if c == '+' {
                sep(&mut out);
                out.push_str("plus");
            }
            in_token = false;
            prev_alpha = false;
        }
    }
    out
}

fn is_date(t: &str) -> bool {
    t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit())
}

/// The id inside a Bedrock ARN (`...:foundation-model/<id>`, `...:inference-profile/<id>`).
fn strip_arn(s: &str) -> &str {
    if !s.starts_with("arn:") {
        return s;
    }
    s.rsplit_once('/').map_or(s, |(_, id)| id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    Id = 0,
    Name = 1,
    Legacy = 2,
    Generated = 3,
}

/// A resolved name: the model's index and, if the name was a profile id, that profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) model: u32,
    pub(crate) profile: Option<u32>,
}

/// Index from every known name to its model.
#[derive(Debug, Default)]
pub(crate) struct NameIndex {
    /// Exact strings (ids, profile ids, names) that resolve unambiguously.
    exact: HashMap<String, Hit>,
    /// Token key → best tier and the hits in it.
    keys: HashMap<String, (Tier, Vec<Hit>)>,
    /// Token lists of tier-1..3 names for whole-token search and suggestions: (tokens, key, model).
    names: Vec<(Vec<String>, String, u32)>,
    /// Display name per model, for errors.
    display: Vec<String>,
    /// Model index → base model index, for context-window variants.
    variant_of: Vec<Option<u32>>,
    /// Names seen while building, promoted to `exact` when unambiguous.
    raw_names: Vec<(String, u32)>,
}

impl NameIndex {
    pub(crate) fn build(models: &[ModelInfo]) -> Self {
        let mut ix = Self::default();
        let by_id: HashMap<&str, u32> = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.as_str(), idx(i)))
            .collect();
        ix.display = models.iter().map(|m| m.name.clone()).collect();
        ix.variant_of = models
            .iter()
            .map(|m| strip_context_variant(&m.id).and_then(|b| by_id.get(b).copied()))
            .collect();
        for (i, m) in models.iter().enumerate() {
            let model = idx(i);
            ix.add(
                &m.id,
                Tier::Id,
                Hit {
                    model,
                    profile: None,
                },
            );
            for (p, prof) in m.profiles.iter().enumerate() {
                ix.add(
                    &prof.id,
                    Tier::Id,
                    Hit {
                        model,
                        profile: Some(idx(p)),
                    },
                );
            }
            ix.add_name(&m.name, Tier::Name, model);
            for a in &m.aliases {
                ix.add_name(a, Tier::Name, model);
            }
            if ix.variant_of.get(i).copied().flatten().is_none() {
                for g in generated_aliases(m) {
                    ix.add_name(&g, Tier::Generated, model);
                }
            }
        }
        for (name, id) in LEGACY_NAMES {
            if let Some(&model) = by_id.get(id) {
                ix.add_name(name, Tier::Legacy, model);
            }
        }
        // Exact strings: ids, profile ids and names whose key resolves to one model.
        let mut exact = HashMap::new();
        for (i, m) in models.iter().enumerate() {
            let strings = std::iter::once((&m.id, None))
                .chain(
                    m.profiles
                        .iter()
                        .enumerate()
                        .map(|(p, prof)| (&prof.id, Some(idx(p)))),
                )
                .chain(std::iter::once((&m.name, None)));
            for (s, profile) in strings {
                if let Ok(hit) = ix.lookup_key(&key(s))
                    && hit.model == idx(i)
                    && hit.profile == profile
                {
                    exact.insert(s.clone(), hit);
                }
            }
        }
        // Aliases and legacy names too, so common friendly names skip tokenization.
        for (s, model) in std::mem::take(&mut ix.raw_names) {
            if let Ok(hit) = ix.lookup_key(&key(&s))
                && hit.model == model
                && hit.profile.is_none()
            {
                exact.entry(s).or_insert(hit);
            }
        }
        ix.exact = exact;
        ix
    }

    fn add(&mut self, s: &str, tier: Tier, hit: Hit) {
        let k = key(s);
        if k.is_empty() {
            return;
        }
        let e = self.keys.entry(k).or_insert((tier, Vec::new()));
        if tier < e.0 {
            *e = (tier, vec![hit]);
        } else if tier == e.0 && !e.1.contains(&hit) {
            e.1.push(hit);
        }
    }

    fn add_name(&mut self, s: &str, tier: Tier, model: u32) {
        self.raw_names.push((s.to_owned(), model));
        self.add(
            s,
            tier,
            Hit {
                model,
                profile: None,
            },
        );
        let t = tokens(s);
        if !t.is_empty() {
            let k = t.join(" ");
            self.names.push((t, k, model));
        }
    }

    /// Resolves a name to a model (and the profile, when the name is a profile id or ARN).
    pub(crate) fn resolve(&self, name: &str) -> Result<Hit, Error> {
        if let Some(hit) = self.exact.get(name) {
            return Ok(*hit);
        }
        let trimmed = strip_arn(name.trim());
        if let Some(hit) = self.exact.get(trimmed) {
            return Ok(*hit);
        }
        let k = key(trimmed);
        if k.is_empty() {
            return Err(Error::UnknownModel {
                name: name.to_owned(),
                suggestions: Vec::new(),
            });
        }
        match self.lookup_key(&k) {
            Ok(hit) => Ok(hit),
            Err(Some(candidates)) => Err(self.ambiguous(name, candidates)),
            Err(None) => self.search_tokens(name, &tokens(trimmed)),
        }
    }

    /// `Ok` for a unique hit, `Err(Some(models))` when ambiguous, `Err(None)` when unknown.
    fn lookup_key(&self, k: &str) -> Result<Hit, Option<Vec<u32>>> {
        let Some((_, hits)) = self.keys.get(k) else {
            return Err(None);
        };
        let models = self.collapse_variants(hits.iter().map(|h| h.model).collect());
        match (hits.as_slice(), models.as_slice()) {
            ([hit], _) => Ok(*hit),
            (_, [m]) => hits.iter().find(|h| h.model == *m).copied().ok_or(None),
            _ => Err(Some(models)),
        }
    }

    /// Drops context-window variants whose base model is also in the set.
    fn collapse_variants(&self, models: BTreeSet<u32>) -> Vec<u32> {
        models
            .iter()
            .copied()
            .filter(|m| {
                let base = self.variant_of.get(*m as usize).copied().flatten();
                base.is_none_or(|b| !models.contains(&b))
            })
            .collect()
    }

    fn search_tokens(&self, name: &str, q: &[String]) -> Result<Hit, Error> {
        let found: BTreeSet<u32> = self
            .names
            .iter()
            .filter(|(t, _, _)| t.len() > q.len() && t.windows(q.len()).any(|w| w == q))
            .map(|(_, _, m)| *m)
            .collect();
        match self.collapse_variants(found).as_slice() {
            [m] => Ok(Hit {
                model: *m,
                profile: None,
            }),
            [] => Err(Error::UnknownModel {
                name: name.to_owned(),
                suggestions: self.suggest(&q.join(" ")),
            }),
            many => Err(self.ambiguous(name, many.to_vec())),
        }
    }

    fn ambiguous(&self, name: &str, models: Vec<u32>) -> Error {
        let mut candidates: Vec<String> = models
            .iter()
            .filter_map(|m| self.display.get(*m as usize).cloned())
            .collect();
        candidates.sort();
        candidates.dedup();
        Error::AmbiguousModel {
            name: name.to_owned(),
            candidates,
        }
    }

    /// Closest canonical names by Jaro-Winkler similarity of their keys, best first.
    fn suggest(&self, q: &str) -> Vec<String> {
        let mut best: HashMap<u32, f64> = HashMap::new();
        for (_, k, m) in &self.names {
            let score = strsim::jaro_winkler(q, k);
            let e = best.entry(*m).or_insert(0.0);
            if score > *e {
                *e = score;
            }
        }
        let mut ranked: Vec<(f64, &String)> = best
            .into_iter()
            .filter(|(_, s)| *s >= SUGGESTION_CUTOFF)
            .filter_map(|(m, s)| Some((s, self.display.get(m as usize)?)))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        ranked
            .into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, n)| n.clone())
            .collect()
    }
}

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Tier-3 aliases of a model (see the module docs).
fn generated_aliases(m: &ModelInfo) -> Vec<String> {
    let t = tokens(&m.name);
    // A trailing major version (`Claude 3.5 Sonnet v2`) is not part of the version number.
    let versioned = match t.len().checked_sub(2).and_then(|i| t.get(i)) {
        Some(v) if v == "v" => t.get(..t.len() - 2).unwrap_or_default(),
        _ => &t[..],
    };
    let undated: Vec<String> = t.iter().filter(|x| !is_date(x)).cloned().collect();
    let mut out = Vec::new();
    if undated.len() != t.len() && !undated.is_empty() {
        out.push(undated.join(" "));
    }
    let variant = t
        .iter()
        .find(|x| matches!(x.as_str(), "haiku" | "sonnet" | "opus"));
    if t.first().is_some_and(|x| x == "claude")
        && let Some(variant) = variant
    {
        {
            let version: Vec<&str> = versioned
                .iter()
                .filter(|x| x.bytes().all(|b| b.is_ascii_digit()) && !is_date(x))
                .map(String::as_str)
                .collect();
            // The date is in the id (`claude-sonnet-4-20250514-v1:0`), not in the name.
            let date = m.id.split(['-', '.', ':']).find(|w| is_date(w));
            let with_date: Vec<&str> = version.iter().copied().chain(date).collect();
            if !version.is_empty() {
                let v = version.join(" ");
                out.push(format!("claude {v} {variant}"));
                out.push(format!("claude {variant} {v}"));
                out.push(format!("claude {} {variant}", with_date.join(" ")));
                if let Some(n) = id_major_version(&m.id).filter(|n| *n >= 2) {
                    out.push(format!("claude {v} {variant} v{n}"));
                    out.push(format!("claude {variant} {v} v{n}"));
                }
            }
        }
    }
    let provider = tokens(&m.provider);
    if !provider.is_empty() && t.first() != provider.first() {
        let p = provider.join(" ");
        out.push(format!("{p} {}", t.join(" ")));
        if undated.len() != t.len() {
            out.push(format!("{p} {}", undated.join(" ")));
        }
    }
    out
}

/// `anthropic.claude-3-5-sonnet-20241022-v2:0` → 2.
fn id_major_version(id: &str) -> Option<u32> {
    let (_, tail) = id.rsplit_once("-v")?;
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_the_names_users_type() {
        for (id, name) in [
            (
                "anthropic.claude-haiku-4-5-20251001-v1:0",
                "Claude Haiku 4.5",
            ),
            ("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
            (
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                "Claude 3.5 Sonnet",
            ),
            (
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                "Claude 3.5 Sonnet v2",
            ),
            (
                "anthropic.claude-3-7-sonnet-20250219-v1:0",
                "Claude 3.7 Sonnet",
            ),
            ("anthropic.claude-sonnet-4-20250514-v1:0", "Claude Sonnet 4"),
            (
                "anthropic.claude-sonnet-4-20250514-v1:0:32k",
                "Claude Sonnet 4 (32K)",
            ),
            ("anthropic.claude-opus-4-6-v1", "Claude Opus 4.6"),
            ("anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6"),
            ("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct"),
            ("meta.llama3-70b-instruct-v1:0", "Llama 3 70B Instruct"),
            (
                "meta.llama4-scout-17b-instruct-v1:0",
                "Llama 4 Scout 17B Instruct",
            ),
            (
                "meta.llama3-3-70b-instruct-v1:0:128k",
                "Llama 3.3 70B Instruct (128K)",
            ),
            ("amazon.nova-lite-v1:0", "Nova Lite"),
            ("amazon.nova-2-lite-v1:0", "Nova 2 Lite"),
            ("amazon.nova-premier-v1:0:8k", "Nova Premier (8K)"),
            (
                "amazon.titan-image-generator-v2:0",
                "Titan Image Generator v2",
            ),
            ("ai21.jamba-1-5-large-v1:0", "Jamba 1.5 Large"),
            ("mistral.mistral-7b-instruct-v0:2", "Mistral 7B Instruct"),
            (
                "mistral.mixtral-8x7b-instruct-v0:1",
                "Mixtral 8x7B Instruct",
            ),
            ("mistral.mistral-large-2407-v1:0", "Mistral Large 2407"),
            ("cohere.embed-v4:0", "Embed v4"),
            ("cohere.rerank-v3-5:0", "Rerank v3.5"),
            ("deepseek.r1-v1:0", "DeepSeek R1"),
            ("deepseek.v3.2", "DeepSeek V3.2"),
            ("google.gemma-3-12b-it", "Gemma 3 12B IT"),
            ("qwen.qwen3-coder-30b-a3b-v1:0", "Qwen3 Coder 30B A3B"),
            ("qwen.qwen3-vl-235b-a22b", "Qwen3 VL 235B A22B"),
            ("moonshotai.kimi-k2.5", "Kimi K2.5"),
            ("minimax.minimax-m2.1", "MiniMax M2.1"),
            ("zai.glm-4.7-flash", "GLM 4.7 Flash"),
            ("stability.sd3-5-large-v1:0", "SD3.5 Large"),
            ("twelvelabs.marengo-embed-2-7-v1:0", "Marengo Embed 2.7"),
            ("nvidia.nemotron-nano-12b-v2", "Nemotron Nano 12B v2"),
            ("writer.palmyra-x5-v1:0", "Palmyra X5"),
        ] {
            assert_eq!(display_name(id), name, "{id}");
        }
    }

    #[test]
    fn tokenization() {
        assert_eq!(key("Llama 3.1 70B Instruct"), "llama 3 1 70b instruct");
        assert_eq!(key("Llama3 1 70b Instruct"), "llama 3 1 70b instruct");
        assert_eq!(key("llama3-1-70b"), "llama 3 1 70b");
        assert_eq!(key("Claude4.5 Haiku"), "claude 4 5 haiku");
        assert_eq!(key("  CLAUDE_3--haiku "), "claude 3 haiku");
        assert_eq!(key("Cohere Command R+"), "cohere command r plus");
        assert_eq!(key("Mixtral 8x7b"), "mixtral 8x 7b");
    }

    #[test]
    fn key_agrees_with_tokens() {
        for s in [
            "Llama 3.1 70B",
            "Cohere Command R+",
            "R+x",
            "+",
            "a+b",
            "Claude4.5 Haiku",
            "--x--y--",
            "",
            "Émile 3ü",
            "8x7b",
            "v1:0:8k",
        ] {
            assert_eq!(key(s), tokens(s).join(" "), "{s:?}");
        }
    }

    #[test]
    fn arn_ids() {
        assert_eq!(
            strip_arn("arn:aws:bedrock:us-east-1:123:inference-profile/us.a.b-v1:0"),
            "us.a.b-v1:0"
        );
        assert_eq!(
            strip_arn("arn:aws:bedrock:us-east-1::foundation-model/a.b-v1:0"),
            "a.b-v1:0"
        );
        assert_eq!(strip_arn("a.b"), "a.b");
    }

    #[test]
    fn major_version() {
        assert_eq!(
            id_major_version("anthropic.claude-3-5-sonnet-20241022-v2:0"),
            Some(2)
        );
        assert_eq!(id_major_version("anthropic.claude-sonnet-4-6"), None);
    }
}
