//! Dependencies point down, never up.
//!
//! The layers of the diagram in `docs/ARCHITECTURE.md`, bottom to top. A crate may depend (normal,
//! build or dev) only on crates of a lower layer; crates of one layer know nothing of each other.
//! The simulator sits aside: any crate may use it in tests, its own rules are in `simulator.rs`.

use crate::support::{Kind, packages};

/// Every workspace crate and its layer. A new crate goes here and into ARCHITECTURE.md.
const LAYERS: &[(&str, u8)] = &[
    // The bottom: the message model and generic retry, which is also the one model of time.
    ("bedrock-messages", 0),
    ("bedrock-retry", 0),
    // The catalog (its fetch half times out on retry's `Sleep`) and parallel execution on its own
    // small trait (timed on retry's `Clock` and `Sleep`).
    ("bedrock-catalog", 1),
    ("bedrock-parallel", 1),
    // Prompt caching, on messages and the catalog.
    ("bedrock-cache", 2),
    // The umbrella, on all of the above.
    ("llmmanager", 3),
    // Batch inference jobs, beside the umbrella's local engine as seen from the command line.
    ("bedrock-batch", 4),
    // The command line, on top.
    ("llmm", 5),
    // The benchmarks and the chaos matrix: they drive the whole stack.
    ("bench", 6),
    // Project automation, aside; it runs the benchmarks' binaries but does not link them.
    ("xtask", 6),
    // This crate: depends on no workspace crate.
    ("layers", 0),
];

/// The loopback Bedrock: a dependency outside the layering (see `simulator.rs`).
pub(crate) const SIMULATOR: &str = "bedrock-sim";

fn layer(name: &str) -> Option<u8> {
    LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

#[test]
fn every_crate_has_a_layer() {
    let missing: Vec<&str> = packages()
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| *n != SIMULATOR && layer(n).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "crates without a layer: {}. Give each a place in LAYERS (crates/layers/tests/it/layers.rs) \
         and in the code map of docs/ARCHITECTURE.md.",
        missing.join(", ")
    );
}

#[test]
fn dependencies_point_down() {
    let mut violations = Vec::new();
    for p in packages() {
        if p.name == SIMULATOR {
            continue;
        }
        let Some(own) = layer(&p.name) else { continue };
        for d in &p.deps {
            if d.name == SIMULATOR {
                continue;
            }
            let Some(theirs) = layer(&d.name) else {
                continue;
            };
            if theirs >= own {
                let relation = if theirs == own { "beside" } else { "above" };
                violations.push(format!(
                    "{} (layer {own}) has a {} on {} (layer {theirs}), which sits {relation} it",
                    p.name,
                    d.kind.as_str(),
                    d.name,
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "docs/ARCHITECTURE.md: dependencies point down, never up.\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn the_layer_table_is_not_vacuous() {
    // The umbrella really does sit on the bottom crates, so the check above compares something.
    let umbrella = packages()
        .iter()
        .find(|p| p.name == "llmmanager")
        .expect("llmmanager is a workspace member");
    for below in [
        "bedrock-messages",
        "bedrock-catalog",
        "bedrock-retry",
        "bedrock-cache",
    ] {
        assert!(
            umbrella
                .deps
                .iter()
                .any(|d| d.name == below && d.kind == Kind::Normal),
            "llmmanager depends on {below}"
        );
    }
}
