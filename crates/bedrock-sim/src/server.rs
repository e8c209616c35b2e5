//! The HTTP server: listeners, routing, fault injection, pacing and introspection.
//!
//! One [`Simulator`] serves every region: the region comes from the SigV4 credential scope,
//! or from a region-pinned listener (for bearer-token clients, which carry no region).
//! Shared state sits behind one `std::sync::Mutex` held only for short bookkeeping steps, so
//! the server keeps up with load generators on a small machine.
#![allow(
    clippy::disallowed_methods,
    reason = "the simulator is a server: it paces responses and measures windows in real time"
)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use percent_encoding::percent_decode_str;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::Error;
use crate::catalog::{self, Catalog, Resolution};
use crate::engine::{self, GenerateInput, Usage};
use crate::scenario::{
    BedrockErrorKind, Fault, Operation, Scenario, StreamAction, StreamExceptionKind, TokenRange,
};
use crate::wire::{self, WireError};

#[path = "jobs.rs"]
mod jobs;

type Body = BoxBody<Bytes, io::Error>;

const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_RING: usize = 1000;
const FIVE_MINUTES: Duration = Duration::from_secs(300);
const ONE_HOUR: Duration = Duration::from_secs(3600);
const PROFILE_DATE: &str = "2024-08-01T00:00:00Z";

/// Counters of everything the simulator has answered since start or the last reset.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SimStats {
    /// Requests of any operation (introspection endpoints excluded).
    pub requests: u64,
    /// Requests per region.
    pub by_region: BTreeMap<String, u64>,
    /// Runtime requests per model id as sent (decoded).
    pub by_model: BTreeMap<String, u64>,
    /// Runtime requests per region, then per model id as sent.
    pub by_region_model: BTreeMap<String, BTreeMap<String, u64>>,
    /// Requests per operation (`converse`, `converse_stream`, `list_foundation_models`, ...).
    pub by_operation: BTreeMap<String, u64>,
    /// Requests per outcome: `ok`, an error shape name, or a fault name
    /// (`connection_reset`, `hang`, `stream_cut`, `stream_cut_abrupt`, `stall`, an exception-type).
    pub by_outcome: BTreeMap<String, u64>,
    /// Uncached input tokens billed.
    pub input_tokens: u64,
    /// Output tokens produced.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write_input_tokens: u64,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordedRequest {
    /// 1-based sequence number since start or reset.
    pub seq: u64,
    /// Region the request was attributed to.
    pub region: String,
    /// Operation.
    pub operation: Operation,
    /// Model id from the path, percent-decoded once (runtime and Get* operations).
    pub model_id: Option<String>,
    /// Base foundation-model id it resolved to, if it resolved.
    pub base_model_id: Option<String>,
    /// Request body JSON (runtime operations) or query parameters as a JSON object (control plane).
    pub body: Value,
    /// Outcome, as in [`SimStats::by_outcome`].
    pub outcome: String,
}

/// Entry point to start a simulator.
#[derive(Debug, Clone, Copy)]
pub struct Simulator;

impl Simulator {
    /// Starts a simulator on `127.0.0.1` with an ephemeral port.
    pub async fn start(scenario: Scenario) -> Result<SimHandle, Error> {
        Self::start_on(scenario, 0).await
    }

