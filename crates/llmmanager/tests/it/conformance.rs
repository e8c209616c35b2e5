//! The conformance table: what happens after every kind of failure, as rows that read as rules.
//!
//! Each row names a scenario for the simulator (faults per region, model and call number,
//! scripted replies), a request and a configuration, and what must follow:
//!
//! - the attempt sequence `[(model, region, class)]`, `None` for the attempt that answered;
//! - the outcome: an answer, or an error with the class of its last failed attempt (and, where
//!   the row says so, the reason the call gave up);
//! - the number of answers paid for, counted from the simulator's request log
//!   ([`answers_paid_for`]).
//!
//! Every row runs through the three ways of calling: `LlmManager::converse`,
//! `LlmManager::converse_stream` (consumed with `finish`) and `ParallelLlmManager` with one
//! request, each against its own fresh simulator and manager. The three must agree; the stream
//! path may differ only where the row says so (`stream_expect_*`), for faults that exist only in
//! streams. A row that does not hold reports every path and every difference at once.
//!
//! Unless a row says otherwise it uses the library's defaults: `RetryConfig::standard()`,
//! `HealthConfig::standard()`, `Timeouts::default()`, backoff shortened to milliseconds.
//! `docs/behaviour.md` states the same rules in prose and names the rows that prove them.

use std::sync::Arc;
use std::time::Duration;

use bedrock_messages::{DocumentFormat, Message};
use bedrock_parallel::{BatchRequest, ParallelConfig};
use bedrock_retry::{Clock, ErrorClass, HealthConfig, RetryConfig, SystemClock, TargetHealth};
use bedrock_sim::{RecordedRequest, Scenario, SimHandle, Simulator};
use llmmanager::{
    Auth, CallOptions, ConverseRequest, Error, LlmManager, ParallelLlmManager, Timeouts,
};
use serde_json::{Value, json};

use crate::support::{HAIKU, NOVA_LITE, SECRET, hello};

use ErrorClass::{
    BadRequest, ContentBlocked, Credentials, TargetUnavailable, Throttled, Transient,
};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
const EU: &str = "eu-west-1";

// ---------------------------------------------------------------------------------------------
// Answers paid for
// ---------------------------------------------------------------------------------------------

/// How many of these requests were answered with model output, which is what Bedrock bills.
///
/// Only runtime requests (Converse, ConverseStream) count, and only when the simulator's recorded
/// `outcome` says the model produced output:
///
/// - `ok`: a complete answer;
/// - `stream_cut`, `stream_cut_abrupt`, `stall`: a stream that started answering and then broke;
/// - an exception frame inside a stream, named in lower camel case (`validationException`,
///   `throttlingException`, `modelStreamErrorException`, ...): the answer had started.
///
/// HTTP error shapes (upper camel case: `ThrottlingException`, ...), `connection_reset` and `hang`
/// produced nothing and cost nothing. A slow-headers request abandoned by the client is recorded
/// only when the simulator finally answers, after the call is over, so it does not count either.
fn answers_paid_for(requests: &[RecordedRequest]) -> usize {
    requests
        .iter()
        .filter(|r| r.operation.is_runtime())
        .filter(|r| {
            let o = r.outcome.as_str();
            matches!(o, "ok" | "stream_cut" | "stream_cut_abrupt" | "stall")
                || (o.starts_with(|c: char| c.is_ascii_lowercase()) && o.ends_with("Exception"))
        })
        .count()
}

// ---------------------------------------------------------------------------------------------
// Scenarios, written as the simulator's JSON so that rows can use faults the simulator is still
// learning: a scenario it cannot read makes the row fail with that message, not the build.
// ---------------------------------------------------------------------------------------------

/// A fault rule (`faults[]` in `docs/simulator.md`).
#[derive(Debug, Clone)]
struct Rule(Value);

/// A rule that fires `fault` on every matching runtime call.
fn on(fault: Value) -> Rule {
    Rule(json!({ "fault": fault }))
}

impl Rule {
    fn region(mut self, region: &str) -> Self {
        self.0["region"] = json!(region);
        self
    }

    fn model(mut self, model: &str) -> Self {
        self.0["model"] = json!(model);
        self
    }

    /// Fires only on these 1-based calls among the calls this rule matches.
    fn calls<const N: usize>(mut self, calls: [u64; N]) -> Self {
        self.0["calls"] = json!(calls.to_vec());
        self
    }
}

/// An HTTP error shape with its default message.
fn error(shape: &str) -> Value {
    json!({ "kind": "error", "error": shape })
}

/// An HTTP error shape with a given message.
fn error_saying(shape: &str, message: &str) -> Value {
    json!({ "kind": "error", "error": shape, "message": message })
}

fn connection_reset() -> Value {
    json!({ "kind": "connection_reset" })
}

fn hang() -> Value {
    json!({ "kind": "hang" })
}

fn slow_headers(delay_ms: u64) -> Value {
    json!({ "kind": "slow_headers", "delay_ms": delay_ms })
}

/// Streams only: the body ends after `after_events` events, cleanly or by aborting the connection.
fn stream_cut(after_events: usize, abrupt: bool) -> Value {
    json!({ "kind": "stream_cut", "after_events": after_events, "abrupt": abrupt })
}

/// Streams only: the body ends `before_end` events before its end (1: right before `metadata`,
/// that is after `messageStop`).
fn stream_cut_from_end(before_end: usize, abrupt: bool) -> Value {
    json!({ "kind": "stream_cut", "after_events": before_end, "abrupt": abrupt, "from_end": true })
}

/// Streams only: nothing more after `after_events` events, the connection kept open.
fn stall(after_events: usize) -> Value {
    json!({ "kind": "stall", "after_events": after_events })
}

/// Streams only: a stall `before_end` events before the end (1: right before `metadata`).
fn stall_from_end(before_end: usize) -> Value {
    json!({ "kind": "stall", "after_events": before_end, "from_end": true })
}

/// Streams only: an exception frame (`validationException`, ...) after `after_events` events.
fn stream_exception(after_events: usize, exception: &str) -> Value {
    json!({ "kind": "stream_exception", "after_events": after_events, "exception": exception })
}

/// A scenario under construction.
#[derive(Debug, Clone, Default)]
struct Sim {
    faults: Vec<Value>,
    region_down: Vec<Value>,
    replies: Vec<Value>,
    latency: Option<Value>,
    latency_rules: Vec<Value>,
}

/// A well-behaved simulator, to which rows add faults and replies.
fn scenario() -> Sim {
    Sim::default()
}

impl Sim {
    fn fault(mut self, rule: Rule) -> Self {
        self.faults.push(rule.0);
        self
    }

    /// Every runtime call to `region` fails with `ServiceUnavailableException`.
    fn region_down(mut self, region: &str) -> Self {
        self.region_down.push(json!({ "region": region }));
        self
    }

    /// A scripted reply (`replies[]`), for example raw content blocks.
    fn reply(mut self, reply: Value) -> Self {
        self.replies.push(reply);
        self
    }

    /// Every answer's first token (a Converse answer: the whole answer) comes after `ms`.
    fn latency_ms(mut self, ms: u64) -> Self {
        self.latency = Some(json!({ "time_to_first_token_ms": ms, "tokens_per_second": 0.0 }));
        self
    }

    /// In `region`, the first token comes after `ms` instead.
    fn region_latency_ms(mut self, region: &str, ms: u64) -> Self {
        self.latency_rules.push(json!({
            "region": region,
            "latency": { "time_to_first_token_ms": ms, "tokens_per_second": 0.0 },
        }));
        self
    }

    /// For `model`, the first token comes after `ms` instead.
    fn model_latency_ms(mut self, model: &str, ms: u64) -> Self {
        self.latency_rules.push(json!({
            "model": model,
            "latency": { "time_to_first_token_ms": ms, "tokens_per_second": 0.0 },
        }));
        self
    }

    fn to_json(&self) -> String {
        let mut scenario = json!({
            "faults": self.faults,
            "region_down": self.region_down,
            "replies": self.replies,
            "latency_rules": self.latency_rules,
        });
        if let Some(latency) = &self.latency {
            scenario["latency"] = latency.clone();
        }
        scenario.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// A request with a document, which a model may reject.
fn with_document() -> ConverseRequest {
    ConverseRequest::builder()
        .message(
            Message::user()
                .text("Summarise the notes.")
                .document_bytes(b"Meeting at noon.".to_vec(), DocumentFormat::Txt, "notes")
                .build()
                .expect("valid message"),
        )
        .max_tokens(64)
        .build()
        .expect("valid request")
}

/// A request asking for extended thinking through model-specific fields, next to another field.
fn with_thinking() -> ConverseRequest {
    ConverseRequest::builder()
        .user_text("Think, then say hello.")
        .max_tokens(64)
        .additional_model_request_fields(json!({
            "thinking": { "type": "enabled", "budget_tokens": 1024 },
            "reasoning_config": { "type": "enabled", "max_reasoning_effort": "low" },
            "top_k": 50,
        }))
        .build()
        .expect("valid request")
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

/// One expected attempt: model id, region, and class (`None`: this attempt answered).
type Expected = (&'static str, &'static str, Option<ErrorClass>);

/// The three ways of calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Converse,
    Stream,
    Parallel,
}

impl Path {
    const ALL: [Path; 3] = [Path::Converse, Path::Stream, Path::Parallel];

    fn name(self) -> &'static str {
        match self {
            Path::Converse => "converse",
            Path::Stream => "converse_stream",
            Path::Parallel => "converse_parallel",
        }
    }
}

/// How a call ends.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Answer,
    Error {
        /// `Error::last_class()`.
        last_class: Option<ErrorClass>,
        /// A word the error's give-up reason must contain (`NotRetryable`, `Deadline`, ...).
        give_up: Option<&'static str>,
    },
}

