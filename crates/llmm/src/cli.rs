//! The command line: global options, subcommands and their flags (clap derive).
//!
//! Kept apart from the commands so that `--help` text, defaults and argument rules are in one
//! place. Usage errors found by clap exit with code 2 before anything runs.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use llmmanager::Residency;

/// Models used when no `--model` is given.
pub(crate) const DEFAULT_MODELS: &[&str] = &["Claude 3 Haiku"];
/// Regions used when no `--region` is given.
pub(crate) const DEFAULT_REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1"];

/// Amazon Bedrock from the command line: multi-region failover, multi-model fallback,
/// parallel batches, and a built-in simulator (`--simulate`) that needs no AWS account.
#[derive(Debug, Parser)]
#[command(name = "llmm", version, about, long_about = None)]
#[command(after_help = "\
Examples:
  llmm chat --simulate \"Why is the sky blue?\"
  echo \"Summarise this\" | llmm chat -m \"Claude Haiku 4.5\" -r eu-west-1
  llmm batch requests.jsonl --output results.jsonl --concurrency 32
  llmm models --provider Anthropic
  llmm doctor --profile my-profile
  llmm completions bash > ~/.local/share/bash-completion/completions/llmm

Defaults for --model, --region, --profile, --concurrency, --otlp-endpoint and --residency come
from ~/.config/llmm/config.toml (or $XDG_CONFIG_HOME/llmm/config.toml, or the file LLMM_CONFIG
names) and the variables LLMM_MODELS, LLMM_REGIONS (comma-separated), LLMM_PROFILE,
LLMM_CONCURRENCY, LLMM_OTLP_ENDPOINT and LLMM_RESIDENCY; flags override them.

