//! Exit codes, and the one error type that marks a failure as the caller's (exit code 2).
//! A call whose last attempt failed for credentials exits with code 4.
//!
//! Commands return `anyhow::Result<Exit>`. An error whose chain contains a [`UsageError`] means
//! the input or the options were wrong and nothing was sent; any other error means the work
//! itself failed.

use std::process::ExitCode;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Everything succeeded (code 0).
    Success,
    /// Some requests of a batch failed (code 1).
    SomeFailed,
    /// Bad input or usage; nothing was sent (code 2).
    Usage,
    /// Every attempt failed, or the command could not do its work (code 3).
    Failed,
    /// Credentials are missing or rejected, or permissions are denied (code 4).
    Credentials,
}

/// What to do about missing or rejected credentials.
pub(crate) const CREDENTIALS_ADVICE: &str = "set credentials with a profile (--profile / \
    AWS_PROFILE, after `aws configure` or `aws sso login`) or the AWS_ACCESS_KEY_ID and \
    AWS_SECRET_ACCESS_KEY environment variables; or try the embedded simulator with --simulate";

impl Exit {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::SomeFailed => 1,
            Self::Usage => 2,
            Self::Failed => 3,
            Self::Credentials => 4,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The input or the options are wrong; the message says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// A usage error (exit code 2) with this message.
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// The exit code for an error that ended a command: 2 for the caller's mistakes, 4 for a call
/// whose last attempt failed for credentials, 3 otherwise.
pub(crate) fn classify(error: &anyhow::Error) -> Exit {
    if error.chain().any(|e| e.is::<UsageError>()) {
        Exit::Usage
    } else if error.chain().any(|e| {
        e.downcast_ref::<llmmanager::Error>()
            .is_some_and(|e| e.last_class() == Some(llmmanager::ErrorClass::Credentials))
    }) {
        Exit::Credentials
    } else {
        Exit::Failed
    }
}

/// The exit code for an error from building a manager or checking a request: all of them are
/// the caller's, except an exhausted call.
pub(crate) fn manager_error(error: llmmanager::Error) -> anyhow::Error {
    match error.kind() {
        llmmanager::ErrorKind::Exhausted => anyhow::Error::new(error),
        _ => usage(chain(&error)),
    }
}

/// An error and its sources, joined with `": "`, each message once.
///
/// Library errors give their context in `Display` and the cause as their source, so the chain
/// says everything exactly once. A source whose message its parent already ends with (an error
/// that also embeds its source in `Display`) is not repeated.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    join_chain(std::iter::successors(Some(error), |e| e.source()))
}

/// The messages of an error chain, from the outermost, joined with `": "`, each message once.
pub(crate) fn join_chain<'a>(
    errors: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut text = String::new();
    for error in errors {
        let message = error.to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_even_with_context() {
        let e = usage("bad").context("while reading input");
        assert_eq!(classify(&e), Exit::Usage);
        assert_eq!(classify(&anyhow::anyhow!("io")), Exit::Failed);
        assert_eq!(Exit::SomeFailed.code(), 1);
        assert_eq!(Exit::Credentials.code(), 4);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("repeats: {0}")]
    struct Repeats(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn a_chain_names_each_message_once() {
        assert_eq!(chain(&Outer(Inner)), "outer: inner");
        assert_eq!(chain(&Repeats(Inner)), "repeats: inner");
        let e = anyhow::Error::new(Outer(Inner)).context("while chatting");
        assert_eq!(join_chain(e.chain()), "while chatting: outer: inner");
    }
}
