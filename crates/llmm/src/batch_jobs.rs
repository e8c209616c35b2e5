//! `llmm batch --engine bedrock-batch`: the same input and output lines as the local engine,
//! run as Bedrock batch inference jobs by `bedrock-batch`.
//!
//! Local calls answer in seconds but are bound by this machine and the account's on-demand
//! quotas; batch jobs cost less per token and scale to millions of records, but take minutes
//! to hours. Requests are spread over every configured `--model` in every configured `--region`
//! where the catalog lists batch inference for it, by its base id or its inference profile
//! (a job runs one model in one region; each pair gets jobs of at least the per-job minimum).
//! Models the catalog has no batch data for are used only when no configured pair is known. Resuming works at three levels: ids already in the output are
//! skipped, results already collected come from the engine's local ledger, and the state file
//! (or, without it, the jobs' index objects in S3) lets a rerun over any of the remaining
//! requests poll the jobs that hold them instead of creating new ones.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use bedrock_batch::{
    BatchConfig, BatchEngine, BatchRequest, Limits, PollConfig, RecordResult, Target, output_text,
    s3_client,
};
use bedrock_catalog::{AccessPreference, Catalog, ModelAccess};
use bedrock_sim::{SimHandle, Simulator};
use serde_json::Value;

use crate::backend::{Backend, load_scenario};
use crate::batch::{Output, read_done_ids};
use crate::cli::{BatchArgs, GlobalArgs};
use crate::exit::{Exit, usage};
use crate::input::{Placement, Source};
use crate::record::{ErrorJson, Record, UsageJson, millis};
use crate::summary::Summary;