Exit codes: 0 success, 1 some batch requests failed, 2 bad input or usage (nothing sent), \
3 every attempt failed, 4 credentials missing or rejected (or an AWS profile that is not defined) \
or permission denied, 5 Bedrock or the endpoint could not be reached.")]
pub(crate) struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Model to use, by name ("Claude Haiku 4.5"), id, profile id or ARN; repeat in order of
    /// preference [default: LLMM_MODELS, the config file, or Claude 3 Haiku]. For `models`: not
    /// used.
    #[arg(long = "model", short = 'm', global = true, value_name = "MODEL")]
    pub(crate) models: Vec<String>,
    /// Region to use; repeat in order of preference [default: LLMM_REGIONS, the config file, or
    /// us-east-1, us-west-2, eu-west-1].
    /// For `models`: show only models callable in these regions.
    #[arg(long = "region", short = 'r', global = true, value_name = "REGION")]
    pub(crate) regions: Vec<String>,
    /// Keep every request inside this geography (us, us-gov, eu, apac, jp, au, ca, sa) or this
    /// comma-separated list of regions: regions outside it are not used, nor inference
    /// profiles that may route outside it (under eu, eu. profiles but not global. ones). A
    /// model that cannot be served inside is refused before anything is sent. Fewer regions
    /// and profiles mean less capacity to fail over to [default: LLMM_RESIDENCY or the config
    /// file's residency]. Not supported by `batch --engine bedrock-batch`.
    #[arg(long, global = true, value_name = "GEO|REGIONS", value_parser = parse_residency)]
    pub(crate) residency: Option<Residency>,
    /// Cache affinity: a request whose cached prompt prefix (tools, system prompt and messages
    /// up to a cache point) was written or read in one region goes back to that region first
    /// while the cache lives (5 minutes, 1 hour for `1h` cache points), so it reads the cache
    /// instead of writing it again elsewhere. It can concentrate load: requests sharing a prefix
    /// go to the same region (a throttled region still cools down and is skipped).
    #[arg(long, global = true)]
    pub(crate) cache_affinity: bool,
    /// Run the Bedrock simulator inside this process and send every request to it, with fake
    /// keys (no AWS account needed). It answers at once with no faults unless `--scenario`
    /// says otherwise.
    #[arg(long, global = true, conflicts_with = "endpoint_url")]
    pub(crate) simulate: bool,
    /// Simulator scenario JSON file (latency, faults, quotas; see docs/simulator.md). Implies
    /// `--simulate`; for `llmm sim`, the scenario of the server.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "endpoint_url"
    )]
    pub(crate) scenario: Option<PathBuf>,
    /// Send every request to this endpoint (for example `llmm sim`), with fake keys unless
    /// `--profile` is given.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// Shared AWS config profile to use instead of the default credential chain [default:
    /// LLMM_PROFILE or the config file, for real AWS only].
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Deadline of one call across all its attempts, in seconds.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 300)]
    pub(crate) timeout: u64,
    /// Most attempts per call across models and regions [default: every model in every region
    /// once, then up to 3 retries].
    #[arg(long, global = true, value_name = "N")]
    pub(crate) max_attempts: Option<u32>,
    /// More logs on stderr (-v: warnings, call summaries and batch job progress, -vv: debug).
    /// `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Export OpenTelemetry spans (one per call, one per attempt, with the GenAI semantic
    /// conventions) and metrics over OTLP/HTTP to this collector, for example
    /// http://localhost:4318 [default: LLMM_OTLP_ENDPOINT or the config file's otlp_endpoint].
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,
    /// Hedge calls: when an attempt has not answered after MS milliseconds, the same request
    /// starts on the next healthy target (the next region, or the next model) and the first
    /// answer wins (the other is cancelled). This costs money, since both requests may be billed:
    /// at most --hedge-share of calls hedge. A streamed answer (--stream) is hedged when no token
    /// arrived after MS, and the first to stream wins.
    #[arg(
        long,
        global = true,
        value_name = "MS",
        conflicts_with = "hedge_adaptive"
    )]
    pub(crate) hedge_after: Option<u64>,
    /// Hedge calls after the 95th percentile of the latencies seen for their region (for
    /// streams, of the times to first token; one second until 20 are known).
    #[arg(long, global = true)]
    pub(crate) hedge_adaptive: bool,
    /// The largest share of calls that may hedge, from 0 to 1.
    #[arg(long, global = true, value_name = "SHARE", default_value_t = llmmanager::Hedging::DEFAULT_SHARE)]
    pub(crate) hedge_share: f64,
    /// Try the regions of a model fastest first, by the latency seen for each (the order between
    /// models stays).
    #[arg(long, global = true)]
    pub(crate) latency_aware: bool,
    /// Pace calls per model and region to the quota learned from throttling: a call waits for
    /// capacity (within --timeout) or goes to a region with capacity, instead of being sent into
    /// a throttle. Implied by --quota-rpm and --quota-tpm.
    #[arg(long, global = true)]
    pub(crate) pace: bool,
    /// The account's requests-per-minute quota of each model in each region: calls are paced to
    /// 95% of it (and below, if Bedrock throttles anyway), and `batch --estimate` says how long
    /// a batch takes at it.
    #[arg(long, global = true, value_name = "N", alias = "pace-rpm")]
    pub(crate) quota_rpm: Option<u64>,
    /// The account's tokens-per-minute quota of each model in each region (input plus maxTokens
    /// per request): calls are paced to 95% of it, and `batch --estimate` uses it.
    #[arg(long, global = true, value_name = "N", alias = "pace-tpm")]
    pub(crate) quota_tpm: Option<u64>,
    /// The length of a quota window in milliseconds (Bedrock's: one minute), for simulators
    /// that count quotas in compressed time.
    #[arg(long, global = true, value_name = "MS", hide = true)]
    pub(crate) quota_window_ms: Option<u64>,
    /// Share pacing with every llmm process given the same Redis and --fleet-key (on this
    /// machine or others), so together they stay under the account's quotas (implies --pace).
    /// The URL may hold a password (redis://:PASSWORD@HOST:6379); it is never printed. If
    /// Redis is lost mid-run, each process paces on its own until it is back [env:
    /// LLMM_REDIS_URL].
    #[cfg(feature = "fleet")]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "LLMM_REDIS_URL",
        hide_env_values = true
    )]
    pub(crate) redis_url: Option<String>,
    /// The fleet's name in Redis: processes pacing to one account's quotas share it, fleets
    /// for different accounts or quotas must not.
    #[cfg(feature = "fleet")]
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "LLMM_FLEET_KEY",
        default_value = "default"
    )]
    pub(crate) fleet_key: String,
}

