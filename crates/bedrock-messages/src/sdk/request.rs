//! Whole requests: every field of a `ConverseRequest` set on the SDK's Converse and
//! ConverseStream builders, and read back from a Converse input.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::operation::converse::builders::{
    ConverseFluentBuilder, ConverseInputBuilder,
};
use aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::Document;

use super::{document_to_json, json_to_document};
use crate::error::Error;
use crate::model::{ConverseRequest, Message, SystemBlock};

// ---- whole requests ----

/// The request's parts as SDK values, shared by the Converse and ConverseStream paths.
struct Parts {
    messages: Vec<sdk::Message>,
    system: Option<Vec<sdk::SystemContentBlock>>,
    inference: Option<sdk::InferenceConfiguration>,
    tools: Option<sdk::ToolConfiguration>,
    fields: Option<Document>,
    paths: Option<Vec<String>>,
    metadata: Option<HashMap<String, String>>,
    performance: Option<sdk::PerformanceConfiguration>,
}

fn parts(req: &ConverseRequest) -> Result<Parts, Error> {
    Ok(Parts {
        messages: req
            .messages
            .iter()
            .map(sdk::Message::try_from)
            .collect::<Result<_, _>>()?,
        system: if req.system.is_empty() {
            None
        } else {
            Some(
                req.system
                    .iter()
                    .map(sdk::SystemContentBlock::try_from)
                    .collect::<Result<_, _>>()?,
            )
        },
        inference: req
            .inference_config
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        tools: req
            .tool_config
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        fields: req
            .additional_model_request_fields
            .as_ref()
            .map(json_to_document),
        paths: (!req.additional_model_response_field_paths.is_empty())
            .then(|| req.additional_model_response_field_paths.clone()),
        metadata: (!req.request_metadata.is_empty()).then(|| {
            req.request_metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        performance: req.performance_config.as_ref().map(Into::into),
    })
}

macro_rules! apply_parts {
    ($b:expr, $p:expr, $guardrail:expr) => {
        $b.set_messages(Some($p.messages))
            .set_system($p.system)
            .set_inference_config($p.inference)
            .set_tool_config($p.tools)
            .set_guardrail_config($guardrail)
            .set_additional_model_request_fields($p.fields)
            .set_additional_model_response_field_paths($p.paths)
            .set_request_metadata($p.metadata)
            .set_performance_config($p.performance)
    };
}

/// Sets every field of `req` on a Converse call (the model id is the caller's).
///
/// # Errors
/// [`Error::Conversion`] or [`Error::SdkBuild`] if a value has no SDK equivalent.
pub fn apply_to_converse(
    req: &ConverseRequest,
    b: ConverseFluentBuilder,
) -> Result<ConverseFluentBuilder, Error> {
    let p = parts(req)?;
    Ok(apply_parts!(
        b,
        p,
        req.guardrail_config.as_ref().map(Into::into)
    ))
}

/// Sets every field of `req` on a ConverseStream call; the guardrail becomes a
/// `GuardrailStreamConfiguration` carrying `stream_processing_mode`.
///
/// # Errors
/// [`Error::Conversion`] or [`Error::SdkBuild`] if a value has no SDK equivalent.
pub fn apply_to_converse_stream(
    req: &ConverseRequest,
    b: ConverseStreamFluentBuilder,
) -> Result<ConverseStreamFluentBuilder, Error> {
    let p = parts(req)?;
    Ok(apply_parts!(
        b,
        p,
        req.guardrail_config.as_ref().map(Into::into)
    ))
}

/// Sets every field of `req` on a Converse input builder (useful without a client).
///
/// # Errors
/// [`Error::Conversion`] or [`Error::SdkBuild`] if a value has no SDK equivalent.
pub fn apply_to_converse_input(
    req: &ConverseRequest,
    b: ConverseInputBuilder,
) -> Result<ConverseInputBuilder, Error> {
    let p = parts(req)?;
    Ok(apply_parts!(
        b,
        p,
        req.guardrail_config.as_ref().map(Into::into)
    ))
}

/// Reads a request back from a Converse input builder (the inverse of [`apply_to_converse_input`]).
///
/// # Errors
/// [`Error::Conversion`] for SDK values this model does not represent.
pub fn request_from_converse_input(b: &ConverseInputBuilder) -> Result<ConverseRequest, Error> {
    Ok(ConverseRequest {
        messages: b
            .get_messages()
            .iter()
            .flatten()
            .map(Message::try_from)
            .collect::<Result<_, _>>()?,
        system: b
            .get_system()
            .iter()
            .flatten()
            .map(SystemBlock::try_from)
            .collect::<Result<_, _>>()?,
        inference_config: b
            .get_inference_config()
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        tool_config: b
            .get_tool_config()
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        guardrail_config: b
            .get_guardrail_config()
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        additional_model_request_fields: b
            .get_additional_model_request_fields()
            .as_ref()
            .map(document_to_json)
            .transpose()?,
        additional_model_response_field_paths: b
            .get_additional_model_response_field_paths()
            .clone()
            .unwrap_or_default(),
        request_metadata: b
            .get_request_metadata()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        performance_config: b
            .get_performance_config()
            .as_ref()
            .map(TryInto::try_into)
            .transpose()?,
        warnings: Vec::new(),
    })
}
