//! `cargo xtask refresh-catalog`: regenerates `crates/bedrock-catalog/data/bundled.json`.
//!
//! Sources: the Bedrock control plane (real AWS with the default credential chain, or a loopback
//! simulator with `--endpoint-url`), or `--from-reference` to rebuild from the Python original's data
//! in `crates/bedrock-sim/data/reference.json`. Capability flags always come from
//! `crates/bedrock-catalog/data/overrides.json` on disk, so editing that file and rerunning updates
//! the snapshot.
//! The output is sorted and pretty-printed; when only the timestamp would change the file is left
//! alone. With `--check` (or when `CI` is set) nothing is written and a stale file is an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bedrock_catalog::{
    ApiSource, COMMERCIAL_REGIONS, CatalogSource, Overrides, Snapshot, diff_summary,
};

type DynError = Box<dyn std::error::Error>;

/// The arguments of `cargo xtask refresh-catalog`.
#[derive(Debug, Default, clap::Args)]
#[command(
    long_about = "Regenerate crates/bedrock-catalog/data/bundled.json from the Bedrock control \
                  plane (or a simulator at --endpoint-url), or from the reference data. When only \
                  the timestamp would change the file is left alone."
)]
pub(crate) struct Args {
    /// Rebuild from the Python original's data [default: crates/bedrock-sim/data/reference.json].
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    from_reference: Option<Option<PathBuf>>,
    /// Regions to query, comma-separated [default: every commercial region].
    #[arg(long, value_name = "r1,r2,...", value_delimiter = ',')]
    regions: Vec<String>,
    /// The control plane's endpoint (a loopback simulator, for example).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// How long one region may take, in seconds [default: 20].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    region_timeout: Option<Duration>,
    /// Write the snapshot even if some regions failed.
    #[arg(long)]
    allow_partial: bool,
    /// Where to write [default: crates/bedrock-catalog/data/bundled.json].
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Write nothing; fail if the file is stale (the default when `CI` is set and no --output).
    #[arg(long)]
    check: bool,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// Runs the task with the arguments after `refresh-catalog`.
pub(crate) fn run(args: &Args) -> Result<(), DynError> {
    let root = workspace_root();
    // The files the catalog compiles in live in its crate; the reference data in the simulator's.
    let catalog_data = root.join("crates").join("bedrock-catalog").join("data");
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| catalog_data.join("bundled.json"));
    let overrides = Overrides::parse(&std::fs::read_to_string(
        catalog_data.join("overrides.json"),
    )?)?;
    // In CI the committed snapshot is verified, never rewritten.
    let check = args.check || (args.output.is_none() && std::env::var_os("CI").is_some());

    let mut new = match &args.from_reference {
        Some(path) => {
            let path = path
                .clone()
                .unwrap_or_else(|| root.join("crates/bedrock-sim/data/reference.json"));
            Snapshot::from_reference(&std::fs::read_to_string(&path)?, &overrides)?
        }
        None => fetch(args, &overrides)?,
    };
    new.normalize();

    let old = match std::fs::read_to_string(&output) {
        Ok(text) => Snapshot::parse(&text, "existing snapshot").ok(),
        Err(_) => None,
    };
    let unchanged_data = old.as_ref().is_some_and(|o| {
        o.models == new.models && o.regions_queried == new.regions_queried && o.source == new.source
    });
    let changes = old
        .as_ref()
        .map(|o| diff_summary(o, &new))
        .unwrap_or_default();
    let up_to_date =
        old.as_ref() == Some(&new) || (unchanged_data && args.from_reference.is_none());

    report(&new, old.is_some(), &changes, up_to_date);
    if up_to_date {
        return Ok(());
    }
    if check {
        return Err(format!(
            "{} is out of date ({} model changes); run `cargo xtask refresh-catalog{}`",
            output.display(),
            changes.len(),
            if args.from_reference.is_some() {
                " --from-reference"
            } else {
                ""
            }
        )
        .into());
    }
    std::fs::write(&output, new.to_json()?)?;
    say(&format!("wrote {}", output.display()));
    Ok(())
}

