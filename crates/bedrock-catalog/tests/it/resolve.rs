//! Name resolution and access queries against the bundled snapshot.

use bedrock_catalog::{AccessMethod, AccessPreference, Catalog, Error, Geo};

#[track_caller]
fn check(catalog: &Catalog, name: &str, expected_id: &str) {
    match catalog.resolve(name) {
        Ok(m) => assert_eq!(m.id, expected_id, "{name:?}"),
        Err(e) => panic!("{name:?} did not resolve: {e}"),
    }
}

#[test]
fn every_name_of_the_original_catalog_resolves_to_its_model() {
    let catalog = Catalog::bundled().unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("../../../bedrock-sim/data/reference.json")).unwrap();
    let models = reference["models"].as_object().unwrap();
    assert_eq!(models.len(), 125);
    for (name, m) in models {
        let id = m["model_id"].as_str().unwrap();
        // Entries listed under a profile-style id are merged into their base model.
        let base = ["us.", "eu.", "apac.", "global."]
            .iter()
            .find_map(|p| id.strip_prefix(p))
            .unwrap_or(id);
        check(&catalog, name, base);
    }
}

#[test]
fn display_names_are_the_names_users_type() {
    let c = Catalog::bundled().unwrap();
    for (id, name) in [
        (
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "Claude Haiku 4.5",
        ),
        ("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
        (
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "Claude 3.5 Haiku",
        ),
        (
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "Claude 3.5 Sonnet v2",
        ),
        ("anthropic.claude-opus-4-1-20250805-v1:0", "Claude Opus 4.1"),
        ("anthropic.claude-sonnet-4-20250514-v1:0", "Claude Sonnet 4"),
        (
            "anthropic.claude-sonnet-4-20250514-v1:0:32k",
            "Claude Sonnet 4 (32K)",
        ),
        ("anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6"),
        ("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct"),
        ("meta.llama3-2-90b-instruct-v1:0", "Llama 3.2 90B Instruct"),
        (
            "meta.llama4-maverick-17b-instruct-v1:0",
            "Llama 4 Maverick 17B Instruct",
        ),
        ("amazon.nova-lite-v1:0", "Nova Lite"),
        ("amazon.nova-premier-v1:0:8k", "Nova Premier (8K)"),
        (
            "amazon.titan-embed-text-v2:0:8k",
            "Titan Embed Text v2 (8K)",
        ),
        ("ai21.jamba-1-5-mini-v1:0", "Jamba 1.5 Mini"),
        ("cohere.command-r-plus-v1:0", "Command R+"),
        ("cohere.rerank-v3-5:0", "Rerank v3.5"),
        ("deepseek.r1-v1:0", "DeepSeek R1"),
        ("deepseek.v3-v1:0", "DeepSeek V3"),
        (
            "mistral.mixtral-8x7b-instruct-v0:1",
            "Mixtral 8x7B Instruct",
        ),
        ("openai.gpt-oss-120b-1:0", "GPT OSS 120B"),
        ("qwen.qwen3-coder-480b-a35b-v1:0", "Qwen3 Coder 480B A35B"),
        ("google.gemma-3-27b-it", "Gemma 3 27B IT"),
        ("twelvelabs.pegasus-1-2-v1:0", "Pegasus 1.2"),
        ("zai.glm-4.7-flash", "GLM 4.7 Flash"),
        ("minimax.minimax-m2.5", "MiniMax M2.5"),
    ] {
        assert_eq!(c.resolve(id).unwrap().name, name, "{id}");
        check(&c, name, id);
    }
}

#[test]
fn every_name_and_alias_resolves_to_its_own_model_and_names_are_distinct() {
    let c = Catalog::bundled().unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for m in c.models() {
        check(&c, &m.name, &m.id);
        for alias in &m.aliases {
            check(&c, alias, &m.id);
        }
        let folded = m.name.to_lowercase();
        if let Some(other) = seen.insert(folded, &m.id) {
            panic!("{} and {other} are both named {:?}", m.id, m.name);
        }
        // No dates, no revision suffixes.
        assert!(
            !m.name
                .split(' ')
                .any(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit())),
            "{}: {}",
            m.id,
            m.name
        );
        assert!(!m.name.contains(':'), "{}: {}", m.id, m.name);
    }
}

