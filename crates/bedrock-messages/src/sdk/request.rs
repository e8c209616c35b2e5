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
use crate::model::{
    ConverseRequest, JsonSchemaDefinition, Message, OutputConfig, OutputFormat, OutputStructure,
    PromptVariable, ServiceTier, ServiceTierType, SystemBlock,
};

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
    variables: Option<HashMap<String, sdk::PromptVariableValues>>,
    output: Option<sdk::OutputConfig>,
    tier: Option<sdk::ServiceTier>,
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
        variables: (!req.prompt_variables.is_empty()).then(|| {
            req.prompt_variables
                .iter()
                .filter_map(|(k, v)| match v {
                    PromptVariable::Text(t) => {
                        Some((k.clone(), sdk::PromptVariableValues::Text(t.clone())))
                    }
                    #[allow(unreachable_patterns, reason = "the enum is non-exhaustive")]
                    _ => None,
                })
                .collect()
        }),
        output: req.output_config.as_ref().map(output_to_sdk).transpose()?,
        tier: req
            .service_tier
            .map(|t| {
                sdk::ServiceTier::builder()
                    .r#type(sdk::ServiceTierType::from(t.tier.as_str()))
                    .build()
                    .map_err(Error::sdk("ServiceTier"))
            })
            .transpose()?,
    })
}

fn output_to_sdk(c: &OutputConfig) -> Result<sdk::OutputConfig, Error> {
    let text_format = c
        .text_format
        .as_ref()
        .map(|f| {
            let structure = match &f.structure {
                Some(OutputStructure::JsonSchema(j)) => {
                    Some(sdk::OutputFormatStructure::JsonSchema(
                        sdk::JsonSchemaDefinition::builder()
                            .schema(&j.schema)
                            .set_name(j.name.clone())
                            .set_description(j.description.clone())
                            .build()
                            .map_err(Error::sdk("JsonSchemaDefinition"))?,
                    ))
                }
                None => None,
                #[allow(unreachable_patterns, reason = "the enum is non-exhaustive")]
                Some(_) => None,
            };
            sdk::OutputFormat::builder()
                .r#type(sdk::OutputFormatType::from(f.format_type.as_str()))
                .set_structure(structure)
                .build()
                .map_err(Error::sdk("OutputFormat"))
        })
        .transpose()?;
    Ok(sdk::OutputConfig::builder()
        .set_text_format(text_format)
        .build())
}

fn output_from_sdk(c: &sdk::OutputConfig) -> OutputConfig {
    OutputConfig {
        text_format: c.text_format().map(|f| OutputFormat {
            format_type: f.r#type().as_str().to_owned(),
            structure: match f.structure() {
                Some(sdk::OutputFormatStructure::JsonSchema(j)) => {
                    Some(OutputStructure::JsonSchema(JsonSchemaDefinition {
                        schema: j.schema().to_owned(),
                        name: j.name().map(str::to_owned),
                        description: j.description().map(str::to_owned),
                    }))
                }
                _ => None,
            },
        }),
    }
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
            .set_prompt_variables($p.variables)
            .set_output_config($p.output)
            .set_service_tier($p.tier)
    };
}

/// Sets every field of `req` on a Converse call (the model id is the caller's).
///
/// # Errors
/// [`Error::Conversion`] or [`Error::SdkBuild`] if a value has no SDK equivalent.
///
/// [`ConverseRequest::extra_fields`] have no place in the SDK's input and are not applied here;
/// `llmmanager` adds them to the serialised body.
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
        prompt_variables: b
            .get_prompt_variables()
            .iter()
            .flatten()
            .filter_map(|(k, v)| match v {
                sdk::PromptVariableValues::Text(t) => {
                    Some((k.clone(), PromptVariable::Text(t.clone())))
                }
                _ => None,
            })
            .collect(),
        output_config: b.get_output_config().as_ref().map(output_from_sdk),
        service_tier: b
            .get_service_tier()
            .as_ref()
            .and_then(|t| t.r#type().as_str().parse::<ServiceTierType>().ok())
            .map(|tier| ServiceTier { tier }),
        // The SDK's input has no place for fields it does not name.
        extra_fields: std::collections::BTreeMap::new(),
        warnings: Vec::new(),
    })
}
