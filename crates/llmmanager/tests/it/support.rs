//! Shared helpers: a simulator per test and a manager pointed at it.

use std::time::Duration;

use bedrock_retry::{HealthConfig, RetryConfig};
use bedrock_sim::{Scenario, SimHandle, Simulator};
use llmmanager::{Auth, ConverseRequest, LlmManagerBuilder};

pub(crate) const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub(crate) const NOVA_LITE: &str = "amazon.nova-lite-v1:0";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

pub(crate) async fn sim(scenario: Scenario) -> SimHandle {
    Simulator::start(scenario).await.expect("simulator starts")
}

/// `config` with backoff of milliseconds instead of seconds: tests run on the real timeline (the
/// attempt and stream timers included), so they shorten the waits rather than skip them.
pub(crate) fn quick(config: RetryConfig) -> RetryConfig {
    config
        .with_retry_delay(Duration::from_millis(1))
        .with_max_retry_delay(Duration::from_millis(8))
}

/// A manager for `sim` with static fake keys and backoff of milliseconds.
pub(crate) fn manager(sim: &SimHandle) -> LlmManagerBuilder {
    llmmanager::LlmManager::builder()
        .auth(Auth::static_keys("AKIDSIMULATOR", SECRET))
        .endpoint_url(sim.endpoint_url())
        .retry(quick(RetryConfig::standard().with_max_attempts(6)))
        .health(HealthConfig::standard())
}

pub(crate) fn hello() -> ConverseRequest {
    ConverseRequest::builder()
        .user_text("Say hello.")
        .max_tokens(64)
        .build()
        .expect("valid request")
}

/// [`manager`] for Claude 3 Haiku in us-east-1 then us-west-2, the pair most tests fail over between.
pub(crate) fn east_west(sim: &SimHandle) -> LlmManagerBuilder {
    manager(sim)
        .model(HAIKU)
        .regions(["us-east-1", "us-west-2"])
}
