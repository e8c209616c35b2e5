//! Byte-level encodings that must match Bedrock exactly: JSON error responses and
//! AWS event-stream frames.
//!
//! Everything the SDK uses to pick a typed error (`x-amzn-errortype`, status, `message`) or a
//! typed stream event (`:message-type`, `:event-type`, `:exception-type`) is produced here and
//! nowhere else.

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;

use crate::scenario::BedrockErrorKind;

/// Suffix Bedrock appends to the `x-amzn-errortype` header value.
pub(crate) const ERROR_TYPE_SUFFIX: &str = ":http://internal.amazon.com/coral/com.amazon.bedrock/";

/// Suffix of errors raised by AWS's authentication layer before Bedrock sees the request.
pub(crate) const AUTH_ERROR_TYPE_SUFFIX: &str =
    ":http://internal.amazon.com/coral/com.amazon.coral.service/";

/// An HTTP-level Bedrock error about to be sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WireError {
    pub(crate) kind: BedrockErrorKind,
    pub(crate) message: String,
}

impl WireError {
    pub(crate) fn new(kind: BedrockErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(BedrockErrorKind::ValidationException, message)
    }

    /// The JSON body: only `message`, as Bedrock sends it.
    pub(crate) fn body(&self) -> Bytes {
        let mut body = serde_json::Map::new();
        body.insert("message".into(), self.message.clone().into());
        if self.kind == BedrockErrorKind::ModelErrorException {
            body.insert("originalStatusCode".into(), 500.into());
        }
        Bytes::from(serde_json::Value::Object(body).to_string())
    }

    /// The `x-amzn-errortype` header value.
    pub(crate) fn error_type_header(&self) -> String {
        let suffix = if self.kind.is_credential_error() {
            AUTH_ERROR_TYPE_SUFFIX
        } else {
            ERROR_TYPE_SUFFIX
        };
        format!("{}{suffix}", self.kind.name())
    }
}

fn string_header(name: &'static str, value: &'static str) -> Header {
    Header::new(name, HeaderValue::String(value.into()))
}

/// Appends one `event` frame to `buf`.
pub(crate) fn push_event(buf: &mut Vec<u8>, event_type: &'static str, payload: &serde_json::Value) {
    let msg = Message::new(Bytes::from(payload.to_string()))
        .add_header(string_header(":event-type", event_type))
        .add_header(string_header(":content-type", "application/json"))
        .add_header(string_header(":message-type", "event"));
    write(buf, &msg);
}

/// Appends one `exception` frame to `buf`.
pub(crate) fn push_exception(
    buf: &mut Vec<u8>,
    exception_type: &'static str,
    payload: &serde_json::Value,
) {
    let msg = Message::new(Bytes::from(payload.to_string()))
        .add_header(string_header(":exception-type", exception_type))
        .add_header(string_header(":content-type", "application/json"))
        .add_header(string_header(":message-type", "exception"));
    write(buf, &msg);
}

fn write(buf: &mut Vec<u8>, msg: &Message) {
    // Encoding only fails for oversized headers or payloads, which our own events never are.
    if let Err(e) = aws_smithy_eventstream::frame::write_message_to(msg, buf) {
        tracing::error!(error = %e, "failed to encode event-stream frame");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        push_event(
            &mut buf,
            "messageStart",
            &serde_json::json!({"role":"assistant"}),
        );
        let mut b = Bytes::from(buf);
        let msg = aws_smithy_eventstream::frame::read_message_from(&mut b).unwrap();
        assert_eq!(msg.payload().as_ref(), br#"{"role":"assistant"}"#);
        let names: Vec<_> = msg.headers().iter().map(|h| h.name().as_str()).collect();
        assert_eq!(names, [":event-type", ":content-type", ":message-type"]);
    }

    #[test]
    fn error_header_carries_suffix() {
        let e = WireError::new(BedrockErrorKind::ThrottlingException, "slow down");
        assert_eq!(
            e.error_type_header(),
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
        );
        assert_eq!(e.body().as_ref(), br#"{"message":"slow down"}"#);
        let e = WireError::new(BedrockErrorKind::ExpiredTokenException, "expired");
        assert_eq!(
            e.error_type_header(),
            "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/"
        );
    }
}