#[test]
fn the_former_display_names_still_resolve() {
    let c = Catalog::bundled().unwrap();
    for (name, id) in [
        (
            "Claude Haiku 4 5 20251001",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        (
            "Claude 3 Haiku 20240307",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        ("Llama3 1 70b Instruct", "meta.llama3-1-70b-instruct-v1:0"),
        (
            "Claude 3 5 Sonnet 20241022",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        ("Nova Premier V1:0", "amazon.nova-premier-v1:0:8k"),
        ("Gpt Oss 120b 1", "openai.gpt-oss-120b-1:0"),
        ("Command R Plus", "cohere.command-r-plus-v1:0"),
        ("V3", "deepseek.v3-v1:0"),
        // Typed by hand, in other spellings.
        (
            "claude haiku 4.5",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        (
            "Claude 4.5 Haiku",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("llama 3.1 70b", "meta.llama3-1-70b-instruct-v1:0"),
        ("nova lite", "amazon.nova-lite-v1:0"),
    ] {
        check(&c, name, id);
    }
}

#[test]
fn aliases_of_the_original() {
    let c = Catalog::bundled().unwrap();
    for (name, id) in [
        ("Claude 3 Haiku", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("claude-3-haiku", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("CLAUDE_3 haiku", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("Claude3 Haiku", "anthropic.claude-3-haiku-20240307-v1:0"),
        (
            "APAC Anthropic Claude 3 Haiku",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        (
            "Claude 3 Haiku 20240307",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        (
            "Claude 3.5 Sonnet",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            "Claude 3.5 Sonnet v2",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        (
            "Claude Sonnet 4.5",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "Claude 4.5 Sonnet",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "Claude4.5 Haiku",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        (
            "Claude Haiku 4.5",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("Haiku 4.5", "anthropic.claude-haiku-4-5-20251001-v1:0"),
        (
            "Claude 4.20250514 Sonnet",
            "anthropic.claude-sonnet-4-20250514-v1:0",
        ),
        ("Claude Sonnet 4", "anthropic.claude-sonnet-4-20250514-v1:0"),
        (
            "Claude 3.7 Sonnet",
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
        ),
        ("Llama 3.1 70B Instruct", "meta.llama3-1-70b-instruct-v1:0"),
        ("Llama 3.3 70B Instruct", "meta.llama3-3-70b-instruct-v1:0"),
        (
            "Llama 3.2 11B Vision Instruct",
            "meta.llama3-2-11b-instruct-v1:0",
        ),
        ("Nova Pro", "amazon.nova-pro-v1:0"),
        ("amazon nova pro", "amazon.nova-pro-v1:0"),
        ("Nova Premier", "amazon.nova-premier-v1:0"),
        ("Mistral Large", "mistral.mistral-large-2402-v1:0"),
        ("Cohere Command R+", "cohere.command-r-plus-v1:0"),
        ("Command R Plus", "cohere.command-r-plus-v1:0"),
        ("AI21 Jamba 1.5 Large", "ai21.jamba-1-5-large-v1:0"),
        ("Stable Image Core", "stability.stable-image-core-v1:1"),
        ("Twelvelabs Pegasus 1 2", "twelvelabs.pegasus-1-2-v1:0"),
        ("Deepseek R1", "deepseek.r1-v1:0"),
    ] {
        check(&c, name, id);
    }
}

#[test]
fn ids_profile_ids_and_arns_resolve() {
    let c = Catalog::bundled().unwrap();
    let id = "anthropic.claude-3-haiku-20240307-v1:0";
    for name in [
        id,
        "ANTHROPIC.CLAUDE-3-HAIKU-20240307-V1:0",
        "us.anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
    ] {
        check(&c, name, id);
    }
    check(
        &c,
        "amazon.nova-premier-v1:0:8k",
        "amazon.nova-premier-v1:0:8k",
    );
}

#[test]
fn never_picks_a_different_model() {
    let c = Catalog::bundled().unwrap();
    match c.resolve("Llama 3.1 7B Instruct") {
        Err(Error::UnknownModel { suggestions, .. }) => {
            assert!(!suggestions.is_empty());
            assert!(
                suggestions.iter().any(|s| s.starts_with("Llama 3.1")),
                "{suggestions:?}"
            );
        }
        other => panic!("expected UnknownModel, got {other:?}"),
    }
    match c.resolve("Claude") {
        Err(Error::AmbiguousModel { candidates, .. }) => {
            assert!(candidates.len() > 5, "{candidates:?}")
        }
        other => panic!("expected AmbiguousModel, got {other:?}"),
    }
    match c.resolve("Claude Opus 4") {
        Err(Error::AmbiguousModel { candidates, .. }) => {
            assert!(
                candidates.contains(&"Claude Opus 4.6".to_owned()),
                "{candidates:?}"
            );
        }
        other => panic!("expected AmbiguousModel, got {other:?}"),
    }
    assert!(matches!(c.resolve(""), Err(Error::UnknownModel { .. })));
    assert!(matches!(
        c.resolve("gpt-5-ultra"),
        Err(Error::UnknownModel { .. })
    ));
}

#[test]
fn access_follows_preference() {
    let c = Catalog::bundled().unwrap();
    let nova = "amazon.nova-pro-v1:0";
    let a = c
        .access("Nova Pro", "us-east-1", AccessPreference::PreferDirect)
        .unwrap();
    assert_eq!(
        (a.invoke_id.as_str(), a.method),
        (nova, AccessMethod::Direct)
    );
    assert_eq!(a.model_id, nova);
    let a = c
        .access(
            "Nova Pro",
            "us-east-1",
            AccessPreference::PreferRegionalProfile,
        )
        .unwrap();
    assert_eq!(
        (a.invoke_id.as_str(), a.method),
        ("us.amazon.nova-pro-v1:0", AccessMethod::RegionalProfile)
    );

    let haiku45 = "Claude Haiku 4.5";
    let a = c
        .access(haiku45, "us-east-1", AccessPreference::PreferDirect)
        .unwrap();
    assert_eq!(a.method, AccessMethod::RegionalProfile);
    assert_eq!(a.invoke_id, "us.anthropic.claude-haiku-4-5-20251001-v1:0");
    let a = c
        .access(haiku45, "us-east-1", AccessPreference::PreferGlobalProfile)
        .unwrap();
    assert_eq!(
        a.invoke_id,
        "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    );
    let a = c
        .access(haiku45, "ap-northeast-1", AccessPreference::PreferDirect)
        .unwrap();
    assert_eq!(a.invoke_id, "jp.anthropic.claude-haiku-4-5-20251001-v1:0");
    let a = c
        .access(
            haiku45,
            "ap-south-1",
            AccessPreference::PreferRegionalProfile,
        )
        .unwrap();
    assert_eq!(a.method, AccessMethod::GlobalProfile);

    let all = c
        .accesses(haiku45, "us-east-1", AccessPreference::PreferGlobalProfile)
        .unwrap();
    let methods: Vec<AccessMethod> = all.iter().map(|a| a.method).collect();
    assert_eq!(
        methods,
        [AccessMethod::GlobalProfile, AccessMethod::RegionalProfile]
    );
    let all = c
        .accesses("Nova Pro", "us-east-1", AccessPreference::PreferDirect)
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].method, AccessMethod::Direct);

    // A profile id given explicitly is used as is.
    let a = c
        .access(
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us-east-1",
            AccessPreference::PreferDirect,
        )
        .unwrap();
    assert_eq!(a.method, AccessMethod::GlobalProfile);

    match c.access(
        "Claude 3 7 Sonnet",
        "sa-east-1",
        AccessPreference::PreferDirect,
    ) {
        Err(Error::NotAvailableInRegion {
            available_regions, ..
        }) => assert!(!available_regions.is_empty()),
        other => panic!("expected NotAvailableInRegion, got {other:?}"),
    }
}

#[test]
fn availability_and_listing() {
    let c = Catalog::bundled().unwrap();
    assert!(c.is_available("Claude 3 Haiku", "us-east-1"));
    assert!(!c.is_available("Claude 3 Haiku", "mars-north-1"));
    assert!(!c.is_available("no such model", "us-east-1"));
    let in_us = c.models_in_region("us-east-1").count();
    assert!(in_us > 50 && in_us < c.models().len(), "{in_us}");
    assert_eq!(c.models_by_provider("anthropic").count(), 17);
    assert_eq!(c.models_by_provider("TwelveLabs").count(), 3);
    let eu = c.regions_for("Claude Haiku 4.5", Some(Geo::Eu)).unwrap();
    assert!(
        !eu.is_empty() && eu.iter().all(|r| r.starts_with("eu-")),
        "{eu:?}"
    );
    let all = c.regions_for("Claude Haiku 4.5", None).unwrap();
    assert_eq!(all.len(), 17);
    let jp = c.regions_for("Claude Haiku 4.5", Some(Geo::Jp)).unwrap();
    assert_eq!(jp, ["ap-northeast-1", "ap-northeast-3"]);
}

#[test]
fn capabilities_come_from_overrides() {
    let c = Catalog::bundled().unwrap();
    let haiku = c.resolve("Claude Haiku 4.5").unwrap();
    let caching = haiku.capabilities.prompt_caching.unwrap();
    assert_eq!(
        (caching.min_tokens, caching.max_points, caching.ttl_1h),
        (4096, 4, true)
    );
    assert!(haiku.capabilities.tools && haiku.capabilities.documents && haiku.capabilities.images);
    let micro = c.resolve("Nova Micro").unwrap();
    assert!(
        micro.capabilities.tools && !micro.capabilities.images && !micro.capabilities.documents
    );
    let mistral7b = c.resolve("Mistral 7B Instruct").unwrap();
    assert!(!mistral7b.capabilities.system_prompt);
    // No override: derived defaults.
    let embed = c.resolve("Titan Embed Text").unwrap();
    assert!(
        !embed.capabilities.system_prompt
            && !embed.capabilities.tools
            && embed.capabilities.source.is_none()
    );
    // The :32k variant inherits its base model's entry.
    let v = c
        .resolve("anthropic.claude-sonnet-4-20250514-v1:0:32k")
        .unwrap();
    assert_eq!(
        v.capabilities.prompt_caching.map(|p| p.min_tokens),
        Some(1024)
    );
}

#[test]
fn bundled_snapshot_matches_current_overrides() {
    let snap = bedrock_catalog::Snapshot::bundled().unwrap();
    let mut again = snap.clone();
    let overrides = bedrock_catalog::Overrides::bundled().unwrap();
    again.apply_overrides(&overrides);
    again.apply_names(&overrides);
    assert!(
        snap == again,
        "bundled.json is stale: run `cargo xtask refresh-catalog --from-reference`"
    );
}

#[test]
fn bundled_metadata() {
    let c = Catalog::bundled().unwrap();
    let m = c.metadata();
    assert_eq!(m.source, bedrock_catalog::DataSource::Bundled);
    assert_eq!(m.data_version, "20260617T205522Z");
    assert_eq!(m.bundled_data_version, m.data_version);
    assert_eq!(m.regions_queried.len(), 17);
    assert!(c.warnings().is_empty());
    assert_eq!(
        bedrock_catalog::format_rfc3339(m.retrieved_at),
        "2026-06-17T20:55:22Z"
    );
}
