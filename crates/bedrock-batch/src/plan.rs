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
use sha2::{Digest, Sha256};

use crate::Error;

/// One request to run: an id unique in the set, optionally where to run it, and a Converse
/// request body.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    /// The caller's id, echoed in the result.
    pub id: String,
    /// Model id (or inference profile id) to run the job with; `None` leaves the choice to the
    /// planner (one of the [`Target`]s).
    pub model_id: Option<String>,
    /// Region to run the job in; `None` leaves the choice to the planner.
    pub region: Option<String>,
    /// The Converse request body (`messages`, `system`, `inferenceConfig`, ...), without `modelId`.
    pub body: Value,
}

impl BatchRequest {
    /// A request the planner places on one of its targets.
    pub fn new(id: impl Into<String>, body: Value) -> Self {
        Self {
            id: id.into(),
            model_id: None,
            region: None,
            body,
        }
    }

    /// The same request pinned to `model_id` in `region`.
    #[must_use]
    pub fn on(mut self, model_id: impl Into<String>, region: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
        self.region = Some(region.into());
        self
    }

    /// A content hash of the request: its id, its pinned model and region and its body. A result
    /// or a job found later (in the ledger, the state file or S3) belongs to this request only
    /// when the hashes agree, so an edited request is never answered by its old version.
    #[must_use]
    pub fn content_hash(&self) -> String {
        format!("{:016x}", self.content_key())
    }

