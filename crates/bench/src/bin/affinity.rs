//! Cache affinity on a conversation batch, on the simulator (which keeps a prompt cache per
//! region).
//!
//! `--conversations` conversations of `--turns` turns each, every one with a long system prompt
//! of its own (shared instructions and a document), run through `ParallelLlmManager` over three
//! regions with its round-robin spread: turn `t` of every conversation is one batch, in the order
//! the users answered (a seeded shuffle per turn), and each next turn carries the previous
//! answers. Cache points sit after the system prompt and after the last two user messages, so a
//! turn can read what the previous one wrote. The same batch runs with and without cache
//! affinity, each against a fresh simulator; the run prints the cache-read, cache-write and
//! uncached input tokens, the turns that read their history, and the requests per region.
//!
//! ```text
//! cargo run --release -p bench --bin affinity
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;

use bedrock_sim::{Scenario, Simulator};
use bench::DynError;
use clap::Parser;
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{
    Auth, ConverseRequest, LlmManager, Message, ParallelLlmManager, Response, RetryConfig,
};

/// Cache affinity on a conversation batch.
#[derive(Debug, Parser)]
struct Args {
    /// Conversations.
    #[arg(long, default_value_t = 20)]
    conversations: usize,
    /// Turns per conversation.
    #[arg(long, default_value_t = 10)]
    turns: usize,
    /// Seed of the order in which each turn's requests arrive.
    #[arg(long, default_value_t = 21)]
    seed: u64,
    /// Keep the conversations in the same order every turn (round-robin then gives each the
    /// same region every turn, affinity or not).
    #[arg(long)]
    fixed_order: bool,
}

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "us-east-2"];

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return bench::exit(Err(e.into())),
    };
    bench::exit(runtime.block_on(run(&args)))
}

/// One mode's figures.
#[derive(Debug, Default)]
struct Figures {
    cache_read: u64,
    cache_write: u64,
    input: u64,
    /// Turns after the first that read more than their system prompt from the cache.
    history_reads: usize,
    per_region: BTreeMap<String, usize>,
    affinity_routed: u64,
}

async fn run(args: &Args) -> Result<(), DynError> {
    let requests = args.conversations * args.turns;
    let mut lines = vec![format!(
        "{} conversations x {} turns = {requests} requests, {} over {}, ParallelLlmManager round-robin, {} order",
        args.conversations,
        args.turns,
        MODEL,
        REGIONS.join(", "),
        if args.fixed_order {
            "fixed"
        } else {
            "shuffled per turn"
        }
    )];
    lines.push(
        "mode          cache-read  cache-write  uncached-in  history-reads  routed  per region"
            .to_owned(),
    );
    let mut reads = Vec::new();
    for affinity in [false, true] {
        let f = one_mode(args, affinity).await?;
        reads.push(f.cache_read);
        let spread: Vec<String> = f
            .per_region
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        lines.push(format!(
            "{:<13} {:>10} {:>12} {:>12} {:>8}/{:<5} {:>7}  {}",
            if affinity { "affinity" } else { "no affinity" },
            f.cache_read,
            f.cache_write,
            f.input,
            f.history_reads,
            args.conversations * args.turns.saturating_sub(1),
            f.affinity_routed,
            spread.join(", "),
        ));
    }
    if let [without, with] = reads[..] {
        #[allow(
            clippy::cast_precision_loss,
            reason = "token counts stay far below 2^53"
        )]
        let ratio = if without > 0 {
            with as f64 / without as f64
        } else {
            0.0
        };
        lines.push(format!(
            "cache-read tokens with affinity: {ratio:.2}x without"
        ));
    }
    #[allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

async fn one_mode(args: &Args, affinity: bool) -> Result<Figures, DynError> {
    let sim = Simulator::start(Scenario::default()).await?;
    let manager = LlmManager::builder()
        .model(MODEL)
        .regions(REGIONS)
        .auth(Auth::static_keys("AKIDAFFINITY", "affinity-secret"))
        .endpoint_url(sim.endpoint_url())
        .retry(RetryConfig::standard())
        .cache_affinity(affinity)
        .build()
        .await?;
    let parallel = ParallelLlmManager::new(manager.clone(), ParallelConfig::default())?;
    // Each conversation's history: (question, answer) pairs.
    let mut histories: Vec<Vec<(String, String)>> = vec![Vec::new(); args.conversations];
    let mut order: Vec<usize> = (0..args.conversations).collect();
    let mut random = args.seed;
    let mut figures = Figures::default();
    for turn in 1..=args.turns {
        if !args.fixed_order {
            shuffle(&mut order, &mut random);
        }
        let mut batch = Vec::with_capacity(order.len());
        for &c in &order {
            let request = conversation_turn(c, turn, &histories[c])?;
            batch.push(BatchRequest::new(c.to_string(), request));
        }
        let response = parallel.converse_parallel(batch).await?;
        for outcome in response.into_outcomes() {
            let c: usize = outcome.id.to_string().parse()?;
            let answer: Response = outcome.result.map_err(|e| e.to_string())?;
            let usage = answer.usage();
            let read = usage.cache_read_input_tokens.unwrap_or(0);
            figures.cache_read += u64::from(read);
            figures.cache_write += u64::from(usage.cache_write_input_tokens.unwrap_or(0));
            figures.input += u64::from(usage.input_tokens);
            if turn > 1 && read > system_tokens(c) {
                figures.history_reads += 1;
            }
            *figures.per_region.entry(answer.region.clone()).or_default() += 1;
            histories[c].push((question(c, turn), answer.text()));
        }
    }
    figures.affinity_routed = manager.stats().affinity_routed;
    sim.shutdown().await;
    Ok(figures)
}

/// The tokens of conversation `c`'s cached system prompt, as the simulator counts them, with a
/// margin: a read of more than this read some of the conversation's history too.
fn system_tokens(c: usize) -> u32 {
    let tokens = bedrock_sim::text_tokens(&system_prompt(c)).saturating_add(16);
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

fn system_prompt(c: usize) -> String {
    let instructions = "You are the support assistant of a logistics company. Answer briefly, \
        cite the section of the document you rely on, and never invent a tariff. ";
    let document =
        format!("Section {c}: the customs rules for shipments of kind {c}. ").repeat(220);
    format!("{instructions}{document}")
}

fn question(c: usize, turn: usize) -> String {
    format!("Conversation {c}, question {turn}: which form applies to parcel {turn}?")
}

/// Turn `turn` of conversation `c`: its system prompt, the previous questions and answers, the
/// new question; cache points after the system prompt and the last two user messages.
fn conversation_turn(
    c: usize,
    turn: usize,
    history: &[(String, String)],
) -> Result<ConverseRequest, DynError> {
    let mut b = ConverseRequest::builder()
        .system(system_prompt(c))
        .system_cache_point()
        .max_tokens(64);
    for (i, (q, a)) in history.iter().enumerate() {
        let user = Message::user().text(q.clone());
        // The previous turn's question keeps its point, so this turn can read its prefix.
        b = b.message_builder(if i + 1 == history.len() {
            user.cache_point()
        } else {
            user
        });
        b = b.assistant_text(if a.is_empty() { "(no answer)" } else { a });
    }
    b = b.message_builder(Message::user().text(question(c, turn)).cache_point());
    Ok(b.build()?)
}

/// A seeded Fisher-Yates shuffle (a 64-bit LCG is plenty for an arrival order).
fn shuffle(order: &mut [usize], state: &mut u64) {
    for i in (1..order.len()).rev() {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from((*state >> 33) % (i as u64 + 1)).unwrap_or(0);
        order.swap(i, j);
    }
}
