//! The workspace as cargo sees it: packages and their declared dependencies (`cargo metadata`),
//! and a package's resolved normal dependencies for a feature set (`cargo tree`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// How a dependency is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Normal,
    Build,
    Dev,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "dependency",
            Self::Build => "build-dependency",
            Self::Dev => "dev-dependency",
        }
    }
}

/// A dependency on another crate of this workspace.
#[derive(Debug, Clone)]
pub(crate) struct Dep {
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

/// A workspace member.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub(crate) name: String,
    /// The directory holding its `Cargo.toml`.
    pub(crate) dir: PathBuf,
    /// `publish = false` is not set.
    pub(crate) publishable: bool,
    /// Dependencies on other workspace members (path dependencies), itself excluded.
    pub(crate) deps: Vec<Dep>,
}

pub(crate) fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs cargo in the workspace root, offline, and returns its stdout.
pub(crate) fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .args(["--offline", "--locked"])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "`cargo {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("cargo prints UTF-8")
}

/// Every workspace member, by `cargo metadata --no-deps` (declared dependencies, no resolution).
pub(crate) fn packages() -> &'static [Package] {
    static PACKAGES: OnceLock<Vec<Package>> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        let text = cargo(&["metadata", "--format-version", "1", "--no-deps"]);
        let meta: Value = serde_json::from_str(&text).expect("cargo metadata is JSON");
        let mut out: Vec<Package> = meta["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(package)
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    })
}

fn package(p: &Value) -> Package {
    let name = p["name"].as_str().expect("name").to_owned();
    let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
    let dir = manifest
        .parent()
        .expect("manifest has a directory")
        .to_owned();
    // `publish` is null when unrestricted and `[]` for `publish = false`.
    let publishable = !p["publish"].as_array().is_some_and(Vec::is_empty);
    let deps = p["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| d["path"].is_string() && d["name"] != p["name"])
        .map(|d| Dep {
            name: d["name"].as_str().expect("dependency name").to_owned(),
            kind: match d["kind"].as_str() {
                None => Kind::Normal,
                Some("build") => Kind::Build,
                Some("dev") => Kind::Dev,
                Some(other) => panic!("unknown dependency kind {other:?}"),
            },
        })
        .collect();
    Package {
        name,
        dir,
        publishable,
        deps,
    }
}

/// Names of every crate in `package`'s normal dependency tree (itself included), for the host
/// platform (other platforms' crates are not in the local registry offline), with its default
/// features on or off and no other features.
pub(crate) fn normal_tree(package: &str, default_features: bool) -> BTreeSet<String> {
    let mut args = vec![
        "tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}",
    ];
    if !default_features {
        args.push("--no-default-features");
    }
    cargo(&args)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}