    /// [`BatchRequest::content_hash`] as a number.
    pub(crate) fn content_key(&self) -> u64 {
        let mut h = Sha256::new();
        for part in [
            self.id.as_str(),
            self.model_id.as_deref().unwrap_or("\u{1}"),
            self.region.as_deref().unwrap_or("\u{1}"),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(self.body.to_string().as_bytes());
        let d = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        u64::from_be_bytes(first)
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A (model, region) pair that can run batch inference jobs; requests without a pinned model or
/// region are spread over the targets that fit them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    /// Model id (or inference profile id) the jobs are created with.
    pub model_id: String,
    /// Region.
    pub region: String,
    /// The model this id runs (for an inference profile, its base model id); a request pinned
    /// to either name may run here.
    pub model: String,
    /// Whether requests without a pinned model may run here (its model is a default one).
    pub any_model: bool,
    /// Whether requests without a pinned region may run here (its region is a default one).
    pub any_region: bool,
}

impl Target {
    /// A target open to requests without a pinned model or region.
    pub fn new(model_id: impl Into<String>, region: impl Into<String>) -> Self {
        let model_id = model_id.into();
        Self {
            model: model_id.clone(),
            model_id,
            region: region.into(),
            any_model: true,
            any_region: true,
        }
    }

    /// Whether a request pinned to `model` and `region` (each optional) may run here.
    #[must_use]
    pub fn fits(&self, model: Option<&str>, region: Option<&str>) -> bool {
        let model_ok = match model {
            Some(m) => m == self.model_id || m == self.model,
            None => self.any_model,
        };
        let region_ok = match region {
            Some(g) => g == self.region,
            None => self.any_region,
        };
        model_ok && region_ok
    }
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
    /// The request's [`BatchRequest::content_hash`].
    pub hash: String,
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

/// What planning needs to know of one request: its pins and its record size in bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Item {
    /// Pinned model and region, when either is pinned.
    pub(crate) pins: Option<Box<(Option<String>, Option<String>)>>,
    /// Size of its JSONL record, newline included.
    pub(crate) size: u32,
}

/// Jobs as lists of request positions (indexes into the planned items).
#[derive(Debug, Default)]
pub(crate) struct Assigned {
    /// (model id, region, positions in record order) per job.
    pub(crate) jobs: Vec<(String, String, Vec<u32>)>,
    /// (model id, region, positions) per group below the minimum.
    pub(crate) undersized: Vec<(String, String, Vec<u32>)>,
}

/// The size of the JSONL record of a request body, newline included.
pub(crate) fn record_size(body: &Value) -> u64 {
    // `{"recordId":"R0000000000","modelInput":` + body + `}` + newline
    record_line(&record_id(0), body).len() as u64 + 1
}

/// The JSONL record of a request body.
pub(crate) fn record_line(record_id: &str, body: &Value) -> String {
    json!({ "recordId": record_id, "modelInput": body }).to_string()
}

/// Checks that the limits do not contradict each other.
pub(crate) fn check_limits(limits: &Limits) -> Result<(), Error> {
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
    Ok(())
}

/// The targets a request with these pins may run on (the pinned pair itself when both are
/// pinned).
pub(crate) fn fitting(
    pins: Option<&(Option<String>, Option<String>)>,
    targets: &[Target],
) -> Vec<Target> {
    match pins {
        Some((Some(m), Some(g))) => vec![Target::new(m.clone(), g.clone())],
        Some((m, g)) => targets
            .iter()
            .filter(|t| t.fits(m.as_deref(), g.as_deref()))
            .cloned()
            .collect(),
        None => targets
            .iter()
            .filter(|t| t.fits(None, None))
            .cloned()
            .collect(),
    }
}

/// Plans `items` (positions `0..items.len()`; `None` items are left out) into jobs. Every
/// present item must fit a target and be within the size limit (callers check both).
pub(crate) fn assign(items: &[Option<Item>], targets: &[Target], limits: &Limits) -> Assigned {
    // Positions by the targets they may run on, each choice in first-seen order.
    let mut choices: Vec<(Vec<Target>, Vec<u32>)> = Vec::new();
    let mut free: Option<usize> = None;
    for (pos, item) in items.iter().enumerate() {
        let Some(item) = item else { continue };
        let pos = u32::try_from(pos).unwrap_or(u32::MAX);
        let slot = match (&item.pins, free) {
            (None, Some(slot)) => slot,
            (pins, _) => {
                let fits = fitting(pins.as_deref(), targets);
                match choices.iter().position(|(t, _)| *t == fits) {
                    Some(slot) => slot,
                    None => {
                        choices.push((fits, Vec::new()));
                        choices.len() - 1
                    }
                }
            }
        };
        if item.pins.is_none() {
            free = Some(slot);
        }
        if let Some((_, positions)) = choices.get_mut(slot) {
            positions.push(pos);
        }
    }
    let mut groups: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for (fits, positions) in choices {
        let n = positions.len();
        let k = (n / limits.min_records_per_job.max(1)).clamp(1, fits.len().max(1));
        let mut positions = positions.into_iter();
        for (i, target) in fits.into_iter().take(k).enumerate() {
            let share = n / k + usize::from(i < n % k);
            groups
                .entry((target.model_id, target.region))
                .or_default()
                .extend(positions.by_ref().take(share));
        }
    }
    let size = |pos: u32| -> u64 {
        items
            .get(pos as usize)
            .and_then(Option::as_ref)
            .map_or(0, |i| u64::from(i.size))
    };
    let mut out = Assigned::default();
    for ((model_id, region), positions) in groups {
        if positions.len() < limits.min_records_per_job {
            out.undersized.push((model_id, region, positions));
            continue;
        }
        let mut jobs: Vec<Vec<u32>> = Vec::new();
        let mut current: Vec<u32> = Vec::new();
        let mut bytes = 0u64;
        for pos in positions {
            let s = size(pos);
            if current.len() == limits.max_records_per_job || bytes + s > limits.max_input_bytes {
                jobs.push(std::mem::take(&mut current));
                bytes = 0;
            }
            bytes += s;
            current.push(pos);
        }
        jobs.push(current);
        rebalance_tail(
            &mut jobs,
            limits.min_records_per_job,
            limits.max_input_bytes,
            &size,
        );
        for job in jobs {
            out.jobs.push((model_id.clone(), region.clone(), job));
        }
    }
    out
}

/// Splits `requests` into jobs within `limits`, placing each request that has no pinned model
/// or region on one of `targets`.
///
/// A request pinned to both a model and a region runs there. A request pinned to only one of
/// them may run on any target with that model (or in that region); a request pinned to neither
/// on any target open to it. Requests with the same choice of targets are spread evenly over as
/// many of them as the job minimum allows (contiguous runs of requests per target, in input
/// order), so a large batch uses every configured model and region while a small one still
/// forms jobs.
///
/// # Errors
/// [`Error::DuplicateId`] when two requests share an id, [`Error::RecordTooLarge`] when one
/// record alone exceeds the size limit, [`Error::NoTarget`] when a request fits no target, and
/// [`Error::InvalidLimits`] for contradictory limits.
pub fn plan(
    requests: Vec<BatchRequest>,
    targets: &[Target],
    limits: &Limits,
) -> Result<Plan, Error> {
    check_limits(limits)?;
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(requests.len());
    for r in &requests {
        if !seen.insert(r.id.as_str()) {
            return Err(Error::DuplicateId { id: r.id.clone() });
        }
        items.push(Some(item(r, targets, limits)?));
    }
    let assigned = assign(&items, targets, limits);
    let get = |pos: &u32| requests.get(*pos as usize);
    let mut out = Plan::default();
    for (model_id, region, positions) in assigned.jobs {
        let records = positions
            .iter()
            .filter_map(get)
            .enumerate()
            .map(|(n, r)| {
                let rid = record_id(n);
                PlannedRecord {
                    request_id: r.id.clone(),
                    hash: r.content_hash(),
                    line: record_line(&rid, &r.body),
                    record_id: rid,
                }
            })
            .collect();
        out.jobs.push(JobPlan {
            model_id,
            region,
            records,
        });
    }
    for (model_id, region, positions) in assigned.undersized {
        out.undersized.push(Undersized {
            model_id,
            region,
            request_ids: positions
                .iter()
                .filter_map(get)
                .map(|r| r.id.clone())
                .collect(),
        });
    }
    Ok(out)
}

/// The planning view of `r`, checked: it fits a target and its record the size limit.
pub(crate) fn item(r: &BatchRequest, targets: &[Target], limits: &Limits) -> Result<Item, Error> {
    let size = record_size(&r.body);
    if size > limits.max_input_bytes {
        return Err(Error::RecordTooLarge {
            id: r.id.clone(),
            bytes: size,
            limit: limits.max_input_bytes,
        });
    }
    let pins = (r.model_id.is_some() || r.region.is_some())
        .then(|| Box::new((r.model_id.clone(), r.region.clone())));
    if fitting(pins.as_deref(), targets).is_empty() {
        return Err(Error::NoTarget {
            id: r.id.clone(),
            model_id: r.model_id.clone(),
            region: r.region.clone(),
        });
    }
    Ok(Item {
        pins,
        size: u32::try_from(size).unwrap_or(u32::MAX),
    })
}

/// Moves records one by one from the end of the second-to-last job to the front of a last job
/// that is below the minimum, while the donor stays at the minimum and the last job within the
/// size limit. With `2 * min <= max + 1` this always succeeds when the split was by count; a
/// split forced by size can leave the last job short, and Bedrock then rejects that job.
fn rebalance_tail(jobs: &mut [Vec<u32>], min: usize, max_bytes: u64, size: &dyn Fn(u32) -> u64) {
    let n = jobs.len();
    if n < 2 {
        return;
    }
    let (head, tail) = jobs.split_at_mut(n - 1);
    let (Some(prev), Some(last)) = (head.last_mut(), tail.first_mut()) else {
        return;
    };
    let mut bytes: u64 = last.iter().map(|p| size(*p)).sum();
    let mut moved = Vec::new();
    while last.len() + moved.len() < min && prev.len() > min {
        let Some(s) = prev.last().map(|p| size(*p)) else {
            break;
        };
        if bytes + s > max_bytes {
            break;
        }
        if let Some(rec) = prev.pop() {
            bytes += s;
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
        free(id).on(model, region)
    }

    fn free(id: usize) -> BatchRequest {
        BatchRequest::new(
            format!("q{id}"),
            json!({"messages":[{"role":"user","content":[{"text":"hi"}]}]}),
        )
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
        let p = plan(reqs, &[], &l).unwrap();
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
        let p = plan(reqs, &[], &limits(2, 10, u64::MAX)).unwrap();
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
        let p = plan(vec![req(7, "m", "r")], &[], &limits(1, 10, u64::MAX)).unwrap();
        let line: Value = serde_json::from_str(&p.jobs[0].records[0].line).unwrap();
        assert_eq!(line["recordId"], "R0000000000");
        assert_eq!(line["modelInput"]["messages"][0]["role"], "user");
        assert_eq!(p.jobs[0].records[0].request_id, "q7");
        assert_eq!(record_id(12).len(), 11);
    }

    #[test]
    fn rejects_duplicates_oversize_and_bad_limits() {
        let dup = plan(
            vec![req(1, "m", "r"), req(1, "m", "r")],
            &[],
            &Limits::default(),
        );
        assert!(matches!(dup, Err(Error::DuplicateId { id }) if id == "q1"));
        let big = plan(vec![req(1, "m", "r")], &[], &limits(1, 10, 5));
        assert!(matches!(big, Err(Error::RecordTooLarge { .. })));
        let bad = plan(vec![], &[], &limits(10, 10, 5));
        assert!(matches!(bad, Err(Error::InvalidLimits { .. })));
    }

    fn placement(p: &Plan) -> Vec<(String, String, usize)> {
        p.jobs
            .iter()
            .map(|j| (j.model_id.clone(), j.region.clone(), j.records.len()))
            .collect()
    }

    #[test]
    fn spreads_free_requests_over_targets_as_far_as_the_minimum_allows() {
        let targets = [
            Target::new("a", "us-east-1"),
            Target::new("a", "us-west-2"),
            Target::new("b", "us-east-1"),
        ];
        let own = |s: &str| s.to_owned();
        // 30 requests, at least 10 per job: one job per target.
        let p = plan(
            (0..30).map(free).collect(),
            &targets,
            &limits(10, 100, u64::MAX),
        )
        .unwrap();
        assert_eq!(
            placement(&p),
            [
                (own("a"), own("us-east-1"), 10),
                (own("a"), own("us-west-2"), 10),
                (own("b"), own("us-east-1"), 10)
            ]
        );
        // 25 requests: only two targets can get the minimum.
        let p = plan(
            (0..25).map(free).collect(),
            &targets,
            &limits(10, 100, u64::MAX),
        )
        .unwrap();
        assert_eq!(
            placement(&p),
            [
                (own("a"), own("us-east-1"), 13),
                (own("a"), own("us-west-2"), 12)
            ]
        );
        // 5 requests: one target, reported as too few.
        let p = plan(
            (0..5).map(free).collect(),
            &targets,
            &limits(10, 100, u64::MAX),
        )
        .unwrap();
        assert!(p.jobs.is_empty());
        assert_eq!(p.undersized.len(), 1);
        // A pinned model runs in the regions that have it; a pinned region with its models.
        let mut reqs: Vec<_> = (0..20)
            .map(|i| BatchRequest {
                model_id: Some(own("b")),
                ..free(i)
            })
            .collect();
        reqs.extend((20..40).map(|i| BatchRequest {
            region: Some(own("us-west-2")),
            ..free(i)
        }));
        reqs.push(req(40, "c", "eu-west-1"));
        let p = plan(reqs, &targets, &limits(1, 100, u64::MAX)).unwrap();
        assert_eq!(
            placement(&p),
            [
                (own("a"), own("us-west-2"), 20),
                (own("b"), own("us-east-1"), 20),
                (own("c"), own("eu-west-1"), 1)
            ]
        );
        let none = plan(
            vec![BatchRequest {
                model_id: Some(own("z")),
                ..free(1)
            }],
            &targets,
            &Limits::default(),
        );
        assert!(matches!(none, Err(Error::NoTarget { id, .. }) if id == "q1"));
    }

    #[test]
    fn targets_outside_the_defaults_take_only_requests_pinned_to_them() {
        let own = |s: &str| s.to_owned();
        let extra = Target {
            model: own("base-x"),
            any_model: false,
            ..Target::new("us.x", "us-east-1")
        };
        let targets = [Target::new("a", "us-east-1"), extra];
        let mut reqs: Vec<_> = (0..3).map(free).collect();
        reqs.push(BatchRequest {
            model_id: Some(own("base-x")),
            ..free(3)
        });
        let p = plan(reqs, &targets, &limits(1, 100, u64::MAX)).unwrap();
        assert_eq!(
            placement(&p),
            [
                (own("a"), own("us-east-1"), 3),
                (own("us.x"), own("us-east-1"), 1)
            ]
        );
    }

    #[test]
    fn content_hash_covers_id_pins_and_body() {
        let a = free(1);
        assert_eq!(a.content_hash(), free(1).content_hash());
        assert_ne!(a.content_hash(), free(2).content_hash());
        assert_ne!(a.content_hash(), req(1, "m", "r").content_hash());
        let mut b = free(1);
        b.body["messages"][0]["content"][0]["text"] = json!("other");
        assert_ne!(a.content_hash(), b.content_hash());
        assert_eq!(a.content_hash().len(), 16);
    }
}
