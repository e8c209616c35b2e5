//! `cargo xtask chaos`: the whole stack under the fault matrix on the simulator.

use std::process::ExitCode;

use bench::chaos::ChaosArgs;
use clap::Parser as _;

fn main() -> ExitCode {
    bench::exit(bench::chaos::run(&ChaosArgs::parse()))
}
