//! Reading requests: batch JSONL lines (full Converse JSON or the shorthand) and chat options.
//!
//! Every request is checked here, before any network call, so bad input exits with code 2 and
//! a message naming the line (or file) and the problem.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bedrock_messages::{ConverseRequest, Limits, Message};
use serde::Deserialize;
use serde_json::Value;

use crate::exit::usage;

/// One parsed input line.
#[derive(Debug, Clone)]
pub(crate) struct InputLine {
    /// The request id.
    pub(crate) id: String,
    /// The checked request.
    pub(crate) request: ConverseRequest,
}

/// The shorthand form of a batch line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shorthand {
    #[allow(dead_code, reason = "the id is read before the shorthand is parsed")]
    id: Value,
    prompt: String,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f32>,
}

/// Parses a whole JSONL input. Blank lines are skipped.
///
/// # Errors
/// A usage error for the first malformed line (with its number) or repeated id (with both
/// line numbers).
pub(crate) fn parse_jsonl(text: &str, origin: &str) -> anyhow::Result<Vec<InputLine>> {
    let mut lines = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed = parse_line(raw).map_err(|e| usage(format!("{origin}:{line}: {e}")))?;
        if let Some(first) = seen.insert(parsed.0.clone(), line) {
            return Err(usage(format!(
                "{origin}:{line}: duplicate id {:?} (first used on line {first})",
                parsed.0
            )));
        }
        lines.push(InputLine {
            id: parsed.0,
            request: parsed.1,
        });
    }
    Ok(lines)
}

/// Parses one line into its id and checked request.
fn parse_line(raw: &str) -> Result<(String, ConverseRequest), String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("expected a JSON object".into());
    };
    let id = match object.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err("\"id\" must be a non-empty string".into()),
        None => return Err("missing \"id\"".into()),
    };
    let request = if object.contains_key("prompt") {
        if object.contains_key("messages") {
            return Err("use either \"prompt\" (shorthand) or \"messages\", not both".into());
        }
        let short: Shorthand = serde_json::from_value(Value::Object(object))
            .map_err(|e| format!("invalid shorthand request: {e}"))?;
        let mut builder = ConverseRequest::builder().user_text(short.prompt);
        if let Some(system) = short.system {
            builder = builder.system(system);
        }
        if let Some(n) = short.max_tokens {
            builder = builder.max_tokens(n);
        }
        if let Some(t) = short.temperature {
            builder = builder.temperature(t);
        }
        builder.build().map_err(|e| e.to_string())?
    } else {
        object.remove("id");
        let request: ConverseRequest = serde_json::from_value(Value::Object(object))
            .map_err(|e| format!("invalid Converse request: {e}"))?;
        request
            .validate(&Limits::bedrock())
            .map_err(|e| e.to_string())?;
        request
    };
    Ok((id, request))
}

/// Reads the input file, or stdin for `-`.
///
/// # Errors
/// A usage error when the file cannot be read.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin())
            .map_err(|e| usage(format!("cannot read stdin: {e}")));
    }
    std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read input {}: {e}", path.display())))
}

/// What `llmm chat` sends.
#[derive(Debug, Default)]
pub(crate) struct ChatInput {
    /// The prompt text.
    pub(crate) prompt: String,
    /// System prompt.
    pub(crate) system: Option<String>,
    /// Image files.
    pub(crate) images: Vec<PathBuf>,
    /// Document files.
    pub(crate) documents: Vec<PathBuf>,
    /// Video files.
    pub(crate) videos: Vec<PathBuf>,
    /// `maxTokens`.
    pub(crate) max_tokens: Option<u32>,
    /// Temperature.
    pub(crate) temperature: Option<f32>,
}

/// Builds and checks the chat request; attached files are read and their formats detected.
///
/// # Errors
/// A usage error for an empty prompt, a missing or unrecognised file, or a broken limit.
pub(crate) fn chat_request(input: ChatInput) -> anyhow::Result<ConverseRequest> {
    if input.prompt.trim().is_empty() {
        return Err(usage("the prompt is empty"));
    }
    for path in input
        .images
        .iter()
        .chain(&input.documents)
        .chain(&input.videos)
    {
        if !path.is_file() {
            return Err(usage(format!("file not found: {}", path.display())));
        }
    }
    let mut message = Message::user().text(input.prompt);
    for path in &input.images {
        message = message.image_file(path);
    }
    for path in &input.documents {
        message = message.document_file(path);
    }
    for path in &input.videos {
        message = message.video_file(path);
    }
    let mut builder = ConverseRequest::builder().message_builder(message);
    if let Some(system) = input.system {
        builder = builder.system(system);
    }
    if let Some(n) = input.max_tokens {
        builder = builder.max_tokens(n);
    }
    if let Some(t) = input.temperature {
        builder = builder.temperature(t);
    }
    builder.build().map_err(|e| usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(input: &str, expected: &str) {
        let err = parse_jsonl(input, "in.jsonl").unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{err:?} should contain {expected:?}"
        );
    }

    #[test]
    fn both_forms_parse() {
        let text = concat!(
            r#"{"id":"a","prompt":"Hi","system":"Be brief.","max_tokens":50}"#,
            "\n\n",
            r#"{"id":"b","messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":10}}"#,
            "\n"
        );
        let lines = parse_jsonl(text, "in").unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].id, "a");
        assert_eq!(lines[1].id, "b");
        let body = lines[0].request.to_json().unwrap();
        assert_eq!(body["system"][0]["text"], "Be brief.");
        assert_eq!(body["inferenceConfig"]["maxTokens"], 50);
        assert_eq!(body["messages"][0]["content"][0]["text"], "Hi");
    }

    #[test]
    fn bad_lines_name_their_number_and_problem() {
        check_err(
            "{\"id\":\"a\",\"prompt\":\"x\"}\n{not json\n",
            "in.jsonl:2: invalid JSON",
        );
        check_err("[1]\n", "in.jsonl:1: expected a JSON object");
        check_err("{\"prompt\":\"x\"}\n", "missing \"id\"");
        check_err(
            "{\"id\":\"a\",\"prompt\":\"x\",\"maxtokens\":3}\n",
            "unknown field",
        );
        check_err("{\"id\":\"a\",\"messages\":[]}\n", "in.jsonl:1:");
        check_err(
            "{\"id\":\"a\",\"prompt\":\"x\"}\n{\"id\":\"b\",\"prompt\":\"y\"}\n{\"id\":\"a\",\"prompt\":\"z\"}\n",
            "in.jsonl:3: duplicate id \"a\" (first used on line 1)",
        );
    }
}
