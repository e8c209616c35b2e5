//! Placing `cachePoint` blocks into a request.
//!
//! The request is read as Bedrock reads its cache prefix: tools, then the system prompt, then the
//! messages. Every place a point could go is a *candidate*; the strategy ranks candidates, and
//! each is accepted only if it keeps Bedrock's rules (see the [crate docs](crate#bedrocks-rules)).
//! Nothing here fails: a request that cannot take a point comes back unchanged, with a warning
//! saying why.

use std::time::Duration;

use bedrock_catalog::{ModelInfo, PromptCaching};
use bedrock_messages::{
    CachePointBlock, CacheTtl, ContentBlock, ConverseRequest, Feature, Role, SystemBlock, Tool,
};
use serde::Serialize;

use crate::availability::CacheAvailability;
use crate::config::{CacheConfig, CacheRule, CacheStrategy, MAX_CACHE_POINTS};
use crate::estimate::{block_tokens, system_block_tokens, tool_tokens};

/// The result of [`place_cache_points`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Placement {
    /// The request with the points added; equal to the input when placement is disabled, the
    /// model has no prompt caching, or no position qualified.
    pub request: ConverseRequest,
    /// Every cache point of [`Placement::request`] (the user's and the added ones), in prefix
    /// order (tools, system, messages).
    pub points: Vec<PointLocation>,
    /// Why points were not added, or were added differently than asked.
    pub warnings: Vec<String>,
}

impl Placement {
    /// Number of points this placement added.
    #[must_use]
    pub fn added(&self) -> usize {
        self.points.iter().filter(|p| p.added).count()
    }
}

/// Where a cache point sits, as indices into the resulting request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "section", rename_all = "snake_case")]
pub enum PointPosition {
    /// `toolConfig.tools[index]`.
    Tools {
        /// Index of the point in the tools list.
        index: usize,
    },
    /// `system[index]`.
    System {
        /// Index of the point in the system prompt.
        index: usize,
    },
    /// `messages[message].content[block]`.
    Message {
        /// Message index.
        message: usize,
        /// Index of the point among the message's blocks.
        block: usize,
    },
}

/// One cache point of a placed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PointLocation {
    /// Where it is.
    pub position: PointPosition,
    /// Estimated tokens of the prefix it closes (tools, system and messages before it).
    pub tokens_before: u64,
    /// `true` if this placement added it, `false` if the caller had put it there.
    pub added: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sec {
    Tools,
    System,
    Message(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Point,
    Text,
    Image,
    Document,
    /// Another block a point may follow (tool spec, video, tool use, tool result).
    Anchor,
    /// A block a point must not follow (guard content, reasoning).
    Opaque,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    sec: Sec,
    index: usize,
    tokens: u64,
    /// Cumulative estimate after this slot.
    end: u64,
    kind: Kind,
}

fn content_kind(b: &ContentBlock) -> Kind {
    match b {
        ContentBlock::CachePoint(_) => Kind::Point,
        ContentBlock::Text(_) => Kind::Text,
        ContentBlock::Image(_) => Kind::Image,
        ContentBlock::Document(_) => Kind::Document,
        ContentBlock::Video(_) | ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_) => {
            Kind::Anchor
        }
        _ => Kind::Opaque,
    }
}

fn system_kind(b: &SystemBlock) -> Kind {
    match b {
        SystemBlock::CachePoint(_) => Kind::Point,
        SystemBlock::Text(_) => Kind::Text,
        _ => Kind::Opaque,
    }
}

fn tool_kind(t: &Tool) -> Kind {
    match t {
        Tool::CachePoint(_) => Kind::Point,
        _ => Kind::Anchor,
    }
}

fn slots(request: &ConverseRequest) -> Vec<Slot> {
    let mut out = Vec::new();
    let mut end = 0u64;
    let mut push = |sec, index, tokens: u64, kind| {
        end = end.saturating_add(tokens);
        out.push(Slot {
            sec,
            index,
            tokens,
            end,
            kind,
        });
    };
    for (i, t) in request
        .tool_config
        .iter()
        .flat_map(|tc| tc.tools.iter())
        .enumerate()
    {
        push(Sec::Tools, i, tool_tokens(t), tool_kind(t));
    }
    for (i, b) in request.system.iter().enumerate() {
        push(Sec::System, i, system_block_tokens(b), system_kind(b));
    }
    for (m, msg) in request.messages.iter().enumerate() {
        for (i, b) in msg.content.iter().enumerate() {
            push(Sec::Message(m), i, block_tokens(b), content_kind(b));
        }
    }
    out
}