impl GlobalArgs {
    /// The hedging the flags ask for, if any.
    pub(crate) fn hedging(&self) -> Option<llmmanager::Hedging> {
        let hedging = match (self.hedge_after, self.hedge_adaptive) {
            (Some(ms), _) => llmmanager::Hedging::after(std::time::Duration::from_millis(ms)),
            (None, true) => llmmanager::Hedging::adaptive(),
            (None, false) => return None,
        };
        Some(hedging.max_share(self.hedge_share))
    }

    /// The pacing the flags ask for, if any: adaptive, with the quotas given for every model.
    pub(crate) fn pacing(&self) -> Option<llmmanager::pacing::Pacing> {
        if !self.pace && self.quota_rpm.is_none() && self.quota_tpm.is_none() && !self.fleet() {
            return None;
        }
        let mut pacing = llmmanager::pacing::Pacing::adaptive();
        if let Some(ms) = self.quota_window_ms {
            pacing = pacing.window(std::time::Duration::from_millis(ms));
        }
        if self.quota_rpm.is_some() || self.quota_tpm.is_some() {
            for model in self.models_or_default() {
                let mut quota = llmmanager::pacing::Quota::new(model);
                if let Some(rpm) = self.quota_rpm {
                    quota = quota.requests_per_minute(rpm);
                }
                if let Some(tpm) = self.quota_tpm {
                    quota = quota.tokens_per_minute(tpm);
                }
                pacing = pacing.quota(quota);
            }
        }
        Some(pacing)
    }

    /// Whether pacing is shared with a fleet (`--redis-url`).
    pub(crate) fn fleet(&self) -> bool {
        #[cfg(feature = "fleet")]
        return self.redis_url.is_some();
        #[cfg(not(feature = "fleet"))]
        false
    }

    /// Whether requests go to the in-process simulator (`--simulate`, or `--scenario`).
    pub(crate) fn simulated(&self) -> bool {
        self.simulate || self.scenario.is_some()
    }

    /// The scenario file as shown to the user, or `default`.
    pub(crate) fn scenario_name(&self) -> String {
        self.scenario
            .as_ref()
            .map_or_else(|| "default".to_owned(), |p| p.display().to_string())
    }

    /// The models, or the defaults.
    pub(crate) fn models_or_default(&self) -> Vec<String> {
        if self.models.is_empty() {
            DEFAULT_MODELS.iter().map(|s| (*s).to_owned()).collect()
        } else {
            self.models.clone()
        }
    }

    /// The regions, or the defaults; under `--residency`, only those inside it (all of them
    /// when none is, so that building the manager says why nothing can be served).
    pub(crate) fn regions_or_default(&self) -> Vec<String> {
        let regions: Vec<String> = if self.regions.is_empty() {
            DEFAULT_REGIONS.iter().map(|s| (*s).to_owned()).collect()
        } else {
            self.regions.clone()
        };
        let Some(residency) = &self.residency else {
            return regions;
        };
        let inside: Vec<String> = regions
            .iter()
            .filter(|r| residency.admits_region(r))
            .cloned()
            .collect();
        if inside.is_empty() { regions } else { inside }
    }
}

/// Parses `--residency` (and `LLMM_RESIDENCY`, the config file's `residency`).
pub(crate) fn parse_residency(s: &str) -> Result<Residency, String> {
    s.parse::<Residency>().map_err(|e| match e {
        llmmanager::Error::Configuration { message } => message,
        other => other.to_string(),
    })
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Send a prompt and print the answer; with no prompt, read it from stdin, or on a terminal
    /// start a conversation.
    #[command(after_help = CHAT_EXAMPLES)]
    Chat(ChatArgs),
    /// Run a JSONL file of requests in parallel and write one JSON line per request.
    #[command(long_about = BATCH_LONG_ABOUT, after_help = BATCH_EXAMPLES)]
    Batch(BatchArgs),
    /// List the models the catalog knows.
    #[command(after_help = MODELS_EXAMPLES)]
    Models(ModelsArgs),
    /// List the regions the catalog knows, with how many models each offers.
    #[command(after_help = REGIONS_EXAMPLES)]
    Regions(RegionsArgs),
    /// Run the Bedrock simulator until Ctrl-C, printing its endpoint URL on stdout.
    #[command(after_help = SIM_EXAMPLES)]
    Sim(SimArgs),
    /// Check the setup: where credentials come from, the regions, where and how each model
    /// resolves, and one control-plane call; exit code 0 when all is fine.
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor,
    /// Print a shell completion script.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
}

