//! A scriptable fake service that records concurrency and placements.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedrock_parallel::{
    BatchRequest, ConverseService, ErrorStats, Placement, ResponseStats, Usage,
};
use futures::future::{BoxFuture, FutureExt};

/// What the fake does with one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Action {
    /// Succeeds after the delay.
    Ok(Duration),
    /// Fails after the delay.
    Fail(Duration),
    /// Panics inside the future after the delay.
    PanicLater(Duration),
    /// Panics inside `call` itself.
    PanicInCall,
    /// Never finishes.
    Hang,
}

pub(crate) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) label: String,
    pub(crate) region: Option<String>,
    pub(crate) usage: Usage,
}

impl ResponseStats for Reply {
    fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    fn usage(&self) -> Option<Usage> {
        Some(self.usage)
    }
    fn attempts(&self) -> Option<u32> {
        Some(1)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("fake failure in {region:?}")]
pub(crate) struct FakeError {
    pub(crate) region: Option<String>,
}

impl ErrorStats for FakeError {
    fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    fn attempts(&self) -> Option<u32> {
        Some(3)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) started: AtomicUsize,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    pub(crate) region_in_flight: Mutex<HashMap<String, usize>>,
    pub(crate) region_max: Mutex<HashMap<String, usize>>,
    pub(crate) placements: Mutex<Vec<(String, Placement)>>,
}

/// Decrements the in-flight counters however the call ends (success, timeout drop, panic).
struct InFlightGuard {
    counters: Arc<Counters>,
    region: Option<String>,
}

impl InFlightGuard {
    fn enter(counters: Arc<Counters>, region: Option<String>) -> Self {
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(r) = &region {
            let mut map = counters.region_in_flight.lock().unwrap();
            let n = map.entry(r.clone()).or_default();
            *n += 1;
            let n = *n;
            let mut max = counters.region_max.lock().unwrap();
            let m = max.entry(r.clone()).or_default();
            *m = (*m).max(n);
        }
        Self { counters, region }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(r) = &self.region
            && let Ok(mut map) = self.counters.region_in_flight.lock()
            && let Some(n) = map.get_mut(r)
        {
            *n -= 1;
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Fake {
    pub(crate) counters: Arc<Counters>,
}

impl Fake {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn started(&self) -> usize {
        self.counters.started.load(Ordering::SeqCst)
    }

    pub(crate) fn max_in_flight(&self) -> usize {
        self.counters.max_in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.counters.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn region_max(&self) -> HashMap<String, usize> {
        self.counters.region_max.lock().unwrap().clone()
    }

    /// Placements in call order, with the label of the request.
    pub(crate) fn placements(&self) -> Vec<(String, Placement)> {
        self.counters.placements.lock().unwrap().clone()
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the fake simulates latency; tests run under paused Tokio time"
)]
async fn delay(d: Duration) {
    tokio::time::sleep(d).await;
}

impl ConverseService for Fake {
    type Request = (String, Action);
    type Response = Reply;
    type Error = FakeError;

    fn call(
        &self,
        (label, action): (String, Action),
        placement: Placement,
    ) -> BoxFuture<'static, Result<Reply, FakeError>> {
        self.counters.started.fetch_add(1, Ordering::SeqCst);
        self.counters
            .placements
            .lock()
            .unwrap()
            .push((label.clone(), placement.clone()));
        let region = placement.primary().map(str::to_owned);
        if action == Action::PanicInCall {
            panic!("panic in call for {label}");
        }
        let counters = Arc::clone(&self.counters);
        async move {
            let _guard = InFlightGuard::enter(counters, region.clone());
            match action {
                Action::Ok(d) => {
                    delay(d).await;
                    Ok(Reply {
                        label,
                        region,
                        usage: Usage::new(10, 5, 20, 0),
                    })
                }
                Action::Fail(d) => {
                    delay(d).await;
                    Err(FakeError { region })
                }
                Action::PanicLater(d) => {
                    delay(d).await;
                    panic!("panic later for {label}");
                }
                Action::PanicInCall => unreachable!(),
                Action::Hang => futures::future::pending().await,
            }
        }
        .boxed()
    }
}

/// Requests labelled `r0`, `r1`, ... with the given actions.
pub(crate) fn batch(actions: &[Action]) -> Vec<BatchRequest<(String, Action)>> {
    actions
        .iter()
        .enumerate()
        .map(|(i, a)| BatchRequest::new(format!("r{i}"), (format!("r{i}"), *a)))
        .collect()
}
