//! CreateModelInvocationJob accepts a model only where the catalog's batch-inference data lists
//! it, and refuses other pairs with Bedrock's `ValidationException`.

use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig, ModelInvocationType,
};
use bedrock_sim::{Scenario, SimHandle, Simulator};

use crate::support::control;

const HAIKU35: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

/// Creates a Converse job for `model` in `region`; `Err` holds the error code and message.
async fn create(sim: &SimHandle, region: &str, model: &str) -> Result<String, (String, String)> {
    let input = ModelInvocationJobS3InputDataConfig::builder()
        .s3_uri("s3://bucket/in/records.jsonl")
        .build()
        .unwrap();
    let output = ModelInvocationJobS3OutputDataConfig::builder()
        .s3_uri("s3://bucket/out/")
        .build()
        .unwrap();
    let name = format!("job-{region}-{}", model.replace([':', '.'], "-"));
    control(sim, region)
        .await
        .create_model_invocation_job()
        .job_name(name)
        .role_arn("arn:aws:iam::123456789012:role/batch")
        .model_id(model)
        .model_invocation_type(ModelInvocationType::Converse)
        .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(input))
        .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
            output,
        ))
        .send()
        .await
        .map(|o| o.job_arn().to_owned())
        .map_err(|e| {
            let s = e.into_service_error();
            (
                s.meta().code().unwrap_or_default().to_owned(),
                s.meta().message().unwrap_or_default().to_owned(),
            )
        })
}

#[tokio::test]
async fn claude_jobs_run_only_where_the_batch_table_lists_them() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    // Claude 3.5 Haiku: the base id in us-west-2, the US profile in us-east-1 and us-west-2.
    create(&sim, "us-west-2", HAIKU35).await.unwrap();
    let profile = format!("us.{HAIKU35}");
    create(&sim, "us-east-1", &profile).await.unwrap();
    // Callable on demand by its base id in us-east-1 and us-east-2, but no batch jobs there.
    for (region, model) in [
        ("us-east-1", HAIKU35),
        ("us-east-2", HAIKU35),
        ("us-east-2", profile.as_str()),
    ] {
        let (code, message) = create(&sim, region, model).await.unwrap_err();
        assert_eq!(code, "ValidationException", "{model} in {region}");
        assert_eq!(
            message, "The provided request is not valid",
            "{model} in {region}"
        );
    }
    // A model without batch data is accepted wherever it can be called.
    create(
        &sim,
        "eu-west-2",
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
    )
    .await
    .unwrap();
    sim.shutdown().await;
}
