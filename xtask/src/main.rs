//! Project automation, run as `cargo xtask <task>`.
//!
//! Tasks mirror what CI does, so that a developer can run the same checks locally, and produce the
//! project's evidence: the chaos fault matrix and the benchmark report in `docs/benchmarks.md`.

use std::process::ExitCode;

mod bench;
mod chaos;
mod plot;
mod refresh_catalog;
mod snapshots;

type DynError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    match try_main() {
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

fn try_main() -> Result<(), DynError> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    if let Some(task) = task.as_deref()
        && rest.iter().any(|a| a == "-h" || a == "--help")
        && let Some(help) = task_help(task)
    {
        #[allow(clippy::print_stdout, reason = "help asked for goes to stdout")]
        {
            println!("{help}");
        }
        return Ok(());
    }
    match task.as_deref() {
        Some("ci") => ci(),
        Some("snapshots") => snapshots::run(&rest),
        Some("refresh-catalog") => refresh_catalog::run(&rest),
        Some("chaos") => chaos::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("help" | "-h" | "--help") | None => {
            print_help();
            Ok(())
        }
        Some(other) => {
            print_help();
            Err(format!("unknown task {other:?}").into())
        }
    }
}

const HELP: &str = "Usage: cargo xtask <task> [args]

Tasks:
  ci                 run .ci/run, the same checks as CI (fmt, clippy, doc, tests)
  snapshots          run the insta snapshot tests as CI does; --review to accept and list changes
  refresh-catalog    regenerate crates/bedrock-catalog/data/bundled.json (--check to only verify;
                     --from-reference [PATH], --regions r1,r2,..., --endpoint-url URL,
                     --region-timeout SECS, --allow-partial, --output PATH)
  chaos              drive the full stack through the fault matrix on the simulator
                     (--requests N, --seed S, --latency-ms MS, --concurrency C); reports answers
                     paid for per request; fails if a request is lost or duplicated, or if a row
                     where no answer broke mid-way paid for more than one answer per request
  bench              run every benchmark and write docs/benchmarks.md with SVG plots in docs/img
                     (--chaos-requests N, --skip-examples, --output PATH)
";

/// `cargo xtask TASK --help`: the task's entry of [`HELP`], answered before the task reads its
/// arguments, so every task's help exits 0 (and `ci --help` does not run CI).
fn task_help(task: &str) -> Option<String> {
    let mut lines = HELP.lines().skip_while(|l| !l.starts_with("  ")).peekable();
    while let Some(line) = lines.next() {
        let Some(text) = line.trim_start().strip_prefix(task) else {
            continue;
        };
        if !text.starts_with(' ') {
            continue;
        }
        let mut about = vec![text.trim().to_owned()];
        while let Some(more) = lines.next_if(|l| l.starts_with("    ")) {
            about.push(more.trim().to_owned());
        }
        return Some(format!(
            "Usage: cargo xtask {task} [args]\n\n{}",
            about.join("\n")
        ));
    }
    None
}

fn print_help() {
    #[allow(clippy::print_stderr, reason = "xtask prints its usage on stderr")]
    {
        eprintln!("{HELP}");
    }
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
    use super::{HELP, chain, task_help};

    #[test]
    fn an_error_prints_with_its_sources_once() {
        let io = std::io::Error::other("disk full");
        let e = llmmanager::Error::from(io);
        assert_eq!(chain(&e), "writing the stream failed: disk full");
        let boxed: super::DynError = Box::new(e);
        assert_eq!(
            chain(boxed.as_ref()),
            "writing the stream failed: disk full"
        );
    }

    #[test]
    fn help_lists_every_task() {
        for task in ["ci", "snapshots", "refresh-catalog", "chaos", "bench"] {
            assert!(
                HELP.lines().any(|l| l.trim_start().starts_with(task)),
                "{task} missing from help"
            );
            let help = task_help(task).unwrap();
            assert!(
                help.starts_with(&format!("Usage: cargo xtask {task} ")),
                "{help}"
            );
        }
        assert!(
            task_help("refresh-catalog")
                .unwrap()
                .contains("--allow-partial")
        );
        assert!(task_help("chaos").unwrap().contains("--concurrency C"));
        assert_eq!(task_help("nope"), None);
    }
}