    /// Starts a simulator on `127.0.0.1:port` (`0` = ephemeral).
    pub async fn start_on(scenario: Scenario, port: u16) -> Result<SimHandle, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| Error::Io {
            context: "the simulator runs on a tokio runtime".to_owned(),
            source: io::Error::other(e),
        })?;
        let catalog = Catalog::build(&scenario.model_overrides)
            .map_err(|source| Error::Catalog { source })?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| Error::Io {
                context: format!("binding 127.0.0.1:{port}"),
                source,
            })?;
        let addr = local_addr(&listener)?;
        let default_region = scenario
            .default_region
            .clone()
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let shared = Arc::new(Shared {
            rule_slots: scenario.faults.len(),
            reply_slots: scenario.replies.len(),
            scenario,
            catalog,
            start: Instant::now(),
            default_region,
            state: Mutex::new(State::default()),
            jobs: jobs::Jobs::default(),
        });
        shared.lock().reset(shared.rule_slots, shared.reply_slots);
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), None, rx));
        Ok(SimHandle {
            runtime,
            shared,
            addr,
            shutdown,
            tasks: Mutex::new(vec![task]),
            pinned: Mutex::new(BTreeMap::new()),
        })
    }
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, Error> {
    listener.local_addr().map_err(|source| Error::Io {
        context: "reading the listener address".to_owned(),
        source,
    })
}

/// A running simulator. Dropping it signals the listeners to stop; [`SimHandle::shutdown`]
/// also waits until they have.
#[derive(Debug)]
pub struct SimHandle {
    runtime: tokio::runtime::Handle,
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    pinned: Mutex<BTreeMap<String, SocketAddr>>,
}

