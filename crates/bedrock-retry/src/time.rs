//! Injected time: a [`Clock`] to read, a [`Sleep`] to wait, and [`timeout`] built on the two.
//!
//! This is the workspace's one model of time. The retry core, the catalog's fetches, the parallel
//! engine, the batch-job poller and the umbrella's attempt and stream-idle timers never read a
//! clock or start a timer of their own: they receive a `Clock` and a `Sleep`.
//!
//! - Production code passes [`TokioClock`] and [`TokioSleep`] (or [`SystemClock`] where there is no
//!   runtime). Both follow tokio's timer, so under `#[tokio::test(start_paused = true)]` every
//!   component runs on the same virtual timeline, timeouts included.
//! - Pure unit tests of the retry core pass `ManualClock` and `InstantSleep` (feature `test-util`),
//!   which make every delay observable and every test instant and deterministic. `InstantSleep`
//!   also completes every [`timeout`] at once, so it is not for code that bounds work by time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
#[cfg(any(test, feature = "test-util"))]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(any(test, feature = "test-util"))]
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

/// The future returned by [`Sleep::sleep`].
pub type Sleeping = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A monotonic clock.
///
/// [`Clock::now`] returns the time elapsed since the clock's own origin. Values from different
/// clocks must not be compared; every component of one retry setup shares one clock.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use bedrock_retry::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now() - before, Duration::from_secs(2));
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The time elapsed since this clock's origin. Never decreases.
    fn now(&self) -> Duration;
}

/// An asynchronous sleeper.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use bedrock_retry::{InstantSleep, Sleep};
///
/// let sleep = InstantSleep::new();
/// // The duration is recorded when the future is created; it completes at once.
/// let pending = sleep.sleep(Duration::from_millis(500));
/// drop(pending);
/// assert_eq!(sleep.requested(), vec![Duration::from_millis(500)]);
/// ```
pub trait Sleep: Send + Sync + fmt::Debug + 'static {
    /// Returns a future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Sleeping;
}

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

impl<T: Sleep + ?Sized> Sleep for Arc<T> {
    fn sleep(&self, duration: Duration) -> Sleeping {
        (**self).sleep(duration)
    }
}

/// The real monotonic clock, measuring from its creation.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// Creates a clock whose origin is now.
    #[allow(
        clippy::disallowed_methods,
        reason = "SystemClock is the one production source of monotonic time"
    )]
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// The time limit of a [`timeout`] passed before its future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no answer within {after:?}")]
pub struct Elapsed {
    /// The limit that passed.
    pub after: Duration,
}

/// Runs `future` for at most `after`, timed by `sleep`.
///
/// The future is polled before the timer, so a future that is ready when the limit passes still
/// wins. Dropping the returned future drops both.
///
/// # Errors
///
/// [`Elapsed`] when `after` passed first; the future is dropped then.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use bedrock_retry::{Elapsed, TokioSleep, timeout};
///
/// let sleep = TokioSleep::new();
/// let quick = timeout(&sleep, Duration::from_secs(1), async { 7 }).await;
/// assert_eq!(quick, Ok(7));
/// let never = timeout(&sleep, Duration::from_millis(5), std::future::pending::<()>()).await;
/// assert_eq!(never, Err(Elapsed { after: Duration::from_millis(5) }));
/// # }
/// ```
pub async fn timeout<F: Future>(
    sleep: &dyn Sleep,
    after: Duration,
    future: F,
) -> Result<F::Output, Elapsed> {
    let mut future = std::pin::pin!(future);
    let mut timer = sleep.sleep(after);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        timer.as_mut().poll(cx).map(|()| Err(Elapsed { after }))
    })
    .await
}

/// A monotonic [`Clock`] on tokio's timer: outside a paused runtime it reads the system's
/// monotonic clock; under `#[tokio::test(start_paused = true)]` it reads the paused, virtual time
/// that [`TokioSleep`] also follows.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// Creates a clock whose origin is now.
    #[allow(
        clippy::disallowed_methods,
        reason = "TokioClock is the production source of monotonic time on tokio"
    )]
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "TokioClock is the production source of monotonic time on tokio"
    )]
    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }
}

/// A [`Sleep`] backed by the tokio timer (so `#[tokio::test(start_paused = true)]` controls it).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

#[cfg(feature = "tokio")]
impl TokioSleep {
    /// Creates a tokio sleeper.
    pub fn new() -> Self {
        TokioSleep
    }
}