/// Runs `llmm batch --engine bedrock-batch`.
#[allow(
    clippy::disallowed_methods,
    reason = "the summary reports the batch's wall-clock duration"
)]
pub(crate) async fn run(global: &GlobalArgs, args: BatchArgs) -> anyhow::Result<Exit> {
    let jobs = &args.jobs;
    let (Some(bucket), Some(role_arn)) = (jobs.bucket.clone(), jobs.role_arn.clone()) else {
        return Err(usage(
            "--engine bedrock-batch needs --bucket and --role-arn",
        ));
    };
    let local = global.simulated() || global.endpoint_url.is_some();
    if local && jobs.s3_endpoint_url.is_none() {
        return Err(usage(
            "--engine bedrock-batch with --simulate or --endpoint-url needs --s3-endpoint-url \
             (an S3-compatible server such as moto)",
        ));
    }
    let poll = poll_interval(jobs.poll_seconds)?;
    let catalog = Catalog::bundled().context("cannot load the bundled catalog")?;
    let (mut targets, mut names) = targets(&catalog, global)?;
    let region = targets
        .first()
        .map(|t| t.region.clone())
        .unwrap_or_default();

    let source = Source::open(&args.input)?;
    let ids = source.check()?.all_valid()?;
    let done = match &args.output {
        Some(path) if !args.overwrite => read_done_ids(path)?,
        _ => crate::batch::DoneIds::default(),
    };
    let total_input = ids.len();
    let skipped = ids.iter().filter(|id| done.ids.contains(*id)).count();
    drop(ids);
    if skipped == total_input {
        eprintln!(
            "llmm: nothing to do: all {total_input} request(s) already have a line in the output"
        );
        return Ok(Exit::Success);
    }
    if skipped > 0 {
        eprintln!("llmm: resuming: {skipped} request(s) already in the output are skipped");
    }
    // Lines that name their model or region, placed before anything is uploaded.
    let mut placer = Placer {
        catalog: &catalog,
        regions: global.regions_or_default(),
        models: global.models_or_default(),
        targets: &mut targets,
        names: &mut names,
        moved: Vec::new(),
    };
    let mut pins: HashMap<String, Placement> = HashMap::new();
    for (id, (model, region)) in source.placements()? {
        if done.ids.contains(&id) {
            continue;
        }
        let mut r = BatchRequest::new(id, Value::Null);
        placer.place(&mut r, model.as_deref(), region.as_deref())?;
        pins.insert(r.id, (r.model_id, r.region));
    }
    for m in &placer.moved {
        eprintln!("llmm: {m}");
    }
    // The requests, read from the input each time the engine asks (twice).
    let requests = || {
        source
            .requests(done.ids.clone(), std::collections::HashSet::new())
            .map_err(|e| bedrock_batch::Error::Config {
                message: format!("{e:#}"),
            })
            .map(|it| {
                it.filter_map(|(id, request)| {
                    let body = match request.to_json() {
                        Ok(body) => body,
                        Err(e) => {
                            eprintln!("llmm: request {id:?} cannot be encoded and is skipped: {e}");
                            return None;
                        }
                    };
                    let mut r = BatchRequest::new(id, body);
                    if let Some((model, region)) = pins.get(&r.id) {
                        r.model_id.clone_from(model);
                        r.region.clone_from(region);
                    }
                    Some(r)
                })
            })
    };

    let (sim, sdk) = sdk_config(global, &region, jobs.s3_endpoint_url.as_deref()).await?;
    let s3 = s3_client(&sdk, jobs.s3_endpoint_url.as_deref());
    let state_path = jobs.state_file.clone().unwrap_or_else(|| {
        args.output.as_ref().map_or_else(
            || PathBuf::from("llmm-batch-jobs.json"),
            |o| {
                let mut p = o.clone().into_os_string();
                p.push(".jobs.json");
                PathBuf::from(p)
            },
        )
    });
    let config = BatchConfig {
        prefix: jobs.s3_prefix.clone(),
        limits: Limits {
            min_records_per_job: jobs.min_records_per_job,
            max_records_per_job: jobs.max_records_per_job,
            ..Limits::default()
        },
        poll: PollConfig {
            initial: poll,
            max: poll.max(PollConfig::default().max),
        },
        targets: targets.clone(),
        timeout_hours: jobs.job_timeout_hours,
        ..BatchConfig::new(bucket, role_arn, &state_path)
    };
    let engine = BatchEngine::new(&sdk, s3, config).map_err(|e| usage(e.to_string()))?;
    let places: Vec<String> = targets
        .iter()
        .map(|t| format!("{} in {}", t.model_id, t.region))
        .collect();
    eprintln!(
        "llmm: submitting {} request(s) to Bedrock batch inference ({}); state in {}",
        total_input - skipped,
        places.join(", "),
        state_path.display()
    );
    let started = Instant::now();
    let mut output = Output::open(args.output.as_deref(), done.needs_newline, args.overwrite)?;
    let mut summary = Summary::new(total_input, skipped);
    // Each result is written as soon as the engine has it (and has put it in its ledger).
    let sink = |result: RecordResult| {
        let model = names
            .get(&result.model_id)
            .map_or(result.model_id.as_str(), String::as_str);
        let record = record(&result, model, started.elapsed());
        output
            .write_record(&record)
            .map_err(|e| bedrock_batch::Error::Config {
                message: format!("cannot write the output: {e:#}"),
            })?;
        summary.add(&record);
        Ok(())
    };
    let ctrl_c = tokio::signal::ctrl_c();
    let ran = tokio::select! {
        r = engine.run_with(requests, sink) => r,
        _ = ctrl_c => {
            if jobs.stop_on_interrupt {
                match engine.stop_all().await {
                    Ok(n) => eprintln!(
                        "llmm: interrupted; stopped {n} running job(s); results they finished are collected by the same command"
                    ),
                    Err(e) => eprintln!("llmm: interrupted; stopping the jobs failed: {e}"),
                }
            } else {
                eprintln!(
                    "llmm: interrupted; the jobs keep running in Bedrock: run the same command again to collect them"
                );
            }
            if let Some(sim) = sim {
                sim.shutdown().await;
            }
            return Ok(Exit::SomeFailed);
        }
    };
    if let Err(e) = ran {
        if let Some(sim) = sim {
            sim.shutdown().await;
        }
        return Err(anyhow::Error::new(e).context(
            "the batch engine stopped; run the same command again to resume (results already collected are kept)",
        ));
    }
    summary.report(
        started.elapsed(),
        args.summary_json.as_deref(),
        args.output.as_deref(),
    )?;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(summary.exit(false))
}

