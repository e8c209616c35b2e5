//! `cargo xtask snapshots [--review]`: run the insta snapshot tests.
//!
//! Without flags the tests run as CI runs them (`INSTA_UPDATE=no`), so a changed or missing
//! snapshot fails. With `--review`, `cargo insta test --review` is used when installed; otherwise
//! the tests run with `INSTA_UPDATE=always` and the changed `.snap` (and any `.snap.new`) files are
//! listed for review with `git diff`.

use std::path::{Path, PathBuf};
use std::process::Command;

type DynError = Box<dyn std::error::Error>;

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The crates under `crates/` that keep insta snapshots (a `snapshots` folder anywhere in them),
/// as `-p NAME` arguments, sorted. The crate's folder name is its package name.
fn package_args() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("crates"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| has_snapshots_dir(&e.path(), 4))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
        .into_iter()
        .flat_map(|n| ["-p".to_owned(), n])
        .collect()
}

fn has_snapshots_dir(dir: &Path, depth: u32) -> bool {
    if depth == 0 {
        return false;
    }
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let p = e.path();
            p.is_dir()
                && (p.file_name().is_some_and(|n| n == "snapshots")
                    || has_snapshots_dir(&p, depth - 1))
        })
}

fn test_args() -> Vec<String> {
    let mut args = vec!["test".to_owned()];
    args.extend(package_args());
    args
}

fn status(cmd: &mut Command) -> Result<(), DynError> {
    let s = cmd.current_dir(workspace_root()).status()?;
    if s.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {s}").into())
    }
}

fn insta_available() -> bool {
    Command::new(cargo())
        .args(["insta", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn collect_new_snapshots(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target" || n == ".git") {
                continue;
            }
            collect_new_snapshots(&p, out);
        } else if p.extension().is_some_and(|x| x == "new")
            && p.to_string_lossy().ends_with(".snap.new")
        {
            out.push(p);
        }
    }
}

/// Snapshot files that differ from git's index (modified or untracked).
fn changed_snap_files() -> Vec<PathBuf> {
    let Ok(out) = Command::new("git")
        .args([
            "status",
            "--porcelain",
            "--untracked-files=all",
            "--",
            "crates",
        ])
        .current_dir(workspace_root())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.get(3..))
        .filter(|p| p.ends_with(".snap") || p.ends_with(".snap.new"))
        .map(|p| workspace_root().join(p))
        .collect()
}

/// Runs the snapshot tests; with `review`, accepts changes and lists them.
pub(crate) fn run(review: bool) -> Result<(), DynError> {
    if !review {
        return status(
            Command::new(cargo())
                .args(test_args())
                .env("INSTA_UPDATE", "no"),
        );
    }
    if insta_available() {
        let mut args = vec!["insta".to_owned(), "test".to_owned(), "--review".to_owned()];
        args.extend(package_args());
        return status(Command::new(cargo()).args(args));
    }
    // Without cargo-insta: accept every change, then list what changed for review with `git diff`.
    let result = status(
        Command::new(cargo())
            .args(test_args())
            .env("INSTA_UPDATE", "always"),
    );
    let mut new = Vec::new();
    collect_new_snapshots(&workspace_root().join("crates"), &mut new);
    new.extend(changed_snap_files());
    new.sort();
    new.dedup();
    #[allow(clippy::print_stdout, reason = "xtask reports the snapshots to review")]
    {
        if new.is_empty() {
            println!("no changed snapshots");
        } else {
            println!("changed snapshots (review with `git diff`, revert what is wrong):");
            for p in &new {
                println!("  {}", p.display());
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crate_with_snapshots_is_tested() {
        let args = package_args();
        for name in ["bedrock-messages", "bedrock-sim", "llmm"] {
            assert!(
                args.iter().any(|a| a == name),
                "{name} missing from {args:?}"
            );
        }
        assert!(!args.iter().any(|a| a == "bedrock-retry"), "{args:?}");
    }

    #[test]
    fn finds_snap_new_files() {
        let dir = std::env::temp_dir().join(format!("xtask-snap-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/snapshots")).unwrap();
        std::fs::write(dir.join("a/snapshots/x.snap.new"), "").unwrap();
        std::fs::write(dir.join("a/snapshots/y.snap"), "").unwrap();
        let mut out = Vec::new();
        collect_new_snapshots(&dir, &mut out);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].ends_with("x.snap.new"));
    }
}
