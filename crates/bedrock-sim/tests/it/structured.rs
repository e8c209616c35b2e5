//! Structured output (`outputConfig.textFormat`), forced tool calls that follow their schema,
//! and service tiers, as the SDK models them.

use aws_sdk_bedrockruntime::types::{
    ConverseStreamOutput as Ev, JsonSchemaDefinition, OutputConfig, OutputFormat,
    OutputFormatStructure, OutputFormatType, ServiceTier, ServiceTierType, SpecificToolChoice,
    Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use bedrock_sim::{ModelCaps, Scenario, Simulator};
use serde_json::{Value, json};

use crate::support::{HAIKU3, HAIKU45, reply_text, runtime, user};

fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "role": {"enum": ["admin", "user", "guest"]},
            "emails": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        },
        "required": ["name", "age", "role", "emails", "address"],
        "additionalProperties": false
    })
}

fn output_config(schema: &Value) -> OutputConfig {
    OutputConfig::builder()
        .text_format(
            OutputFormat::builder()
                .r#type(OutputFormatType::JsonSchema)
                .structure(OutputFormatStructure::JsonSchema(
                    JsonSchemaDefinition::builder()
                        .schema(schema.to_string())
                        .name("person")
                        .description("A person record")
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        )
        .build()
}

/// Whether `v` follows `person_schema()`.
fn is_person(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    o.get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.len() >= 2)
        && o.get("age")
            .and_then(Value::as_i64)
            .is_some_and(|a| (0..=120).contains(&a))
        && o.get("role")
            .and_then(Value::as_str)
            .is_some_and(|r| ["admin", "user", "guest"].contains(&r))
        && o.get("emails").and_then(Value::as_array).is_some_and(|e| {
            !e.is_empty()
                && e.iter()
                    .all(|x| x.as_str().is_some_and(|s| s.contains('@')))
        })
        && v.pointer("/address/city").is_some_and(Value::is_string)
}

#[tokio::test]
async fn structured_output_answers_json_valid_against_the_schema() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let model = format!("us.{HAIKU45}");
    let mut answers = Vec::new();
    for i in 0..5 {
        let out = rt
            .converse()
            .model_id(&model)
            .messages(user(&format!("person {i}")))
            .output_config(output_config(&person_schema()))
            .send()
            .await
            .unwrap();
        let text = reply_text(&out);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(is_person(&v), "{v}");
        assert_eq!(
            out.usage().unwrap().output_tokens(),
            bedrock_sim::text_tokens(&text) as i32,
            "the token rule on the JSON text sent"
        );
        assert!(
            out.usage().unwrap().output_tokens() > text.len().div_ceil(4) as i32,
            "JSON costs more than a quarter of its characters"
        );
        answers.push(v);
    }
    answers.dedup();
    assert!(answers.len() > 1, "answers are seeded per request");

    // The stream carries the same JSON text.
    let mut s = rt
        .converse_stream()
        .model_id(&model)
        .messages(user("person 0"))
        .output_config(output_config(&person_schema()))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(ev) = s.stream.recv().await.unwrap() {
        if let Ev::ContentBlockDelta(d) = ev {
            text.push_str(d.delta().unwrap().as_text().unwrap());
        }
    }
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), answers[0]);
}