/// How a batch job runs `model` in `region`, and whether the catalog's batch-inference data
/// says so. Where the catalog has batch regions for the model, only those count (the id is the
/// base model id or its inference profile, as AWS lists it). A model the catalog has no batch
/// data for is unknown: it falls back to how it is called on demand, marked `false`.
fn job_access(
    catalog: &Catalog,
    model: &str,
    region: &str,
) -> Result<(ModelAccess, bool), bedrock_catalog::Error> {
    match catalog.batch_access(model, region) {
        Ok(access) => Ok((access, true)),
        Err(bedrock_catalog::Error::NoBatchInference { batch_regions, .. })
            if batch_regions.is_empty() =>
        {
            Ok((
                catalog.access(model, region, AccessPreference::default())?,
                false,
            ))
        }
        Err(e) => Err(e),
    }
}

/// The (model, region) pairs that can take requests: every configured model in every
/// configured region where it can run batch inference jobs (from the catalog), with the id a
/// job names (a model id or an inference profile). Pairs the catalog has no batch data for are
/// used only when no configured pair is known to run batch jobs. Also returns the catalog model
/// id of each invoke id, for the output.
///
/// # Errors
/// A usage error naming the pairs that cannot run when none can.
fn targets(
    catalog: &Catalog,
    global: &GlobalArgs,
) -> anyhow::Result<(Vec<Target>, HashMap<String, String>)> {
    let mut found: Vec<(Target, bool)> = Vec::new();
    let mut names = HashMap::new();
    let mut refused = Vec::new();
    for model in global.models_or_default() {
        for region in global.regions_or_default() {
            match job_access(catalog, &model, &region) {
                Ok((access, known)) => {
                    names.insert(access.invoke_id.clone(), access.model_id.clone());
                    let t = Target {
                        model: access.model_id,
                        ..Target::new(access.invoke_id, region)
                    };
                    if !found.iter().any(|(x, _)| x == &t) {
                        found.push((t, known));
                    }
                }
                Err(e) => refused.push(format!("{model} in {region}: {e}")),
            }
        }
    }
    let any_known = found.iter().any(|(_, known)| *known);
    let mut targets = Vec::new();
    // Regions of each model without batch data that are used anyway, for one warning per model.
    let mut unknown: Vec<(String, Vec<String>)> = Vec::new();
    for (t, known) in found {
        if known {
            targets.push(t);
        } else if any_known {
            refused.push(format!(
                "{} in {}: the catalog has no batch-inference regions for it",
                t.model, t.region
            ));
        } else {
            match unknown.iter_mut().find(|(m, _)| *m == t.model) {
                Some((_, regions)) => regions.push(t.region.clone()),
                None => unknown.push((t.model.clone(), vec![t.region.clone()])),
            }
            targets.push(t);
        }
    }
    for (model, regions) in &unknown {
        eprintln!("llmm: {}", unknown_batch_warning(catalog, model, regions));
    }
    if targets.is_empty() {
        return Err(usage(format!(
            "no configured model can run batch inference jobs in a configured region: {}",
            refused.join("; ")
        )));
    }
    for r in &refused {
        eprintln!("llmm: not used for batch jobs: {r}");
    }
    Ok((targets, names))
}

/// The warning for a model the catalog has no batch-inference data for, used in `regions`
/// anyway: its name and id, that Bedrock may refuse its jobs, and what to do about it.
fn unknown_batch_warning(catalog: &Catalog, model: &str, regions: &[String]) -> String {
    let name = catalog
        .resolve(model)
        .map(|m| format!("{} ({model})", m.name))
        .unwrap_or_else(|_| model.to_owned());
    let with_data: Vec<&str> = catalog
        .models()
        .iter()
        .filter(|m| {
            m.output_modalities.iter().any(|o| o == "TEXT")
                && m.capabilities
                    .batch_inference
                    .as_ref()
                    .is_some_and(|b| regions.iter().any(|r| b.regions().contains(r)))
        })
        .map(|m| m.name.as_str())
        .take(4)
        .collect();
    let alternatives = if with_data.is_empty() {
        String::new()
    } else {
        format!(" (for example {})", with_data.join(", "))
    };
    format!(
        "the catalog has no batch-inference data for {name}, so its jobs in {} may be refused \
         by Bedrock; check the model in AWS's table {BATCH_TABLE_URL} and pass a --model and \
         --region it lists there, or a --model the catalog lists in those regions{alternatives}",
        regions.join(", ")
    )
}