const CHAT_EXAMPLES: &str = "\
Examples:
  llmm chat --simulate \"Why is the sky blue?\"
  llmm chat \"Why is the sky blue?\" -m \"Claude Haiku 4.5\" -m \"Nova Lite\" -r us-east-1 --stream
  llmm chat \"What is in this picture?\" --image photo.jpg --json
  echo \"Summarise this\" | llmm chat --system \"Be brief.\"
  llmm chat --schema city.schema.json \"The largest city of France?\" | jq .name
  llmm chat                     (on a terminal: a conversation; /exit or Ctrl-D leaves)";

const BATCH_EXAMPLES: &str = "\
Examples:
  llmm batch --simulate requests.jsonl --output results.jsonl
  llmm batch --scenario fixtures/batch/demo-scenario.json fixtures/batch/demo.jsonl -o out.jsonl
  llmm batch requests.jsonl -o results.jsonl --concurrency 64 --regions-per-request 2
  llmm batch requests.jsonl -o results.jsonl --engine bedrock-batch --bucket my-bucket \\
      --role-arn arn:aws:iam::123456789012:role/bedrock-batch";

const MODELS_EXAMPLES: &str = "\
Examples:
  llmm models
  llmm models --provider Anthropic --region eu-west-1
  llmm models --refresh --json";

const REGIONS_EXAMPLES: &str = "\
Examples:
  llmm regions
  llmm regions --refresh --json";

const SIM_EXAMPLES: &str = "\
Examples:
  llmm sim --port 8080
  llmm sim --scenario fixtures/scenarios/flaky-us-east-1.json
  llmm chat --endpoint-url http://127.0.0.1:8080 \"Hello\"";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  llmm doctor
  llmm doctor --profile my-profile -m \"Claude Haiku 4.5\" -r eu-west-1
  llmm doctor --simulate";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  llmm completions bash > ~/.local/share/bash-completion/completions/llmm
  llmm completions zsh > ~/.zfunc/_llmm
  llmm completions fish > ~/.config/fish/completions/llmm.fish
  llmm completions powershell >> $PROFILE";

/// Arguments of `llmm completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Arguments of `llmm chat`.
#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    /// The prompt; when absent or `-`, read from stdin, or on a terminal start a conversation
    /// (history kept; `/exit` or Ctrl-D leaves).
    pub(crate) prompt: Option<String>,
    /// System prompt.
    #[arg(long, short = 's')]
    pub(crate) system: Option<String>,
    /// Attach an image file (png, jpeg, gif, webp); repeatable.
    #[arg(long, value_name = "FILE")]
    pub(crate) image: Vec<PathBuf>,
    /// Attach a document file (pdf, csv, doc, docx, xls, xlsx, html, txt, md); repeatable.
    #[arg(long, value_name = "FILE")]
    pub(crate) document: Vec<PathBuf>,
    /// Attach a video file (mp4, mov, mkv, webm, ...); repeatable.
    #[arg(long, value_name = "FILE")]
    pub(crate) video: Vec<PathBuf>,
    /// Largest number of tokens to generate.
    #[arg(long, value_name = "N")]
    pub(crate) max_tokens: Option<u32>,
    /// Sampling temperature.
    #[arg(long, value_name = "T")]
    pub(crate) temperature: Option<f32>,
    /// Print the text as it arrives.
    #[arg(long, conflicts_with = "json")]
    pub(crate) stream: bool,
    /// Print the full response as JSON, with every attempt.
    #[arg(long)]
    pub(crate) json: bool,
    /// Ask for a JSON value matching this JSON Schema file and print only the value (with
    /// `--json`, inside the full response under "json").
    #[arg(long, value_name = "FILE", conflicts_with = "stream")]
    pub(crate) schema: Option<PathBuf>,
}

