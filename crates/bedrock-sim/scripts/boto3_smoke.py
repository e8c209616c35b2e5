"""Smoke test: an unmodified boto3 client against a running bedrock-sim.

Usage:
    pip install boto3
    cargo run -p bedrock-sim -- --scenario fixtures/scenarios/boto3-smoke.json   # prints the endpoint
    python3 crates/bedrock-sim/scripts/boto3_smoke.py http://127.0.0.1:PORT

The scenario makes the first runtime call to eu-west-1 throttle; everything else succeeds.
Exits non-zero on the first mismatch.
"""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HAIKU3 = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU45_US = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def client(service, endpoint, region):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


def main(endpoint):
    rt = client("bedrock-runtime", endpoint, "us-east-1")
    messages = [{"role": "user", "content": [{"text": "Hello from boto3"}]}]

    out = rt.converse(modelId=HAIKU3, messages=messages, inferenceConfig={"maxTokens": 50})
    text = out["output"]["message"]["content"][0]["text"]
    usage = out["usage"]
    assert out["stopReason"] in ("end_turn", "max_tokens"), out["stopReason"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"], usage
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    # A profile id is one percent-encoded path segment; boto3 encodes it the same way.
    rt.converse(modelId=HAIKU45_US, messages=messages)

    events = []
    streamed = ""
    resp = rt.converse_stream(modelId=HAIKU3, messages=messages, inferenceConfig={"maxTokens": 50})
    for event in resp["stream"]:
        (name,) = event.keys()
        events.append(name)
        if name == "contentBlockDelta":
            streamed += event[name]["delta"]["text"]
    assert events[0] == "messageStart" and events[-2:] == ["messageStop", "metadata"], events
    assert "contentBlockStart" not in events, events
    assert streamed == text, (streamed, text)

    try:
        rt.converse(modelId="anthropic.claude-haiku-4-5-20251001-v1:0", messages=messages)
        raise AssertionError("profile-only base id must fail")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationException", e.response
        assert "on-demand throughput" in e.response["Error"]["Message"], e.response

    eu = client("bedrock-runtime", endpoint, "eu-west-1")
    try:
        eu.converse(modelId=HAIKU3, messages=messages)
        raise AssertionError("first eu-west-1 call must throttle")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ThrottlingException", e.response
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    eu.converse(modelId=HAIKU3, messages=messages)

    cp = client("bedrock", endpoint, "us-east-1")
    models = cp.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
    assert models and all(m["providerName"] == "Anthropic" for m in models)
    pages = list(cp.get_paginator("list_inference_profiles").paginate(PaginationConfig={"PageSize": 10}))
    ids = [p["inferenceProfileId"] for page in pages for p in page["inferenceProfileSummaries"]]
    assert len(pages) > 1 and len(ids) == len(set(ids)), (len(pages), len(ids))

    print(json.dumps({"ok": True, "models": len(models), "profiles": len(ids), "pages": len(pages)}))


if __name__ == "__main__":
    main(sys.argv[1])
