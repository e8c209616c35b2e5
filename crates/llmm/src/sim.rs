//! `llmm sim`: the Bedrock simulator as a foreground server, for `--endpoint-url` and for
//! other tools (boto3, the AWS CLI) pointed at it.

use std::io::Write as _;

use anyhow::Context as _;
use bedrock_sim::Simulator;

use crate::backend::load_scenario;

use crate::cli::{GlobalArgs, SimArgs};
use crate::exit::{Exit, usage};

/// Runs `llmm sim` until Ctrl-C.
pub(crate) async fn run(global: &GlobalArgs, args: &SimArgs) -> anyhow::Result<Exit> {
    let scenario = load_scenario(global.scenario.as_deref())?;
    let sim = Simulator::start_on(scenario, args.port)
        .await
        .map_err(|e| usage(format!("cannot start the simulator: {e}")))?;
    let endpoint = sim.endpoint_url();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{endpoint}").context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
    }
    eprintln!(
        "llmm: simulator listening; try: llmm --endpoint-url {endpoint} chat \"Hello\" (Ctrl-C stops it)"
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    let stats = sim.stats();
    sim.shutdown().await;
    eprintln!(
        "llmm: simulator stopped after {} request(s)",
        stats.requests
    );
    Ok(Exit::Success)
}
