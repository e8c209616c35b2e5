//! A fake service error and classifier, standing in for the AWS SDK in the umbrella crate.

use std::fmt;
use std::sync::Arc;

use bedrock_retry::{
    Classification, Classify, Clock, ErrorClass, InstantSleep, JitterMode, ManualClock,
    RandomSource, RetryConfig, RetryPlanner, SeededRandom, Sleep,
};

/// An error as a service client would return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FakeError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl FakeError {
    pub(crate) fn new(status: u16, message: &str) -> Self {
        FakeError {
            status,
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.message)
    }
}

/// Classifies by status code, detecting unsupported features on 400.
#[derive(Debug)]
pub(crate) struct FakeClassifier;

impl Classify<FakeError> for FakeClassifier {
    fn classify(&self, e: &FakeError) -> Classification {
        match e.status {
            429 => ErrorClass::Throttled.into(),
            403 | 404 => ErrorClass::TargetUnavailable.into(),
            400 if e.message.contains("document") => {
                Classification::new(ErrorClass::BadRequest).with_unsupported_feature("documents")
            }
            400 => ErrorClass::BadRequest.into(),
            451 => ErrorClass::ContentBlocked.into(),
            _ => ErrorClass::Transient.into(),
        }
    }
}

/// Every boundary trait must stay usable as a trait object.
#[allow(dead_code, reason = "compile-only object safety check")]
fn assert_object_safe(
    _: &dyn Clock,
    _: &dyn Sleep,
    _: &dyn RandomSource,
    _: &dyn Classify<FakeError>,
) {
}

/// A planner on a manual clock with jitter off, and a sleeper that advances that clock.
#[allow(
    clippy::unwrap_used,
    reason = "test helper: a bad test config should fail the test"
)]
pub(crate) fn setup(config: RetryConfig) -> (RetryPlanner, ManualClock, InstantSleep) {
    let clock = ManualClock::new();
    let sleep = InstantSleep::with_clock(clock.clone());
    let planner = RetryPlanner::new(
        config.with_jitter(JitterMode::None).build().unwrap(),
        Arc::new(clock.clone()),
    )
    .with_random(Arc::new(SeededRandom::new(1)));
    (planner, clock, sleep)
}