const BATCH_LONG_ABOUT: &str = "\
Run a JSONL file of requests in parallel and write one JSON line per request.

Input: one JSON object per line (blank lines are ignored), each with a unique string \"id\", either
  a full Converse request body plus \"id\":
    {\"id\":\"q1\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}],\"system\":[{\"text\":\"Be brief.\"}],\"inferenceConfig\":{\"maxTokens\":100}}
  or the shorthand:
    {\"id\":\"q1\",\"prompt\":\"Hi\",\"system\":\"Be brief.\",\"max_tokens\":100,\"temperature\":0.2}
Either form may carry \"schema\", an inline JSON Schema object: the answer is then a JSON value
matching it (validated, asked again when it does not), written under \"json\" in the result line.
With --engine bedrock-batch a line may also carry \"model\" and \"region\" (either or both) to
pin where it runs; other lines are spread over the configured models and regions.
Every line is checked before anything is sent. A malformed line is reported with its line number
and written as an error line (kind \"invalid_input\", id \"line-N\" when it has none) while the
other lines go on; a repeated id, or an input with no valid line, exits with code 2.

Output: one line per request, in completion order:
    {\"id\":\"q1\",\"ok\":true,\"text\":\"...\",\"model\":\"...\",\"region\":\"...\",\"attempts\":[...],\"usage\":{...},\"duration_ms\":123}
    {\"id\":\"q2\",\"ok\":false,\"error\":{\"kind\":\"exhausted\",\"message\":\"...\"},\"attempts\":[...],\"duration_ms\":456}
Each line is written whole and flushed. Resume: ids already present in the output file are skipped,
so running the same command again finishes an interrupted batch.

Progress goes to stderr (a bar on a terminal, plain lines otherwise), then a summary: success rate,
durations (p50, p95, max), attempts and answers per region, token and prompt-cache counts.

Ctrl-C stops the batch after the lines of finished requests are written (exit code 1).

Exit code: 0 all succeeded, 1 some failed, 2 bad input, 3 every request failed, 4 credentials \
missing or rejected (every request, or an AWS profile that is not defined), 5 Bedrock or the \
endpoint could not be reached.";

/// Arguments of `llmm batch`.
#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// The JSONL input file (`-` for stdin).
    pub(crate) input: PathBuf,
    /// The JSONL output file, appended to; ids already in it are skipped. Default: stdout
    /// (no resume).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Start the output file afresh instead of resuming (its previous lines are removed).
    #[arg(long, requires = "output")]
    pub(crate) overwrite: bool,
    /// Requests in flight at once [default: LLMM_CONCURRENCY, the config file, or 16].
    #[arg(
        long,
        short = 'c',
        default_value_t = 16,
        value_name = "N",
        hide_default_value = true
    )]
    pub(crate) concurrency: usize,
    /// Regions assigned to each request, tried first in order [default: all configured
    /// regions, rotated per request].
    #[arg(long, value_name = "N")]
    pub(crate) regions_per_request: Option<usize>,
    /// Only try the assigned regions, never the other configured ones.
    #[arg(long)]
    pub(crate) assigned_regions_only: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) summary_json: Option<PathBuf>,
    /// No progress bar or progress lines (the summary is still printed).
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    /// Where the batch runs: `local` calls Bedrock from this machine (results in seconds);
    /// `bedrock-batch` hands it to Bedrock batch inference jobs (cheaper per token and not
    /// bound by this machine's quotas, but results take minutes to hours).
    #[arg(long, value_enum, default_value_t = Engine::Local)]
    pub(crate) engine: Engine,
    /// Stop starting requests once what the answers cost plus the estimates of the requests in
    /// flight would pass USD dollars (bundled on-demand prices); the remaining requests get
    /// `budget_exceeded` lines, which a later run (with a larger --max-cost) resumes.
    /// --engine local only.
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    pub(crate) max_cost: Option<f64>,
    /// Send nothing: read the input and print the estimated tokens, the cost with
    /// --engine local and with --engine bedrock-batch, and how long it would take at
    /// --quota-rpm/--quota-tpm.
    #[arg(long)]
    pub(crate) estimate: bool,
    /// With --estimate: print one JSON document instead of text.
    #[arg(long, requires = "estimate")]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) jobs: BatchJobArgs,
}

/// A dollar amount: a finite number, at least 0.
fn parse_usd(text: &str) -> Result<f64, String> {
    match text.trim().trim_start_matches('$').parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "expected an amount in US dollars such as 2.50, got {text:?}"
        )),
    }
}