/// AWS's table of the models and regions that run batch inference.
const BATCH_TABLE_URL: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html";

/// Places lines that name their own model or region: on a target of the configuration when
/// one fits, otherwise on a new (model, region) target that only such lines use. A model that
/// cannot run in the line's region runs in a configured region that has it (with a note); a
/// line that fits nowhere is a usage error, before anything is uploaded.
struct Placer<'a> {
    catalog: &'a Catalog,
    regions: Vec<String>,
    models: Vec<String>,
    targets: &'a mut Vec<Target>,
    names: &'a mut HashMap<String, String>,
    /// Notes about lines planned elsewhere than they asked, one per (model, region).
    moved: Vec<String>,
}

impl Placer<'_> {
    fn place(
        &mut self,
        r: &mut BatchRequest,
        model: Option<&str>,
        region: Option<&str>,
    ) -> anyhow::Result<()> {
        match (model, region) {
            (Some(m), Some(g)) => match job_access(self.catalog, m, g) {
                Ok((access, _)) => {
                    self.names
                        .insert(access.invoke_id.clone(), access.model_id.clone());
                    *r = r.clone().on(access.invoke_id, g);
                }
                Err(e) => {
                    let base = self.model_targets(m, &r.id)?;
                    let note = format!(
                        "{m} cannot run in {g} ({e}); its lines run in {}",
                        self.regions_of(&base)
                    );
                    if !self.moved.contains(&note) {
                        self.moved.push(note);
                    }
                    r.model_id = Some(base);
                }
            },
            (Some(m), None) => r.model_id = Some(self.model_targets(m, &r.id)?),
            (None, Some(g)) => {
                if !self.targets.iter().any(|t| t.fits(None, Some(g))) {
                    for m in self.models.clone() {
                        self.add(&m, g, true, false);
                    }
                }
                if !self.targets.iter().any(|t| t.fits(None, Some(g))) {
                    return Err(usage(format!(
                        "request {:?}: no configured model can run in {g}",
                        r.id
                    )));
                }
                r.region = Some(g.to_owned());
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Makes sure model `m` has targets (in the configured regions) and returns its base id.
    fn model_targets(&mut self, m: &str, id: &str) -> anyhow::Result<String> {
        let info = self
            .catalog
            .resolve(m)
            .map_err(|e| usage(format!("request {id:?}: {e}")))?;
        let base = info.id.clone();
        if !self.targets.iter().any(|t| t.model == base) {
            for g in self.regions.clone() {
                self.add(m, &g, false, true);
            }
        }
        if !self.targets.iter().any(|t| t.model == base) {
            let batch_regions = info
                .capabilities
                .batch_inference
                .as_ref()
                .map(bedrock_catalog::BatchInference::regions)
                .unwrap_or_default();
            let hint = if batch_regions.is_empty() {
                String::new()
            } else {
                format!(
                    "; it runs batch inference jobs in {}: add one of them with --region",
                    batch_regions.join(", ")
                )
            };
            return Err(usage(format!(
                "request {id:?}: {m} cannot run in any configured region ({}){hint}",
                self.regions.join(", ")
            )));
        }
        Ok(base)
    }

    fn regions_of(&self, base: &str) -> String {
        let regions: Vec<&str> = self
            .targets
            .iter()
            .filter(|t| t.model == base)
            .map(|t| t.region.as_str())
            .collect();
        regions.join(", ")
    }

    fn add(&mut self, m: &str, g: &str, any_model: bool, any_region: bool) {
        if let Ok((access, _)) = job_access(self.catalog, m, g) {
            self.names
                .insert(access.invoke_id.clone(), access.model_id.clone());
            let t = Target {
                model: access.model_id,
                any_model,
                any_region,
                ..Target::new(access.invoke_id, g)
            };
            if !self
                .targets
                .iter()
                .any(|x| x.model_id == t.model_id && x.region == t.region)
            {
                self.targets.push(t);
            }
        }
    }
}

/// The SDK config for the job API: an in-process simulator (with the S3 endpoint put into its
/// scenario), an explicit endpoint, or real AWS.
async fn sdk_config(
    global: &GlobalArgs,
    region: &str,
    s3_endpoint: Option<&str>,
) -> anyhow::Result<(Option<SimHandle>, SdkConfig)> {
    if global.simulated() {
        let name = global.scenario_name();
        let mut scenario = load_scenario(global.scenario.as_deref())?;
        if scenario.s3_endpoint.is_none() {
            scenario.s3_endpoint = s3_endpoint.map(str::to_owned);
        }
        let sim = Simulator::start(scenario)
            .await
            .context("cannot start the simulator")?;
        eprintln!(
            "llmm: simulating Bedrock at {} (scenario: {name})",
            sim.endpoint_url()
        );
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(sim.endpoint_url())
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDLLMMSIMULATOR",
                "llmm-simulator-fake-secret-access-key",
                None,
                None,
                "llmm",
            ))
            .load()
            .await;
        return Ok((Some(sim), sdk));
    }
    let backend = Backend::start(global).await?;
    Ok((None, backend.sdk_config(region).await))
}