fn fetch(args: &Args, overrides: &Overrides) -> Result<Snapshot, DynError> {
    let regions: Vec<String> = if args.regions.is_empty() {
        COMMERCIAL_REGIONS.iter().map(|r| (*r).to_owned()).collect()
    } else {
        args.regions.clone()
    };
    let timeout = args.region_timeout.unwrap_or(Duration::from_secs(20));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let raw = rt.block_on(async {
        let source = match &args.endpoint_url {
            Some(url) => ApiSource::for_endpoint(url).await,
            None => ApiSource::from_env().await,
        };
        let source = source
            .with_region_timeout(timeout)
            .with_first_answer_timeout(timeout)
            .with_deadline(timeout * 4)
            .with_concurrency(8);
        source.fetch(&regions).await
    })?;
    for f in &raw.failures {
        say(&format!("warning: region {f}"));
    }
    if raw.listings.is_empty() {
        return Err("every region failed; nothing to write".into());
    }
    if !raw.failures.is_empty() && !args.allow_partial {
        return Err(format!(
            "{} regions failed; rerun, narrow --regions, or pass --allow-partial",
            raw.failures.len()
        )
        .into());
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "the snapshot is stamped with the real retrieval time"
    )]
    let now = std::time::SystemTime::now();
    let (snap, warnings) = Snapshot::from_raw(&raw, overrides, now);
    for w in warnings {
        say(&format!("warning: {w}"));
    }
    Ok(snap)
}

fn report(new: &Snapshot, had_old: bool, changes: &[String], up_to_date: bool) {
    let regions = new.models.iter().map(|m| m.regions.len()).sum::<usize>();
    let profiles = new.models.iter().map(|m| m.profiles.len()).sum::<usize>();
    say(&format!(
        "catalog {} ({}): {} models, {} model-region pairs, {} profiles, {} regions queried",
        new.data_version,
        new.source,
        new.models.len(),
        regions,
        profiles,
        new.regions_queried.len()
    ));
    if !had_old {
        say("no previous snapshot");
    } else if up_to_date {
        say("no changes");
    } else if changes.is_empty() {
        say("changes: metadata only");
    } else {
        say(&format!("changes ({}):", changes.len()));
        for c in changes {
            say(&format!("  {c}"));
        }
    }
}

fn say(line: &str) {
    #[allow(clippy::print_stdout, reason = "xtask reports progress on stdout")]
    {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Args, clap::Error> {
        use clap::Parser as _;
        let args = std::iter::once("refresh-catalog").chain(args.iter().map(AsRef::as_ref));
        Cli::try_parse_from(args).map(|c| c.args)
    }

    #[test]
    fn parses_flags() {
        let a = parse_args(&[
            "--from-reference",
            "--check",
            "--regions=us-east-1,eu-west-1",
        ])
        .unwrap();
        assert_eq!(a.from_reference, Some(None));
        assert!(a.check);
        assert_eq!(a.regions, ["us-east-1", "eu-west-1"]);
        let a = parse_args(&["--from-reference", "ref.json"]).unwrap();
        assert_eq!(a.from_reference, Some(Some(PathBuf::from("ref.json"))));
        let a = parse_args(&["--endpoint-url", "http://127.0.0.1:1"]).unwrap();
        assert_eq!(a.endpoint_url.as_deref(), Some("http://127.0.0.1:1"));
        let a = parse_args(&["--region-timeout", "1.5"]).unwrap();
        assert_eq!(a.region_timeout, Some(Duration::from_millis(1500)));
        assert!(parse_args(&["--bogus"]).is_err());
        assert!(parse_args(&["--region-timeout", "-1"]).is_err());
    }

    #[test]
    fn refreshes_from_the_simulator() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sim = rt
            .block_on(bedrock_sim::Simulator::start(
                bedrock_sim::Scenario::default(),
            ))
            .unwrap();
        let out =
            std::env::temp_dir().join(format!("refresh-catalog-test-{}.json", std::process::id()));
        let args: Vec<String> = [
            "--endpoint-url",
            &sim.endpoint_url(),
            "--regions",
            "us-east-1,eu-west-1",
            "--output",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([out.display().to_string()])
        .collect();
        run(&parse_args(&args).unwrap()).unwrap();
        let snap = Snapshot::parse(&std::fs::read_to_string(&out).unwrap(), "test output").unwrap();
        assert_eq!(snap.source, "api");
        assert_eq!(snap.regions_queried, ["eu-west-1", "us-east-1"]);
        assert!(
            snap.models
                .iter()
                .any(|m| m.id == "anthropic.claude-3-haiku-20240307-v1:0")
        );
        // A second run with the same data leaves the file alone, and --check agrees.
        let before = std::fs::read_to_string(&out).unwrap();
        run(&parse_args(&args).unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), before);
        let mut check = args.clone();
        check.push("--check".into());
        run(&parse_args(&check).unwrap()).unwrap();
        std::fs::remove_file(&out).unwrap();
        rt.block_on(sim.shutdown());
    }
}
