//! Project automation, run as `cargo xtask <task>`.
//!
//! Tasks mirror what CI does, so that a developer can run the same checks locally, and produce the
//! project's evidence: the chaos fault matrix and the benchmark report in `docs/benchmarks.md`.
//! The evidence itself is measured by the `bench` crate's binaries, which `chaos` and `bench` run
//! in release mode with their arguments passed through, so this crate stays small.

use std::process::ExitCode;

use clap::Parser as _;

mod refresh_catalog;
mod snapshots;

type DynError = Box<dyn std::error::Error>;

/// `cargo xtask <task>`.
#[derive(Debug, clap::Parser)]
#[command(name = "cargo xtask", about = "Project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, clap::Subcommand)]
enum Task {
    /// Run .ci/run, the same checks as CI (fmt, clippy, doc, tests).
    Ci,
    /// Run the insta snapshot tests as CI does.
    Snapshots {
        /// Accept changed snapshots and list them for review.
        #[arg(long)]
        review: bool,
    },
    /// Regenerate crates/bedrock-catalog/data/bundled.json.
    RefreshCatalog(refresh_catalog::Args),
    /// Drive the full stack through the fault matrix on the simulator (`cargo xtask chaos --help`
    /// lists the options).
    #[command(disable_help_flag = true)]
    Chaos {
        /// Passed to the `bench` crate's `chaos` binary.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every benchmark and write docs/benchmarks.md with SVG plots in docs/img (`cargo xtask
    /// bench --help` lists the options).
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed to the `bench` crate's `bench` binary.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Ci => ci(),
        Task::Snapshots { review } => snapshots::run(review),
        Task::RefreshCatalog(args) => refresh_catalog::run(&args),
        Task::Chaos { args } => release_binary("chaos", &args),
        Task::Bench { args } => release_binary("bench", &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "xtask reports failures on stderr")]
            {
                eprintln!("error: {}", chain(e.as_ref()));
            }
            ExitCode::FAILURE
        }
    }
}

/// An error and its sources joined with `": "` (library errors give the cause as their source,
/// not in their own message), each message once.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    for e in std::iter::successors(Some(error), |e| e.source()) {
        let message = e.to_string();
        if message.is_empty() || text.ends_with(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

/// Runs `.ci/run`, the script CI runs, so the local and CI checks cannot drift apart.
fn ci() -> Result<(), DynError> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?;
    let script = root.join(".ci").join("run");
    let script = script.to_str().ok_or("the workspace path is not UTF-8")?;
    run("bash", &[script])
}

/// `cargo run --release -p bench --bin NAME -- ARGS`: the measurements run optimised.
fn release_binary(name: &str, args: &[String]) -> Result<(), DynError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut all = vec!["run", "--release", "-p", "bench", "--bin", name, "--"];
    all.extend(args.iter().map(String::as_str));
    run(&cargo, &all)
}

fn run(program: &str, args: &[&str]) -> Result<(), DynError> {
    let status = std::process::Command::new(program).args(args).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed with {status}", args.join(" ")).into())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;
    use clap::Parser as _;

    use super::{Cli, Task, chain};

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("writing the catalog failed")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_prints_with_its_sources_once() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(chain(&e), "writing the catalog failed: disk full");
        let boxed: super::DynError = Box::new(e);
        assert_eq!(
            chain(boxed.as_ref()),
            "writing the catalog failed: disk full"
        );
    }

    #[test]
    fn every_task_parses_and_answers_help() {
        Cli::command().debug_assert();
        let parse = |args: &[&str]| Cli::try_parse_from(["xtask"].iter().chain(args));
        for task in ["ci", "snapshots", "refresh-catalog"] {
            let e = parse(&[task, "--help"]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{task}");
        }
        let help = Cli::command().render_help().to_string();
        for task in ["ci", "snapshots", "refresh-catalog", "chaos", "bench"] {
            assert!(help.contains(task), "{task} missing from\n{help}");
        }
        // The measuring tasks pass everything, help included, to their binaries.
        match parse(&["chaos", "--requests", "10", "--help"])
            .unwrap()
            .task
        {
            Task::Chaos { args } => assert_eq!(args, ["--requests", "10", "--help"]),
            other => panic!("{other:?}"),
        }
        match parse(&["bench", "--skip-examples"]).unwrap().task {
            Task::Bench { args } => assert_eq!(args, ["--skip-examples"]),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["nope"]).is_err());
        // Unknown arguments are refused before anything runs.
        assert!(parse(&["snapshots", "--bogus"]).is_err());
    }
}
