//! Admission: a hook asked before each request starts whether it may.
//!
//! The engine knows nothing of what a request costs. An [`Admission`] does: it reserves an
//! amount for each request it lets start (in its own unit: dollars, tokens, ...), and is told
//! how each admitted request ended, so it can release the reservation and count what was
//! actually used. A refused request does not start; while other requests are in flight the
//! engine holds it and asks again as each of them ends (their actual use may leave room), and
//! once none is in flight it ends as [`RequestError::NotAdmitted`](crate::RequestError).

use crate::{ConverseService, RequestError, RequestId};

/// What an admitted request holds until it ends, in the hook's own unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reservation {
    amount: f64,
}

impl Reservation {
    /// A reservation of `amount`.
    pub fn new(amount: f64) -> Self {
        Self { amount }
    }

    /// The amount reserved.
    pub fn amount(&self) -> f64 {
        self.amount
    }
}

/// Why a request may not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    reason: String,
}

impl Refusal {
    /// A refusal for `reason`, which becomes the request's
    /// [`RequestError::NotAdmitted`](crate::RequestError) reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Decides, before each request of a batch starts, whether it may
/// ([`ParallelExecutor::with_admission`](crate::ParallelExecutor::with_admission)).
///
/// Both methods run on the task that drives the batch, so they should be quick.
///
/// ```
/// use std::sync::Mutex;
/// use bedrock_parallel::{Admission, ConverseService, Refusal, RequestError, RequestId, Reservation};
///
/// /// Lets at most `max` requests start, ever.
/// struct AtMost { max: u32, started: Mutex<u32> }
///
/// impl<S: ConverseService> Admission<S> for AtMost {
///     fn admit(&self, _id: &RequestId, _request: &S::Request) -> Result<Reservation, Refusal> {
///         let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
///         if *started >= self.max {
///             return Err(Refusal::new("enough"));
///         }
///         *started += 1;
///         Ok(Reservation::new(1.0))
///     }
///     fn settle(&self, _: Reservation, _: &Result<S::Response, RequestError<S::Error>>) {}
/// }
/// # let _ = AtMost { max: 1, started: Mutex::new(0) };
/// ```
pub trait Admission<S: ConverseService>: Send + Sync {
    /// Lets the request start, reserving an amount, or refuses it. A refusal must leave the
    /// hook's state as it was: the engine may ask again for the same request.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the request may not start now.
    fn admit(&self, id: &RequestId, request: &S::Request) -> Result<Reservation, Refusal>;

    /// Called once for every admitted request when it ends, however it ends, with what
    /// [`Admission::admit`] reserved for it. Requests still in flight when the batch's stream
    /// is dropped are not settled.
    fn settle(
        &self,
        reservation: Reservation,
        result: &Result<S::Response, RequestError<S::Error>>,
    );
}
