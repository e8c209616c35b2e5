//! The one trait this crate needs from the outside world.
//!
//! The engine knows nothing about Bedrock, the AWS SDK or retries: it hands a request and a
//! [`Placement`] (the regions chosen for it) to a [`ConverseService`] and waits for the answer.
//! Keeping the boundary this small lets the umbrella crate plug in the real client, and lets tests
//! plug in fakes that fail, hang or panic on purpose.

use futures::future::BoxFuture;

/// Where the engine asks a request to run.
///
/// The engine assigns regions to each request so that load spreads evenly, and passes the
/// assignment here.
/// An implementation must try `preferred_regions` first, in order, and may try other regions
/// afterwards only when `allow_other_regions` is true.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Placement {
    /// Regions to try first, best first. Empty when the batch has no region list.
    pub preferred_regions: Vec<String>,
    /// Whether regions outside `preferred_regions` may be tried once those are exhausted.
    pub allow_other_regions: bool,
    /// The time the engine allows this request ([`ParallelConfig::request_timeout`](crate::ParallelConfig::request_timeout)).
    /// An implementation should end the request by then with its own error, which keeps what it
    /// knows (its attempts); the engine's own timer is only a backstop that fires a little later.
    pub deadline: Option<std::time::Duration>,
}

impl Placement {
    /// A placement with the given preferred regions.
    pub fn new(preferred_regions: Vec<String>, allow_other_regions: bool) -> Self {
        Self {
            preferred_regions,
            allow_other_regions,
            deadline: None,
        }
    }

    /// Sets the time the engine allows the request.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<std::time::Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The first preferred region, if any.
    pub fn primary(&self) -> Option<&str> {
        self.preferred_regions.first().map(String::as_str)
    }
}

/// A service that answers one Converse-like request.
///
/// # Contract
///
/// - `call` starts one request and returns a `'static` future, so the engine can run it on its
///   own task; the future is polled to completion, dropped on timeout, or never polled when the
///   batch stops first.
/// - The implementation tries the regions in [`Placement::preferred_regions`] first, in order.
/// - Retries, fallbacks and region health tracking belong to the implementation; the engine
///   calls each request exactly once.
/// - A panic inside `call` or its future is caught by the engine and reported as
///   [`RequestError::Panicked`](crate::RequestError::Panicked); it never loses the request.
///
/// # Example
///
/// ```
/// use bedrock_parallel::{ConverseService, Placement};
/// use futures::future::{BoxFuture, FutureExt};
///
/// #[derive(Debug)]
/// struct Echo;
///
/// impl ConverseService for Echo {
///     type Request = String;
///     type Response = String;
///     type Error = std::io::Error;
///
///     fn call(&self, request: String, placement: Placement) -> BoxFuture<'static, Result<String, std::io::Error>> {
///         let region = placement.primary().unwrap_or("default").to_owned();
///         async move { Ok(format!("{region}: {request}")) }.boxed()
///     }
/// }
///
/// let answer = Echo.call("hi".to_owned(), Placement::new(vec!["eu-west-1".to_owned()], false));
/// assert_eq!(futures::executor::block_on(answer).unwrap(), "eu-west-1: hi");
/// ```
pub trait ConverseService: Send + Sync + std::fmt::Debug + 'static {
    /// The request type (a Converse request, a prompt, ...).
    type Request: Send + 'static;
    /// The successful answer.
    type Response: Send + 'static;
    /// The service's own error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Runs one request in the given placement.
    fn call(
        &self,
        request: Self::Request,
        placement: Placement,
    ) -> BoxFuture<'static, Result<Self::Response, Self::Error>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-only check that the trait stays object safe.
    #[allow(dead_code, reason = "compile-time check only")]
    fn assert_object_safe(
        _: &dyn ConverseService<Request = String, Response = String, Error = std::io::Error>,
    ) {
    }

    #[test]
    fn primary_is_first_preferred_region() {
        let p = Placement::new(vec!["us-east-1".into(), "us-west-2".into()], false);
        assert_eq!(p.primary(), Some("us-east-1"));
        assert_eq!(Placement::default().primary(), None);
    }
}
