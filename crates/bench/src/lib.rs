//! The project's evidence, measured on the loopback simulator: `cargo xtask bench` (every
//! benchmark, written to `docs/benchmarks.md`) and `cargo xtask chaos` (the whole stack under a
//! fault matrix, with a ledger that proves no request is lost or answered twice).
//!
//! The two binaries, `bench` and `chaos`, are what `xtask` runs (in release mode); they live
//! here so that `xtask` itself stays small.

pub mod chaos;
mod plot;
pub mod suite;

/// The error of a benchmark run: anything, printed with its sources.
pub type DynError = Box<dyn std::error::Error>;

/// An error and its sources joined with `": "` (library errors give the cause as their source,
/// not in their own message), each message once.
#[must_use]
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
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

/// The exit code of a binary that ran `result`, with the error and its sources on stderr.
#[must_use]
pub fn exit(result: Result<(), DynError>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[allow(
                clippy::print_stderr,
                reason = "a benchmark reports failures on stderr"
            )]
            {
                eprintln!("error: {}", chain(e.as_ref()));
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// A count of at least one, for `--requests` and the like.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::chain;

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
}
