//! Reading requests: batch JSONL lines (full Converse JSON or the shorthand) and chat options.
//!
//! Every request is checked here, before any network call, so bad input exits with code 2 and
//! a message naming the line (or file) and the problem.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bedrock_messages::{ConverseRequest, Limits, Message};
use llmmanager::Schema;
use serde::Deserialize;
use serde_json::Value;

use crate::exit::usage;

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

/// The batch input, read twice: once to check every line, once to feed the requests to the
/// engine as it asks for them, so parsed requests (with their attachments) are never all in
/// memory at once.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A file, reopened for each pass.
    File(PathBuf),
    /// Standard input, kept as text (it cannot be read twice).
    Text(Arc<str>),
}

type Lines = Box<dyn Iterator<Item = std::io::Result<String>> + Send>;

impl Source {
    /// The input at `path`, or stdin for `-`.
    ///
    /// # Errors
    /// A usage error when it cannot be read.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        if path == Path::new("-") {
            let text = std::io::read_to_string(std::io::stdin())
                .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
            return Ok(Self::Text(text.into()));
        }
        File::open(path)
            .map_err(|e| usage(format!("cannot read input {}: {e}", path.display())))?;
        Ok(Self::File(path.to_owned()))
    }

    /// How error messages name the input.
    pub(crate) fn origin(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Text(_) => "<stdin>".to_owned(),
        }
    }

    fn lines(&self) -> anyhow::Result<Lines> {
        match self {
            Self::File(path) => {
                let file = File::open(path)
                    .map_err(|e| usage(format!("cannot read input {}: {e}", path.display())))?;
                Ok(Box::new(BufReader::new(file).lines()))
            }
            Self::Text(text) => {
                let text = Arc::clone(text);
                let mut offset = 0;
                Ok(Box::new(std::iter::from_fn(move || {
                    let rest = text.get(offset..)?;
                    if rest.is_empty() {
                        return None;
                    }
                    let (line, advance) = match rest.find('\n') {
                        Some(i) => (&rest[..i], i + 1),
                        None => (rest, rest.len()),
                    };
                    offset += advance;
                    Some(Ok(line.trim_end_matches('\r').to_owned()))
                })))
            }
        }
    }

    /// Checks every line (JSON, id, request rules): the ids of the good lines in input order,
    /// and the lines that cannot become a request, each with its number and the problem.
    ///
    /// # Errors
    /// A usage error for a repeated id (with both line numbers), or when no line at all is a
    /// valid request.
    pub(crate) fn check(&self) -> anyhow::Result<Checked> {
        let origin = self.origin();
        let mut checked = Checked::default();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, raw) in self.lines()?.enumerate() {
            let line = index + 1;
            let raw = raw.map_err(|e| usage(format!("{origin}:{line}: cannot read: {e}")))?;
            if raw.trim().is_empty() {
                continue;
            }
            let id = match parse_line(&raw) {
                Ok((id, _request, _schema)) => {
                    checked.ids.push(id.clone());
                    id
                }
                Err(e) => {
                    let id = line_id(&raw).unwrap_or_else(|| format!("line-{line}"));
                    checked.rejected.push(Rejected {
                        line,
                        id: id.clone(),
                        message: format!("{origin}:{line}: {e}"),
                    });
                    id
                }
            };
            if let Some(first) = seen.insert(id.clone(), line) {
                return Err(usage(format!(
                    "{origin}:{line}: duplicate id {id:?} (first used on line {first})"
                )));
            }
        }
        if checked.ids.is_empty()
            && let Some(first) = checked.rejected.first()
        {
            return Err(usage(format!("no valid request; {}", first.message)));
        }
        Ok(checked)
    }

    /// The requests whose id is not in `skip`, parsed lazily, in input order.
    ///
    /// Call [`Source::check`] first and pass the line numbers it rejected, which are left out
    /// quietly; a line that no longer parses (the file changed between the passes) is reported on
    /// stderr and left out.
    ///
    /// # Errors
    /// A usage error when the input cannot be reopened.
    pub(crate) fn requests(
        &self,
        skip: HashSet<String>,
        rejected_lines: HashSet<usize>,
    ) -> anyhow::Result<impl Iterator<Item = (String, ConverseRequest)> + Send + 'static> {
        Ok(self
            .typed_requests(skip, rejected_lines)?
            .map(|(id, request, _schema)| (id, request)))
    }

    /// [`Source::requests`] with each line's `"schema"`, when it has one.
    ///
    /// # Errors
    /// A usage error when the input cannot be reopened.
    pub(crate) fn typed_requests(
        &self,
        skip: HashSet<String>,
        rejected_lines: HashSet<usize>,
    ) -> anyhow::Result<
        impl Iterator<Item = (String, ConverseRequest, Option<Schema>)> + Send + 'static,
    > {
        let origin = self.origin();
        Ok(self.lines()?.enumerate().filter_map(move |(index, raw)| {
            let raw = raw.ok()?;
            if raw.trim().is_empty() || rejected_lines.contains(&(index + 1)) {
                return None;
            }
            match parse_line(&raw) {
                Ok((id, _, _)) if skip.contains(&id) => None,
                Ok(parsed) => Some(parsed),
                Err(e) => {
                    eprintln!("llmm: {origin}:{}: skipped: {e}", index + 1);
                    None
                }
            }
        }))
    }
}

