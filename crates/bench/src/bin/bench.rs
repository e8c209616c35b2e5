//! `cargo xtask bench`: runs every benchmark of the project and writes `docs/benchmarks.md`.

use std::process::ExitCode;

use bench::suite::BenchArgs;
use clap::Parser as _;

fn main() -> ExitCode {
    bench::exit(bench::suite::run(&BenchArgs::parse()))
}