#[tokio::test]
async fn structured_output_on_a_model_without_it_is_a_validation_error() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let err = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .output_config(output_config(&person_schema()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    // A scenario can mark the model as supporting it.
    let caps = ModelCaps {
        structured_output: Some(true),
        ..ModelCaps::default()
    };
    let sim = Simulator::start(Scenario::default().with_model_caps(HAIKU3, caps))
        .await
        .unwrap();
    let out = runtime(&sim, "us-east-1")
        .await
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .output_config(output_config(&person_schema()))
        .send()
        .await
        .unwrap();
    assert!(is_person(&serde_json::from_str(&reply_text(&out)).unwrap()));
    // A schema that is not JSON is refused.
    let bad = OutputConfig::builder()
        .text_format(
            OutputFormat::builder()
                .r#type(OutputFormatType::JsonSchema)
                .structure(OutputFormatStructure::JsonSchema(
                    JsonSchemaDefinition::builder()
                        .schema("{not json")
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        )
        .build();
    let err = runtime(&sim, "us-east-1")
        .await
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .output_config(bad)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}

#[tokio::test]
async fn a_share_of_structured_answers_is_malformed() {
    let scenario = Scenario {
        malformed_structured_share: 0.5,
        ..Scenario::default()
    };
    let sim = Simulator::start(scenario).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let (mut invalid_json, mut wrong_shape, mut good) = (0, 0, 0);
    for i in 0..40 {
        let out = rt
            .converse()
            .model_id(format!("us.{HAIKU45}"))
            .messages(user(&format!("record {i}")))
            .output_config(output_config(&person_schema()))
            .send()
            .await
            .unwrap();
        match serde_json::from_str::<Value>(&reply_text(&out)) {
            Err(_) => invalid_json += 1,
            Ok(v) if is_person(&v) => good += 1,
            Ok(_) => wrong_shape += 1,
        }
    }
    assert!((8..=32).contains(&good), "good {good}");
    assert!(
        invalid_json > 0 && wrong_shape > 0,
        "{invalid_json} {wrong_shape}"
    );
}

#[tokio::test]
async fn a_forced_tool_call_follows_the_tool_schema() {
    let schema = json!({
        "type": "object",
        "properties": {
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "location": {"type": "object", "properties": {
                "city": {"type": "string"}, "lat": {"type": "number", "minimum": -90, "maximum": 90}},
                "required": ["city", "lat"]}
        },
        "required": ["unit", "days", "location"]
    });
    let tool = Tool::ToolSpec(
        ToolSpecification::builder()
            .name("forecast")
            .input_schema(ToolInputSchema::Json(crate::support::to_document(&schema)))
            .build()
            .unwrap(),
    );
    let cfg = ToolConfiguration::builder()
        .tools(tool)
        .tool_choice(ToolChoice::Tool(
            SpecificToolChoice::builder()
                .name("forecast")
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let out = runtime(&sim, "us-east-1")
        .await
        .converse()
        .model_id(HAIKU3)
        .messages(user("weather?"))
        .tool_config(cfg)
        .send()
        .await
        .unwrap();
    let msg = out.output().unwrap().as_message().unwrap();
    let tu = msg.content()[0].as_tool_use().unwrap();
    let input = crate::support::from_document(tu.input());
    assert!(
        ["celsius", "fahrenheit"].contains(&input["unit"].as_str().unwrap()),
        "{input}"
    );
    assert!(
        (1..=7).contains(&input["days"].as_i64().unwrap()),
        "{input}"
    );
    assert!(input["location"]["city"].is_string(), "{input}");
    let lat = input["location"]["lat"].as_f64().unwrap();
    assert!((-90.0..=90.0).contains(&lat), "{input}");
}

#[tokio::test]
async fn service_tiers_are_validated_and_echoed() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let rt = runtime(&sim, "us-east-1").await;
    let tier = |t: ServiceTierType| ServiceTier::builder().r#type(t).build().unwrap();
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .service_tier(tier(ServiceTierType::Priority))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.service_tier().map(|t| t.r#type()),
        Some(&ServiceTierType::Priority)
    );
    let out = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    assert!(out.service_tier().is_none());

    let mut s = rt
        .converse_stream()
        .model_id(HAIKU3)
        .messages(user("x"))
        .service_tier(tier(ServiceTierType::Flex))
        .send()
        .await
        .unwrap();
    let mut echoed = None;
    while let Some(ev) = s.stream.recv().await.unwrap() {
        if let Ev::Metadata(m) = ev {
            echoed = m.service_tier().map(|t| t.r#type().clone());
        }
    }
    assert_eq!(echoed, Some(ServiceTierType::Flex));

    let err = rt
        .converse()
        .model_id(HAIKU3)
        .messages(user("x"))
        .service_tier(tier(ServiceTierType::from("turbo")))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(
        aws_sdk_bedrockruntime::error::ProvideErrorMetadata::message(&err)
            .unwrap()
            .contains("serviceTier.type")
    );
}