/// The placement problem for one request.
struct Plan<'a> {
    slots: &'a [Slot],
    min: u64,
    /// Prefix positions (cumulative tokens) of existing and accepted points, unsorted.
    taken: Vec<u64>,
    chosen: Vec<usize>,
    budget: usize,
    warnings: Vec<String>,
}

impl Plan<'_> {
    fn is_last_of_section(&self, s: usize) -> bool {
        match (self.slots.get(s), self.slots.get(s + 1)) {
            (Some(a), Some(b)) => a.sec != b.sec,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// A point may follow slot `s`: it is a block that can close a prefix, and no point already
    /// follows it.
    fn is_candidate(&self, s: usize) -> bool {
        let Some(slot) = self.slots.get(s) else {
            return false;
        };
        let followed_by_point = !self.is_last_of_section(s)
            && self.slots.get(s + 1).is_some_and(|n| n.kind == Kind::Point);
        let kind_ok = matches!(
            slot.kind,
            Kind::Text | Kind::Image | Kind::Document | Kind::Anchor
        );
        let tools_ok = slot.sec != Sec::Tools || self.is_last_of_section(s);
        kind_ok && !followed_by_point && tools_ok && !self.chosen.contains(&s)
    }

    /// Bedrock's cumulative minimum: the n-th point of the request (in prefix order) needs at
    /// least n × `min` tokens before it. A new point must meet it, must not push a later point
    /// below it, and must close a longer prefix than the point before it.
    fn meets_minimum(&self, t: u64) -> bool {
        let earlier = self.taken.iter().filter(|&&p| p <= t).count() as u64;
        let same_prefix = self.taken.contains(&t);
        let later_ok = self.taken.iter().filter(|&&p| p > t).all(|&p| {
            let ordinal = self.taken.iter().filter(|&&q| q <= p).count() as u64 + 1;
            p >= self.min.saturating_mul(ordinal)
        });
        t > 0 && !same_prefix && t >= self.min.saturating_mul(earlier + 1) && later_ok
    }

    /// Accepts slot `s` if it is a candidate, meets the minimum and the budget allows.
    fn try_accept(&mut self, s: usize) -> Result<(), Skip> {
        if self.budget == 0 {
            return Err(Skip::Budget);
        }
        if !self.is_candidate(s) {
            return Err(Skip::NotCandidate);
        }
        let t = self.slots.get(s).map_or(0, |x| x.end);
        if !self.meets_minimum(t) {
            return Err(Skip::TooFewTokens(t));
        }
        self.taken.push(t);
        self.chosen.push(s);
        self.budget -= 1;
        Ok(())
    }

    fn last_slot_of(&self, sec: Sec) -> Option<usize> {
        self.slots.iter().rposition(|x| x.sec == sec)
    }

    /// The request's last block (the last block of the last message).
    fn request_end(&self) -> Option<usize> {
        self.slots
            .iter()
            .rposition(|x| matches!(x.sec, Sec::Message(_)))
    }

    /// The end of the static prefix: the system prompt's last block, or the tools' last entry
    /// when there is no system prompt.
    fn static_end(&self) -> Option<usize> {
        self.last_slot_of(Sec::System)
            .or_else(|| self.last_slot_of(Sec::Tools))
    }

    fn message_count(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|x| match x.sec {
                Sec::Message(m) => Some(m + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

#[derive(Debug)]
enum Skip {
    Budget,
    NotCandidate,
    TooFewTokens(u64),
}

fn conservative(plan: &mut Plan<'_>) {
    plan.budget = plan.budget.min(1);
    if !plan.chosen.is_empty() {
        // The system prompt's point (auto_cache_system) is the one point.
        return;
    }
    if let Some(s) = plan.static_end()
        && plan.try_accept(s).is_ok()
    {
        return;
    }
    let n = plan.message_count();
    let Some(last_msg) = n.checked_sub(1) else {
        return;
    };
    let Some(request_end) = plan.request_end() else {
        return;
    };
    let final_total: u64 = plan
        .slots
        .iter()
        .filter(|x| x.sec == Sec::Message(last_msg))
        .map(|x| x.tokens)
        .sum();
    let final_end = plan.slots.get(request_end).map_or(0, |x| x.end);
    let mut candidates: Vec<usize> = Vec::new();
    for (s, slot) in plan.slots.iter().enumerate() {
        match slot.sec {
            Sec::Message(m) if m < last_msg && plan.is_last_of_section(s) => candidates.push(s),
            Sec::Message(m) if m == last_msg && s < request_end => {
                let rest = final_end - slot.end;
                if rest < plan.min || rest.saturating_mul(5) <= final_total {
                    candidates.push(s);
                }
            }
            _ => {}
        }
    }
    for s in candidates.into_iter().rev() {
        if plan.try_accept(s).is_ok() {
            return;
        }
    }
}

fn aggressive(plan: &mut Plan<'_>, request: &ConverseRequest) {
    let mut order: Vec<usize> = Vec::new();
    order.extend(plan.static_end());
    order.extend(plan.request_end());
    let n = request.messages.len();
    if let Some(prev_user) = request
        .messages
        .iter()
        .enumerate()
        .take(n.saturating_sub(1))
        .rev()
        .find(|(_, m)| m.role == Role::User)
        .map(|(i, _)| i)
    {
        order.extend(plan.last_slot_of(Sec::Message(prev_user)));
    }
    for s in (0..plan.slots.len()).rev() {
        let Some(slot) = plan.slots.get(s) else {
            continue;
        };
        let large = match slot.kind {
            Kind::Image | Kind::Document => true,
            Kind::Text => slot.tokens >= plan.min,
            _ => false,
        };
        if plan.is_last_of_section(s) || large {
            order.push(s);
        }
    }
    for s in order {
        if plan.budget == 0 {
            break;
        }
        let _ = plan.try_accept(s);
    }
}

fn rule_slots(plan: &Plan<'_>, request: &ConverseRequest, rule: CacheRule) -> Vec<usize> {
    let n = request.messages.len();
    let find = |sec: Sec, index: usize| {
        plan.slots
            .iter()
            .position(|x| x.sec == sec && x.index == index)
    };
    match rule {
        CacheRule::AfterTools => plan.last_slot_of(Sec::Tools).into_iter().collect(),
        CacheRule::AfterSystem => plan.last_slot_of(Sec::System).into_iter().collect(),
        CacheRule::AfterMessage(p) => p
            .resolve(n)
            .and_then(|m| plan.last_slot_of(Sec::Message(m)))
            .into_iter()
            .collect(),
        CacheRule::AfterBlock { message, block } => message
            .resolve(n)
            .and_then(|m| find(Sec::Message(m), block))
            .into_iter()
            .collect(),
        CacheRule::TextBlocksOver(min) => plan
            .slots
            .iter()
            .enumerate()
            .filter(|(_, x)| x.kind == Kind::Text && x.tokens >= u64::from(min))
            .map(|(s, _)| s)
            .collect(),
        CacheRule::AllImages => kind_slots(plan, Kind::Image),
        CacheRule::AllDocuments => kind_slots(plan, Kind::Document),
    }
}

fn kind_slots(plan: &Plan<'_>, kind: Kind) -> Vec<usize> {
    plan.slots
        .iter()
        .enumerate()
        .filter(|(_, x)| x.kind == kind)
        .map(|(s, _)| s)
        .collect()
}

fn custom(plan: &mut Plan<'_>, request: &ConverseRequest, rules: &[CacheRule]) {
    for &rule in rules {
        let found = rule_slots(plan, request, rule);
        let fixed = matches!(
            rule,
            CacheRule::AfterTools
                | CacheRule::AfterSystem
                | CacheRule::AfterMessage(_)
                | CacheRule::AfterBlock { .. }
        );
        if fixed && found.is_empty() {
            plan.warnings.push(format!(
                "cache rule {rule:?}: the request has no such position"
            ));
        }
        for s in found {
            match plan.try_accept(s) {
                Ok(()) => {}
                Err(Skip::Budget) => {
                    plan.warnings.push(format!(
                        "cache rule {rule:?}: skipped, the request already has the model's maximum of cache points"
                    ));
                    break;
                }
                Err(Skip::NotCandidate) if fixed => plan.warnings.push(format!(
                    "cache rule {rule:?}: a cache point cannot follow that block (it is a cache point, guard or reasoning block, or already followed by one)"
                )),
                Err(Skip::TooFewTokens(t)) if fixed => plan.warnings.push(format!(
                    "cache rule {rule:?}: skipped, about {t} tokens precede it, fewer than the model's minimum of {} per cache point",
                    plan.min
                )),
                Err(_) => {}
            }
        }
    }
}

/// Rebuilds the request with a point after each chosen slot; returns the added positions.
fn apply(
    request: &ConverseRequest,
    slots: &[Slot],
    chosen: &[usize],
    point: CachePointBlock,
) -> (ConverseRequest, Vec<PointPosition>) {
    let after = |sec: Sec, index: usize| {
        chosen.iter().any(|&s| {
            slots
                .get(s)
                .is_some_and(|x| x.sec == sec && x.index == index)
        })
    };
    let mut out = request.clone();
    let mut added = Vec::new();
    if let Some(tc) = out.tool_config.as_mut() {
        let mut tools = Vec::with_capacity(tc.tools.len() + 1);
        for (i, t) in tc.tools.drain(..).enumerate() {
            tools.push(t);
            if after(Sec::Tools, i) {
                added.push(PointPosition::Tools { index: tools.len() });
                tools.push(Tool::CachePoint(point));
            }
        }
        tc.tools = tools;
    }
    let mut system = Vec::with_capacity(out.system.len() + 1);
    for (i, b) in out.system.drain(..).enumerate() {
        system.push(b);
        if after(Sec::System, i) {
            added.push(PointPosition::System {
                index: system.len(),
            });
            system.push(SystemBlock::CachePoint(point));
        }
    }
    out.system = system;
    for (m, msg) in out.messages.iter_mut().enumerate() {
        let mut content = Vec::with_capacity(msg.content.len() + 1);
        for (i, b) in msg.content.drain(..).enumerate() {
            content.push(b);
            if after(Sec::Message(m), i) {
                added.push(PointPosition::Message {
                    message: m,
                    block: content.len(),
                });
                content.push(ContentBlock::CachePoint(point));
            }
        }
        msg.content = content;
    }
    (out, added)
}

/// Every cache point of `request`, in prefix order; `added` marks those at `added` positions.
///
/// ```
/// use bedrock_messages::{ConverseRequest, Message};
///
/// let req = ConverseRequest::builder()
///     .system("You are terse.")
///     .message_builder(Message::user().text("hi").cache_point())
///     .build()?;
/// let points = bedrock_cache::cache_points(&req, &[]);
/// assert_eq!(points.len(), 1);
/// assert_eq!(points[0].tokens_before, 4 + 1);
/// # Ok::<(), bedrock_messages::Error>(())
/// ```
#[must_use]
pub fn cache_points(request: &ConverseRequest, added: &[PointPosition]) -> Vec<PointLocation> {
    slots(request)
        .iter()
        .filter(|x| x.kind == Kind::Point)
        .map(|x| {
            let position = match x.sec {
                Sec::Tools => PointPosition::Tools { index: x.index },
                Sec::System => PointPosition::System { index: x.index },
                Sec::Message(m) => PointPosition::Message {
                    message: m,
                    block: x.index,
                },
            };
            PointLocation {
                position,
                tokens_before: x.end,
                added: added.contains(&position),
            }
        })
        .collect()
}

/// Adds `cachePoint` blocks to `request` according to `config`, within the limits in `caching`
/// (the model's [`PromptCaching`] from the catalog; `None` means the model has no prompt
/// caching).
///
/// Never fails and never panics. The caller's own points are kept where they are and count
/// toward the limit. The rules of each strategy are in the [crate docs](crate#strategies).
///
/// ```
/// use bedrock_cache::{CacheConfig, place_cache_points};
/// use bedrock_catalog::PromptCaching;
/// use bedrock_messages::{ConverseRequest, Message};
///
/// let caching = PromptCaching { min_tokens: 1024, max_points: 4, ttl_1h: false };
/// let req = ConverseRequest::builder()
///     .system("Follow the style guide. ".repeat(300))
///     .message_builder(Message::user().text("Summarise the guide."))
///     .build()?;
/// let placed = place_cache_points(&req, Some(&caching), &CacheConfig::conservative());
/// assert_eq!(placed.added(), 1);
/// assert_eq!(placed.request.system.len(), 2, "text, then the cache point");
///
/// let none = place_cache_points(&req, None, &CacheConfig::conservative());
/// assert_eq!(none.request, req);
/// assert_eq!(none.warnings.len(), 1);
/// # Ok::<(), bedrock_messages::Error>(())
/// ```
#[must_use]
pub fn place_cache_points(
    request: &ConverseRequest,
    caching: Option<&PromptCaching>,
    config: &CacheConfig,
) -> Placement {
    let unchanged = |warnings: Vec<String>| Placement {
        request: request.clone(),
        points: cache_points(request, &[]),
        warnings,
    };
    if !config.is_enabled() {
        return unchanged(Vec::new());
    }
    let strategy = config.strategy();
    let slots = slots(request);
    let existing: Vec<u64> = slots
        .iter()
        .filter(|x| x.kind == Kind::Point)
        .map(|x| x.end)
        .collect();
    let Some(caching) = caching else {
        let mut w =
            vec!["the model does not support prompt caching; no cache points added".to_owned()];
        if !existing.is_empty() {
            w.push(format!(
                "the request's {} cache point(s) will cache nothing on this model",
                existing.len()
            ));
        }
        tracing::debug!("prompt caching unsupported; request left unchanged");
        return unchanged(w);
    };
    let limit = usize::try_from(caching.max_points)
        .unwrap_or(MAX_CACHE_POINTS)
        .min(MAX_CACHE_POINTS);
    let mut warnings = Vec::new();
    if existing.len() > limit {
        warnings.push(format!(
            "the request already has {} cache points, more than the {limit} Bedrock accepts; it will be rejected",
            existing.len()
        ));
    }
    if existing.len() >= limit {
        return unchanged(warnings);
    }
    // Five minutes is the default; it is written as no TTL, which every caching model accepts.
    let mut ttl = config.ttl().filter(|t| *t == CacheTtl::OneHour);
    if ttl.is_some() {
        if !caching.ttl_1h {
            warnings
                .push("the model does not accept a one-hour cache TTL; using the default".into());
            ttl = None;
        } else if has_shorter_ttl_point(request) {
            warnings.push(
                "one-hour cache points must precede shorter ones and the request already has a shorter one; using the default TTL".into(),
            );
            ttl = None;
        }
    }
    let point = ttl.map_or_else(CachePointBlock::new, CachePointBlock::with_ttl);

    let min = caching
        .min_tokens
        .max(config.point_threshold().unwrap_or(0));
    let mut plan = Plan {
        slots: &slots,
        min: u64::from(min),
        taken: existing.clone(),
        chosen: Vec::new(),
        budget: limit - existing.len(),
        warnings: Vec::new(),
    };
    if config.auto_cache_system()
        && let Some(s) = plan.last_slot_of(Sec::System)
        && let Err(Skip::TooFewTokens(t)) = plan.try_accept(s)
    {
        plan.warnings.push(format!(
            "system prompt not cached: about {t} tokens, fewer than the minimum of {min} before a cache point"
        ));
    }
    match strategy {
        CacheStrategy::Conservative => conservative(&mut plan),
        CacheStrategy::Aggressive => aggressive(&mut plan, request),
        CacheStrategy::Custom(rules) => custom(&mut plan, request, rules),
    }
    warnings.append(&mut plan.warnings);
    if plan.chosen.is_empty() {
        let total = slots.last().map_or(0, |x| x.end);
        if total < plan.min {
            warnings.push(format!(
                "no cache point added: the prompt is about {total} tokens, below the model's minimum of {} before a cache point",
                plan.min
            ));
        } else if !matches!(strategy, CacheStrategy::Custom(_)) {
            warnings.push("no cache point added: no position met the strategy's rules".into());
        }
        return unchanged(warnings);
    }
    let (placed, added) = apply(request, &slots, &plan.chosen, point);
    tracing::debug!(added = added.len(), "cache points placed");
    Placement {
        points: cache_points(&placed, &added),
        request: placed,
        warnings,
    }
}

/// Cache points for one target's model: what [`place_cache_points`] adds by `config`, after
/// two checks that remove every cache point (the caller's own included) with a warning:
///
/// 1. the model rejected cache points within [`CacheConfig::rejection_memory`] (as recorded in
///    `availability`, on the caller's clock `now`);
/// 2. `config` lists the model as unsupported ([`CacheConfig::with_unsupported_models`]).
///
/// Without a `config` (caching off) only the first check applies, with
/// [`DEFAULT_REJECTION_MEMORY`](crate::DEFAULT_REJECTION_MEMORY) as the memory.
///
/// ```
/// use std::time::Duration;
/// use bedrock_cache::{CacheAvailability, CacheConfig, place_for_model};
/// use bedrock_catalog::Catalog;
/// use bedrock_messages::{ConverseRequest, Message};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let catalog = Catalog::bundled()?;
/// let haiku = catalog.resolve("Claude 3 Haiku")?;
/// let request = ConverseRequest::builder()
///     .system("You answer questions about the attached handbook. ".repeat(200))
///     .message_builder(Message::user().text("What is the leave policy?").cache_point())
///     .build()?;
/// let memory = CacheAvailability::new();
/// let config = CacheConfig::conservative();
/// let placed = place_for_model(&request, haiku, Some(&config), &memory, Duration::ZERO);
/// assert_eq!(placed.points.len(), 1, "the caller's own point");
///
/// // After Haiku rejected cache points, it gets none for an hour, not even the caller's.
/// memory.record_rejection(&haiku.id, Duration::ZERO, config.rejection_memory());
/// let placed = place_for_model(&request, haiku, Some(&config), &memory, Duration::from_secs(60));
/// assert!(placed.points.is_empty());
/// assert_eq!(placed.warnings.len(), 1);
/// let placed = place_for_model(&request, haiku, Some(&config), &memory, Duration::from_secs(3600));
/// assert_eq!(placed.points.len(), 1, "an hour later, cache points again");
///
/// // Listed by name as unsupported: no cache points either.
/// let listed = CacheConfig::conservative().with_unsupported_models(["claude 3 haiku"]);
/// let placed = place_for_model(&request, haiku, Some(&listed), &CacheAvailability::new(), Duration::ZERO);
/// assert!(placed.points.is_empty());
/// # Ok(())
/// # }
/// ```
#[must_use]
pub fn place_for_model(
    request: &ConverseRequest,
    model: &ModelInfo,
    config: Option<&CacheConfig>,
    availability: &CacheAvailability,
    now: Duration,
) -> Placement {
    let reason = if let Some(until) = availability.rejected_until(&model.id, now) {
        let left = until.saturating_sub(now).as_secs().div_ceil(60);
        Some(format!(
            "cache points not sent to {}: it rejected them recently (for about {left} more minutes)",
            model.id
        ))
    } else if config.is_some_and(|c| c.lists_unsupported(model)) {
        Some(format!(
            "cache points not sent to {}: it is listed as not supporting prompt caching",
            model.id
        ))
    } else {
        None
    };
    if let Some(reason) = reason {
        let mut stripped = request.clone();
        let removed = stripped.remove(Feature::CachePoints);
        tracing::debug!(model = %model.id, removed, "cache points withheld");
        return Placement {
            points: Vec::new(),
            request: stripped,
            warnings: if removed || config.is_some_and(CacheConfig::is_enabled) {
                vec![reason]
            } else {
                Vec::new()
            },
        };
    }
    match config {
        Some(config) => {
            place_cache_points(request, model.capabilities.prompt_caching.as_ref(), config)
        }
        None => Placement {
            request: request.clone(),
            points: cache_points(request, &[]),
            warnings: Vec::new(),
        },
    }
}

fn has_shorter_ttl_point(request: &ConverseRequest) -> bool {
    let short = |p: &CachePointBlock| p.ttl != Some(CacheTtl::OneHour);
    request
        .tool_config
        .iter()
        .flat_map(|tc| tc.tools.iter())
        .any(|t| matches!(t, Tool::CachePoint(p) if short(p)))
        || request
            .system
            .iter()
            .any(|b| matches!(b, SystemBlock::CachePoint(p) if short(p)))
        || request
            .messages
            .iter()
            .flat_map(|m| m.content.iter())
            .any(|b| matches!(b, ContentBlock::CachePoint(p) if short(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_messages::Message;

    const HAIKU: PromptCaching = PromptCaching {
        min_tokens: 1000,
        max_points: 4,
        ttl_1h: false,
    };

    fn text(tokens: usize) -> String {
        "abcd".repeat(tokens)
    }

    fn req(system: &[usize], messages: &[&[usize]]) -> ConverseRequest {
        let mut b = ConverseRequest::builder();
        for &s in system {
            b = b.system(text(s));
        }
        for (i, m) in messages.iter().enumerate() {
            let mut mb = if i % 2 == 0 {
                Message::user()
            } else {
                Message::assistant()
            };
            for &t in *m {
                mb = mb.text(text(t));
            }
            b = b.message_builder(mb);
        }
        b.build().unwrap()
    }

    #[track_caller]
    fn check(r: &ConverseRequest, cfg: &CacheConfig, expected: &[(PointPosition, u64)]) {
        let p = place_cache_points(r, Some(&HAIKU), cfg);
        let got: Vec<_> = p
            .points
            .iter()
            .filter(|x| x.added)
            .map(|x| (x.position, x.tokens_before))
            .collect();
        assert_eq!(got, expected, "warnings: {:?}", p.warnings);
    }

    fn sys(index: usize) -> PointPosition {
        PointPosition::System { index }
    }

    fn msg(message: usize, block: usize) -> PointPosition {
        PointPosition::Message { message, block }
    }

    #[test]
    fn the_point_threshold_raises_the_models_minimum_but_never_lowers_it() {
        let r = req(&[1500], &[&[10]]);
        let cfg = |t| CacheConfig::conservative().with_point_threshold(Some(t));
        check(&r, &cfg(1400), &[(sys(1), 1500)]);
        check(&r, &cfg(2000), &[]);
        // Below the model's minimum of 1000, the threshold changes nothing.
        check(&req(&[800], &[&[10]]), &cfg(100), &[]);
        let p = place_cache_points(&r, Some(&HAIKU), &cfg(2000));
        assert!(
            p.warnings.iter().any(|w| w.contains("minimum of 2000")),
            "{:?}",
            p.warnings
        );
        // Cumulative: a second point needs twice the threshold.
        let two = req(&[1500], &[&[1500], &[10]]);
        check(
            &two,
            &CacheConfig::aggressive().with_point_threshold(Some(1400)),
            &[(sys(1), 1500), (msg(1, 1), 3010)],
        );
        check(
            &two,
            &CacheConfig::aggressive().with_point_threshold(Some(1600)),
            &[(msg(1, 1), 3010)],
        );
    }

    #[test]
    fn auto_cache_system_puts_the_system_prompt_first_for_every_strategy() {
        let r = req(&[1500], &[&[1500], &[1500], &[10]]);
        let rules = || {
            vec![CacheRule::AfterMessage(crate::MessagePosition::FromStart(
                0,
            ))]
        };
        check(
            &r,
            &CacheConfig::custom(rules()).unwrap(),
            &[(msg(0, 1), 3000)],
        );
        check(
            &r,
            &CacheConfig::custom(rules())
                .unwrap()
                .with_auto_cache_system(true),
            &[(sys(1), 1500), (msg(0, 1), 3000)],
        );
        // Conservative still places one point, the system prompt's.
        check(
            &r,
            &CacheConfig::conservative().with_auto_cache_system(true),
            &[(sys(1), 1500)],
        );
        // A system prompt below the minimum is not cached, and the warning says so.
        let short = req(&[200], &[&[1500], &[10]]);
        let cfg = CacheConfig::custom(rules())
            .unwrap()
            .with_auto_cache_system(true);
        let p = place_cache_points(&short, Some(&HAIKU), &cfg);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.starts_with("system prompt not cached")),
            "{:?}",
            p.warnings
        );
        check(&short, &cfg, &[(msg(0, 1), 1700)]);
    }

    #[test]
    fn conservative_prefers_the_static_prefix() {
        check(
            &req(&[1500], &[&[10]]),
            &CacheConfig::conservative(),
            &[(sys(1), 1500)],
        );
    }

    #[test]
    fn conservative_caches_a_large_block_before_a_short_question() {
        check(
            &req(&[10], &[&[3000, 20]]),
            &CacheConfig::conservative(),
            &[(msg(0, 1), 3010)],
        );
        // The rest is neither below the minimum nor at most a fifth of the message.
        check(
            &req(&[10], &[&[3000, 2000]]),
            &CacheConfig::conservative(),
            &[],
        );
    }

    #[test]
    fn conservative_caches_the_history_of_a_conversation() {
        check(
            &req(&[10], &[&[600], &[600], &[5]]),
            &CacheConfig::conservative(),
            &[(msg(1, 1), 1210)],
        );
    }

    #[test]
    fn below_the_minimum_nothing_is_added() {
        let r = req(&[900], &[&[50]]);
        for cfg in [CacheConfig::conservative(), CacheConfig::aggressive()] {
            let p = place_cache_points(&r, Some(&HAIKU), &cfg);
            assert_eq!(p.request, r);
            assert_eq!(p.added(), 0);
            assert!(
                p.warnings[0].contains("below the model's minimum"),
                "{:?}",
                p.warnings
            );
        }
    }

    #[test]
    fn aggressive_uses_static_end_request_end_and_previous_turn() {
        check(
            &req(&[1200], &[&[1500], &[100], &[1200]]),
            &CacheConfig::aggressive(),
            &[(sys(1), 1200), (msg(0, 1), 2700), (msg(2, 1), 4000)],
        );
    }

    #[test]
    fn the_nth_point_needs_n_times_the_minimum() {
        // A second point at 1500 would need 2 × 1000 tokens before it.
        check(
            &req(&[1000], &[&[500]]),
            &CacheConfig::aggressive(),
            &[(sys(1), 1000)],
        );
    }

    #[test]
    fn user_points_count_and_are_kept() {
        let mut r = req(&[1200], &[&[1500], &[100], &[1200]]);
        r.system
            .push(SystemBlock::CachePoint(CachePointBlock::new()));
        let p = place_cache_points(&r, Some(&HAIKU), &CacheConfig::aggressive());
        assert_eq!(p.points.len(), 3);
        assert_eq!(
            p.points[0],
            PointLocation {
                position: sys(1),
                tokens_before: 1200,
                added: false
            }
        );
        assert_eq!(p.request.system.len(), 2, "no point next to the user's");

        let full = CacheConfig::custom(vec![CacheRule::AfterMessage(
            crate::MessagePosition::FromEnd(1),
        )])
        .unwrap();
        let mut four = req(&[1200], &[&[1500]]);
        for _ in 0..4 {
            four.messages[0]
                .content
                .push(ContentBlock::CachePoint(CachePointBlock::new()));
        }
        let p = place_cache_points(&four, Some(&HAIKU), &full);
        assert_eq!(p.request, four);
        assert_eq!(p.added(), 0);
    }

    #[test]
    fn disabled_and_unsupported_leave_the_request_alone() {
        let r = req(&[5000], &[&[10]]);
        let p = place_cache_points(&r, Some(&HAIKU), &CacheConfig::disabled());
        assert_eq!(p.request, r);
        assert!(p.warnings.is_empty());
        let p = place_cache_points(&r, None, &CacheConfig::aggressive());
        assert_eq!(p.request, r);
        assert!(p.warnings[0].contains("does not support prompt caching"));
    }

    #[test]
    fn custom_rules_warn_about_missing_and_early_positions() {
        use crate::MessagePosition::FromStart;
        let cfg = CacheConfig::custom(vec![
            CacheRule::AfterTools,
            CacheRule::AfterBlock {
                message: FromStart(0),
                block: 0,
            },
            CacheRule::AfterMessage(FromStart(0)),
        ])
        .unwrap();
        let r = req(&[10], &[&[500, 2000]]);
        let p = place_cache_points(&r, Some(&HAIKU), &cfg);
        assert_eq!(p.added(), 1);
        assert_eq!(p.points[0].position, msg(0, 2));
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("no such position"));
        assert!(p.warnings[1].contains("fewer than the model's minimum"));
    }

    #[test]
    fn one_hour_ttl_only_where_supported() {
        let r = req(&[1500], &[&[10]]);
        let cfg = CacheConfig::conservative().with_ttl(Some(CacheTtl::OneHour));
        let p = place_cache_points(&r, Some(&HAIKU), &cfg);
        assert_eq!(
            p.request.system[1],
            SystemBlock::CachePoint(CachePointBlock::new())
        );
        assert_eq!(p.warnings.len(), 1);
        let newer = PromptCaching {
            ttl_1h: true,
            ..HAIKU
        };
        let p = place_cache_points(&r, Some(&newer), &cfg);
        assert_eq!(
            p.request.system[1],
            SystemBlock::CachePoint(CachePointBlock::with_ttl(CacheTtl::OneHour))
        );
        assert!(p.warnings.is_empty());
        let five = CacheConfig::conservative().with_ttl(Some(CacheTtl::FiveMinutes));
        let p = place_cache_points(&r, Some(&newer), &five);
        assert_eq!(
            p.request.system[1],
            SystemBlock::CachePoint(CachePointBlock::new()),
            "five minutes is the default and is written as no TTL"
        );
        // A caller's five-minute point before ours forbids a one-hour one.
        let mut with_point = req(&[1500], &[&[1500]]);
        with_point.messages[0]
            .content
            .push(ContentBlock::CachePoint(CachePointBlock::new()));
        let p = place_cache_points(&with_point, Some(&newer), &cfg);
        assert!(p.warnings[0].contains("must precede"), "{:?}", p.warnings);
        assert_eq!(
            p.request.system[1],
            SystemBlock::CachePoint(CachePointBlock::new())
        );
    }
}