/// Which engine runs `llmm batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Engine {
    /// Parallel calls from this machine.
    Local,
    /// Bedrock batch inference jobs over S3.
    BedrockBatch,
    /// Batch jobs when the requests fill at least one job, a job's longest run fits in
    /// --max-wait and batch prices are known; local otherwise (the choice and both estimated
    /// costs are printed).
    Auto,
}

/// Options of `--engine bedrock-batch`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Bedrock batch engine (--engine bedrock-batch)")]
pub(crate) struct BatchJobArgs {
    /// S3 bucket for job inputs and outputs.
    #[arg(long, value_name = "BUCKET", required_if_eq("engine", "bedrock-batch"))]
    pub(crate) bucket: Option<String>,
    /// Service role Bedrock assumes to read and write the bucket.
    #[arg(long, value_name = "ARN", required_if_eq("engine", "bedrock-batch"))]
    pub(crate) role_arn: Option<String>,
    /// Key prefix in the bucket.
    #[arg(long, value_name = "PREFIX", default_value = "llmm-batch")]
    pub(crate) s3_prefix: String,
    /// Send S3 calls to this S3-compatible endpoint (path-style), e.g. a local moto server;
    /// required with --simulate or --endpoint-url.
    #[arg(long, value_name = "URL")]
    pub(crate) s3_endpoint_url: Option<String>,
    /// State file that lets a rerun pick up the jobs already created [default: the output
    /// file plus `.jobs.json`, or `llmm-batch-jobs.json`].
    #[arg(long, value_name = "FILE")]
    pub(crate) state_file: Option<PathBuf>,
    /// First wait between status polls, in seconds (doubles up to 10 minutes).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub(crate) poll_seconds: f64,
    /// Fewest records per job (the service quota; smaller groups are reported as failed).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) min_records_per_job: usize,
    /// Most records per job (the service quota).
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub(crate) max_records_per_job: usize,
    /// Hours after which Bedrock ends a job as `Expired` (24 to 168; Bedrock's default 24);
    /// an expired job's unfinished records are submitted once more.
    #[arg(long, value_name = "HOURS")]
    pub(crate) job_timeout_hours: Option<i32>,
    /// With --engine auto: the longest you can wait for results, e.g. 90m, 6h or 2d
    /// [default: no limit].
    #[arg(long, value_name = "DURATION")]
    pub(crate) max_wait: Option<String>,
    /// On Ctrl-C, stop the jobs still running (by default they keep running, and the same
    /// command collects them later).
    #[arg(long)]
    pub(crate) stop_on_interrupt: bool,
}

/// Arguments of `llmm models`.
#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    /// Only models of this provider (case-insensitive, e.g. Anthropic).
    #[arg(long, value_name = "NAME")]
    pub(crate) provider: Option<String>,
    /// Fetch the catalog from the Bedrock API instead of the bundled snapshot.
    #[arg(long)]
    pub(crate) refresh: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `llmm regions`.
#[derive(Debug, Args)]
pub(crate) struct RegionsArgs {
    /// Fetch the catalog from the Bedrock API instead of the bundled snapshot.
    #[arg(long)]
    pub(crate) refresh: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `llmm sim` (its scenario is the global `--scenario`; default: no latency, no
/// faults).
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap()
    }

