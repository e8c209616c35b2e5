//! `llmm chat`: one prompt, one answer, with every attempt available through `--json`, or the
//! text as it arrives with `--stream` (failover and mid-stream recovery included).

use std::io::{IsTerminal as _, Write as _};
use std::time::Instant;

use anyhow::Context as _;

use crate::backend::Backend;
use crate::cli::{ChatArgs, GlobalArgs};
use crate::exit::{Exit, manager_error, usage};
use crate::input::{ChatInput, chat_request};
use crate::record::{Record, millis};
use crate::stream_view::{self, ViewError};

/// Runs `llmm chat`.
#[allow(
    clippy::disallowed_methods,
    reason = "a failed call reports its wall-clock duration"
)]
pub(crate) async fn run(global: &GlobalArgs, args: ChatArgs) -> anyhow::Result<Exit> {
    let prompt = match args.prompt {
        Some(p) if p != "-" => p,
        _ => {
            if std::io::stdin().is_terminal() {
                return conversation(global, args).await;
            }
            std::io::read_to_string(std::io::stdin())
                .context("cannot read the prompt from stdin")?
        }
    };
    let request = chat_request(ChatInput {
        prompt,
        system: args.system,
        images: args.image,
        documents: args.document,
        videos: args.video,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
    })?;
    let schema = args.schema.as_deref().map(read_schema).transpose()?;
    let backend = Backend::start(global).await?;
    let manager = backend.manager(global).await?;
    if let Some(schema) = schema {
        let result = structured(global, &manager, &request, &schema, args.json).await;
        backend.shutdown().await;
        return result;
    }
    if args.stream {
        let result = stream(&manager, &request).await;
        backend.shutdown().await;
        return result;
    }
    let started = Instant::now();
    let result = manager.converse(&request).await;
    backend.shutdown().await;
    match result {
        Ok(response) => {
            if args.json {
                let record = Record::success(None, &response, response.duration);
                print_json(&record)?;
            } else {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", response.text()).context("cannot write to stdout")?;
                out.flush().context("cannot write to stdout")?;
                if global.verbose > 0 || std::io::stderr().is_terminal() {
                    let u = response.usage();
                    let cost = response
                        .cost()
                        .map_or_else(|| "no price".to_owned(), |c| format!("${:.6}", c.usd));
                    eprintln!(
                        "[{} in {} ({}), {} attempt(s), {} ms, {} in / {} out tokens, {cost}]",
                        response.model_id,
                        response.region,
                        response.access_method,
                        response.attempts.len(),
                        millis(response.duration),
                        u.input_tokens,
                        u.output_tokens
                    );
                }
            }
            for warning in &response.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(Exit::Success)
        }
        Err(error) if error.kind() == llmmanager::ErrorKind::Exhausted => {
            if args.json {
                print_json(&Record::from_error(None, &error, started.elapsed()))?;
            }
            print_attempts(&error);
            Err(anyhow::Error::new(error))
        }
        Err(error) => Err(manager_error(error)),
    }
}

/// `llmm chat` on a terminal with no prompt: a conversation, one line per turn, with the history
/// sent each time; `/exit` (or `/quit`, or Ctrl-D) leaves. A failed turn is reported and left out
/// of the history, and the conversation goes on. Attachments and options apply to the first turn.
async fn conversation(global: &GlobalArgs, args: ChatArgs) -> anyhow::Result<Exit> {
    let backend = Backend::start(global).await?;
    let manager = backend.manager(global).await?;
    eprintln!(
        "llmm: talking to {} in {}; /exit or Ctrl-D leaves",
        global.models_or_default().join(", "),
        global.regions_or_default().join(", ")
    );
    let mut history: Option<llmmanager::ConverseRequest> = None;
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin
            .read_line(&mut line)
            .context("cannot read from the terminal")?
            == 0
        {
            eprintln!();
            break;
        }
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            _ => {}
        }
        let mut request = match &history {
            Some(previous) => {
                let mut next = previous.clone();
                let message = llmmanager::Message::user()
                    .text(line)
                    .build()
                    .map_err(|e| usage(e.to_string()))?;
                next.messages.push(message);
                next
            }
            None => {
                match chat_request(ChatInput {
                    prompt: line.to_owned(),
                    system: args.system.clone(),
                    images: args.image.clone(),
                    documents: args.document.clone(),
                    videos: args.video.clone(),
                    max_tokens: args.max_tokens,
                    temperature: args.temperature,
                }) {
                    Ok(request) => request,
                    Err(error) => {
                        backend.shutdown().await;
                        return Err(error);
                    }
                }
            }
        };
        let reply = match manager.converse_stream(&request).await {
            Ok(stream) => {
                let mut out = std::io::stdout();
                let mut stats = std::io::stderr();
                stream_view::show(stream, &mut out, &mut stats).await
            }
            Err(error) => Err(ViewError::Stream(error)),
        };
        match reply {
            Ok(response) => {
                let message = llmmanager::Message::assistant()
                    .text(response.text)
                    .build()
                    .map_err(|e| usage(e.to_string()))?;
                request.messages.push(message);
                history = Some(request);
            }
            Err(ViewError::Stream(error)) => {
                print_attempts(&error);
                eprintln!("error: {}", crate::exit::chain(&error));
            }
            Err(ViewError::Write(error)) => {
                backend.shutdown().await;
                return Err(manager_error(llmmanager::Error::from(error)));
            }
            Err(ViewError::NoResult) => eprintln!("error: the stream ended without a result"),
        }
    }
    backend.shutdown().await;
    Ok(Exit::Success)
}

