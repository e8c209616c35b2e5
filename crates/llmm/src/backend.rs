//! Where requests go: the in-process simulator, an explicit endpoint, or real AWS.
//!
//! Every command that talks to Bedrock gets its manager (and, for `--refresh`, its SDK config)
//! from a [`Backend`], so the three targets behave the same everywhere. The simulator started by
//! `--simulate` (or `--scenario`) lives as long as the backend.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use bedrock_sim::{Scenario, SimHandle, Simulator};
use llmmanager::{Auth, LlmManager, LlmManagerBuilder, RetryConfig, Timeouts};

use crate::cli::GlobalArgs;
use crate::exit::{manager_error, usage};

/// Access key id sent to a simulator or explicit endpoint; never a real key.
const FAKE_ACCESS_KEY_ID: &str = "AKIDLLMMSIMULATOR";
/// Secret sent with [`FAKE_ACCESS_KEY_ID`].
const FAKE_SECRET_ACCESS_KEY: &str = "llmm-simulator-fake-secret-access-key";

/// The destination of every request of one command.
#[derive(Debug)]
pub(crate) struct Backend {
    sim: Option<SimHandle>,
    endpoint: Option<String>,
    auth: Auth,
}

impl Backend {
    /// Starts the simulator for `--simulate` or `--scenario`, or records the endpoint and credentials to use.
    ///
    /// # Errors
    /// A usage error for an unreadable or invalid scenario file.
    pub(crate) async fn start(global: &GlobalArgs) -> anyhow::Result<Self> {
        if global.simulated() {
            let scenario = load_scenario(global.scenario.as_deref())?;
            let sim = Simulator::start(scenario)
                .await
                .context("cannot start the simulator")?;
            let endpoint = sim.endpoint_url();
            let name = global.scenario_name();
            eprintln!("llmm: simulating Bedrock at {endpoint} (scenario: {name})");
            return Ok(Self {
                sim: Some(sim),
                endpoint: Some(endpoint),
                auth: fake_keys(),
            });
        }
        let auth = match (&global.profile, &global.endpoint_url) {
            (Some(profile), _) => Auth::profile(profile.clone()),
            (None, Some(_)) => fake_keys(),
            (None, None) => Auth::DefaultChain,
        };
        Ok(Self {
            sim: None,
            endpoint: global.endpoint_url.clone(),
            auth,
        })
    }

    /// A manager builder with the global options applied (models, regions, timeout, attempts,
    /// residency).
    pub(crate) fn manager_builder(&self, global: &GlobalArgs) -> LlmManagerBuilder {
        let total = Duration::from_secs(global.timeout.max(1));
        let mut builder = LlmManager::builder()
            .models(global.models_or_default())
            .regions(global.regions_or_default())
            .auth(self.auth.clone())
            .timeouts(
                Timeouts::default()
                    .with_total(total)
                    .with_per_attempt(total.min(Timeouts::default().per_attempt)),
            );
        if let Some(n) = global.max_attempts {
            builder = builder.retry(RetryConfig::standard().with_max_attempts(n));
        }
        if let Some(url) = &self.endpoint {
            builder = builder.endpoint_url(url.clone());
        }
        if let Some(residency) = &global.residency {
            builder = builder.residency(residency.clone());
        }
        if global.cache_affinity {
            builder = builder.cache_affinity(true);
        }
        if let Some(hedging) = global.hedging() {
            builder = builder.hedging(hedging);
        }
        if let Some(pacing) = global.pacing() {
            builder = builder.pacing(pacing);
        }
        #[cfg(feature = "fleet")]
        if let Some(url) = &global.redis_url {
            builder = builder.fleet(llmmanager::fleet::Fleet::new(url).key(&global.fleet_key));
        }
        builder.latency_aware(global.latency_aware)
    }

    /// Builds the manager.
    ///
    /// # Errors
    /// A usage error for unknown models (with suggestions), models not offered in the regions,
    /// or invalid options.
    pub(crate) async fn manager(&self, global: &GlobalArgs) -> anyhow::Result<LlmManager> {
        self.manager_builder(global)
            .build()
            .await
            .map_err(manager_error)
    }

    /// An SDK configuration for control-plane calls (catalog refresh).
    pub(crate) async fn sdk_config(&self, region: &str) -> SdkConfig {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
        match &self.auth {
            Auth::Profile { name } => loader = loader.profile_name(name),
            Auth::StaticKeys {
                access_key_id,
                secret_access_key,
                ..
            } => {
                loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                    access_key_id.clone(),
                    secret_access_key.expose().to_owned(),
                    None,
                    None,
                    "llmm",
                ));
            }
            _ => {}
        }
        if let Some(url) = &self.endpoint {
            loader = loader.endpoint_url(url.clone());
        }
        loader.load().await
    }

    /// Whether requests go somewhere other than real AWS (simulator or explicit endpoint).
    pub(crate) fn is_local(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Stops the in-process simulator, if any.
    pub(crate) async fn shutdown(self) {
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}

fn fake_keys() -> Auth {
    Auth::static_keys(FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY)
}

/// Loads a scenario file, or the defaults (no latency, no faults) without one.
///
/// # Errors
/// A usage error naming the file and the problem.
pub(crate) fn load_scenario(path: Option<&Path>) -> anyhow::Result<Scenario> {
    let Some(path) = path else {
        return Ok(Scenario::default());
    };
    if !path.is_file() {
        return Err(usage(format!("scenario file {} not found", path.display())));
    }
    Scenario::from_file(path).map_err(|e| usage(format!("cannot load scenario: {e}")))
}
