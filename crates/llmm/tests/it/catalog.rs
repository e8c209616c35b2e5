//! `llmm models` and `llmm regions`.

use serde_json::Value;

use crate::support::llmm;

#[tokio::test]
async fn models_json_shape() {
    let run = llmm(&["models", "--json", "--provider", "meta", "-r", "eu-west-1"]).await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    insta::assert_json_snapshot!("models_json", value);
}

#[tokio::test]
async fn models_table_lists_ids_and_features() {
    let run = llmm(&["models", "-r", "us-east-1"]).await;
    run.assert_code(0);
    let mut lines = run.stdout.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("MODEL ID"), "{header}");
    assert!(header.contains("FEATURES"));
    let haiku = run
        .stdout
        .lines()
        .find(|l| l.starts_with("anthropic.claude-3-haiku-20240307-v1:0 "))
        .unwrap();
    assert!(
        haiku.contains("Anthropic") && haiku.contains("stream"),
        "{haiku}"
    );
    assert!(run.stderr.contains("catalog: bundled"), "{}", run.stderr);
}

#[tokio::test]
async fn models_shows_the_names_users_type_and_each_resolves() {
    let run = llmm(&["models"]).await;
    run.assert_code(0);
    for (id, name) in [
        (
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "Claude Haiku 4.5",
        ),
        ("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
        ("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct"),
        ("amazon.nova-lite-v1:0", "Nova Lite"),
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} listed"));
        assert!(line.contains(&format!("  {name}  ")), "{line}");
    }
    for (name, id) in [
        (
            "Claude Haiku 4.5",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("Llama 3.1 70B Instruct", "meta.llama3-1-70b-instruct-v1:0"),
        ("Nova Lite", "amazon.nova-lite-v1:0"),
        // The former display name still resolves.
        ("Llama3 1 70b Instruct", "meta.llama3-1-70b-instruct-v1:0"),
    ] {
        let run = llmm(&["chat", "--simulate", "-m", name, "--json", "Hi"]).await;
        run.assert_code(0);
        let value: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(value["model"], id, "{name}");
    }
}

#[tokio::test]
async fn an_unknown_provider_exits_2() {
    let run = llmm(&["models", "--provider", "Nobody"]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("unknown provider \"Nobody\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Anthropic"), "{}", run.stderr);
}

#[tokio::test]
async fn models_refresh_from_the_simulator() {
    let run = llmm(&[
        "--simulate",
        "-r",
        "us-east-1",
        "-r",
        "eu-west-1",
        "models",
        "--refresh",
    ])
    .await;
    run.assert_code(0);
    assert!(run.stderr.contains("catalog: api"), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("anthropic.claude-3-haiku-20240307-v1:0"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn regions_lists_model_counts() {
    let run = llmm(&["regions", "--json"]).await;
    run.assert_code(0);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    let regions = value.as_array().unwrap();
    let east = regions.iter().find(|r| r["region"] == "us-east-1").unwrap();
    assert!(east["models"].as_u64().unwrap() > 10);
    assert!(east["direct"].as_u64().unwrap() <= east["models"].as_u64().unwrap());

    let table = llmm(&["regions"]).await;
    table.assert_code(0);
    assert!(table.stdout.starts_with("REGION"), "{}", table.stdout);
    assert!(table.stdout.contains("\nus-east-1 "));
}