#[cfg(feature = "tokio")]
impl Sleep for TokioSleep {
    #[allow(
        clippy::disallowed_methods,
        reason = "TokioSleep is the production sleeper that the rest of the code receives by injection"
    )]
    fn sleep(&self, duration: Duration) -> Sleeping {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to. Cloning shares the same time. A test double: only with
/// the `test-util` feature.
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

#[cfg(any(test, feature = "test-util"))]
impl ManualClock {
    /// Creates a clock at time zero.
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves the clock forward by `by` (saturating at about 584 years).
    pub fn advance(&self, by: Duration) {
        let add = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(add))
            });
    }

    /// Sets the clock to `to`, but never backwards.
    pub fn set(&self, to: Duration) {
        let to = u64::try_from(to.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_max(to, Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// A sleeper that returns at once and records every requested duration. A test double: only with
/// the `test-util` feature.
///
/// With [`InstantSleep::with_clock`] it also advances a [`ManualClock`] by each requested duration,
/// so deadlines and cool-downs behave as if the time had really passed.
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
#[derive(Debug, Clone, Default)]
pub struct InstantSleep {
    requested: Arc<Mutex<Vec<Duration>>>,
    clock: Option<ManualClock>,
}

#[cfg(any(test, feature = "test-util"))]
impl InstantSleep {
    /// Creates a sleeper that records durations only.
    pub fn new() -> Self {
        InstantSleep::default()
    }

    /// Creates a sleeper that also advances `clock` by each requested duration.
    pub fn with_clock(clock: ManualClock) -> Self {
        InstantSleep {
            requested: Arc::default(),
            clock: Some(clock),
        }
    }

    /// Every duration requested so far, in order.
    pub fn requested(&self) -> Vec<Duration> {
        self.requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The sum of every requested duration.
    pub fn total(&self) -> Duration {
        self.requested().iter().sum()
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Sleep for InstantSleep {
    fn sleep(&self, duration: Duration) -> Sleeping {
        self.requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(duration);
        if let Some(clock) = &self.clock {
            clock.advance(duration);
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code, reason = "compile-only object safety check")]
    fn assert_object_safe(_: &dyn Clock, _: &dyn Sleep, _: Arc<dyn Clock>, _: Arc<dyn Sleep>) {}

    #[test]
    fn manual_clock_moves_only_forward() {
        let clock = ManualClock::new();
        assert_eq!(clock.now(), Duration::ZERO);
        clock.advance(Duration::from_millis(1500));
        clock.set(Duration::from_millis(10));
        assert_eq!(clock.now(), Duration::from_millis(1500));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), Duration::from_nanos(u64::MAX));
    }

    #[tokio::test]
    async fn instant_sleep_records_and_advances() {
        let clock = ManualClock::new();
        let sleep = InstantSleep::with_clock(clock.clone());
        sleep.sleep(Duration::from_millis(100)).await;
        sleep.sleep(Duration::from_millis(250)).await;
        assert_eq!(
            sleep.requested(),
            vec![Duration::from_millis(100), Duration::from_millis(250)]
        );
        assert_eq!(sleep.total(), Duration::from_millis(350));
        assert_eq!(clock.now(), Duration::from_millis(350));
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn tokio_sleep_uses_virtual_time() {
        let clock = TokioClock::new();
        TokioSleep::new().sleep(Duration::from_secs(30)).await;
        assert_eq!(clock.now(), Duration::from_secs(30));
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn tokio_clock_and_timeout_share_the_virtual_timeline() {
        let clock = TokioClock::new();
        let sleep = TokioSleep::new();
        let slow = async {
            TokioSleep::new().sleep(Duration::from_secs(60)).await;
            "late"
        };
        let cut = timeout(&sleep, Duration::from_secs(20), slow).await;
        assert_eq!(
            cut,
            Err(Elapsed {
                after: Duration::from_secs(20)
            })
        );
        assert_eq!(clock.now(), Duration::from_secs(20));
        let fast = async {
            TokioSleep::new().sleep(Duration::from_secs(5)).await;
            "early"
        };
        assert_eq!(
            timeout(&sleep, Duration::from_secs(20), fast).await,
            Ok("early")
        );
        assert_eq!(clock.now(), Duration::from_secs(25));
    }

    #[tokio::test]
    async fn a_ready_future_beats_a_timer_that_has_passed() {
        // `InstantSleep` completes at once: the future, polled first, still wins when ready.
        let sleep = InstantSleep::new();
        assert_eq!(timeout(&sleep, Duration::ZERO, async { 1 }).await, Ok(1));
        let pending = timeout(&sleep, Duration::from_secs(3), std::future::pending::<()>());
        assert_eq!(
            pending.await,
            Err(Elapsed {
                after: Duration::from_secs(3)
            })
        );
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }
}
