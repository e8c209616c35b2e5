//! Shared helpers: SDK clients with fake SigV4 credentials and SDK retries off.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_sim::SimHandle;

pub(crate) const HAIKU3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub(crate) const HAIKU45: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";

pub(crate) async fn sdk_config_for(
    endpoint: &str,
    region: &str,
    attempt_timeout: Duration,
) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(attempt_timeout)
                .build(),
        )
        .load()
        .await
}

pub(crate) async fn runtime(sim: &SimHandle, region: &str) -> aws_sdk_bedrockruntime::Client {
    let cfg = sdk_config_for(&sim.endpoint_url(), region, Duration::from_secs(30)).await;
    aws_sdk_bedrockruntime::Client::new(&cfg)
}

pub(crate) async fn control(sim: &SimHandle, region: &str) -> aws_sdk_bedrock::Client {
    let cfg = sdk_config_for(&sim.endpoint_url(), region, Duration::from_secs(30)).await;
    aws_sdk_bedrock::Client::new(&cfg)
}

pub(crate) fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .unwrap()
}

pub(crate) fn assistant(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .unwrap()
}

/// The text of the first text block of a Converse response.
pub(crate) fn reply_text(
    out: &aws_sdk_bedrockruntime::operation::converse::ConverseOutput,
) -> String {
    let msg = out.output().unwrap().as_message().unwrap();
    msg.content()
        .iter()
        .filter_map(|b| b.as_text().ok())
        .cloned()
        .collect()
}

/// Sends one HTTP/1.1 request over a raw socket and returns (status, body).
pub(crate) async fn raw_http(endpoint: &str, method: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// A JSON value as an SDK document.
pub(crate) fn to_document(v: &serde_json::Value) -> aws_smithy_types::Document {
    use aws_smithy_types::{Document, Number};
    match v {
        serde_json::Value::Null => Document::Null,
        serde_json::Value::Bool(b) => Document::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Document::Number(Number::PosInt(u)),
            (None, Some(i)) => Document::Number(Number::NegInt(i)),
            _ => Document::Number(Number::Float(n.as_f64().unwrap_or_default())),
        },
        serde_json::Value::String(s) => Document::String(s.clone()),
        serde_json::Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        serde_json::Value::Object(o) => {
            Document::Object(o.iter().map(|(k, v)| (k.clone(), to_document(v))).collect())
        }
    }
}

/// An SDK document as a JSON value.
pub(crate) fn from_document(d: &aws_smithy_types::Document) -> serde_json::Value {
    use aws_smithy_types::{Document, Number};
    match d {
        Document::Null => serde_json::Value::Null,
        Document::Bool(b) => (*b).into(),
        Document::Number(Number::PosInt(u)) => (*u).into(),
        Document::Number(Number::NegInt(i)) => (*i).into(),
        Document::Number(Number::Float(f)) => (*f).into(),
        Document::String(s) => s.clone().into(),
        Document::Array(a) => a.iter().map(from_document).collect(),
        Document::Object(o) => o
            .iter()
            .map(|(k, v)| (k.clone(), from_document(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}
