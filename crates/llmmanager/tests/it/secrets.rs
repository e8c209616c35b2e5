//! Secrets never appear in `Debug` output, logs or errors.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Scenario};
use llmmanager::Auth;

use crate::support::{HAIKU, SECRET, east_west, hello, manager, sim};

#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One process-wide subscriber capturing this crate's and the SDK's logs. A global one, because a
/// thread-local default misses events from callsites whose interest other tests' threads cached
/// first; every test of the binary then logs into it, which only widens what is checked.
pub(crate) fn captured_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "llmmanager=trace,bedrock_retry=trace,aws_config=debug,aws_smithy_runtime=debug,aws_sigv4=debug",
            ))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

#[tokio::test]
async fn keys_and_tokens_stay_out_of_debug_logs_and_errors() {
    let logs = captured_logs();

    let scenario = Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::AccessDeniedException)).region("us-east-1"),
    );
    let sim = sim(scenario).await;
    let m = east_west(&sim).build().await.unwrap();
    let ok = m.converse(&hello()).await.unwrap();
    let bearer = manager(&sim)
        .auth(Auth::bearer_token("bedrock-api-key-SUPERSECRET"))
        .model(HAIKU)
        .region("us-east-1")
        .build()
        .await
        .unwrap();
    let err = bearer.converse(&hello()).await.unwrap_err();

    let logs = logs.text();
    assert!(
        logs.contains("attempt"),
        "tracing captured the calls: {logs}"
    );
    let everything = format!("{m:?} {bearer:?} {ok:?} {err:?} {err} {logs}");
    assert!(!everything.contains(SECRET));
    assert!(!everything.contains("SUPERSECRET"));
}
