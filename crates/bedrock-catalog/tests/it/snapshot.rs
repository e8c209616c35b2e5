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
