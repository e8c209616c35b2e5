//! `llmm batch --estimate`: what a batch would cost and how long it would take, sending nothing.
//!
//! No client is built and nothing touches the network: the input is read, each line's tokens
//! are estimated (input from its content; output from its `maxTokens`, else the model's largest
//! output from the catalog, else an assumed length), and priced at the bundled prices of the
//! target the line would go to first: with `--engine local`, the first configured model served in
//! the region the engine would assign it (regions taken in turn), on demand; with
//! `--engine bedrock-batch`, the first configured model in the first configured region, at the
//! batch price. The time follows from `--quota-rpm`/`--quota-tpm` when given.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context as _;
use bedrock_catalog::{AccessPreference, Catalog, ModelAccess};
use llmmanager::budget::TokenEstimate;
use llmmanager::cache::Billing;
use serde::Serialize;

use crate::batch::read_done_ids;
use crate::cli::{BatchArgs, GlobalArgs};
use crate::exit::{Exit, usage};
use crate::input::Source;

/// Where the lines of one engine go, and what they are estimated to cost there.
#[derive(Debug, Default, Serialize)]
struct EngineEstimate {
    /// US dollars over the priced lines; `None` when no line has a price.
    usd: Option<f64>,
    /// Lines whose target has no price (not counted in `usd`).
    unpriced_requests: usize,
    /// The targets, with the lines each would take.
    targets: Vec<TargetLine>,
}

#[derive(Debug, Serialize)]
struct TargetLine {
    model: String,
    invoke_id: String,
    region: String,
    access_method: String,
    requests: usize,
}

impl EngineEstimate {
    fn add(&mut self, target: usize, usd: Option<f64>) {
        match usd {
            Some(usd) => *self.usd.get_or_insert(0.0) += usd,
            None => self.unpriced_requests += 1,
        }
        if let Some(line) = self.targets.get_mut(target) {
            line.requests += 1;
        }
    }
}

/// The whole estimate, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Estimate {
    /// Lines that would be sent.
    requests: usize,
    /// Lines skipped as already in the output.
    skipped: usize,
    /// Lines that would be written as `invalid_input` without being sent.
    invalid: usize,
    input_tokens: u64,
    /// An upper bound: each line's largest answer.
    output_tokens: u64,
    /// Lines by where their output tokens come from (`max_tokens`, `model_maximum`,
    /// `assumed`).
    output_tokens_from: BTreeMap<&'static str, usize>,
    local: EngineEstimate,
    bedrock_batch: EngineEstimate,
    /// The longest a batch job may run, in hours.
    bedrock_batch_max_hours: i32,
    /// Quotas per model and region, as given.
    quota_rpm: Option<u64>,
    quota_tpm: Option<u64>,
    /// Minutes the local engine needs at the quotas over its regions; `None` when no quota is
    /// given.
    local_minutes: Option<f64>,
    /// What bounds `local_minutes`: `requests` or `tokens`.
    local_bound_by: Option<&'static str>,
}

/// One target: where a line is sent and the model's largest output.
struct Target {
    access: ModelAccess,
    max_output: Option<u32>,
}

impl Target {
    fn line(&self) -> TargetLine {
        TargetLine {
            model: self.access.model_id.clone(),
            invoke_id: self.access.invoke_id.clone(),
            region: self.access.region.clone(),
            access_method: self.access.method.to_string(),
            requests: 0,
        }
    }

    fn usd(&self, billing: Billing, tokens: &TokenEstimate) -> Option<f64> {
        llmmanager::cost_of(
            &self.access.invoke_id,
            &self.access.region,
            self.access.method,
            billing,
            &tokens.usage(),
        )
        .map(|c| c.usd)
    }
}

/// Runs `llmm batch --estimate`.
///
/// # Errors
/// Usage errors for unreadable input or when no configured model runs in a configured region.
pub(crate) fn run(global: &GlobalArgs, args: &BatchArgs) -> anyhow::Result<Exit> {
    let source = Source::open(&args.input)?;
    let checked = source.check()?;
    let done = match &args.output {
        Some(path) if !args.overwrite => read_done_ids(path)?,
        _ => crate::batch::DoneIds::default(),
    };
    let invalid = checked
        .rejected
        .iter()
        .filter(|r| !done.ids.contains(&r.id))
        .count();
    let skipped = checked
        .ids
        .iter()
        .filter(|id| done.ids.contains(*id))
        .count()
        + checked.rejected.len()
        - invalid;
    let rejected_lines = checked.rejected_lines();
    let catalog = Catalog::bundled().context("cannot load the bundled catalog")?;
    let local = local_targets(&catalog, global)?;
    let batch_target = local.first().map(|t| Target {
        access: t.access.clone(),
        max_output: t.max_output,
    });
    let mut estimate = Estimate {
        requests: 0,
        skipped,
        invalid,
        input_tokens: 0,
        output_tokens: 0,
        output_tokens_from: BTreeMap::new(),
        local: EngineEstimate {
            targets: local.iter().map(Target::line).collect(),
            ..EngineEstimate::default()
        },
        bedrock_batch: EngineEstimate {
            targets: batch_target.iter().map(Target::line).collect(),
            ..EngineEstimate::default()
        },
        bedrock_batch_max_hours: args.jobs.job_timeout_hours.unwrap_or(24),
        quota_rpm: global.quota_rpm,
        quota_tpm: global.quota_tpm,
        local_minutes: None,
        local_bound_by: None,
    };
    for (i, (_, request)) in source.requests(done.ids, rejected_lines)?.enumerate() {
        let slot = i % local.len().max(1);
        let Some(target) = local.get(slot) else {
            break;
        };
        let tokens = TokenEstimate::of(&request, None, target.max_output);
        estimate.requests += 1;
        estimate.input_tokens += tokens.input_tokens;
        estimate.output_tokens += tokens.output_tokens;
        *estimate
            .output_tokens_from
            .entry(tokens.output_from.as_str())
            .or_default() += 1;
        estimate
            .local
            .add(slot, target.usd(Billing::OnDemand, &tokens));
        if let Some(batch) = &batch_target {
            let tokens = TokenEstimate::of(&request, None, batch.max_output);
            estimate
                .bedrock_batch
                .add(0, batch.usd(Billing::Batch, &tokens));
        }
    }
    let regions = local.len().max(1) as f64;
    let by_requests = global
        .quota_rpm
        .map(|rpm| estimate.requests as f64 / (rpm.max(1) as f64 * regions));
    let by_tokens = global.quota_tpm.map(|tpm| {
        (estimate.input_tokens + estimate.output_tokens) as f64 / (tpm.max(1) as f64 * regions)
    });
    (estimate.local_minutes, estimate.local_bound_by) = match (by_requests, by_tokens) {
        (Some(r), Some(t)) if t > r => (Some(t), Some("tokens")),
        (Some(r), _) => (Some(r), Some("requests")),
        (None, Some(t)) => (Some(t), Some("tokens")),
        (None, None) => (None, None),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&estimate).context("cannot serialise")?;
        println!("{text}");
    } else {
        print!("{}", render(&estimate));
    }
    Ok(Exit::Success)
}