/// The output line of one job result, in the local engine's shape.
fn record(result: &RecordResult, model_id: &str, elapsed: Duration) -> Record {
    let mut record = Record {
        id: Some(result.id.clone()),
        ok: false,
        text: None,
        structured: None,
        model: Some(model_id.to_owned()),
        invoke_id: Some(result.model_id.clone()),
        region: Some(result.region.clone()),
        access_method: Some("batch_job".to_owned()),
        stop_reason: None,
        error: None,
        attempts: Vec::new(),
        usage: None,
        cost: None,
        duration_ms: millis(elapsed),
        warnings: Vec::new(),
    };
    match &result.outcome {
        Ok(out) => {
            let n = |k: &str| out.pointer(&format!("/usage/{k}")).and_then(Value::as_u64);
            record.ok = true;
            record.text = Some(output_text(out));
            record.stop_reason = out
                .get("stopReason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            record.usage = Some(UsageJson {
                input_tokens: n("inputTokens").unwrap_or(0),
                output_tokens: n("outputTokens").unwrap_or(0),
                total_tokens: n("totalTokens").unwrap_or(0),
                cache_read_tokens: n("cacheReadInputTokens").unwrap_or(0),
                cache_write_tokens: n("cacheWriteInputTokens").unwrap_or(0),
            });
        }
        Err(e) => {
            let message = match e.code {
                Some(code) => format!("{} (error code {code})", e.message),
                None => e.message.clone(),
            };
            record.error = Some(ErrorJson {
                kind: e.kind.as_str().to_owned(),
                message,
            });
        }
    }
    record.priced()
}

/// The longest first wait between status polls: a day (a batch job runs for at most a week).
const MAX_POLL: Duration = Duration::from_secs(24 * 60 * 60);

/// The first wait between status polls, from `--poll-seconds`.
///
/// # Errors
/// A usage error unless `seconds` is a positive number of seconds up to [`MAX_POLL`].
fn poll_interval(seconds: f64) -> anyhow::Result<Duration> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(poll) if !poll.is_zero() && poll <= MAX_POLL => Ok(poll),
        _ => Err(usage(format!(
            "--poll-seconds must be a positive number of seconds, at most {} (one day); got {seconds}",
            MAX_POLL.as_secs()
        ))),
    }
}

/// Seconds one on-demand request is assumed to take (a short answer), for `--engine auto`.
const LOCAL_SECONDS_PER_REQUEST: f64 = 4.0;

/// Output tokens assumed for a request without `maxTokens`, for `--engine auto`.
const ASSUMED_OUTPUT_TOKENS: u64 = 300;

/// What `--engine auto` decided, and the sentence that says why.
#[derive(Debug)]
pub(crate) struct Choice {
    /// Whether the batch goes to batch inference jobs.
    pub(crate) batch: bool,
    /// The choice with its figures, for stderr.
    pub(crate) line: String,
}

