//! Event-stream responses: encoding `ConverseStream` events as frames, paced and cut as the
//! scenario asks.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::mpsc;

use crate::engine::{self};
use crate::scenario::{StreamAction, StreamExceptionKind};
use crate::wire::{self};

use super::Body;

pub(super) struct Pace {
    pub(super) ttft: Duration,
    pub(super) per_delta: Duration,
}

fn encode(events: &[engine::StreamEvent]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(events.len() * 128);
    for (t, p) in events {
        wire::push_event(&mut buf, t, p);
    }
    buf
}

pub(super) fn stream_response(
    events: Vec<engine::StreamEvent>,
    fault: Option<(usize, StreamAction)>,
    pace: Pace,
    request_id: &str,
) -> Response<Body> {
    let unpaced = pace.ttft.is_zero() && pace.per_delta.is_zero();
    let body: Body = if unpaced && fault.is_none() {
        Full::new(Bytes::from(encode(&events)))
            .map_err(|e: Infallible| match e {})
            .boxed()
    } else {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, io::Error>>(32);
        tokio::spawn(produce(events, fault, pace, tx));
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        BodyExt::boxed(StreamBody::new(stream))
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

async fn produce(
    events: Vec<engine::StreamEvent>,
    fault: Option<(usize, StreamAction)>,
    pace: Pace,
    tx: mpsc::Sender<Result<Frame<Bytes>, io::Error>>,
) {
    let (limit, action) = match fault {
        Some((n, a)) => (n, Some(a)),
        None => (usize::MAX, None),
    };
    let send_now = events.len().min(limit);
    let unpaced = pace.ttft.is_zero() && pace.per_delta.is_zero();
    if unpaced {
        let Some(head) = events.get(..send_now) else {
            return;
        };
        if tx
            .send(Ok(Frame::data(Bytes::from(encode(head)))))
            .await
            .is_err()
        {
            return;
        }
    } else {
        for (i, ev) in events.iter().take(send_now).enumerate() {
            let wait = if i == 0 {
                pace.ttft
            } else if ev.0 == "contentBlockDelta" {
                pace.per_delta
            } else {
                Duration::ZERO
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if tx
                .send(Ok(Frame::data(Bytes::from(encode(std::slice::from_ref(
                    ev,
                ))))))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    match action {
        Some(StreamAction::Cut { abrupt: true }) => {
            // Let the connection flush the events already sent before it is aborted.
            while tx.capacity() < tx.max_capacity() && !tx.is_closed() {
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            let _ = tx
                .send(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "simulated stream cut",
                )))
                .await;
        }
        Some(StreamAction::Stall) => tx.closed().await,
        Some(StreamAction::Exception {
            exception,
            message,
            original_status_code,
        }) => {
            let mut payload = json!({"message": message.unwrap_or_else(|| exception.default_message().to_owned())});
            if exception == StreamExceptionKind::ModelStreamErrorException
                && let Some(code) = original_status_code
            {
                payload["originalStatusCode"] = code.into();
                payload["originalMessage"] = "The model stream failed.".into();
            }
            let mut buf = Vec::new();
            wire::push_exception(&mut buf, exception.header_value(), &payload);
            let _ = tx.send(Ok(Frame::data(Bytes::from(buf)))).await;
        }
        Some(StreamAction::Cut { abrupt: false }) | None => {}
    }
}
