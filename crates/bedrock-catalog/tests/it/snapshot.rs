//! The serialized shape of a model is a contract (bundled file, cache file, simulator).

use bedrock_catalog::Catalog;

#[test]
fn model_json_shape() {
    let c = Catalog::bundled().unwrap();
    let m = c.resolve("Claude 3 Haiku").unwrap();
    insta::assert_json_snapshot!(m);
}

#[test]
fn snapshot_json_round_trips_and_is_stable() {
    let snap = bedrock_catalog::Snapshot::bundled().unwrap();
    let json = snap.to_json().unwrap();
    assert_eq!(
        json,
        bedrock_catalog::BUNDLED_JSON,
        "bundled.json is not in normalized form"
    );
    let back = bedrock_catalog::Snapshot::parse(&json, "test").unwrap();
    assert_eq!(back, snap);
}

#[test]
fn bundled_json_is_regenerated_deterministically_from_reference_and_overrides() {
    let overrides = bedrock_catalog::Overrides::bundled().unwrap();
    let reference = include_str!("../../../bedrock-sim/data/reference.json");
    let once = bedrock_catalog::Snapshot::from_reference(reference, &overrides).unwrap();
    let twice = bedrock_catalog::Snapshot::from_reference(reference, &overrides).unwrap();
    assert_eq!(once.to_json().unwrap(), twice.to_json().unwrap());
    assert!(
        once.to_json().unwrap() == bedrock_catalog::BUNDLED_JSON,
        "bundled.json is stale: run `cargo xtask refresh-catalog --from-reference`"
    );
}

#[test]
fn diff_summary_reports_changes() {
    let old = bedrock_catalog::Snapshot::bundled().unwrap();
    let mut new = old.clone();
    let removed = new.models.remove(0);
    new.models[0].regions.remove("us-east-1");
    new.models[1].capabilities.tools = !new.models[1].capabilities.tools;
    let lines = bedrock_catalog::diff_summary(&old, &new);
    assert!(lines.contains(&format!("- {}", removed.id)), "{lines:?}");
    assert!(
        lines.iter().any(
            |l| l.starts_with(&format!("~ {}", new.models[1].id)) && l.contains("capabilities")
        ),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
}