/// Chooses the engine for `--engine auto` from the number of requests still to run, the
/// per-job minimum, how long batch jobs may take against `--max-wait`, and the estimated cost
/// of either way (bundled prices of the first configured model in the first region; tokens
/// estimated at four characters per input token and `maxTokens`, or 300, per answer).
///
/// # Errors
/// Usage errors for bad input or a `--max-wait` that is not a duration.
pub(crate) fn choose(global: &GlobalArgs, args: &BatchArgs) -> anyhow::Result<Choice> {
    let jobs = &args.jobs;
    let max_wait = jobs.max_wait.as_deref().map(parse_wait).transpose()?;
    let source = Source::open(&args.input)?;
    let checked = source.check()?;
    let done = match &args.output {
        Some(path) if !args.overwrite => read_done_ids(path)?,
        _ => crate::batch::DoneIds::default(),
    };
    let (mut n, mut input_tokens, mut output_tokens) = (0u64, 0u64, 0u64);
    for (_, request) in source.requests(done.ids, checked.rejected_lines())? {
        n += 1;
        let text = request.to_json().map(|v| v.to_string()).unwrap_or_default();
        input_tokens += (text.len() as u64).div_ceil(4);
        output_tokens += request
            .inference_config
            .as_ref()
            .and_then(|c| c.max_tokens)
            .map_or(ASSUMED_OUTPUT_TOKENS, u64::from);
    }
    let catalog = Catalog::bundled().context("cannot load the bundled catalog")?;
    let (targets, _) = targets(&catalog, global)?;
    let first = targets.first();
    let prices = llmmanager::cache::PriceTable::bundled().ok();
    let entry = first.and_then(|t| {
        let access = llmmanager::cache::access_of_id(&t.model_id);
        prices
            .as_ref()?
            .lookup(&t.model_id, &t.region, access)
            .cloned()
    });
    let cost = |billing| -> Option<f64> {
        let rates = entry.as_ref()?.rates(billing);
        Some(
            (input_tokens as f64 * rates.input? + output_tokens as f64 * rates.output?)
                / 1_000_000.0,
        )
    };
    let usd = |c: Option<f64>| c.map_or_else(|| "unknown".to_owned(), |c| format!("${c:.2}"));
    let on_demand = cost(llmmanager::cache::Billing::OnDemand);
    let batch = cost(llmmanager::cache::Billing::Batch);
    let job_hours = jobs.job_timeout_hours.unwrap_or(24);
    let local_hours =
        n as f64 * LOCAL_SECONDS_PER_REQUEST / args.concurrency.max(1) as f64 / 3600.0;
    let figures = format!(
        "{n} request(s), about {input_tokens} input and {output_tokens} output tokens; \
         estimated {} as batch jobs (results within {job_hours} h) or {} on demand \
         (about {local_hours:.1} h at concurrency {})",
        usd(batch),
        usd(on_demand),
        args.concurrency
    );
    let reason = if jobs.bucket.is_none() || jobs.role_arn.is_none() {
        Some("batch jobs need --bucket and --role-arn".to_owned())
    } else if n < jobs.min_records_per_job as u64 {
        Some(format!(
            "fewer requests than a batch job's minimum ({})",
            jobs.min_records_per_job
        ))
    } else if let Some(wait) = max_wait
        && wait < Duration::from_secs(u64::try_from(job_hours).unwrap_or(24) * 3600)
    {
        Some(format!(
            "a batch job may take up to {job_hours} h, more than --max-wait ({} h)",
            wait.as_secs_f64() / 3600.0
        ))
    } else if batch.is_none() && on_demand.is_some() {
        Some("no batch price is known for the model".to_owned())
    } else {
        None
    };
    Ok(match reason {
        Some(why) => Choice {
            batch: false,
            line: format!("--engine auto chose local: {why}; {figures}"),
        },
        None => Choice {
            batch: true,
            line: format!("--engine auto chose bedrock-batch: {figures}"),
        },
    })
}

/// A `--max-wait` duration: a number of seconds, or a number with `s`, `m`, `h` or `d`.
fn parse_wait(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c),
        _ => (t, 's'),
    };
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86_400.0,
        _ => f64::NAN,
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v * scale).ok())
        .ok_or_else(|| {
            usage(format!(
                "--max-wait must be a duration such as 90m, 6h or 2d; got {text:?}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_waits() {
        assert_eq!(parse_wait("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_wait("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_wait("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_wait("2d").unwrap(), Duration::from_secs(172_800));
        for bad in ["", "h", "-1h", "3w", "1e400h"] {
            assert!(parse_wait(bad).is_err(), "{bad}");
        }
    }
}
