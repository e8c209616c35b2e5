//! Wall-clock access and RFC 3339 timestamps.
//!
//! The catalog needs wall time twice: to stamp a fresh catalog and to judge a cache file's age.
//! Reading the clock goes through [`WallClock`] so tests can pin it; timestamps are written and read
//! by the `time` crate (already under the SDK, and free of any runtime), UTC and whole seconds.

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Source of wall-clock time.
pub trait WallClock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "this is the one production reader of the wall clock"
    )]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that always returns the same instant (for tests and reproducible generation).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl WallClock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// The last second RFC 3339 can write: 9999-12-31T23:59:59Z.
const LAST_SECOND: i64 = 253_402_300_799;

/// Formats a time as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds; times before 1970 clamp to it,
/// times after 9999 to its last second).
#[must_use]
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).map_or(LAST_SECOND, |s| s.min(LAST_SECOND));
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_owned())
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) to whole seconds; a
/// timestamp without an offset, as Bedrock's model listings write them, is read as UTC. Times
/// before 1970 are `None`.
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()?;
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_rfc3339("2026-06-17T20:55:22.749659").unwrap();
        assert_eq!(format_rfc3339(t), "2026-06-17T20:55:22Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        for s in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-06-17 20:55",
            "x026-06-17T20:55:22Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
        let east = parse_rfc3339("2026-06-17T20:55:22+02:00").unwrap();
        assert_eq!(format_rfc3339(east), "2026-06-17T18:55:22Z");
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(400_000_000_000)),
            "9999-12-31T23:59:59Z"
        );
    }
}