/// A line's own `"model"` and `"region"`, each optional.
pub(crate) type Placement = (Option<String>, Option<String>);

impl Source {
    /// The `"model"` and `"region"` of every line that has either, by request id (lines that
    /// are not JSON objects with an id are left out; [`Source::check`] reports them).
    ///
    /// # Errors
    /// A usage error when the input cannot be reopened.
    pub(crate) fn placements(&self) -> anyhow::Result<HashMap<String, Placement>> {
        let mut out = HashMap::new();
        for raw in self.lines()? {
            let Ok(raw) = raw else { continue };
            let Ok(Value::Object(object)) = serde_json::from_str::<Value>(&raw) else {
                continue;
            };
            let get = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
            let (model, region) = (get("model"), get("region"));
            if (model.is_some() || region.is_some())
                && let Some(id) = line_id(&raw)
            {
                out.insert(id, (model, region));
            }
        }
        Ok(out)
    }
}

/// The outcome of [`Source::check`].
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// Ids of the lines that are valid requests, in input order.
    pub(crate) ids: Vec<String>,
    /// Lines that cannot become a request.
    pub(crate) rejected: Vec<Rejected>,
}

impl Checked {
    /// For an engine that needs every line valid: the ids, or the first rejected line as a
    /// usage error.
    ///
    /// # Errors
    /// A usage error naming the first rejected line.
    pub(crate) fn all_valid(self) -> anyhow::Result<Vec<String>> {
        match self.rejected.first() {
            Some(r) => Err(usage(r.message.clone())),
            None => Ok(self.ids),
        }
    }

    /// The line numbers of the rejected lines.
    pub(crate) fn rejected_lines(&self) -> HashSet<usize> {
        self.rejected.iter().map(|r| r.line).collect()
    }
}

/// A batch line that cannot become a request. It ends as an error result line under its id
/// (or `line-N` when it has none) while the other lines go on.
#[derive(Debug, Clone)]
pub(crate) struct Rejected {
    /// 1-based line number.
    pub(crate) line: usize,
    /// The line's id, or `line-N`.
    pub(crate) id: String,
    /// `origin:line: problem`.
    pub(crate) message: String,
}

