//! Checks before `chat` and `batch` send anything: that the named AWS profile exists, and that an
//! explicit endpoint accepts connections.
//!
//! Both mistakes would otherwise surface as a failure of every attempt (or of every request of a
//! batch); caught here, they end the command at once with a few lines saying what is wrong and
//! what to do, and their own exit codes (4 for the profile, 5 for the endpoint).

use std::time::Duration;

use aws_types::os_shim_internal::{Env, Fs};

use crate::cli::GlobalArgs;
use crate::exit::{CredentialsError, UnreachableError};

/// How long connecting to an explicit endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the checks that apply to `global` (none for the embedded simulator).
///
/// # Errors
/// [`CredentialsError`] for a profile that is not defined; [`UnreachableError`] for an endpoint
/// that refuses or does not answer connections.
pub(crate) async fn check(global: &GlobalArgs) -> anyhow::Result<()> {
    if global.simulated() {
        return Ok(());
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    // The profile the credentials come from: `--profile` (or the configuration's), else
    // AWS_PROFILE when the default chain would reach it (no keys in the environment, and no
    // `--endpoint-url`, which sends fake keys).
    let profile = match &global.profile {
        Some(name) => Some((name.clone(), "--profile")),
        None if global.endpoint_url.is_none() && env("AWS_ACCESS_KEY_ID").is_none() => {
            env("AWS_PROFILE").map(|name| (name, "AWS_PROFILE"))
        }
        None => None,
    };
    if let Some((name, source)) = profile {
        check_profile(&name, source).await?;
    }
    if let Some(url) = &global.endpoint_url {
        check_endpoint(url).await?;
    }
    Ok(())
}

/// Fails when the shared config and credentials files do not define `name`. Files that cannot
/// be read or parsed are left to the SDK, which reports them on the first call.
async fn check_profile(name: &str, source: &str) -> anyhow::Result<()> {
    let Ok(profiles) =
        aws_config::profile::load(&Fs::real(), &Env::real(), &Default::default(), None).await
    else {
        return Ok(());
    };
    if profiles.get_profile(name).is_some() {
        return Ok(());
    }
    let mut known: Vec<&str> = profiles.profiles().collect();
    known.sort_unstable();
    let there = if known.is_empty() {
        "no profile is defined there".to_owned()
    } else {
        format!("profiles there: {}", known.join(", "))
    };
    let config = file_name("AWS_CONFIG_FILE", "~/.aws/config");
    let credentials = file_name("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
    Err(anyhow::Error::new(CredentialsError(format!(
        "AWS profile {name:?} ({source}) is not defined in {config} or {credentials} ({there})\n  \
         to fix: check the name (`aws configure list-profiles`), or create the profile with \
         `aws configure --profile {name}` or `aws configure sso`; or try the embedded simulator \
         with --simulate"
    ))))
}

/// The file a variable names, or its default.
fn file_name(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Fails when nothing accepts a connection at the endpoint's host and port.
async fn check_endpoint(url: &str) -> anyhow::Result<()> {
    let Some((host, port)) = host_port(url) else {
        return Err(crate::exit::usage(format!(
            "--endpoint-url {url:?} is not a URL (for example http://127.0.0.1:8080, as printed \
             by `llmm sim`)"
        )));
    };
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    let reason = match llmmanager::retry::timeout(
        &llmmanager::retry::TokioSleep::new(),
        CONNECT_TIMEOUT,
        connect,
    )
    .await
    {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(error)) => match error.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            _ if error.to_string().contains("lookup") => {
                format!("the host name {host} does not resolve")
            }
            _ => error.to_string(),
        },
        Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
    };
    Err(anyhow::Error::new(UnreachableError(format!(
        "cannot connect to {url} ({reason}); nothing was sent\n  to fix: check the URL given to \
         --endpoint-url; start a simulator there with `llmm sim --port {port}`, or use \
         --simulate for one inside this process"
    ))))
}

/// The host and port of an `http://` or `https://` URL.
fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_the_url() {
        assert_eq!(
            host_port("http://127.0.0.1:9"),
            Some(("127.0.0.1".into(), 9))
        );
        assert_eq!(
            host_port("https://bedrock.example.com/x"),
            Some(("bedrock.example.com".into(), 443))
        );
        assert_eq!(host_port("http://[::1]:8080"), Some(("::1".into(), 8080)));
        assert_eq!(
            host_port("http://localhost"),
            Some(("localhost".into(), 80))
        );
        for bad in ["127.0.0.1:9", "ftp://x", "http://", "http://h:port"] {
            assert_eq!(host_port(bad), None, "{bad}");
        }
    }
}
