//! The blocking API answers without an async caller, and refuses to run inside a runtime.

use bedrock_sim::{Scenario, Simulator};
use llmmanager::parallel::{BatchRequest, ParallelConfig};
use llmmanager::{ErrorKind, StreamEvent, blocking};

use crate::support::{HAIKU, hello, manager};

#[test]
fn a_script_converses_streams_and_batches_without_async() {
    // The simulator runs on its own runtime's threads; the script itself has none.
    let sim_runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = sim_runtime
        .block_on(Simulator::start(Scenario::default()))
        .unwrap();
    let m = blocking::LlmManager::build(
        manager(&sim)
            .model(HAIKU)
            .regions(["us-east-1", "us-west-2"]),
    )
    .unwrap();

    let answer = m.converse(&hello()).unwrap();
    assert!(!answer.text().is_empty());

    let events: Vec<StreamEvent> = m
        .converse_stream(&hello())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let Some(StreamEvent::Completed(done)) = events.last() else {
        panic!("the stream ends with Completed: {events:?}");
    };
    assert_eq!(
        done.text,
        answer.text(),
        "the same request gets the same answer"
    );

    let batch = (0..3)
        .map(|i| BatchRequest::new(format!("q{i}"), hello()))
        .collect();
    let outcome = m
        .converse_parallel(ParallelConfig::default(), batch)
        .unwrap();
    assert!(outcome.all_succeeded());
    assert_eq!(sim.stats().requests, 5);
}

#[tokio::test]
async fn the_blocking_api_is_a_configuration_error_inside_a_runtime() {
    let sim = Simulator::start(Scenario::default()).await.unwrap();
    let err =
        blocking::LlmManager::build(manager(&sim).model(HAIKU).region("us-east-1")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    assert!(err.to_string().contains("async runtime"), "{err}");
}
