//! The streaming form: lazy input, bounded buffering, duplicates, dropping.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bedrock_parallel::{
    BatchRequest, ParallelConfig, RequestError, StreamDuplicateIds, converse_parallel_stream,
};
use futures::StreamExt;

use crate::support::{Action, Fake, ms};

fn counted_input(
    n: usize,
    pulled: Arc<AtomicUsize>,
) -> impl futures::Stream<Item = BatchRequest<(String, Action)>> + Send + 'static {
    futures::stream::iter((0..n).map(move |i| {
        pulled.fetch_add(1, Ordering::SeqCst);
        BatchRequest::new(
            format!("r{i}"),
            (format!("r{i}"), Action::Ok(ms(10 + (i % 7) as u64))),
        )
    }))
}

#[tokio::test(start_paused = true)]
async fn input_is_pulled_lazily_and_outcomes_arrive_as_they_finish() {
    let fake = Fake::new();
    let pulled = Arc::new(AtomicUsize::new(0));
    let config = ParallelConfig::default().with_max_concurrency(4);
    let mut stream =
        converse_parallel_stream(&fake, counted_input(1000, Arc::clone(&pulled)), &config).unwrap();
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        0,
        "nothing is pulled before polling"
    );
    let first = stream.next().await.unwrap();
    assert!(first.is_success());
    assert!(
        pulled.load(Ordering::SeqCst) <= 5,
        "pulled {}",
        pulled.load(Ordering::SeqCst)
    );
    let mut indices = vec![first.index];
    while let Some(outcome) = stream.next().await {
        assert!(stream.in_flight() <= 4);
        indices.push(outcome.index);
    }
    assert_eq!(fake.max_in_flight(), 4);
    assert_eq!(indices.len(), 1000);
    assert_ne!(
        indices,
        (0..1000).collect::<Vec<_>>(),
        "completion order, not input order"
    );
    indices.sort_unstable();
    assert_eq!(indices, (0..1000).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn duplicate_ids_in_a_stream_end_without_running() {
    let fake = Fake::new();
    let requests = ["a", "b", "a", "c", "b"]
        .into_iter()
        .map(|id| BatchRequest::new(id, (id.to_owned(), Action::Ok(ms(1)))));
    let outcomes: Vec<_> = converse_parallel_stream(
        &fake,
        futures::stream::iter(requests),
        &ParallelConfig::default(),
    )
    .unwrap()
    .collect()
    .await;
    assert_eq!(outcomes.len(), 5);
    assert_eq!(fake.started(), 3);
    let mut dups: Vec<(usize, usize)> = outcomes
        .iter()
        .filter_map(|o| match &o.result {
            Err(RequestError::DuplicateId { first_index, .. }) => Some((o.index, *first_index)),
            _ => None,
        })
        .collect();
    dups.sort_unstable();
    assert_eq!(dups, [(2, 0), (4, 1)]);

    // With the check off, repeats run like any other request.
    let fake = Fake::new();
    let requests = ["a", "a"]
        .into_iter()
        .map(|id| BatchRequest::new(id, (id.to_owned(), Action::Ok(ms(1)))));
    let config = ParallelConfig::default().with_stream_duplicate_ids(StreamDuplicateIds::Allow);
    let outcomes: Vec<_> =
        converse_parallel_stream(&fake, futures::stream::iter(requests), &config)
            .unwrap()
            .collect()
            .await;
    assert!(outcomes.iter().all(|o| o.is_success()));
    assert_eq!(fake.started(), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_aborts_requests_in_flight() {
    let fake = Fake::new();
    let requests = (0..10).map(|i| {
        let action = if i == 0 {
            Action::Ok(ms(1))
        } else {
            Action::Hang
        };
        BatchRequest::new(format!("r{i}"), (format!("r{i}"), action))
    });
    let config = ParallelConfig::default().with_request_timeout(None);
    let mut stream =
        converse_parallel_stream(&fake, futures::stream::iter(requests), &config).unwrap();
    let first = stream.next().await.unwrap();
    assert_eq!(first.index, 0);
    assert_eq!(fake.in_flight(), 9);
    drop(stream);
    // Aborted tasks drop their futures when the runtime next runs them.
    tokio::task::yield_now().await;
    tokio::time::advance(ms(1)).await;
    assert_eq!(fake.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_pending_input_does_not_block_finished_requests() {
    let fake = Fake::new();
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let config = ParallelConfig::default();
    let mut stream = converse_parallel_stream(&fake, rx, &config).unwrap();
    tx.unbounded_send(BatchRequest::new("x", ("x".to_owned(), Action::Ok(ms(5)))))
        .unwrap();
    let outcome = stream.next().await.unwrap();
    assert_eq!(outcome.id.as_str(), "x");
    tx.unbounded_send(BatchRequest::new("y", ("y".to_owned(), Action::Ok(ms(5)))))
        .unwrap();
    drop(tx);
    let outcome = stream.next().await.unwrap();
    assert_eq!(outcome.id.as_str(), "y");
    assert!(stream.next().await.is_none());
}
