//! The local ledger of collected results.
//!
//! Once a job's output has been read from S3, its results are appended here (one JSON line per
//! request, synced to disk) before the engine returns anything. Whatever happens to the
//! caller's own output afterwards (a full disk, a kill half-way through writing it), a rerun
//! answers these requests from the ledger: no job is polled, created or paid for again, and
//! no result turns into a failure because too few requests are left to form a job.
//!
//! Each line carries the request's content hash, so a request that was edited since is run
//! again rather than answered with its old result. A line cut off by a crash (even inside a
//! multi-byte character) is dropped when the ledger is next opened.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;

use serde_json::{Value, json};
use tracing::warn;

use crate::Error;
use crate::engine::{RecordError, RecordErrorKind, RecordResult};

fn err(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::Ledger {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Reads the ledger at `path` line by line and hands each readable entry (content hash and
/// result) to `f`. A cut-off last line is removed from the file, so that the next append starts
/// on a line of its own. A missing ledger is empty.
///
/// # Errors
/// [`Error::Ledger`] when the file exists but cannot be read or truncated, or `f`'s error.
pub(crate) fn replay(
    path: &Path,
    mut f: impl FnMut(u64, RecordResult) -> Result<(), Error>,
) -> Result<(), Error> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(path, &e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut complete: u64 = 0;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| err(path, &e))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            warn!(
                path = %path.display(),
                bytes = n,
                "dropping a cut-off last line of the result ledger"
            );
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(complete))
                .map_err(|e| err(path, &e))?;
            break;
        }
        complete += n as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse(&line) {
            Some((hash, result)) => f(hash, result)?,
            None => warn!(path = %path.display(), "unreadable ledger line ignored"),
        }
    }
    Ok(())
}

/// Appends `results` (with their content hashes) to the ledger and syncs it to disk.
///
/// # Errors
/// [`Error::Ledger`] when it cannot be written.
pub(crate) fn append<'a>(
    path: &Path,
    results: impl IntoIterator<Item = (u64, &'a RecordResult)>,
) -> Result<(), Error> {
    let mut text = String::new();
    for (hash, r) in results {
        text.push_str(&line(hash, r).to_string());
        text.push('\n');
    }
    if text.is_empty() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| err(path, &e))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| err(path, &e))?;
    f.write_all(text.as_bytes()).map_err(|e| err(path, &e))?;
    f.sync_data().map_err(|e| err(path, &e))
}

fn line(hash: u64, r: &RecordResult) -> Value {
    let mut v = json!({
        "id": r.id,
        "hash": format!("{hash:016x}"),
        "model_id": r.model_id,
        "region": r.region,
        "job_arn": r.job_arn,
    });
    match &r.outcome {
        Ok(out) => v["output"] = out.clone(),
        Err(e) => {
            v["error"] = json!({ "kind": e.kind.as_str(), "message": e.message, "code": e.code });
        }
    }
    v
}

fn parse(line: &[u8]) -> Option<(u64, RecordResult)> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let outcome = match (v.get("output"), v.get("error")) {
        (Some(out), _) => Ok(out.clone()),
        (None, Some(e)) => Err(RecordError {
            kind: RecordErrorKind::from_name(e.get("kind")?.as_str()?)?,
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            code: e.get("code").and_then(Value::as_u64),
        }),
        (None, None) => return None,
    };
    Some((
        u64::from_str_radix(&s("hash")?, 16).ok()?,
        RecordResult {
            id: s("id")?,
            model_id: s("model_id")?,
            region: s("region")?,
            job_arn: s("job_arn"),
            outcome,
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn result(id: &str, text: &str) -> RecordResult {
        RecordResult {
            id: id.to_owned(),
            model_id: "m".to_owned(),
            region: "r".to_owned(),
            job_arn: Some("arn".to_owned()),
            outcome: Ok(json!({ "output": { "message": { "content": [{ "text": text }] } } })),
        }
    }

    fn load(path: &Path) -> HashMap<String, (u64, RecordResult)> {
        let mut out = HashMap::new();
        replay(path, |h, r| {
            out.insert(r.id.clone(), (h, r));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn round_trips_and_drops_a_cut_off_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        assert!(load(&path).is_empty());
        let failed = RecordResult {
            outcome: Err(RecordError {
                kind: RecordErrorKind::Model,
                message: "no".to_owned(),
                code: Some(429),
            }),
            ..result("b", "")
        };
        append(&path, [(1, &result("a", "héllo")), (u64::MAX, &failed)]).unwrap();
        // A crash half-way through the next line, inside the two bytes of "é".
        let cut = line(3, &result("c", "é")).to_string();
        let cut = &cut.as_bytes()[..cut.find('é').unwrap() + 1];
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(cut).unwrap();
        drop(f);

        let got = load(&path);
        assert_eq!(got.len(), 2, "the cut-off c is not a result");
        assert_eq!(got["a"], (1, result("a", "héllo")));
        assert_eq!(got["b"], (u64::MAX, failed));
        // The cut-off line is gone, and the next append starts cleanly.
        append(&path, [(3, &result("c", "é"))]).unwrap();
        assert_eq!(load(&path)["c"], (3, result("c", "é")));
    }
}