/// Per configured region (in order), the first configured model served there.
fn local_targets(catalog: &Catalog, global: &GlobalArgs) -> anyhow::Result<Vec<Target>> {
    let models = global.models_or_default();
    let mut targets = Vec::new();
    for region in global.regions_or_default() {
        let found = models.iter().find_map(|model| {
            let access = catalog
                .access(model, &region, AccessPreference::default())
                .ok()?;
            let max_output = catalog
                .resolve(model)
                .ok()
                .and_then(|m| m.capabilities.max_output_tokens);
            Some(Target { access, max_output })
        });
        targets.extend(found);
    }
    if targets.is_empty() {
        return Err(usage(format!(
            "no configured model ({}) is served in a configured region ({})",
            models.join(", "),
            global.regions_or_default().join(", ")
        )));
    }
    Ok(targets)
}

fn usd(value: Option<f64>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |v| format!("${v:.6}"))
}

fn render(e: &Estimate) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "estimate (nothing was sent): {} request(s) to send, {} already in the output, {} invalid",
        e.requests, e.skipped, e.invalid
    );
    let from: Vec<String> = e
        .output_tokens_from
        .iter()
        .map(|(k, n)| {
            let what = match *k {
                "max_tokens" => "their maxTokens".to_owned(),
                "model_maximum" => "the model's largest output".to_owned(),
                _ => format!(
                    "an assumed {} tokens",
                    llmmanager::budget::ASSUMED_OUTPUT_TOKENS
                ),
            };
            format!("{n} from {what}")
        })
        .collect();
    let _ = writeln!(
        out,
        "  tokens: about {} input, at most {} output ({})",
        e.input_tokens,
        e.output_tokens,
        if from.is_empty() {
            "no request".to_owned()
        } else {
            from.join(", ")
        }
    );
    for (name, engine, billing) in [
        ("local", &e.local, "on demand"),
        ("bedrock-batch", &e.bedrock_batch, "at the batch price"),
    ] {
        let targets: Vec<String> = engine
            .targets
            .iter()
            .map(|t| format!("{} in {}", t.invoke_id, t.region))
            .collect();
        let unpriced = if engine.unpriced_requests == 0 {
            String::new()
        } else {
            format!(
                "; {} request(s) without a price, not counted",
                engine.unpriced_requests
            )
        };
        let _ = writeln!(
            out,
            "  --engine {name}: at most {} {billing} ({}){unpriced}",
            usd(engine.usd),
            targets.join(", ")
        );
    }
    match (e.local_minutes, e.local_bound_by) {
        (Some(minutes), Some(bound)) => {
            let quotas: Vec<String> = e
                .quota_rpm
                .map(|r| format!("{r} requests/min"))
                .into_iter()
                .chain(e.quota_tpm.map(|t| format!("{t} tokens/min")))
                .collect();
            let _ = writeln!(
                out,
                "  time with --engine local: about {minutes:.1} min at {} per model and region \
                 over {} region(s), bound by {bound}",
                quotas.join(" and "),
                e.local.targets.len()
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  time with --engine local: unknown (give --quota-rpm and/or --quota-tpm)"
            );
        }
    }
    let _ = writeln!(
        out,
        "  time with --engine bedrock-batch: up to {} h per job, not bound by on-demand quotas",
        e.bedrock_batch_max_hours
    );
    let _ = writeln!(
        out,
        "  output tokens and so costs are upper bounds (answers are usually shorter than their \
         limit)"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_priced_line_adds_to_the_total_and_an_unpriced_one_is_counted_apart() {
        let mut e = EngineEstimate {
            targets: vec![TargetLine {
                model: "m".into(),
                invoke_id: "m".into(),
                region: "r".into(),
                access_method: "direct".into(),
                requests: 0,
            }],
            ..EngineEstimate::default()
        };
        assert_eq!(e.usd, None);
        e.add(0, Some(0.5));
        e.add(0, None);
        e.add(0, Some(0.25));
        assert_eq!(e.usd, Some(0.75));
        assert_eq!(e.unpriced_requests, 1);
        assert_eq!(e.targets[0].requests, 3);
    }
}
