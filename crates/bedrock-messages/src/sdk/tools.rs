//! Tools: tool results and the tool configuration (specs, schemas, choice, system tools).

use aws_sdk_bedrockruntime::types as sdk;

use super::{cannot_send, document_to_json, json_to_document, parse, raw_block, unsupported};
use crate::error::Error;
use crate::model::{
    SystemTool, Tool, ToolChoice, ToolConfig, ToolInputSchema, ToolResultBlock, ToolResultContent,
    ToolResultStatus, ToolSpec,
};

pub(super) fn tool_result_to_sdk(r: &ToolResultBlock) -> Result<sdk::ToolResultBlock, Error> {
    let content = r
        .content
        .iter()
        .map(|c| {
            Ok(match c {
                ToolResultContent::Json(v) => {
                    sdk::ToolResultContentBlock::Json(json_to_document(v))
                }
                ToolResultContent::Text(t) => sdk::ToolResultContentBlock::Text(t.clone()),
                ToolResultContent::Image(i) => sdk::ToolResultContentBlock::Image(i.try_into()?),
                ToolResultContent::Document(d) => {
                    sdk::ToolResultContentBlock::Document(d.try_into()?)
                }
                ToolResultContent::Video(v) => sdk::ToolResultContentBlock::Video(v.try_into()?),
                ToolResultContent::Unmodelled(raw) => return Err(cannot_send(raw)),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    sdk::ToolResultBlock::builder()
        .tool_use_id(&r.tool_use_id)
        .set_content(Some(content))
        .set_status(r.status.map(|s| sdk::ToolResultStatus::from(s.as_str())))
        .build()
        .map_err(Error::sdk("ToolResultBlock"))
}

pub(super) fn tool_result_from_sdk(r: &sdk::ToolResultBlock) -> Result<ToolResultBlock, Error> {
    let content = r
        .content()
        .iter()
        .map(|c| {
            Ok(match c {
                sdk::ToolResultContentBlock::Json(d) => {
                    ToolResultContent::Json(document_to_json(d)?)
                }
                sdk::ToolResultContentBlock::Text(t) => ToolResultContent::Text(t.clone()),
                sdk::ToolResultContentBlock::Image(i) => ToolResultContent::Image(i.try_into()?),
                sdk::ToolResultContentBlock::Document(d) => {
                    ToolResultContent::Document(d.try_into()?)
                }
                sdk::ToolResultContentBlock::Video(v) => ToolResultContent::Video(v.try_into()?),
                sdk::ToolResultContentBlock::SearchResult(r) => {
                    ToolResultContent::Unmodelled(raw_block(c, Some(r)))
                }
                other => ToolResultContent::Unmodelled(raw_block(other, None)),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(ToolResultBlock {
        tool_use_id: r.tool_use_id().to_owned(),
        content,
        status: r
            .status()
            .map(|s| parse::<ToolResultStatus>(s.as_str()))
            .transpose()?,
    })
}

impl TryFrom<&ToolConfig> for sdk::ToolConfiguration {
    type Error = Error;
    fn try_from(c: &ToolConfig) -> Result<Self, Error> {
        let tools = c
            .tools
            .iter()
            .map(|t| {
                Ok(match t {
                    Tool::Spec(s) => {
                        let ToolInputSchema::Json(schema) = &s.input_schema;
                        sdk::Tool::ToolSpec(
                            sdk::ToolSpecification::builder()
                                .name(&s.name)
                                .set_description(s.description.clone())
                                .input_schema(sdk::ToolInputSchema::Json(json_to_document(schema)))
                                .set_strict(s.strict)
                                .build()
                                .map_err(Error::sdk("ToolSpecification"))?,
                        )
                    }
                    Tool::SystemTool(s) => sdk::Tool::SystemTool(
                        sdk::SystemTool::builder()
                            .name(&s.name)
                            .build()
                            .map_err(Error::sdk("SystemTool"))?,
                    ),
                    Tool::CachePoint(c) => sdk::Tool::CachePoint(c.try_into()?),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let choice = match &c.tool_choice {
            None => None,
            Some(ToolChoice::Auto {}) => Some(sdk::ToolChoice::Auto(
                sdk::AutoToolChoice::builder().build(),
            )),
            Some(ToolChoice::Any {}) => {
                Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build()))
            }
            Some(ToolChoice::Tool { name }) => Some(sdk::ToolChoice::Tool(
                sdk::SpecificToolChoice::builder()
                    .name(name)
                    .build()
                    .map_err(Error::sdk("SpecificToolChoice"))?,
            )),
        };
        sdk::ToolConfiguration::builder()
            .set_tools(Some(tools))
            .set_tool_choice(choice)
            .build()
            .map_err(Error::sdk("ToolConfiguration"))
    }
}

impl TryFrom<&sdk::ToolConfiguration> for ToolConfig {
    type Error = Error;
    fn try_from(c: &sdk::ToolConfiguration) -> Result<Self, Error> {
        let tools = c
            .tools()
            .iter()
            .map(|t| {
                Ok(match t {
                    sdk::Tool::ToolSpec(s) => Tool::Spec(ToolSpec {
                        name: s.name().to_owned(),
                        description: s.description().map(str::to_owned),
                        input_schema: match s.input_schema() {
                            Some(sdk::ToolInputSchema::Json(d)) => {
                                ToolInputSchema::Json(document_to_json(d)?)
                            }
                            other => return Err(unsupported("ToolInputSchema", &other)),
                        },
                        strict: s.strict(),
                    }),
                    sdk::Tool::SystemTool(s) => Tool::SystemTool(SystemTool {
                        name: s.name().to_owned(),
                    }),
                    sdk::Tool::CachePoint(c) => Tool::CachePoint(c.try_into()?),
                    other => return Err(unsupported("Tool", other)),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let tool_choice = match c.tool_choice() {
            None => None,
            Some(sdk::ToolChoice::Auto(_)) => Some(ToolChoice::Auto {}),
            Some(sdk::ToolChoice::Any(_)) => Some(ToolChoice::Any {}),
            Some(sdk::ToolChoice::Tool(t)) => Some(ToolChoice::Tool {
                name: t.name().to_owned(),
            }),
            Some(other) => return Err(unsupported("ToolChoice", other)),
        };
        Ok(Self { tools, tool_choice })
    }
}
