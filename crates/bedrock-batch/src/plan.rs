//! Splitting a request set into batch inference jobs.
//!
//! Bedrock runs one model in one region per job and bounds each job by record count and input
//! size (service quotas "Minimum number of records per batch inference job", "Records per batch
//! inference job", "Records per input file per batch inference job" and "Batch inference input
//! file size"). Planning is pure, so these rules are tested without any IO: requests are grouped
//! per (model, region), packed greedily up to the maxima, and the last two jobs of a group are
//! rebalanced so that no job falls below the minimum.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::Error;

/// One request to run: an id unique in the set, where to run it, and a Converse request body.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    /// The caller's id, echoed in the result.
    pub id: String,
    /// Model id (or inference profile id) to run the job with.
    pub model_id: String,
    /// Region to run the job in.
    pub region: String,
    /// The Converse request body (`messages`, `system`, `inferenceConfig`, ...), without `modelId`.
    pub body: Value,
}

/// Per-job limits; the defaults are Bedrock's default service quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fewest records a job may have (default quota: 100).
    pub min_records_per_job: usize,
    /// Most records a job (here: its one input file) may have (default quota: 50,000).
    pub max_records_per_job: usize,
    /// Largest input file in bytes (default quota: 1 GB).
    pub max_input_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_records_per_job: 100,
            max_records_per_job: 50_000,
            max_input_bytes: 1_000_000_000,
        }
    }
}

/// One record of a planned job.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRecord {
    /// The caller's request id.
    pub request_id: String,
    /// The `recordId` written to the input (11 alphanumeric characters, unique in the job).
    pub record_id: String,
    /// The JSONL line (`{"recordId":..,"modelInput":..}`), without its newline.
    pub line: String,
}

/// One planned job: a model, a region and its records.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// Model id of the job.
    pub model_id: String,
    /// Region of the job.
    pub region: String,
    /// Records, in input order.
    pub records: Vec<PlannedRecord>,
}

impl JobPlan {
    /// The JSONL input file of this job.
    #[must_use]
    pub fn input_file(&self) -> String {
        let mut out = String::new();
        for r in &self.records {
            out.push_str(&r.line);
            out.push('\n');
        }
        out
    }
}

/// Requests of one (model, region) that are too few for a job of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct Undersized {
    /// Model id.
    pub model_id: String,
    /// Region.
    pub region: String,
    /// The request ids.
    pub request_ids: Vec<String>,
}

/// The jobs to run, and the requests that cannot form a job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Jobs, grouped by (model, region) in sorted order.
    pub jobs: Vec<JobPlan>,
    /// Groups below [`Limits::min_records_per_job`].
    pub undersized: Vec<Undersized>,
}

/// The `recordId` of the `n`th record of a job.
#[must_use]
pub fn record_id(n: usize) -> String {
    format!("R{n:010}")
}

/// Splits `requests` into jobs within `limits`.
///
/// # Errors
/// [`Error::DuplicateId`] when two requests share an id, [`Error::RecordTooLarge`] when one
/// record alone exceeds the size limit, and [`Error::InvalidLimits`] for contradictory limits.
pub fn plan(requests: Vec<BatchRequest>, limits: &Limits) -> Result<Plan, Error> {
    if limits.max_records_per_job == 0
        || limits.min_records_per_job.saturating_mul(2)
            > limits.max_records_per_job.saturating_add(1)
    {
        return Err(Error::InvalidLimits {
            message: format!(
                "max_records_per_job ({}) must be positive and at least twice min_records_per_job ({})",
                limits.max_records_per_job, limits.min_records_per_job
            ),
        });
    }
    let mut seen = HashSet::new();
    let mut groups: BTreeMap<(String, String), Vec<(String, Value)>> = BTreeMap::new();
    for r in requests {
        if !seen.insert(r.id.clone()) {
            return Err(Error::DuplicateId { id: r.id });
        }
        groups
            .entry((r.model_id, r.region))
            .or_default()
            .push((r.id, r.body));
    }
    let mut out = Plan::default();
    for ((model_id, region), reqs) in groups {
        if reqs.len() < limits.min_records_per_job {
            out.undersized.push(Undersized {
                model_id,
                region,
                request_ids: reqs.into_iter().map(|(id, _)| id).collect(),
            });
            continue;
        }
        let mut jobs: Vec<Vec<(String, String)>> = Vec::new();
        let mut current: Vec<(String, String)> = Vec::new();
        let mut bytes = 0u64;
        for (id, body) in reqs {
            // Record ids are assigned after splitting; measure with a same-length placeholder.
            let line = json!({ "recordId": record_id(0), "modelInput": body }).to_string();
            let size = line.len() as u64 + 1;
            if size > limits.max_input_bytes {
                return Err(Error::RecordTooLarge {
                    id,
                    bytes: size,
                    limit: limits.max_input_bytes,
                });
            }
            if current.len() == limits.max_records_per_job || bytes + size > limits.max_input_bytes
            {
                jobs.push(std::mem::take(&mut current));
                bytes = 0;
            }
            bytes += size;
            current.push((id, line));
        }
        jobs.push(current);
        rebalance_tail(
            &mut jobs,
            limits.min_records_per_job,
            limits.max_input_bytes,
        );
        for job in jobs {
            let records = job
                .into_iter()
                .enumerate()
                .map(|(n, (request_id, line))| {
                    let rid = record_id(n);
                    PlannedRecord {
                        request_id,
                        line: line.replacen(&record_id(0), &rid, 1),
                        record_id: rid,
                    }
                })
                .collect();
            out.jobs.push(JobPlan {
                model_id: model_id.clone(),
                region: region.clone(),
                records,
            });
        }
    }
    Ok(out)
}

