//! `bedrock-sim`: run the Bedrock simulator as a standalone server.
//!
//! Prints the endpoint URL on the first line of stdout, then serves until Ctrl-C.

use std::path::PathBuf;

use bedrock_sim::{Scenario, Simulator};
use clap::Parser;

/// Loopback Amazon Bedrock simulator.
#[derive(Debug, Parser)]
#[command(name = "bedrock-sim", version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 picks an ephemeral port).
    #[arg(long, default_value_t = 0, env = "BEDROCK_SIM_PORT")]
    port: u16,
    /// Scenario JSON file (see docs/simulator.md); default: no latency, no faults.
    #[arg(long, env = "BEDROCK_SIM_SCENARIO")]
    scenario: Option<PathBuf>,
    /// Also open a listener pinned to this region (repeatable); its URL is printed as `REGION URL`.
    #[arg(long = "pin-region")]
    pin_region: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let scenario = match &args.scenario {
        Some(path) => Scenario::from_file(path)?,
        None => Scenario::default(),
    };
    let sim = Simulator::start_on(scenario, args.port).await?;
    #[allow(
        clippy::print_stdout,
        reason = "the binary reports its endpoint on stdout"
    )]
    {
        println!("{}", sim.endpoint_url());
        for region in &args.pin_region {
            println!("{region} {}", sim.endpoint_url_for_region(region)?);
        }
    }
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
