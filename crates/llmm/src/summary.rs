//! The end-of-batch summary: success rate, durations, per-region attempts and answers, tokens,
//! and what the answers cost (total, per model, and what the prompt cache saved).
//!
//! Built from the output records of this run, so it describes exactly what was written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use bedrock_parallel::DurationStats;
use serde::Serialize;
use serde_json::{Value, json};

use crate::exit::Exit;
use crate::record::{Record, millis};

/// Counts for one region.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct RegionLine {
    /// Attempts sent to the region.
    pub(crate) attempts: usize,
    /// Of those, throttled ones.
    pub(crate) throttled: usize,
    /// Of those, other failures.
    #[serde(rename = "other_failures")]
    pub(crate) failed: usize,
    /// Requests answered by the region.
    pub(crate) answered: usize,
}

/// What the answers of one model cost.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub(crate) struct ModelCost {
    /// Answers with a price.
    pub(crate) priced: usize,
    /// Answers without one (their cost is unknown, not 0).
    pub(crate) unpriced: usize,
    /// US dollars over the priced answers.
    pub(crate) usd: f64,
    /// What the prompt cache saved over the priced answers, in US dollars.
    pub(crate) cache_savings_usd: f64,
}

/// Accumulates records into a summary.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    /// Requests in the input.
    pub(crate) total_input: usize,
    /// Requests skipped because their id was already in the output.
    pub(crate) skipped: usize,
    /// Requests run.
    pub(crate) ran: usize,
    /// Of those, successful.
    pub(crate) succeeded: usize,
    /// Of those, failed.
    pub(crate) failed: usize,
    durations: Vec<Duration>,
    /// Attempts over every request.
    pub(crate) attempts: usize,
    /// Per region.
    pub(crate) regions: BTreeMap<String, RegionLine>,
    /// Failures by error kind.
    pub(crate) failures_by_kind: BTreeMap<String, usize>,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    /// Cost per model that answered.
    costs: BTreeMap<String, ModelCost>,
    /// The price entries used, as (source, date).
    price_sources: std::collections::BTreeSet<(String, String)>,
    /// Failed requests whose last attempt failed for credentials.
    failed_for_credentials: usize,
    /// Failed requests none of whose attempts connected.
    failed_unreachable: usize,
    /// The `--max-cost` budget, if given.
    pub(crate) max_cost_usd: Option<f64>,
    /// Requests not sent because they would have passed the budget (not counted as run).
    pub(crate) budget_exceeded: usize,
}

impl Summary {
    /// An empty summary for an input of `total_input` requests, `skipped` of them already done.
    pub(crate) fn new(total_input: usize, skipped: usize) -> Self {
        Self {
            total_input,
            skipped,
            ..Self::default()
        }
    }