impl SimHandle {
    /// Base URL of the main listener, e.g. `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The main listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of a listener that attributes every request to `region`, whatever its
    /// `Authorization` header says. Bearer-token clients carry no region, so this is how a test
    /// sends them to a specific region. The listener is created on first use and reused.
    pub fn endpoint_url_for_region(&self, region: &str) -> Result<String, Error> {
        let mut pinned = self
            .pinned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(addr) = pinned.get(region) {
            return Ok(format!("http://{addr}"));
        }
        let _entered = self.runtime.enter();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| Error::Io {
                context: format!("binding a listener for region {region}"),
                source,
            })?;
        let listener = TcpListener::from_std(std_listener).map_err(|source| Error::Io {
            context: format!("registering the listener for region {region}"),
            source,
        })?;
        let addr = local_addr(&listener)?;
        let task = self.runtime.spawn(accept_loop(
            listener,
            Arc::clone(&self.shared),
            Some(Arc::from(region)),
            self.shutdown.subscribe(),
        ));
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task);
        pinned.insert(region.to_owned(), addr);
        Ok(format!("http://{addr}"))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        self.shared.lock().stats.clone()
    }

    /// The most recent requests, oldest first (bounded by `request_log_capacity`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().ring.iter().cloned().collect()
    }

    /// Clears counters, the request log, fault/reply call counters, call counts per region,
    /// the prompt cache and quota windows. Time-based windows still count from start.
    pub fn reset(&self) {
        self.shared
            .lock()
            .reset(self.shared.rule_slots, self.shared.reply_slots);
    }

    /// Stops all listeners and drops every open connection (including hung ones).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for t in tasks {
            let _ = t.await;
        }
    }

    /// An AWS `SdkConfig` pointing at this simulator: static fake credentials (SigV4 scope =
    /// `region`), SDK retries disabled, a 2 s connect and 30 s attempt timeout.
    #[cfg(feature = "sdk")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sdk")))]
    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(self.endpoint_url())
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDBEDROCKSIM",
                "bedrock-sim-secret",
                None,
                None,
                "bedrock-sim",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .load()
            .await
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[derive(Debug)]
struct Shared {
    scenario: Scenario,
    catalog: Catalog,
    start: Instant,
    default_region: String,
    rule_slots: usize,
    reply_slots: usize,
    state: Mutex<State>,
    jobs: jobs::Jobs,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn ring_capacity(&self) -> usize {
        self.scenario.request_log_capacity.unwrap_or(DEFAULT_RING)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    minute: u64,
    tokens: u64,
    requests: u64,
}

#[derive(Debug, Default)]
struct State {
    seq: u64,
    stats: SimStats,
    ring: VecDeque<RecordedRequest>,
    rule_calls: Vec<u64>,
    reply_calls: Vec<u64>,
    region_calls: HashMap<String, u64>,
    cache: HashMap<u64, Instant>,
    quota: HashMap<(usize, String, String), Window>,
}

impl State {
    fn reset(&mut self, rules: usize, replies: usize) {
        *self = State {
            rule_calls: vec![0; rules],
            reply_calls: vec![0; replies],
            ..State::default()
        };
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(v) => *v += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

async fn accept_loop(
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

fn json_response(value: &Value, request_id: &str) -> Response<Body> {
    full(
        StatusCode::OK,
        "application/json",
        value.to_string(),
        request_id,
    )
}

fn error_response(e: &WireError, request_id: &str) -> Response<Body> {
    let status = StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = full(status, "application/json", e.body(), request_id);
    if let Ok(v) = http::HeaderValue::from_str(&e.error_type_header()) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}

/// A UUID-shaped request id, unique per (seed, request number): the seed goes through a full
/// 64-bit mix before the request number is added, so different seeds give unrelated sequences.
fn request_id(seed: u64, seq: u64) -> String {
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

async fn handle(
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

/// What the fault/region-down rules decided for one call.
enum Decision {
    Proceed {
        slow_ms: u64,
        stream_fault: Option<Fault>,
    },
    Fail(WireError),
    Reset,
    Hang,
}

struct Call {
    seq: u64,
    request_id: String,
    region: String,
    op: Operation,
    model_id: Option<String>,
    base_model_id: Option<String>,
}

impl Shared {
    fn matches(rule_region: Option<&String>, rule_model: Option<&String>, call: &Call) -> bool {
        rule_region.is_none_or(|r| *r == call.region)
            && rule_model.is_none_or(|m| {
                call.model_id.as_deref() == Some(m.as_str())
                    || call.base_model_id.as_deref() == Some(m.as_str())
            })
    }

    /// Counts the call and evaluates region-down windows and fault rules.
    fn decide(&self, call: &mut Call) -> Decision {
        let elapsed_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut st = self.lock();
        st.seq += 1;
        call.seq = st.seq;
        call.request_id = request_id(self.scenario.seed, call.seq);
        if call.op.is_runtime() {
            let n = match st.region_calls.get_mut(&call.region) {
                Some(n) => n,
                None => st.region_calls.entry(call.region.clone()).or_insert(0),
            };
            *n += 1;
            let region_call = *n;
            for w in &self.scenario.region_down {
                let open = w.region == call.region
                    && w.from_ms.is_none_or(|f| elapsed_ms >= f)
                    && w.until_ms.is_none_or(|u| elapsed_ms < u)
                    && w.from_call.is_none_or(|f| region_call >= f)
                    && w.until_call.is_none_or(|u| region_call < u);
                if open {
                    let kind = w
                        .error
                        .unwrap_or(BedrockErrorKind::ServiceUnavailableException);
                    return Decision::Fail(WireError::new(kind, kind.default_message()));
                }
            }
        }
        // Every matching rule counts the call, so "the Nth call" means the Nth call matching
        // that rule's filters, whatever earlier rules did; the first rule that fires wins.
        let mut fired: Option<&Fault> = None;
        for (i, rule) in self.scenario.faults.iter().enumerate() {
            let op_ok = if rule.operations.is_empty() {
                if rule.fault.stream_only() {
                    call.op == Operation::ConverseStream
                } else {
                    call.op.is_runtime()
                }
            } else {
                rule.operations.contains(&call.op)
                    && (!rule.fault.stream_only() || call.op == Operation::ConverseStream)
            };
            if !op_ok || !Self::matches(rule.region.as_ref(), rule.model.as_ref(), call) {
                continue;
            }
            let Some(count) = st.rule_calls.get_mut(i) else {
                continue;
            };
            *count += 1;
            let n = *count;
            if fired.is_some() || (!rule.calls.is_empty() && !rule.calls.contains(&n)) {
                continue;
            }
            if let Some(p) = rule.probability {
                let h = engine::fnv1a(
                    self.scenario.seed ^ (i as u64).rotate_left(17),
                    &n.to_le_bytes(),
                );
                let u = (h >> 11) as f64 / (1u64 << 53) as f64;
                if u >= p {
                    continue;
                }
            }
            fired = Some(&rule.fault);
        }
        if let Some(fault) = fired {
            return match fault {
                Fault::Error { error, message } => Decision::Fail(WireError::new(
                    *error,
                    message
                        .clone()
                        .unwrap_or_else(|| error.default_message().to_owned()),
                )),
                Fault::ConnectionReset => Decision::Reset,
                Fault::Hang => Decision::Hang,
                Fault::SlowHeaders { delay_ms } => Decision::Proceed {
                    slow_ms: *delay_ms,
                    stream_fault: None,
                },
                f => Decision::Proceed {
                    slow_ms: 0,
                    stream_fault: Some(f.clone()),
                },
            };
        }
        Decision::Proceed {
            slow_ms: 0,
            stream_fault: None,
        }
    }

    fn record(&self, call: &Call, body: Value, outcome: &str, usage: Option<Usage>) {
        let cap = self.ring_capacity();
        let mut st = self.lock();
        let s = &mut st.stats;
        s.requests += 1;
        bump(&mut s.by_region, &call.region);
        bump(&mut s.by_operation, call.op.as_str());
        bump(&mut s.by_outcome, outcome);
        if let (true, Some(m)) = (call.op.is_runtime(), &call.model_id) {
            bump(&mut s.by_model, m);
            match s.by_region_model.get_mut(&call.region) {
                Some(inner) => bump(inner, m),
                None => {
                    let mut inner = BTreeMap::new();
                    inner.insert(m.clone(), 1);
                    s.by_region_model.insert(call.region.clone(), inner);
                }
            }
        }
        if let Some(u) = usage {
            s.input_tokens += u.input;
            s.output_tokens += u.output;
            s.cache_read_input_tokens += u.cache_read;
            s.cache_write_input_tokens += u.cache_write;
        }
        if cap > 0 {
            while st.ring.len() >= cap {
                st.ring.pop_front();
            }
            st.ring.push_back(RecordedRequest {
                seq: call.seq,
                region: call.region.clone(),
                operation: call.op,
                model_id: call.model_id.clone(),
                base_model_id: call.base_model_id.clone(),
                body,
                outcome: outcome.to_owned(),
            });
        }
    }

    fn fail(&self, call: &Call, body: Value, e: &WireError) -> Response<Body> {
        self.record(call, body, e.kind.name(), None);
        error_response(e, &call.request_id)
    }
}

async fn apply_decision(
    shared: &Shared,
    call: &Call,
    body: &Value,
    d: Decision,
) -> Result<Option<Fault>, Result<Response<Body>, io::Error>> {
    match d {
        Decision::Fail(e) => Err(Ok(shared.fail(call, body.clone(), &e))),
        Decision::Reset => {
            shared.record(call, body.clone(), "connection_reset", None);
            Err(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "simulated connection reset",
            )))
        }
        Decision::Hang => {
            shared.record(call, body.clone(), "hang", None);
            futures::future::pending::<()>().await;
            Err(Err(io::Error::other("unreachable")))
        }
        Decision::Proceed {
            slow_ms,
            stream_fault,
        } => {
            if slow_ms > 0 {
                tokio::time::sleep(Duration::from_millis(slow_ms)).await;
            }
            Ok(stream_fault)
        }
    }
}

async fn runtime(
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
    let minute = shared.start.elapsed().as_secs() / 60;
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
    let usage = Usage {
        input: analysis
            .input_tokens
            .saturating_sub(cache_read + cache_write),
        output: reply.output_tokens,
        cache_read,
        cache_write,
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

struct Pace {
    ttft: Duration,
    per_delta: Duration,
}

fn encode(events: &[engine::StreamEvent]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(events.len() * 128);
    for (t, p) in events {
        wire::push_event(&mut buf, t, p);
    }
    buf
}

fn stream_response(
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

async fn control(
    shared: &Shared,
    op: Operation,
    region: String,
    id: Option<String>,
    query: BTreeMap<String, String>,
) -> Result<Response<Body>, io::Error> {
    let cat = &shared.catalog;
    let mut call = Call {
        seq: 0,
        request_id: String::new(),
        region,
        op,
        model_id: id.clone(),
        base_model_id: None,
    };
    let qv = serde_json::to_value(&query).unwrap_or(Value::Null);
    let decision = shared.decide(&mut call);
    if let Err(r) = apply_decision(shared, &call, &qv, decision).await {
        return r;
    }
    let region = call.region.clone();
    let result = match op {
        Operation::ListFoundationModels => list_models(cat, &region, &query),
        Operation::GetFoundationModel => {
            let id = id.unwrap_or_default();
            // A foundation-model ARN names its region; it must be the caller's.
            let id = match id.strip_prefix("arn:aws:bedrock:") {
                Some(rest) => match rest.split_once("::foundation-model/") {
                    Some((arn_region, model)) if arn_region == region => model.to_owned(),
                    _ => String::new(),
                },
                None => id,
            };
            cat.model_index(&id)
                .and_then(|i| cat.models.get(i))
                .filter(|m| m.regions.contains_key(&region))
                .map(|m| json!({"modelDetails": model_summary(m, &region)}))
                .ok_or_else(|| WireError::validation("The provided model identifier is invalid."))
        }
        Operation::ListInferenceProfiles => list_profiles(cat, &region, &query),
        _ => {
            let id = id.unwrap_or_default();
            let pid = id
                .rsplit_once("inference-profile/")
                .map_or(id.as_str(), |(_, p)| p);
            cat.profiles
                .get(pid)
                .filter(|p| p.regions.contains(&region))
                .map(|p| profile_summary(cat, p, &region))
                .ok_or_else(|| {
                    WireError::new(
                        BedrockErrorKind::ResourceNotFoundException,
                        format!("Inference profile {pid} not found."),
                    )
                })
        }
    };
    match result {
        Ok(v) => {
            shared.record(&call, qv, "ok", None);
            Ok(json_response(&v, &call.request_id))
        }
        Err(e) => Ok(shared.fail(&call, qv, &e)),
    }
}

fn enum_error(value: &str, field: &str, allowed: &str) -> WireError {
    WireError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
    ))
}

fn model_summary(m: &catalog::ModelInfo, region: &str) -> Value {
    let direct = m.regions.get(region).copied().unwrap_or(false);
    json!({
        "modelArn": catalog::model_arn(region, &m.id),
        "modelId": m.id,
        "modelName": m.name,
        "providerName": m.provider,
        "inputModalities": m.input_modalities,
        "outputModalities": m.output_modalities,
        "responseStreamingSupported": m.streaming,
        "customizationsSupported": [],
        "inferenceTypesSupported": [if direct { "ON_DEMAND" } else { "INFERENCE_PROFILE" }],
        "modelLifecycle": {"status": "ACTIVE"},
    })
}

fn list_models(
    cat: &Catalog,
    region: &str,
    q: &BTreeMap<String, String>,
) -> Result<Value, WireError> {
    if let Some(m) = q.get("byOutputModality")
        && !["TEXT", "IMAGE", "EMBEDDING"].contains(&m.as_str())
    {
        return Err(enum_error(m, "byOutputModality", "TEXT, IMAGE, EMBEDDING"));
    }
    if let Some(t) = q.get("byInferenceType")
        && !["ON_DEMAND", "PROVISIONED"].contains(&t.as_str())
    {
        return Err(enum_error(t, "byInferenceType", "ON_DEMAND, PROVISIONED"));
    }
    if let Some(c) = q.get("byCustomizationType")
        && !["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"].contains(&c.as_str())
    {
        return Err(enum_error(
            c,
            "byCustomizationType",
            "FINE_TUNING, CONTINUED_PRE_TRAINING, DISTILLATION",
        ));
    }
    let summaries: Vec<Value> = cat
        .models
        .iter()
        .filter(|m| {
            let Some(direct) = m.regions.get(region) else {
                return false;
            };
            q.get("byProvider")
                .is_none_or(|p| p.eq_ignore_ascii_case(&m.provider))
                && q.get("byOutputModality")
                    .is_none_or(|o| m.output_modalities.contains(o))
                && q.get("byInferenceType")
                    .is_none_or(|t| t == "ON_DEMAND" && *direct)
                && !q.contains_key("byCustomizationType")
        })
        .map(|m| model_summary(m, region))
        .collect();
    Ok(json!({"modelSummaries": summaries}))
}

fn profile_summary(cat: &Catalog, p: &catalog::ProfileInfo, region: &str) -> Value {
    let model = cat.models.get(p.model);
    let model_id = model.map(|m| m.id.as_str()).unwrap_or_default();
    let model_name = model.map(|m| m.name.as_str()).unwrap_or_default();
    let geo = p.id.split('.').next().unwrap_or_default().to_uppercase();
    let mut name = format!("{geo} {model_name}");
    name.truncate(64);
    let members: Vec<Value> = p
        .regions
        .iter()
        .map(|r| json!({"modelArn": catalog::model_arn(r, model_id)}))
        .collect();
    json!({
        "inferenceProfileName": name,
        "description": format!("Routes requests to {model_name} across {} regions.", p.regions.len()),
        "createdAt": PROFILE_DATE,
        "updatedAt": PROFILE_DATE,
        "inferenceProfileArn": catalog::profile_arn(region, &p.id),
        "models": members,
        "inferenceProfileId": p.id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    })
}

fn list_profiles(
    cat: &Catalog,
    region: &str,
    q: &BTreeMap<String, String>,
) -> Result<Value, WireError> {
    let type_filter = q.get("type").map(String::as_str);
    if let Some(t) = type_filter
        && t != "SYSTEM_DEFINED"
        && t != "APPLICATION"
    {
        return Err(enum_error(t, "typeEquals", "SYSTEM_DEFINED, APPLICATION"));
    }
    let max = match q.get("maxResults") {
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(WireError::validation(format!(
                    "1 validation error detected: Value '{s}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                )));
            }
        },
        None => 1000,
    };
    let start = match q.get("nextToken") {
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| WireError::validation("The provided pagination token is invalid."))?,
        None => 0,
    };
    let all: Vec<&catalog::ProfileInfo> = if type_filter == Some("APPLICATION") {
        Vec::new()
    } else {
        cat.profiles
            .values()
            .filter(|p| p.regions.contains(region))
            .collect()
    };
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|p| profile_summary(cat, p, region))
        .collect();
    let mut out = json!({"inferenceProfileSummaries": page});
    if start + max < all.len() {
        out["nextToken"] = format!("page-{}", start + max).into();
    }
    Ok(out)
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
    fn request_ids_look_like_uuids() {
        let id = request_id(0, 1);
        assert_eq!(id.len(), 36);
        assert_eq!(id, request_id(0, 1));
        assert_ne!(id, request_id(0, 2));
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

    #[test]
    fn control_plane_shapes_snapshot() {
        let cat = Catalog::build(&BTreeMap::new()).unwrap();
        let m = &cat.models[cat
            .model_index("anthropic.claude-3-haiku-20240307-v1:0")
            .unwrap()];
        insta::assert_json_snapshot!("model_summary_direct", model_summary(m, "us-east-1"));
        let p = &cat.profiles["eu.anthropic.claude-3-haiku-20240307-v1:0"];
        insta::assert_json_snapshot!("profile_summary", profile_summary(&cat, p, "eu-west-1"));
        let e = WireError::new(BedrockErrorKind::ModelErrorException, "boom");
        insta::assert_snapshot!("model_error_body", String::from_utf8_lossy(&e.body()));
    }
}
