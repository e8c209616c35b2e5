//! A batch's results as JSON (feature `serde`): one object per outcome, errors tagged by kind,
//! statistics with durations in milliseconds.

use std::time::Duration;

use bedrock_parallel::{
    ErrorStats, ParallelResponse, RequestError, RequestId, RequestOutcome, ResponseStats,
};
use serde_json::json;

#[derive(Debug, serde::Serialize)]
struct Answer(&'static str);

impl ResponseStats for Answer {
    fn region(&self) -> Option<&str> {
        Some("us-east-1")
    }
}

#[derive(Debug, serde::Serialize)]
struct Failure {
    message: &'static str,
}

impl ErrorStats for Failure {}

#[test]
fn a_batch_serialises_every_outcome_and_its_statistics() {
    let ms = Duration::from_millis;
    let outcomes = vec![
        RequestOutcome::new(
            RequestId::new("a"),
            0,
            Ok(Answer("hello")),
            ms(12),
            vec!["us-east-1".to_owned()],
        ),
        RequestOutcome::new(
            RequestId::new("b"),
            1,
            Err(RequestError::Service {
                source: Failure {
                    message: "throttled",
                },
            }),
            ms(30),
            vec!["us-west-2".to_owned()],
        ),
        RequestOutcome::new(
            RequestId::new("c"),
            2,
            Err(RequestError::Timeout { after: ms(1500) }),
            ms(1500),
            vec![],
        ),
    ];
    let batch = ParallelResponse::new(outcomes, ms(1500), None);
    let value = serde_json::to_value(&batch).unwrap();
    assert_eq!(
        value["outcomes"],
        json!([
            {"id": "a", "index": 0, "duration_ms": 12.0, "assigned_regions": ["us-east-1"],
             "response": "hello"},
            {"id": "b", "index": 1, "duration_ms": 30.0, "assigned_regions": ["us-west-2"],
             "error": {"kind": "service", "source": {"message": "throttled"}}},
            {"id": "c", "index": 2, "duration_ms": 1500.0, "assigned_regions": [],
             "error": {"kind": "timeout", "after_ms": 1500.0}}
        ])
    );
    let stats = &value["stats"];
    assert_eq!(
        (
            &stats["total"],
            &stats["succeeded"],
            &stats["failed"],
            &stats["timed_out"]
        ),
        (&json!(3), &json!(1), &json!(2), &json!(1))
    );
    assert_eq!(stats["total_duration_ms"], json!(1500.0));
    assert_eq!(stats["durations"]["max_ms"], json!(1500.0));
    assert_eq!(stats["per_region"]["us-east-1"]["succeeded"], json!(1));
    assert_eq!(value["stop_reason"], json!(null));
}