/// The id of a line that does not parse as a request, when its JSON still names one.
fn line_id(raw: &str) -> Option<String> {
    match serde_json::from_str::<Value>(raw).ok()?.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses one line into its id, its checked request and the schema of a typed answer (`"schema"`,
/// an inline JSON Schema object, in either form).
fn parse_line(raw: &str) -> Result<(String, ConverseRequest, Option<Schema>), String> {
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
    // Where the line should run (honoured by the batch-job engine); not part of the request.
    for key in ["model", "region"] {
        match object.remove(key) {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(format!("\"{key}\" must be a string")),
        }
    }
    let schema = match object.remove("schema") {
        None => None,
        Some(schema @ Value::Object(_)) => {
            Some(Schema::new(schema).map_err(|e| format!("invalid \"schema\": {e}"))?)
        }
        Some(_) => return Err("\"schema\" must be a JSON Schema object".into()),
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
        // The library sends fields it does not name verbatim; a line's unknown key is more
        // likely a typo, so it is refused here, before anything is sent.
        if !request.extra_fields.is_empty() {
            let keys: Vec<&str> = request.extra_fields.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown field(s) {}: a line holds \"id\", \"model\", \"region\", \"schema\" and the \
                 Converse request's own fields ({})",
                keys.join(", "),
                bedrock_messages::REQUEST_FIELDS[1..].join(", ")
            ));
        }
        request
            .validate(&Limits::bedrock())
            .map_err(|e| e.to_string())?;
        request
    };
    Ok((id, request, schema))
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
    // File names become document names, which Bedrock restricts; rewrite them rather than
    // make the user rename files.
    let mut message = Message::user().sanitize_document_names().text(input.prompt);
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
        let err = Source::Text(input.into())
            .check()
            .and_then(Checked::all_valid)
            .unwrap_err()
            .to_string();
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
        let source = Source::Text(text.into());
        assert_eq!(source.check().unwrap().ids, ["a", "b"]);
        let lines: Vec<_> = source
            .requests(HashSet::new(), HashSet::new())
            .unwrap()
            .collect();
        assert_eq!(lines.len(), 2);
        let body = lines[0].1.to_json().unwrap();
        assert_eq!(body["system"][0]["text"], "Be brief.");
        assert_eq!(body["inferenceConfig"]["maxTokens"], 50);
        assert_eq!(body["messages"][0]["content"][0]["text"], "Hi");
    }

    #[test]
    fn bad_lines_name_their_number_and_problem() {
        check_err(
            "{\"id\":\"a\",\"prompt\":\"x\"}\n{not json\n",
            "<stdin>:2: invalid JSON",
        );
        check_err("[1]\n", "<stdin>:1: expected a JSON object");
        check_err("{\"prompt\":\"x\"}\n", "missing \"id\"");
        check_err(
            "{\"id\":\"a\",\"prompt\":\"x\",\"maxtokens\":3}\n",
            "unknown field",
        );
        check_err("{\"id\":\"a\",\"messages\":[]}\n", "<stdin>:1:");
        check_err(
            "{\"id\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}],\"inferenceconfig\":{}}\n",
            "unknown field(s) inferenceconfig",
        );
        check_err(
            "{\"id\":\"a\",\"prompt\":\"x\"}\n{\"id\":\"b\",\"prompt\":\"y\"}\n{\"id\":\"a\",\"prompt\":\"z\"}\n",
            "<stdin>:3: duplicate id \"a\" (first used on line 1)",
        );
    }
}

#[cfg(test)]
mod skip_tests {
    use super::*;

    #[test]
    fn bad_lines_are_rejected_with_their_id_while_good_lines_stay() {
        let source = Source::Text(
            "{\"id\":\"a\",\"prompt\":\"x\"}\n{\"id\":\"b\",\"prompt\":7}\n{oops\n{\"id\":\"c\",\"prompt\":\"z\"}\n".into(),
        );
        let checked = source.check().unwrap();
        assert_eq!(checked.ids, ["a", "c"]);
        let rejected: Vec<(usize, &str)> = checked
            .rejected
            .iter()
            .map(|r| (r.line, r.id.as_str()))
            .collect();
        assert_eq!(rejected, [(2, "b"), (3, "line-3")]);
        assert!(
            checked.rejected[1]
                .message
                .starts_with("<stdin>:3: invalid JSON")
        );
        let ids: Vec<String> = source
            .requests(HashSet::new(), checked.rejected_lines())
            .unwrap()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["a", "c"]);
        let only_bad = Source::Text("{oops\n".into())
            .check()
            .unwrap_err()
            .to_string();
        assert!(only_bad.contains("no valid request"), "{only_bad}");
    }

    #[test]
    fn requests_skip_done_ids_and_blank_lines() {
        let source = Source::Text(
            "{\"id\":\"a\",\"prompt\":\"x\"}\r\n\n{\"id\":\"b\",\"prompt\":\"y\"}\n{\"id\":\"c\",\"prompt\":\"z\"}"
                .into(),
        );
        assert_eq!(source.check().unwrap().ids, ["a", "b", "c"]);
        let skip = HashSet::from(["b".to_owned()]);
        let ids: Vec<String> = source
            .requests(skip, HashSet::new())
            .unwrap()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["a", "c"]);
    }
}
