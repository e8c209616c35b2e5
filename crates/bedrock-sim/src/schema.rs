//! Seeded instances of JSON schemas, for structured output and forced tool calls.
//!
//! A model asked for JSON that follows a schema (`outputConfig.textFormat`) or forced to call a
//! tool answers with a value valid against that schema. The generator covers the parts of JSON
//! Schema that tool and output schemas use in practice: `type` (one or a list), `enum`,
//! `const`, objects (`properties`, `required`; optional properties are included by a coin
//! flip), arrays (`items`, `minItems`, `maxItems`), strings (`minLength`, `maxLength`, common
//! `format`s), numbers and integers (`minimum`, `maximum`, exclusive bounds), `anyOf`/`oneOf`
//! (one branch), `allOf` (merged objects) and local `$ref`s (`#/$defs/..`, `#/definitions/..`).
//! Anything else is answered with a plausible value of the declared type.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

const MAX_DEPTH: usize = 8;

const WORDS: [&str; 16] = [
    "alpha", "bravo", "cloud", "delta", "ember", "field", "grove", "harbor", "island", "jade",
    "kernel", "lumen", "meadow", "nova", "orbit", "prism",
];

/// A seeded value valid against `schema`.
pub(crate) fn instance(schema: &Value, rng: &mut StdRng) -> Value {
    gen_value(schema, schema, rng, 0)
}

/// A seeded value that violates `schema` where it can (a required property dropped, or the
/// wrong type); for a schema that accepts anything, a string.
pub(crate) fn violation(schema: &Value, rng: &mut StdRng) -> Value {
    let root = schema;
    let schema = resolve(root, schema);
    let mut valid = instance(root, rng);
    if let (Some(obj), Some(req)) = (
        valid.as_object_mut(),
        schema.get("required").and_then(Value::as_array),
    ) && let Some(first) = req.iter().filter_map(Value::as_str).next()
    {
        obj.remove(first);
        return valid;
    }
    match type_of(schema) {
        Some("string") => json!(42),
        Some(_) | None if schema.get("enum").is_some() => json!("not-an-allowed-value"),
        Some(_) => json!("not the declared type"),
        None => json!("unconstrained"),
    }
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    for _ in 0..MAX_DEPTH {
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            return s;
        };
        match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => s = target,
            None => return s,
        }
    }
    s
}

fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(Some("null")),
        _ if schema.get("properties").is_some() => Some("object"),
        _ if schema.get("items").is_some() => Some("array"),
        _ => None,
    }
}

fn gen_value(root: &Value, schema: &Value, rng: &mut StdRng, depth: usize) -> Value {
    let schema = resolve(root, schema);
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.is_empty()
    {
        return e[rng.random_range(0..e.len())].clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array)
            && !branches.is_empty()
        {
            let b = &branches[rng.random_range(0..branches.len())];
            return gen_value(root, b, rng, depth + 1);
        }
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for p in parts {
            if let Value::Object(o) = gen_value(root, p, rng, depth + 1) {
                merged.extend(o);
            }
        }
        return Value::Object(merged);
    }
    if depth >= MAX_DEPTH {
        return match type_of(schema) {
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => Value::Null,
        };
    }
    match type_of(schema) {
        Some("object") => gen_object(root, schema, rng, depth),
        Some("array") => gen_array(root, schema, rng, depth),
        Some("string") => gen_string(schema, rng),
        Some("integer") => gen_number(schema, rng, true),
        Some("number") => gen_number(schema, rng, false),
        Some("boolean") => Value::Bool(rng.random_bool(0.5)),
        Some("null") => Value::Null,
        _ => Value::String(WORDS[rng.random_range(0..WORDS.len())].to_owned()),
    }
}

fn gen_object(root: &Value, schema: &Value, rng: &mut StdRng, depth: usize) -> Value {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            if required.contains(&k.as_str()) || rng.random_bool(0.5) {
                out.insert(k.clone(), gen_value(root, p, rng, depth + 1));
            }
        }
    }
    // A required property the schema does not describe still has to be there.
    for r in required {
        if !out.contains_key(r) {
            out.insert(r.to_owned(), json!(WORDS[rng.random_range(0..WORDS.len())]));
        }
    }
    Value::Object(out)
}

