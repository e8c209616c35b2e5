//! Batch-inference data: every row cites a source and a date, survives into the bundled
//! snapshot, and picks the id a batch job names.

use bedrock_catalog::{AccessMethod, Catalog, Error, Overrides, Snapshot};

/// Every region code the batch rows may name: the commercial regions and the two GovCloud ones.
fn known_region(r: &str) -> bool {
    bedrock_catalog::COMMERCIAL_REGIONS.contains(&r) || r == "us-gov-west-1" || r == "us-gov-east-1"
}

#[test]
fn every_batch_row_has_provenance_and_known_regions() {
    let o = Overrides::bundled().unwrap();
    let rows: Vec<_> = o
        .models
        .iter()
        .filter_map(|(id, m)| m.batch_inference.as_ref().map(|b| (id, b)))
        .collect();
    assert!(rows.len() >= 20, "only {} batch rows", rows.len());
    for (id, b) in rows {
        let citation = o
            .sources
            .get(&b.source)
            .unwrap_or_else(|| panic!("{id}: unknown source {:?}", b.source));
        assert!(
            citation.contains("batch-inference-supported.html"),
            "{id}: source {:?} does not cite AWS's batch table",
            b.source
        );
        let d = b.date.as_bytes();
        assert!(
            d.len() == 10
                && d[4] == b'-'
                && d[7] == b'-'
                && b.date
                    .split('-')
                    .all(|p| p.bytes().all(|c| c.is_ascii_digit())),
            "{id}: date {:?} is not YYYY-MM-DD",
            b.date
        );
        assert!(!b.regions().is_empty(), "{id}: no region");
        for list in [&b.direct, &b.profile] {
            let mut sorted = list.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                list.len(),
                "{id}: a region repeats in {list:?}"
            );
            for r in list {
                assert!(known_region(r), "{id}: unknown region {r}");
            }
        }
    }
}

#[test]
fn the_bundled_snapshot_carries_every_batch_row() {
    let o = Overrides::bundled().unwrap();
    let snap = Snapshot::bundled().unwrap();
    for (id, m) in &o.models {
        let Some(b) = &m.batch_inference else {
            continue;
        };
        let in_snapshot: Vec<_> = snap
            .models
            .iter()
            .filter(|s| s.id == *id || s.id.starts_with(&format!("{id}:")))
            .collect();
        assert!(!in_snapshot.is_empty(), "{id}: not in the snapshot");
        for s in in_snapshot {
            assert_eq!(s.capabilities.batch_inference.as_ref(), Some(b), "{}", s.id);
        }
    }
}

#[test]
fn claude_batch_jobs_name_the_base_id_or_the_profile_as_listed() {
    let c = Catalog::bundled().unwrap();
    // Claude 3 Haiku: foundation-model regions only.
    let a = c.batch_access("Claude 3 Haiku", "eu-west-2").unwrap();
    assert_eq!(
        (a.invoke_id.as_str(), a.method),
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            AccessMethod::Direct
        )
    );
    let e = c.batch_access("Claude 3 Haiku", "us-east-2").unwrap_err();
    assert!(
        matches!(&e, Error::NoBatchInference { batch_regions, .. }
            if batch_regions.len() == 13 && batch_regions.contains(&"us-east-1".to_owned())),
        "{e}"
    );
    // Claude 3.5 Haiku: the base id in us-west-2, the US profile in us-east-1, nothing in
    // us-east-2 (where it is callable on demand).
    let direct = c.batch_access("Claude 3.5 Haiku", "us-west-2").unwrap();
    assert_eq!(direct.method, AccessMethod::Direct);
    let profile = c.batch_access("Claude 3.5 Haiku", "us-east-1").unwrap();
    assert_eq!(
        (profile.invoke_id.as_str(), profile.method),
        (
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            AccessMethod::RegionalProfile
        )
    );
    assert!(c.is_available("Claude 3.5 Haiku", "us-east-2"));
    assert!(c.batch_access("Claude 3.5 Haiku", "us-east-2").is_err());
    // Llama 3.1 405B runs batch jobs in us-west-2 only.
    assert!(
        c.batch_access("Llama 3.1 405B Instruct", "us-west-2")
            .is_ok()
    );
    assert!(
        c.batch_access("Llama 3.1 405B Instruct", "us-east-1")
            .is_err()
    );
}
