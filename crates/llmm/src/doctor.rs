//! `llmm doctor`: one short report on whether calls can work, before any is sent.
//!
//! Four sections: where credentials come from (loaded through the same provider chain the
//! manager uses, never showing a secret), the configured regions, where and how each configured
//! model resolves (the manager's plan and the catalog's per-region access), and one control-plane
//! probe (`ListFoundationModels` and `ListInferenceProfiles` in the first region) with its latency
//! or its error class. The exit code is 0 when all is fine, 4 for missing or rejected credentials
//! or denied permissions, 2 for models that do not resolve, 5 when the probe cannot connect to the
//! control plane (or the `--endpoint-url`), 3 for any other failure.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::error::CredentialsError;
use bedrock_catalog::{ApiSource, CatalogSource as _, FailureKind};
use llmmanager::{CallOptions, LlmManager};

use crate::backend::Backend;
use crate::cli::GlobalArgs;
use crate::exit::{CREDENTIALS_ADVICE, Exit};

/// How long loading credentials may take (an SSO or instance-metadata lookup can hang).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the control-plane probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the credentials section found.
enum Credentials {
    /// Credentials are there (described, without secrets).
    Found(String),
    /// None were found, or loading them failed (the reason).
    Missing(String),
}

/// Runs `llmm doctor`.
#[allow(
    clippy::disallowed_methods,
    reason = "the probe reports its wall-clock latency"
)]
pub(crate) async fn run(global: &GlobalArgs) -> anyhow::Result<Exit> {
    let backend = Backend::start(global).await?;
    let regions = global.regions_or_default();
    let first = regions
        .first()
        .cloned()
        .unwrap_or_else(|| "us-east-1".to_owned());
    let sdk = backend.sdk_config(&first).await;
    let mut report = String::new();
    let mut exit = Exit::Success;

    report.push_str("Credentials\n");
    let credentials = credentials(global, &sdk).await;
    match &credentials {
        Credentials::Found(source) => {
            let _ = writeln!(report, "  source: {source}");
        }
        Credentials::Missing(reason) => {
            let _ = writeln!(report, "  none found: {reason}");
            let _ = writeln!(report, "  to fix: {CREDENTIALS_ADVICE}");
            exit = Exit::Credentials;
        }
    }

    let _ = writeln!(report, "Regions\n  {}", regions.join(", "));

    report.push_str("Models\n");
    match backend.manager(global).await {
        Ok(manager) => models(&manager, global, &regions, &mut report),
        Err(error) => {
            let _ = writeln!(
                report,
                "  error: {}",
                crate::exit::join_chain(error.chain())
            );
            exit = worse(exit, Exit::Usage);
        }
    }

    report.push_str("Control plane\n");
    if let Credentials::Missing(_) = credentials {
        report.push_str("  skipped: no credentials to sign the request with\n");
    } else {
        let started = Instant::now();
        let source = ApiSource::new(sdk)
            .with_region_timeout(PROBE_TIMEOUT)
            .with_first_answer_timeout(PROBE_TIMEOUT)
            .with_deadline(PROBE_TIMEOUT);
        let probe_regions = [first.clone()];
        let result = source.fetch(&probe_regions).await;
        let ms = started.elapsed().as_millis();
        let call = format!("ListFoundationModels in {first}");
        match result {
            Ok(raw) => {
                if let Some(listing) = raw.listings.get(&first) {
                    let _ = writeln!(
                        report,
                        "  {call}: ok in {ms} ms ({} models, {} inference profiles)",
                        listing.models.len(),
                        listing.profiles.len()
                    );
                } else if let Some(failure) = raw.failures.first() {
                    let _ = writeln!(
                        report,
                        "  {call}: failed after {ms} ms: {}: {}",
                        failure.kind.as_str(),
                        short(&failure.message)
                    );
                    exit = worse(exit, probe_exit(failure.kind, &failure.message));
                } else {
                    let _ = writeln!(report, "  {call}: no answer after {ms} ms");
                    exit = worse(exit, Exit::Failed);
                }
            }
            Err(error) => {
                let _ = writeln!(
                    report,
                    "  {call}: failed after {ms} ms: {}",
                    short(&crate::exit::chain(&error))
                );
                exit = worse(exit, Exit::Failed);
            }
        }
    }
    backend.shutdown().await;

    match exit {
        Exit::Success => report.push_str("All fine.\n"),
        other => {
            let _ = writeln!(report, "Problems found (exit code {}).", other.code());
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(report.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    Ok(exit)
}

/// Where credentials come from, loaded through the provider chain the manager's calls use.
async fn credentials(global: &GlobalArgs, sdk: &SdkConfig) -> Credentials {
    if global.simulated() {
        return Credentials::Found("simulator (fake keys)".to_owned());
    }
    if global.endpoint_url.is_some() && global.profile.is_none() {
        return Credentials::Found("static (fake keys, for --endpoint-url)".to_owned());
    }
    let bearer = std::env::var_os("AWS_BEARER_TOKEN_BEDROCK").is_some_and(|v| !v.is_empty());
    let Some(provider) = sdk.credentials_provider() else {
        return Credentials::Missing("no credential provider is configured".to_owned());
    };
    let loaded = llmmanager::retry::timeout(
        &llmmanager::retry::TokioSleep::new(),
        CREDENTIALS_TIMEOUT,
        provider.provide_credentials(),
    )
    .await;
    let chain = match &global.profile {
        Some(name) => format!("profile {name:?}"),
        None => "the default chain".to_owned(),
    };
    match loaded {
        Ok(Ok(creds)) => {
            let name = provider_name(&creds);
            let mut text = format!("{} ({chain}, provider {name})", category(name));
            if bearer {
                text.push_str("; a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) is also set");
            }
            Credentials::Found(text)
        }
        Ok(Err(_)) | Err(_) if bearer => Credentials::Found(
            "Bedrock API key (AWS_BEARER_TOKEN_BEDROCK); no AWS credentials for control-plane calls"
                .to_owned(),
        ),
        Ok(Err(CredentialsError::CredentialsNotLoaded(_))) if global.profile.is_some() => {
            Credentials::Missing(format!(
                "{chain} gave none (it is not in the shared config or credentials file, or has \
                 no credentials)"
            ))
        }
        Ok(Err(CredentialsError::CredentialsNotLoaded(_))) => Credentials::Missing(format!(
            "{chain} found none (environment, shared config and credentials files, SSO, web \
             identity, container and instance metadata were tried)"
        )),
        Ok(Err(error)) => Credentials::Missing(format!(
            "{chain} failed: {}",
            short(&crate::exit::chain(&error))
        )),
        Err(_) => Credentials::Missing(format!(
            "{chain} did not answer within {} s",
            CREDENTIALS_TIMEOUT.as_secs()
        )),
    }
}

/// The name of the provider that produced `creds`.
///
/// `Credentials` has no public getter for it; its `Debug` output (which redacts the secret)
/// names it first.
fn provider_name(creds: &aws_credential_types::Credentials) -> &'static str {
    let debug = format!("{creds:?}");
    let name = debug
        .split_once("provider_name: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name);
    KNOWN_PROVIDERS
        .iter()
        .find(|(known, _)| Some(*known) == name)
        .map_or("unknown", |(known, _)| known)
}

/// Provider names of aws-config, and the kind of source each is.
const KNOWN_PROVIDERS: &[(&str, &str)] = &[
    ("EnvironmentVariable", "environment"),
    ("ProfileFile", "profile"),
    ("Static", "static"),
    ("StaticCredentials", "static"),
    ("llmm", "static"),
    ("llmmanager-static", "static"),
    ("SSO", "profile (SSO)"),
    ("Sso", "profile (SSO)"),
    ("WebIdentityToken", "web identity"),
    ("AssumeRoleProvider", "profile (assumed role)"),
    ("ECSContainer", "container"),
    ("HttpProvider", "container"),
    ("IMDSv2", "instance metadata"),
    ("CredentialProcess", "profile (credential process)"),
    ("Login", "profile (login)"),
];

fn category(provider: &str) -> &'static str {
    KNOWN_PROVIDERS
        .iter()
        .find(|(known, _)| *known == provider)
        .map_or("other", |(_, kind)| kind)
}

/// Per configured model: its id, and per region how a call would reach it.
fn models(manager: &LlmManager, global: &GlobalArgs, regions: &[String], report: &mut String) {
    let plan = manager.plan_for(&CallOptions::default());
    let catalog = manager.catalog();
    for name in global.models_or_default() {
        let Ok(info) = catalog.resolve(&name) else {
            let _ = writeln!(report, "  {name}: not in the catalog");
            continue;
        };
        let _ = writeln!(report, "  {name}: {}", info.id);
        for region in regions {
            let planned: Vec<String> = plan
                .iter()
                .filter(|p| p.target.model == info.id && &p.target.region == region)
                .map(|p| format!("{} -> {}", p.target.access_method, p.invoke_id))
                .collect();
            let how = if !planned.is_empty() {
                planned.join(", ")
            } else if info.region_access(region).is_some() {
                "offered, but not in the plan".to_owned()
            } else {
                "not offered".to_owned()
            };
            let _ = writeln!(report, "    {region}: {how}");
        }
    }
}

/// The exit code a failed probe stands for.
fn probe_exit(kind: FailureKind, message: &str) -> Exit {
    let credentials = [
        "UnrecognizedClient",
        "InvalidSignature",
        "ExpiredToken",
        "InvalidClientTokenId",
        "credentials",
    ];
    if kind == FailureKind::AccessDenied || credentials.iter().any(|c| message.contains(c)) {
        Exit::Credentials
    } else if kind == FailureKind::Unreachable {
        Exit::Unreachable
    } else {
        Exit::Failed
    }
}

/// The more serious of two outcomes: credentials, then usage, then no connection, then other
/// failures.
fn worse(a: Exit, b: Exit) -> Exit {
    let rank = |e: Exit| match e {
        Exit::Credentials => 4,
        Exit::Usage => 3,
        Exit::Unreachable => 2,
        Exit::Failed | Exit::SomeFailed => 1,
        Exit::Success => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The first line of a message without the SDK's debug structures, cut to a readable length.
fn short(message: &str) -> String {
    let mut line = message.lines().next().unwrap_or_default();
    let debug_start = line.match_indices(" (").find_map(|(i, _)| {
        let rest = &line[i + 2..];
        let ident = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map(|end| (&rest[..end], &rest[end..]));
        match ident {
            Some((name, after))
                if name.starts_with(|c: char| c.is_ascii_uppercase())
                    && (after.starts_with('(') || after.starts_with(" {")) =>
            {
                Some(i)
            }
            _ => None,
        }
    });
    if let Some(i) = debug_start {
        line = &line[..i];
    }
    let mut cut: String = line.chars().take(200).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_failures_of_the_probe_get_the_credentials_code() {
        assert_eq!(
            probe_exit(FailureKind::AccessDenied, "AccessDeniedException"),
            Exit::Credentials
        );
        assert_eq!(
            probe_exit(FailureKind::Other, "ExpiredTokenException: expired"),
            Exit::Credentials
        );
        assert_eq!(probe_exit(FailureKind::Timeout, "timed out"), Exit::Failed);
        assert_eq!(
            probe_exit(
                FailureKind::Unreachable,
                "dispatch failure: io error: Connection refused (os error 111)"
            ),
            Exit::Unreachable
        );
        assert_eq!(worse(Exit::Failed, Exit::Unreachable), Exit::Unreachable);
        assert_eq!(worse(Exit::Unreachable, Exit::Usage), Exit::Usage);
        assert_eq!(worse(Exit::Failed, Exit::Credentials), Exit::Credentials);
        assert_eq!(worse(Exit::Usage, Exit::Failed), Exit::Usage);
    }

    #[test]
    fn short_messages_leave_out_debug_structures() {
        assert_eq!(
            short("dispatch failure: Connection refused (os error 111) (DispatchFailure(x))"),
            "dispatch failure: Connection refused (os error 111)"
        );
        assert_eq!(short("a (B { c: 1 })\nmore"), "a");
        assert_eq!(short("plain"), "plain");
    }

    #[test]
    fn the_provider_name_comes_without_secrets() {
        let creds = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "EnvironmentVariable",
        );
        assert_eq!(provider_name(&creds), "EnvironmentVariable");
        assert_eq!(category(provider_name(&creds)), "environment");
        let other = aws_credential_types::Credentials::new("A", "s", None, None, "Custom");
        assert_eq!(provider_name(&other), "unknown");
    }
}
