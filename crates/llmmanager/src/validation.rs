//! Response validation: a caller-supplied check of each answer, with fresh answers on failure.
//!
//! When an answer fails validation the manager asks the model again: a new call to the same
//! target, optionally with the rejected answer and the validation message appended to the
//! conversation so the model can correct itself. After `retries` rejected answers it moves on to
//! the next target. Every validation is recorded in the response.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::routing::Target;
use bedrock_messages::{ContentBlock, ConverseRequest, ConverseResponse, Message, Role};

/// The verdict on one answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValidationResult {
    /// The answer is acceptable.
    Valid,
    /// The answer is not acceptable, and why.
    Invalid {
        /// A message for the caller (and, with feedback on, for the model).
        message: String,
        /// Structured details for the caller (which fields failed, for instance).
        details: Option<serde_json::Value>,
    },
}

impl ValidationResult {
    /// An invalid result with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            details: None,
        }
    }

    /// An invalid result with a message and structured details.
    pub fn invalid_with_details(message: impl Into<String>, details: serde_json::Value) -> Self {
        Self::Invalid {
            message: message.into(),
            details: Some(details),
        }
    }

    /// Whether the answer was accepted.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid)
    }
}

/// What a validator knows about the answer besides its content: who gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationContext<'a> {
    /// The base model id that answered.
    pub model_id: &'a str,
    /// The region that answered.
    pub region: &'a str,
    /// The 1-based number of this validation within the call.
    pub number: u32,
}

type Validator =
    dyn Fn(&ConverseResponse, &ValidationContext<'_>) -> ValidationResult + Send + Sync;

/// How answers are validated.
#[derive(Clone)]
pub struct ValidationConfig {
    validator: Arc<Validator>,
    retries: u32,
    delay: Duration,
    feedback: bool,
}

impl fmt::Debug for ValidationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidationConfig")
            .field("retries", &self.retries)
            .field("delay", &self.delay)
            .field("feedback", &self.feedback)
            .finish_non_exhaustive()
    }
}

impl ValidationConfig {
    /// Validates every answer with `validator`; 3 fresh answers per target, no delay, no feedback
    /// (the original's defaults).
    pub fn new(
        validator: impl Fn(&ConverseResponse) -> ValidationResult + Send + Sync + 'static,
    ) -> Self {
        Self::with_context(move |response, _| validator(response))
    }

    /// Like [`ValidationConfig::new`], with a validator that also sees which model in which
    /// region answered ([`ValidationContext`]).
    pub fn with_context(
        validator: impl Fn(&ConverseResponse, &ValidationContext<'_>) -> ValidationResult
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            validator: Arc::new(validator),
            retries: 3,
            delay: Duration::ZERO,
            feedback: false,
        }
    }

    /// How many more answers to ask a target for after a rejected one.
    #[must_use]
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// How long to wait before asking again.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Whether to show the model its rejected answer and the validation message when asking again.
    #[must_use]
    pub fn with_feedback(mut self, feedback: bool) -> Self {
        self.feedback = feedback;
        self
    }

    /// Fresh answers asked for per target after a rejection.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The delay before asking again.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Whether feedback is sent back to the model.
    pub fn feedback(&self) -> bool {
        self.feedback
    }

    pub(crate) fn check(
        &self,
        response: &ConverseResponse,
        context: &ValidationContext<'_>,
    ) -> ValidationResult {
        (self.validator)(response, context)
    }

    /// The request to send after `rejected` failed with `message`.
    pub(crate) fn next_request(
        &self,
        request: &ConverseRequest,
        rejected: &ConverseResponse,
        message: &str,
    ) -> ConverseRequest {
        let mut next = request.clone();
        if self.feedback {
            let answer = rejected.text();
            // An answer that is only a tool call is shown as the call's input.
            let answer = if answer.trim().is_empty() {
                rejected
                    .tool_uses()
                    .next()
                    .map_or_else(|| "(no text)".to_owned(), |tool| tool.input.to_string())
            } else {
                answer
            };
            next.messages.push(Message {
                role: Role::Assistant,
                content: vec![ContentBlock::Text(answer)],
            });
            next.messages.push(Message {
                role: Role::User,
                content: vec![ContentBlock::Text(format!(
                    "Your previous answer was rejected by validation: {message}. Please answer again."
                ))],
            });
        }
        next
    }
}

/// One validated answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ValidationAttempt {
    /// Where the answer came from.
    pub target: Target,
    /// 1 for the first answer validated in the call, counting across targets.
    pub number: u32,
    /// The verdict.
    pub result: ValidationResult,
    /// The text of a rejected answer.
    pub rejected_text: Option<String>,
}
