//! The generic core of the retry loop: classify a failure, pick the next target, charge a shared
//! budget, back off, and remember failing targets across calls.
//!
//! This crate knows no AWS types and needs no async runtime. A caller that does (the `llmmanager`
//! crate, over the AWS SDK) supplies a [`Classify`] implementation for its errors, sends each
//! [`Attempt`] to its [`Target`], and reports the outcome to a [`CallPlan`].
//!
//! # The four parts
//!
//! | Part | Type | Decides |
//! |---|---|---|
//! | classifier | [`Classify`] → [`Classification`] | what kind of failure this is ([`ErrorClass`]) |
//! | strategy | [`RetryPlanner`] / [`CallPlan`] | which target next, when to stop |
//! | budget | [`RetryBudget`] | whether retries are still affordable across all calls |
//! | backoff | [`Backoff`] | how long to wait |
//!
//! plus [`HealthTracker`], which demotes failing targets across calls, and injected time:
//! [`Clock`] and [`Sleep`] ([`SystemClock`], [`TokioSleep`]; `ManualClock`, `InstantSleep` in tests).
//!
//! # What the loop does with each error class
//!
//! | [`ErrorClass`] | Next attempt | Delay | Budget cost | Health |
//! |---|---|---|---|---|
//! | [`Throttled`](ErrorClass::Throttled) | next target, the same one last | none for an untried target, else backoff (server retry-after wins on the same target) | 5 | failure |
//! | [`Transient`](ErrorClass::Transient) | next target, the same one last | as above | 10 | failure |
//! | [`TargetUnavailable`](ErrorClass::TargetUnavailable) | next target; this one is skipped for the rest of the call | as above | 0 | failure |
//! | [`BadRequest`](ErrorClass::BadRequest) naming an unsupported feature, fallback on | same target without that feature (once per feature and model) | none | 0 | — |
//! | [`BadRequest`](ErrorClass::BadRequest) otherwise | stop | — | — | — |
//! | [`ContentBlocked`](ErrorClass::ContentBlocked) | stop | — | — | — |
//! | [`Credentials`](ErrorClass::Credentials) | stop | — | — | — |
//!
//! By default a call tries every target once, then up to `max_retries` (3) more attempts; an
//! explicit `max_attempts` caps it instead. A call also stops before an attempt that would start
//! at or past the total deadline, and when the budget is empty; [`CallPlan`] lists the order of
//! these checks. [`ErrorClass::Credentials`] stops the call at once.
//! A first attempt is always made and costs no budget.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use bedrock_retry::{
//!     ClassifyFn, Classification, ErrorClass, InstantSleep, JitterMode, ManualClock, RetryConfig,
//!     RetryPlanner,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::new();
//! let sleep = InstantSleep::with_clock(clock.clone());
//! let config = RetryConfig::standard().with_jitter(JitterMode::None).build()?;
//! let planner = RetryPlanner::new(config, Arc::new(clock));
//!
//! // Throttled everywhere except in eu-west-1.
//! let classifier = ClassifyFn(|e: &String| {
//!     if e.contains("throttl") { ErrorClass::Throttled.into() } else { Classification::new(ErrorClass::Transient) }
//! });
//! let plan = planner.plan_call(&["claude"], &["us-east-1", "us-west-2", "eu-west-1"])?;
//! let done = plan
//!     .run(&sleep, &classifier, async |attempt: bedrock_retry::Attempt| {
//!         if attempt.target.region == "eu-west-1" {
//!             Ok(format!("answer from {}", attempt.target.region))
//!         } else {
//!             Err(String::from("throttled"))
//!         }
//!     })
//!     .await
//!     .map_err(|e| e.reason)
//!     .unwrap();
//! assert_eq!(done.value, "answer from eu-west-1");
//! assert_eq!(done.records.len(), 3);
//! assert!(sleep.requested().is_empty(), "moving to untried regions needs no delay");
//!
//! // The same loop written by hand, as a state machine.
//! let mut plan = planner.plan(vec![bedrock_retry::Target::new("claude", "us-east-1")])?;
//! let mut calls = 0;
//! let records = loop {
//!     match plan.next_decision() {
//!         bedrock_retry::Decision::Attempt(attempt) => {
//!             bedrock_retry::Sleep::sleep(&sleep, attempt.delay).await;
//!             calls += 1;
//!             if calls < 3 {
//!                 plan.record_failure(ErrorClass::Transient.into(), "503 Service Unavailable");
//!             } else {
//!                 break plan.record_success();
//!             }
//!         }
//!         bedrock_retry::Decision::GiveUp(reason) => panic!("{reason}"),
//!     }
//! };
//! assert_eq!(records.len(), 3);
//! // The single target is retried with backoff: 1 s, then 2 s (jitter disabled).
//! assert_eq!(sleep.requested(), vec![Duration::ZERO, Duration::from_secs(1), Duration::from_secs(2)]);
//! # Ok::<(), bedrock_retry::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Features
//!
//! - `tokio` (default): [`TokioSleep`], a [`Sleep`] on the tokio timer. Without it the crate has
//!   no runtime dependency.
//!
//! - `serde`: `Serialize` for [`AttemptRecord`], [`Target`] and [`ErrorClass`] (durations in
//!   milliseconds; see [`millis`]).
//! - `test-util`: the test doubles `ManualClock` (a clock that moves only when told) and
//!   `InstantSleep` (a sleeper that returns at once and records each delay), for tests in virtual
//!   time. Enable it from dev-dependencies only.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod budget;
mod classify;
mod config;
mod error;
mod health;
#[cfg(feature = "serde")]
pub mod millis;
mod plan;
mod planner;
mod target;
mod time;

pub use backoff::{Backoff, JitterMode, RandomSource, SeededRandom};
pub use budget::RetryBudget;
pub use classify::{Classification, Classify, ClassifyFn, ErrorClass};
pub use config::RetryConfig;
pub use error::Error;
pub use health::{Admission, HealthConfig, HealthTracker, TargetHealth};
pub use plan::{
    Attempt, AttemptRecord, Attempter, CallPlan, Decision, Exhausted, GiveUpReason, HedgeLoss,
    HedgePolicy, Route, Succeeded,
};
pub use planner::RetryPlanner;
pub use target::{PlanTarget, Target};
pub use time::{Clock, Elapsed, Sleep, Sleeping, SystemClock, timeout};
#[cfg(any(test, feature = "test-util"))]
pub use time::{InstantSleep, ManualClock};
#[cfg(feature = "tokio")]
pub use time::{TokioClock, TokioSleep};
