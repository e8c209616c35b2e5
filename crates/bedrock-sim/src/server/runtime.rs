//! The runtime routes: `Converse` and `ConverseStream`, with latency, quotas and prompt-cache
//! accounting.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use http::Response;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::catalog::Resolution;
use crate::engine::{self, GenerateInput, Usage};
use crate::scenario::{BedrockErrorKind, Operation, StreamAction, TokenRange};
use crate::wire::WireError;

use super::event_stream::{Pace, stream_response};
use super::faults::apply_decision;
use super::serve::json_response;
use super::{Body, Call, Shared, Window};
const FIVE_MINUTES: Duration = Duration::from_secs(300);
const ONE_HOUR: Duration = Duration::from_secs(3600);

pub(super) async fn runtime(
    shared: &Shared,
    op: Operation,
    region: String,
    model_id: String,
    raw_body: &[u8],
) -> Result<Response<Body>, io::Error> {
    let resolution = shared.catalog.resolve(&region, &model_id);
    let model_idx = match resolution {
        Resolution::Ok(i) => Some(i),
        _ => None,
    };
    let model = model_idx.and_then(|i| shared.catalog.models.get(i));
    let mut call = Call {
        seq: 0,
        request_id: String::new(),
        region,
        op,
        model_id: Some(model_id),
        base_model_id: model.map(|m| m.id.clone()),
    };
    let parsed: Result<Value, _> = serde_json::from_slice(raw_body);
    let decision = shared.decide(&mut call);
    let logged = parsed.as_ref().unwrap_or(&Value::Null);
    let stream_fault = match apply_decision(shared, &call, logged, decision).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Ok(body) = parsed else {
        return Ok(shared.fail(
            &call,
            Value::Null,
            &WireError::validation(BedrockErrorKind::ValidationException.default_message()),
        ));
    };
    let model = match (resolution, model) {
        (Resolution::Ok(_), Some(m)) => m,
        (Resolution::ProfileOnly(id), _) => {
            return Ok(shared.fail(&call, body, &engine::profile_only(&id)));
        }
        _ => {
            return Ok(shared.fail(
                &call,
                body,
                &WireError::validation("The provided model identifier is invalid."),
            ));
        }
    };
    if !model.output_modalities.iter().any(|m| m == "TEXT") {
        return Ok(shared.fail(&call, body, &engine::not_a_chat_model()));
    }
    if op == Operation::ConverseStream && !model.streaming {
        return Ok(shared.fail(&call, body, &engine::no_streaming()));
    }
    let analysis = match engine::analyze(&body, model) {
        Ok(a) => a,
        Err(e) => return Ok(shared.fail(&call, body, &e)),
    };

    // Quotas, scripted reply selection and prompt cache under one short lock.
    let now = Instant::now();
    let window_ms = shared.scenario.quota_window_ms.unwrap_or(60_000).max(1);
    let minute = u64::try_from(shared.start.elapsed().as_millis()).unwrap_or(u64::MAX) / window_ms;
    let reservation = analysis.input_tokens
        + u64::from(analysis.max_tokens.unwrap_or(model.caps.max_output_tokens));
    let (reply_idx, cache_read, cache_write) = {
        let mut st = shared.lock();
        for (qi, q) in shared.scenario.quotas.iter().enumerate() {
            if !Shared::matches(q.region.as_ref(), q.model.as_ref(), &call) {
                continue;
            }
            let w = st
                .quota
                .entry((qi, call.region.clone(), model.id.clone()))
                .or_default();
            if w.minute != minute {
                *w = Window {
                    minute,
                    ..Window::default()
                };
            }
            if q.requests_per_minute.is_some_and(|rpm| w.requests >= rpm) {
                drop(st);
                let e = WireError::new(
                    BedrockErrorKind::ThrottlingException,
                    "Too many requests, please wait before trying again.",
                );
                return Ok(shared.fail(&call, body, &e));
            }
            if w.tokens + reservation > q.tokens_per_minute {
                drop(st);
                let e = WireError::new(
                    BedrockErrorKind::ThrottlingException,
                    "Too many tokens, please wait before trying again.",
                );
                return Ok(shared.fail(&call, body, &e));
            }
        }
        let mut reply_idx = None;
        for (ri, r) in shared.scenario.replies.iter().enumerate() {
            if !Shared::matches(r.region.as_ref(), r.model.as_ref(), &call) {
                continue;
            }
            let Some(n) = st.reply_calls.get_mut(ri) else {
                continue;
            };
            *n += 1;
            if reply_idx.is_none() && (r.calls.is_empty() || r.calls.contains(n)) {
                reply_idx = Some(ri);
            }
        }
        let (read, write) = cache_usage(
            &mut st.cache,
            &call.region,
            now,
            &analysis.cache_points,
            model.caps.cache_min_tokens,
            model.caps.cache_ttl_1h,
        );
        (reply_idx, read, write)
    };

    // A prefilled request is answered as the conversation without the prefill would be, then
    // continued after the prefix.
    let prefill = engine::split_prefill(&body);
    let seed_body: std::borrow::Cow<'_, [u8]> = match &prefill {
        Some((base, _)) => serde_json::to_vec(base).unwrap_or_default().into(),
        None => raw_body.into(),
    };
    let rng_seed =
        engine::fnv1a(shared.scenario.seed, &seed_body) ^ engine::fnv1a(0, model.id.as_bytes());
    let mut reply = engine::generate(
        &analysis,
        &GenerateInput {
            rng_seed,
            scripted: reply_idx.and_then(|i| shared.scenario.replies.get(i)),
            tool_use_when_offered: shared.scenario.tool_use_when_offered,
            output_tokens: shared
                .scenario
                .output_tokens
                .unwrap_or(TokenRange { min: 20, max: 60 }),
            malformed_structured_share: shared.scenario.malformed_structured_share,
        },
    );
    reply.service_tier = analysis.service_tier.clone();
    reply.performance = analysis.performance.clone();
    if let Some((_, prefix)) = &prefill {
        engine::continue_after(&mut reply, prefix);
    }
    if let Some(id) = &analysis.guardrail_trace {
        let output_chars = reply.text.as_ref().map_or(0, |t| t.chars().count() as u64);
        reply.trace = Some(engine::guardrail_trace(
            id,
            analysis.input_tokens.saturating_mul(4),
            output_chars,
        ));
    }
    // The write belongs to the last cache point long enough to count; its time to live decides
    // the write's.
    let cache_write_1h = model.caps.cache_ttl_1h
        && analysis
            .cache_points
            .iter()
            .rev()
            .find(|p| {
                model
                    .caps
                    .cache_min_tokens
                    .is_some_and(|m| p.tokens >= u64::from(m))
            })
            .is_some_and(|p| p.ttl_1h);
    let usage = Usage {
        input: analysis
            .input_tokens
            .saturating_sub(cache_read + cache_write),
        output: reply.output_tokens,
        cache_read,
        cache_write,
        cache_write_1h,
    };
    engine::answer_field_paths(&mut reply, &analysis.response_field_paths, model, usage);
    // Settle the quota reservation to the actual token count.
    if !shared.scenario.quotas.is_empty() {
        let mut st = shared.lock();
        for (qi, q) in shared.scenario.quotas.iter().enumerate() {
            if Shared::matches(q.region.as_ref(), q.model.as_ref(), &call)
                && let Some(w) = st
                    .quota
                    .get_mut(&(qi, call.region.clone(), model.id.clone()))
            {
                w.requests += 1;
                w.tokens += analysis.input_tokens + reply.output_tokens;
            }
        }
    }

    let lat = shared
        .scenario
        .latency_rules
        .iter()
        .find(|r| Shared::matches(r.region.as_ref(), r.model.as_ref(), &call))
        .map_or(&shared.scenario.latency, |r| &r.latency);
    let ttft_ms = match lat.ttft_p50_ms {
        Some(p50) => tail_ttft_ms(shared.scenario.seed, call.seq, p50, lat.ttft_p99_ms),
        None => {
            let mut jrng = StdRng::seed_from_u64(rng_seed ^ 0x5eed);
            lat.time_to_first_token_ms
                + if lat.jitter_ms > 0 {
                    jrng.random_range(0..=lat.jitter_ms)
                } else {
                    0
                }
        }
    };
    let ms_per_token = if lat.tokens_per_second > 0.0 {
        1000.0 / lat.tokens_per_second
    } else {
        0.0
    };
    let gen_ms = (reply.output_tokens as f64 * ms_per_token).round() as u64;
    let latency_ms = ttft_ms + gen_ms;

    if op == Operation::Converse {
        shared.record(&call, body, "ok", Some(usage));
        if latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(latency_ms)).await;
        }
        let v = engine::converse_json(&reply, usage, latency_ms);
        return Ok(json_response(&v, &call.request_id));
    }

    let tokens_per_delta = lat.tokens_per_delta.unwrap_or(3).max(1);
    let events = engine::stream_events(&reply, usage, latency_ms, tokens_per_delta);
    let plan = stream_fault
        .as_ref()
        .and_then(|f| f.stream_plan(events.len()));
    let outcome = match &plan {
        None => "ok".to_owned(),
        Some((_, StreamAction::Cut { abrupt: false })) => "stream_cut".to_owned(),
        Some((_, StreamAction::Cut { abrupt: true })) => "stream_cut_abrupt".to_owned(),
        Some((_, StreamAction::Stall)) => "stall".to_owned(),
        Some((_, StreamAction::Exception { exception, .. })) => exception.header_value().to_owned(),
    };
    shared.record(&call, body, &outcome, Some(usage));
    let pace = Pace {
        ttft: Duration::from_millis(ttft_ms),
        per_delta: Duration::from_secs_f64(ms_per_token * f64::from(tokens_per_delta) / 1000.0),
    };
    Ok(stream_response(events, plan, pace, &call.request_id))
}