/// What one path must show; `None` fields are not checked (the stream's fall back to the row's).
#[derive(Debug, Clone, Default)]
struct Expect {
    attempts: Option<Vec<Expected>>,
    /// Per attempt: `hedge` for a hedge, `cancelled`/`discarded` for a race's loser, both
    /// (`cancelled hedge`), or empty.
    marks: Option<Vec<&'static str>>,
    outcome: Option<Outcome>,
    paid: Option<usize>,
}

type CheckFn = Arc<dyn Fn(&Seen<'_>) -> Result<(), String> + Send + Sync>;

/// An extra property of a path's last call.
#[derive(Clone)]
struct Check {
    paths: Vec<Path>,
    what: &'static str,
    f: CheckFn,
}

/// One rule, with everything needed to run it.
#[derive(Clone)]
struct Row {
    name: &'static str,
    models: Vec<&'static str>,
    regions: Vec<&'static str>,
    scenario: Sim,
    request: fn() -> ConverseRequest,
    retry: RetryConfig,
    strategy: llmmanager::RetryStrategy,
    health: HealthConfig,
    timeouts: Timeouts,
    prefer: Option<Vec<&'static str>>,
    calls: usize,
    earlier: Vec<(usize, Vec<Expected>)>,
    all: Expect,
    stream: Expect,
    checks: Vec<Check>,
    same_text: bool,
    hedging: Option<llmmanager::Hedging>,
}

impl Row {
    fn new(name: &'static str) -> Self {
        Row {
            name,
            models: vec![HAIKU],
            regions: vec![EAST, WEST],
            scenario: scenario(),
            request: hello,
            retry: RetryConfig::standard(),
            strategy: llmmanager::RetryStrategy::RegionFirst,
            health: HealthConfig::standard(),
            timeouts: Timeouts::default(),
            prefer: None,
            calls: 1,
            earlier: Vec::new(),
            all: Expect::default(),
            stream: Expect::default(),
            checks: Vec::new(),
            same_text: false,
            hedging: None,
        }
    }

    /// Hedges every call after `ms` (no share cap), on every path.
    fn hedge_after_ms(mut self, ms: u64) -> Self {
        self.hedging = Some(llmmanager::Hedging::after(Duration::from_millis(ms)).max_share(1.0));
        self
    }

    /// How each attempt was routed and whether it lost a race (see [`Expect::marks`]).
    fn expect_marks<const N: usize>(mut self, marks: [&'static str; N]) -> Self {
        self.all.marks = Some(marks.to_vec());
        self
    }

    fn stream_expect_marks<const N: usize>(mut self, marks: [&'static str; N]) -> Self {
        self.stream.marks = Some(marks.to_vec());
        self
    }

    fn models<const N: usize>(mut self, models: [&'static str; N]) -> Self {
        self.models = models.to_vec();
        self
    }

    fn regions<const N: usize>(mut self, regions: [&'static str; N]) -> Self {
        self.regions = regions.to_vec();
        self
    }

    fn scenario(mut self, scenario: Sim) -> Self {
        self.scenario = scenario;
        self
    }

    fn request(mut self, request: fn() -> ConverseRequest) -> Self {
        self.request = request;
        self
    }

    fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    fn strategy(mut self, strategy: llmmanager::RetryStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    fn health(mut self, health: HealthConfig) -> Self {
        self.health = health;
        self
    }

    fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Calls with `CallOptions::prefer_regions(regions, true)`; the parallel path gets the same
    /// order through its region list (the one request is assigned these regions first).
    fn prefer_regions<const N: usize>(mut self, regions: [&'static str; N]) -> Self {
        self.prefer = Some(regions.to_vec());
        self
    }

    /// Makes `n` calls on the same manager and simulator; the expectations without a call
    /// number are the last call's, and `expect_paid` holds for every call.
    fn calls(mut self, n: usize) -> Self {
        self.calls = n;
        self
    }

    /// The attempts of an earlier call (1-based) of a row with several calls.
    fn expect_call_attempts<const N: usize>(
        mut self,
        call: usize,
        attempts: [Expected; N],
    ) -> Self {
        self.earlier.push((call, attempts.to_vec()));
        self
    }

    fn expect_attempts<const N: usize>(mut self, attempts: [Expected; N]) -> Self {
        self.all.attempts = Some(attempts.to_vec());
        self
    }

    fn expect_answer(mut self) -> Self {
        self.all.outcome = Some(Outcome::Answer);
        self
    }

    fn expect_error(mut self, last_class: ErrorClass) -> Self {
        self.all.outcome = Some(Outcome::Error {
            last_class: Some(last_class),
            give_up: None,
        });
        self
    }

    /// The error's give-up reason contains `word`, on every path whose outcome is an error.
    fn expect_give_up(mut self, word: &'static str) -> Self {
        for expect in [&mut self.all, &mut self.stream] {
            if let Some(Outcome::Error { give_up, .. }) = &mut expect.outcome {
                *give_up = Some(word);
            }
        }
        self
    }

    fn expect_paid(mut self, n: usize) -> Self {
        self.all.paid = Some(n);
        self
    }

    fn stream_expect_attempts<const N: usize>(mut self, attempts: [Expected; N]) -> Self {
        self.stream.attempts = Some(attempts.to_vec());
        self
    }

    fn stream_expect_error(mut self, last_class: ErrorClass) -> Self {
        self.stream.outcome = Some(Outcome::Error {
            last_class: Some(last_class),
            give_up: None,
        });
        self
    }

    fn stream_expect_paid(mut self, n: usize) -> Self {
        self.stream.paid = Some(n);
        self
    }

    /// The answer's text is the same on every path (no text lost, doubled or padded by recovery).
    fn expect_same_text(mut self) -> Self {
        self.same_text = true;
        self
    }

    /// An extra property of the last call, on every path.
    fn check(
        self,
        what: &'static str,
        f: impl Fn(&Seen<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.check_on(&Path::ALL, what, f)
    }

    /// An extra property of the last call, on the given paths.
    fn check_on(
        mut self,
        paths: &[Path],
        what: &'static str,
        f: impl Fn(&Seen<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.checks.push(Check {
            paths: paths.to_vec(),
            what,
            f: Arc::new(f),
        });
        self
    }

    fn expected(&self, path: Path) -> Expect {
        let mut e = self.all.clone();
        if path == Path::Stream {
            if self.stream.attempts.is_some() {
                e.attempts.clone_from(&self.stream.attempts);
            }
            if self.stream.marks.is_some() {
                e.marks.clone_from(&self.stream.marks);
            }
            if self.stream.outcome.is_some() {
                e.outcome.clone_from(&self.stream.outcome);
            }
            if self.stream.paid.is_some() {
                e.paid = self.stream.paid;
            }
        }
        e
    }

    /// Runs the row on every path and fails with every difference found.
    async fn run(self) {
        let mut problems = Vec::new();
        let mut texts: Vec<(Path, String)> = Vec::new();
        for path in Path::ALL {
            match boxed(run_path(&self, path)).await {
                Ok(run) => {
                    problems.extend(self.compare(path, &run));
                    if let Some(Ok(answer)) = run.calls.last().map(|c| &c.result) {
                        texts.push((path, answer.text.clone()));
                    }
                }
                Err(why) => problems.push(format!("  [{}] could not run: {why}", path.name())),
            }
        }
        if self.same_text
            && let Some((first_path, first)) = texts.first()
        {
            for (path, text) in &texts[1..] {
                if text != first {
                    problems.push(format!(
                        "  [{}] answer text differs from {}:\n      {}: {first:?}\n      {}: {text:?}",
                        path.name(),
                        first_path.name(),
                        first_path.name(),
                        path.name()
                    ));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "row \"{}\" does not hold:\n{}",
            self.name,
            problems.join("\n")
        );
    }

    fn compare(&self, path: Path, run: &PathRun) -> Vec<String> {
        let p = path.name();
        let mut out = Vec::new();
        let expect = self.expected(path);
        for (i, call) in run.calls.iter().enumerate() {
            let number = i + 1;
            let last = number == run.calls.len();
            let label = if run.calls.len() > 1 {
                format!("[{p}, call {number}]")
            } else {
                format!("[{p}]")
            };
            let attempts = if last {
                expect.attempts.clone()
            } else {
                self.earlier
                    .iter()
                    .find(|(n, _)| *n == number)
                    .map(|(_, a)| a.clone())
            };
            if let Some(want) = attempts {
                let want: Vec<(String, String, Option<ErrorClass>)> = want
                    .iter()
                    .map(|(m, r, c)| ((*m).to_owned(), (*r).to_owned(), *c))
                    .collect();
                if want != call.attempts {
                    out.push(format!(
                        "  {label} attempts\n      expected: {}\n      actual:   {}",
                        show_attempts(&want),
                        show_attempts(&call.attempts)
                    ));
                }
            }
            if last
                && let Some(want) = &expect.marks
                && *want != call.marks
            {
                out.push(format!(
                    "  {label} routes and races\n      expected: {want:?}\n      actual:   {:?}",
                    call.marks
                ));
            }
            if let Some(n) = expect.paid
                && call.paid != n
            {
                out.push(format!(
                    "  {label} answers paid for: expected {n}, actual {} (simulator outcomes: {:?})",
                    call.paid,
                    call.sent.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>()
                ));
            }
            if let Some(problem) = backoff_before_an_untried_target(call) {
                out.push(format!("  {label} {problem}"));
            }
            if !last {
                continue;
            }
            if let Some(want) = &expect.outcome
                && let Some(problem) = compare_outcome(want, &call.result)
            {
                out.push(format!("  {label} outcome\n{problem}"));
            }
            let seen = Seen {
                call,
                manager: &run.manager,
            };
            for check in self.checks.iter().filter(|c| c.paths.contains(&path)) {
                if let Err(why) = (check.f)(&seen) {
                    out.push(format!("  {label} {}: {why}", check.what));
                }
            }
        }
        out
    }
}

/// Moving to a target not yet tried in the call never waits; only coming back to one does. (A
/// hedge's delay is the time its attempt went unanswered, not a wait.)
fn backoff_before_an_untried_target(call: &CallRecord) -> Option<String> {
    call.attempts.iter().enumerate().find_map(|(i, (m, r, _))| {
        if call.marks.get(i).is_some_and(|m| m.contains("hedge")) {
            return None;
        }
        let untried = !call.attempts[..i]
            .iter()
            .any(|(pm, pr, _)| pm == m && pr == r);
        let delay = call.delays.get(i).copied().unwrap_or_default();
        (untried && !delay.is_zero()).then(|| {
            format!(
                "attempt {} goes to {} for the first time in this call but waited {delay:?}",
                i + 1,
                show_target(m, r)
            )
        })
    })
}

fn compare_outcome(want: &Outcome, got: &Result<Answered, Failed>) -> Option<String> {
    match (want, got) {
        (Outcome::Answer, Ok(_)) => None,
        (Outcome::Answer, Err(f)) => Some(format!(
            "      expected: an answer\n      actual:   error (last class {}): {}",
            show_class(f.last_class),
            f.display
        )),
        (Outcome::Error { .. }, Ok(a)) => Some(format!(
            "      expected: {}\n      actual:   an answer ({} characters, warnings {:?})",
            show_outcome(want),
            a.text.chars().count(),
            a.warnings
        )),
        (
            Outcome::Error {
                last_class,
                give_up,
            },
            Err(f),
        ) => {
            let class_ok = last_class.is_none_or(|c| f.last_class == Some(c));
            let reason_ok = give_up.is_none_or(|w| f.debug.contains(w));
            (!class_ok || !reason_ok).then(|| {
                format!(
                    "      expected: {}\n      actual:   error (last class {}): {}",
                    show_outcome(want),
                    show_class(f.last_class),
                    f.display
                )
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running a row on one path
// ---------------------------------------------------------------------------------------------

/// An answer, reduced to what rows look at.
#[derive(Debug)]
struct Answered {
    text: String,
    warnings: Vec<String>,
    /// The `Debug` form of the whole response, to find blocks kept as raw JSON.
    debug: String,
}

/// An error, reduced to what rows look at.
#[derive(Debug)]
struct Failed {
    last_class: Option<ErrorClass>,
    /// The `Debug` form, which holds the give-up reason.
    debug: String,
    display: String,
}

/// What one call did.
#[derive(Debug)]
struct CallRecord {
    attempts: Vec<(String, String, Option<ErrorClass>)>,
    delays: Vec<Duration>,
    /// Per attempt, as [`Expect::marks`].
    marks: Vec<String>,
    result: Result<Answered, Failed>,
    /// The runtime requests the simulator received during this call, in order.
    sent: Vec<RecordedRequest>,
    paid: usize,
    elapsed: Duration,
}

/// What a check sees: the last call of a path, and the manager it ran on.
struct Seen<'a> {
    call: &'a CallRecord,
    manager: &'a LlmManager,
}

impl Seen<'_> {
    fn answer(&self) -> Result<&Answered, String> {
        self.call
            .result
            .as_ref()
            .map_err(|f| format!("no answer to look at ({})", f.display))
    }

    /// The bodies sent to `model`, in order.
    fn bodies_to(&self, model: &str) -> Vec<&Value> {
        self.call
            .sent
            .iter()
            .filter(|r| {
                r.base_model_id.as_deref() == Some(model) || r.model_id.as_deref() == Some(model)
            })
            .map(|r| &r.body)
            .collect()
    }
}

struct PathRun {
    calls: Vec<CallRecord>,
    manager: LlmManager,
}

async fn run_path(row: &Row, path: Path) -> Result<PathRun, String> {
    let scenario = Scenario::from_json_str(&row.scenario.to_json())
        .map_err(|e| format!("the simulator does not accept the scenario ({e})"))?;
    let sim = Simulator::start(scenario)
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    let manager = build_manager(row, &sim).await?;
    let clock = SystemClock::new();
    let options = match &row.prefer {
        Some(regions) => CallOptions::prefer_regions(regions.iter().copied(), true),
        None => CallOptions::default(),
    };
    let mut calls = Vec::with_capacity(row.calls);
    for _ in 0..row.calls {
        let before = sim.requests().iter().map(|r| r.seq).max().unwrap_or(0);
        let request = (row.request)();
        let started = clock.now();
        let (attempts, result) = match path {
            // Boxed: the three call futures are deep, and one future holding all three inline
            // overflows the compiler's layout depth.
            Path::Converse => boxed(converse(&manager, &request, &options)).await,
            Path::Stream => boxed(stream(&manager, &request, &options)).await,
            Path::Parallel => boxed(parallel(row, &manager, request)).await?,
        };
        let elapsed = clock.now().saturating_sub(started);
        let sent: Vec<RecordedRequest> = sim
            .requests()
            .into_iter()
            .filter(|r| r.seq > before && r.operation.is_runtime())
            .collect();
        calls.push(CallRecord {
            attempts: attempts
                .iter()
                .map(|a| (a.target.model.clone(), a.target.region.clone(), a.class))
                .collect(),
            delays: attempts.iter().map(|a| a.delay_before).collect(),
            marks: attempts.iter().map(mark).collect(),
            result,
            paid: answers_paid_for(&sent),
            sent,
            elapsed,
        });
    }
    Ok(PathRun { calls, manager })
}

/// How an attempt was routed and whether it lost a race: `[cancelled|discarded] [hedge]`.
fn mark(a: &llmmanager::AttemptRecord) -> String {
    let lost = match a.lost {
        Some(llmmanager::retry::HedgeLoss::Cancelled) => Some("cancelled"),
        Some(_) => Some("discarded"),
        None => None,
    };
    let hedge = (a.route == llmmanager::retry::Route::Hedge).then_some("hedge");
    [lost, hedge]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

fn boxed<'a, T>(
    future: impl std::future::Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> {
    Box::pin(future)
}

async fn build_manager(row: &Row, sim: &SimHandle) -> Result<LlmManager, String> {
    let builder = LlmManager::builder();
    let builder = match &row.hedging {
        Some(hedging) => builder.hedging(hedging.clone()),
        None => builder,
    };
    builder
        .auth(Auth::static_keys("AKIDSIMULATOR", SECRET))
        .endpoint_url(sim.endpoint_url())
        .models(row.models.iter().copied())
        .regions(row.regions.iter().copied())
        .retry(crate::support::quick(row.retry.clone()))
        .strategy(row.strategy)
        .health(row.health.clone())
        .timeouts(row.timeouts)
        .build()
        .await
        .map_err(|e| format!("building the manager: {e}"))
}

type Attempts = Vec<llmmanager::AttemptRecord>;

fn failed(e: &Error) -> Failed {
    Failed {
        last_class: e.last_class(),
        debug: format!("{e:?}"),
        display: clip(&e.to_string()),
    }
}

async fn converse(
    manager: &LlmManager,
    request: &ConverseRequest,
    options: &CallOptions,
) -> (Attempts, Result<Answered, Failed>) {
    match manager.converse_with(request, options).await {
        Ok(r) => (
            r.attempts.clone(),
            Ok(Answered {
                text: r.text(),
                warnings: r.warnings.clone(),
                debug: format!("{r:?}"),
            }),
        ),
        Err(e) => (e.attempts().to_vec(), Err(failed(&e))),
    }
}

async fn stream(
    manager: &LlmManager,
    request: &ConverseRequest,
    options: &CallOptions,
) -> (Attempts, Result<Answered, Failed>) {
    let finished = match manager.converse_stream_with(request, options).await {
        Ok(s) => s.finish().await,
        Err(e) => Err(e),
    };
    match finished {
        Ok(r) => (
            r.attempts.clone(),
            Ok(Answered {
                text: r.text.clone(),
                warnings: r.warnings.clone(),
                debug: format!("{r:?}"),
            }),
        ),
        Err(e) => (e.attempts().to_vec(), Err(failed(&e))),
    }
}

/// One request through a `ParallelLlmManager` made for this call (so its round-robin assignment
/// starts over), sharing the manager's health with the row's other calls.
async fn parallel(
    row: &Row,
    manager: &LlmManager,
    request: ConverseRequest,
) -> Result<(Attempts, Result<Answered, Failed>), String> {
    let mut config = ParallelConfig::default();
    if let Some(preferred) = &row.prefer {
        let mut regions: Vec<&str> = preferred.clone();
        regions.extend(row.regions.iter().filter(|r| !preferred.contains(r)));
        config = config.with_regions(regions);
    }
    let batch = ParallelLlmManager::new(manager.clone(), config)
        .map_err(|e| format!("parallel manager: {e}"))?
        .converse_parallel(vec![BatchRequest::new("r1", request)])
        .await
        .map_err(|e| format!("parallel batch: {e}"))?;
    let outcome = batch
        .into_outcomes()
        .into_iter()
        .next()
        .ok_or("the batch returned no outcome")?;
    Ok(match outcome.result {
        Ok(r) => (
            r.attempts.clone(),
            Ok(Answered {
                text: r.text(),
                warnings: r.warnings.clone(),
                debug: format!("{r:?}"),
            }),
        ),
        Err(e) => match e.service_error() {
            Some(e) => (e.attempts().to_vec(), Err(failed(e))),
            None => (
                Vec::new(),
                Err(Failed {
                    last_class: None,
                    debug: format!("{e:?}"),
                    display: format!("the parallel engine ended the request: {e}"),
                }),
            ),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Showing differences
// ---------------------------------------------------------------------------------------------

fn short_model(model: &str) -> &str {
    match model {
        HAIKU => "haiku",
        NOVA_LITE => "nova-lite",
        other => other,
    }
}

fn show_target(model: &str, region: &str) -> String {
    format!("{}@{region}", short_model(model))
}

fn show_class(class: Option<ErrorClass>) -> String {
    class.map_or_else(|| "none".to_owned(), |c| c.as_str().to_owned())
}

fn show_attempts(attempts: &[(String, String, Option<ErrorClass>)]) -> String {
    if attempts.is_empty() {
        return "(no attempt)".to_owned();
    }
    attempts
        .iter()
        .map(|(m, r, c)| {
            let what = c.map_or("answered", ErrorClass::as_str);
            format!("{} {what}", show_target(m, r))
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn show_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Answer => "an answer".to_owned(),
        Outcome::Error {
            last_class,
            give_up,
        } => {
            let mut s = format!("error (last class {})", show_class(*last_class));
            if let Some(word) = give_up {
                s.push_str(&format!(", giving up with {word}"));
            }
            s
        }
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 400;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

// ---------------------------------------------------------------------------------------------
// Reusable checks
// ---------------------------------------------------------------------------------------------

/// Some warning of the answer mentions every one of `words` (case-insensitive).
fn warns_about(words: &'static [&'static str]) -> impl Fn(&Seen<'_>) -> Result<(), String> {
    move |seen| {
        let answer = seen.answer()?;
        let found = answer.warnings.iter().any(|w| {
            let w = w.to_lowercase();
            words.iter().all(|word| w.contains(&word.to_lowercase()))
        });
        if found {
            Ok(())
        } else {
            Err(format!(
                "no warning mentions {words:?}; warnings: {:?}",
                answer.warnings
            ))
        }
    }
}

/// The answer keeps a block the library does not model (found by name in the response), and says
/// so in a warning.
fn keeps_raw_block(member: &'static str) -> impl Fn(&Seen<'_>) -> Result<(), String> {
    move |seen| {
        let answer = seen.answer()?;
        if !answer.debug.to_lowercase().contains(&member.to_lowercase()) {
            return Err(format!("the `{member}` block is not in the response"));
        }
        if answer.warnings.is_empty() {
            return Err(format!("no warning about the `{member}` block"));
        }
        Ok(())
    }
}

fn health_is(
    model: &'static str,
    region: &'static str,
    want: &'static str,
    ok: fn(TargetHealth) -> bool,
) -> impl Fn(&Seen<'_>) -> Result<(), String> {
    move |seen| {
        let state = seen.manager.health().state(model, region);
        if ok(state) {
            Ok(())
        } else {
            Err(format!(
                "{} should be {want}, is {state:?}",
                show_target(model, region)
            ))
        }
    }
}

fn ends_within(limit: Duration) -> impl Fn(&Seen<'_>) -> Result<(), String> {
    move |seen| {
        if seen.call.elapsed <= limit {
            Ok(())
        } else {
            Err(format!(
                "the call took {:?}, more than {limit:?}",
                seen.call.elapsed
            ))
        }
    }
}

/// Whether a request body holds a document block.
fn has_document(body: &Value) -> bool {
    body.to_string().contains("\"document\"")
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

const BOTH: [&str; 2] = [HAIKU, NOVA_LITE];

fn quick_attempts() -> Timeouts {
    Timeouts::default().with_per_attempt(Duration::from_millis(300))
}

fn quick_idle() -> Timeouts {
    Timeouts::default().with_stream_idle(Duration::from_millis(300))
}

/// Model A fails once in us-east-1 with `shape`; the call goes on to A in us-west-2.
fn first_region_fails_with(name: &'static str, shape: &str, class: ErrorClass) -> Row {
    Row::new(name)
        .models(BOTH)
        .regions([EAST, WEST])
        .scenario(scenario().fault(on(error(shape)).model(HAIKU).region(EAST)))
        .expect_attempts([(HAIKU, EAST, Some(class)), (HAIKU, WEST, None)])
        .expect_answer()
        .expect_paid(1)
}

/// Model A in us-east-1 answers `fault`; the call stops there.
fn call_stops_with(name: &'static str, fault: Value, class: ErrorClass) -> Row {
    Row::new(name)
        .models(BOTH)
        .regions([EAST, WEST])
        .scenario(scenario().fault(on(fault)))
        .expect_attempts([(HAIKU, EAST, Some(class))])
        .expect_error(class)
        .expect_give_up("NotRetryable")
        .expect_paid(0)
}

// --- HTTP error shapes and their classes ---

#[tokio::test]
async fn throttling_moves_on_at_once() {
    first_region_fails_with(
        "ThrottlingException is throttled: the next region is tried at once",
        "ThrottlingException",
        Throttled,
    )
    .run()
    .await;
}

#[tokio::test]
async fn model_not_ready_is_throttled() {
    first_region_fails_with(
        "ModelNotReadyException is throttled: the next region is tried at once",
        "ModelNotReadyException",
        Throttled,
    )
    .run()
    .await;
}

#[tokio::test]
async fn service_quota_exceeded_is_throttled() {
    first_region_fails_with(
        "ServiceQuotaExceededException is throttled: the next region is tried at once",
        "ServiceQuotaExceededException",
        Throttled,
    )
    .run()
    .await;
}

#[tokio::test]
async fn internal_server_error_is_transient() {
    first_region_fails_with(
        "InternalServerException is transient: the next region is tried at once",
        "InternalServerException",
        Transient,
    )
    .run()
    .await;
}

#[tokio::test]
async fn service_unavailable_is_transient() {
    first_region_fails_with(
        "ServiceUnavailableException is transient: the next region is tried at once",
        "ServiceUnavailableException",
        Transient,
    )
    .run()
    .await;
}

#[tokio::test]
async fn model_timeout_is_transient() {
    first_region_fails_with(
        "ModelTimeoutException is transient: the next region is tried at once",
        "ModelTimeoutException",
        Transient,
    )
    .run()
    .await;
}

#[tokio::test]
async fn model_error_is_transient() {
    first_region_fails_with(
        "ModelErrorException is transient: the next region is tried at once",
        "ModelErrorException",
        Transient,
    )
    .run()
    .await;
}

#[tokio::test]
async fn access_denied_makes_the_target_unavailable() {
    first_region_fails_with(
        "AccessDeniedException makes the target unavailable: the next region is tried at once",
        "AccessDeniedException",
        TargetUnavailable,
    )
    .run()
    .await;
}

#[tokio::test]
async fn resource_not_found_makes_the_target_unavailable() {
    first_region_fails_with(
        "ResourceNotFoundException makes the target unavailable: the next region is tried at once",
        "ResourceNotFoundException",
        TargetUnavailable,
    )
    .run()
    .await;
}

#[tokio::test]
async fn an_invalid_model_identifier_makes_the_target_unavailable() {
    Row::new(
        "a ValidationException naming an invalid model identifier makes the target unavailable",
    )
    .models(BOTH)
    .regions([EAST, WEST])
    .scenario(
        scenario().fault(
            on(error_saying(
                "ValidationException",
                "The provided model identifier is invalid.",
            ))
            .model(HAIKU)
            .region(EAST),
        ),
    )
    .expect_attempts([(HAIKU, EAST, Some(TargetUnavailable)), (HAIKU, WEST, None)])
    .expect_answer()
    .expect_paid(1)
    .run()
    .await;
}

#[tokio::test]
async fn an_unavailable_target_is_not_tried_again_in_the_same_call() {
    Row::new("an unavailable target is skipped for the rest of the call, even when retries come back around")
        .models([HAIKU])
        .regions([EAST, WEST])
        .scenario(
            scenario()
                .fault(on(error("AccessDeniedException")).region(EAST))
                .fault(on(error("ThrottlingException")).region(WEST).calls([1])),
        )
        .expect_attempts([
            (HAIKU, EAST, Some(TargetUnavailable)),
            (HAIKU, WEST, Some(Throttled)),
            (HAIKU, WEST, None),
        ])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

#[tokio::test]
async fn a_single_target_is_retried_after_backoff() {
    Row::new("coming back to a target already tried waits for backoff")
        .models([HAIKU])
        .regions([EAST])
        .scenario(scenario().fault(on(error("ThrottlingException")).calls([1])))
        .expect_attempts([(HAIKU, EAST, Some(Throttled)), (HAIKU, EAST, None)])
        .expect_answer()
        .expect_paid(1)
        .check("the second attempt waited", |seen| {
            match seen.call.delays.get(1) {
                Some(d) if !d.is_zero() => Ok(()),
                other => Err(format!(
                    "delays before attempts: {:?} (second: {other:?})",
                    seen.call.delays
                )),
            }
        })
        .run()
        .await;
}

#[tokio::test]
async fn a_bad_request_stops_the_call() {
    call_stops_with(
        "a ValidationException about the request is a bad request: the call stops, model B is not tried",
        error("ValidationException"),
        BadRequest,
    )
    .run()
    .await;
}

#[tokio::test]
async fn blocked_content_stops_the_call() {
    call_stops_with(
        "a ValidationException from a content filter is content blocked: the call stops",
        error_saying(
            "ValidationException",
            "The request was blocked by content filters. Revise the input and try again.",
        ),
        ContentBlocked,
    )
    .run()
    .await;
}

#[tokio::test]
async fn unrecognized_client_stops_after_one_attempt() {
    call_stops_with(
        "UnrecognizedClientException is a credentials problem: one attempt, then the call stops",
        error("UnrecognizedClientException"),
        Credentials,
    )
    .run()
    .await;
}

#[tokio::test]
async fn expired_token_stops_after_one_attempt() {
    call_stops_with(
        "ExpiredTokenException is a credentials problem: one attempt, then the call stops",
        error("ExpiredTokenException"),
        Credentials,
    )
    .run()
    .await;
}

// --- Connection failures and timeouts ---

#[tokio::test]
async fn a_connection_reset_is_transient() {
    Row::new("a connection reset is transient: the next region is tried at once")
        .models(BOTH)
        .regions([EAST, WEST])
        .scenario(scenario().fault(on(connection_reset()).region(EAST)))
        .expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

#[tokio::test]
async fn a_hanging_region_times_out_as_transient() {
    Row::new(
        "a region that never answers times out after the per-attempt timeout and is transient",
    )
    .models(BOTH)
    .regions([EAST, WEST])
    .timeouts(quick_attempts())
    .scenario(scenario().fault(on(hang()).region(EAST)))
    .expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
    .expect_answer()
    .expect_paid(1)
    .run()
    .await;
}

#[tokio::test]
async fn slow_headers_past_the_attempt_timeout_are_transient() {
    Row::new("response headers slower than the per-attempt timeout are transient")
        .models(BOTH)
        .regions([EAST, WEST])
        .timeouts(quick_attempts())
        .scenario(scenario().fault(on(slow_headers(10_000)).region(EAST)))
        .expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

#[tokio::test]
async fn slow_headers_within_the_attempt_timeout_are_an_answer() {
    Row::new("response headers slower than usual but within the per-attempt timeout are an answer")
        .models(BOTH)
        .regions([EAST, WEST])
        .timeouts(quick_attempts())
        .scenario(scenario().fault(on(slow_headers(50)).region(EAST)))
        .expect_attempts([(HAIKU, EAST, None)])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

// --- Exceptions inside a stream (streams only: Converse answers on the first attempt) ---

/// `exception` arrives mid-answer in every ConverseStream to us-east-1.
fn in_stream(name: &'static str, exception: &str) -> Row {
    Row::new(name)
        .models(BOTH)
        .regions([EAST, WEST])
        .scenario(scenario().fault(on(stream_exception(3, exception)).region(EAST)))
        .expect_attempts([(HAIKU, EAST, None)])
        .expect_answer()
        .expect_paid(1)
}

#[tokio::test]
async fn an_in_stream_validation_exception_stops_the_stream() {
    in_stream(
        "an in-stream validationException is a bad request: the stream stops after one paid answer",
        "validationException",
    )
    .stream_expect_attempts([(HAIKU, EAST, Some(BadRequest))])
    .stream_expect_error(BadRequest)
    .stream_expect_paid(1)
    .run()
    .await;
}

#[tokio::test]
async fn an_in_stream_throttling_exception_is_throttled() {
    in_stream(
        "an in-stream throttlingException is throttled: the stream recovers on the next region",
        "throttlingException",
    )
    .stream_expect_attempts([(HAIKU, EAST, Some(Throttled)), (HAIKU, WEST, None)])
    .stream_expect_paid(2)
    .expect_same_text()
    .run()
    .await;
}

#[tokio::test]
async fn an_in_stream_model_stream_error_is_transient() {
    in_stream(
        "an in-stream modelStreamErrorException is transient: the stream recovers on the next region",
        "modelStreamErrorException",
    )
    .stream_expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
    .stream_expect_paid(2)
    .expect_same_text()
    .run()
    .await;
}

#[tokio::test]
async fn an_in_stream_service_unavailable_is_transient() {
    in_stream(
        "an in-stream serviceUnavailableException is transient: the stream recovers on the next region",
        "serviceUnavailableException",
    )
    .stream_expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
    .stream_expect_paid(2)
    .expect_same_text()
    .run()
    .await;
}

#[tokio::test]
async fn an_in_stream_internal_server_error_is_transient() {
    in_stream(
        "an in-stream internalServerException is transient: the stream recovers on the next region",
        "internalServerException",
    )
    .stream_expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
    .stream_expect_paid(2)
    .expect_same_text()
    .run()
    .await;
}

// --- Streams that break: mid-answer is a failure, after messageStop the answer is complete ---

/// `fault` breaks every ConverseStream to us-east-1.
fn broken_stream(name: &'static str, fault: Value) -> Row {
    Row::new(name)
        .models(BOTH)
        .regions([EAST, WEST])
        .timeouts(quick_idle())
        .scenario(scenario().fault(on(fault).region(EAST)))
        .expect_attempts([(HAIKU, EAST, None)])
        .expect_answer()
        .expect_paid(1)
        .expect_same_text()
}

#[tokio::test]
async fn a_clean_cut_mid_answer_recovers_on_the_next_region() {
    broken_stream(
        "a stream that ends cleanly mid-answer is transient and recovers on the next region",
        stream_cut(3, false),
    )
    .stream_expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
    .stream_expect_paid(2)
    .run()
    .await;
}

#[tokio::test]
async fn an_abrupt_cut_mid_answer_recovers_on_the_next_region() {
    broken_stream(
        "a stream whose connection drops mid-answer is transient and recovers on the next region",
        stream_cut(3, true),
    )
    .stream_expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
    .stream_expect_paid(2)
    .run()
    .await;
}

#[tokio::test]
async fn a_stall_mid_answer_recovers_on_the_next_region() {
    broken_stream(
        "a stream that stalls mid-answer past the idle timeout is transient and recovers on the next region",
        stall(3),
    )
    .stream_expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
    .stream_expect_paid(2)
    .run()
    .await;
}

#[tokio::test]
async fn a_stream_continued_after_a_space_has_no_extra_whitespace() {
    // Text deltas carry 12 characters: the cut after two deltas leaves "The sky is blue because ",
    // which ends with a space that the prefill sent to the next region cannot keep.
    Row::new("a stream continued after a cut that ends in a space reads exactly like the uninterrupted answer")
        .models([HAIKU])
        .regions([EAST, WEST])
        .scenario(
            scenario()
                .reply(json!({ "text": "The sky is blue because of Rayleigh scattering." }))
                .fault(on(stream_cut(3, false)).region(EAST)),
        )
        .expect_attempts([(HAIKU, EAST, None)])
        .expect_answer()
        .expect_paid(1)
        .stream_expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
        .stream_expect_paid(2)
        .expect_same_text()
        .run()
        .await;
}

#[tokio::test]
async fn a_clean_cut_after_message_stop_is_a_complete_answer() {
    broken_stream(
        "a stream that ends cleanly after messageStop is complete: one paid answer and a warning",
        stream_cut_from_end(1, false),
    )
    .check_on(&[Path::Stream], "warns about the missing end", |seen| {
        let answer = seen.answer()?;
        if answer.warnings.is_empty() {
            Err("no warning".to_owned())
        } else {
            Ok(())
        }
    })
    .run()
    .await;
}

#[tokio::test]
async fn an_abrupt_cut_after_message_stop_is_a_complete_answer() {
    broken_stream(
        "a stream whose connection drops after messageStop is complete: one paid answer and a warning",
        stream_cut_from_end(1, true),
    )
    .check_on(&[Path::Stream], "warns about the missing end", |seen| {
        let answer = seen.answer()?;
        if answer.warnings.is_empty() {
            Err("no warning".to_owned())
        } else {
            Ok(())
        }
    })
    .run()
    .await;
}

#[tokio::test]
async fn a_stall_after_message_stop_is_a_complete_answer() {
    broken_stream(
        "a stream that stalls after messageStop is complete: one paid answer and a warning",
        stall_from_end(1),
    )
    .check_on(&[Path::Stream], "warns about the missing end", |seen| {
        let answer = seen.answer()?;
        if answer.warnings.is_empty() {
            Err("no warning".to_owned())
        } else {
            Ok(())
        }
    })
    .run()
    .await;
}

// --- Answers with content blocks the library does not model ---

/// Model A answers with `content` (raw Converse content blocks) on every call.
fn unmodelled(name: &'static str, content: Value, member: &'static str) -> Row {
    Row::new(name)
        .models(BOTH)
        .regions([EAST, WEST])
        .scenario(scenario().reply(json!({ "model": HAIKU, "content": content })))
        .expect_attempts([(HAIKU, EAST, None)])
        .expect_answer()
        .expect_paid(1)
        .check_on(
            &[Path::Converse, Path::Parallel],
            "keeps the block as raw JSON, with a warning",
            keeps_raw_block(member),
        )
}

#[tokio::test]
async fn a_search_result_block_is_kept_not_retried() {
    unmodelled(
        "an answer with a searchResult block is an answer: kept as raw JSON with a warning, never retried",
        json!([
            { "text": "Here is what I found." },
            { "searchResult": {
                "source": "https://example.com/sky",
                "title": "Why the sky is blue",
                "content": [{ "text": "Rayleigh scattering." }]
            } }
        ]),
        "searchResult",
    )
    .run()
    .await;
}

#[tokio::test]
async fn an_audio_block_is_kept_not_retried() {
    unmodelled(
        "an answer with an audio block is an answer: kept as raw JSON with a warning, never retried",
        json!([
            { "text": "Listen." },
            { "audio": { "format": "mp3", "source": { "bytes": "SUQzBAAAAAAA" } } }
        ]),
        "audio",
    )
    .run()
    .await;
}

#[tokio::test]
async fn an_unknown_block_is_kept_not_retried() {
    unmodelled(
        "an answer with an unknown kind of content block is an answer: kept as raw JSON with a warning, never retried",
        json!([
            { "text": "Hello." },
            { "futureBlock": { "shape": "not yet invented" } }
        ]),
        "futureBlock",
    )
    .run()
    .await;
}

#[tokio::test]
async fn an_unknown_block_inside_a_tool_result_is_kept_not_retried() {
    unmodelled(
        "an answer with an unknown block nested in a toolResult is an answer: kept as raw JSON with a warning, never retried",
        json!([
            { "text": "Hello." },
            { "toolResult": {
                "toolUseId": "tooluse_nested0000000000000",
                "content": [{ "futureBlock": { "depth": 2 } }]
            } }
        ]),
        "futureBlock",
    )
    .run()
    .await;
}

// --- Feature fallback ---

const NO_DOCUMENTS: &str = "This model doesn't support the document content block that you provided. Try again with a supported content block.";

#[tokio::test]
async fn a_rejected_feature_is_dropped_and_the_same_target_retried() {
    Row::new("a feature the model rejects is dropped and the same target retried at once")
        .models([HAIKU])
        .regions([EAST])
        .request(with_document)
        .scenario(
            scenario().fault(
                on(error_saying("ValidationException", NO_DOCUMENTS))
                    .model(HAIKU)
                    .calls([1]),
            ),
        )
        .expect_attempts([(HAIKU, EAST, Some(BadRequest)), (HAIKU, EAST, None)])
        .expect_answer()
        .expect_paid(1)
        .check("the retry is sent without the document", |seen| {
            let bodies = seen.bodies_to(HAIKU);
            match bodies.as_slice() {
                [first, second] if has_document(first) && !has_document(second) => Ok(()),
                _ => Err(format!(
                    "documents in the bodies sent: {:?}",
                    bodies.iter().map(|b| has_document(b)).collect::<Vec<_>>()
                )),
            }
        })
        .check(
            "warns that documents were dropped, naming the model",
            warns_about(&["document", "haiku"]),
        )
        .run()
        .await;
}

#[tokio::test]
async fn a_feature_dropped_for_one_model_is_kept_for_the_next() {
    Row::new("a feature dropped for model A is still sent to model B")
        .models(BOTH)
        .regions([EAST])
        .request(with_document)
        .scenario(
            scenario()
                .fault(
                    on(error_saying("ValidationException", NO_DOCUMENTS))
                        .model(HAIKU)
                        .calls([1]),
                )
                .fault(
                    on(error("ServiceUnavailableException"))
                        .model(HAIKU)
                        .calls([2]),
                ),
        )
        .expect_attempts([
            (HAIKU, EAST, Some(BadRequest)),
            (HAIKU, EAST, Some(Transient)),
            (NOVA_LITE, EAST, None),
        ])
        .expect_answer()
        .expect_paid(1)
        .check("model B receives the document", |seen| {
            let to_b = seen.bodies_to(NOVA_LITE);
            let to_a = seen.bodies_to(HAIKU);
            if to_b.len() != 1 || !has_document(to_b[0]) {
                return Err(format!(
                    "documents in the bodies sent to {}: {:?}",
                    short_model(NOVA_LITE),
                    to_b.iter().map(|b| has_document(b)).collect::<Vec<_>>()
                ));
            }
            if to_a.get(1).is_some_and(|b| has_document(b)) {
                return Err("model A's retry still carried the document".to_owned());
            }
            Ok(())
        })
        .check(
            "a warning about documents names the model that rejected them, not the one that answered",
            |seen| {
                let answer = seen.answer()?;
                let wrong: Vec<&String> = answer
                    .warnings
                    .iter()
                    .filter(|w| w.to_lowercase().contains("document"))
                    .filter(|w| !w.to_lowercase().contains("haiku") || w.contains(NOVA_LITE))
                    .collect();
                if wrong.is_empty() {
                    Ok(())
                } else {
                    Err(format!("warnings: {wrong:?}"))
                }
            },
        )
        .run()
        .await;
}

#[tokio::test]
async fn dropping_reasoning_removes_the_thinking_settings() {
    Row::new("dropping reasoning also removes the thinking settings from additionalModelRequestFields")
        .models([HAIKU])
        .regions([EAST])
        .request(with_thinking)
        .scenario(scenario().fault(
            on(error_saying(
                "ValidationException",
                "This model doesn't support reasoning. Remove the thinking configuration and try again.",
            ))
            .model(HAIKU)
            .calls([1]),
        ))
        .expect_attempts([(HAIKU, EAST, Some(BadRequest)), (HAIKU, EAST, None)])
        .expect_answer()
        .expect_paid(1)
        .check("the retry has no thinking settings and keeps the rest", |seen| {
            let bodies = seen.bodies_to(HAIKU);
            let Some(retry) = bodies.get(1) else {
                return Err(format!("{} request(s) sent", bodies.len()));
            };
            let fields = &retry["additionalModelRequestFields"];
            if fields.get("thinking").is_some() || fields.get("reasoning_config").is_some() {
                return Err(format!("the retry still sends {fields}"));
            }
            if fields.get("top_k") != Some(&json!(50)) {
                return Err(format!("the retry lost the other fields: {fields}"));
            }
            Ok(())
        })
        .run()
        .await;
}

#[tokio::test]
async fn a_feature_fallback_does_not_use_up_the_default_allowance() {
    Row::new(
        "a feature-fallback retry does not count against every-target-once-plus-three-retries",
    )
    .models([HAIKU])
    .regions([EAST, WEST])
    .request(with_document)
    .scenario(
        scenario()
            .fault(
                on(error_saying("ValidationException", NO_DOCUMENTS))
                    .region(EAST)
                    .calls([1]),
            )
            .fault(on(error("ServiceUnavailableException"))),
    )
    .expect_attempts([
        (HAIKU, EAST, Some(BadRequest)),
        (HAIKU, EAST, Some(Transient)),
        (HAIKU, WEST, Some(Transient)),
        (HAIKU, EAST, Some(Transient)),
        (HAIKU, WEST, Some(Transient)),
        (HAIKU, EAST, Some(Transient)),
    ])
    .expect_error(Transient)
    .expect_paid(0)
    .run()
    .await;
}

// --- Several models, several regions, and how many attempts a call makes ---

#[tokio::test]
async fn model_b_answers_when_model_a_fails_everywhere() {
    Row::new("region-first: model A in every region, then model B")
        .models(BOTH)
        .regions([EAST, WEST, EU])
        .scenario(scenario().fault(on(error("ServiceUnavailableException")).model(HAIKU)))
        .expect_attempts([
            (HAIKU, EAST, Some(Transient)),
            (HAIKU, WEST, Some(Transient)),
            (HAIKU, EU, Some(Transient)),
            (NOVA_LITE, EAST, None),
        ])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

#[tokio::test]
async fn every_target_is_tried_by_default() {
    Row::new("by default every configured target is tried before a call gives up")
        .models(BOTH)
        .regions([EAST, WEST, EU])
        .scenario(
            scenario()
                .fault(on(error("ServiceUnavailableException")).model(HAIKU))
                .fault(
                    on(error("ThrottlingException"))
                        .model(NOVA_LITE)
                        .region(EAST),
                )
                .fault(
                    on(error("InternalServerException"))
                        .model(NOVA_LITE)
                        .region(WEST),
                ),
        )
        .expect_attempts([
            (HAIKU, EAST, Some(Transient)),
            (HAIKU, WEST, Some(Transient)),
            (HAIKU, EU, Some(Transient)),
            (NOVA_LITE, EAST, Some(Throttled)),
            (NOVA_LITE, WEST, Some(Transient)),
            (NOVA_LITE, EU, None),
        ])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

#[tokio::test]
async fn after_every_target_three_retries_cycle_in_order() {
    Row::new("when every target fails, three more attempts cycle through the targets in order, then the call gives up")
        .models(BOTH)
        .regions([EAST, WEST, EU])
        .scenario(scenario().fault(on(error("ServiceUnavailableException"))))
        .expect_attempts([
            (HAIKU, EAST, Some(Transient)),
            (HAIKU, WEST, Some(Transient)),
            (HAIKU, EU, Some(Transient)),
            (NOVA_LITE, EAST, Some(Transient)),
            (NOVA_LITE, WEST, Some(Transient)),
            (NOVA_LITE, EU, Some(Transient)),
            (HAIKU, EAST, Some(Transient)),
            (HAIKU, WEST, Some(Transient)),
            (HAIKU, EU, Some(Transient)),
        ])
        .expect_error(Transient)
        .expect_paid(0)
        .run()
        .await;
}

#[tokio::test]
async fn an_explicit_max_attempts_caps_the_call() {
    Row::new("an explicit max_attempts caps the attempts of a call")
        .models(BOTH)
        .regions([EAST, WEST, EU])
        .retry(crate::support::quick(
            RetryConfig::standard().with_max_attempts(3),
        ))
        .scenario(scenario().fault(on(error("ServiceUnavailableException"))))
        .expect_attempts([
            (HAIKU, EAST, Some(Transient)),
            (HAIKU, WEST, Some(Transient)),
            (HAIKU, EU, Some(Transient)),
        ])
        .expect_error(Transient)
        .expect_paid(0)
        .run()
        .await;
}

#[tokio::test]
async fn model_first_tries_every_model_in_a_region_first() {
    Row::new("model-first: every model in the first region, then the next region")
        .models(BOTH)
        .regions([EAST, WEST])
        .strategy(llmmanager::RetryStrategy::ModelFirst)
        .scenario(scenario().region_down(EAST))
        .expect_attempts([
            (HAIKU, EAST, Some(Transient)),
            (NOVA_LITE, EAST, Some(Transient)),
            (HAIKU, WEST, None),
        ])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

#[tokio::test]
async fn preferred_regions_keep_region_first() {
    Row::new("preferred regions reorder the regions, and region-first still holds")
        .models(BOTH)
        .regions([EAST, WEST])
        .prefer_regions([WEST])
        .scenario(
            scenario()
                .fault(on(error("ServiceUnavailableException")).model(HAIKU))
                .fault(
                    on(error("ServiceUnavailableException"))
                        .model(NOVA_LITE)
                        .region(WEST),
                ),
        )
        .expect_attempts([
            (HAIKU, WEST, Some(Transient)),
            (HAIKU, EAST, Some(Transient)),
            (NOVA_LITE, WEST, Some(Transient)),
            (NOVA_LITE, EAST, None),
        ])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

// --- Target health across calls ---

#[tokio::test]
async fn three_failures_cool_a_region_down() {
    Row::new("three failures in a row cool a target down; the next call starts in the next region")
        .models([HAIKU])
        .regions([EAST, WEST])
        .scenario(scenario().region_down(EAST))
        .calls(4)
        .expect_call_attempts(1, [(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
        .expect_call_attempts(2, [(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
        .expect_call_attempts(3, [(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
        .expect_attempts([(HAIKU, WEST, None)])
        .expect_answer()
        .expect_paid(1)
        .check(
            "us-east-1 is cooling",
            health_is(HAIKU, EAST, "cooling", |h| {
                matches!(h, TargetHealth::Cooling { .. })
            }),
        )
        .run()
        .await;
}

#[tokio::test]
async fn a_cooling_target_only_moves_its_own_model() {
    Row::new("a cooling target goes last for its model only; other models keep their order")
        .models(BOTH)
        .regions([EAST, WEST])
        .health(
            HealthConfig::standard()
                .with_failure_threshold(1)
                .with_cool_down(Duration::from_secs(600)),
        )
        .scenario(
            scenario().fault(
                on(error("ServiceUnavailableException"))
                    .model(HAIKU)
                    .region(EAST),
            ),
        )
        .calls(2)
        .expect_call_attempts(1, [(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, None)])
        .expect_attempts([(HAIKU, WEST, None)])
        .expect_answer()
        .expect_paid(1)
        .check(
            "model B in us-east-1 stays healthy",
            health_is(NOVA_LITE, EAST, "healthy", |h| h == TargetHealth::Healthy),
        )
        .run()
        .await;
}

// --- Deadlines ---

#[tokio::test]
async fn the_deadline_ends_the_call_without_blaming_the_target() {
    Row::new("the total deadline ends the call; the attempt it cut is recorded but not held against its target")
        .models([HAIKU])
        .regions([EAST, WEST])
        .timeouts(Timeouts::default().with_total(Duration::from_millis(400)))
        .health(HealthConfig::standard().with_failure_threshold(1))
        .scenario(scenario().fault(on(hang()).region(EAST)))
        .expect_attempts([(HAIKU, EAST, Some(Transient))])
        .expect_error(Transient)
        .expect_give_up("Deadline")
        .expect_paid(0)
        .check("ends within the deadline", ends_within(Duration::from_millis(750)))
        .check(
            "us-east-1 stays healthy",
            health_is(HAIKU, EAST, "healthy", |h| h == TargetHealth::Healthy),
        )
        .run()
        .await;
}

#[tokio::test]
async fn each_attempt_gets_at_most_the_time_left() {
    Row::new("each attempt gets at most the time left; a per-attempt timeout counts against the target, a deadline cut does not")
        .models([HAIKU])
        .regions([EAST, WEST])
        .timeouts(
            Timeouts::default()
                .with_per_attempt(Duration::from_millis(300))
                .with_total(Duration::from_millis(450)),
        )
        .health(HealthConfig::standard().with_failure_threshold(1))
        .scenario(scenario().fault(on(hang())))
        .expect_attempts([(HAIKU, EAST, Some(Transient)), (HAIKU, WEST, Some(Transient))])
        .expect_error(Transient)
        .expect_give_up("Deadline")
        .expect_paid(0)
        .check("ends within the deadline", ends_within(Duration::from_millis(800)))
        .check(
            "us-east-1, which timed out on its own, is cooling",
            health_is(HAIKU, EAST, "cooling", |h| {
                matches!(h, TargetHealth::Cooling { .. })
            }),
        )
        .check(
            "us-west-2, cut by the deadline, stays healthy",
            health_is(HAIKU, WEST, "healthy", |h| h == TargetHealth::Healthy),
        )
        .run()
        .await;
}

// --- Hedging: a slow attempt races a copy on the next target (streams: to the first event) ---

#[tokio::test]
async fn a_hedge_that_fails_lets_the_original_win() {
    Row::new("a hedge that fails while the attempt it copied is pending is recorded, and that attempt still answers")
        .regions([EAST, WEST])
        .hedge_after_ms(100)
        .scenario(
            scenario()
                .latency_ms(10)
                .region_latency_ms(EAST, 400)
                .fault(on(error("ThrottlingException")).region(WEST)),
        )
        .expect_attempts([(HAIKU, WEST, Some(Throttled)), (HAIKU, EAST, None)])
        .expect_marks(["hedge", ""])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

#[tokio::test]
async fn an_attempt_that_fails_before_the_delay_is_not_hedged_and_the_next_one_may_be() {
    Row::new("an attempt that fails before the hedging delay moves on as without hedging; the call's next attempt, slow, is hedged onto the next untried target")
        .regions([EAST, WEST, EU])
        .hedge_after_ms(100)
        .scenario(
            scenario()
                .latency_ms(10)
                .region_latency_ms(WEST, 600)
                .fault(on(error("ServiceUnavailableException")).region(EAST)),
        )
        .expect_attempts([
            (HAIKU, EAST, Some(Transient)),
            (HAIKU, WEST, None),
            (HAIKU, EU, None),
        ])
        .expect_marks(["", "cancelled", "hedge"])
        .expect_answer()
        .expect_paid(2)
        .run()
        .await;
}

#[tokio::test]
async fn a_hedge_throttled_in_its_stream_lets_the_original_win() {
    Row::new("a hedge whose stream opens with a throttlingException frame is throttled, and the stream it copied goes on alone")
        .regions([EAST, WEST])
        .hedge_after_ms(100)
        .scenario(
            scenario()
                .latency_ms(10)
                .region_latency_ms(EAST, 400)
                .fault(on(stream_exception(0, "throttlingException")).region(WEST)),
        )
        .expect_attempts([(HAIKU, EAST, None), (HAIKU, WEST, None)])
        .expect_marks(["cancelled", "hedge"])
        .stream_expect_attempts([(HAIKU, WEST, Some(Throttled)), (HAIKU, EAST, None)])
        .stream_expect_marks(["hedge", ""])
        .expect_answer()
        .expect_paid(2)
        .expect_same_text()
        .run()
        .await;
}

#[tokio::test]
async fn a_hedge_with_a_model_stream_error_before_content_lets_the_original_win() {
    Row::new("a hedge whose stream fails with modelStreamErrorException after messageStart, before any content, is transient, and the stream it copied goes on alone")
        .regions([EAST, WEST])
        .hedge_after_ms(100)
        .scenario(
            scenario()
                .latency_ms(10)
                .region_latency_ms(EAST, 400)
                .fault(on(stream_exception(1, "modelStreamErrorException")).region(WEST)),
        )
        .expect_attempts([(HAIKU, EAST, None), (HAIKU, WEST, None)])
        .expect_marks(["cancelled", "hedge"])
        .stream_expect_attempts([(HAIKU, WEST, Some(Transient)), (HAIKU, EAST, None)])
        .stream_expect_marks(["hedge", ""])
        .expect_answer()
        .expect_paid(2)
        .expect_same_text()
        .run()
        .await;
}

#[tokio::test]
async fn an_in_stream_validation_exception_of_a_hedge_leaves_the_original_to_answer() {
    Row::new("a hedge whose stream opens with a validationException frame is a bad request for its target only: the stream it copied goes on alone and answers")
        .regions([EAST, WEST])
        .hedge_after_ms(100)
        .scenario(
            scenario()
                .latency_ms(10)
                .region_latency_ms(EAST, 400)
                .fault(on(stream_exception(0, "validationException")).region(WEST)),
        )
        .expect_attempts([(HAIKU, EAST, None), (HAIKU, WEST, None)])
        .expect_marks(["cancelled", "hedge"])
        .stream_expect_attempts([(HAIKU, WEST, Some(BadRequest)), (HAIKU, EAST, None)])
        .stream_expect_marks(["hedge", ""])
        .expect_answer()
        .expect_paid(2)
        .expect_same_text()
        .run()
        .await;
}

/// A short request asking for more output than Claude 3 Haiku allows (4,096 tokens).
fn long_output() -> ConverseRequest {
    ConverseRequest::builder()
        .user_text("Say hello.")
        .max_tokens(5_000)
        .build()
        .expect("valid request")
}

#[tokio::test]
async fn a_hedge_refused_by_its_model_does_not_fail_a_call_the_original_answers() {
    Row::new("a hedge whose model refuses the request (more output than it allows) is recorded as a bad request, and the attempt it copied, whose model takes it, answers: hedging never turns an answer into an error")
        .models([NOVA_LITE, HAIKU])
        .regions([EAST])
        .request(long_output)
        .hedge_after_ms(100)
        .scenario(scenario().latency_ms(10).model_latency_ms(NOVA_LITE, 400))
        .expect_attempts([(HAIKU, EAST, Some(BadRequest)), (NOVA_LITE, EAST, None)])
        .expect_marks(["hedge", ""])
        .expect_answer()
        .expect_paid(1)
        .run()
        .await;
}

#[tokio::test]
async fn the_deadline_ends_a_hedged_race_without_blaming_either_target() {
    Row::new("the total deadline ends a race of two slow attempts: both are recorded as cut, neither is held against its target")
        .regions([EAST, WEST])
        .hedge_after_ms(100)
        .timeouts(Timeouts::default().with_total(Duration::from_millis(500)))
        .health(HealthConfig::standard().with_failure_threshold(1))
        .scenario(scenario().latency_ms(5_000))
        .check("both attempts are cut, in either order", |seen| {
            // The deadline ends both at the same instant; either may be recorded first.
            let mut attempts: Vec<(String, Option<ErrorClass>, String)> = seen
                .call
                .attempts
                .iter()
                .zip(&seen.call.marks)
                .map(|((_, region, class), mark)| (region.clone(), *class, mark.clone()))
                .collect();
            attempts.sort_by(|a, b| a.0.cmp(&b.0));
            let want = vec![
                (EAST.to_owned(), Some(Transient), String::new()),
                (WEST.to_owned(), Some(Transient), "hedge".to_owned()),
            ];
            (attempts == want)
                .then_some(())
                .ok_or_else(|| format!("{attempts:?}"))
        })
        .expect_error(Transient)
        .expect_give_up("Deadline")
        .check("ends within the deadline", ends_within(Duration::from_millis(900)))
        .check(
            "us-east-1 stays healthy",
            health_is(HAIKU, EAST, "healthy", |h| h == TargetHealth::Healthy),
        )
        .check(
            "us-west-2 stays healthy",
            health_is(HAIKU, WEST, "healthy", |h| h == TargetHealth::Healthy),
        )
        .run()
        .await;
}

#[tokio::test]
async fn a_feature_rejected_by_a_hedge_leaves_the_original_to_answer_with_it() {
    Row::new("a hedge whose model rejects a feature does not cancel the attempt it copied: that attempt answers with the feature, and the feature is dropped for the hedge's model only")
        .models(BOTH)
        .regions([EAST])
        .request(with_document)
        .hedge_after_ms(100)
        .scenario(
            scenario()
                .latency_ms(10)
                .model_latency_ms(HAIKU, 400)
                .fault(
                    on(error_saying("ValidationException", NO_DOCUMENTS))
                        .model(NOVA_LITE)
                        .calls([1]),
                ),
        )
        .expect_attempts([(NOVA_LITE, EAST, Some(BadRequest)), (HAIKU, EAST, None)])
        .expect_marks(["hedge", ""])
        .expect_answer()
        .expect_paid(1)
        .check("the answer was asked with the document", |seen| {
            let to_a = seen.bodies_to(HAIKU);
            if to_a.len() == 1 && has_document(to_a[0]) {
                Ok(())
            } else {
                Err(format!("{} bodies to model A", to_a.len()))
            }
        })
        .run()
        .await;
}

#[tokio::test]
async fn a_target_that_rejected_a_feature_as_a_hedge_is_asked_again_without_it() {
    Row::new("when the attempt a hedge copied fails after the hedge's model rejected a feature, that model is asked again at once without the feature")
        .models(BOTH)
        .regions([EAST])
        .request(with_document)
        .hedge_after_ms(100)
        .timeouts(quick_attempts())
        .scenario(
            scenario()
                .fault(on(hang()).model(HAIKU).calls([1]))
                .fault(
                    on(error_saying("ValidationException", NO_DOCUMENTS))
                        .model(NOVA_LITE)
                        .calls([1]),
                ),
        )
        .expect_attempts([
            (NOVA_LITE, EAST, Some(BadRequest)),
            (HAIKU, EAST, Some(Transient)),
            (NOVA_LITE, EAST, None),
        ])
        .expect_marks(["hedge", "", ""])
        .expect_answer()
        .expect_paid(1)
        .check(
            "the answer warns that model B was sent no document",
            warns_about(&["document", NOVA_LITE]),
        )
        .check("model B's second request has no document", |seen| {
            let to_b = seen.bodies_to(NOVA_LITE);
            match to_b.as_slice() {
                [first, second] if has_document(first) && !has_document(second) => Ok(()),
                _ => Err(format!("{} bodies to model B", to_b.len())),
            }
        })
        .run()
        .await;
}
