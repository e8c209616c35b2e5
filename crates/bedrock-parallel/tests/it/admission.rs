//! The admission hook: reservations, holding refused requests while others run, settling.

use std::sync::{Arc, Mutex};

use bedrock_parallel::{
    Admission, BatchRequest, ParallelConfig, ParallelExecutor, Refusal, RequestError, RequestId,
    Reservation,
};

use crate::support::{Action, Fake, FakeError, Reply, ms};

/// A budget in output tokens: each request reserves `estimate`, and costs its reply's output
/// tokens once it ends.
#[derive(Debug)]
struct TokenBudget {
    limit: f64,
    estimate: f64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    spent: f64,
    reserved: f64,
    admitted: usize,
    settled: usize,
    /// The largest spent + reserved ever seen right after an admission.
    peak: f64,
}

impl Admission<Fake> for TokenBudget {
    fn admit(&self, _id: &RequestId, _request: &(String, Action)) -> Result<Reservation, Refusal> {
        let mut s = self.state.lock().unwrap();
        if s.spent + s.reserved + self.estimate > self.limit {
            return Err(Refusal::new("over the token budget"));
        }
        s.reserved += self.estimate;
        s.admitted += 1;
        s.peak = s.peak.max(s.spent + s.reserved);
        Ok(Reservation::new(self.estimate))
    }

    fn settle(&self, reservation: Reservation, result: &Result<Reply, RequestError<FakeError>>) {
        let mut s = self.state.lock().unwrap();
        s.reserved -= reservation.amount();
        s.settled += 1;
        if let Ok(reply) = result {
            s.spent += reply.usage.output_tokens as f64;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn refused_requests_wait_for_the_ones_in_flight_then_end_not_admitted() {
    let fake = Fake::new();
    // Each reply costs 5 output tokens; each request reserves 10; the limit is 42. A request
    // refused while others run waits for them (their cost is below the estimate), so exactly
    // 7 start: an eighth would need 5 × finished + 10 × (7 - finished) + 10 ≤ 42, and with all
    // seven finished 35 + 10 > 42. (Refusing at once instead would start only the first 4.)
    let budget = Arc::new(TokenBudget {
        limit: 42.0,
        estimate: 10.0,
        state: Mutex::new(State::default()),
    });
    let requests: Vec<_> = (0..20)
        .map(|i| BatchRequest::new(format!("r{i}"), (format!("r{i}"), Action::Ok(ms(10)))))
        .collect();
    let executor = ParallelExecutor::new(
        Arc::clone(&fake),
        ParallelConfig::default().with_max_concurrency(4),
    )
    .unwrap()
    .with_admission(budget.clone());
    let response = executor.run(requests).await.unwrap();
    let state = budget.state.lock().unwrap();
    assert_eq!(fake.started(), 7);
    assert_eq!((state.admitted, state.settled), (7, 7));
    assert_eq!(state.spent, 35.0);
    assert_eq!(state.reserved, 0.0);
    assert!(state.peak <= 42.0, "peak {}", state.peak);
    let refused: Vec<_> = response
        .outcomes()
        .iter()
        .filter(|o| o.error().is_some_and(RequestError::is_not_admitted))
        .collect();
    assert_eq!(refused.len(), 13);
    assert!(refused.iter().all(|o| !o.started()));
    assert_eq!(response.stats().not_run, 13);
    assert_eq!(response.stats().succeeded, 7);
    assert!(
        refused[0]
            .error()
            .unwrap()
            .to_string()
            .contains("over the token budget")
    );
}

#[tokio::test(start_paused = true)]
async fn failed_and_panicked_requests_are_settled_too() {
    let fake = Fake::new();
    let budget = Arc::new(TokenBudget {
        limit: 1000.0,
        estimate: 10.0,
        state: Mutex::new(State::default()),
    });
    let actions = [
        Action::Ok(ms(5)),
        Action::Fail(ms(5)),
        Action::PanicLater(ms(5)),
        Action::Ok(ms(5)),
    ];
    let requests: Vec<_> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| BatchRequest::new(format!("r{i}"), (format!("r{i}"), *a)))
        .collect();
    let executor = ParallelExecutor::new(Arc::clone(&fake), ParallelConfig::default())
        .unwrap()
        .with_admission(budget.clone());
    let response = executor.run(requests).await.unwrap();
    assert_eq!(response.outcomes().len(), 4);
    let state = budget.state.lock().unwrap();
    assert_eq!((state.admitted, state.settled), (4, 4));
    assert_eq!(state.reserved, 0.0);
    assert_eq!(state.spent, 10.0);
}
