//! `llmm batch`: a JSONL file of requests run in parallel, one JSON line out per request.
//!
//! The engine is [`ParallelLlmManager`] (`bedrock-parallel` driving an `LlmManager`): each
//! request is tried in the regions the engine assigns it first, then in the other configured
//! regions unless `--assigned-regions-only` is given.
//!
//! Order of work: read and check every input line (bad input exits 2 before any call), skip
//! ids already in the output (resume), then stream the rest through the parallel engine,
//! reading the input a second time as the engine asks for more requests (memory stays bounded
//! by the concurrency, not the batch), and write each result line whole as it finishes, so an
//! interrupted run loses nothing written.
//!
//! With `--max-cost`, requests that would pass the budget are not sent; each gets a
//! `budget_exceeded` line, which resuming does not count as done: a later run sends them and
//! appends their results (the later line for an id is the one that counts).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bedrock_parallel::{BatchRequest, ParallelConfig, RequestError, RequestOutcome};
use futures::StreamExt as _;
use llmmanager::budget::Budget;
use llmmanager::structured::{StructuredAnswer, StructuredRequest};
use llmmanager::{ParallelLlmManager, StructuredError};

use crate::backend::Backend;
use crate::cli::{BatchArgs, Engine, GlobalArgs};
use crate::exit::{Exit, usage};
use crate::input::{Rejected, Source};
use crate::progress::Progress;
use crate::record::Record;
use crate::summary::Summary;

/// The error kind of a request not sent because `--max-cost` would have been passed; such
/// lines do not count as done, so a later run sends their requests.
pub(crate) const BUDGET_EXCEEDED: &str = "budget_exceeded";

/// Extra time the engine allows a request beyond the manager's own deadline before dropping it.
const ENGINE_TIMEOUT_MARGIN: Duration = Duration::from_secs(30);

/// Runs `llmm batch`.
#[allow(
    clippy::disallowed_methods,
    reason = "the summary reports the batch's wall-clock duration"
)]
pub(crate) async fn run(global: &GlobalArgs, args: BatchArgs) -> anyhow::Result<Exit> {
    if args.estimate {
        return crate::estimate::run(global, &args);
    }
    if args.max_cost.is_some() && args.engine != Engine::Local {
        return Err(usage(
            "--max-cost applies to --engine local only: batch jobs are submitted whole, so a \
             budget cannot stop them part-way",
        ));
    }
    let mut args = args;
    if args.engine == Engine::Auto {
        let choice = crate::batch_jobs::choose(global, &args)?;
        eprintln!("llmm: {}", choice.line);
        args.engine = if choice.batch {
            Engine::BedrockBatch
        } else {
            Engine::Local
        };
    }
    if args.engine == Engine::BedrockBatch {
        if let Some(residency) = &global.residency {
            return Err(usage(format!(
                "--residency {residency} is not supported by --engine bedrock-batch: its jobs \
                 may use inference profiles that route outside; use the default engine"
            )));
        }
        return crate::batch_jobs::run(global, args).await;
    }
    let source = Source::open(&args.input)?;
    let checked = source.check()?;
    let done = match &args.output {
        Some(path) if !args.overwrite => read_done_ids(path)?,
        _ => DoneIds::default(),
    };
    let rejected_lines = checked.rejected_lines();
    let rejected: Vec<Rejected> = checked
        .rejected
        .into_iter()
        .filter(|r| !done.ids.contains(&r.id))
        .collect();
    let total_input = checked.ids.len() + rejected_lines.len();
    let todo = checked
        .ids
        .iter()
        .filter(|id| !done.ids.contains(*id))
        .count();
    drop(checked.ids);
    let skipped = total_input - todo - rejected.len();

    let config = ParallelConfig::default()
        .with_regions(global.regions_or_default())
        .with_max_concurrency(args.concurrency)
        .with_target_regions_per_request(args.regions_per_request)
        .with_allow_other_regions(!args.assigned_regions_only)
        .with_request_timeout(Some(
            Duration::from_secs(global.timeout).saturating_add(ENGINE_TIMEOUT_MARGIN),
        ));
    config
        .validate()
        .map_err(|e| usage(format!("invalid batch options: {e}")))?;

    let backend = Backend::start(global).await?;
    let manager = backend.manager(global).await?;
    let mut parallel = ParallelLlmManager::new(manager, config)
        .map_err(|e| usage(format!("invalid batch options: {e}")))?;
    if let Some(usd) = args.max_cost {
        parallel = parallel.with_budget(Budget::usd(usd));
    }

    if todo == 0 && rejected.is_empty() {
        eprintln!(
            "llmm: nothing to do: all {total_input} request(s) already have a line in the output"
        );
        backend.shutdown().await;
        return Ok(Exit::Success);
    }
    if skipped > 0 {
        eprintln!("llmm: resuming: {skipped} request(s) already in the output are skipped");
    }
    let mut output = Output::open(args.output.as_deref(), done.needs_newline, args.overwrite)?;
    let mut progress = Progress::new(todo, args.quiet);
    let mut summary = Summary::new(total_input, skipped);
    summary.max_cost_usd = args.max_cost;
    let started = Instant::now();
    for line in rejected {
        eprintln!("llmm: {}", line.message);
        let record = Record::failure(
            Some(line.id),
            "invalid_input",
            line.message,
            &[],
            Duration::ZERO,
        );
        output.write_record(&record)?;
        summary.add(&record);
    }
    let requests = source
        .typed_requests(done.ids, rejected_lines)?
        .map(|(id, request, schema)| {
            let request = match schema {
                Some(schema) => StructuredRequest::new(request, schema),
                None => StructuredRequest::plain(request),
            };
            BatchRequest::new(id, request)
        });
    let mut outcomes = parallel
        .converse_structured_parallel_stream(futures::stream::iter(requests))
        .map_err(|e| usage(format!("invalid batch options: {e}")))?;
    let mut interrupted = false;
    // One listener for the whole run, so a Ctrl-C between two outcomes is not missed.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let outcome = tokio::select! {
            next = outcomes.next() => next,
            _ = &mut ctrl_c => {
                interrupted = true;
                None
            }
        };
        let Some(outcome) = outcome else { break };
        let record = outcome_record(&outcome);
        output.write_record(&record)?;
        summary.add(&record);
        progress.update(summary.ran, summary.failed);
    }
    drop(outcomes);
    progress.finish();
    if interrupted {
        eprintln!("llmm: interrupted; run the same command again to resume");
    }
    summary.report(
        started.elapsed(),
        args.summary_json.as_deref(),
        args.output.as_deref(),
    )?;
    backend.shutdown().await;
    Ok(summary.exit(interrupted))
}