    #[test]
    fn cache_affinity_is_off_unless_asked_for() {
        assert!(!parse(&["llmm", "chat", "hi"]).global.cache_affinity);
        let chat = parse(&["llmm", "--cache-affinity", "chat", "hi"]);
        assert!(chat.global.cache_affinity);
        let batch = parse(&["llmm", "batch", "in.jsonl", "--cache-affinity"]);
        assert!(batch.global.cache_affinity);
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_help_ends_with_examples() {
        let mut cli = Cli::command();
        let top = cli.render_long_help().to_string();
        assert!(top.contains("Examples:\n  llmm chat"), "{top}");
        cli.build();
        for sub in cli.get_subcommands_mut().filter(|c| c.get_name() != "help") {
            let help = sub.render_long_help().to_string();
            let examples = help
                .rfind("Examples:\n")
                .unwrap_or_else(|| panic!("{}: no examples\n{help}", sub.get_name()));
            let tail = &help[examples..];
            assert!(
                tail.lines().skip(1).all(|l| l.starts_with("  ")),
                "{}: examples are not last\n{help}",
                sub.get_name()
            );
            assert!(tail.contains(&format!("llmm {}", sub.get_name())), "{tail}");
        }
    }

    #[test]
    fn simulate_is_a_flag_before_or_after_the_subcommand() {
        for args in [
            &["llmm", "--simulate", "chat", "hi"][..],
            &["llmm", "chat", "--simulate", "hi"],
            &["llmm", "chat", "hi", "--simulate"],
        ] {
            let cli = parse(args);
            assert!(cli.global.simulate && cli.global.simulated(), "{args:?}");
            assert_eq!(cli.global.scenario, None);
            let Command::Chat(chat) = cli.command else {
                panic!("expected chat")
            };
            assert_eq!(chat.prompt.as_deref(), Some("hi"), "{args:?}");
        }
        for args in [
            &["llmm", "--simulate", "batch", "in.jsonl"][..],
            &["llmm", "batch", "--simulate", "in.jsonl"],
        ] {
            let cli = parse(args);
            assert!(cli.global.simulate, "{args:?}");
            let Command::Batch(batch) = cli.command else {
                panic!("expected batch")
            };
            assert_eq!(batch.input, PathBuf::from("in.jsonl"), "{args:?}");
        }
        let cli = parse(&["llmm", "models", "--simulate", "--json"]);
        assert!(cli.global.simulate);
    }

    #[test]
    fn a_scenario_has_its_own_option_and_implies_simulate() {
        for args in [
            &["llmm", "--scenario", "s.json", "batch", "in.jsonl"][..],
            &["llmm", "batch", "in.jsonl", "--scenario", "s.json"],
            &[
                "llmm",
                "batch",
                "--scenario=s.json",
                "--simulate",
                "in.jsonl",
            ],
        ] {
            let cli = parse(args);
            assert!(cli.global.simulated(), "{args:?}");
            assert_eq!(cli.global.scenario, Some(PathBuf::from("s.json")));
            let Command::Batch(batch) = cli.command else {
                panic!("expected batch")
            };
            assert_eq!(batch.input, PathBuf::from("in.jsonl"), "{args:?}");
        }
        let cli = parse(&["llmm", "sim", "--scenario", "s.json"]);
        assert_eq!(cli.global.scenario, Some(PathBuf::from("s.json")));
        // The old form no longer takes a value.
        assert!(Cli::try_parse_from(["llmm", "--simulate=s.json", "chat", "hi"]).is_err());
    }

    #[test]
    fn models_and_regions_repeat_in_order() {
        let cli = parse(&[
            "llmm", "chat", "-m", "a", "--model", "b", "-r", "x", "-r", "y", "hi",
        ]);
        assert_eq!(cli.global.models, ["a", "b"]);
        assert_eq!(cli.global.regions_or_default(), ["x", "y"]);
        let cli = parse(&["llmm", "chat", "hi"]);
        assert_eq!(cli.global.models_or_default(), DEFAULT_MODELS);
    }

    #[test]
    fn pacing_flags() {
        use llmmanager::pacing::{Pacing, Quota};
        let cli = parse(&["llmm", "chat", "hi"]);
        assert_eq!(cli.global.pacing(), None);
        let cli = parse(&["llmm", "--pace", "chat", "hi"]);
        assert_eq!(cli.global.pacing(), Some(Pacing::adaptive()));
        let expected = Some(
            Pacing::adaptive().quota(
                Quota::new("Claude 3 Haiku")
                    .requests_per_minute(600)
                    .tokens_per_minute(200_000),
            ),
        );
        // One pair of quota flags; the older pacing names are hidden aliases.
        for (rpm, tpm) in [("--quota-rpm", "--quota-tpm"), ("--pace-rpm", "--pace-tpm")] {
            let cli = parse(&[
                "llmm",
                "--model",
                "Claude 3 Haiku",
                rpm,
                "600",
                tpm,
                "200000",
                "chat",
                "hi",
            ]);
            assert_eq!(cli.global.pacing(), expected, "{rpm} {tpm}");
        }
        let help = format!(
            "{}",
            <Cli as clap::CommandFactory>::command().render_long_help()
        );
        assert!(help.contains("--quota-rpm") && !help.contains("--pace-rpm"));
    }

    #[test]
    fn hedging_flags() {
        let cli = parse(&["llmm", "chat", "hi"]);
        assert_eq!(cli.global.hedging(), None);
        assert!(!cli.global.latency_aware);
        let cli = parse(&[
            "llmm",
            "--hedge-after",
            "250",
            "--hedge-share",
            "0.05",
            "chat",
            "hi",
        ]);
        assert_eq!(
            cli.global.hedging(),
            Some(llmmanager::Hedging::after(std::time::Duration::from_millis(250)).max_share(0.05))
        );
        let cli = parse(&["llmm", "chat", "--hedge-adaptive", "--latency-aware", "hi"]);
        assert_eq!(cli.global.hedging(), Some(llmmanager::Hedging::adaptive()));
        assert!(cli.global.latency_aware);
        assert!(
            Cli::try_parse_from([
                "llmm",
                "--hedge-after",
                "9",
                "--hedge-adaptive",
                "chat",
                "hi"
            ])
            .is_err()
        );
    }

    #[test]
    fn budget_and_estimate_flags() {
        let cli = parse(&["llmm", "batch", "in.jsonl", "--max-cost", "$2.50"]);
        let Command::Batch(args) = cli.command else {
            panic!("batch")
        };
        assert_eq!(args.max_cost, Some(2.5));
        assert!(!args.estimate);
        for bad in ["-1", "nan", "inf", "two"] {
            assert!(
                Cli::try_parse_from(["llmm", "batch", "in.jsonl", "--max-cost", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(Cli::try_parse_from(["llmm", "batch", "in.jsonl", "--json"]).is_err());
        let cli = parse(&[
            "llmm",
            "batch",
            "in.jsonl",
            "--estimate",
            "--json",
            "--quota-rpm",
            "50",
            "--quota-tpm",
            "40000",
        ]);
        let Command::Batch(args) = cli.command else {
            panic!("batch")
        };
        assert!(args.estimate && args.json);
        assert_eq!(
            (cli.global.quota_rpm, cli.global.quota_tpm),
            (Some(50), Some(40_000))
        );
    }

    #[test]
    fn a_residency_narrows_the_regions_and_bad_ones_are_usage_errors() {
        let cli = parse(&["llmm", "--residency", "eu", "chat", "hi"]);
        assert_eq!(
            cli.global.residency,
            Some(Residency::Geography(llmmanager::catalog::Geo::Eu))
        );
        assert_eq!(cli.global.regions_or_default(), ["eu-west-1"]);
        let cli = parse(&[
            "llmm",
            "chat",
            "--residency",
            "eu-central-1,eu-west-1",
            "hi",
        ]);
        assert_eq!(
            cli.global.residency,
            Some(Residency::regions(["eu-central-1", "eu-west-1"]))
        );
        // No configured region inside: all are kept, so that the build says why.
        let cli = parse(&[
            "llmm",
            "chat",
            "--residency",
            "apac",
            "-r",
            "us-east-1",
            "hi",
        ]);
        assert_eq!(cli.global.regions_or_default(), ["us-east-1"]);
        let err = Cli::try_parse_from(["llmm", "--residency", "mars", "chat", "hi"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("unknown residency"), "{err}");
    }
}
