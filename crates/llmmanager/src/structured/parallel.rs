//! Typed answers in batches: [`StructuredService`] runs each request of a
//! [`crate::ParallelLlmManager`] batch as a typed-answer call when it carries a schema, and as a
//! plain call when it does not.

use bedrock_messages::ConverseRequest;
use bedrock_parallel::{ConverseService, ErrorStats, Placement, ResponseStats, Usage};
use futures::future::BoxFuture;
use serde_json::Value;

use super::{Mechanism, Schema, StructuredError};
use crate::call::CallOptions;
use crate::manager::LlmManager;
use crate::response::Response;

/// One request of a batch, with the schema its answer must match (`None`: a plain answer).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StructuredRequest {
    /// The request.
    pub request: ConverseRequest,
    /// The schema of the answer, if a typed answer is wanted.
    pub schema: Option<Schema>,
}

impl StructuredRequest {
    /// A request whose answer must match `schema`.
    pub fn new(request: ConverseRequest, schema: Schema) -> Self {
        Self {
            request,
            schema: Some(schema),
        }
    }

    /// A request for a plain answer.
    pub fn plain(request: ConverseRequest) -> Self {
        Self {
            request,
            schema: None,
        }
    }
}

/// The answer to one [`StructuredRequest`].
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct StructuredAnswer {
    /// The validated JSON value, when the request had a schema.
    pub json: Option<Value>,
    /// How the answering model was asked, when the request had a schema.
    pub mechanism: Option<Mechanism>,
    /// The full response.
    pub response: Response,
}

impl StructuredAnswer {
    /// The value as a Rust type.
    ///
    /// # Errors
    /// The deserialisation error, or one saying there is no value (a plain request).
    pub fn value<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match &self.json {
            Some(json) => T::deserialize(json),
            None => Err(serde::de::Error::custom(
                "the request asked for no typed answer",
            )),
        }
    }
}

/// An [`LlmManager`] answering [`StructuredRequest`]s, for `bedrock-parallel`.
#[derive(Debug, Clone)]
pub struct StructuredService(pub LlmManager);

impl ConverseService for StructuredService {
    type Request = StructuredRequest;
    type Response = StructuredAnswer;
    type Error = StructuredError;

    fn call(
        &self,
        request: StructuredRequest,
        placement: Placement,
    ) -> BoxFuture<'static, Result<StructuredAnswer, StructuredError>> {
        let manager = self.0.clone();
        Box::pin(async move {
            let options = CallOptions::for_placement(placement);
            match &request.schema {
                Some(schema) => {
                    let answer = manager
                        .converse_structured_value(&request.request, schema, &options)
                        .await?;
                    Ok(StructuredAnswer {
                        json: Some(answer.json),
                        mechanism: Some(answer.mechanism),
                        response: answer.response,
                    })
                }
                None => {
                    let response = manager.converse_with(&request.request, &options).await?;
                    Ok(StructuredAnswer {
                        json: None,
                        mechanism: None,
                        response,
                    })
                }
            }
        })
    }
}

impl ResponseStats for StructuredAnswer {
    fn region(&self) -> Option<&str> {
        ResponseStats::region(&self.response)
    }

    fn usage(&self) -> Option<Usage> {
        ResponseStats::usage(&self.response)
    }

    fn attempts(&self) -> Option<u32> {
        ResponseStats::attempts(&self.response)
    }
}

impl ErrorStats for StructuredError {
    fn region(&self) -> Option<&str> {
        self.attempts().last().map(|a| a.target.region.as_str())
    }

    fn attempts(&self) -> Option<u32> {
        u32::try_from(StructuredError::attempts(self).len()).ok()
    }
}