/// Moves records one by one from the end of the second-to-last job to the front of a last job
/// that is below the minimum, while the donor stays at the minimum and the last job within the
/// size limit. With `2 * min <= max + 1` this always succeeds when the split was by count; a
/// split forced by size can leave the last job short, and Bedrock then rejects that job.
fn rebalance_tail(jobs: &mut [Vec<(String, String)>], min: usize, max_bytes: u64) {
    let n = jobs.len();
    if n < 2 {
        return;
    }
    let (head, tail) = jobs.split_at_mut(n - 1);
    let (Some(prev), Some(last)) = (head.last_mut(), tail.first_mut()) else {
        return;
    };
    let mut bytes: u64 = last.iter().map(|(_, l)| l.len() as u64 + 1).sum();
    let mut moved = Vec::new();
    while last.len() + moved.len() < min && prev.len() > min {
        let Some(size) = prev.last().map(|(_, l)| l.len() as u64 + 1) else {
            break;
        };
        if bytes + size > max_bytes {
            break;
        }
        if let Some(rec) = prev.pop() {
            bytes += size;
            moved.push(rec);
        }
    }
    moved.reverse();
    moved.append(last);
    *last = moved;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: usize, model: &str, region: &str) -> BatchRequest {
        BatchRequest {
            id: format!("q{id}"),
            model_id: model.to_owned(),
            region: region.to_owned(),
            body: json!({"messages":[{"role":"user","content":[{"text":"hi"}]}]}),
        }
    }

    fn limits(min: usize, max: usize, bytes: u64) -> Limits {
        Limits {
            min_records_per_job: min,
            max_records_per_job: max,
            max_input_bytes: bytes,
        }
    }

    #[track_caller]
    fn check(n: usize, l: Limits, expected_sizes: &[usize]) {
        let reqs = (0..n).map(|i| req(i, "m", "r")).collect();
        let p = plan(reqs, &l).unwrap();
        let sizes: Vec<usize> = p.jobs.iter().map(|j| j.records.len()).collect();
        assert_eq!(sizes, expected_sizes);
        for j in &p.jobs {
            assert!(j.input_file().len() as u64 <= l.max_input_bytes);
        }
    }

    #[test]
    fn splits_by_record_count_and_keeps_the_minimum() {
        check(250, limits(50, 100, u64::MAX), &[100, 100, 50]);
        check(230, limits(50, 100, u64::MAX), &[100, 80, 50]);
        check(10, limits(1, 4, u64::MAX), &[4, 4, 2]);
        check(9, limits(2, 4, u64::MAX), &[4, 3, 2]);
        check(7, limits(2, 10, u64::MAX), &[7]);
    }

    #[test]
    fn splits_by_size() {
        let line = json!({ "recordId": record_id(0), "modelInput": req(0, "m", "r").body })
            .to_string()
            .len() as u64
            + 1;
        check(5, limits(1, 100, line * 2), &[2, 2, 1]);
    }

    #[test]
    fn groups_per_model_and_region_and_reports_small_groups() {
        let mut reqs: Vec<_> = (0..3).map(|i| req(i, "a", "us-east-1")).collect();
        reqs.extend((3..4).map(|i| req(i, "a", "us-west-2")));
        reqs.extend((4..6).map(|i| req(i, "b", "us-east-1")));
        let p = plan(reqs, &limits(2, 10, u64::MAX)).unwrap();
        let keys: Vec<_> = p
            .jobs
            .iter()
            .map(|j| (j.model_id.as_str(), j.region.as_str(), j.records.len()))
            .collect();
        assert_eq!(keys, [("a", "us-east-1", 3), ("b", "us-east-1", 2)]);
        assert_eq!(p.undersized.len(), 1);
        assert_eq!(p.undersized[0].request_ids, ["q3"]);
    }

    #[test]
    fn record_lines_carry_ids_and_bodies() {
        let p = plan(vec![req(7, "m", "r")], &limits(1, 10, u64::MAX)).unwrap();
        let line: Value = serde_json::from_str(&p.jobs[0].records[0].line).unwrap();
        assert_eq!(line["recordId"], "R0000000000");
        assert_eq!(line["modelInput"]["messages"][0]["role"], "user");
        assert_eq!(p.jobs[0].records[0].request_id, "q7");
        assert_eq!(record_id(12).len(), 11);
    }

    #[test]
    fn rejects_duplicates_oversize_and_bad_limits() {
        let dup = plan(vec![req(1, "m", "r"), req(1, "m", "r")], &Limits::default());
        assert!(matches!(dup, Err(Error::DuplicateId { id }) if id == "q1"));
        let big = plan(vec![req(1, "m", "r")], &limits(1, 10, 5));
        assert!(matches!(big, Err(Error::RecordTooLarge { .. })));
        let bad = plan(vec![], &limits(10, 10, 5));
        assert!(matches!(bad, Err(Error::InvalidLimits { .. })));
    }
}