fn bound(schema: &Value, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

fn gen_array(root: &Value, schema: &Value, rng: &mut StdRng, depth: usize) -> Value {
    let min = bound(schema, "minItems").unwrap_or(1).min(16);
    let max = bound(schema, "maxItems").unwrap_or(min + 2).clamp(min, 16);
    let n = rng.random_range(min..=max);
    let items = schema.get("items").cloned().unwrap_or(Value::Null);
    Value::Array(
        (0..n)
            .map(|_| gen_value(root, &items, rng, depth + 1))
            .collect(),
    )
}

fn gen_string(schema: &Value, rng: &mut StdRng) -> Value {
    let format = schema.get("format").and_then(Value::as_str);
    let base = match format {
        Some("date-time") => format!(
            "2025-{:02}-{:02}T{:02}:{:02}:00Z",
            rng.random_range(1..=12),
            rng.random_range(1..=28),
            rng.random_range(0..24),
            rng.random_range(0..60)
        ),
        Some("date") => format!(
            "2025-{:02}-{:02}",
            rng.random_range(1..=12),
            rng.random_range(1..=28)
        ),
        Some("email") => format!("{}@example.com", WORDS[rng.random_range(0..WORDS.len())]),
        Some("uri" | "url") => format!(
            "https://example.com/{}",
            WORDS[rng.random_range(0..WORDS.len())]
        ),
        Some("uuid") => {
            let a: u64 = rng.random();
            let b: u64 = rng.random();
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                b >> 52,
                b & 0xffff_ffff_ffff
            )
        }
        _ => {
            let n = rng.random_range(1..=3);
            (0..n)
                .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    let min = usize::try_from(bound(schema, "minLength").unwrap_or(0)).unwrap_or(0);
    let max = usize::try_from(bound(schema, "maxLength").unwrap_or(u64::MAX)).unwrap_or(usize::MAX);
    let mut s = base;
    while s.chars().count() < min {
        s.push('x');
    }
    if s.chars().count() > max {
        s = s.chars().take(max).collect();
    }
    Value::String(s)
}

fn gen_number(schema: &Value, rng: &mut StdRng, integer: bool) -> Value {
    let get = |k: &str| schema.get(k).and_then(Value::as_f64);
    let mut lo = get("minimum").unwrap_or(0.0);
    let mut hi = get("maximum").unwrap_or(lo.max(0.0) + 100.0);
    if let Some(x) = get("exclusiveMinimum") {
        lo = lo.max(x + if integer { 1.0 } else { 1e-6 });
    }
    if let Some(x) = get("exclusiveMaximum") {
        hi = hi.min(x - if integer { 1.0 } else { 1e-6 });
    }
    if integer {
        lo = lo.ceil();
        hi = hi.floor();
    }
    if !(lo.is_finite() && hi.is_finite()) || hi < lo {
        hi = lo;
    }
    let x = if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    };
    if integer {
        json!(x.round() as i64)
    } else {
        json!((x * 100.0).round() / 100.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use rand::SeedableRng;

    use super::*;

    /// A small validator for the same subset, to check the generator.
    pub(crate) fn valid(root: &Value, schema: &Value, v: &Value) -> bool {
        let schema = resolve(root, schema);
        if let Some(c) = schema.get("const") {
            return c == v;
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array) {
            return e.contains(v);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(b) = schema.get(key).and_then(Value::as_array) {
                return b.iter().any(|s| valid(root, s, v));
            }
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            return parts.iter().all(|s| valid(root, s, v));
        }
        match type_of(schema) {
            Some("object") => {
                let Some(o) = v.as_object() else { return false };
                let req_ok = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .is_none_or(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .all(|k| o.contains_key(k))
                    });
                let props = schema.get("properties").and_then(Value::as_object);
                req_ok
                    && o.iter().all(|(k, x)| {
                        props
                            .and_then(|p| p.get(k))
                            .is_none_or(|s| valid(root, s, x))
                    })
            }
            Some("array") => {
                let Some(a) = v.as_array() else { return false };
                let n = a.len() as u64;
                bound(schema, "minItems").is_none_or(|m| n >= m)
                    && bound(schema, "maxItems").is_none_or(|m| n <= m)
                    && a.iter()
                        .all(|x| schema.get("items").is_none_or(|s| valid(root, s, x)))
            }
            Some("string") => v.as_str().is_some_and(|s| {
                let n = s.chars().count() as u64;
                bound(schema, "minLength").is_none_or(|m| n >= m)
                    && bound(schema, "maxLength").is_none_or(|m| n <= m)
            }),
            Some(t @ ("integer" | "number")) => v.as_f64().is_some_and(|x| {
                let get = |k: &str| schema.get(k).and_then(Value::as_f64);
                (t == "number" || v.is_i64() || v.is_u64())
                    && get("minimum").is_none_or(|m| x >= m)
                    && get("maximum").is_none_or(|m| x <= m)
                    && get("exclusiveMinimum").is_none_or(|m| x > m)
                    && get("exclusiveMaximum").is_none_or(|m| x < m)
            }),
            Some("boolean") => v.is_boolean(),
            Some("null") => v.is_null(),
            _ => true,
        }
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 3, "maxLength": 12},
                "age": {"type": "integer", "minimum": 18, "maximum": 99},
                "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "status": {"enum": ["active", "retired"]},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
                "address": {"$ref": "#/$defs/address"},
                "nickname": {"type": ["string", "null"]},
                "contact": {"anyOf": [{"type": "string", "format": "email"}, {"type": "integer"}]},
                "kind": {"const": "person"}
            },
            "required": ["name", "age", "status", "tags", "address", "kind"],
            "$defs": {"address": {"type": "object",
                "properties": {"city": {"type": "string"}, "zip": {"type": "string", "maxLength": 5},
                               "geo": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]}},
                "required": ["city", "geo"]}}
        })
    }

    #[test]
    fn instances_are_valid_and_seeded() {
        let s = schema();
        for seed in 0..200 {
            let v = instance(&s, &mut StdRng::seed_from_u64(seed));
            assert!(valid(&s, &s, &v), "seed {seed}: {v}");
            assert_eq!(v, instance(&s, &mut StdRng::seed_from_u64(seed)));
        }
        let a = instance(&s, &mut StdRng::seed_from_u64(1));
        let b = instance(&s, &mut StdRng::seed_from_u64(2));
        assert_ne!(a, b);
    }

    #[test]
    fn violations_are_invalid() {
        let s = schema();
        for seed in 0..50 {
            let v = violation(&s, &mut StdRng::seed_from_u64(seed));
            assert!(!valid(&s, &s, &v), "seed {seed}: {v}");
        }
        let e = json!({"enum": ["a", "b"]});
        assert!(!valid(
            &e,
            &e,
            &violation(&e, &mut StdRng::seed_from_u64(0))
        ));
    }

    #[test]
    fn self_referencing_schemas_terminate() {
        let s = json!({"type": "object", "properties": {"child": {"$ref": "#"}}, "required": ["child"]});
        let v = instance(&s, &mut StdRng::seed_from_u64(3));
        assert!(v.get("child").is_some());
    }
}