/// `chat --stream`: text to stdout as it arrives; recoveries and final statistics to stderr.
async fn stream(
    manager: &llmmanager::LlmManager,
    request: &llmmanager::ConverseRequest,
) -> anyhow::Result<Exit> {
    let stream = manager
        .converse_stream(request)
        .await
        .map_err(manager_error)?;
    let mut out = std::io::stdout();
    let mut stats = std::io::stderr();
    match stream_view::show(stream, &mut out, &mut stats).await {
        Ok(response) => {
            for warning in &response.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(Exit::Success)
        }
        Err(ViewError::Stream(error)) => {
            let _ = writeln!(out);
            print_attempts(&error);
            Err(manager_error(error))
        }
        Err(ViewError::Write(error)) => Err(manager_error(llmmanager::Error::from(error))),
        Err(ViewError::NoResult) => Err(anyhow::anyhow!("the stream ended without a result")),
    }
}

/// Reads and compiles the JSON Schema of `chat --schema`.
fn read_schema(path: &std::path::Path) -> anyhow::Result<llmmanager::Schema> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read schema {}: {e}", path.display())))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| usage(format!("schema {} is not JSON: {e}", path.display())))?;
    llmmanager::Schema::new(json).map_err(|e| usage(format!("schema {}: {e}", path.display())))
}

/// `chat --schema`: the JSON value alone on stdout (one document), or with `--json` the full
/// response with the value under `json`. Rejected answers are listed on stderr.
#[allow(
    clippy::disallowed_methods,
    reason = "a failed call reports its wall-clock duration"
)]
async fn structured(
    global: &GlobalArgs,
    manager: &llmmanager::LlmManager,
    request: &llmmanager::ConverseRequest,
    schema: &llmmanager::Schema,
    json: bool,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let result = manager
        .converse_structured_value(request, schema, &llmmanager::CallOptions::default())
        .await;
    match result {
        Ok(answer) => {
            let response = &answer.response;
            if json {
                let record = Record::typed(
                    None,
                    response,
                    Some((&answer.json, answer.mechanism)),
                    response.duration,
                );
                print_json(&record)?;
            } else {
                let text = serde_json::to_string_pretty(&answer.value)
                    .context("cannot serialise the answer")?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}").context("cannot write to stdout")?;
                out.flush().context("cannot write to stdout")?;
                if global.verbose > 0 || std::io::stderr().is_terminal() {
                    eprintln!(
                        "[{} in {} ({}), {}, {} attempt(s), {} answer(s) rejected, {} ms]",
                        response.model_id,
                        response.region,
                        response.access_method,
                        answer.mechanism,
                        response.attempts.len(),
                        response.validation_failures().count(),
                        millis(response.duration),
                    );
                }
            }
            for warning in &response.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(Exit::Success)
        }
        Err(error) => {
            if json {
                print_json(&Record::from_structured_error(
                    None,
                    &error,
                    started.elapsed(),
                ))?;
            }
            for rejected in error.invalid_answers() {
                if let llmmanager::ValidationResult::Invalid { message, .. } = &rejected.result {
                    eprintln!(
                        "  rejected answer {} from {} in {}: {message}",
                        rejected.number, rejected.target.model, rejected.target.region
                    );
                }
            }
            match error {
                llmmanager::StructuredError::Call { source, .. }
                    if source.kind() != llmmanager::ErrorKind::Exhausted =>
                {
                    Err(manager_error(source))
                }
                llmmanager::StructuredError::Call { source, .. } => {
                    print_attempts(&source);
                    Err(anyhow::Error::new(source).context("no valid answer for the schema"))
                }
                llmmanager::StructuredError::Schema { .. } => {
                    Err(usage(crate::exit::chain(&error)))
                }
                other => Err(anyhow::Error::new(other)),
            }
        }
    }
}

/// Lists the attempts of a failed call on stderr, one line each (none when no attempt connected).
/// The last error follows on the `error:` line, so the attempt that produced it names only its
/// class there.
fn print_attempts(error: &llmmanager::Error) {
    if crate::exit::is_unreachable(error) {
        // None connected: the error line says why, in a few words, for all of them.
        return;
    }
    let last_error = std::error::Error::source(error).map(ToString::to_string);
    let attempts = error.attempts();
    for (i, attempt) in attempts.iter().enumerate() {
        let message = attempt.message.as_deref().unwrap_or("ok");
        let is_last_error = i + 1 == attempts.len() && last_error.as_deref() == Some(message);
        let outcome = match attempt.class {
            Some(class) if is_last_error => format!("{class} (the error below)"),
            _ => message.to_owned(),
        };
        eprintln!(
            "  attempt {}: {} in {}: {outcome}",
            attempt.attempt_number, attempt.target.model, attempt.target.region,
        );
    }
}

fn print_json(record: &Record) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(record).context("cannot serialise the response")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")
}
