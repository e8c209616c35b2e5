//! The one piece of glue the examples share: `--simulate` on the command line points the manager
//! at an embedded Bedrock simulator (`bedrock-sim`, loopback, fake keys, no AWS account);
//! without it the manager talks to real Bedrock with the default AWS credential chain.
#![allow(
    dead_code,
    reason = "each example uses the part of this module it needs"
)]

use std::error::Error;

use bedrock_sim::{Scenario, SimHandle, Simulator};
use llmmanager::{Auth, LlmManagerBuilder};

/// Where the examples send their requests.
#[derive(Debug)]
pub(crate) struct Backend {
    sim: Option<SimHandle>,
    /// The runtime the simulator runs on when the example itself has none (the blocking API).
    /// Declared after `sim`, so the simulator is stopped before its runtime goes.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Whether `--simulate` was given.
pub(crate) fn simulate() -> bool {
    std::env::args().skip(1).any(|arg| arg == "--simulate")
}

impl Backend {
    /// Starts the simulator when `--simulate` was given, on the caller's async runtime.
    pub(crate) async fn from_args() -> Result<Self, Box<dyn Error>> {
        Self::from_args_with(Scenario::default()).await
    }

    /// [`Backend::from_args`] with a scenario for the simulator.
    pub(crate) async fn from_args_with(scenario: Scenario) -> Result<Self, Box<dyn Error>> {
        let sim = if simulate() {
            Some(Simulator::start(scenario).await?)
        } else {
            None
        };
        Ok(Self { sim, runtime: None })
    }

    /// [`Backend::from_args`] for code without an async runtime: the simulator gets a runtime
    /// of its own, whose threads serve it in the background.
    pub(crate) fn from_args_blocking() -> Result<Self, Box<dyn Error>> {
        if !simulate() {
            return Ok(Self {
                sim: None,
                runtime: None,
            });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let sim = runtime.block_on(Simulator::start(Scenario::default()))?;
        Ok(Self {
            sim: Some(sim),
            runtime: Some(runtime),
        })
    }

    /// `builder` pointed at the simulator with fake keys, or unchanged for real AWS.
    pub(crate) fn apply(&self, builder: LlmManagerBuilder) -> LlmManagerBuilder {
        match &self.sim {
            Some(sim) => builder
                .endpoint_url(sim.endpoint_url())
                .auth(Auth::static_keys("AKIDSIMULATOR", "simulator-secret-key")),
            None => builder,
        }
    }

    /// A line saying where the requests go.
    pub(crate) fn describe(&self) -> String {
        match &self.sim {
            Some(sim) => format!("Bedrock simulator at {}", sim.endpoint_url()),
            None => "Amazon Bedrock (default AWS credential chain)".to_owned(),
        }
    }
}
