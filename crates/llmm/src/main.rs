//! `llmm`: Amazon Bedrock from the command line, with multi-region failover, multi-model
//! fallback, parallel batches and a built-in simulator.
//!
//! # Commands
//!
//! - `llmm chat [PROMPT]`: one Converse call; the prompt comes from the argument or from stdin.
//!   Attach files with `--image`, `--document` and `--video`; `--json` prints the full response
//!   with every attempt; `--stream` prints the text as it arrives.
//! - `llmm batch INPUT.jsonl --output OUT.jsonl`: many calls in parallel over the configured
//!   regions, one JSON line out per request, resumable (ids already in the output are skipped;
//!   `--overwrite` starts afresh), with a progress bar and a summary on stderr
//!   (`--summary-json FILE` also writes it as JSON). `--engine bedrock-batch --bucket B
//!   --role-arn ARN` runs the same file as Bedrock batch inference jobs instead (cheaper, for
//!   large batches, with results in minutes to hours); the output lines are the same.
//! - `llmm models` and `llmm regions`: what the model catalog knows (bundled snapshot, or the
//!   Bedrock API with `--refresh`).
//! - `llmm sim --scenario FILE`: runs the loopback Bedrock simulator until Ctrl-C and prints its
//!   endpoint, for use with `--endpoint-url`.
//! - `llmm doctor`: a short report on where credentials come from, the regions, where and how
//!   each configured model resolves, and one control-plane probe.
//! - `llmm completions bash|zsh|fish|powershell`: a shell completion script.
//!
//! `llmm chat` with no prompt reads it from stdin, or on a terminal starts a conversation (the
//! history is sent with each turn; `/exit` or Ctrl-D leaves).
//!
//! # Configuration
//!
//! Default models, regions, profile and batch concurrency come from `~/.config/llmm/config.toml`
//! (or `$XDG_CONFIG_HOME/llmm/config.toml`, or the file `LLMM_CONFIG` names) and the variables
//! `LLMM_MODELS`, `LLMM_REGIONS`, `LLMM_PROFILE` and `LLMM_CONCURRENCY`; flags override them (see
//! the `config` module).
//!
//! # Where requests go
//!
//! - `--simulate` starts the simulator inside the process (fake static keys, no AWS account
//!   needed), answering at once with no faults; `--scenario FILE` gives it a scenario (latency,
//!   faults) and implies `--simulate`. Like every global option, both go before or after the
//!   command.
//! - `--endpoint-url URL` sends every request to `URL` (for example a running `llmm sim`).
//! - Otherwise real AWS, with the default credential chain or `--profile NAME`.
//!
//! # Telemetry
//!
//! `--otlp-endpoint URL` (or `LLMM_OTLP_ENDPOINT`) exports OpenTelemetry spans and metrics over
//! OTLP/HTTP to a collector at `URL` (feature `otel`, on by default): one span per call and one
//! per attempt with the GenAI semantic conventions, and the metrics
//! `gen_ai.client.operation.duration`, `gen_ai.client.token.usage` and
//! `llmmanager.client.attempts` (see the `telemetry` module).
//!
//! # Batch line format
//!
//! Each input line is one JSON object with a unique string `id`, in one of two forms:
//!
//! - a full Converse request body plus `id`:
//!   `{"id":"q1","messages":[{"role":"user","content":[{"text":"Hi"}]}],"system":[{"text":"Be brief."}],"inferenceConfig":{"maxTokens":100}}`;
//! - a shorthand: `{"id":"q1","prompt":"Hi","system":"Be brief.","max_tokens":100,"temperature":0.2}`.
//!
//! Each output line is either
//! `{"id":..,"ok":true,"text":..,"model":..,"region":..,"attempts":[..],"usage":{..},"duration_ms":..}` or
//! `{"id":..,"ok":false,"error":{"kind":..,"message":..},"attempts":[..],"duration_ms":..}`.
//! Lines are written whole (one write and a flush per line) as requests finish, so an interrupted
//! batch can be resumed by running the same command again.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | some batch requests failed, or the batch was interrupted with Ctrl-C |
//! | 2 | bad input or usage; nothing was sent |
//! | 3 | every attempt failed (chat), or every request of a batch failed |
//! | 4 | credentials missing or rejected, an AWS profile that is not defined, or permission denied (chat, batch, doctor) |
//! | 5 | Bedrock or the endpoint could not be reached: no connection (chat, batch) |
//!
//! # Example
//!
//! ```text
//! cargo run -p llmm -- --simulate --scenario fixtures/batch/demo-scenario.json \
//!     batch fixtures/batch/demo.jsonl --output target/demo-results.jsonl
//! ```
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on stdout and stderr"
)]

mod backend;
mod batch;
mod batch_jobs;
mod chat;
mod cli;
mod config;
mod doctor;
mod estimate;
mod exit;
mod input;
mod models;
mod preflight;
mod progress;
mod record;
mod sim;
mod stream_view;
mod summary;
mod telemetry;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

use crate::cli::{Cli, Command};
use crate::exit::Exit;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Completions need no configuration, so a broken config file cannot block them.
    if let Command::Completions(args) = &cli.command {
        completions(args.shell);
        return ExitCode::SUCCESS;
    }
    match config::Config::load() {
        Ok(config) => config.apply(&mut cli, &matches),
        Err(error) => {
            eprintln!("error: {}", exit::join_chain(error.chain()));
            return exit::classify(&error).into();
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Failed.into();
        }
    };
    let telemetry = match telemetry::init(
        cli.global.verbose,
        cli.global.otlp_endpoint.as_deref(),
        runtime.handle(),
    ) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {}", exit::join_chain(error.chain()));
            return exit::classify(&error).into();
        }
    };
    let endpoint = cli.global.endpoint_url.clone();
    let result = runtime.block_on(run(cli));
    // Outside the runtime, which still runs the last exports.
    telemetry.shutdown();
    match result {
        Ok(code) => code.into(),
        Err(error) => {
            eprintln!("{}", exit::report(&error, endpoint.as_deref()));
            exit::classify(&error).into()
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let sends = match &cli.command {
        Command::Chat(_) => true,
        Command::Batch(args) => !args.estimate,
        _ => false,
    };
    if sends {
        preflight::check(&cli.global).await?;
    }
    match cli.command {
        Command::Chat(args) => chat::run(&cli.global, args).await,
        Command::Batch(args) => batch::run(&cli.global, args).await,
        Command::Models(args) => models::run_models(&cli.global, &args).await,
        Command::Regions(args) => models::run_regions(&cli.global, &args).await,
        Command::Sim(args) => sim::run(&cli.global, &args).await,
        Command::Doctor => doctor::run(&cli.global).await,
        Command::Completions(args) => {
            completions(args.shell);
            Ok(Exit::Success)
        }
    }
}

/// `llmm completions SHELL`: the completion script on stdout.
fn completions(shell: clap_complete::Shell) {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "llmm", &mut out);
}
