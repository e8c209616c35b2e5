//! Serving HTTP: the accept loop and connections (HTTP/1.1 and cleartext HTTP/2 on one port),
//! routing by method and raw path, the region of a request, and plain responses.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::engine::{self};
use crate::scenario::{BedrockErrorKind, Operation};
use crate::wire::{self, WireError};

use super::control::control;
use super::runtime::runtime;
use super::{Body, RecordedRequest, Shared, jobs};
pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    pinned: Option<Arc<str>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                while conns.try_join_next().is_some() {}
                let shared = Arc::clone(&shared);
                let pinned = pinned.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(Arc::clone(&shared), pinned.clone(), req)
                    });
                    // HTTP/1.1 and cleartext HTTP/2 with prior knowledge on the same port: the
                    // builder reads the connection preface to choose.
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
    conns.shutdown().await;
}

fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
    request_id: &str,
) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(body.into())
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

pub(super) fn json_response(value: &Value, request_id: &str) -> Response<Body> {
    full(
        StatusCode::OK,
        "application/json",
        value.to_string(),
        request_id,
    )
}

pub(super) fn error_response(e: &WireError, request_id: &str) -> Response<Body> {
    let status = StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = full(status, "application/json", e.body(), request_id);
    if let Ok(v) = http::HeaderValue::from_str(&e.error_type_header()) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}

/// A UUID-shaped request id, unique per (seed, request number): the seed goes through a full
/// 64-bit mix before the request number is added, so different seeds give unrelated sequences.
pub(super) fn request_id(seed: u64, seq: u64) -> String {
    let a = engine::splitmix64(engine::splitmix64(seed).wrapping_add(seq));
    let b = engine::splitmix64(a ^ 0x7265_7175_6573_7469);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// Region from `Credential=AKID/<date>/<region>/bedrock/aws4_request`.
fn sigv4_region(auth: &str) -> Option<&str> {
    let scope = auth.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    scope.split('/').nth(2).filter(|r| !r.is_empty())
}

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

enum Route<'a> {
    Runtime(Operation, &'a str),
    Control(Operation, Option<&'a str>),
    Job(Operation, Option<String>),
    Stats,
    Requests,
    Reset,
    NotFound,
}

fn route<'a>(method: &Method, path: &'a str) -> Route<'a> {
    let get = method == Method::GET;
    let post = method == Method::POST;
    match path {
        "/_sim/stats" if get => return Route::Stats,
        "/_sim/requests" if get => return Route::Requests,
        "/_sim/reset" if post => return Route::Reset,
        "/foundation-models" if get => {
            return Route::Control(Operation::ListFoundationModels, None);
        }
        "/inference-profiles" if get => {
            return Route::Control(Operation::ListInferenceProfiles, None);
        }
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/model/")
        && let Some((seg, op)) = rest.split_once('/')
        && post
        && !seg.is_empty()
        && !seg.contains('/')
    {
        match op {
            "converse" => return Route::Runtime(Operation::Converse, seg),
            "converse-stream" => return Route::Runtime(Operation::ConverseStream, seg),
            _ => {}
        }
    }
    if get {
        if let Some(id) = path
            .strip_prefix("/foundation-models/")
            .filter(|s| !s.contains('/'))
        {
            return Route::Control(Operation::GetFoundationModel, Some(id));
        }
        if let Some(id) = path
            .strip_prefix("/inference-profiles/")
            .filter(|s| !s.contains('/'))
        {
            return Route::Control(Operation::GetInferenceProfile, Some(id));
        }
    }
    if let Some((op, id)) = jobs::route(method, path) {
        return Route::Job(op, id);
    }
    Route::NotFound
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    pinned: Option<Arc<str>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, io::Error> {
    let path = req.uri().path().to_owned();
    match route(req.method(), &path) {
        Route::Stats => {
            let v = serde_json::to_value(shared.lock().stats.clone()).unwrap_or(Value::Null);
            Ok(json_response(&v, "sim-introspection"))
        }
        Route::Requests => {
            let reqs: Vec<RecordedRequest> = shared.lock().ring.iter().cloned().collect();
            let v = serde_json::to_value(reqs).unwrap_or(Value::Null);
            Ok(json_response(&v, "sim-introspection"))
        }
        Route::Reset => {
            shared.lock().reset(shared.rule_slots, shared.reply_slots);
            Ok(json_response(&json!({}), "sim-introspection"))
        }
        Route::NotFound => {
            let e = WireError::new(
                BedrockErrorKind::ResourceNotFoundException,
                "Unknown operation.",
            );
            let mut resp = error_response(&e, "sim-unknown");
            if let Ok(v) = http::HeaderValue::from_str(&format!(
                "UnknownOperationException{}",
                wire::ERROR_TYPE_SUFFIX
            )) {
                resp.headers_mut().insert("x-amzn-errortype", v);
            }
            Ok(resp)
        }
        Route::Runtime(op, seg) => {
            let region = region_of(&shared, pinned.as_deref(), &req);
            let model_id = percent_decode_str(seg).decode_utf8_lossy().into_owned();
            let body = req
                .into_body()
                .collect()
                .await
                .map_err(io::Error::other)?
                .to_bytes();
            runtime(&shared, op, region, model_id, &body).await
        }
        Route::Control(op, id) => {
            let region = region_of(&shared, pinned.as_deref(), &req);
            let id = id.map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned());
            let query = parse_query(req.uri().query());
            control(&shared, op, region, id, query).await
        }
        Route::Job(op, id) => {
            let region = region_of(&shared, pinned.as_deref(), &req);
            let query = parse_query(req.uri().query());
            let body = req
                .into_body()
                .collect()
                .await
                .map_err(io::Error::other)?
                .to_bytes();
            jobs::handle(&shared, op, region, id, query, &body).await
        }
    }
}

fn region_of(shared: &Shared, pinned: Option<&str>, req: &Request<Incoming>) -> String {
    if let Some(p) = pinned {
        return p.to_owned();
    }
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(sigv4_region)
        .unwrap_or(&shared.default_region)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_from_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/bedrock/aws4_request, SignedHeaders=host, Signature=x";
        assert_eq!(sigv4_region(auth), Some("eu-west-1"));
        assert_eq!(sigv4_region("Bearer abc"), None);
    }

    #[test]
    fn routes_on_the_raw_path() {
        let p = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x-v1%3A0/converse";
        assert!(
            matches!(route(&Method::POST, p), Route::Runtime(Operation::Converse, s) if s.starts_with("arn%3A"))
        );
        assert!(matches!(
            route(&Method::POST, "/model/a/b/converse"),
            Route::NotFound
        ));
        assert!(matches!(
            route(&Method::GET, "/model/a/converse"),
            Route::NotFound
        ));
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id(0, 1);
        assert_eq!(id.len(), 36);
        assert_eq!(id, request_id(0, 1));
        assert_ne!(id, request_id(0, 2));
    }

    #[test]
    fn request_ids_are_unique_across_seeds() {
        assert_ne!(request_id(0, 2), request_id(3, 1));
        let mut seen = std::collections::HashSet::new();
        for seed in 0..64 {
            for seq in 1..=256 {
                assert!(seen.insert(request_id(seed, seq)), "seed {seed} seq {seq}");
            }
        }
    }
}
