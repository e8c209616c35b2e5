//! Every publishable crate packages on its own: the files it compiles in live inside its
//! directory, and only tooling is kept from publishing. (`.ci/run` also runs `cargo package`.)

use std::path::{Path, PathBuf};

use crate::support::packages;

/// Crates that are never published.
const UNPUBLISHED: &[&str] = &["xtask", "bench", "layers"];

/// Includes that reach outside their crate on purpose, with the reason it is harmless.
const ALLOWED_OUTSIDE: &[(&str, &str, &str)] = &[(
    "llmmanager",
    "README.md",
    "the workspace README's examples, compiled only as doctests (`#[cfg(doctest)]`)",
)];

#[test]
fn only_tooling_is_unpublished() {
    let wrong: Vec<String> = packages()
        .iter()
        .filter(|p| p.publishable == UNPUBLISHED.contains(&p.name.as_str()))
        .map(|p| {
            if p.publishable {
                format!("{} is tooling and needs `publish = false`", p.name)
            } else {
                format!(
                    "{} has `publish = false`; a library or binary crate is publishable",
                    p.name
                )
            }
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn compiled_in_files_live_in_their_crate() {
    let mut violations = Vec::new();
    let mut seen = 0;
    for p in packages() {
        let dir = p.dir.canonicalize().unwrap();
        for file in rust_files(&p.dir.join("src")) {
            let text = std::fs::read_to_string(&file).unwrap();
            for target in includes(&text) {
                seen += 1;
                let full = file.parent().unwrap().join(&target);
                let Ok(full) = full.canonicalize() else {
                    violations.push(format!(
                        "{} includes {target}, which does not exist",
                        file.display()
                    ));
                    continue;
                };
                if full.starts_with(&dir) {
                    continue;
                }
                let allowed = ALLOWED_OUTSIDE
                    .iter()
                    .any(|(crate_name, path, _)| *crate_name == p.name && full.ends_with(path));
                if !allowed {
                    violations.push(format!(
                        "{} compiles in {target}, outside {}; move the file into the crate (for \
                         example `{}/data/`)",
                        file.strip_prefix(&p.dir).unwrap_or(&file).display(),
                        p.name,
                        p.name,
                    ));
                }
            }
        }
    }
    assert!(
        seen > 0,
        "the scan finds the bundled catalog and price table"
    );
    assert!(
        violations.is_empty(),
        "a published crate carries only its own directory, so `cargo package` needs every \
         `include_str!`/`include_bytes!` target inside it.\n  {}",
        violations.join("\n  ")
    );
}

/// The literal paths of `include_str!("…")` and `include_bytes!("…")` in a source file.
fn includes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for mac in ["include_str!(\"", "include_bytes!(\""] {
        for (at, _) in text.match_indices(mac) {
            let rest = &text[at + mac.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_owned());
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_include_scan_reads_literals() {
    let src = "const A: &str = include_str!(\"../data/a.json\");\nconst B: &[u8] = include_bytes!(\"b.bin\");";
    assert_eq!(includes(src), ["../data/a.json", "b.bin"]);
}
