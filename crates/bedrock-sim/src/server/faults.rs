//! Fault decisions: which scenario rule (fault, region down, quota) applies to a call, and what
//! the connection does about it (fail, reset, hang, slow down, or proceed with a stream fault).

use std::io;
use std::time::Duration;

use http::Response;
use serde_json::Value;

use crate::engine::{self};
use crate::scenario::{BedrockErrorKind, Fault, Operation};
use crate::wire::WireError;

use super::serve::request_id;
use super::{Body, Call, Shared};
/// What the fault/region-down rules decided for one call.
pub(super) enum Decision {
    Proceed {
        slow_ms: u64,
        stream_fault: Option<Fault>,
    },
    Fail(WireError),
    Reset,
    Hang,
}

impl Shared {
    pub(super) fn matches(
        rule_region: Option<&String>,
        rule_model: Option<&String>,
        call: &Call,
    ) -> bool {
        rule_region.is_none_or(|r| *r == call.region)
            && rule_model.is_none_or(|m| {
                call.model_id.as_deref() == Some(m.as_str())
                    || call.base_model_id.as_deref() == Some(m.as_str())
            })
    }

    /// Counts the call and evaluates region-down windows and fault rules.
    pub(super) fn decide(&self, call: &mut Call) -> Decision {
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
}

pub(super) async fn apply_decision(
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
