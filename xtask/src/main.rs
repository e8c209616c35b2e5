//! Project automation, run as `cargo xtask <task>`.
//!
//! Tasks mirror what CI does, so that a developer can run the same checks locally.

use std::process::ExitCode;

type DynError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "xtask reports failures on stderr")]
            {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<(), DynError> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let _rest: Vec<String> = args.collect();
    match task.as_deref() {
        Some("ci") => ci(),
        _ => {
            print_help();
            Ok(())
        }
    }
}

fn print_help() {
    #[allow(clippy::print_stderr, reason = "xtask prints its usage on stderr")]
    {
        eprintln!(
            "Tasks:
  ci                 run the same checks as CI (fmt, clippy, test, doc)
"
        );
    }
}

fn ci() -> Result<(), DynError> {
    run("cargo", &["fmt", "--all", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    run("cargo", &["test", "--workspace"])?;
    Ok(())
}

fn run(program: &str, args: &[&str]) -> Result<(), DynError> {
    let status = std::process::Command::new(program).args(args).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed with {status}", args.join(" ")).into())
    }
}
