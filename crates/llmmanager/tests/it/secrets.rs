//! Secrets never appear in `Debug` output, logs or errors.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Scenario};
use llmmanager::Auth;

use crate::support::{HAIKU, SECRET, hello, manager, sim};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn keys_and_tokens_stay_out_of_debug_logs_and_errors() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::AccessDeniedException)).region("us-east-1"),
    );
    let sim = sim(scenario).await;
    let m = manager(&sim)
        .model(HAIKU)
        .regions(["us-east-1", "us-west-2"])
        .build()
        .await
        .unwrap();
    let ok = m.converse(&hello()).await.unwrap();
    let bearer = manager(&sim)
        .auth(Auth::bearer_token("bedrock-api-key-SUPERSECRET"))
        .model(HAIKU)
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    let err = bearer.converse(&hello()).await.unwrap_err();

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("attempt"),
        "tracing captured the calls: {logs}"
    );
    let everything = format!("{m:?} {bearer:?} {ok:?} {err:?} {err} {logs}");
    assert!(!everything.contains(SECRET));
    assert!(!everything.contains("SUPERSECRET"));
}
