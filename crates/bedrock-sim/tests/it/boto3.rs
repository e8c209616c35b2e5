//! boto3 compatibility, run only when `BEDROCK_SIM_BOTO3=1` (needs `python3` with `boto3`).

use bedrock_sim::{Scenario, Simulator};

#[tokio::test]
async fn boto3_smoke_script_passes() {
    if std::env::var("BEDROCK_SIM_BOTO3").as_deref() != Ok("1") {
        return;
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let scenario =
        Scenario::from_file(format!("{root}/fixtures/scenarios/boto3-smoke.json")).unwrap();
    let sim = Simulator::start(scenario).await.unwrap();
    let out = tokio::process::Command::new("python3")
        .arg(format!("{root}/crates/bedrock-sim/scripts/boto3_smoke.py"))
        .arg(sim.endpoint_url())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 smoke failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"ok\": true"));
    assert_eq!(sim.stats().by_outcome["ThrottlingException"], 1);
    sim.shutdown().await;
}
