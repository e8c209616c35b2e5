//! The state file that lets a restarted run pick up the jobs it already created.
//!
//! A batch can run for hours; the process that started it may not live that long. Each job's
//! input key, requests (ids and content hashes, in record order), attempt number and job ARN
//! are written here (atomically: a temporary file renamed over the old one) before and after
//! every step with a side effect, so a new run over any of the same requests polls the
//! existing jobs instead of paying for them twice. Job creation uses a client request token
//! derived from the job's content key and attempt, so even a crash between
//! `CreateModelInvocationJob` and the state write creates nothing new.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Everything a run needs to resume: every job planned so far, whichever run planned it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    /// One entry per planned job, oldest first.
    pub jobs: Vec<JobState>,
}

/// What is known about one job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobState {
    /// Content key of the job (a hash of its model, region and requests); it names the job's
    /// S3 keys, its job name and its client request token.
    pub key: String,
    /// Model id.
    pub model_id: String,
    /// Region.
    pub region: String,
    /// S3 key of the uploaded input file.
    pub input_key: String,
    /// Request ids in record order (record `n` has `recordId` [`crate::record_id`]`(n)`).
    pub request_ids: Vec<String>,
    /// The requests' content hashes ([`crate::BatchRequest::content_hash`], as numbers), in
    /// record order.
    pub request_hashes: Vec<u64>,
    /// 0 for the first submission, then one more per resubmission.
    pub attempt: u32,
    /// Whether the input file is in S3.
    pub uploaded: bool,
    /// ARN of the current attempt's job, once created.
    pub job_arn: Option<String>,
    /// Last status seen (`Rejected` when creation was refused for good).
    pub status: Option<String>,
    /// Messages of failed attempts, oldest first.
    pub failures: Vec<String>,
}

impl RunState {
    /// Reads a state file; `None` when it does not exist.
    ///
    /// # Errors
    /// [`Error::State`] when the file exists but cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Option<Self>, Error> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::State {
                    path: path.to_owned(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::State {
                path: path.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    /// Writes the state file atomically.
    ///
    /// # Errors
    /// [`Error::State`] when it cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let err = |e: &dyn std::fmt::Display| Error::State {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        // Streamed: a state for a million requests is tens of megabytes.
        let file = std::fs::File::create(&tmp).map_err(|e| err(&e))?;
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut out, self).map_err(|e| err(&e))?;
        let file = out.into_inner().map_err(|e| err(&e))?;
        file.sync_data().map_err(|e| err(&e))?;
        std::fs::rename(&tmp, path).map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(RunState::load(&path).unwrap(), None);
        let state = RunState {
            jobs: vec![JobState {
                model_id: "m".into(),
                region: "us-east-1".into(),
                input_key: "k".into(),
                request_ids: vec!["q1".into()],
                job_arn: Some("arn".into()),
                ..JobState::default()
            }],
        };
        state.save(&path).unwrap();
        assert_eq!(RunState::load(&path).unwrap(), Some(state));
        // A state file of an older version (with a run id, without hashes) still loads.
        std::fs::write(
            &path,
            r#"{"run_id":"x","jobs":[{"model_id":"m","region":"r"}]}"#,
        )
        .unwrap();
        assert_eq!(
            RunState::load(&path).unwrap().unwrap().jobs[0]
                .request_hashes
                .len(),
            0
        );
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(RunState::load(&path), Err(Error::State { .. })));
    }
}
