//! Exit codes, and the error types that mark a failure as the caller's (exit code 2), as one of
//! credentials (code 4) or as Bedrock out of reach (code 5).
//! A call whose last attempt failed for credentials exits with code 4; a call whose every attempt
//! failed to connect exits with code 5.
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
    /// Bedrock, or the endpoint, could not be reached: no connection (code 5).
    Unreachable,
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
            Self::Unreachable => 5,
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

/// Credentials cannot work as configured (an AWS profile that is not defined); the message says
/// what to do. Exit code 4.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CredentialsError(pub(crate) String);

/// Nothing answers at the endpoint; the message says what to do. Exit code 5.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UnreachableError(pub(crate) String);

/// A usage error (exit code 2) with this message.
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// The exit code for an error that ended a command: 2 for the caller's mistakes, 4 for a call
/// whose last attempt failed for credentials (or a profile that is not defined), 5 for a call
/// whose every attempt failed to connect (or an endpoint that refuses connections), 3 otherwise.
pub(crate) fn classify(error: &anyhow::Error) -> Exit {
    if error.chain().any(|e| e.is::<UsageError>()) {
        Exit::Usage
    } else if error.chain().any(|e| {
        e.is::<CredentialsError>()
            || e.downcast_ref::<llmmanager::Error>()
                .is_some_and(|e| e.last_class() == Some(llmmanager::ErrorClass::Credentials))
    }) {
        Exit::Credentials
    } else if error.chain().any(|e| {
        e.is::<UnreachableError>()
            || e.downcast_ref::<llmmanager::Error>()
                .is_some_and(is_unreachable)
    }) {
        Exit::Unreachable
    } else {
        Exit::Failed
    }
}

/// Whether no attempt of a failed call reached Bedrock: every one was a dispatch failure (a
/// connection refused, a host name that does not resolve, a failed TLS handshake).
pub(crate) fn is_unreachable(error: &llmmanager::Error) -> bool {
    let attempts = error.attempts();
    !attempts.is_empty()
        && attempts.iter().all(|a| {
            a.message
                .as_deref()
                .is_some_and(|m| m.starts_with("dispatch failure"))
        })
}

/// What stderr says about an error that ended a command: the `error:` line, and for a call that
/// never reached Bedrock a short reason and what to do instead of the SDK's own text.
/// `endpoint` is the `--endpoint-url` in force, if any.
pub(crate) fn report(error: &anyhow::Error, endpoint: Option<&str>) -> String {
    let unreachable = error
        .chain()
        .find_map(|e| e.downcast_ref::<llmmanager::Error>())
        .filter(|e| is_unreachable(e));
    let Some(call) = unreachable else {
        return format!("error: {}", join_chain(error.chain()));
    };
    let attempts = call.attempts();
    let last = attempts
        .last()
        .and_then(|a| a.message.as_deref())
        .unwrap_or_default();
    let reason = connect_failure(last);
    let (target, advice) = match endpoint {
        Some(url) => (
            url.to_owned(),
            format!(
                "check the URL given to --endpoint-url (is a server such as `llmm sim` \
                 listening at {url}?), or use --simulate for a simulator inside this process"
            ),
        ),
        None => (
            "Bedrock".to_owned(),
            "check the network connection, any proxy (HTTPS_PROXY) and the regions (-r); \
             `llmm doctor` probes the control plane"
                .to_owned(),
        ),
    };
    format!(
        "error: cannot reach {target}: {reason} ({} attempt(s), none connected)\n  to fix: {advice}",
        attempts.len()
    )
}

/// The reason a connection failed, in a few words, from a dispatch failure's message.
fn connect_failure(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "connection refused".to_owned()
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "the host name does not resolve".to_owned()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "the connection timed out".to_owned()
    } else if lower.contains("certificate") || lower.contains("tls") {
        "the TLS handshake failed".to_owned()
    } else {
        let first = message.lines().next().unwrap_or_default();
        let cut = first.find(" (").map_or(first, |i| &first[..i]);
        cut.chars().take(200).collect()
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
        assert_eq!(Exit::Unreachable.code(), 5);
        let profile = anyhow::Error::new(CredentialsError("no profile".into())).context("chat");
        assert_eq!(classify(&profile), Exit::Credentials);
        let endpoint = anyhow::Error::new(UnreachableError("refused".into()));
        assert_eq!(classify(&endpoint), Exit::Unreachable);
    }

    #[test]
    fn connect_failures_are_named_in_a_few_words() {
        assert_eq!(
            connect_failure(
                "dispatch failure: io error: client error (Connect): tcp connect error: \
                 Connection refused (os error 111) (DispatchFailure(x))"
            ),
            "connection refused"
        );
        assert_eq!(
            connect_failure("dispatch failure: dns error: failed to lookup address information"),
            "the host name does not resolve"
        );
        assert_eq!(
            connect_failure("dispatch failure: other (Other(x))"),
            "dispatch failure: other"
        );
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