/// The output line of one outcome.
fn outcome_record(outcome: &RequestOutcome<StructuredAnswer, StructuredError>) -> Record {
    let id = Some(outcome.id.to_string());
    match &outcome.result {
        Ok(answer) => Record::from_answer(id, answer, outcome.duration),
        Err(RequestError::Service { source }) => {
            Record::from_structured_error(id, source, outcome.duration)
        }
        Err(error) => {
            let kind = match error {
                RequestError::Timeout { .. } => "timeout",
                RequestError::Cancelled { .. } => "cancelled",
                RequestError::Panicked { .. } => "panicked",
                RequestError::DuplicateId { .. } => "duplicate_id",
                RequestError::NotAdmitted { .. } => BUDGET_EXCEEDED,
                _ => "failed",
            };
            Record::failure(id, kind, crate::exit::chain(error), &[], outcome.duration)
        }
    }
}

/// Ids already in an output file, for resuming.
#[derive(Debug, Default)]
pub(crate) struct DoneIds {
    pub(crate) ids: HashSet<String>,
    /// The file ends in a partial line (an interrupted write): start on a new line.
    pub(crate) needs_newline: bool,
}

pub(crate) fn read_done_ids(path: &Path) -> anyhow::Result<DoneIds> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes)
                .with_context(|| format!("cannot read output {}", path.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DoneIds::default()),
        Err(e) => {
            return Err(usage(format!("cannot read output {}: {e}", path.display())));
        }
    }
    // A line cut off by a crash may end inside a multi-byte character: read bytes, and let
    // such a line (never valid JSON) count as not done.
    let text = String::from_utf8_lossy(&bytes);
    let ids = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v.pointer("/error/kind").and_then(|k| k.as_str()) != Some(BUDGET_EXCEEDED))
        .filter_map(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
        .collect();
    Ok(DoneIds {
        ids,
        needs_newline: !text.is_empty() && !text.ends_with('\n'),
    })
}

/// Where result lines go.
#[derive(Debug)]
pub(crate) enum Output {
    File { file: File, path: PathBuf },
    Stdout,
}

impl Output {
    pub(crate) fn open(
        path: Option<&Path>,
        needs_newline: bool,
        overwrite: bool,
    ) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Stdout);
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if overwrite {
            File::create(path)
                .map_err(|e| usage(format!("cannot open output {}: {e}", path.display())))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| usage(format!("cannot open output {}: {e}", path.display())))?;
        if needs_newline {
            file.seek(SeekFrom::End(0))?;
            file.write_all(b"\n")?;
        }
        Ok(Self::File {
            file,
            path: path.to_owned(),
        })
    }

    /// Writes one whole line with a single write call, then flushes.
    pub(crate) fn write_record(&mut self, record: &Record) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(record).context("cannot serialise a result")?;
        line.push('\n');
        match self {
            Self::File { file, path } => {
                file.write_all(line.as_bytes())
                    .and_then(|()| file.flush())
                    .with_context(|| format!("cannot write to {}", path.display()))?;
            }
            Self::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes())
                    .and_then(|()| out.flush())
                    .context("cannot write to stdout")?;
            }
        }
        Ok(())
    }
}
