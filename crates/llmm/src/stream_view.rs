//! `chat --stream` on a terminal: the text as it arrives, recoveries and final statistics aside.

use std::io::Write;

use llmmanager::{ConverseStream, RecoveryKind, StreamEvent, StreamResponse};

/// Why showing a stream stopped before its final response.
#[derive(Debug)]
pub(crate) enum ViewError {
    /// The call failed (every attempt, or mid-answer with nowhere left to go).
    Stream(llmmanager::Error),
    /// Writing the text or the statistics failed.
    Write(std::io::Error),
    /// The stream ended without a final response.
    NoResult,
}

impl From<std::io::Error> for ViewError {
    fn from(error: std::io::Error) -> Self {
        Self::Write(error)
    }
}

/// Writes a stream's text to `out` as it arrives, notes recoveries and the final statistics to
/// `stats`, and returns the final response.
///
/// On a restart the text already written cannot be taken back, so `stats` gets a line saying how
/// many characters to disregard.
pub(crate) async fn show(
    mut stream: ConverseStream,
    out: &mut (dyn Write + Send),
    stats: &mut (dyn Write + Send),
) -> Result<StreamResponse, ViewError> {
    while let Some(item) = stream.next_event().await {
        match item.map_err(ViewError::Stream)? {
            StreamEvent::TextDelta { text, .. } => {
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            StreamEvent::Recovered(r) => match r.kind {
                RecoveryKind::Restarted => {
                    writeln!(
                        stats,
                        "[{} failed ({}); the answer restarts: disregard the {} character(s) above]",
                        r.failed, r.reason, r.chars
                    )?;
                    writeln!(out)?;
                }
                _ => {
                    writeln!(
                        stats,
                        "[{} failed ({}); continuing on the next target]",
                        r.failed, r.reason
                    )?;
                }
            },
            StreamEvent::Completed(response) => {
                writeln!(out)?;
                let usage = response.usage.unwrap_or_default();
                writeln!(
                    stats,
                    "[{} in {} via {}; {} attempt(s); first token {}; total {:.0?}; tokens in/out {}/{}]",
                    response.model_id,
                    response.region,
                    response.access_method,
                    response.attempts.len(),
                    response
                        .time_to_first_token
                        .map_or_else(|| "-".to_owned(), |d| format!("{d:.0?}")),
                    response.duration,
                    usage.input_tokens,
                    usage.output_tokens,
                )?;
                return Ok(*response);
            }
            _ => {}
        }
    }
    Err(ViewError::NoResult)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests abort on failure")]

    use bedrock_sim::{Scenario, Simulator};
    use llmmanager::{Auth, ConverseRequest, LlmManager, Message};

    use super::show;

    #[tokio::test]
    async fn writes_the_text_then_one_line_of_statistics() {
        let sim = Simulator::start(Scenario::default()).await.unwrap();
        let manager = LlmManager::builder()
            .model("Claude 3 Haiku")
            .region("us-east-1")
            .auth(Auth::static_keys("AKIDTEST", "secret"))
            .endpoint_url(sim.endpoint_url())
            .build()
            .await
            .unwrap();
        let request = ConverseRequest::builder()
            .message(Message::user().text("Hello").build().unwrap())
            .build()
            .unwrap();
        let mut out = Vec::new();
        let mut stats = Vec::new();
        let stream = manager.converse_stream(&request).await.unwrap();
        let response = show(stream, &mut out, &mut stats).await.unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{}\n", response.text)
        );
        let stats = String::from_utf8(stats).unwrap();
        assert!(
            stats.starts_with(&format!(
                "[anthropic.claude-3-haiku-20240307-v1:0 in us-east-1 via {}; 1 attempt(s); first token ",
                response.access_method
            )),
            "{stats}"
        );
        assert_eq!(stats.lines().count(), 1, "{stats}");
        sim.shutdown().await;
    }
}
