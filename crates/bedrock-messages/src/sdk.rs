//! Conversions to and from the `aws-sdk-bedrockruntime` types.
//!
//! The model in this crate is the contract other crates code against; the SDK is how it
//! travels. Conversions go both ways and are lossless for everything the model represents:
//! `TryFrom<&ours>` for each SDK type and `TryFrom<&sdk>` for each of ours. SDK variants this
//! model does not represent (audio, search results, tool additions) convert to
//! [`Error::Conversion`]. Two SDK defaults are worth knowing: a guardrail without `trace` comes
//! back as `trace: disabled`, and the guardrail part of a response trace is not mapped (only
//! `promptRouter.invokedModelId` is).
//!
//! JSON values map to [`Document`]: non-negative integers to `PosInt`, negative integers to
//! `NegInt`, other numbers to `Float`.
//!
//! One submodule per area: `media` (S3, images, videos, documents), `blocks` (content blocks and
//! messages), `tools`, `citations`, `config` (inference, guardrails, performance), `request`
//! (whole requests on the SDK builders) and `response`.

use std::collections::BTreeMap;

use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::{Blob, Document, Number};
use bytes::Bytes;
use serde_json::Value;

use crate::error::Error;
use crate::model::RawBlock;

mod blocks;
mod citations;
mod config;
mod media;
mod request;
mod response;
mod tools;

pub use request::{
    apply_to_converse, apply_to_converse_input, apply_to_converse_stream,
    request_from_converse_input,
};

/// Converts JSON to a smithy [`Document`].
#[must_use]
pub fn json_to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(json_to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect(),
        ),
    }
}

/// Converts a smithy [`Document`] to JSON.
///
/// # Errors
/// [`Error::Conversion`] for a non-finite float, which JSON cannot carry.
pub fn document_to_json(d: &Document) -> Result<Value, Error> {
    Ok(match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .ok_or_else(|| Error::conversion("document", format!("non-finite number {f}")))?
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => {
            Value::Array(a.iter().map(document_to_json).collect::<Result<_, _>>()?)
        }
        Document::Object(o) => {
            // Sort keys so conversions are deterministic (the SDK uses a HashMap).
            let sorted: BTreeMap<&String, &Document> = o.iter().collect();
            let mut map = serde_json::Map::with_capacity(o.len());
            for (k, v) in sorted {
                map.insert(k.clone(), document_to_json(v)?);
            }
            Value::Object(map)
        }
    })
}

fn parse<T: std::str::FromStr<Err = Error>>(s: &str) -> Result<T, Error> {
    s.parse()
}

fn unsupported(what: &str, v: &impl std::fmt::Debug) -> Error {
    let dbg = format!("{v:?}");
    let name: String = dbg.chars().take_while(|c| c.is_alphanumeric()).collect();
    Error::conversion(what, format!("variant {name} is not represented"))
}

/// The lower-camel wire name of an SDK union variant, from its `Debug` text.
fn variant_name(v: &impl std::fmt::Debug) -> String {
    let dbg = format!("{v:?}");
    let name: String = dbg.chars().take_while(|c| c.is_alphanumeric()).collect();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown".to_owned(),
    }
}

/// Raw JSON for an SDK block this library does not model: the fields the SDK exposes where it is
/// known (`searchResult`), otherwise an empty body under the block's name.
fn raw_block(v: &impl std::fmt::Debug, search: Option<&sdk::SearchResultBlock>) -> RawBlock {
    let kind = variant_name(v);
    let body = match search {
        Some(s) => serde_json::json!({
            "source": s.source(),
            "title": s.title(),
            "content": s.content().iter().map(|c| serde_json::json!({"text": c.text()})).collect::<Vec<_>>(),
        }),
        None => serde_json::json!({}),
    };
    let mut object = serde_json::Map::new();
    object.insert(kind, body);
    RawBlock(serde_json::Value::Object(object))
}

fn cannot_send(raw: &RawBlock) -> Error {
    Error::conversion(
        "ContentBlock",
        format!(
            "a {} block cannot be sent: this library keeps it only as raw JSON",
            raw.kind()
        ),
    )
}

fn blob(b: &Bytes) -> Blob {
    Blob::new(b.to_vec())
}

fn bytes(b: &Blob) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_numbers_map_to_smithy_numbers() {
        assert_eq!(
            json_to_document(&json!(3)),
            Document::Number(Number::PosInt(3))
        );
        assert_eq!(
            json_to_document(&json!(-3)),
            Document::Number(Number::NegInt(-3))
        );
        assert_eq!(
            json_to_document(&json!(1.5)),
            Document::Number(Number::Float(1.5))
        );
        let v = json!({"a": [1, -2, 2.5, "s", null, true], "b": {"c": {}}});
        assert_eq!(document_to_json(&json_to_document(&v)).unwrap(), v);
        assert!(document_to_json(&Document::Number(Number::Float(f64::NAN))).is_err());
    }
}