    /// Adds one finished request.
    pub(crate) fn add(&mut self, record: &Record) {
        if record
            .error
            .as_ref()
            .is_some_and(|e| e.kind == crate::batch::BUDGET_EXCEEDED)
        {
            self.budget_exceeded += 1;
            return;
        }
        self.ran += 1;
        self.durations
            .push(Duration::from_millis(record.duration_ms));
        self.attempts += record.attempts.len();
        for attempt in &record.attempts {
            let line = self.regions.entry(attempt.region.clone()).or_default();
            line.attempts += 1;
            match attempt.outcome.as_str() {
                "ok" => {}
                "throttled" => line.throttled += 1,
                _ => line.failed += 1,
            }
        }
        if record.ok {
            self.succeeded += 1;
            if let Some(region) = &record.region {
                self.regions.entry(region.clone()).or_default().answered += 1;
            }
            if let Some(u) = record.usage {
                self.input_tokens += u.input_tokens;
                self.output_tokens += u.output_tokens;
                self.cache_read_tokens += u.cache_read_tokens;
                self.cache_write_tokens += u.cache_write_tokens;
            }
            let model = record.model.clone().unwrap_or_default();
            let line = self.costs.entry(model).or_default();
            match &record.cost {
                Some(cost) => {
                    line.priced += 1;
                    line.usd += cost.usd;
                    line.cache_savings_usd += cost.cache_savings_usd.unwrap_or(0.0);
                    self.price_sources
                        .insert((cost.price.source.clone(), cost.price.date.clone()));
                }
                None => line.unpriced += 1,
            }
        } else {
            self.failed += 1;
            if record
                .attempts
                .last()
                .is_some_and(|a| a.outcome == "credentials")
            {
                self.failed_for_credentials += 1;
            }
            if !record.attempts.is_empty()
                && record.attempts.iter().all(|a| {
                    a.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("dispatch failure"))
                })
            {
                self.failed_unreachable += 1;
            }
            let kind = record
                .error
                .as_ref()
                .map_or_else(|| "unknown".to_owned(), |e| e.kind.clone());
            *self.failures_by_kind.entry(kind).or_default() += 1;
        }
    }

    /// The end of a batch, whichever engine ran it: the summary on stderr, the JSON summary
    /// written to `summary_json`, and the output file named.
    pub(crate) fn report(
        &self,
        elapsed: Duration,
        summary_json: Option<&Path>,
        output: Option<&Path>,
    ) -> anyhow::Result<()> {
        eprint!("{}", self.render(elapsed));
        match self.exit(false) {
            Exit::Credentials => eprintln!(
                "error: every request failed for credentials\n  to fix: {}",
                crate::exit::CREDENTIALS_ADVICE
            ),
            Exit::Unreachable => eprintln!(
                "error: no request reached Bedrock: every attempt failed to connect\n  to fix: \
                 check --endpoint-url if given, else the network connection, any proxy \
                 (HTTPS_PROXY) and the regions (-r)"
            ),
            _ => {}
        }
        if let Some(path) = summary_json {
            let text = serde_json::to_string_pretty(&self.to_json(elapsed))
                .context("cannot serialise the summary")?;
            std::fs::write(path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(path) = output {
            eprintln!("  output: {}", path.display());
        }
        Ok(())
    }

    /// The exit code of the batch: success only if nothing failed, no request was left unsent
    /// by the budget, and the run was not interrupted; if requests ran and none succeeded, credentials when every request failed
    /// for credentials, unreachable when none connected, failed otherwise; some failed otherwise.
    pub(crate) fn exit(&self, interrupted: bool) -> Exit {
        if self.failed == 0 && self.budget_exceeded == 0 && !interrupted {
            Exit::Success
        } else if self.succeeded == 0 && self.ran > 0 {
            if self.failed_for_credentials == self.failed {
                Exit::Credentials
            } else if self.failed_unreachable == self.failed {
                Exit::Unreachable
            } else {
                Exit::Failed
            }
        } else {
            Exit::SomeFailed
        }
    }

    /// The cost of every priced answer, what the cache saved, and how many answers had no
    /// price; `None` when nothing was answered.
    fn cost_totals(&self) -> Option<(f64, f64, usize)> {
        if self.costs.is_empty() {
            return None;
        }
        Some(self.costs.values().fold((0.0, 0.0, 0), |(u, s, n), c| {
            (u + c.usd, s + c.cache_savings_usd, n + c.unpriced)
        }))
    }

    /// The cost section of the JSON summary: `usd` is `null` when no answer had a price.
    fn cost_json(&self) -> Value {
        let Some((usd, savings, unpriced)) = self.cost_totals() else {
            return Value::Null;
        };
        let priced = self.costs.values().any(|c| c.priced > 0);
        let prices: Vec<Value> = self
            .price_sources
            .iter()
            .map(|(source, date)| json!({ "source": source, "date": date }))
            .collect();
        json!({
            "usd": priced.then_some(usd),
            "cache_savings_usd": priced.then_some(savings),
            "unpriced_answers": unpriced,
            "by_model": self.costs,
            "prices": prices,
        })
    }

    /// The summary as JSON, for `--summary-json`.
    pub(crate) fn to_json(&self, elapsed: Duration) -> Value {
        let d = DurationStats::from_durations(self.durations.clone());
        let secs = elapsed.as_secs_f64();
        json!({
            "requests": self.total_input,
            "skipped": self.skipped,
            "ran": self.ran,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "success_rate": if self.ran == 0 { 1.0 } else { self.succeeded as f64 / self.ran as f64 },
            "elapsed_ms": millis(elapsed),
            "requests_per_second": if secs > 0.0 { self.ran as f64 / secs } else { 0.0 },
            "duration_ms": { "p50": millis(d.p50), "p95": millis(d.p95), "max": millis(d.max) },
            "attempts": self.attempts,
            "regions": self.regions,
            "failures": self.failures_by_kind,
            "tokens": {
                "input": self.input_tokens,
                "output": self.output_tokens,
                "cache_read": self.cache_read_tokens,
                "cache_write": self.cache_write_tokens,
            },
            "cost": self.cost_json(),
            "max_cost_usd": self.max_cost_usd,
            "budget_exceeded": self.budget_exceeded,
        })
    }

    /// The summary text, several lines, for stderr.
    pub(crate) fn render(&self, elapsed: Duration) -> String {
        let mut out = String::new();
        let rate = if self.ran == 0 {
            100.0
        } else {
            self.succeeded as f64 * 100.0 / self.ran as f64
        };
        let secs = elapsed.as_secs_f64();
        let throughput = if secs > 0.0 {
            self.ran as f64 / secs
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "summary: {} of {} request(s) run, {} succeeded, {} failed ({rate:.1}% success) in {secs:.2}s ({throughput:.1} req/s); {} skipped as already done",
            self.ran, self.total_input, self.succeeded, self.failed, self.skipped
        );
        if let Some(limit) = self.max_cost_usd {
            let _ = writeln!(
                out,
                "  budget: ${limit:.6}; {} request(s) not sent as they would pass it \
                 (budget_exceeded lines){}",
                self.budget_exceeded,
                if self.budget_exceeded > 0 {
                    "; run the same command with a larger --max-cost to send them"
                } else {
                    ""
                }
            );
        }
        if !self.failures_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .failures_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(out, "  failures: {}", kinds.join(", "));
        }
        let d = DurationStats::from_durations(self.durations.clone());
        let _ = writeln!(
            out,
            "  duration: p50 {} ms, p95 {} ms, max {} ms",
            millis(d.p50),
            millis(d.p95),
            millis(d.max)
        );
        let _ = writeln!(
            out,
            "  attempts: {} ({} beyond the first per request)",
            self.attempts,
            self.attempts.saturating_sub(self.ran)
        );
        for (region, line) in &self.regions {
            let _ = writeln!(
                out,
                "  region {region:<16} answered {:>5}  attempts {:>5}  throttled {:>4}  other failures {:>4}",
                line.answered, line.attempts, line.throttled, line.failed
            );
        }
        let _ = writeln!(
            out,
            "  tokens: input {}, output {}, cache read {}, cache write {}",
            self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_write_tokens
        );
        if let Some((usd, savings, unpriced)) = self.cost_totals() {
            let unpriced = if unpriced == 0 {
                String::new()
            } else {
                format!("; {unpriced} answer(s) without a price, not counted")
            };
            let _ = writeln!(
                out,
                "  cost: ${usd:.6} (prompt cache saved ${savings:.6}){unpriced}"
            );
            for (model, line) in &self.costs {
                let unknown = if line.unpriced == 0 {
                    String::new()
                } else {
                    format!(", {} without a price", line.unpriced)
                };
                let _ = writeln!(
                    out,
                    "  cost {model}: ${:.6} for {} answer(s){unknown}",
                    line.usd, line.priced
                );
            }
        }
        out
    }
}
