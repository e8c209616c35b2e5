-- wrk script: POST a small Converse request, SigV4-shaped Authorization (us-east-1 scope).
-- Usage: wrk -t2 -c64 -d10s -s crates/bedrock-sim/bench/converse.lua http://127.0.0.1:PORT
-- Set WRK_PATH=converse-stream in the environment to drive ConverseStream instead.
local op = os.getenv("WRK_PATH") or "converse"
wrk.method = "POST"
wrk.path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/" .. op
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] =
  "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=0"
if op == "converse" then
  wrk.body = '{"messages":[{"role":"user","content":[{"text":"Benchmark request: say something short."}]}],"inferenceConfig":{"maxTokens":64}}'
else
  wrk.body = '{"messages":[{"role":"user","content":[{"text":"Benchmark request: stream a long answer."}]}]}'
end