/// A log-normal time to first token with median `p50` and 99th percentile `p99` (default
/// 3 × `p50`), drawn from the seed and the request number, capped at 10 × `p99`.
fn tail_ttft_ms(seed: u64, seq: u64, p50: u64, p99: Option<u64>) -> u64 {
    const Z99: f64 = 2.326_347_874;
    let p50 = p50.max(1) as f64;
    let p99 = p99.map_or(p50 * 3.0, |p| (p as f64).max(p50));
    let sigma = (p99 / p50).ln() / Z99;
    let h = engine::splitmix64(engine::splitmix64(seed ^ 0x1a7e_0c1e).wrapping_add(seq));
    // Two uniforms in (0, 1] from the hash, then Box-Muller.
    let u1 = ((h >> 32) as f64 + 1.0) / 4_294_967_296.0;
    let u2 = ((h & 0xffff_ffff) as f64) / 4_294_967_296.0;
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let x = (p50.ln() + sigma * z).exp();
    x.clamp(0.0, p99 * 10.0).round() as u64
}

/// Prompt-cache bookkeeping: returns (read, write) tokens and updates the cache.
fn cache_usage(
    cache: &mut HashMap<u64, Instant>,
    region: &str,
    now: Instant,
    points: &[engine::CachePoint],
    min_tokens: Option<u32>,
    ttl_1h_ok: bool,
) -> (u64, u64) {
    let Some(min) = min_tokens else { return (0, 0) };
    let eligible: Vec<_> = points
        .iter()
        .filter(|p| p.tokens >= u64::from(min))
        .collect();
    let Some(last) = eligible.last() else {
        return (0, 0);
    };
    let key = |p: &engine::CachePoint| engine::fnv1a(p.prefix_hash, region.as_bytes());
    let ttl = |p: &engine::CachePoint| {
        if p.ttl_1h && ttl_1h_ok {
            ONE_HOUR
        } else {
            FIVE_MINUTES
        }
    };
    let mut read = 0;
    for p in eligible.iter().rev() {
        if cache.get(&key(p)).is_some_and(|exp| *exp > now) {
            read = p.tokens;
            break;
        }
    }
    let write = last.tokens.saturating_sub(read);
    for p in &eligible {
        cache.insert(key(p), now + ttl(p));
    }
    if cache.len() > 100_000 {
        cache.retain(|_, exp| *exp > now);
    }
    (read, write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_reads_after_write_and_respects_minimum() {
        let now = Instant::now();
        let mut cache = HashMap::new();
        let p = [engine::CachePoint {
            prefix_hash: 9,
            tokens: 3000,
            ttl_1h: false,
        }];
        assert_eq!(
            cache_usage(&mut cache, "r", now, &p, Some(2048), false),
            (0, 3000)
        );
        assert_eq!(
            cache_usage(&mut cache, "r", now, &p, Some(2048), false),
            (3000, 0)
        );
        assert_eq!(
            cache_usage(&mut cache, "other", now, &p, Some(2048), false),
            (0, 3000)
        );
        let later = now + Duration::from_secs(301);
        assert_eq!(
            cache_usage(&mut cache, "r", later, &p, Some(2048), false),
            (0, 3000)
        );
        let mut fresh = HashMap::new();
        assert_eq!(
            cache_usage(&mut fresh, "r", now, &p, Some(4096), false),
            (0, 0)
        );
        assert_eq!(cache_usage(&mut fresh, "r", now, &p, None, false), (0, 0));
    }

    #[test]
    fn one_hour_ttl_only_where_supported() {
        let now = Instant::now();
        let p = [engine::CachePoint {
            prefix_hash: 1,
            tokens: 5000,
            ttl_1h: true,
        }];
        let later = now + Duration::from_secs(1800);
        let mut cache = HashMap::new();
        assert_eq!(
            cache_usage(&mut cache, "r", now, &p, Some(1024), true),
            (0, 5000)
        );
        assert_eq!(
            cache_usage(&mut cache, "r", later, &p, Some(1024), true),
            (5000, 0)
        );
        let mut cache = HashMap::new();
        assert_eq!(
            cache_usage(&mut cache, "r", now, &p, Some(1024), false),
            (0, 5000)
        );
        assert_eq!(
            cache_usage(&mut cache, "r", later, &p, Some(1024), false),
            (0, 5000)
        );
    }

    #[test]
    fn tail_latency_has_the_requested_percentiles() {
        let mut draws: Vec<u64> = (1..=20_000)
            .map(|n| tail_ttft_ms(7, n, 200, Some(5000)))
            .collect();
        draws.sort_unstable();
        let p50 = draws[10_000];
        let p99 = draws[19_800];
        assert!((180..=220).contains(&p50), "p50 {p50}");
        assert!((4_000..=6_200).contains(&p99), "p99 {p99}");
        assert!(draws.iter().all(|d| *d <= 50_000));
        assert_eq!(
            tail_ttft_ms(7, 3, 200, Some(5000)),
            tail_ttft_ms(7, 3, 200, Some(5000))
        );
        assert_ne!(
            tail_ttft_ms(7, 3, 200, Some(5000)),
            tail_ttft_ms(8, 3, 200, Some(5000))
        );
    }
}
