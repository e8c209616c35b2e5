//! `llmm sim`: the Bedrock simulator as a foreground server, for `--endpoint-url` and for
//! other tools (boto3, the AWS CLI) pointed at it.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use bedrock_sim::{Scenario, Simulator};

use crate::cli::{GlobalArgs, SimArgs};
use crate::exit::{Exit, usage};

/// Runs `llmm sim` until Ctrl-C.
pub(crate) async fn run(_global: &GlobalArgs, args: &SimArgs) -> anyhow::Result<Exit> {
    let scenario = match &args.scenario {
        Some(path) => load(path)?,
        None => Scenario::default(),
    };
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

fn load(path: &Path) -> anyhow::Result<Scenario> {
    if !path.is_file() {
        return Err(usage(format!("scenario file {} not found", path.display())));
    }
    Scenario::from_file(path).map_err(|e| usage(format!("cannot load scenario: {e}")))
}
