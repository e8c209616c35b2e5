//! Defaults for models, regions, profile and batch concurrency, from a config file and `LLMM_*`
//! environment variables. Command-line flags override both; the environment overrides the file.
//!
//! The file is `$XDG_CONFIG_HOME/llmm/config.toml`, or `~/.config/llmm/config.toml` (on every
//! platform, as ripgrep's and uv's users expect), or the file named by `LLMM_CONFIG`:
//!
//! ```toml
//! models = ["Claude Haiku 4.5", "Nova Lite"]
//! regions = ["eu-west-1", "eu-central-1"]
//! profile = "bedrock"
//! concurrency = 32
//! otlp_endpoint = "http://localhost:4318"
//! residency = "eu"
//! ```
//!
//! The variables are `LLMM_MODELS` and `LLMM_REGIONS` (comma-separated), `LLMM_PROFILE`,
//! `LLMM_CONCURRENCY`, `LLMM_OTLP_ENDPOINT` and `LLMM_RESIDENCY`. A profile from the configuration applies to real
//! AWS only, never to `--simulate` or `--endpoint-url`.

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;

use crate::cli::{Cli, Command, parse_residency};
use crate::exit::usage;

/// Names the config file explicitly.
pub(crate) const CONFIG_ENV: &str = "LLMM_CONFIG";

/// The configured defaults; `None` where neither the file nor the environment says.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Models, in order of preference.
    pub(crate) models: Option<Vec<String>>,
    /// Regions, in order of preference.
    pub(crate) regions: Option<Vec<String>>,
    /// Shared AWS config profile.
    pub(crate) profile: Option<String>,
    /// Batch requests in flight at once.
    pub(crate) concurrency: Option<usize>,
    /// OTLP/HTTP collector to export spans and metrics to.
    pub(crate) otlp_endpoint: Option<String>,
    /// Geography or comma-separated regions every request stays inside (checked on load).
    pub(crate) residency: Option<String>,
}

impl Config {
    /// Reads the config file (if any) and the environment.
    ///
    /// # Errors
    /// A usage error for an unreadable or invalid file, or an invalid variable.
    pub(crate) fn load() -> anyhow::Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let file = match env(CONFIG_ENV) {
            Some(path) => Self::from_file(Path::new(&path))?,
            None => match default_path() {
                Some(path) if path.is_file() => Self::from_file(&path)?,
                _ => Self::default(),
            },
        };
        file.with_env(env)
    }

    /// Parses a config file.
    fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read config file {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| usage(format!("invalid config file {}: {e}", path.display())))
    }

    /// This configuration with the `LLMM_*` variables `env` returns laid over it.
    fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(v) = env("LLMM_MODELS") {
            self.models = Some(list(v));
        }
        if let Some(v) = env("LLMM_REGIONS") {
            self.regions = Some(list(v));
        }
        if let Some(v) = env("LLMM_PROFILE") {
            self.profile = Some(v.trim().to_owned());
        }
        if let Some(v) = env("LLMM_OTLP_ENDPOINT") {
            self.otlp_endpoint = Some(v.trim().to_owned());
        }
        if let Some(v) = env("LLMM_RESIDENCY") {
            parse_residency(&v).map_err(|e| usage(format!("LLMM_RESIDENCY: {e}")))?;
            self.residency = Some(v.trim().to_owned());
        } else if let Some(v) = &self.residency {
            parse_residency(v).map_err(|e| usage(format!("residency in the config file: {e}")))?;
        }
        if let Some(v) = env("LLMM_CONCURRENCY") {
            let n = v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    usage(format!(
                        "LLMM_CONCURRENCY must be a positive number, not {v:?}"
                    ))
                })?;
            self.concurrency = Some(n);
        }
        if self.concurrency == Some(0) {
            return Err(usage("concurrency in the config file must be positive"));
        }
        Ok(self)
    }
}

impl Config {
    /// Fills in what the command line left open: models, regions, the profile (for real AWS
    /// only) and, for `batch`, the concurrency when `--concurrency` was not given.
    pub(crate) fn apply(self, cli: &mut Cli, matches: &ArgMatches) {
        let global = &mut cli.global;
        if global.models.is_empty()
            && let Some(models) = self.models
        {
            global.models = models;
        }
        if global.regions.is_empty()
            && let Some(regions) = self.regions
        {
            global.regions = regions;
        }
        if global.otlp_endpoint.is_none() {
            global.otlp_endpoint = self.otlp_endpoint;
        }
        if global.residency.is_none() {
            // Checked when the configuration was loaded.
            global.residency = self.residency.and_then(|r| parse_residency(&r).ok());
        }
        if global.profile.is_none() && !global.simulated() && global.endpoint_url.is_none() {
            global.profile = self.profile;
        }
        if let Command::Batch(batch) = &mut cli.command
            && let Some(n) = self.concurrency
            && matches
                .subcommand_matches("batch")
                .and_then(|m| m.value_source("concurrency"))
                != Some(ValueSource::CommandLine)
        {
            batch.concurrency = n;
        }
    }
}

