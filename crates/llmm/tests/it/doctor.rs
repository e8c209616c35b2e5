//! `llmm doctor`: the report's sections and its exit codes.

use bedrock_sim::Scenario;

use crate::support::{llmm, llmm_with_only_env, llmm_without_credentials, sim};

/// The section headings every report has, in order.
const SECTIONS: &[&str] = &["Credentials\n", "Regions\n", "Models\n", "Control plane\n"];

#[track_caller]
fn assert_sections(stdout: &str) {
    let mut from = 0;
    for section in SECTIONS {
        let at = stdout[from..]
            .find(section)
            .unwrap_or_else(|| panic!("no section {section:?} after byte {from}:\n{stdout}"));
        from += at + section.len();
    }
}

#[tokio::test]
async fn the_simulator_passes_every_check() {
    for args in [&["--simulate", "doctor"][..], &["doctor", "--simulate"]] {
        let run = llmm(args).await;
        run.assert_code(0);
        let out = &run.stdout;
        assert_sections(out);
        assert!(out.contains("source: simulator (fake keys)"), "{out}");
        assert!(out.contains("us-east-1, us-west-2, eu-west-1"), "{out}");
        assert!(
            out.contains("Claude 3 Haiku: anthropic.claude-3-haiku-20240307-v1:0"),
            "{out}"
        );
        assert!(
            out.contains("    us-east-1: direct -> anthropic.claude-3-haiku-20240307-v1:0"),
            "{out}"
        );
        assert!(
            out.contains("ListFoundationModels in us-east-1: ok in "),
            "{out}"
        );
        assert!(out.trim_end().ends_with("All fine."), "{out}");
    }
}

#[tokio::test]
async fn models_show_their_access_and_invoke_id_per_region() {
    let run = llmm(&[
        "--simulate",
        "doctor",
        "-m",
        "Claude Haiku 4.5",
        "-r",
        "eu-west-1",
    ])
    .await;
    run.assert_code(0);
    assert!(
        run.stdout.contains(
            "    eu-west-1: regional_profile -> eu.anthropic.claude-haiku-4-5-20251001-v1:0"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ListFoundationModels in eu-west-1"));
}

#[tokio::test]
async fn no_credentials_say_what_to_do_and_exit_4() {
    let sim = sim(Scenario::default()).await;
    let run = llmm_without_credentials(&["doctor"], &sim.endpoint_url()).await;
    run.assert_code(4);
    let out = &run.stdout;
    assert_sections(out);
    assert!(out.contains("none found"), "{out}");
    assert!(out.contains("aws configure"), "{out}");
    assert!(out.contains("--simulate"), "{out}");
    assert!(out.contains("skipped: no credentials"), "{out}");
    assert!(out.contains("exit code 4"), "{out}");
    assert_eq!(
        sim.stats().requests,
        0,
        "nothing can be signed, so nothing is sent"
    );
}

#[tokio::test]
async fn credentials_from_the_environment_are_named_without_their_secret() {
    let sim = sim(Scenario::default()).await;
    let run = llmm_with_only_env(
        &["doctor", "-r", "us-west-2"],
        &sim.endpoint_url(),
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDDOCTORTEST"),
            ("AWS_SECRET_ACCESS_KEY", "doctor-secret-value"),
        ],
    )
    .await;
    run.assert_code(0);
    let out = &run.stdout;
    assert!(out.contains("source: environment"), "{out}");
    assert!(
        out.contains("ListFoundationModels in us-west-2: ok in "),
        "{out}"
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains("doctor-secret-value"), "{all}");
}

#[tokio::test]
async fn an_unreachable_control_plane_exits_5() {
    // A port nothing listens on: the probe is refused at once, and stays on 127.0.0.1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = llmm_with_only_env(
        &["doctor"],
        &url,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDDOCTORTEST"),
            ("AWS_SECRET_ACCESS_KEY", "doctor-secret-value"),
        ],
    )
    .await;
    run.assert_code(5);
    assert!(run.stdout.contains("failed after"), "{}", run.stdout);
    assert!(run.stdout.contains("exit code 5"), "{}", run.stdout);
    assert!(!run.stdout.contains("DispatchFailure"), "{}", run.stdout);
}

#[tokio::test]
async fn an_unknown_model_is_reported_with_exit_2() {
    let run = llmm(&["--simulate", "doctor", "-m", "No Such Model"]).await;
    run.assert_code(2);
    assert_sections(&run.stdout);
    assert!(run.stdout.contains("No Such Model"), "{}", run.stdout);
}
