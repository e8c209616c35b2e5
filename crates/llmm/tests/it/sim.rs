//! `llmm sim`: a simulator other commands reach with `--endpoint-url`, stopped by Ctrl-C.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::support::{fixture, llmm, root};

#[tokio::test]
async fn serves_until_stopped_and_other_commands_reach_it() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_llmm"))
        .args(["sim", "--scenario", &fixture("scenarios/default.json")])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = lines.next_line().await.unwrap().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let run = llmm(&["--endpoint-url", &url, "chat", "--json", "Hi"]).await;
    run.assert_code(0);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["ok"], true);

    // Ctrl-C (SIGINT to the process started above) stops it cleanly.
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("stopped after 1 request(s)"), "{stderr}");
}

#[tokio::test]
async fn batch_help_documents_the_line_format() {
    let run = llmm(&["batch", "--help"]).await;
    run.assert_code(0);
    for needle in [
        "\"prompt\"",
        "\"messages\"",
        "\"ok\":false",
        "Resume",
        "Exit code",
    ] {
        assert!(run.stdout.contains(needle), "{needle} in\n{}", run.stdout);
    }
}
