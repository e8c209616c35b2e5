//! The simulator is a test double of Bedrock: a dev-dependency of the libraries, a normal
//! dependency only of the binaries that embed it (`llmm --simulate`, `bench`), and itself built on
//! data crates only.

use crate::layers::SIMULATOR;
use crate::support::{Kind, packages};

/// The crates that may ship the simulator: `llmm` (its `--simulate` mode) and `bench` (the
/// benchmarks and the chaos matrix run on it).
const MAY_EMBED: &[&str] = &["llmm", "bench"];

/// What the simulator itself may depend on: data, so that every library can use it in tests.
const SIMULATOR_USES: &[&str] = &["bedrock-messages", "bedrock-catalog"];

#[test]
fn libraries_use_the_simulator_only_in_tests() {
    let mut violations = Vec::new();
    for p in packages() {
        for d in p.deps.iter().filter(|d| d.name == SIMULATOR) {
            if d.kind != Kind::Dev && !MAY_EMBED.contains(&p.name.as_str()) {
                violations.push(format!(
                    "{} has bedrock-sim as a {}; only {} may, the others as a dev-dependency",
                    p.name,
                    d.kind.as_str(),
                    MAY_EMBED.join(" and "),
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "docs/ARCHITECTURE.md: bedrock-sim is a dev-dependency of the libraries.\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn the_simulator_depends_on_data_only() {
    let sim = packages()
        .iter()
        .find(|p| p.name == SIMULATOR)
        .expect("bedrock-sim is a workspace member");
    let wrong: Vec<String> = sim
        .deps
        .iter()
        .filter(|d| d.kind != Kind::Dev && !SIMULATOR_USES.contains(&d.name.as_str()))
        .map(|d| format!("{} ({})", d.name, d.kind.as_str()))
        .collect();
    assert!(
        wrong.is_empty(),
        "bedrock-sim may depend only on {}, so that every library can test against it; it \
         depends on {}",
        SIMULATOR_USES.join(" and "),
        wrong.join(", ")
    );
}
