//! The data crates and the retry core need no runtime: with the features named here, their normal
//! dependency tree holds no tokio, no hyper and no AWS crate.

use crate::support::normal_tree;

/// Each crate, whether its default features stay on, and what that build leaves out.
const RUNTIME_FREE: &[(&str, bool, &str)] = &[
    ("bedrock-messages", false, "without `sdk`"),
    ("bedrock-catalog", false, "without `fetch`"),
    ("bedrock-cache", true, "with its default features"),
    ("bedrock-retry", false, "without `tokio`"),
];

fn is_runtime(name: &str) -> bool {
    matches!(name, "tokio" | "hyper" | "mio") || name.starts_with("aws-")
}

#[test]
fn data_crates_have_no_runtime() {
    let mut violations = Vec::new();
    for (name, default_features, build) in RUNTIME_FREE {
        let tree = normal_tree(name, *default_features);
        assert!(tree.contains(*name), "cargo tree -p {name} lists {name}");
        let found: Vec<&str> = tree
            .iter()
            .map(String::as_str)
            .filter(|c| is_runtime(c))
            .collect();
        if !found.is_empty() {
            violations.push(format!(
                "{name} {build} depends on {} (see `cargo tree -p {name} -e normal{} -i {}`)",
                found.join(", "),
                if *default_features {
                    ""
                } else {
                    " --no-default-features"
                },
                if found.contains(&"tokio") {
                    "tokio"
                } else {
                    found[0]
                },
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "docs/ARCHITECTURE.md: the data crates and bedrock-retry have no tokio, hyper or AWS \
         crate in their normal dependencies.\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn the_check_sees_a_runtime_where_there_is_one() {
    // With its default features the catalog fetches over the SDK on tokio.
    let tree = normal_tree("bedrock-catalog", true);
    assert!(tree.contains("tokio") && tree.contains("aws-sdk-bedrock"));
}
