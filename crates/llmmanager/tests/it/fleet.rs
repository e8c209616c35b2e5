//! Fleet mode (feature `fleet`) through a real Redis: cool-downs seen by every manager of a
//! fleet, and calls that go on when Redis is lost.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bedrock_retry::ManualClock;
use bedrock_sim::{BedrockErrorKind, Fault, FaultRule, Scenario};
use llmmanager::fleet::Fleet;
use llmmanager::pacing::Pacing;
use llmmanager::retry::{HealthConfig, TargetHealth};

use crate::support::{HAIKU, east_west, hello, sim};

/// Starts a throwaway Redis with `.ci/redis.sh` (stopped when this test process exits).
fn start_redis() -> String {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/redis.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .env("REDIS_PARENT_PID", std::process::id().to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "the fleet tests need Redis: set REDIS_URL to a running server, or install redis-server \
         (Debian: apt-get install -y redis-server) so that .ci/redis.sh can start one:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `REDIS_URL`, or one throwaway server for this test binary.
fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => start_redis(),
    })
    .clone()
}

fn fleet(name: &str, url: &str) -> Fleet {
    Fleet::new(url).key(format!("it-{name}-{}", std::process::id()))
}

#[allow(
    clippy::disallowed_methods,
    reason = "waits for the fleet's background exchange"
)]
async fn pause() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_cool_down_in_one_process_is_seen_by_the_others() {
    // us-east-1 fails its second call (a's first); one failure cools a target.
    let sim = sim(Scenario::default().with_fault(
        FaultRule::new(Fault::error(BedrockErrorKind::ServiceUnavailableException))
            .region("us-east-1")
            .calls([2]),
    ))
    .await;
    let fleet = fleet("cool", &redis_url());
    let build = || {
        east_west(&sim)
            .health(HealthConfig::standard().with_failure_threshold(1))
            .pacing(Pacing::adaptive())
            .fleet(fleet.clone())
            .build()
    };
    let (a, b) = (build().await.unwrap(), build().await.unwrap());
    // b has called us-east-1 (so it watches its key) while it was healthy.
    b.converse(&hello()).await.unwrap();
    // a's first attempt fails there and a cools it down.
    a.converse(&hello()).await.unwrap();
    assert!(matches!(
        a.health().state(HAIKU, "us-east-1"),
        TargetHealth::Cooling { .. }
    ));
    // b, which saw no failure, cools it down too after its next exchange with the fleet.
    let mut seen = false;
    for _ in 0..10 {
        pause().await;
        b.converse(&hello()).await.unwrap();
        if matches!(
            b.health().state(HAIKU, "us-east-1"),
            TargetHealth::Cooling { .. }
        ) {
            seen = true;
            break;
        }
    }
    assert!(seen, "b never saw a's cool-down");
    assert_eq!(b.targets()[0].region, "us-west-2");
}

#[tokio::test]
async fn calls_go_on_when_redis_is_lost() {
    let sim = sim(Scenario::default()).await;
    let url = start_redis();
    let m = east_west(&sim)
        .pacing(Pacing::adaptive())
        .fleet(fleet("lost", &url))
        .build()
        .await
        .unwrap();
    m.converse(&hello()).await.unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: Result<(), _> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async(&mut conn)
        .await;
    for _ in 0..5 {
        m.converse(&hello()).await.unwrap();
    }
    assert_eq!(sim.stats().requests, 6);
}

/// Whether a log line names the fleet at `url` (and not one whose port starts with its port).
fn logged_for(line: &str, url: &str) -> bool {
    line.split_whitespace()
        .any(|field| field == format!("url={url}"))
}

#[tokio::test]
async fn a_lost_redis_is_warned_about_once_and_without_its_password() {
    const PASSWORD: &str = "fleet-pw-7Qx2";
    let logs = crate::secrets::captured_logs();
    let sim = sim(Scenario::default()).await;
    let url = start_redis();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(PASSWORD)
        .query_async(&mut conn)
        .await
        .unwrap();
    let secured = url.replacen("redis://", &format!("redis://:{PASSWORD}@"), 1);
    // The manager's clock moves on four seconds before each call, so every call asks Redis again
    // (it is tried again three seconds after it failed), and fails to reach it.
    let clock = ManualClock::new();
    let m = east_west(&sim)
        .clock(Arc::new(clock.clone()))
        .pacing(Pacing::adaptive())
        .fleet(fleet("warn", &secured))
        .build()
        .await
        .unwrap();
    m.converse(&hello()).await.unwrap();
    let _: Result<(), _> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async(&mut conn)
        .await;
    for _ in 0..8 {
        clock.advance(Duration::from_secs(4));
        m.converse(&hello()).await.unwrap();
    }
    let shown = url.replacen("redis://", "redis://:***@", 1);
    let text = logs.text();
    let warnings = text
        .lines()
        .filter(|line| line.contains("WARN") && logged_for(line, &shown))
        .collect::<Vec<_>>();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("Redis unreachable"), "{}", warnings[0]);
    assert!(!text.contains(PASSWORD), "the password was logged");
}

#[tokio::test]
async fn redis_back_is_logged_and_a_second_loss_warned_again() {
    let logs = crate::secrets::captured_logs();
    let sim = sim(Scenario::default()).await;
    let url = start_redis();
    let port = url.rsplit(':').next().unwrap().to_owned();
    let clock = ManualClock::new();
    let m = east_west(&sim)
        .clock(Arc::new(clock.clone()))
        .pacing(Pacing::adaptive())
        .fleet(fleet("back", &url))
        .build()
        .await
        .unwrap();
    let shutdown = || async {
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: Result<(), _> = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query_async(&mut conn)
            .await;
    };
    let lines = |what: &str| {
        logs.text()
            .lines()
            .filter(|line| line.contains(what) && logged_for(line, &url))
            .count()
    };
    // Each call comes after the three seconds the fleet keeps away from a failed Redis.
    let call = || async {
        clock.advance(Duration::from_secs(4));
        m.converse(&hello()).await.unwrap();
    };
    call().await;
    shutdown().await;
    call().await;
    call().await;
    assert_eq!(lines("Redis unreachable"), 1);
    // Redis is back on the same port: the next calls find it, and that is logged once.
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/redis.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(&port)
        .env("REDIS_PARENT_PID", std::process::id().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..10 {
        call().await;
        if lines("Redis reachable again") > 0 {
            break;
        }
    }
    assert_eq!(lines("Redis reachable again"), 1);
    // Lost again: warned again.
    shutdown().await;
    call().await;
    call().await;
    assert_eq!(lines("Redis unreachable"), 2);
    assert_eq!(lines("Redis reachable again"), 1);
}