/// `$XDG_CONFIG_HOME/llmm/config.toml`, or `~/.config/llmm/config.toml`.
pub(crate) fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| dirs::home_dir().map(|home| home.join(".config")))?;
    Some(base.join("llmm").join("config.toml"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests abort on failure")]

    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_file_gives_defaults_and_the_environment_overrides_it() {
        let file: Config = toml::from_str(
            "models = [\"Nova Lite\"]\nregions = [\"eu-west-1\"]\nprofile = \"p\"\nconcurrency = 8\n",
        )
        .unwrap();
        assert_eq!(file.clone().with_env(env(&[])).unwrap(), file);
        let both = file
            .with_env(env(&[
                ("LLMM_MODELS", "Claude Haiku 4.5, Nova Lite"),
                ("LLMM_CONCURRENCY", "32"),
            ]))
            .unwrap();
        assert_eq!(
            both.models.as_deref(),
            Some(&["Claude Haiku 4.5".to_owned(), "Nova Lite".to_owned()][..])
        );
        assert_eq!(both.regions.as_deref(), Some(&["eu-west-1".to_owned()][..]));
        assert_eq!(both.profile.as_deref(), Some("p"));
        assert_eq!(both.concurrency, Some(32));
        let otlp = Config::default()
            .with_env(env(&[("LLMM_OTLP_ENDPOINT", " http://collector:4318 ")]))
            .unwrap();
        assert_eq!(otlp.otlp_endpoint.as_deref(), Some("http://collector:4318"));
    }

    fn applied(config: &Config, args: &[&str]) -> Cli {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let matches = Cli::command().try_get_matches_from(args).unwrap();
        let mut cli = Cli::from_arg_matches(&matches).unwrap();
        config.clone().apply(&mut cli, &matches);
        cli
    }

    #[test]
    fn flags_override_the_configuration() {
        let config = Config {
            models: Some(vec!["Nova Lite".into()]),
            regions: Some(vec!["eu-west-1".into()]),
            profile: Some("work".into()),
            concurrency: Some(48),
            otlp_endpoint: Some("http://127.0.0.1:4318".into()),
            residency: None,
        };
        let cli = applied(&config, &["llmm", "batch", "in.jsonl"]);
        assert_eq!(cli.global.models, ["Nova Lite"]);
        assert_eq!(cli.global.regions_or_default(), ["eu-west-1"]);
        assert_eq!(cli.global.profile.as_deref(), Some("work"));
        assert_eq!(
            cli.global.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
        let Command::Batch(batch) = cli.command else {
            panic!("batch")
        };
        assert_eq!(batch.concurrency, 48);

        let cli = applied(
            &config,
            &[
                "llmm",
                "batch",
                "in.jsonl",
                "-m",
                "Claude 3 Haiku",
                "-r",
                "us-east-1",
                "--profile",
                "other",
                "--concurrency",
                "16",
            ],
        );
        assert_eq!(cli.global.models, ["Claude 3 Haiku"]);
        assert_eq!(cli.global.regions, ["us-east-1"]);
        assert_eq!(cli.global.profile.as_deref(), Some("other"));
        let Command::Batch(batch) = cli.command else {
            panic!("batch")
        };
        assert_eq!(batch.concurrency, 16, "an explicit default still wins");

        // The configured profile is for real AWS only.
        let cli = applied(&config, &["llmm", "chat", "--simulate", "hi"]);
        assert_eq!(cli.global.profile, None);
        let cli = applied(
            &config,
            &["llmm", "--endpoint-url", "http://127.0.0.1:9", "chat", "hi"],
        );
        assert_eq!(cli.global.profile, None);

        let cli = applied(&Config::default(), &["llmm", "batch", "in.jsonl"]);
        assert!(cli.global.models.is_empty());
        let Command::Batch(batch) = cli.command else {
            panic!("batch")
        };
        assert_eq!(batch.concurrency, 16);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(toml::from_str::<Config>("model = \"x\"").is_err());
        for bad in ["0", "many", "-1"] {
            let e = Config::default()
                .with_env(env(&[("LLMM_CONCURRENCY", bad)]))
                .unwrap_err();
            assert!(e.to_string().contains("LLMM_CONCURRENCY"), "{e}");
        }
        let e = Config::default()
            .with_env(env(&[("LLMM_RESIDENCY", "mars")]))
            .unwrap_err();
        assert!(e.to_string().contains("LLMM_RESIDENCY"), "{e}");
        let file: Config = toml::from_str("residency = \"global\"").unwrap();
        let e = file.with_env(env(&[])).unwrap_err();
        assert!(e.to_string().contains("config file"), "{e}");
    }

    #[test]
    fn a_residency_comes_from_the_file_or_the_environment_and_the_flag_wins() {
        let file: Config = toml::from_str("residency = \"eu\"").unwrap();
        let config = file.clone().with_env(env(&[])).unwrap();
        let cli = applied(&config, &["llmm", "chat", "hi"]);
        assert_eq!(
            cli.global.residency.map(|r| r.to_string()).as_deref(),
            Some("eu")
        );
        let config = file.with_env(env(&[("LLMM_RESIDENCY", " us ")])).unwrap();
        let cli = applied(&config, &["llmm", "chat", "hi"]);
        assert_eq!(
            cli.global.residency.map(|r| r.to_string()).as_deref(),
            Some("us")
        );
        let cli = applied(&config, &["llmm", "--residency", "apac", "chat", "hi"]);
        assert_eq!(
            cli.global.residency.map(|r| r.to_string()).as_deref(),
            Some("apac")
        );
    }
}
