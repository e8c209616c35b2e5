//! [`LlmManager`] as a [`bedrock_parallel::ConverseService`], so the parallel engine can drive it.
//!
//! The engine assigns regions to each request to spread load; this adapter passes that
//! assignment to the manager as preferred regions ([`CallOptions::prefer_regions`]), and the
//! manager does the retries and failover inside each request.

use bedrock_messages::ConverseRequest;
use bedrock_parallel::{ConverseService, ErrorStats, Placement, ResponseStats, Usage};
use futures::future::{BoxFuture, FutureExt};
use llmmanager::{CallOptions, LlmManager, Response};

/// The manager behind the parallel engine.
#[derive(Debug, Clone)]
pub(crate) struct ManagerService {
    manager: LlmManager,
}

impl ManagerService {
    /// Wraps a manager.
    pub(crate) fn new(manager: LlmManager) -> Self {
        Self { manager }
    }
}

/// A successful call.
#[derive(Debug)]
pub(crate) struct Answer(pub(crate) Response);

/// A failed call.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct CallFailed(pub(crate) llmmanager::Error);

impl ConverseService for ManagerService {
    type Request = ConverseRequest;
    type Response = Answer;
    type Error = CallFailed;

    fn call(
        &self,
        request: ConverseRequest,
        placement: Placement,
    ) -> BoxFuture<'static, Result<Answer, CallFailed>> {
        let manager = self.manager.clone();
        let options =
            CallOptions::prefer_regions(placement.preferred_regions, placement.allow_other_regions);
        async move {
            manager
                .converse_with(&request, &options)
                .await
                .map(Answer)
                .map_err(CallFailed)
        }
        .boxed()
    }
}

impl ResponseStats for Answer {
    fn region(&self) -> Option<&str> {
        Some(&self.0.region)
    }

    fn usage(&self) -> Option<Usage> {
        let u = self.0.usage();
        Some(Usage::new(
            u64::from(u.input_tokens),
            u64::from(u.output_tokens),
            u64::from(u.cache_read_input_tokens.unwrap_or(0)),
            u64::from(u.cache_write_input_tokens.unwrap_or(0)),
        ))
    }

    fn attempts(&self) -> Option<u32> {
        u32::try_from(self.0.attempts.len()).ok()
    }
}

impl ErrorStats for CallFailed {
    fn region(&self) -> Option<&str> {
        self.0.attempts().last().map(|a| a.target.region.as_str())
    }

    fn attempts(&self) -> Option<u32> {
        u32::try_from(self.0.attempts().len()).ok()
    }
}
