//! The HTTP server: listeners, routing, fault injection, pacing and introspection.
//!
//! One [`Simulator`] serves every region: the region comes from the SigV4 credential scope,
//! or from a region-pinned listener (for bearer-token clients, which carry no region).
//! Shared state sits behind one `std::sync::Mutex` held only for short bookkeeping steps, so
//! the server keeps up with load generators on a small machine.
//!
//! The submodules follow one request: [`serve`] (connections and routing), [`faults`] (what the
//! scenario's rules decide), [`runtime`] (`Converse` and `ConverseStream`), [`event_stream`]
//! (frames and pacing), [`control`] (model and profile listings) and [`jobs`] (batch inference).
#![allow(
    clippy::disallowed_methods,
    reason = "the simulator is a server: it paces responses and measures windows in real time"
)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
#[cfg(feature = "sdk")]
use std::time::Duration;
use std::time::Instant;

use bytes::Bytes;
use http::Response;
use http_body_util::combinators::BoxBody;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::catalog::Catalog;
use crate::engine::Usage;
use crate::scenario::{Operation, Scenario};
use crate::wire::WireError;

mod control;
mod event_stream;
mod faults;
mod jobs;
mod runtime;
mod serve;

use serve::{accept_loop, error_response};

type Body = BoxBody<Bytes, io::Error>;

const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_RING: usize = 1000;

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

struct Call {
    seq: u64,
    request_id: String,
    region: String,
    op: Operation,
    model_id: Option<String>,
    base_model_id: Option<String>,
}

impl Shared {
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
